"""slotraft.cache over a real router (local shards, in a thread): one recompute per miss,
invalidation during a recompute, waiters' timeout, early refresh, the decorators."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis
import redis.asyncio

from slotraft.cache import AsyncLeaseCache, LeaseCache, LeaseTimeout
from tests.router.support import RouterThread


@pytest.fixture(scope="module")
def router():
    with RouterThread(shards=2) as running:
        yield running


def test_two_hundred_coroutines_one_recompute(router):
    async def scenario() -> tuple[list[object], int]:
        client = redis.asyncio.Redis(port=router.port, max_connections=300)
        cache = AsyncLeaseCache(client, ttl_ms=60_000)
        calls = 0

        async def compute() -> dict:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.3)  # long enough for every caller to miss
            return {"answer": 42}

        try:
            results = await asyncio.gather(
                *(cache.get("stampede:async", compute) for _ in range(200))
            )
        finally:
            await client.aclose()
        return results, calls

    results, calls = asyncio.run(scenario())
    assert calls == 1
    assert results == [{"answer": 42}] * 200


def test_threads_and_the_decorator_one_recompute(router):
    cache = LeaseCache(redis.Redis(port=router.port), ttl_ms=60_000)
    calls: list[int] = []

    @cache.cached(key=lambda n: f"square:{n}")
    def square(n: int) -> int:
        calls.append(n)
        time.sleep(0.2)
        return n * n

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(square(7))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [49] * 20 and calls == [7]
    assert square(7) == 49 and calls == [7]  # a hit
    assert cache.recomputes == 1


def test_an_invalidation_during_the_recompute_keeps_the_old_value_out(router):
    client = redis.Redis(port=router.port)
    cache = LeaseCache(client, ttl_ms=60_000)

    def compute() -> str:
        client.delete("user:1")  # the database was updated meanwhile: its invalidation
        return "old"

    assert cache.get("user:1", compute) == "old"  # the caller gets its value ...
    assert client.get("user:1") is None  # ... but it was not stored
    assert cache.get("user:1", lambda: "new") == "new"
    assert cache.get("user:1", lambda: "never") == "new"


def test_waiters_time_out_cleanly(router):
    client = redis.Redis(port=router.port)
    holder = client.execute_command("LEASE.GET", "slow", 5_000)
    assert holder[0] == b"LEASE"
    cache = LeaseCache(client, ttl_ms=1_000, wait_ms=300)
    with pytest.raises(LeaseTimeout):
        cache.get("slow", lambda: "never")
    assert client.execute_command("LEASE.GET", "slow", 5_000, "BLOCK", 50) == [
        b"WAIT",
        None,
        None,
    ]


def test_early_refresh_recomputes_before_expiry_one_caller_at_a_time(router):
    client = redis.Redis(port=router.port)
    # beta so large that every read draws an early refresh.
    cache = LeaseCache(client, ttl_ms=60_000, beta=1e9)
    values = iter(range(100))

    def compute() -> int:
        time.sleep(0.002)  # a non-zero recomputation time, which the draw scales
        return next(values)

    assert cache.get("early", compute) == 0
    assert cache.get("early", compute) == 1  # refreshed early, the new value returned
    assert cache.recomputes == 2
    # While a refresh is out, the others get the value still there.
    token = client.execute_command("LEASE.GET", "early", 5_000, "REFRESH")
    assert token[0] == b"LEASE"
    assert cache.get("early", compute) == 1 and cache.recomputes == 2


def test_stale_value_while_recomputing(router):
    client = redis.Redis(port=router.port)
    cache = LeaseCache(client, ttl_ms=60_000, stale_ms=10_000)
    assert cache.get("menu", lambda: ["soup"]) == ["soup"]
    client.delete("menu")
    held = client.execute_command("LEASE.GET", "menu", 5_000, "STALE")
    assert held[0] == b"LEASE"
    assert cache.get("menu", lambda: ["never"]) == ["soup"]  # served stale, not waiting
