"""MONITOR, CLIENT PAUSE / UNPAUSE / NO-EVICT and the client id space in one router over
LocalBackend, and the same lines and replies as a real redis-server 7.0 (MONITOR's line
format and redactions, PAUSE's errors and what it holds)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from proto.commands import CommandSpec, resolve
from proto.internal_channels import CONTROL, pack, unpack
from router.context import CLIENT_ID_BITS
from router.monitor import monitor_line
from tests.router.support import Client, RouterThread, context, parse_replies


def run(coroutine):
    return asyncio.run(coroutine)


async def settle(turns: int = 50) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


def sent(client: Client) -> bytes:
    out = bytes(client.transport.data[client._read :])
    client._read = len(client.transport.data)
    return out


# ---------------------------------------------------------------------- MONITOR


def spec_of(args: list[bytes]) -> CommandSpec:
    spec = resolve(args)
    assert isinstance(spec, CommandSpec)
    return spec


def test_monitor_line_format_and_redactions():
    spec = spec_of([b"set", b"k", b"v"])
    line = monitor_line(1700000000.123456, "127.0.0.1:53012", spec, [b"SET", b"k", b'a "b"\n\x01'])
    assert line == b'+1700000000.123456 [0 127.0.0.1:53012] "SET" "k" "a \\"b\\"\\n\\x01"\r\n'
    auth = monitor_line(1.5, "a:1", spec_of([b"auth", b"u", b"p"]), [b"auth", b"u", b"p"])
    assert auth == b'+1.500000 [0 a:1] "auth" "(redacted)" "(redacted)"\r\n'
    hello = [b"hello", b"3", b"setname", b"n", b"AUTH", b"default", b"pw"]
    assert monitor_line(1.0, "a:1", spec_of(hello), hello).endswith(
        b'"setname" "n" "AUTH" "(redacted)" "(redacted)"\r\n'
    )


def test_monitor_shows_other_clients_commands_in_order():
    async def scenario():
        ctx, _ = context()
        watcher, worker = Client(ctx), Client(ctx)
        assert await watcher.call(b"MONITOR") == b"OK"
        assert ctx.monitor.active and "flags=O" in (await worker.call(b"CLIENT", b"LIST")).decode()
        await worker.pipeline(
            (b"SET", b"k", b"v"),
            (b"CONFIG", b"GET", b"maxmemory"),  # admin: not shown
            (b"NOSUCH",),  # refused: not shown
            (b"MULTI",),
            (b"INCR", b"n"),
            (b"EXEC",),
            (b"AUTH", b"secret"),
        )
        lines = [line.decode() for line in parse_replies(sent(watcher))]
        shown = [line.split("] ", 1)[1] for line in lines]
        assert shown == [
            '"SET" "k" "v"',
            '"MULTI"',
            '"INCR" "n"',
            '"EXEC"',
            '"AUTH" "(redacted)"',
        ]
        address = worker.session.client.addr
        assert all(re.fullmatch(rf"\d+\.\d{{6}} \[0 {address}\] .*", line) for line in lines)
        assert (await watcher.raw(b"*1\r\n$5\r\nRESET\r\n")).endswith(b"+RESET\r\n")
        assert not ctx.monitor.active
        await worker.call(b"GET", b"k")
        assert sent(watcher) == b""

    run(scenario())


def test_monitor_stops_when_its_client_goes():
    async def scenario():
        ctx, _ = context()
        watcher = Client(ctx)
        await watcher.call(b"MONITOR")
        watcher.close()
        assert not ctx.monitor.active and not ctx.backend.pubsub.internal.get(b"")

    run(scenario())


# ---------------------------------------------------------------------- CLIENT PAUSE


def test_pause_write_holds_writes_until_unpause():
    async def scenario():
        ctx, _ = context()
        admin, writer, reader = Client(ctx), Client(ctx), Client(ctx)
        assert await admin.call(b"CLIENT", b"PAUSE", b"100000", b"WRITE") == b"OK"
        writer.session.feed(
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        )
        await settle()
        assert sent(writer) == b""  # the SET waits, and the GET after it
        assert await reader.call(b"GET", b"k") is None  # reads go on
        assert await admin.call(b"CLIENT", b"UNPAUSE") == b"OK"
        async with asyncio.timeout(5):
            while writer.session.running:
                await asyncio.sleep(0)
        assert parse_replies(sent(writer)) == [b"OK", b"v"]

    run(scenario())


def test_pause_all_holds_every_command_until_it_ends():
    async def scenario():
        ctx, _ = context()
        admin, reader = Client(ctx), Client(ctx)
        assert await admin.call(b"CLIENT", b"PAUSE", b"200", b"ALL") == b"OK"
        reader.session.feed(b"*1\r\n$4\r\nPING\r\n")
        await settle()
        assert sent(reader) == b""
        async with asyncio.timeout(5):  # the pause's end lets it through
            while reader.session.running:
                await asyncio.sleep(0.01)
        assert sent(reader) == b"+PONG\r\n"
        assert not ctx.pause.active

    run(scenario())


def test_pause_keeps_the_longer_deadline_and_the_stricter_mode():
    async def scenario():
        ctx, _ = context()
        admin = Client(ctx)
        await admin.call(b"CLIENT", b"PAUSE", b"100000", b"ALL")
        until = ctx.pause.until
        ctx.pause.pause(10, 1)  # a shorter WRITE pause changes nothing
        assert ctx.pause.until == until and ctx.pause.mode == 2
        ctx.pause.unpause()
        assert not ctx.pause.active

    run(scenario())


def test_no_evict_flag():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        assert await client.call(b"CLIENT", b"NO-EVICT", b"on") == b"OK"
        assert "flags=e " in (await client.call(b"CLIENT", b"INFO")).decode()
        await client.call(b"RESET")  # kept, as in Redis 7.0
        assert "flags=e " in (await client.call(b"CLIENT", b"INFO")).decode()
        assert await client.call(b"CLIENT", b"NO-EVICT", b"OFF") == b"OK"
        assert "flags=N " in (await client.call(b"CLIENT", b"INFO")).decode()

    run(scenario())


# ---------------------------------------------------------------------- client ids, bus


def test_client_ids_carry_the_router_tag():
    async def scenario():
        ctx, backend = context()
        assert Client(ctx).session.client.id == 1  # a router alone: Redis's ids
        backend.router_tag = 5
        assert Client(ctx).session.client.id == 5 << CLIENT_ID_BITS | 2

    run(scenario())


def test_bus_answers_requests_of_another_router():
    """A request from another router (tag 7), as it arrives on the control channel: this
    router answers on the asker's reply channel with its clients."""

    async def scenario():
        ctx, backend = context()
        worker = Client(ctx)
        await worker.call(b"CLIENT", b"SETNAME", b"w")
        answers: list[bytes] = []
        backend.pubsub.listen(b"\x00slotraft:reply:7", answers.append)
        ctx.bus.start()
        backend.pubsub.deliver(CONTROL, pack([b"ask", b"client-list", b"7", b"42"]))
        await settle()
        (answer,) = answers
        request_id, line = unpack(answer) or [b"", b""]
        assert request_id == b"42" and b"name=w " in line
        backend.pubsub.deliver(
            CONTROL,
            pack(
                [
                    b"ask",
                    b"client-kill",
                    b"7",
                    b"43",
                    b"999",
                    b"ID",
                    b"%d" % worker.session.client.id,
                ]
            ),
        )
        await settle()
        assert unpack(answers[1]) == [b"43", b"1"] and worker.transport.closed

    run(scenario())


