"""End to end: the asyncio router over LocalBackend (3 shards) with redis-py (sync and
asyncio, RESP2 and RESP3) and redis-cli."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time

import pytest
import redis
import redis.asyncio

from tests.router.support import RouterThread, pack


@pytest.fixture(scope="module")
def router():
    with RouterThread(shards=3) as thread:
        yield thread


@pytest.fixture
def r(router):
    client = redis.Redis(port=router.port)
    client.flushall()
    yield client
    client.close()


def keys_on_every_shard(router, count_per_shard: int = 2) -> list[bytes]:
    planner = router.ctx.planner
    found: dict[int, list[bytes]] = {}
    index = 0
    while any(len(found.get(s, [])) < count_per_shard for s in range(3)):
        key = b"key:%d" % index
        bucket = found.setdefault(planner.shard_of_key(key), [])
        if len(bucket) < count_per_shard:
            bucket.append(key)
        index += 1
    return [key for shard in sorted(found) for key in found[shard]]


def test_basic_commands(r):
    assert r.ping() is True
    assert r.echo("hello") == b"hello"
    assert r.set("a", "1") is True
    assert r.incr("a") == 2
    assert r.get("a") == b"2"
    assert r.hset("h", mapping={"f": "v", "g": "w"}) == 2
    assert r.hgetall("h") == {b"f": b"v", b"g": b"w"}
    assert r.rpush("l", "x", "y") == 2
    assert r.lrange("l", 0, -1) == [b"x", b"y"]


def test_cross_shard_multi_key_commands(router, r):
    keys = keys_on_every_shard(router)
    assert r.mset({key: key + b"!" for key in keys}) is True
    assert r.mget([*keys, b"missing"]) == [*(key + b"!" for key in keys), None]
    assert r.exists(*keys, "missing") == len(keys)
    assert r.touch(*keys) == len(keys)
    assert r.dbsize() == len(keys)
    assert sorted(r.keys("*")) == sorted(keys)
    assert sorted(r.scan_iter(count=2)) == sorted(keys)
    assert r.randomkey() in keys
    assert r.delete(*keys[:3]) == 3
    assert r.unlink(*keys) == len(keys) - 3
    assert r.dbsize() == 0
    assert r.randomkey() is None


def test_crossslot_errors(router, r):
    a, b = keys_on_every_shard(router, 1)[:2]
    for command in (("RENAME", a, b), ("MSETNX", a, 1, b, 2), ("SMOVE", a, b, "m")):
        with pytest.raises(
            redis.ResponseError, match="Keys in request don't hash to the same slot"
        ):
            r.execute_command(*command)
    assert r.msetnx({"{t}a": 1, "{t}b": 2}) is True


def test_pipeline_of_1000_commands(r):
    pipe = r.pipeline(transaction=False)
    for index in range(1000):
        pipe.set(f"p{index}", index)
        pipe.get(f"p{index}")
    replies = pipe.execute()
    assert replies == [item for i in range(1000) for item in (True, str(i).encode())]


def test_resp3(router):
    client = redis.Redis(port=router.port, protocol=3)
    try:
        client.hset("h3", mapping={"a": "1"})
        assert client.hgetall("h3") == {b"a": b"1"}
        client.zadd("z3", {"m": 1.5})
        assert client.zscore("z3", "m") == 1.5
        assert client.get("nothing") is None
        assert client.smembers("nothing") == set()
        info = client.client_info()
        assert info["resp"] == "3" and info["lib-name"] == "redis-py"
    finally:
        client.close()


def test_transactions_with_watch(router, r):
    r.set("{acct}x", 10)
    with r.pipeline() as pipe:
        pipe.watch("{acct}x")
        balance = int(pipe.get("{acct}x"))
        other = redis.Redis(port=router.port)
        other.set("{acct}x", 99)
        other.close()
        pipe.multi()
        pipe.set("{acct}x", balance - 1)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("{acct}x") == b"99"

    def decrement(pipe):
        value = int(pipe.get("{acct}x"))
        pipe.multi()
        pipe.set("{acct}x", value - 1)

    assert r.transaction(decrement, "{acct}x") == [True]
    assert r.get("{acct}x") == b"98"


def test_multi_crossslot_and_execabort(router, r):
    a, b = keys_on_every_shard(router, 1)[:2]
    pipe = r.pipeline()
    pipe.set(a, 1)
    pipe.set(b, 1)
    with pytest.raises(redis.exceptions.ClusterCrossSlotError, match="Command # 2"):
        pipe.execute()
    assert r.exists(a, b) == 0


def test_blocking_pop_released_by_a_push_from_another_client(router, r):
    results = []

    def wait() -> None:
        client = redis.Redis(port=router.port)
        results.append(client.blpop(["queue"], timeout=10))
        client.close()

    waiter = threading.Thread(target=wait)
    waiter.start()
    deadline = time.monotonic() + 5
    while router.ctx.blocked_clients() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert router.ctx.blocked_clients() == 1
    r.rpush("queue", "job")
    waiter.join(10)
    assert results == [(b"queue", b"job")]
    assert r.blpop(["queue"], timeout=0.1) is None


def test_asyncio_client(router):
    async def scenario():
        client = redis.asyncio.Redis(port=router.port, protocol=3)
        try:
            await client.set("async", "1")
            results = await asyncio.gather(*(client.incr("async") for _ in range(50)))
            assert sorted(results) == list(range(2, 52))
            pipe = client.pipeline(transaction=False)
            for index in range(200):
                pipe.set(f"ap{index}", index)
            assert await pipe.execute() == [True] * 200
            popper = asyncio.ensure_future(client.blpop(["aq"], timeout=5))
            await asyncio.sleep(0.1)
            pusher = redis.asyncio.Redis(port=router.port)
            await pusher.lpush("aq", "v")
            await pusher.aclose()
            assert await popper == [b"aq", b"v"]
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_protocol_error_closes_only_that_connection(router, r):
    bad = socket.create_connection(("127.0.0.1", router.port))
    bad.sendall(pack(b"PING") + b"*1\r\n$x\r\n")
    received = b""
    while True:
        chunk = bad.recv(4096)
        if not chunk:
            break
        received += chunk
    bad.close()
    assert received == b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
    assert r.ping() is True


def test_half_closed_client_gets_its_replies(router):
    sock = socket.create_connection(("127.0.0.1", router.port))
    sock.sendall(pack(b"BLPOP", b"nothing", b"0.1") + pack(b"ECHO", b"last"))
    sock.shutdown(socket.SHUT_WR)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    sock.close()
    assert received == b"*-1\r\n$4\r\nlast\r\n"


def test_a_thousand_concurrent_connections(router):
    async def scenario():
        connections = []
        for _ in range(1000):
            connections.append(await asyncio.open_connection("127.0.0.1", router.port))

        async def one(index: int, reader, writer) -> bytes:
            writer.write(pack(b"SET", b"c%d" % index, b"%d" % index) + pack(b"GET", b"c%d" % index))
            await writer.drain()
            return await reader.readexactly(
                len(b"+OK\r\n$%d\r\n%d\r\n" % (len(b"%d" % index), index))
            )

        replies = await asyncio.gather(
            *(one(i, reader, writer) for i, (reader, writer) in enumerate(connections))
        )
        assert router.ctx.stats.connections_received >= 1000
        for index, reply in enumerate(replies):
            assert reply == b"+OK\r\n$%d\r\n%d\r\n" % (len(b"%d" % index), index)
        for _, writer in connections:
            writer.close()
        await asyncio.gather(*(writer.wait_closed() for _, writer in connections))

    asyncio.run(scenario())


def test_max_clients(router):
    with RouterThread(shards=1, max_clients=2) as small:
        first = socket.create_connection(("127.0.0.1", small.port))
        second = socket.create_connection(("127.0.0.1", small.port))
        third = socket.create_connection(("127.0.0.1", small.port))
        assert third.recv(100) == b"-ERR max number of clients reached\r\n"
        for sock in (first, second, third):
            sock.close()


def redis_cli(port: int, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["/usr/bin/redis-cli", "-p", str(port), *args],
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.stdout.decode()


def test_redis_cli(router, r):
    assert redis_cli(router.port, "PING") == "PONG\n"
    assert redis_cli(router.port, "SET", "cli", "value") == "OK\n"
    assert redis_cli(router.port, "GET", "cli") == "value\n"
    assert redis_cli(router.port, "-3", "HSET", "clih", "f", "v") == "1\n"
    assert redis_cli(router.port, "-3", "HGETALL", "clih") == "f v\n"  # a RESP3 map
    assert redis_cli(router.port, "MGET", "cli", "nope") == "value\n\n"
    assert "db0:keys=2" in redis_cli(router.port, "INFO", "keyspace")
    a, b = keys_on_every_shard(router, 1)[:2]
    r.set(a, 1)
    assert redis_cli(router.port, "RENAME", a.decode(), b.decode()).strip() == (
        "CROSSSLOT Keys in request don't hash to the same slot"
    )


def test_redis_cli_pipe_mode(router, r):
    commands = b"".join(pack(b"SET", b"pipe%d" % i, b"%d" % i) for i in range(500))
    output = redis_cli(router.port, "--pipe", stdin=commands)
    assert "errors: 0, replies: 500" in output
    assert r.get("pipe499") == b"499"
