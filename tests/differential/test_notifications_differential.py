"""Keyspace notifications against redis-server: the same command sequences on both, and
after each command the same events, in the same order, on the same channels.

Redis's events are read by a connection subscribed to '__key*__:*'; after each command
the commanding connection publishes a marker on a channel that pattern also matches,
which arrives after every event of the command (Redis queues them while it runs). The
engine's events are what Keyspace.take_events gives, turned into channels and messages by
node.notifications.channels_of, what a shard's leader publishes.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from node.notifications import channels_of
from tests.differential.common import CommandCase
from tests.differential.harness import Differential, RawRedis
from tests.differential.test_differential import BY_TYPE, CASES, resync, sequences

PATTERN = b"__key*__:*"
MARKER = b"__keymarker__:done"
Event = tuple[bytes, bytes]


class EventReader(RawRedis):
    """A connection subscribed to every keyspace and keyevent channel."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.call([b"PSUBSCRIBE", PATTERN])

    def receive(self) -> Any:
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("redis closed the connection")
            self.reader.feed(data)

    def until_marker(self, publisher: RawRedis) -> list[Event]:
        """The events published before the marker that `publisher` now sends."""
        publisher.call([b"PUBLISH", MARKER, b""])
        events: list[Event] = []
        while True:
            kind, _, channel, message = self.receive()
            assert kind == b"pmessage"
            if channel == MARKER:
                return events
            events.append((channel, message))


class EventDifferential:
    """A Differential whose every command also compares the events of both sides."""

    def __init__(self, port: int, setting: bytes, resp3: bool = False) -> None:
        self.diff = Differential(port, resp3=resp3)
        self.setting = setting
        self.diff.redis.call([b"CONFIG", b"SET", b"notify-keyspace-events", setting])
        self.diff.engine.config.notify_keyspace_events = setting.decode()
        self.events = EventReader(port)
        self.events.until_marker(self.diff.redis)  # FLUSHALL and the set-up: none
        self.diff.engine.db.take_events()

    def engine_events(self) -> list[Event]:
        engine = self.diff.engine
        events = engine.db.take_events() + engine.read_events
        engine.read_events = []
        return channels_of(events, self.setting.decode())

    def check(self, args: list[bytes], normalize: Any = None) -> None:
        self.diff.check(args, normalize)
        self.compare_events(args)

    def compare_events(self, args: list[bytes]) -> None:
        engine_events = self.engine_events()
        redis_events = self.events.until_marker(self.diff.redis)
        if engine_events != redis_events:
            history = "\n".join(f"  {past!r}" for past in self.diff.history[-30:])
            raise AssertionError(
                f"events of {args!r} under {self.setting!r}:\n"
                f"  engine: {engine_events!r}\n  redis:  {redis_events!r}\n"
                f"history (oldest first):\n{history}"
            )

    def transaction(self, commands: list[list[bytes]]) -> None:
        """MULTI/EXEC on redis, one execute_transaction on the engine: each inner command's
        events, in order."""
        self.diff.history.append([b"MULTI", *[b" ".join(args) for args in commands]])
        self.diff.engine.execute_transaction(commands, int(time.time() * 1000), self.diff.rng, None)
        self.diff.redis.call([b"MULTI"])
        for args in commands:
            self.diff.redis.call(args)
        self.diff.redis.call([b"EXEC"])
        self.compare_events([b"EXEC"])

    def resync(self) -> None:
        """After a random effect (SPOP): redis is brought to the engine's state; the events
        of doing so are not compared."""
        resync(self.diff)
        self.events.until_marker(self.diff.redis)
        self.engine_events()

    def close(self) -> None:
        try:
            self.diff.redis.call([b"CONFIG", b"SET", b"notify-keyspace-events", b""])
        finally:
            self.events.close()
            self.diff.close()


def _run(events: EventDifferential, sequence: list[tuple[CommandCase, list[bytes]]]) -> None:
    for case, args in sequence:
        events.check(args, case.normalize)
        if case.resync_keys:
            events.resync()


EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "600")) // 3
_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Every class on its own, with K or E (or both), A, and what A leaves out (m, n).
SINGLE_CLASSES = [b"Kg", b"E$", b"Kl", b"Es", b"KEh", b"Ez", b"Kx", b"Em", b"En", b"KA", b"Eg$"]
EVERYTHING = b"KEAmn"


