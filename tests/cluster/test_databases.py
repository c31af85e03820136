"""Databases 0-15 in a real cluster (three nodes, three shards, two routers): SELECT, MOVE
and FLUSHDB through either router; SWAPDB is atomic for every client of every router
(readers of keys on every shard never see the old contents after the new); the map and
the data survive SIGKILL of every process."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.cluster.conftest import kill_and_restart_every_process


def _client(port: int, db: int = 0) -> redis.Redis:
    return redis.Redis(port=port, db=db, socket_timeout=20)


def _key_per_shard(cluster) -> list[str]:
    """One key name on each shard: a probe key (one per shard) as its hash tag."""
    return [f"acct:{{{probe.decode()}}}" for probe in cluster.probe_keys()]


def test_databases_are_separate_on_every_router(cluster):
    first, second = cluster.router_ports[:2]
    for db in (0, 5, 15):
        _client(first, db).set("shared-name", f"value {db}")
    _client(first, 5).set("ttl-key", "v", ex=1000)
    for db in (0, 5, 15):
        assert _client(second, db).get("shared-name") == f"value {db}".encode()
    assert _client(second, 5).ttl("ttl-key") > 900
    assert _client(first, 5).move("ttl-key", 6) is True
    assert _client(second, 6).ttl("ttl-key") > 900
    assert _client(second, 5).exists("ttl-key") == 0
    keyspace = _client(second).info("keyspace")
    assert keyspace["db5"]["keys"] == 1 and keyspace["db6"]["keys"] == 1
    _client(first, 15).flushdb()
    assert _client(second, 15).dbsize() == 0
    assert _client(second, 0).get("shared-name") == b"value 0"


def _readers(
    ports: list[int], db: int, keys: list[str], stop: threading.Event
) -> tuple[list[list], list[threading.Thread]]:
    """Threads reading every key of `keys` in database `db` in turn, until `stop`, and
    their reads as (start, end, value)."""
    histories: list[list] = [[] for _ in ports]

    def read(port: int, history: list) -> None:
        client = _client(port, db)
        while not stop.is_set():
            for key in keys:
                start = time.monotonic()
                value = client.get(key)
                history.append((start, time.monotonic(), value))

    threads = [
        threading.Thread(target=read, args=(port, history), daemon=True)
        for port, history in zip(ports, histories, strict=True)
    ]
    for thread in threads:
        thread.start()
    return histories, threads


def _check_one_flip(reads: list[tuple[float, float, bytes]], old: bytes, new: bytes) -> None:
    """A register that changes once from `old` to `new`: no read that began after a read
    of `new` ended may see `old` (linearizability of one flip, over every reader)."""
    assert {value for _, _, value in reads} <= {old, new}
    first_new_end = min((end for _, end, value in reads if value == new), default=None)
    assert first_new_end is not None, "no reader saw the swap"
    late_old = [start for start, _, value in reads if start > first_new_end and value == old]
    assert not late_old, f"{len(late_old)} reads saw the old contents after the new"


def test_swapdb_is_atomic_for_readers_of_every_shard_on_every_router(cluster):
    ports = cluster.router_ports[:2]
    keys = _key_per_shard(cluster)
    assert len(keys) == 3
    writer = _client(ports[0])
    for key in keys:
        writer.execute_command("SELECT", 1)
        writer.set(key, "one")
        writer.execute_command("SELECT", 2)
        writer.set(key, "two")
    writer.execute_command("SELECT", 0)
    for swapper_port, old, new in ((ports[0], b"one", b"two"), (ports[1], b"two", b"one")):
        stop = threading.Event()
        histories, threads = _readers(ports * 2, 1, keys, stop)
        time.sleep(0.5)
        assert _client(swapper_port).swapdb(1, 2) is True
        # Answered: every router, every shard, serves the new contents from now on.
        for port in ports:
            assert [_client(port, 1).get(key) for key in keys] == [new] * 3
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(30)
        _check_one_flip([read for history in histories for read in history], old, new)


def test_a_client_blocked_in_a_database_is_served_by_a_swap(cluster):
    port = cluster.router_ports[0]
    _client(port, 8).rpush("jobs", "from eight")
    _client(port, 9).delete("jobs")
    results: list = []
    waiter = threading.Thread(
        target=lambda: results.append(_client(port, 9).blpop("jobs", timeout=15)), daemon=True
    )
    waiter.start()
    time.sleep(0.5)
    assert _client(cluster.router_ports[1]).swapdb(8, 9) is True
    waiter.join(20)
    assert results == [(b"jobs", b"from eight")]


def test_databases_and_the_swapped_map_survive_sigkill_of_every_process(cluster):
    port = cluster.router_ports[0]
    _client(port, 3).set("durable", "three")
    _client(port, 4).set("durable", "four")
    assert _client(port).swapdb(3, 4) is True
    kill_and_restart_every_process(cluster)
    deadline = time.monotonic() + 30
    while True:
        try:
            assert _client(cluster.router_ports[1], 3).get("durable") == b"four"
            assert _client(cluster.router_ports[1], 4).get("durable") == b"three"
            break
        except (AssertionError, redis.exceptions.RedisError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("db", [0, 7])
def test_multi_exec_with_select_through_the_cluster(cluster, db):
    client = _client(cluster.router_ports[0], db)
    pipe = client.pipeline(transaction=True)
    pipe.set("{tx}a", "here")
    pipe.execute_command("SELECT", 11)
    pipe.set("{tx}a", "in eleven")
    pipe.get("{tx}a")
    assert pipe.execute() == [True, True, True, b"in eleven"]
    assert _client(cluster.router_ports[1], db).get("{tx}a") == b"here"
