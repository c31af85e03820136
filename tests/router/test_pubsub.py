"""Pub/sub in one router over LocalBackend: the registry, the session's subscribe mode, and
the replies byte for byte against a real redis-server 7.0 (confirmations, messages, errors
in subscribe mode, RESP3 pushes, PUBSUB answers)."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest

from proto.resp import Push
from router.backend import BackendError
from router.connection import ClientState
from router.pubsub import Frame, PubSubRegistry
from tests.router.support import Client, RouterThread, context, pack, parse_replies


def run(coroutine):
    return asyncio.run(coroutine)


# ---------------------------------------------------------------------- the registry


class Collector:
    """A subscriber that keeps what it is sent."""

    def __init__(self, client_id: int, resp3: bool = False) -> None:
        self.client = ClientState(
            id=client_id, addr="", laddr="", fd=-1, created=0.0, authenticated=True, resp3=resp3
        )
        self.received: list[bytes] = []

    def deliver(self, frame: Frame) -> None:
        self.received.append(frame.encoded(self.client.resp3))

    def messages(self) -> list:
        return parse_replies(b"".join(self.received))


def test_registry_confirmations_count_channels_and_patterns():
    registry = PubSubRegistry()
    sub = Collector(1)
    assert registry.subscribe(sub, [b"a", b"b", b"a"]) == [
        Push([b"subscribe", b"a", 1]),
        Push([b"subscribe", b"b", 2]),
        Push([b"subscribe", b"a", 2]),
    ]
    assert registry.psubscribe(sub, [b"n*"]) == [Push([b"psubscribe", b"n*", 3])]
    assert sub.client.subscribed
    assert registry.unsubscribe(sub, [b"a", b"zz"]) == [
        Push([b"unsubscribe", b"a", 2]),
        Push([b"unsubscribe", b"zz", 2]),
    ]
    assert registry.unsubscribe(sub, []) == [Push([b"unsubscribe", b"b", 1])]
    assert registry.unsubscribe(sub, []) == [Push([b"unsubscribe", None, 1])]
    assert registry.punsubscribe(sub, []) == [Push([b"punsubscribe", b"n*", 0])]
    assert registry.punsubscribe(sub, []) == [Push([b"punsubscribe", None, 0])]
    assert not sub.client.subscribed
    assert registry.channels == {} and registry.patterns == {}


def test_registry_version_moves_only_on_changes_and_tells_listeners():
    registry = PubSubRegistry()
    calls: list[int] = []
    registry.listeners.append(lambda: calls.append(registry.version))
    sub = Collector(1)
    start = registry.version
    registry.subscribe(sub, [b"a"])
    registry.subscribe(sub, [b"a"])  # already held: no change
    registry.unsubscribe(sub, [b"nope"])
    registry.psubscribe(sub, [b"p"])
    registry.drop(sub.client)
    registry.drop(sub.client)
    assert calls == [start + 1, start + 2, start + 3]


def test_registry_delivery_and_counts():
    registry = PubSubRegistry()
    first, second, third = Collector(1), Collector(2, resp3=True), Collector(3)
    registry.subscribe(first, [b"news"])
    registry.subscribe(second, [b"news", b"other"])
    registry.psubscribe(second, [b"n*"])
    registry.psubscribe(third, [b"n*", b"*s"])
    # a channel subscriber, then each pattern: 2 + 2 (n*) + 1 (*s)
    assert registry.deliver(b"news", b"hi") == 5
    assert first.messages() == [[b"message", b"news", b"hi"]]
    assert second.received == [
        b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n",
        b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n",
    ]
    assert sorted(third.messages()) == [
        [b"pmessage", b"*s", b"news", b"hi"],
        [b"pmessage", b"n*", b"news", b"hi"],
    ]
    assert registry.deliver(b"nothing", b"x") == 2  # n* (second, third)
    assert registry.deliver(b"zzz", b"x") == 0
    assert registry.channel_counts() == ([b"news", b"other"], [2, 1])
    assert registry.pattern_counts() == ([b"n*", b"*s"], [2, 1])
    assert registry.numsub([b"news", b"other", b"none"]) == [2, 1, 0]
    assert registry.numpat() == 2
    assert registry.active_channels(None) == [b"news", b"other"]
    assert registry.active_channels(b"o*") == [b"other"]
    registry.drop(second.client)
    assert registry.channel_counts() == ([b"news"], [1])
    assert registry.pattern_counts() == ([b"n*", b"*s"], [1, 1])
    assert second.client.channels == {} and not second.client.subscribed


def test_a_frame_is_encoded_once_per_protocol():
    frame = Frame(Push([b"message", b"c", b"m"]))
    assert frame.encoded(False) is frame.encoded(False)
    assert frame.encoded(False) == b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
    assert frame.encoded(True) == b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"


# ---------------------------------------------------------------------- sessions


def test_messages_between_connections_and_publish_counts():
    async def scenario():
        ctx, _ = context()
        sub, pub = Client(ctx), Client(ctx)
        await sub.raw(pack(b"SUBSCRIBE", b"a") + pack(b"PSUBSCRIBE", b"a*"))
        assert await pub.call(b"PUBLISH", b"a", b"one") == 2
        assert await pub.call(b"PUBLISH", b"b", b"two") == 0
        assert parse_replies(await sub.raw(b"")) == [
            [b"message", b"a", b"one"],
            [b"pmessage", b"a*", b"a", b"one"],
        ]

    run(scenario())


def test_publishes_of_a_pipeline_arrive_in_order():
    async def scenario():
        ctx, _ = context()
        sub, pub = Client(ctx), Client(ctx)
        await sub.call(b"SUBSCRIBE", b"seq")
        counts = await pub.pipeline(*[(b"PUBLISH", b"seq", b"%d" % n) for n in range(200)])
        assert counts == [1] * 200
        got = parse_replies(await sub.raw(b""))
        assert got == [[b"message", b"seq", b"%d" % n] for n in range(200)]

    run(scenario())


def test_closing_or_reset_drops_every_subscription():
    async def scenario():
        ctx, backend = context()
        first, second, pub = Client(ctx), Client(ctx), Client(ctx)
        await first.raw(pack(b"SUBSCRIBE", b"a", b"b") + pack(b"PSUBSCRIBE", b"p*"))
        await second.raw(pack(b"SUBSCRIBE", b"a") + pack(b"PSUBSCRIBE", b"p*"))
        assert await pub.call(b"PUBSUB", b"NUMSUB", b"a", b"b") == [b"a", 2, b"b", 1]
        first.close()
        assert await pub.call(b"PUBSUB", b"NUMSUB", b"a", b"b") == [b"a", 1, b"b", 0]
        assert await pub.call(b"PUBSUB", b"NUMPAT") == 1
        assert await second.call(b"RESET") == b"RESET"
        assert await pub.call(b"PUBLISH", b"a", b"x") == 0
        assert await pub.call(b"PUBSUB", b"NUMPAT") == 0
        assert backend.pubsub.channels == {} and backend.pubsub.patterns == {}
        assert await second.call(b"GET", b"k") is None  # out of subscribe mode

    run(scenario())


def test_quit_in_subscribe_mode():
    async def scenario():
        ctx, _ = context()
        sub = Client(ctx)
        got = parse_replies(await sub.raw(pack(b"SUBSCRIBE", b"a") + pack(b"QUIT")))
        assert got == [[b"subscribe", b"a", 1], b"OK"]
        assert sub.transport.closed

    run(scenario())


def test_shard_subscriptions_end_with_quit_close_and_reset():
    async def scenario():
        ctx, backend = context()
        sub, other, pub = Client(ctx), Client(ctx), Client(ctx)
        got = parse_replies(await sub.raw(pack(b"SSUBSCRIBE", b"s") + pack(b"QUIT")))
        assert got == [[b"ssubscribe", b"s", 1], b"OK"]
        assert sub.transport.closed
        sub.close()
        assert await pub.call(b"SPUBLISH", b"s", b"x") == 0
        await other.raw(pack(b"SSUBSCRIBE", b"{s}1", b"{s}2") + pack(b"SUBSCRIBE", b"s"))
        assert "sub=1 psub=0 ssub=2" in (await pub.call(b"CLIENT", b"LIST")).decode()
        assert await pub.call(b"PUBSUB", b"SHARDNUMSUB", b"{s}1") == [b"{s}1", 1]
        info = (await pub.call(b"INFO", b"stats")).decode()
        assert "pubsubshard_channels:2\r\n" in info and "pubsub_channels:1\r\n" in info
        assert await other.call(b"RESET") == b"RESET"
        assert backend.pubsub.shard_channels == {} and backend.pubsub.channels == {}
        assert await pub.call(b"PUBSUB", b"SHARDCHANNELS") == []

    run(scenario())


def test_crossslot_shard_channels_are_refused():
    async def scenario():
        ctx, backend = context()
        sub = Client(ctx)
        crossslot = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
        assert await sub.raw(pack(b"SSUBSCRIBE", b"a", b"b")) == crossslot
        assert not sub.session.client.subscribed and backend.pubsub.shard_channels == {}
        got = parse_replies(await sub.raw(pack(b"SSUBSCRIBE", b"{a}1", b"{a}2")))
        assert got == [[b"ssubscribe", b"{a}1", 1], [b"ssubscribe", b"{a}2", 2]]
        # In subscribe mode as well, and for SUNSUBSCRIBE.
        assert await sub.raw(pack(b"SUNSUBSCRIBE", b"{a}1", b"b")) == crossslot
        assert await sub.raw(pack(b"SSUBSCRIBE", b"x", b"y")) == crossslot
        assert len(backend.pubsub.shard_channels) == 2

    run(scenario())


def test_client_reply_off_still_sends_confirmations_and_messages():
    """As Redis 7.0: pushes are not replies, CLIENT REPLY OFF does not silence them."""

    async def scenario():
        ctx, _ = context()
        sub, pub = Client(ctx), Client(ctx)
        got = await sub.raw(
            pack(b"CLIENT", b"REPLY", b"OFF") + pack(b"SUBSCRIBE", b"q") + pack(b"PING")
        )
        assert parse_replies(got) == [[b"subscribe", b"q", 1]]
        await pub.call(b"PUBLISH", b"q", b"m")
        assert parse_replies(await sub.raw(b"")) == [[b"message", b"q", b"m"]]
        # The context error is a reply: silenced too.
        assert await sub.raw(pack(b"GET", b"k")) == b""
        await sub.raw(pack(b"RESET"))
        assert await sub.call(b"PING") == b"PONG"

    run(scenario())


def test_client_info_list_and_kill_know_subscribers():
    async def scenario():
        ctx, _ = context()
        sub, other = Client(ctx), Client(ctx)
        await sub.raw(pack(b"HELLO", b"3") + pack(b"SUBSCRIBE", b"a", b"b"))
        await sub.raw(pack(b"PSUBSCRIBE", b"c*"))
        info = (await sub.raw(pack(b"CLIENT", b"INFO"))).decode()
        assert "flags=P " in info and " sub=2 psub=1 " in info
        listed = (await other.raw(pack(b"CLIENT", b"LIST", b"TYPE", b"pubsub"))).decode()
        assert f"id={sub.session.client.id} " in listed
        assert f"id={other.session.client.id} " not in listed
        normal = (await other.raw(pack(b"CLIENT", b"LIST", b"TYPE", b"normal"))).decode()
        assert f"id={other.session.client.id} " in normal
        assert f"id={sub.session.client.id} " not in normal
        assert await other.call(b"CLIENT", b"KILL", b"TYPE", b"pubsub") == 1
        assert sub.transport.closed and not other.transport.closed

    run(scenario())


def test_resp3_subscriber_runs_any_command_and_gets_pushes():
    async def scenario():
        ctx, _ = context()
        sub, pub = Client(ctx), Client(ctx)
        await sub.raw(pack(b"HELLO", b"3"))
        got = await sub.raw(
            pack(b"SUBSCRIBE", b"r")
            + pack(b"SET", b"k", b"v")
            + pack(b"GET", b"k")
            + pack(b"PUBLISH", b"r", b"self")
        )
        assert got == (
            b">3\r\n$9\r\nsubscribe\r\n$1\r\nr\r\n:1\r\n"
            b"+OK\r\n$1\r\nv\r\n"
            b">3\r\n$7\r\nmessage\r\n$1\r\nr\r\n$4\r\nself\r\n:1\r\n"
        )
        await pub.call(b"PUBLISH", b"r", b"other")
        assert await sub.raw(b"") == b">3\r\n$7\r\nmessage\r\n$1\r\nr\r\n$5\r\nother\r\n"

    run(scenario())


def test_messages_wait_for_the_confirmation_of_a_change_in_progress():
    """While a subscription change waits for the nodes, messages to the connection are
    held and follow the confirmation, as in Redis where nothing comes between them."""

    async def scenario():
        ctx, backend = context()
        release = asyncio.Event()
        entered = asyncio.Event()

        async def slow_sync() -> None:
            entered.set()
            await release.wait()

        sub, pub = Client(ctx), Client(ctx)
        await sub.call(b"SUBSCRIBE", b"old")
        backend.sync_subscriptions = slow_sync  # type: ignore[method-assign]
        sub.session.feed(pack(b"SUBSCRIBE", b"new"))
        await entered.wait()
        assert await pub.call(b"PUBLISH", b"old", b"1") == 1
        assert await pub.call(b"PUBLISH", b"new", b"2") == 1
        assert bytes(sub.transport.data[sub._read :]) == b""
        release.set()
        assert parse_replies(await sub.raw(b"")) == [
            [b"subscribe", b"new", 2],
            [b"message", b"old", b"1"],
            [b"message", b"new", b"2"],
        ]

    run(scenario())


def test_a_subscriber_that_does_not_read_is_disconnected():
    async def scenario():
        ctx, backend = context()
        sub, pub = Client(ctx), Client(ctx)
        # Redis's pubsub class limit, lowered: the default is 32 MB.
        limit = b"pubsub 1000 0 0"
        assert await pub.call(b"CONFIG", b"SET", b"client-output-buffer-limit", limit) == b"OK"
        await sub.call(b"SUBSCRIBE", b"firehose")
        sub.session.pause_writing()  # the client stopped reading: the socket is full
        for _ in range(30):
            await pub.call(b"PUBLISH", b"firehose", b"x" * 100)
        assert sub.transport.closed
        sub.close()
        assert backend.pubsub.numsub([b"firehose"]) == [0]

    run(scenario())


def test_publish_failure_is_an_error_reply():
    async def scenario():
        ctx, backend = context()

        async def failing(channel: bytes, message: bytes, sender: int) -> int:
            raise BackendError(b"CLUSTERDOWN The cluster is down: test")

        backend.publish = failing  # type: ignore[method-assign]
        client = Client(ctx)
        got = await client.raw(pack(b"PUBLISH", b"c", b"m") + pack(b"PING"))
        assert got == b"-CLUSTERDOWN The cluster is down: test\r\n+PONG\r\n"

    run(scenario())


# ---------------------------------------------------------------------- against Redis


class Connection:
    """A raw connection; `settle` returns what arrived up to the reply of a PING sent then
    (in RESP2 subscribe mode that reply is ['pong', token], otherwise the bulk token)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.pings = 0

    def settle(self) -> bytes:
        self.pings += 1
        token = b"settle-%d" % self.pings
        self.sock.sendall(pack(b"PING", token))
        tail = b"$%d\r\n%s\r\n" % (len(token), token)
        received = b""
        while not received.endswith(tail):
            chunk = self.sock.recv(65536)
            if not chunk:
                return received + b"<closed>"
            received += chunk
        received = received[: -len(tail)]
        return received.removesuffix(b"*2\r\n$4\r\npong\r\n")

    def close(self) -> None:
        self.sock.close()