# ---------------------------------------------------------------------- against redis-server


# Commands Redis 7.0 shows and the administrative ones it does not.
SHOWN_OR_NOT = [
    ["ECHO", "hi"],
    ["SELECT", "0"],
    ["CLIENT", "ID"],
    ["CLIENT", "SETNAME", "x"],
    ["CLIENT", "GETNAME"],
    ["COMMAND", "COUNT"],
    ["INFO", "server"],
    ["DBSIZE"],
    ["TIME"],
    ["PUBLISH", "c", "m"],
    ["WAIT", "0", "0"],
    ["CLIENT", "NO-EVICT", "on"],
    ["CLIENT", "LIST"],
    ["CLIENT", "PAUSE", "10", "WRITE"],
    ["CLIENT", "UNPAUSE"],
    ["SLOWLOG", "GET"],
    ["LATENCY", "LATEST"],
    ["CONFIG", "RESETSTAT"],
    ["ROLE"],
    ["LASTSAVE"],
    ["WATCH", "{t}k"],
    ["UNWATCH"],
]


def monitor_transcript(port: int) -> list[str]:
    """What a monitor shows of a few commands of another connection, without the times
    and addresses."""
    watcher = socket.create_connection(("127.0.0.1", port), timeout=10)
    watcher.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
    assert watcher.recv(100) == b"+OK\r\n"
    other = redis.Redis(port=port, protocol=2)
    other.set("{t}k", 'a "b"\n')
    other.execute_command("CONFIG", "GET", "maxmemory")
    pipe = other.pipeline(transaction=True)
    pipe.incr("{t}n")
    pipe.get("{t}k")
    pipe.execute()
    with pytest.raises(redis.RedisError):
        other.execute_command("AUTH", "secret")
    other.execute_command("HELLO", "2", "AUTH", "default", "pw")  # nopass takes any
    connection = other.connection_pool.get_connection()
    for command in SHOWN_OR_NOT:  # without redis-py's parsing of the replies
        connection.send_command(*command)
        with contextlib.suppress(redis.ResponseError):  # refused once run: shown the same
            connection.read_response()
    other.connection_pool.release(connection)
    other.execute_command("PING")
    data = b""
    while not data.endswith(b'"PING"\r\n'):
        data += watcher.recv(65536)
    watcher.close()
    other.close()
    lines = parse_replies(data)
    # redis-py's CLIENT SETINFO on connect is Redis 7.2's: 7.0 refuses it unseen.
    return [line.decode().split("] ", 1)[1] for line in lines if b"SETINFO" not in line]


