"""Pub/sub: subscribers and publishers on every router while the faults run, then a final
round after recovery in which nothing may be lost (chaos/checkers/pubsub.py).

Half the clients subscribe (to every channel, a pattern over them and every shard
channel, one per shard) and read what comes; the others PUBLISH or SPUBLISH messages
unique to the run. The history holds, with the channel as key:

- subscribe: the subscription's id; ok once every confirmation came (from then on it is
  owed every message published), info when they did not come in time;
- receive: instantaneous, value [subscription id, kind], result the message;
- broken: the subscription's connection failed (when the client noticed): info;
- publish / spublish: value the message, result the receiver count;
- final-subscribe, final-publish, final-receive: the same in the final round, one
  subscriber per router and every router publishing;
- router-pubsub: what each router's INFO says of its node streams at the end
  (broken streams, messages possibly lost).
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable
from typing import Any

import redis

from chaos.client import Session
from chaos.history import FAIL, INFO, OK, History
from chaos.workloads.base import Workload

WORKLOAD = "pubsub"
KINDS = ("message", "pmessage", "smessage")
FINAL_MESSAGES = 20  # per router in the final round
READ_TIMEOUT_S = 0.2  # one subscriber step waits this long for a message
SPUBLISH_SHARE = 0.3
_INFO_FIELDS = (
    "pubsub_stream_breaks",
    "pubsub_stream_gaps",
    "pubsub_possibly_lost_messages",
    "pubsub_duplicates_dropped",
    "pubsub_unaccounted_outages",
)


class _Subscription:
    """A subscriber's connection and the id of its subscription in the history."""

    def __init__(self, client: redis.Redis, id_: str) -> None:
        self.client = client
        self.pubsub = client.pubsub()
        self.id = id_

    def close(self) -> None:
        try:
            self.pubsub.close()
        finally:
            self.client.close()


