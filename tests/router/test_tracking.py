"""Client tracking in one router over LocalBackend (whose writes publish their changed keys
as a shard leader does): default mode, BCAST prefixes, OPTIN, RESP2 through REDIRECT, and
the replies and errors of CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO against a
real redis-server 7.0; redis-py's client-side cache against a router."""

from __future__ import annotations

import argparse
import asyncio
import time

import pytest
import redis
from redis.cache import CacheConfig

from proto.internal_channels import INVALIDATE
from router.main import redis_version
from tests.router.support import Client, RouterThread, context, parse_replies
from tests.support.resp3 import Resp3Connection


def run(coroutine):
    return asyncio.run(coroutine)


def pushed(client: Client) -> list:
    out = bytes(client.transport.data[client._read :])
    client._read = len(client.transport.data)
    return parse_replies(out)


def test_default_mode_invalidates_what_was_read_once():
    async def scenario():
        ctx, backend = context()
        tracker, writer = Client(ctx), Client(ctx)
        await tracker.call(b"HELLO", b"3")
        assert await tracker.call(b"CLIENT", b"TRACKING", b"on") == b"OK"
        assert INVALIDATE in backend.pubsub.internal  # the router now listens
        assert await tracker.call(b"GET", b"k") is None
        await writer.call(b"SET", b"k", b"1")
        await writer.call(b"SET", b"unread", b"1")
        assert pushed(tracker) == [[b"invalidate", [b"k"]]]
        await writer.call(b"SET", b"k", b"2")  # not read again: nothing more
        assert pushed(tracker) == []
        await tracker.call(b"MGET", b"k", b"{k}x")
        await writer.call(b"DEL", b"k")
        assert pushed(tracker) == [[b"invalidate", [b"k"]]]
        info = (await tracker.call(b"CLIENT", b"INFO")).decode()
        assert "flags=t " in info and "redir=0 " in info
        assert await tracker.call(b"CLIENT", b"TRACKING", b"off") == b"OK"
        assert INVALIDATE not in backend.pubsub.internal

    run(scenario())


def test_bcast_prefixes_and_optin():
    async def scenario():
        ctx, _ = context()
        bcast, optin, writer = Client(ctx), Client(ctx), Client(ctx)
        for client in (bcast, optin):
            await client.call(b"HELLO", b"3")
        await bcast.call(b"CLIENT", b"TRACKING", b"on", b"BCAST", b"PREFIX", b"user:")
        await optin.call(b"CLIENT", b"TRACKING", b"on", b"OPTIN")
        await optin.call(b"GET", b"user:1")  # not remembered without CACHING yes
        assert await optin.call(b"CLIENT", b"CACHING", b"yes") == b"OK"
        await optin.call(b"GET", b"user:2")
        await optin.call(b"GET", b"user:3")  # CACHING yes was for one command
        await writer.call(b"MSET", b"{user:}1", b"a", b"other", b"b")
        await writer.call(b"SET", b"user:1", b"a")
        await writer.call(b"SET", b"user:2", b"a")
        await writer.call(b"SET", b"user:3", b"a")
        assert pushed(bcast) == [
            [b"invalidate", [b"user:1"]],
            [b"invalidate", [b"user:2"]],
            [b"invalidate", [b"user:3"]],
        ]
        assert pushed(optin) == [[b"invalidate", [b"user:2"]]]
        assert "flags=tB " in (await bcast.call(b"CLIENT", b"INFO")).decode()

    run(scenario())


def test_resp2_redirect_to_a_subscriber():
    async def scenario():
        ctx, _ = context()
        receiver, tracker, writer = Client(ctx), Client(ctx), Client(ctx)
        await receiver.call(b"SUBSCRIBE", b"__redis__:invalidate")
        receiver_id = receiver.session.client.id
        assert await tracker.call(b"CLIENT", b"TRACKING", b"on", b"REDIRECT", receiver_id) == b"OK"
        assert await tracker.call(b"CLIENT", b"GETREDIR") == receiver_id
        await tracker.call(b"GET", b"k")
        await writer.call(b"SET", b"k", b"v")
        assert pushed(receiver) == [[b"message", b"__redis__:invalidate", [b"k"]]]
        assert pushed(tracker) == []
        receiver.close()  # the redirect breaks: a RESP2 client is told nothing
        await tracker.call(b"GET", b"k")
        await writer.call(b"SET", b"k", b"w")
        assert pushed(tracker) == []

    run(scenario())


def test_reset_and_close_end_tracking():
    async def scenario():
        ctx, backend = context()
        tracker = Client(ctx)
        await tracker.call(b"CLIENT", b"TRACKING", b"on")
        await tracker.call(b"RESET")
        assert await tracker.call(b"CLIENT", b"GETREDIR") == -1
        assert INVALIDATE not in backend.pubsub.internal
        await tracker.call(b"CLIENT", b"TRACKING", b"on")
        tracker.close()
        assert not ctx.tracking.tracking and INVALIDATE not in backend.pubsub.internal

    run(scenario())


