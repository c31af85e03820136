"""Stampede benchmark (issue 27): CALLERS coroutines miss the same key at once, through a
router of a local 3-node cluster, with three ways to fill it:

- plain cache-aside: GET, on a miss compute and SET (every caller that missed computes);
- a SET NX PX lock: the caller that takes the lock computes, the others poll GET;
- leases: slotraft.cache (LEASE.GET ... BLOCK, LEASE.SET).

It prints the recomputations per stampede and the callers' latency (p50, p99), then the
backend reads per second of a hot key read by many connections, through a router without
and one with --single-flight (backend reads: the shards' keyspace hits and misses, from
INFO). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis
import redis.asyncio

from slotraft.cache import AsyncLeaseCache
from slotraft.local_cluster import LocalCluster

Compute = Callable[[], Awaitable[bytes]]
Strategy = Callable[[redis.asyncio.Redis, str, Compute], Awaitable[bytes]]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotraft bench stampede", description=__doc__)
    parser.add_argument("--callers", type=int, default=200, help="coroutines per stampede")
    parser.add_argument("--rounds", type=int, default=5, help="stampedes per strategy")
    parser.add_argument("--compute-ms", type=int, default=100, help="one recomputation")
    parser.add_argument("--readers", type=int, default=100, help="hot-key connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="hot-key run length")
    return parser.parse_args(argv)


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


async def plain(client: redis.asyncio.Redis, key: str, compute: Compute) -> bytes:
    value = _as_bytes(await client.get(key))
    if value is None:
        value = await compute()
        await client.set(key, value, px=60_000)
    return value


async def set_nx_lock(client: redis.asyncio.Redis, key: str, compute: Compute) -> bytes:
    """The usual application lock: who takes it computes; the others poll with jitter."""
    while True:
        value = _as_bytes(await client.get(key))
        if value is not None:
            return value
        if await client.set(f"{key}:lock", b"1", nx=True, px=10_000):
            value = await compute()
            await client.set(key, value, px=60_000)
            await client.delete(f"{key}:lock")
            return value
        await asyncio.sleep(random.uniform(0.005, 0.02))


def leases(cache: AsyncLeaseCache) -> Strategy:
    async def get(client: redis.asyncio.Redis, key: str, compute: Compute) -> bytes:
        return bytes(await cache.get(key, compute))

    return get


async def one_stampede(
    client: redis.asyncio.Redis, strategy: Strategy, key: str, callers: int, compute_ms: int
) -> tuple[int, list[float]]:
    computed = 0

    async def compute() -> bytes:
        nonlocal computed
        computed += 1
        await asyncio.sleep(compute_ms / 1000)
        return b"value"

    async def caller() -> float:
        started = time.perf_counter()
        await strategy(client, key, compute)
        return time.perf_counter() - started

    latencies = await asyncio.gather(*(caller() for _ in range(callers)))
    return computed, list(latencies)


async def stampedes(port: int, args: argparse.Namespace) -> None:
    client = redis.asyncio.Redis(port=port, max_connections=args.callers + 20)
    cache = AsyncLeaseCache(
        client, ttl_ms=60_000, lease_ms=10_000, wait_ms=60_000, encode=bytes, decode=bytes
    )
    strategies: dict[str, Strategy] = {
        "plain cache-aside": plain,
        "SET NX lock": set_nx_lock,
        "leases": leases(cache),
    }
    print(
        f"{args.callers} callers miss one key at once, {args.compute_ms} ms recomputation, "
        f"{args.rounds} rounds each"
    )
    print(f"{'strategy':<20}{'recomputes/round':>18}{'p50 ms':>10}{'p99 ms':>10}")
    try:
        for name, strategy in strategies.items():
            counts: list[int] = []
            latencies: list[float] = []
            for number in range(args.rounds):
                print(f"  {name}: round {number + 1}/{args.rounds} ...", file=sys.stderr)
                key = f"bench:stampede:{name}:{number}:{time.time_ns()}"
                computed, taken = await one_stampede(
                    client, strategy, key, args.callers, args.compute_ms
                )
                counts.append(computed)
                latencies.extend(taken)
            cuts = statistics.quantiles(latencies, n=100)
            print(
                f"{name:<20}{statistics.mean(counts):>18.1f}{cuts[49] * 1000:>10.0f}"
                f"{cuts[98] * 1000:>10.0f}   (per round: {', '.join(map(str, counts))})",
                flush=True,
            )
    finally:
        await client.aclose()


def backend_reads(port: int) -> int:
    stats = redis.Redis(port=port).info("stats")
    return int(stats["keyspace_hits"]) + int(stats["keyspace_misses"])


async def hot_key(port: int, readers: int, seconds: float) -> tuple[int, float]:
    """GETs of one key by `readers` connections for `seconds`: how many, in how long."""
    client = redis.asyncio.Redis(port=port, max_connections=readers + 5)
    await client.set("bench:hot", b"x" * 100)
    done = 0
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await client.get("bench:hot")
            done += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(reader() for _ in range(readers)))
    finally:
        await client.aclose()
    return done, time.perf_counter() - started


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="slotraft-bench-stampede-"))
    cluster = LocalCluster(data_dir=workdir, routers=2)
    cluster.prepare()
    cluster.router(2).command.append("--single-flight")
    cluster.start()
    try:
        print("  starting a 3-node cluster ...", file=sys.stderr, flush=True)
        cluster.wait_until_serving(90)
        plain_port, flight_port = cluster.router_ports
        asyncio.run(stampedes(plain_port, args))
        print(
            f"hot key: {args.readers} connections GET one key for {args.seconds:.0f} s "
            "(backend reads: the shards' keyspace hits + misses)"
        )
        print(f"{'router':<22}{'client GETs/s':>15}{'backend reads/s':>17}{'merged':>9}")
        for label, port in (("plain", plain_port), ("--single-flight", flight_port)):
            print(f"  hot key through the {label} router ...", file=sys.stderr, flush=True)
            before = backend_reads(port)
            gets, elapsed = asyncio.run(hot_key(port, args.readers, args.seconds))
            reads = backend_reads(port) - before
            merged = 1 - reads / gets if gets else 0.0
            print(
                f"{label:<22}{gets / elapsed:>15,.0f}{reads / elapsed:>17,.0f}{merged:>9.0%}",
                flush=True,
            )
        return 0
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