@pytest.mark.parametrize("setting", [EVERYTHING])
@pytest.mark.parametrize("resp3", [False, True])
def test_every_event_of_random_sequences(redis_port, setting, resp3):
    @_SETTINGS
    @given(sequence=sequences(CASES))
    def run(sequence):
        events = EventDifferential(redis_port, setting, resp3=resp3)
        try:
            _run(events, sequence)
        finally:
            events.close()

    run()


@pytest.mark.parametrize("type_name", sorted(BY_TYPE))
def test_events_of_each_type(redis_port, type_name):
    @settings(max_examples=EXAMPLES // 2, deadline=None)
    @given(sequence=sequences(BY_TYPE[type_name]))
    def run(sequence):
        events = EventDifferential(redis_port, EVERYTHING)
        try:
            _run(events, sequence)
        finally:
            events.close()

    run()


@pytest.mark.parametrize("setting", SINGLE_CLASSES)
def test_each_class_alone(redis_port, setting):
    @settings(
        max_examples=EXAMPLES // 4,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(sequence=sequences(CASES))
    def run(sequence):
        events = EventDifferential(redis_port, setting)
        try:
            _run(events, sequence)
        finally:
            events.close()

    run()


@pytest.mark.parametrize("setting", [EVERYTHING, b"Kx", b"Em", b"E$n"])
def test_lazy_expiry_events(redis_port, setting):
    """A key past its TTL goes as "expired" when a command touches it: a read (then a
    keymiss), a write that replaces it ("new" again) or one that adds to it."""
    events = EventDifferential(redis_port, setting)
    try:
        for touch in (
            [b"GET", b"k"],
            [b"SET", b"k", b"w"],
            [b"APPEND", b"k", b"w"],
            [b"EXISTS", b"k"],
            [b"DEL", b"k"],
            [b"INCR", b"k"],
        ):
            events.check([b"SET", b"k", b"1", b"PX", b"1"])
            time.sleep(0.01)  # past the TTL on both sides (never asserted on)
            events.check(touch)
            events.check([b"DEL", b"k"])
        events.check([b"RPUSH", b"l", b"a", b"b"])
        events.check([b"PEXPIRE", b"l", b"1"])
        time.sleep(0.01)
        events.check([b"LPUSH", b"l", b"c"])
        events.check([b"LRANGE", b"l", b"0", b"-1"])
    finally:
        events.close()


@pytest.mark.parametrize("setting", [EVERYTHING, b"KEl", b"Eg"])
def test_transaction_events(redis_port, setting):
    events = EventDifferential(redis_port, setting)
    try:
        events.transaction(
            [
                [b"RPUSH", b"{t}a", b"x", b"y"],
                [b"LMOVE", b"{t}a", b"{t}b", b"LEFT", b"RIGHT"],
                [b"LPOP", b"{t}a"],
                [b"GET", b"{t}c"],
                [b"SET", b"{t}c", b"1", b"EX", b"100"],
                [b"RENAME", b"{t}c", b"{t}d"],
                [b"INCR", b"{t}a"],  # the list went with its last element: a new string
            ]
        )
        events.transaction([[b"DEL", b"{t}a", b"{t}b", b"{t}d"], [b"PERSIST", b"{t}x"]])
    finally:
        events.close()


@pytest.mark.parametrize("setting", [EVERYTHING, b"KEz"])
def test_script_events(redis_port, setting):
    """A script's commands notify as if sent one by one, in the order it runs them."""
    events = EventDifferential(redis_port, setting)
    try:
        body = (
            b"redis.call('ZADD', KEYS[1], 1, 'a', 2, 'b') "
            b"redis.call('ZINCRBY', KEYS[1], 5, 'a') "
            b"redis.call('ZPOPMIN', KEYS[1], 2) "
            b"redis.call('GET', KEYS[2]) "
            b"redis.call('HSET', KEYS[2], 'f', 'v') "
            b"redis.call('HDEL', KEYS[2], 'f') "
            b"return 1"
        )
        events.check([b"EVAL", body, b"2", b"{s}z", b"{s}h"])
        events.check([b"EVAL", body, b"2", b"{s}z", b"{s}h"])
    finally:
        events.close()


@pytest.mark.parametrize(
    "commands",
    [
        # Set algebra into a destination: stored, emptied, absent.
        [
            [b"SADD", b"{t}a", b"1", b"2"],
            [b"SADD", b"{t}b", b"2", b"3"],
            [b"SINTERSTORE", b"{t}c", b"{t}a", b"{t}b"],
            [b"SUNIONSTORE", b"{t}c", b"{t}a", b"{t}b"],
            [b"SDIFFSTORE", b"{t}c", b"{t}a", b"{t}a"],
            [b"SDIFFSTORE", b"{t}c", b"{t}a", b"{t}a"],
            [b"SMOVE", b"{t}a", b"{t}d", b"1"],
            [b"SMOVE", b"{t}a", b"{t}d", b"2"],
            [b"SPOP", b"{t}d", b"5"],
        ],
        [
            [b"ZADD", b"{t}a", b"1", b"x", b"2", b"y"],
            [b"ZRANGESTORE", b"{t}b", b"{t}a", b"0", b"-1"],
            [b"ZRANGESTORE", b"{t}b", b"{t}none", b"0", b"-1"],
            [b"ZUNIONSTORE", b"{t}c", b"2", b"{t}a", b"{t}none"],
            [b"ZINTERSTORE", b"{t}c", b"2", b"{t}a", b"{t}none"],
            [b"ZDIFFSTORE", b"{t}c", b"1", b"{t}a"],
            [b"ZREMRANGEBYSCORE", b"{t}c", b"0", b"1"],
            [b"ZREMRANGEBYLEX", b"{t}c", b"-", b"+"],
            [b"ZADD", b"{t}a", b"GT", b"CH", b"0", b"x", b"5", b"y"],
        ],
        [
            [b"SET", b"{t}a", b"v", b"GET"],
            [b"GETSET", b"{t}b", b"v"],
            [b"GETDEL", b"{t}none"],
            [b"GETEX", b"{t}none", b"PERSIST"],
            [b"GETEX", b"{t}a", b"EX", b"100"],
            [b"GETEX", b"{t}a", b"PERSIST"],
            [b"GETEX", b"{t}a", b"PXAT", b"1"],
            [b"COPY", b"{t}b", b"{t}c"],
            [b"COPY", b"{t}none", b"{t}c"],
            [b"COPY", b"{t}b", b"{t}c", b"REPLACE"],
            [b"RENAMENX", b"{t}b", b"{t}c"],
            [b"EXPIRE", b"{t}c", b"-1"],
            [b"SETRANGE", b"{t}d", b"0", b""],
            [b"SETRANGE", b"{t}d", b"2", b"ab"],
            [b"SETBIT", b"{t}d", b"3", b"1"],
            [b"OBJECT", b"ENCODING", b"{t}none"],
            [b"TTL", b"{t}none"],
            [b"MSETNX", b"{t}e", b"1", b"{t}f", b"2"],
            [b"INCRBYFLOAT", b"{t}e", b"1.5"],
        ],
        [
            [b"HSET", b"{t}h", b"a", b"1", b"b", b"2"],
            [b"HSETNX", b"{t}h", b"a", b"1"],
            [b"HINCRBY", b"{t}h", b"a", b"1"],
            [b"HINCRBYFLOAT", b"{t}h", b"b", b"1.5"],
            [b"HDEL", b"{t}h", b"a", b"b", b"c"],
            [b"LPUSHX", b"{t}l", b"a"],
            [b"RPUSH", b"{t}l", b"a", b"b", b"c"],
            [b"LINSERT", b"{t}l", b"BEFORE", b"b", b"x"],
            [b"LSET", b"{t}l", b"0", b"z"],
            [b"LREM", b"{t}l", b"0", b"x"],
            [b"LTRIM", b"{t}l", b"0", b"0"],
            [b"RPOPLPUSH", b"{t}l", b"{t}l"],
            [b"BLPOP", b"{t}none", b"{t}l", b"0.01"],
            [b"LPUSH", b"{t}l", b"a", b"b"],
            [b"LMPOP", b"2", b"{t}none", b"{t}l", b"RIGHT", b"COUNT", b"5"],
        ],
    ],
    ids=["sets", "zsets", "strings-and-keys", "hashes-and-lists"],
)
def test_chosen_sequences(redis_port, commands):
    events = EventDifferential(redis_port, EVERYTHING)
    try:
        for args in commands:
            events.check(args)
    finally:
        events.close()


def test_channels_of_k_and_e():
    assert channels_of([("g", b"del", b"k")], "gA") == []
    assert channels_of([("g", b"del", b"k")], "KE") == [
        (b"__keyspace@0__:k", b"del"),
        (b"__keyevent@0__:del", b"k"),
    ]
