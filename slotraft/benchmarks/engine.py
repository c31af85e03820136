"""`slotraft bench engine`: in-process engine throughput and snapshot cost.

Calls Engine.execute in a loop over pre-built argument lists (no network, no Raft, one
core) and times writing and reading a snapshot of a large string key space. Prints
figures; it never asserts them.
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from collections.abc import Callable

from node.engine.engine import Engine
from node.engine.snapshot import load
from proto.resp import Error

Args = list[bytes]
TARGET_OPS = 300_000
TARGET_SNAPSHOT_SECONDS = 5.0
NOW_MS = 1_700_000_000_000


def _get(count: int) -> tuple[list[Args], list[Args]]:
    setup = [[b"SET", b"key:%d" % index, b"value:%d" % index] for index in range(count)]
    return setup, [[b"GET", b"key:%d" % index] for index in range(count)]


def _set(count: int) -> tuple[list[Args], list[Args]]:
    return [], [[b"SET", b"key:%d" % index, b"value:%d" % index] for index in range(count)]


def _hset(count: int) -> tuple[list[Args], list[Args]]:
    return [], [
        [b"HSET", b"hash:%d" % (index % 1000), b"field:%d" % index, b"value"]
        for index in range(count)
    ]


def _lpush(count: int) -> tuple[list[Args], list[Args]]:
    return [], [[b"LPUSH", b"list:%d" % (index % 1000), b"value"] for index in range(count)]


def _zadd(count: int) -> tuple[list[Args], list[Args]]:
    return [], [
        [b"ZADD", b"zset:%d" % (index % 1000), b"%d" % (index * 7 % 1013), b"member:%d" % index]
        for index in range(count)
    ]


WORKLOADS: dict[str, Callable[[int], tuple[list[Args], list[Args]]]] = {
    "GET": _get,
    "SET": _set,
    "HSET": _hset,
    "LPUSH": _lpush,
    "ZADD": _zadd,
}


def time_commands(name: str, count: int, repeat: int) -> float | str:
    """Best ops/s over `repeat` runs on a fresh engine each, or why it could not run."""
    setup, commands = WORKLOADS[name](count)
    probe = Engine().execute(list(commands[0]), NOW_MS, random.Random(0))
    if type(probe) is Error:
        return probe.decode(errors="replace")
    best = float("inf")
    for _ in range(repeat):
        engine = Engine()
        rng = random.Random(0)
        execute = engine.execute
        for args in setup:
            execute(args, NOW_MS, rng)
        started = time.perf_counter()
        for args in commands:
            execute(args, NOW_MS, rng)
        best = min(best, time.perf_counter() - started)
    return count / best


def time_snapshot(keys: int, ttl_every: int) -> tuple[float, float, int]:
    """Seconds to write and to read back a snapshot of `keys` string keys, and its size."""
    engine = Engine()
    rng = random.Random(0)
    batch: Args = [b"MSET"]
    for index in range(keys):
        batch += [b"key:%012d" % index, b"value:%d" % index]
        if len(batch) > 2000 or index == keys - 1:
            engine.execute(batch, NOW_MS, rng)
            batch = [b"MSET"]
    if ttl_every:
        for index in range(0, keys, ttl_every):
            engine.execute([b"PEXPIRE", b"key:%012d" % index, b"3600000"], NOW_MS, rng)
    started = time.perf_counter()
    blob = engine.snapshot()
    written = time.perf_counter() - started
    started = time.perf_counter()
    restored = load(blob, engine.config)
    read = time.perf_counter() - started
    if len(restored.data) != keys:
        raise RuntimeError(f"snapshot read back {len(restored.data)} keys of {keys}")
    return written, read, len(blob)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slotraft bench engine",
        description="In-process engine throughput (Engine.execute in a loop, one core) and "
        "the time to write and read a snapshot. Prints figures, asserts nothing.",
    )
    parser.add_argument(
        "--ops", type=int, default=200_000, help="commands per workload (default 200000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload, best kept")
    parser.add_argument(
        "--commands",
        default=",".join(WORKLOADS),
        help=f"comma-separated workloads among {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--snapshot-keys", type=int, default=1_000_000, help="string keys in the snapshot"
    )
    parser.add_argument(
        "--ttl-every",
        type=int,
        default=10,
        help="give every Nth snapshot key a TTL (0: none; default 10)",
    )
    parser.add_argument("--no-snapshot", action="store_true", help="skip the snapshot part")
    return parser


def main(argv: list[str]) -> int:
    options = build_parser().parse_args(argv)
    names = [name.strip().upper() for name in options.commands.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        print(f"unknown workload(s): {', '.join(unknown)}; choose among {', '.join(WORKLOADS)}")
        return 2
    print(
        f"engine benchmark: Python {platform.python_version()}, in-process Engine.execute, "
        f"{options.ops:,} commands per workload, best of {options.repeat}"
    )
    print(f"{'command':<8} {'ops/s':>12}")
    for name in names:
        result = time_commands(name, options.ops, max(options.repeat, 1))
        if isinstance(result, str):
            print(f"{name:<8} {'-':>12}  not measured: {result}")
            continue
        note = f"  (target >= {TARGET_OPS:,})" if name in ("GET", "SET") else ""
        print(f"{name:<8} {result:>12,.0f}{note}")
    if not options.no_snapshot:
        keys = options.snapshot_keys
        written, read, size = time_snapshot(keys, options.ttl_every)
        with_ttl = f", every {options.ttl_every}th with a TTL" if options.ttl_every else ""
        print(f"snapshot of {keys:,} string keys{with_ttl}: {size / 1e6:,.1f} MB")
        print(f"  write {written:6.2f} s  (target < {TARGET_SNAPSHOT_SECONDS:g} s)")
        print(f"  read  {read:6.2f} s  (target < {TARGET_SNAPSHOT_SECONDS:g} s)")
    return 0
