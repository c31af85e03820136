"""Memory per key of each type: the engine against redis-server, for N keys.

For each type, N keys each holding a small value of that type (a 10-byte string, a hash,
list, set and sorted set of 5 short elements, a stream of 5 entries, an HLL of 5
elements, a geo set of 5 places) are written to a fresh engine, measuring the Python
memory it holds afterwards with tracemalloc, and to a throw-away redis-server (started
here on a free loopback port, stopped after), measuring INFO's used_memory before and
after. Prints bytes per key and the ratio; asserts nothing.

    slotraft bench key-memory --keys 100000
"""

from __future__ import annotations

import argparse
import random
import tracemalloc
from collections.abc import Callable

import redis

from node.engine.engine import Engine
from slotraft.benchmarks.stream_memory import started_redis

Commands = Callable[[int], list[list[bytes]]]

TYPES: dict[str, Commands] = {
    "string": lambda i: [[b"SET", b"k%d" % i, b"v%09d" % i]],
    "hash": lambda i: [[b"HSET", b"k%d" % i] + [p for f in range(5) for p in (b"f%d" % f, b"v")]],
    "list": lambda i: [[b"RPUSH", b"k%d" % i] + [b"e%d" % e for e in range(5)]],
    "set": lambda i: [[b"SADD", b"k%d" % i] + [b"m%d" % e for e in range(5)]],
    "zset": lambda i: [
        [b"ZADD", b"k%d" % i] + [p for e in range(5) for p in (b"%d" % e, b"m%d" % e)]
    ],
    "stream": lambda i: [[b"XADD", b"k%d" % i, b"%d-1" % (e + 1), b"f", b"v"] for e in range(5)],
    "hll": lambda i: [[b"PFADD", b"k%d" % i] + [b"e%d" % (i * 5 + e) for e in range(5)]],
    "geo": lambda i: [
        [b"GEOADD", b"k%d" % i]
        + [p for e in range(5) for p in (b"%d" % (e + 10), b"%d" % (e + 40), b"p%d" % e)]
    ],
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotraft bench key-memory", description=__doc__)
    parser.add_argument("--keys", type=int, default=100_000, help="keys per type (100,000)")
    parser.add_argument("--type", action="append", choices=sorted(TYPES), help="(all)")
    return parser.parse_args(argv)


def engine_bytes(commands: Commands, keys: int) -> int:
    tracemalloc.start()
    engine = Engine()
    rng = random.Random(0)
    before = tracemalloc.get_traced_memory()[0]
    for index in range(keys):
        for command in commands(index):
            engine.execute(command, 1_700_000_000_000, rng)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held


def redis_bytes(client: redis.Redis, commands: Commands, keys: int) -> int:
    client.flushall()
    before = int(client.info("memory")["used_memory"])
    pipe = client.pipeline(transaction=False)
    for index in range(keys):
        for command in commands(index):
            pipe.execute_command(*command)
        if index % 5_000 == 4_999:
            pipe.execute()
    pipe.execute()
    return int(client.info("memory")["used_memory"]) - before


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    print(
        f"bytes per key, {args.keys:,} keys of each type (engine: tracemalloc; redis: used_memory)"
    )
    print(f"  {'type':8} {'engine':>8} {'redis':>8} {'ratio':>6}")
    with started_redis() as client:
        for name in args.type or list(TYPES):
            held = engine_bytes(TYPES[name], args.keys)
            server = redis_bytes(client, TYPES[name], args.keys)
            print(
                f"  {name:8} {held / args.keys:8.0f} {server / args.keys:8.0f} "
                f"{held / max(server, 1):6.2f}",
                flush=True,
            )
    return 0