@pytest.fixture(scope="module")
def router_port():
    with RouterThread(shards=3) as thread:
        yield thread.port


def test_monitor_lines_as_redis(redis_port, router_port):
    assert monitor_transcript(router_port) == monitor_transcript(redis_port)


PAUSE_ERRORS = [
    ["CLIENT", "PAUSE", "-1"],
    ["CLIENT", "PAUSE", "abc"],
    ["CLIENT", "PAUSE", "10", "foo"],
    ["CLIENT", "PAUSE", "10", "write", "x"],
    ["CLIENT", "NO-EVICT", "maybe"],
    ["CLIENT", "UNPAUSE", "x"],
    ["MONITOR", "x"],
]


@pytest.mark.parametrize("command", PAUSE_ERRORS, ids=" ".join)
def test_errors_as_redis(redis_port, router_port, command):
    def reply(port: int) -> str:
        with redis.Redis(port=port) as client, pytest.raises(redis.ResponseError) as raised:
            client.execute_command(*command)
        return str(raised.value)

    assert reply(router_port) == reply(redis_port)


@pytest.mark.parametrize("mode", ["WRITE", "ALL"])
def test_pause_holds_what_redis_holds(redis_port, router_port, mode):
    """Which of GET / SET / PUBLISH / EVAL answer during a pause: those Redis answers at
    once answer before the pause ends (it outlasts the four tries: the rest are still
    held). Under ALL, Redis holds the UNPAUSE too: that pause is short."""
    pause_ms = "20000" if mode == "WRITE" else "3000"

    def answered(port: int) -> list[str]:
        with redis.Redis(port=port) as admin:
            admin.execute_command("CLIENT", "PAUSE", pause_ms, mode)
            results = []
            for command in (
                ["GET", "k"],
                ["SET", "k", "v"],
                ["PUBLISH", "c", "m"],
                ["EVAL", "return 1", "0"],
            ):
                # No retries: a try that times out is a held command.
                once = Retry(NoBackoff(), 0)
                with redis.Redis(port=port, socket_timeout=0.5, retry=once) as client:
                    try:
                        client.execute_command(*command)
                        results.append(command[0])
                    except redis.TimeoutError:
                        pass
            admin.execute_command("CLIENT", "UNPAUSE")
        time.sleep(0.1)
        return results

    got = answered(router_port)
    assert got == answered(redis_port)
    assert got == (["GET"] if mode == "WRITE" else [])


