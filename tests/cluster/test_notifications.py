"""Keyspace notifications through a real cluster of two routers: the setting made through
one router, the change through the other, the event received once by a subscriber of
the first (published by the shard's leader through its node's pub/sub hub). CONFIG SET
answers once every shard adopted the setting, so the first write after it notifies."""

from __future__ import annotations

import time

import pytest
import redis


def client(cluster, index: int) -> redis.Redis:
    return redis.Redis(port=cluster.router_ports[index], socket_timeout=20)


def subscribed(cluster, index: int, pattern: str) -> redis.client.PubSub:
    listener = client(cluster, index).pubsub()
    listener.psubscribe(pattern)
    assert listener.get_message(timeout=10)["type"] == "psubscribe"
    return listener


def messages_for(listener, wanted, settle_s: float = 3.0) -> list[dict]:
    """The messages `wanted` accepts, until none has come for `settle_s` (other messages,
    the probes', are skipped)."""
    found: list[dict] = []
    while True:
        message = listener.get_message(ignore_subscribe_messages=True, timeout=settle_s)
        if message is None:
            return found
        if wanted(message):
            found.append(message)


def messages_until(listener, count: int, timeout_s: float = 20.0, settle_s: float = 1.0):
    """The messages that come until `count` have (then `settle_s` more, for any extra one),
    or until `timeout_s` passed: a busy machine may take seconds to deliver them."""
    found: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        wait = settle_s if len(found) >= count else max(0.0, deadline - time.monotonic())
        message = listener.get_message(ignore_subscribe_messages=True, timeout=min(wait, 1.0))
        if message is not None:
            found.append(message)
        elif len(found) >= count:
            return found
    return found


@pytest.mark.slow  # a real cluster of processes
def test_a_key_expiring_is_notified_once_to_a_subscriber_of_another_router(cluster):
    setter, writer = client(cluster, 0), client(cluster, 1)
    listener = subscribed(cluster, 0, "__keyevent@0__:expired")
    try:
        assert setter.config_set("notify-keyspace-events", "Ex")
        writer.set("k", "v", px=200)
        received = messages_for(listener, lambda message: message["data"] == b"k")
        assert [(m["type"], m["pattern"], m["channel"], m["data"]) for m in received] == [
            ("pmessage", b"__keyevent@0__:expired", b"__keyevent@0__:expired", b"k")
        ]
        assert writer.exists("k") == 0
    finally:
        setter.config_set("notify-keyspace-events", "")
        listener.close()


@pytest.mark.slow  # a real cluster of processes
def test_a_set_is_notified_on_its_keyspace_channel_across_routers(cluster):
    setter, writer = client(cluster, 0), client(cluster, 1)
    listener = subscribed(cluster, 0, "__key*__:*")
    try:
        assert setter.config_set("notify-keyspace-events", "K$")
        writer.set("s", "v")
        received = messages_for(listener, lambda message: True)
        assert [(m["type"], m["channel"], m["data"]) for m in received] == [
            ("pmessage", b"__keyspace@0__:s", b"set")
        ]
    finally:
        setter.config_set("notify-keyspace-events", "")
        listener.close()


@pytest.mark.slow  # a real cluster of processes
def test_the_first_write_on_every_shard_after_config_set_notifies(cluster):
    setter, writer = client(cluster, 0), client(cluster, 1)
    listener = subscribed(cluster, 0, "__keyevent@0__:set")
    # One key per shard: the shards adopt the setting each through its own log.
    keys = [b"{%s}:first" % probe for probe in cluster.probe_keys()]
    try:
        for _ in range(3):  # switched on afresh each round: each round may race
            assert setter.config_set("notify-keyspace-events", "E$")
            for key in keys:
                writer.set(key, "v")
            received = messages_until(listener, len(keys))
            assert sorted(m["data"] for m in received) == sorted(keys)
            assert setter.config_set("notify-keyspace-events", "")
    finally:
        setter.config_set("notify-keyspace-events", "")
        listener.close()