# ---------------------------------------------------------------------- against redis-server


@pytest.fixture(scope="module")
def router_port():
    with RouterThread(shards=3) as thread:
        yield thread.port


SEQUENCES = {
    "bcast": [
        ["CLIENT", "TRACKING", "on", "bcast"],
        ["CLIENT", "TRACKINGINFO"],
        ["CLIENT", "GETREDIR"],
        ["CLIENT", "TRACKING", "on", "bcast", "prefix", "x"],
        ["CLIENT", "TRACKING", "on"],
        ["CLIENT", "TRACKING", "off"],
        ["CLIENT", "TRACKINGINFO"],
    ],
    "prefixes": [
        ["CLIENT", "TRACKING", "on", "bcast", "prefix", "a", "prefix", "ab"],
        ["CLIENT", "TRACKING", "on", "bcast", "prefix", "ab", "prefix", "b"],
        ["CLIENT", "TRACKING", "on", "bcast", "prefix", "a"],
        ["CLIENT", "TRACKING", "on", "bcast", "prefix", "c"],
        ["CLIENT", "TRACKINGINFO"],
    ],
    "optin": [
        ["CLIENT", "CACHING", "yes"],
        ["CLIENT", "TRACKING", "on", "optin", "noloop"],
        ["CLIENT", "CACHING", "yes"],
        ["CLIENT", "TRACKINGINFO"],
        ["GET", "tracking-test-absent"],
        ["CLIENT", "TRACKINGINFO"],
        ["CLIENT", "CACHING", "no"],
        ["CLIENT", "CACHING", "maybe"],
        ["CLIENT", "TRACKING", "on", "optout"],
        ["CLIENT", "TRACKING", "on", "bcast"],
    ],
    "errors": [
        ["CLIENT", "TRACKING"],
        ["CLIENT", "TRACKING", "maybe"],
        ["CLIENT", "TRACKING", "on", "foo"],
        ["CLIENT", "TRACKING", "off", "prefix", "a"],
        ["CLIENT", "TRACKING", "on", "prefix", "a"],
        ["CLIENT", "TRACKING", "on", "optin", "optout"],
        ["CLIENT", "TRACKING", "on", "optin", "bcast"],
        ["CLIENT", "TRACKING", "on", "redirect"],
        ["CLIENT", "TRACKING", "on", "redirect", "abc"],
        ["CLIENT", "TRACKING", "on", "redirect", "987654"],
        ["CLIENT", "CACHING"],
        ["CLIENT", "GETREDIR", "x"],
        ["CLIENT", "TRACKINGINFO"],
    ],
}


def transcript(port: int, commands: list[list[str]], resp3: bool) -> list:
    with redis.Redis(port=port, protocol=3 if resp3 else 2) as client:
        out = []
        for command in commands:
            try:
                out.append(client.execute_command(*command))
            except redis.ResponseError as error:
                out.append(("error", str(error)))
        return out


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_tracking_replies_as_redis(redis_port, router_port, name, resp3):
    commands = SEQUENCES[name]
    assert transcript(router_port, commands, resp3) == transcript(redis_port, commands, resp3)


