"""Keyspace notifications through a real cluster of two routers: the setting made through
one router, the change through the other, the event received once by a subscriber of
the first (published by the shard's leader through its node's pub/sub hub)."""

from __future__ import annotations

import time

import pytest
import redis

PROBE_LIMIT_S = 60.0  # a bound against hangs, never asserted on


def client(cluster, index: int) -> redis.Redis:
    return redis.Redis(port=cluster.router_ports[index], socket_timeout=20)


def subscribed(cluster, index: int, pattern: str) -> redis.client.PubSub:
    listener = client(cluster, index).pubsub()
    listener.psubscribe(pattern)
    assert listener.get_message(timeout=10)["type"] == "psubscribe"
    return listener


def wait_until_shard_notifies(listener, writer: redis.Redis, probe_key: str, **set_options):
    """The setting reaches each shard as an entry of its own log, after CONFIG SET has
    answered: write probes (in the slot of the key under test) until one is notified."""
    deadline = time.monotonic() + PROBE_LIMIT_S
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        writer.set(f"{probe_key}:{attempt}", "v", **set_options)
        message = listener.get_message(ignore_subscribe_messages=True, timeout=2)
        if message is not None:
            return
    raise AssertionError("the shard never published an event")


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


@pytest.mark.slow  # a real cluster of processes
def test_a_key_expiring_is_notified_once_to_a_subscriber_of_another_router(cluster):
    setter, writer = client(cluster, 0), client(cluster, 1)
    listener = subscribed(cluster, 0, "__keyevent@0__:expired")
    try:
        assert setter.config_set("notify-keyspace-events", "Ex")
        wait_until_shard_notifies(listener, writer, "{k}probe", px=50)
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
        wait_until_shard_notifies(listener, writer, "{s}probe")
        writer.set("s", "v")
        received = messages_for(listener, lambda message: b"{s}probe" not in message["channel"])
        assert [(m["type"], m["channel"], m["data"]) for m in received] == [
            ("pmessage", b"__keyspace@0__:s", b"set")
        ]
    finally:
        setter.config_set("notify-keyspace-events", "")
        listener.close()
