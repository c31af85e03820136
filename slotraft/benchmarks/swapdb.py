"""`slotraft bench swapdb`: how long a cluster SWAPDB takes, and how long a reader of the
swapped database waits meanwhile.

A local 3-node cluster with two routers: SWAPDB 1 2 repeated through the first router,
while a reader GETs a key of database 1 through the second router all along. Prints the
swaps' and the reads' p50, p99 and max (docs/DESIGN.md, "Databases"); asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from slotraft.local_cluster import LocalCluster


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotraft bench swapdb", description=__doc__)
    parser.add_argument("--swaps", type=int, default=30, help="SWAPDBs to time")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between swaps")
    return parser.parse_args(argv)


def _quantiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return ordered[int(fraction * (len(ordered) - 1))] * 1000

    return f"p50 {at(0.5):.2f} ms, p99 {at(0.99):.2f} ms, max {ordered[-1] * 1000:.1f} ms"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="slotraft-bench-swapdb-"))
    cluster = LocalCluster(data_dir=workdir, routers=2)
    cluster.prepare()
    cluster.start()
    try:
        print("  starting a 3-node cluster ...", file=sys.stderr, flush=True)
        cluster.wait_until_serving(90)
        swapper_port, reader_port = cluster.router_ports
        redis.Redis(port=reader_port, db=1).set("swapped", "value")
        stop = threading.Event()
        reads: list[float] = []

        def read() -> None:
            client = redis.Redis(port=reader_port, db=1, socket_timeout=60)
            while not stop.is_set():
                started = time.perf_counter()
                client.get("swapped")
                reads.append(time.perf_counter() - started)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        swapper = redis.Redis(port=swapper_port, socket_timeout=60)
        swaps: list[float] = []
        for number in range(args.swaps):
            print(f"\r  SWAPDB {number + 1}/{args.swaps}", end="", file=sys.stderr, flush=True)
            started = time.perf_counter()
            swapper.swapdb(1, 2)
            swaps.append(time.perf_counter() - started)
            time.sleep(args.pause)
        print(file=sys.stderr)
        stop.set()
        reader.join(60)
        print(f"SWAPDB 1 2, {len(swaps)} times: {_quantiles(swaps)}")
        print(f"GET in database 1 meanwhile, {len(reads)} reads: {_quantiles(reads)}")
        return 0
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