class PubSub(Workload):
    name = WORKLOAD

    def channels(self) -> list[str]:
        return [self.key("channel", i) for i in range(self.settings.keys)]

    def pattern(self) -> str:
        return f"{self.prefix}:channel:*"

    def shard_channels(self) -> list[str]:
        """One per shard (its tag), so that SPUBLISH goes through every shard's nodes."""
        count = max(len(self.shard_tags), 1)
        return [self.key("shard", i) for i in range(count)]

    def all_keys(self) -> list[str]:
        return [*self.channels(), *self.shard_channels()]

    # ------------------------------------------------------------------ traffic

    def step(self, session: Session, rng: random.Random) -> None:
        routers = self.routers or [session.endpoint]
        role = session.memory.setdefault(
            "pubsub-role", "subscriber" if (session.process // len(routers)) % 2 == 0 else "pub"
        )
        if role == "subscriber":
            self._subscriber_step(session)
        else:
            self._publisher_step(session, rng)

    def _publisher_step(self, session: Session, rng: random.Random) -> None:
        message = session.unique()
        if rng.random() < SPUBLISH_SHARE:
            channel = rng.choice(self.shard_channels())
            session.call(
                "spublish",
                channel,
                message,
                lambda c: c.execute_command("SPUBLISH", channel, message),
                True,
                int,
            )
        else:
            channel = rng.choice(self.channels())
            session.call(
                "publish", channel, message, lambda c: c.publish(channel, message), True, int
            )

    def _subscriber_step(self, session: Session) -> None:
        subscription: _Subscription | None = session.memory.get("pubsub")
        if subscription is None:
            session.memory["pubsub"] = self._subscribe(session, session.endpoint, "subscribe")
            if session.memory["pubsub"] is None:
                time.sleep(0.2)
            return
        try:
            message = subscription.pubsub.get_message(timeout=READ_TIMEOUT_S)
        except (redis.RedisError, OSError) as error:
            history = session.history
            index = history.invoke(session.process, WORKLOAD, "broken", "", subscription.id)
            history.complete(index, INFO, f"{type(error).__name__}: {error}")
            _close_quietly(subscription)
            session.memory.pop("pubsub")
            return
        if message is not None:
            _record_receive(session.history, session.process, "receive", subscription.id, message)

    def _subscribe(
        self, session: Session, endpoint: tuple[str, int], f: str
    ) -> _Subscription | None:
        """A new connection to `endpoint` subscribed to everything, once all the
        confirmations came; None (and an info operation) if they did not in time."""
        history = session.history
        subscription_id = session.unique()
        channels = self.channels()
        shard_channels = self.shard_channels()
        if f == "final-subscribe":
            channels, shard_channels = [self.key("final", 0)], []
        index = history.invoke(session.process, WORKLOAD, f, "", subscription_id)
        host, port = endpoint
        client = redis.Redis(
            host=host,
            port=port,
            password=session.password,
            socket_timeout=session.timeout,
            socket_connect_timeout=session.timeout,
            decode_responses=True,
        )
        subscription = _Subscription(client, subscription_id)
        expected = len(channels) + len(shard_channels) + (f == "subscribe")
        confirmed = 0
        try:
            subscription.pubsub.subscribe(*channels)
            if f == "subscribe":
                subscription.pubsub.psubscribe(self.pattern())
            for channel in shard_channels:  # one slot each: one SSUBSCRIBE each
                subscription.pubsub.ssubscribe(channel)
            deadline = time.monotonic() + session.timeout
            while confirmed < expected and time.monotonic() < deadline:
                message = subscription.pubsub.get_message(timeout=0.5)
                if message is None:
                    continue
                if message["type"] in ("subscribe", "psubscribe", "ssubscribe"):
                    confirmed += 1
                else:  # published after part of the set was confirmed: received all the same
                    receive = "final-receive" if f == "final-subscribe" else "receive"
                    _record_receive(history, session.process, receive, subscription_id, message)
        except (redis.RedisError, OSError) as error:
            history.complete(index, INFO, f"{type(error).__name__}: {error}")
            _close_quietly(subscription)
            return None
        if confirmed < expected:
            history.complete(index, INFO, f"{confirmed} of {expected} confirmations")
            _close_quietly(subscription)
            return None
        history.complete(index, OK, f"{host}:{port}")
        return subscription

    # ------------------------------------------------------------------ final round

    def final(self, session: Session, deadline: float) -> None:
        """After recovery: a subscriber on every router, then every router publishes
        FINAL_MESSAGES messages; each subscriber must get every one."""
        routers = self.routers or [session.endpoint]
        channel = self.key("final", 0)
        history = session.history
        listeners: list[_Subscription] = []
        try:
            for router in routers:
                while time.monotonic() < deadline:
                    listener = self._subscribe(session, router, "final-subscribe")
                    if listener is not None:
                        listeners.append(listener)
                        break
                    time.sleep(0.5)
            for router in routers:
                publisher = _plain_client(session, router)
                try:
                    for _ in range(FINAL_MESSAGES):
                        message = session.unique()
                        command = functools.partial(publisher.publish, channel, message)
                        _call(history, session.process, "final-publish", channel, message, command)
                finally:
                    publisher.close()
            expected = FINAL_MESSAGES * len(routers)
            for listener in listeners:
                got = 0
                while got < expected and time.monotonic() < deadline:
                    try:
                        message = listener.pubsub.get_message(timeout=0.5)
                    except (redis.RedisError, OSError):
                        break
                    if message is not None and message["type"] in KINDS:
                        receive = "final-receive"
                        _record_receive(history, session.process, receive, listener.id, message)
                        got += 1
        finally:
            for listener in listeners:
                _close_quietly(listener)
        for router in routers:
            self._router_counters(session, router)

    def _router_counters(self, session: Session, router: tuple[str, int]) -> None:
        client = _plain_client(session, router)
        try:
            name = f"{router[0]}:{router[1]}"
            command = functools.partial(_info_counters, client)
            _call(session.history, session.process, "router-pubsub", name, None, command)
        finally:
            client.close()


def _info_counters(client: redis.Redis) -> list[int]:
    info = client.info("stats")
    return [int(info.get(field, 0)) for field in _INFO_FIELDS]


def _plain_client(session: Session, endpoint: tuple[str, int]) -> redis.Redis:
    host, port = endpoint
    return redis.Redis(
        host=host,
        port=port,
        password=session.password,
        socket_timeout=session.timeout,
        socket_connect_timeout=session.timeout,
        decode_responses=True,
    )


def _call(
    history: History, process: int, f: str, key: str, value: Any, command: Callable[[], Any]
) -> None:
    index = history.invoke(process, WORKLOAD, f, key, value)
    try:
        result = command()
    except redis.ResponseError as error:
        history.complete(index, FAIL, str(error))
    except (redis.RedisError, OSError) as error:
        history.complete(index, INFO, f"{type(error).__name__}: {error}")
    else:
        history.complete(index, OK, result)


def _record_receive(
    history: History, process: int, f: str, subscription: str, message: dict
) -> None:
    if message["type"] not in KINDS:
        return
    index = history.invoke(
        process, WORKLOAD, f, message["channel"], [subscription, message["type"]]
    )
    history.complete(index, OK, message["data"])


def _close_quietly(subscription: _Subscription) -> None:
    with contextlib.suppress(redis.RedisError, OSError):
        subscription.close()