# ---------------------------------------------------------------------- CLIENT UNBLOCK


@pytest.mark.parametrize("reason", [b"TIMEOUT", b"ERROR"])
def test_unblock_answers_a_blocked_client(reason):
    async def scenario():
        ctx, _ = context()
        blocked, admin, pusher = Client(ctx), Client(ctx), Client(ctx)
        blocked.session.feed(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nl\r\n$1\r\n0\r\n")
        await settle()
        assert blocked.session.client.blocked
        target = blocked.session.client.id
        assert await admin.call(b"CLIENT", b"UNBLOCK", target, reason) == 1
        async with asyncio.timeout(5):
            while blocked.session.running:
                await asyncio.sleep(0)
        expected = (
            b"*-1\r\n"
            if reason == b"TIMEOUT"
            else b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
        )
        assert sent(blocked) == expected
        assert await admin.call(b"CLIENT", b"UNBLOCK", target) == 0  # no longer blocked
        await pusher.call(b"RPUSH", b"l", b"kept")  # nobody took it
        assert await pusher.call(b"LRANGE", b"l", 0, -1) == [b"kept"]

    run(scenario())


UNBLOCK_ERRORS = [
    ["CLIENT", "UNBLOCK", "abc"],
    ["CLIENT", "UNBLOCK", "5", "foo"],
    ["CLIENT", "UNBLOCK", "5", "timeout", "x"],
]


@pytest.mark.parametrize("command", UNBLOCK_ERRORS, ids=" ".join)
def test_unblock_errors_as_redis(redis_port, router_port, command):
    def reply(port: int) -> str:
        with redis.Redis(port=port) as client, pytest.raises(redis.ResponseError) as raised:
            client.execute_command(*command)
        return str(raised.value)

    assert reply(router_port) == reply(redis_port)


NEW_COMMANDS = [
    "monitor",
    "client|pause",
    "client|unpause",
    "client|no-evict",
    "client|unblock",
    "client|tracking",
    "client|caching",
    "client|getredir",
    "client|trackinginfo",
]


def test_command_info_as_redis(redis_port, router_port):
    def info(port: int) -> list:
        with redis.Redis(port=port, decode_responses=True) as client:
            return client.execute_command("COMMAND", "INFO", *NEW_COMMANDS)

    assert info(router_port) == info(redis_port)


def test_a_monitor_that_does_not_read_is_disconnected_at_the_replica_limit():
    async def scenario():
        ctx, _ = context()
        watcher, worker = Client(ctx), Client(ctx)
        limit = b"replica 1000 0 0"
        assert await worker.call(b"CONFIG", b"SET", b"client-output-buffer-limit", limit) == b"OK"
        await watcher.call(b"MONITOR")
        watcher.session.pause_writing()  # the monitor stopped reading
        for _ in range(30):
            await worker.call(b"SET", b"k", b"x" * 100)
        assert watcher.transport.closed
        watcher.close()
        assert not ctx.monitor.active

    run(scenario())


def test_a_held_command_keeps_client_reply_skip():
    async def scenario():
        ctx, _ = context()
        admin, writer = Client(ctx), Client(ctx)
        await admin.call(b"CLIENT", b"PAUSE", b"100000", b"WRITE")
        writer.session.feed(
            b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n"
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        )
        await settle()
        await admin.call(b"CLIENT", b"UNPAUSE")
        async with asyncio.timeout(5):
            while writer.session.running:
                await asyncio.sleep(0)
        assert sent(writer) == b"$1\r\nv\r\n"  # the SET's reply skipped

    run(scenario())


def test_monitor_in_exec_and_twice_as_redis(redis_port, router_port):
    def replies(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"MULTI\r\nMONITOR\r\nEXEC\r\nMONITOR\r\nMONITOR\r\nECHO x\r\n")
            data = b""
            while b"x" not in data:  # ECHO's own line, or its reply
                data += connection.recv(65536)
            data = data.split(b'"ECHO"')[0]  # up to the monitor line of ECHO
            return re.sub(rb"\+\d+\.\d{6} \[0 [^]]*\] ", b"+T [0 A] ", data)

    assert replies(router_port) == replies(redis_port)
