"""Real clients against a real cluster: redis-py (sync, asyncio, RESP3), redis-cli,
pipelines, cross-shard commands, transactions, blocking pops, several routers."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from typing import Any, cast

import pytest
import redis
import redis.asyncio as aioredis

pytestmark = pytest.mark.slow  # a real cluster of processes


def client(cluster, index: int = 0, **options) -> redis.Redis:
    return redis.Redis(port=cluster.router_ports[index], socket_timeout=20, **options)


def keys_on_distinct_shards(cluster, count: int) -> list[bytes]:
    found: dict[int, bytes] = {}
    n = 0
    while len(found) < count:
        key = b"spread:%d" % n
        found.setdefault(cluster.shard_of(key), key)
        n += 1
    return list(found.values())


def test_redis_py_basics(cluster):
    r = client(cluster)
    assert r.ping()
    assert r.set("greeting", "hello", ex=100)
    assert r.get("greeting") == b"hello"
    assert 0 < r.ttl("greeting") <= 100
    assert r.incr("visits") == 1
    assert r.hset("session:1", mapping={"user": "ada", "role": "admin"}) == 2
    assert r.hgetall("session:1") == {b"user": b"ada", b"role": b"admin"}
    assert r.zadd("board", {"ada": 3, "bob": 5}) == 2
    assert r.zrevrange("board", 0, -1, withscores=True) == [(b"bob", 5.0), (b"ada", 3.0)]
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.lpush("greeting", "x")
    assert r.get("greeting") == b"hello"  # the connection keeps working after an error


def test_both_routers_serve_the_same_data(cluster):
    first, second = client(cluster, 0), client(cluster, 1)
    first.set("shared", "from-first")
    assert second.get("shared") == b"from-first"
    second.set("shared", "from-second")
    assert first.get("shared") == b"from-second"


def test_pipeline_of_a_thousand_commands(cluster):
    r = client(cluster)
    pipe = r.pipeline(transaction=False)
    for index in range(1000):
        pipe.set(f"pipe:{index}", index)
        pipe.incr("pipe:counter")
    replies = pipe.execute()
    assert replies[0::2] == [True] * 1000
    assert replies[1::2] == list(range(1, 1001))
    values = r.mget([f"pipe:{index}" for index in range(1000)])
    assert values == [b"%d" % index for index in range(1000)]


def test_cross_shard_mget_mset_del_exists(cluster):
    r = client(cluster)
    keys = keys_on_distinct_shards(cluster, 3)
    assert r.mset({key: key + b"-v" for key in keys})
    assert r.mget([*keys, b"missing"]) == [key + b"-v" for key in keys] + [None]
    assert r.exists(*keys, b"missing") == 3
    assert r.delete(*keys, b"missing") == 3
    assert r.mget(keys) == [None, None, None]


def test_crossslot_errors(cluster):
    r = client(cluster)
    a, b, _ = keys_on_distinct_shards(cluster, 3)
    with pytest.raises(redis.ResponseError, match="hash to the same slot"):
        r.rename(a, b)
    with pytest.raises(redis.ResponseError, match="hash to the same slot"):
        r.sinterstore(a, [a, b])
    # Hash tags keep related keys together.
    r.set("{user:7}:name", "ada")
    assert r.rename("{user:7}:name", "{user:7}:alias")
    assert r.get("{user:7}:alias") == b"ada"


def test_multi_exec_and_watch(cluster):
    r = client(cluster)
    with r.pipeline(transaction=True) as pipe:
        pipe.set("{acct}:a", 10)
        pipe.set("{acct}:b", 0)
        pipe.decrby("{acct}:a", 3)
        pipe.incrby("{acct}:b", 3)
        assert pipe.execute() == [True, True, 7, 3]
    other = client(cluster)
    with r.pipeline(transaction=True) as pipe:
        pipe.watch("{acct}:a")
        balance = int(cast(bytes, pipe.get("{acct}:a")))  # (watching: run at once)
        other.set("{acct}:a", 100)  # a concurrent change between WATCH and EXEC
        pipe.multi()
        pipe.set("{acct}:a", balance - 1)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("{acct}:a") == b"100"


def test_queued_command_error_aborts_exec(cluster):
    conn = client(cluster)
    raw = conn.connection_pool.get_connection()
    try:
        raw.send_command("MULTI")
        assert raw.read_response() == b"OK"
        raw.send_command("SET", "tx:k", "v")
        assert raw.read_response() == b"QUEUED"
        raw.send_command("NOSUCHCOMMAND")
        with pytest.raises(redis.ResponseError, match="unknown command"):
            raw.read_response()
        raw.send_command("EXEC")
        with pytest.raises(
            redis.ResponseError, match="Transaction discarded because of previous errors"
        ):
            raw.read_response()
    finally:
        conn.connection_pool.release(raw)
    assert conn.get("tx:k") is None


def test_blocking_pop_released_by_a_push_from_another_client(cluster):
    waiter = client(cluster)
    pusher = client(cluster)
    waiter.delete("jobs")
    result: dict[str, object] = {}

    def wait() -> None:
        result["popped"] = waiter.blpop(["jobs"], timeout=15)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.5)
    pusher.rpush("jobs", "job-1")
    thread.join(20)
    assert result["popped"] == (b"jobs", b"job-1")
    started = time.monotonic()
    assert waiter.blpop(["jobs"], timeout=1) is None
    assert time.monotonic() - started >= 0.9


def test_a_key_turned_into_another_type_leaves_a_blocked_pop_waiting(cluster):
    """As Redis 7.0: a push, DEL and SET in one transaction wake nobody (the key is a
    string when the parked BZPOPMIN would run again), the next push serves it."""
    waiter = client(cluster)
    writer = client(cluster)
    writer.delete("tz")
    result: dict[str, object] = {}

    def wait() -> None:
        result["popped"] = waiter.bzpopmin(["tz"], timeout=30)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.5)
    with writer.pipeline(transaction=True) as tx:
        tx.zadd("tz", {"foo": 0})
        tx.delete("tz")
        tx.set("tz", "foo")
        tx.execute()
    writer.delete("tz")
    writer.zadd("tz", {"bar": 1})
    thread.join(35)
    assert result["popped"] == (b"tz", b"bar", 1.0)


def test_resp3(cluster):
    r = client(cluster, protocol=3)
    r.hset("r3:h", mapping={"a": "1"})
    assert r.hgetall("r3:h") == {b"a": b"1"}
    r.sadd("r3:s", "x", "y")
    assert r.smembers("r3:s") == {b"x", b"y"}
    r.zadd("r3:z", {"m": 1.5})
    assert r.zscore("r3:z", "m") == 1.5


def test_asyncio_client_with_many_connections(cluster):
    async def main() -> list[Any]:
        pool = aioredis.BlockingConnectionPool(port=cluster.router_ports[0], max_connections=200)
        r = aioredis.Redis(connection_pool=pool)
        try:
            await asyncio.gather(*(r.set(f"async:{i}", i) for i in range(500)))
            return await asyncio.gather(*(r.get(f"async:{i}") for i in range(500)))
        finally:
            await r.aclose()

    assert asyncio.run(main()) == [b"%d" % i for i in range(500)]


def test_redis_cli(cluster):
    port = str(cluster.router_ports[0])

    def cli(*args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-p", port, *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()

    assert cli("SET", "cli:key", "from redis-cli") == "OK"
    assert cli("GET", "cli:key") == "from redis-cli"
    assert cli("INCRBY", "cli:n", "5") == "5"
    assert "slotraft_shards:3" in cli("INFO", "cluster")
    piped = subprocess.run(
        ["redis-cli", "-p", port],
        input="SET cli:a 1\nINCR cli:a\nGET cli:a\n",
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout.split()
    assert piped == ["OK", "2", "2"]


def test_scan_walks_every_shard(cluster):
    r = client(cluster)
    wanted = {f"scan:{i}".encode() for i in range(300)}
    r.mset({key: b"1" for key in wanted})
    assert {key for key in r.scan_iter(match="scan:*", count=50)} == wanted
    assert r.dbsize() >= 300
