"""A connection's command processing, driven in-process over LocalBackend: ordering in
pipelines, HELLO/AUTH, MULTI/EXEC/WATCH, CLIENT REPLY, protocol errors, backend errors."""

from __future__ import annotations

import asyncio

import hiredis
import pytest

from router.config import Limits
from tests.router.support import Client, context, pack


def run(coroutine):
    return asyncio.run(coroutine)


def err(text: str) -> hiredis.ReplyError:
    return hiredis.ReplyError(text)


def same(a, b) -> bool:
    """Replies compare equal (hiredis errors compare by text)."""
    if isinstance(a, hiredis.ReplyError) or isinstance(b, hiredis.ReplyError):
        return type(a) is type(b) and str(a) == str(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_pipeline_replies_in_order_across_shards_and_local_commands():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        commands: list[tuple[bytes, ...]] = []
        for index in range(300):
            commands.append((b"SET", b"k%d" % index, b"v%d" % index))
            commands.append((b"ECHO", b"e%d" % index))
            commands.append((b"GET", b"k%d" % index))
        got = await client.pipeline(*commands)
        expected = []
        for index in range(300):
            expected += [b"OK", b"e%d" % index, b"v%d" % index]
        assert got == expected

    run(scenario())


def test_unknown_command_and_arity():
    async def scenario():
        client = Client(context()[0])
        got = await client.pipeline((b"FOO", b"a", b"b"), (b"GET",), (b"PING", b"a", b"b"))
        assert same(
            got,
            [
                err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "),
                err("ERR wrong number of arguments for 'get' command"),
                err("ERR wrong number of arguments for 'ping' command"),
            ],
        )
        got = await client.pipeline((b"CLIENT", b"NOPE"), (b"CLIENT",), (b"CLIENT", b"SETNAME"))
        assert same(
            got,
            [
                err("ERR unknown subcommand 'NOPE'. Try CLIENT HELP."),
                err("ERR wrong number of arguments for 'client' command"),
                err("ERR wrong number of arguments for 'client|setname' command"),
            ],
        )

    run(scenario())


def test_auth_flow():
    async def scenario():
        ctx, _ = context(requirepass=b"secret")
        client = Client(ctx)
        got = await client.pipeline(
            (b"GET", b"a"),
            (b"FOO",),
            (b"AUTH", b"wrong"),
            (b"AUTH", b"secret"),
            (b"AUTH", b"wrong"),
            (b"GET", b"a"),
        )
        assert same(
            got,
            [
                err("NOAUTH Authentication required."),
                err("ERR unknown command 'FOO', with args beginning with: "),
                err("WRONGPASS invalid username-password pair or user is disabled."),
                b"OK",
                err("WRONGPASS invalid username-password pair or user is disabled."),
                None,
            ],
        )
        assert await client.call(b"AUTH", b"default", b"secret") == b"OK"
        assert same(await client.call(b"AUTH", b"a", b"b", b"c"), err("ERR syntax error"))

    run(scenario())


def test_auth_without_password():
    async def scenario():
        client = Client(context()[0])
        assert same(
            await client.call(b"AUTH", b"x"),
            err(
                "ERR AUTH <password> called without any password configured for the default "
                "user. Are you sure your configuration is correct?"
            ),
        )
        assert await client.call(b"AUTH", b"default", b"anything") == b"OK"
        assert same(
            await client.call(b"AUTH", b"bob", b"x"),
            err("WRONGPASS invalid username-password pair or user is disabled."),
        )

    run(scenario())


def test_unauthenticated_limits_lift_after_auth_in_the_same_read():
    async def scenario():
        ctx, _ = context(requirepass=b"pw")
        client = Client(ctx)
        eleven = pack(b"MSET", *[b"x"] * 10)
        assert await client.raw(pack(b"AUTH", b"pw") + eleven) == b"+OK\r\n+OK\r\n"
        other = Client(ctx)
        out = await other.raw(eleven)
        assert out == b"-ERR Protocol error: unauthenticated multibulk length\r\n"
        assert other.transport.closed

    run(scenario())


def test_hello():
    async def scenario():
        ctx, _ = context(requirepass=b"pw")
        client = Client(ctx)
        noauth = await client.call(b"HELLO", b"3")
        assert str(noauth).startswith("NOAUTH HELLO must be called with the client already")
        assert same(
            await client.call(b"HELLO", b"3", b"AUTH", b"default", b"bad"),
            err("WRONGPASS invalid username-password pair or user is disabled."),
        )
        assert same(await client.call(b"HELLO", b"4"), err("NOPROTO unsupported protocol version"))
        assert same(
            await client.call(b"HELLO", b"x"),
            err("ERR Protocol version is not an integer or out of range"),
        )
        raw = await client.raw(pack(b"HELLO", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"n"))
        assert raw.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
        assert b"$5\r\nproto\r\n:3\r\n" in raw and b"$4\r\nmode\r\n$10\r\nstandalone\r\n" in raw
        assert await client.call(b"CLIENT", b"GETNAME") == b"n"
        # RESP3 from now on, for forwarded and local replies alike.
        assert await client.raw(pack(b"GET", b"missing")) == b"_\r\n"
        assert same(
            await client.call(b"HELLO", b"3", b"SETNAME", b"a b"),
            err("ERR Client names cannot contain spaces, newlines or special characters."),
        )
        assert same(
            await client.call(b"HELLO", b"3", b"AUTH", b"default"),
            err("ERR Syntax error in HELLO option 'AUTH'"),
        )
        raw = await client.raw(pack(b"HELLO", b"2"))
        assert raw.startswith(b"*14\r\n")
        assert await client.raw(pack(b"GET", b"missing")) == b"$-1\r\n"

    run(scenario())


def test_select_and_protocol_switch_mid_pipeline():
    async def scenario():
        client = Client(context()[0])
        raw = await client.raw(
            pack(b"SELECT", b"0")
            + pack(b"GET", b"nothing")
            + pack(b"HELLO", b"3")
            + pack(b"GET", b"nothing")
            + pack(b"SELECT", b"16")
            + pack(b"SELECT", b"x")
        )
        assert raw.startswith(b"+OK\r\n$-1\r\n%7\r\n")
        assert raw.endswith(
            b"_\r\n-ERR DB index is out of range\r\n"
            b"-ERR value is not an integer or out of range\r\n"
        )

    run(scenario())


def test_client_reply_modes():
    async def scenario():
        client = Client(context()[0])
        raw = await client.raw(
            pack(b"CLIENT", b"REPLY", b"OFF")
            + pack(b"SET", b"a", b"1")
            + pack(b"PING")
            + pack(b"CLIENT", b"REPLY", b"ON")
            + pack(b"GET", b"a")
            + pack(b"CLIENT", b"REPLY", b"SKIP")
            + pack(b"ECHO", b"skipped")
            + pack(b"ECHO", b"shown")
        )
        assert raw == b"+OK\r\n$1\r\n1\r\n$5\r\nshown\r\n"

    run(scenario())


def test_quit_replies_then_closes():
    async def scenario():
        client = Client(context()[0])
        assert await client.raw(pack(b"PING") + pack(b"QUIT") + pack(b"PING")) == (
            b"+PONG\r\n+OK\r\n"
        )
        assert client.transport.closed

    run(scenario())


def test_protocol_error_after_valid_commands():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        raw = await client.raw(pack(b"SET", b"a", b"1") + pack(b"GET", b"a") + b"*1\r\n:1\r\n")
        assert raw == b"+OK\r\n$1\r\n1\r\n-ERR Protocol error: expected '$', got ':'\r\n"
        assert client.transport.closed
        other = Client(ctx)
        assert await other.call(b"GET", b"a") == b"1"

    run(scenario())


def test_backend_errors_pass_through():
    async def scenario():
        ctx, backend = context()
        client = Client(ctx)
        keys: dict[int, bytes] = {}
        index = 0
        while len(keys) < 3:
            keys.setdefault(ctx.planner.shard_of_key(b"k%d" % index), b"k%d" % index)
            index += 1
        backend.down.add(1)
        got = await client.pipeline(
            (b"SET", keys[0], b"x"), (b"SET", keys[1], b"x"), (b"MGET", keys[0], keys[1])
        )
        assert got[0] == b"OK"
        assert str(got[1]).startswith("CLUSTERDOWN")
        assert str(got[2]).startswith("CLUSTERDOWN")
        backend.down.clear()
        assert await client.call(b"MGET", keys[0], keys[1]) == [b"x", None]

    run(scenario())


# ---------------------------------------------------------------------- MULTI / EXEC


def test_multi_exec_with_local_commands_in_position():
    async def scenario():
        client = Client(context()[0])
        got = await client.pipeline(
            (b"MULTI",),
            (b"SET", b"{t}a", b"1"),
            (b"PING",),
            (b"INCR", b"{t}a"),
            (b"CLIENT", b"SETNAME", b"tx"),
            (b"ECHO", b"e"),
            (b"EXEC",),
            (b"CLIENT", b"GETNAME"),
        )
        assert got == [
            b"OK",
            b"QUEUED",
            b"QUEUED",
            b"QUEUED",
            b"QUEUED",
            b"QUEUED",
            [b"OK", b"PONG", 2, b"OK", b"e"],
            b"tx",
        ]
        assert await client.pipeline((b"MULTI",), (b"EXEC",)) == [b"OK", []]

    run(scenario())


def test_multi_errors():
    async def scenario():
        client = Client(context()[0])
        got = await client.pipeline(
            (b"EXEC",),
            (b"DISCARD",),
            (b"MULTI",),
            (b"MULTI",),
            (b"WATCH", b"x"),
            (b"SET", b"a", b"1"),
            (b"EXEC",),
        )
        assert same(
            got,
            [
                err("ERR EXEC without MULTI"),
                err("ERR DISCARD without MULTI"),
                b"OK",
                err("ERR MULTI calls can not be nested"),
                err("ERR WATCH inside MULTI is not allowed"),
                b"QUEUED",
                [b"OK"],
            ],
        )
        got = await client.pipeline(
            (b"MULTI",), (b"SET", b"a", b"2"), (b"NOPE",), (b"GET",), (b"EXEC",), (b"GET", b"a")
        )
        assert same(
            got,
            [
                b"OK",
                b"QUEUED",
                err("ERR unknown command 'NOPE', with args beginning with: "),
                err("ERR wrong number of arguments for 'get' command"),
                err("EXECABORT Transaction discarded because of previous errors."),
                b"1",
            ],
        )
        got = await client.pipeline(
            (b"MULTI",), (b"SET", b"a", b"3"), (b"DISCARD",), (b"GET", b"a")
        )
        assert got == [b"OK", b"QUEUED", b"OK", b"1"]

    run(scenario())


def test_multi_across_shards_is_refused_at_queue_time():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        a = b"a"
        b = next(
            b"b%d" % i
            for i in range(100)
            if ctx.planner.shard_of_key(b"b%d" % i) != ctx.planner.shard_of_key(a)
        )
        got = await client.pipeline(
            (b"MULTI",), (b"SET", a, b"1"), (b"SET", b, b"1"), (b"EXEC",), (b"EXISTS", a)
        )
        assert same(
            got,
            [
                b"OK",
                b"QUEUED",
                err("CROSSSLOT Keys in request don't hash to the same slot"),
                err("EXECABORT Transaction discarded because of previous errors."),
                0,
            ],
        )
        got = await client.pipeline((b"MULTI",), (b"DBSIZE",), (b"EXEC",))
        assert str(got[1]).startswith("CROSSSLOT DBSIZE inside MULTI")

    run(scenario())


def test_watch_aborts_exec_after_a_concurrent_change():
    async def scenario():
        ctx, _ = context()
        first, second = Client(ctx), Client(ctx)
        await first.call(b"SET", b"{w}k", b"1")
        assert await first.call(b"WATCH", b"{w}k", b"{w}j") == b"OK"
        await second.call(b"SET", b"{w}k", b"2")
        got = await first.pipeline((b"MULTI",), (b"SET", b"{w}k", b"3"), (b"EXEC",))
        assert got == [b"OK", b"QUEUED", None]
        assert await first.call(b"GET", b"{w}k") == b"2"
        # Watches are gone after EXEC: the next transaction runs.
        got = await first.pipeline((b"MULTI",), (b"SET", b"{w}k", b"3"), (b"EXEC",))
        assert got == [b"OK", b"QUEUED", [b"OK"]]
        # Unchanged watched keys let EXEC run; UNWATCH forgets them.
        assert await first.call(b"WATCH", b"{w}k") == b"OK"
        got = await first.pipeline((b"MULTI",), (b"GET", b"{w}k"), (b"EXEC",))
        assert got == [b"OK", b"QUEUED", [b"3"]]
        await first.call(b"WATCH", b"{w}k")
        await second.call(b"SET", b"{w}k", b"4")
        assert await first.call(b"UNWATCH") == b"OK"
        got = await first.pipeline((b"MULTI",), (b"GET", b"{w}k"), (b"EXEC",))
        assert got == [b"OK", b"QUEUED", [b"4"]]

    run(scenario())


def test_watch_must_stay_on_one_shard():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        a = b"a"
        b = next(
            b"b%d" % i
            for i in range(100)
            if ctx.planner.shard_of_key(b"b%d" % i) != ctx.planner.shard_of_key(a)
        )
        crossslot = err("CROSSSLOT Keys in request don't hash to the same slot")
        assert same(await client.call(b"WATCH", a, b), crossslot)
        assert await client.call(b"WATCH", a) == b"OK"
        assert same(await client.call(b"WATCH", b), crossslot)
        got = await client.pipeline((b"MULTI",), (b"GET", b), (b"EXEC",))
        assert same(
            got,
            [b"OK", crossslot, err("EXECABORT Transaction discarded because of previous errors.")],
        )

    run(scenario())


def test_reset_leaves_multi_and_protocol():
    async def scenario():
        ctx, _ = context(requirepass=b"pw")
        client = Client(ctx)
        got = await client.pipeline(
            (b"AUTH", b"pw"), (b"CLIENT", b"SETNAME", b"n"), (b"MULTI",), (b"SET", b"a", b"1")
        )
        assert got == [b"OK", b"OK", b"OK", b"QUEUED"]
        assert await client.raw(pack(b"RESET")) == b"+RESET\r\n"
        got = await client.pipeline((b"EXEC",), (b"AUTH", b"pw"), (b"CLIENT", b"GETNAME"))
        assert str(got[0]).startswith("NOAUTH")
        assert got[1:] == [b"OK", None]

    run(scenario())


def test_blocking_command_is_a_barrier_and_wakes_on_push():
    async def scenario():
        ctx, _ = context()
        waiter, pusher = Client(ctx), Client(ctx)
        waiter.session.feed(
            pack(b"ECHO", b"before") + pack(b"BLPOP", b"q", b"0") + pack(b"ECHO", b"after")
        )
        for _ in range(20):
            await asyncio.sleep(0)
        assert bytes(waiter.transport.data) == b"$6\r\nbefore\r\n"
        assert ctx.blocked_clients() == 1
        assert await pusher.call(b"RPUSH", b"q", b"x") == 1
        for _ in range(20):
            await asyncio.sleep(0)
        assert bytes(waiter.transport.data) == (
            b"$6\r\nbefore\r\n*2\r\n$1\r\nq\r\n$1\r\nx\r\n$5\r\nafter\r\n"
        )
        assert ctx.blocked_clients() == 0

    run(scenario())


def test_read_pausing_under_a_long_pipeline():
    async def scenario():
        ctx, _ = context(read_high_water=1000)
        client = Client(ctx)
        client.session.feed(pack(b"BLPOP", b"never", b"0.2"))
        client.session.feed(pack(b"PING") * 200)
        assert client.transport.reading_paused
        async with asyncio.timeout(5):
            while client.session.running:
                await asyncio.sleep(0.01)
        assert not client.transport.reading_paused
        assert bytes(client.transport.data) == b"*-1\r\n" + b"+PONG\r\n" * 200

    run(scenario())


@pytest.mark.parametrize("limits", [Limits(), Limits(max_args=5)])
def test_limits_from_config_apply(limits):
    async def scenario():
        client = Client(context(limits=limits)[0])
        raw = await client.raw(pack(b"DEL", *[b"k"] * 6))
        if limits.max_args == 5:
            assert raw == b"-ERR Protocol error: invalid multibulk length\r\n"
        else:
            assert raw == b":0\r\n"

    run(scenario())


def test_blocking_xread_with_dollar_wakes_with_the_new_entry():
    async def scenario():
        ctx, _ = context()
        reader, writer = Client(ctx), Client(ctx)
        assert await writer.call(b"XADD", b"s", b"1-0", b"f", b"old") == b"1-0"
        reader.session.feed(pack(b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert bytes(reader.transport.data) == b""
        assert ctx.blocked_clients() == 1
        assert await writer.call(b"XADD", b"s", b"2-0", b"f", b"new") == b"2-0"
        for _ in range(20):
            await asyncio.sleep(0)
        assert bytes(reader.transport.data) == (
            b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$3\r\nnew\r\n"
        )
        # A timed-out read answers a null array.
        got = await Client(ctx).call(b"XREAD", b"BLOCK", b"10", b"STREAMS", b"s", b"$")
        assert got is None

    run(scenario())


def test_blocked_xreadgroup_answers_unblocked_when_its_stream_is_deleted():
    async def scenario():
        ctx, _ = context()
        reader, writer = Client(ctx), Client(ctx)
        assert await writer.call(b"XGROUP", b"CREATE", b"s", b"g", b"$", b"MKSTREAM") == b"OK"
        reader.session.feed(
            pack(b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">")
        )
        for _ in range(20):
            await asyncio.sleep(0)
        assert ctx.blocked_clients() == 1
        assert await writer.call(b"DEL", b"s") == 1
        for _ in range(20):
            await asyncio.sleep(0)
        assert bytes(reader.transport.data) == b"-UNBLOCKED the stream key no longer exists\r\n"

    run(scenario())
