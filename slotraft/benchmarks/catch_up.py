"""The catch-up rate of a new replica (`slotraft bench catch-up`).

A local cluster of 3 nodes and one shard is loaded with N keys of V bytes through its
router; then node 3 is killed (a dead machine) and `slotraft ctl replace-node 3 --new-id 4`
puts a new, empty node in its place: its replica joins as a learner, catches up by snapshot
and log, is promoted, and node 3's is removed. The figure is the time from the command's
start to its exit, against the shard's data (keys and value bytes): MB/s and keys/s. The
time includes the ctl's start and polling (0.25 s) and the membership changes themselves.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from slotraft.local_cluster import LocalCluster


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotraft bench catch-up", description=__doc__)
    parser.add_argument("--keys", type=int, default=100_000, help="keys loaded (100000)")
    parser.add_argument("--value-bytes", type=int, default=100, help="bytes per value (100)")
    return parser.parse_args(argv)


def learner_seconds(cluster: LocalCluster) -> float:
    """From the logs (node/elastic.py): node 4 creating its empty replica of shard 0 to
    the shard leader promoting it, 0.0 if not found. Leaves out node 4's own joining of the
    metadata group, which comes first."""
    stamps: dict[str, datetime.datetime] = {}
    for process in cluster.processes:
        if process.role != "node" or not process.log.exists():
            continue
        for line in process.log.read_text(errors="replace").splitlines():
            for event in ("hosting a new replica of shard 0", "group 1: promote learner 4"):
                if event in line:
                    stamps[event] = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    if len(stamps) < 2:
        return 0.0
    started = stamps["hosting a new replica of shard 0"]
    return (stamps["group 1: promote learner 4"] - started).total_seconds()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="slotraft-catch-up-"))
    cluster = LocalCluster(data_dir=data_dir, shards=1, metrics=False)
    cluster.prepare()
    cluster.start()
    try:
        cluster.wait_until_serving(90)
        client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
        value = b"x" * args.value_bytes
        started = time.perf_counter()
        for first in range(0, args.keys, 1000):
            pipe = client.pipeline(transaction=False)
            for n in range(first, min(first + 1000, args.keys)):
                pipe.set(b"catch-up:%d" % n, value)
            pipe.execute()
        load_s = time.perf_counter() - started
        cluster.kill(cluster.node(3))
        joining = cluster.add_joining_node(4)
        cluster.start_process(joining)
        command = [sys.executable, "-m", "slotraft.cli", "ctl", "--data-dir", str(data_dir)]
        started = time.perf_counter()
        result = subprocess.run(
            [
                *command,
                "replace-node",
                "3",
                "--new-id",
                "4",
                "--address",
                f"{cluster.host}:{joining.port}",
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            print(result.stdout, result.stderr, file=sys.stderr)
            return 1
        payload = args.keys * (args.value_bytes + len(b"catch-up:") + 6)
        caught_up = learner_seconds(cluster)
        print(
            f"catch-up of a new replica: {args.keys} keys of {args.value_bytes} B "
            f"({payload / 1e6:.1f} MB of keys and values, loaded in {load_s:.1f} s): "
            f"replace-node done in {seconds:.1f} s -> {payload / 1e6 / seconds:.1f} MB/s, "
            f"{args.keys / seconds:,.0f} keys/s"
        )
        if caught_up:
            print(
                f"  the learner itself (its empty replica created to promoted, from the logs): "
                f"{caught_up:.2f} s -> {payload / 1e6 / caught_up:.1f} MB/s, "
                f"{args.keys / caught_up:,.0f} keys/s"
            )
        return 0
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