def transcript(port: int, steps: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Run the steps (connection name, commands); after each, what every connection got
    (the acting one first, so that what it published has arrived everywhere)."""
    names = sorted({name for name, _ in steps})
    connections = {name: Connection(port) for name in names}
    out = []
    try:
        for name, data in steps:
            connections[name].sock.sendall(data)
            out.append((name, connections[name].settle()))
            for other in names:
                if other != name:
                    out.append((other, connections[other].settle()))
    finally:
        for connection in connections.values():
            connection.close()
    return out


def normalize(data: bytes) -> bytes:
    return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:ID\r\n", data)


SUB, PUB, OTHER = "sub", "pub", "other"

CASES: dict[str, list[tuple[str, bytes]]] = {
    "channels": [
        (SUB, pack(b"SUBSCRIBE", b"a", b"b", b"a")),
        (PUB, pack(b"PUBLISH", b"a", b"m1") + pack(b"PUBLISH", b"c", b"m2")),
        (SUB, pack(b"UNSUBSCRIBE", b"a", b"zz")),
        (PUB, pack(b"PUBLISH", b"a", b"m3") + pack(b"PUBLISH", b"b", b"m4")),
        (SUB, pack(b"UNSUBSCRIBE")),
        (SUB, pack(b"UNSUBSCRIBE") + pack(b"PUNSUBSCRIBE")),
        (SUB, pack(b"PING") + pack(b"GET", b"pubsub:k")),
    ],
    "patterns": [
        (SUB, pack(b"PSUBSCRIBE", b"n*", b"[ab]", b"n*")),
        (PUB, pack(b"PUBLISH", b"news", b"x") + pack(b"PUBLISH", b"a", b"y")),
        (PUB, pack(b"PUBLISH", b"zz", b"no")),
        (SUB, pack(b"PUNSUBSCRIBE", b"n*", b"never")),
        (PUB, pack(b"PUBLISH", b"news", b"gone") + pack(b"PUBLISH", b"b", b"kept")),
        (SUB, pack(b"PUNSUBSCRIBE")),
        (SUB, pack(b"PUNSUBSCRIBE") + pack(b"UNSUBSCRIBE")),
    ],
    "channel and pattern together": [
        (SUB, pack(b"SUBSCRIBE", b"x") + pack(b"PSUBSCRIBE", b"x*")),
        (PUB, pack(b"PUBLISH", b"x", b"both") + pack(b"PUBLISH", b"xy", b"pattern")),
        (SUB, pack(b"UNSUBSCRIBE", b"x")),
        (PUB, pack(b"PUBLISH", b"x", b"one")),
    ],
    "empty and binary names": [
        (SUB, pack(b"SUBSCRIBE", b"", b"\x00\xff") + pack(b"PSUBSCRIBE", b"", b"*")),
        (PUB, pack(b"PUBLISH", b"", b"") + pack(b"PUBLISH", b"\x00\xff", b"\r\n")),
        (PUB, pack(b"PUBSUB", b"NUMSUB", b"", b"\x00\xff") + pack(b"PUBSUB", b"NUMPAT")),
    ],
    "subscribe mode errors": [
        (SUB, pack(b"SUBSCRIBE", b"a")),
        (SUB, pack(b"GET", b"k") + pack(b"ECHO", b"e") + pack(b"SET", b"k", b"v")),
        (SUB, pack(b"MULTI") + pack(b"CLIENT", b"ID") + pack(b"CLIENT", b"SETNAME", b"x")),
        (SUB, pack(b"PUBSUB", b"NUMSUB", b"a") + pack(b"PUBLISH", b"a", b"b")),
        (SUB, pack(b"HELLO") + pack(b"INFO") + pack(b"MGET", b"a", b"b")),
        (SUB, pack(b"NOSUCH") + pack(b"SUBSCRIBE") + pack(b"PING", b"a", b"b")),
        (SUB, pack(b"PING") + pack(b"PING", b"hi")),
        (SUB, pack(b"RESET")),
        (SUB, pack(b"GET", b"pubsub:k") + pack(b"PING")),
        (PUB, pack(b"PUBLISH", b"a", b"after reset")),
    ],
    "resp3": [
        (SUB, pack(b"HELLO", b"3")),
        (SUB, pack(b"SUBSCRIBE", b"r") + pack(b"PSUBSCRIBE", b"r*")),
        (SUB, pack(b"PUBLISH", b"r", b"self") + pack(b"GET", b"pubsub:k") + pack(b"PING")),
        (PUB, pack(b"PUBLISH", b"r", b"other") + pack(b"PUBLISH", b"rr", b"pattern")),
        (SUB, pack(b"UNSUBSCRIBE", b"nope") + pack(b"PUNSUBSCRIBE") + pack(b"PUNSUBSCRIBE")),
        (SUB, pack(b"UNSUBSCRIBE") + pack(b"UNSUBSCRIBE")),
        (SUB, pack(b"HELLO", b"2") + pack(b"SUBSCRIBE", b"two") + pack(b"GET", b"k")),
        (SUB, pack(b"HELLO", b"3") + pack(b"GET", b"pubsub:k")),
    ],
    "introspection": [
        (SUB, pack(b"SUBSCRIBE", b"c1")),
        (OTHER, pack(b"SUBSCRIBE", b"c1", b"c2") + pack(b"PSUBSCRIBE", b"p*", b"q*")),
        (SUB, pack(b"PSUBSCRIBE", b"p*")),
        (
            PUB,
            pack(b"PUBSUB", b"NUMSUB", b"c1", b"c2", b"c3")
            + pack(b"PUBSUB", b"NUMSUB")
            + pack(b"PUBSUB", b"NUMPAT")
            + pack(b"PUBSUB", b"CHANNELS", b"c1")
            + pack(b"PUBSUB", b"CHANNELS", b"x*")
            + pack(b"PUBSUB", b"CHANNELS", b"")
            + pack(b"PUBSUB", b"channels", b"c1", b"extra")
            + pack(b"PUBSUB", b"NUMPAT", b"x")
            + pack(b"PUBSUB", b"FOO")
            + pack(b"PUBSUB")
            + pack(b"PUBLISH", b"a")
            + pack(b"PUBLISH", b"p1", b"to both"),
        ),
        (OTHER, pack(b"UNSUBSCRIBE", b"c2")),
        (PUB, pack(b"PUBSUB", b"CHANNELS") + pack(b"PUBSUB", b"NUMSUB", b"c2")),
    ],
    "command info": [
        (
            PUB,
            pack(b"COMMAND", b"INFO", b"subscribe", b"unsubscribe", b"psubscribe")
            + pack(b"COMMAND", b"INFO", b"punsubscribe", b"publish")
            + pack(b"COMMAND", b"INFO", b"ssubscribe", b"sunsubscribe", b"spublish")
            + pack(b"COMMAND", b"INFO", b"pubsub|shardchannels", b"pubsub|shardnumsub")
            + pack(b"PUBSUB", b"HELP"),
        ),
    ],
    # Shard channels of one slot (hash tags): a standalone redis-server then answers as a
    # cluster node would (CROSSSLOT: tests/differential/test_pubsub_differential.py).
    "shard channels": [
        (SUB, pack(b"SSUBSCRIBE", b"{t}a", b"{t}b", b"{t}a")),
        (PUB, pack(b"SPUBLISH", b"{t}a", b"m1") + pack(b"SPUBLISH", b"{t}c", b"m2")),
        (PUB, pack(b"PUBLISH", b"{t}a", b"not shard") + pack(b"SPUBLISH", b"{t}b", b"m3")),
        (SUB, pack(b"SUNSUBSCRIBE", b"{t}a", b"{t}zz")),
        (PUB, pack(b"SPUBLISH", b"{t}a", b"gone") + pack(b"SPUBLISH", b"{t}b", b"kept")),
        (SUB, pack(b"GET", b"k") + pack(b"PING") + pack(b"SUNSUBSCRIBE")),
        (SUB, pack(b"SUNSUBSCRIBE") + pack(b"GET", b"pubsub:k")),
        (SUB, pack(b"SSUBSCRIBE") + pack(b"SPUBLISH", b"a") + pack(b"SUNSUBSCRIBE", b"x")),
    ],
    "shard channels with channels and patterns": [
        (SUB, pack(b"SSUBSCRIBE", b"s") + pack(b"SUBSCRIBE", b"s") + pack(b"PSUBSCRIBE", b"s*")),
        (PUB, pack(b"SPUBLISH", b"s", b"sharded") + pack(b"PUBLISH", b"s", b"plain")),
        (SUB, pack(b"UNSUBSCRIBE") + pack(b"PUNSUBSCRIBE") + pack(b"GET", b"pubsub:k")),
        (PUB, pack(b"SPUBLISH", b"s", b"still")),
        (SUB, pack(b"SUBSCRIBE", b"c") + pack(b"SUNSUBSCRIBE") + pack(b"GET", b"pubsub:k")),
        (SUB, pack(b"SSUBSCRIBE", b"s") + pack(b"RESET") + pack(b"GET", b"pubsub:k")),
        (PUB, pack(b"SPUBLISH", b"s", b"after reset") + pack(b"PUBLISH", b"c", b"x")),
    ],
    "shard channels resp3": [
        (SUB, pack(b"HELLO", b"3") + pack(b"SSUBSCRIBE", b"r")),
        (SUB, pack(b"SPUBLISH", b"r", b"self") + pack(b"GET", b"pubsub:k")),
        (PUB, pack(b"SPUBLISH", b"r", b"other") + pack(b"SUBSCRIBE", b"r")),
        (SUB, pack(b"UNSUBSCRIBE") + pack(b"SUNSUBSCRIBE", b"r", b"r")),
        (SUB, pack(b"SUNSUBSCRIBE")),
    ],
    "shard introspection": [
        (SUB, pack(b"SSUBSCRIBE", b"c1")),
        (OTHER, pack(b"SSUBSCRIBE", b"{c2}x") + pack(b"SUBSCRIBE", b"c1")),
        (
            PUB,
            pack(b"PUBSUB", b"SHARDNUMSUB", b"c1", b"{c2}x", b"c3")
            + pack(b"PUBSUB", b"SHARDNUMSUB")
            + pack(b"PUBSUB", b"NUMSUB", b"c1")
            + pack(b"PUBSUB", b"SHARDCHANNELS", b"c1")
            + pack(b"PUBSUB", b"SHARDCHANNELS", b"x*")
            + pack(b"PUBSUB", b"SHARDCHANNELS", b"{*")
            + pack(b"PUBSUB", b"shardchannels", b"c1", b"extra")
            + pack(b"PUBSUB", b"SHARDNUMSUB", b"")
            + pack(b"SPUBLISH", b"c1", b"shard")
            + pack(b"PUBLISH", b"c1", b"plain"),
        ),
        (OTHER, pack(b"SUNSUBSCRIBE", b"{c2}x")),
        (PUB, pack(b"PUBSUB", b"SHARDCHANNELS") + pack(b"PUBSUB", b"SHARDNUMSUB", b"{c2}x")),
    ],
    "multi": [
        (SUB, pack(b"MULTI") + pack(b"SUBSCRIBE", b"m") + pack(b"PING") + pack(b"EXEC")),
        (SUB, pack(b"GET", b"k")),
        (PUB, pack(b"MULTI") + pack(b"PUBLISH", b"m", b"x") + pack(b"EXEC")),
        (PUB, pack(b"MULTI") + pack(b"PUBSUB", b"NUMSUB", b"m") + pack(b"EXEC")),
    ],
}


@pytest.fixture(scope="module")
def router_port():
    with RouterThread(shards=3) as thread:
        yield thread.port


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_frames_as_redis(redis_port, router_port, name):
    expected = [(who, normalize(data)) for who, data in transcript(redis_port, CASES[name])]
    got = [(who, normalize(data)) for who, data in transcript(router_port, CASES[name])]
    assert got == expected


def test_pubsub_help_lists_what_is_offered(router_port):
    with socket.create_connection(("127.0.0.1", router_port), timeout=10) as sock:
        sock.sendall(pack(b"PUBSUB", b"HELP"))
        data = b""
        while not data.endswith(b"Prints this help.\r\n"):
            data += sock.recv(65536)
    (lines,) = parse_replies(data)
    assert lines[0].startswith(b"PUBSUB <subcommand>")
    assert {b"CHANNELS [<pattern>]", b"NUMPAT", b"NUMSUB [<channel> ...]"} <= set(lines)
    assert {b"SHARDCHANNELS [<pattern>]", b"SHARDNUMSUB [<shardchannel> ...]"} <= set(lines)


def test_info_stats_counts_channels_and_patterns():
    async def scenario():
        ctx, _ = context()
        sub, other = Client(ctx), Client(ctx)
        await sub.raw(pack(b"SUBSCRIBE", b"a", b"b") + pack(b"PSUBSCRIBE", b"p*"))
        info = (await other.call(b"INFO", b"stats")).decode()
        assert "pubsub_channels:2\r\n" in info and "pubsub_patterns:1\r\n" in info
        sub.close()
        info = (await other.call(b"INFO", b"stats")).decode()
        assert "pubsub_channels:0\r\n" in info and "pubsub_patterns:0\r\n" in info

    run(scenario())
