"""Leases through a real cluster (issue 27): the 200-coroutine stampede recomputes once,
also when the shard's leader is SIGKILLed during the recompute (the lease then expires and
passes on: exactly one more recompute); a waiter blocked across the leader change gets
its answer once; a stale set after an invalidation is refused; a waiter times out with
WAIT. And a router with --single-flight: hot reads merged, read-your-writes kept."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis
import redis.asyncio

from slotraft.cache import AsyncLeaseCache
from slotraft.local_cluster import LocalCluster
from tests.cluster.conftest import dump_logs, running_cluster

pytestmark = pytest.mark.slow
CALLERS = 200


@pytest.fixture
def fresh_cluster():
    with running_cluster(router_args=["--retry-seconds", "10"]) as cluster:
        yield cluster


def kill_leader(cluster: LocalCluster, key: bytes) -> int:
    leader = cluster.leader_of(cluster.shard_of(key))
    assert leader, "the shard has a leader before the kill"
    cluster.kill(cluster.node(leader))
    return leader


async def stampede(port: int, key: str, compute, lease_ms: int) -> list[object]:
    """CALLERS coroutines, each on its own connection, miss `key` at once."""
    client = redis.asyncio.Redis(port=port, max_connections=CALLERS + 10)
    cache = AsyncLeaseCache(client, ttl_ms=60_000, lease_ms=lease_ms, wait_ms=60_000)
    try:
        return await asyncio.gather(*(cache.get(key, compute) for _ in range(CALLERS)))
    finally:
        await client.aclose()


def test_stampede_recomputes_once_and_a_stale_set_is_refused(cluster):
    calls = 0

    async def compute() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.5)  # every caller misses meanwhile
        return "value"

    port = cluster.router_ports[0]
    results = asyncio.run(stampede(port, "lease:stampede", compute, lease_ms=10_000))
    assert calls == 1
    assert results == ["value"] * CALLERS

    client = redis.Redis(port=port)
    state, _, token = client.execute_command("LEASE.GET", "lease:user", 10_000)
    assert state == b"LEASE"
    client.delete("lease:user")  # the invalidation after a database update
    with pytest.raises(redis.ResponseError, match="lease is not valid"):
        client.execute_command("LEASE.SET", "lease:user", token, "stale")
    assert client.get("lease:user") is None
    # Through the second router as well: one table per shard, not per router.
    other = redis.Redis(port=cluster.router_ports[1])
    state, _, token = other.execute_command("LEASE.GET", "lease:user", 10_000)
    assert client.execute_command("LEASE.GET", "lease:user", 10_000) == [b"WAIT", None, None]
    # A waiter whose BLOCK passes gets WAIT, and its connection goes on.
    assert client.execute_command("LEASE.GET", "lease:user", 10_000, "BLOCK", 200) == [
        b"WAIT",
        None,
        None,
    ]
    assert client.ping() is True
    assert other.execute_command("LEASE.SET", "lease:user", token, "fresh") == b"OK"
    assert client.execute_command("LEASE.GET", "lease:user", 10_000)[:2] == [b"HIT", b"fresh"]


def test_leader_killed_during_the_recompute_the_lease_passes_on_once(fresh_cluster):
    cluster = fresh_cluster
    key = "lease:failover"
    calls = 0
    second_started = asyncio.Event()

    async def compute() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            # The holder's shard loses its leader; the holder outlives its 2 s lease,
            # which then passes to one of the waiters.
            await asyncio.to_thread(kill_leader, cluster, key.encode())
            await asyncio.wait_for(second_started.wait(), 60)
            return "value"
        second_started.set()
        return "value"

    port = cluster.router_ports[0]
    try:
        results = asyncio.run(stampede(port, key, compute, lease_ms=2_000))
    except BaseException:
        print(dump_logs(cluster))
        raise
    assert calls == 2  # the first holder's and exactly one more
    assert results == ["value"] * CALLERS
    assert redis.Redis(port=port).get(key) is not None  # the second holder's value


def test_a_waiter_blocked_across_a_leader_change_gets_its_answer_once(fresh_cluster):
    cluster = fresh_cluster
    port = cluster.router_ports[0]
    key = b"lease:blocked"
    holder = redis.Redis(port=port)
    state, _, token = holder.execute_command("LEASE.GET", key, 60_000)
    assert state == b"LEASE"
    waiter = redis.Redis(port=port)
    answers: list[object] = []
    thread = threading.Thread(
        target=lambda: answers.append(
            waiter.execute_command("LEASE.GET", key, 60_000, "BLOCK", 45_000)
        )
    )
    thread.start()
    try:
        # Parked on the leader (no answer yet), then the leader goes.
        thread.join(1.5)
        assert not answers
        kill_leader(cluster, key)
        # The lease is replicated: the holder's set is still valid on the new leader.
        assert holder.execute_command("LEASE.SET", key, token, "filled") == b"OK"
        thread.join(60)
        assert answers == [[b"HIT", b"filled", None]]
        # Exactly one reply came back on the waiter's connection: the next is PING's.
        assert waiter.ping() is True
    finally:
        thread.join(60)


def test_single_flight_router_merges_hot_reads_and_keeps_read_your_writes():
    """Through a router started with --single-flight: many connections reading one key
    make fewer backend reads than GETs, and a connection that writes the key reads its
    own write every time, reads of the others in flight meanwhile."""
    with running_cluster(router_args=["--single-flight"]) as cluster:
        port = cluster.router_ports[0]
        key = "flight:hot"
        redis.Redis(port=port).set(key, "0")

        def backend_reads() -> int:
            stats = redis.Redis(port=port).info("stats")
            return int(stats["keyspace_hits"]) + int(stats["keyspace_misses"])

        async def scenario() -> tuple[int, list[tuple[int, bytes | str | None]]]:
            client = redis.asyncio.Redis(port=port, max_connections=80)
            writer = redis.asyncio.Redis(port=port, single_connection_client=True)
            gets = 0
            stop = asyncio.Event()
            seen: list[tuple[int, bytes | str | None]] = []

            async def reader() -> None:
                nonlocal gets
                while not stop.is_set():
                    await client.get(key)
                    gets += 1

            async def write_then_read() -> None:
                for number in range(1, 101):
                    await writer.set(key, str(number))
                    seen.append((number, await writer.get(key)))
                stop.set()

            try:
                await asyncio.gather(write_then_read(), *(reader() for _ in range(60)))
            finally:
                await client.aclose()
                await writer.aclose()
            return gets, seen

        before = backend_reads()
        gets, seen = asyncio.run(scenario())
        reads = backend_reads() - before
        assert seen == [(number, str(number).encode()) for number in range(1, 101)]
        # The readers' GETs and the writer's 100: merged into fewer backend reads.
        assert reads < gets + 100, (reads, gets)
