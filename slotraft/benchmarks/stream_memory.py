"""Memory of a stream of many small entries: the engine against redis-server.

Adds N entries `XADD s * f v<i>` (short values) to an engine, measuring the Python
memory it holds afterwards with tracemalloc, and to a throw-away redis-server (started
here on a free loopback port, stopped after), measuring INFO's used_memory before and
after. Prints both and their ratio; asserts nothing.

    slotraft bench stream-memory --entries 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Iterator

import redis

from node.engine.engine import Engine


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotraft bench stream-memory", description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries (1,000,000)")
    return parser.parse_args(argv)


def engine_bytes(entries: int) -> tuple[int, int]:
    """(bytes tracemalloc sees held by the engine, the engine's own used_memory)."""
    tracemalloc.start()
    engine = Engine()
    rng = random.Random(0)
    before = tracemalloc.get_traced_memory()[0]
    now = 1_700_000_000_000
    for index in range(entries):
        # A new millisecond every 10 entries, as a busy producer's IDs look.
        engine.execute([b"XADD", b"s", b"*", b"f", b"v%d" % (index % 1000)], now + index // 10, rng)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held, engine.db.used_memory


@contextlib.contextmanager
def started_redis() -> Iterator[redis.Redis]:
    """A client of a throw-away redis-server (no persistence) on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="slotraft-bench-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield client
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def redis_bytes(entries: int) -> int:
    with started_redis() as client:
        before = int(client.info("memory")["used_memory"])
        pipe = client.pipeline(transaction=False)
        for index in range(entries):
            pipe.execute_command("XADD", "s", "*", "f", b"v%d" % (index % 1000))
            if index % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()
        return int(client.info("memory")["used_memory"]) - before


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    held, accounted = engine_bytes(args.entries)
    server = redis_bytes(args.entries)
    print(f"stream of {args.entries:,} entries `XADD s * f v<i>`:")
    print(f"  engine (tracemalloc):      {held / 1e6:8.1f} MB  ({held / args.entries:.1f} B/entry)")
    print(f"  engine used_memory:        {accounted / 1e6:8.1f} MB")
    print(
        f"  redis-server used_memory:  {server / 1e6:8.1f} MB  "
        f"({server / args.entries:.1f} B/entry)"
    )
    print(f"  ratio engine / redis:      {held / server:8.2f}")
    return 0