# NOLOOP: two RESP3 connections, A tracking, B not; after each step, the invalidations
# each connection received.
NOLOOP_STEPS = {
    "default": [
        ("A", ["CLIENT", "TRACKING", "on", "NOLOOP"]),
        ("A", ["MGET", "nl:{1}", "nl:{1}b"]),
        ("A", ["GET", "nl:{2}"]),
        ("B", ["SET", "nl:{1}b", "x"]),  # another client's write: A is told
        ("A", ["SET", "nl:{1}", "y"]),  # its own: not told (and forgotten)
        ("B", ["SET", "nl:{1}", "z"]),  # hence not told of this one either
        ("A", ["GET", "nl:{2}"]),
        ("A", ["MULTI"]),
        ("A", ["INCR", "nl:{2}"]),
        ("A", ["EXEC"]),  # its own transaction: not told
        ("A", ["GET", "nl:{3}"]),
        ("A", ["EVAL", "return redis.call('SET', KEYS[1], 'v')", "1", "nl:{3}"]),
        ("A", ["GET", "nl:{2}"]),
        ("B", ["DEL", "nl:{2}"]),
        ("A", ["CLIENT", "TRACKING", "on"]),  # NOLOOP stays until tracking is off
        ("A", ["CLIENT", "TRACKINGINFO"]),
    ],
    "bcast": [
        ("A", ["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "nlb:", "NOLOOP"]),
        ("A", ["SET", "nlb:1", "a"]),
        ("B", ["SET", "nlb:2", "b"]),
        ("A", ["INCR", "nlb:3"]),
        ("B", ["DEL", "nlb:1"]),
        ("A", ["DEL", "nlb:2", "nlb:3"]),
    ],
    "without": [  # the same steps without NOLOOP: A is told of its own writes
        ("A", ["CLIENT", "TRACKING", "on"]),
        ("A", ["GET", "nl:{1}"]),
        ("A", ["SET", "nl:{1}", "y"]),
        ("A", ["CLIENT", "TRACKING", "off"]),
        ("A", ["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "nlb:"]),
        ("A", ["SET", "nlb:1", "a"]),
    ],
}


def noloop_transcript(port: int, steps: list[tuple[str, list[str]]]) -> list:
    with Resp3Connection(port) as a, Resp3Connection(port) as b:
        b.call("DEL", "nl:{1}", "nl:{1}b", "nl:{2}", "nl:{3}")
        b.call("DEL", "nlb:1", "nlb:2", "nlb:3")
        out: list[tuple] = []
        for name, command in steps:
            reply = (a if name == "A" else b).call(*command)
            if command[0] == "MULTI" or reply == b"QUEUED":
                out.append((name, command, reply))  # a PING would be queued
            else:
                out.append((name, command, reply, a.take_pushes(), b.take_pushes()))
        return out


@pytest.mark.parametrize("name", sorted(NOLOOP_STEPS))
def test_noloop_as_redis(redis_port, router_port, name):
    steps = NOLOOP_STEPS[name]
    assert noloop_transcript(router_port, steps) == noloop_transcript(redis_port, steps)


def allow_redis_7_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """redis-py enables its cache only for servers that say 7.4 or later (a policy: the
    protocol it uses, CLIENT TRACKING and RESP3 invalidation pushes, is 6.0's); the router
    says 7.0."""
    monkeypatch.setattr(redis.connection.CacheProxyConnection, "MIN_ALLOWED_VERSION", "7.0.0")


def test_redis_py_client_side_cache(router_port, monkeypatch):
    """redis-py's cache is invalidated by another connection's write."""
    allow_redis_7_0(monkeypatch)
    cached = redis.Redis(port=router_port, protocol=3, cache_config=CacheConfig())
    writer = redis.Redis(port=router_port)
    try:
        writer.set("cached", "old")
        assert cached.get("cached") == b"old"
        assert cached.get("cached") == b"old"  # from the cache now
        cache = cached.get_cache()
        assert cache is not None and cache.size >= 1
        writer.set("cached", "new")
        deadline = time.monotonic() + 10
        while cached.get("cached") != b"new" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cached.get("cached") == b"new"
    finally:
        cached.close()
        writer.close()


def test_a_router_reporting_7_4_gets_redis_py_s_cache_as_it_is():
    """--report-version 7.4.0 (RouterConfig.redis_version): HELLO and INFO say so, and
    redis-py enables its client-side cache with no patch."""
    with RouterThread(shards=3, redis_version="7.4.0") as thread:
        cached = redis.Redis(port=thread.port, protocol=3, cache_config=CacheConfig())
        writer = redis.Redis(port=thread.port)
        try:
            assert cached.info("server")["redis_version"] == "7.4.0"
            assert writer.execute_command("HELLO")[b"version"] == b"7.4.0"
            writer.set("cached", "old")
            assert cached.get("cached") == b"old"
            cache = cached.get_cache()
            assert cache is not None and cache.size == 1
            writer.set("cached", "new")
            deadline = time.monotonic() + 10
            while cached.get("cached") != b"new" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert cached.get("cached") == b"new"
        finally:
            cached.close()
            writer.close()
    with pytest.raises(argparse.ArgumentTypeError):
        redis_version("7.4")


def test_table_limit_and_info():
    async def scenario():
        ctx, _ = context()
        tracker, other = Client(ctx), Client(ctx)
        await tracker.call(b"HELLO", b"3")
        await tracker.call(b"CLIENT", b"TRACKING", b"on")
        await other.call(b"HELLO", b"3")
        await other.call(b"CLIENT", b"TRACKING", b"on", b"BCAST", b"PREFIX", b"a")
        ctx.tracking.max_keys = 2
        replies = await tracker.pipeline(*((b"GET", key) for key in (b"a1", b"a2", b"a3")))
        # The oldest key was forgotten and its reader told (not the BCAST client); the
        # push goes out when the third GET is dispatched, before the batch's replies.
        assert replies == [[b"invalidate", [b"a1"]], None, None, None]
        assert pushed(other) == []
        info = (await tracker.call(b"INFO", b"everything")).decode()
        assert "tracking_clients:2\r\n" in info
        assert "tracking_total_keys:2\r\n" in info and "tracking_total_items:2\r\n" in info
        assert "tracking_total_prefixes:1\r\n" in info

    run(scenario())
