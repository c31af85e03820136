"""`slotraft bench`: benchmarks that print figures (never asserted in tests)."""

from __future__ import annotations

import argparse
import importlib

# name -> module under benchmarks with a `main(argv) -> int`
BENCHMARKS = {
    "engine": "slotraft.benchmarks.engine",
    "wal": "slotraft.benchmarks.wal",
    "raft": "slotraft.benchmarks.raft_sim",
    "router": "slotraft.benchmarks.router_local",
    "cluster": "slotraft.benchmarks.cluster",
    "streams": "slotraft.benchmarks.streams",
    "heavy": "slotraft.benchmarks.heavy",
    "stampede": "slotraft.benchmarks.stampede",
    "rdb": "slotraft.benchmarks.rdb_codec",
    "stream-memory": "slotraft.benchmarks.stream_memory",
    "key-memory": "slotraft.benchmarks.key_memory",
    "move-slots": "slotraft.benchmarks.move_slots",
    "catch-up": "slotraft.benchmarks.catch_up",
    "swapdb": "slotraft.benchmarks.swapdb",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=[*BENCHMARKS, "all"], help="which benchmark to run")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="options for that benchmark")


def run(args: argparse.Namespace) -> int:
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    status = 0
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        status |= module.main(args.rest)
    return status
