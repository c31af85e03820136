"""Stream benchmark: XADD and XREADGROUP through a router of a local 3-node cluster against
a standalone redis-server with `appendfsync always` started in the same run, with
redis-benchmark's custom commands (`redis-benchmark ... XADD s * f v`; XREADGROUP GROUP g c
COUNT 1 STREAMS s > over a stream filled beforehand with an entry for every read). One
stream is one key, so it lives on one shard: the figures are those of one shard's leader;
`SET k v` on one key runs first, the same way, as the reference of a plain write to one
shard in the same conditions. Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import redis

from slotraft.benchmarks.cluster import (
    cluster_cpu,
    print_pair,
    start_reference_redis,
)
from slotraft.local_cluster import LocalCluster

STREAM = "bench:stream"
GROUP = "g"
COMMANDS = {
    "SET": ["SET", "bench:key", "v"],
    "XADD": ["XADD", STREAM, "*", "f", "v"],
    "XREADGROUP": ["XREADGROUP", "GROUP", GROUP, "c", "COUNT", "1", "STREAMS", STREAM, ">"],
}
FILL_BATCH = 1000  # XADDs per pipeline when filling the stream


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotraft bench streams", description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000, help="per redis-benchmark run")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", default="1,16", help="comma-separated -P values")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="runs of each test; each is paired with redis runs just before and after it",
    )
    return parser.parse_args(argv)


def custom_benchmark(
    port: int, command: list[str], requests: int, clients: int, pipeline: int
) -> float:
    """Requests per second of redis-benchmark running `command` (its custom-command mode)."""
    result = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(port),
            "-n",
            str(requests),
            "-c",
            str(clients),
            "-P",
            str(pipeline),
            "--csv",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    rows = [row for row in csv.reader(io.StringIO(result.stdout)) if len(row) > 1]
    return float(rows[1][1])  # the header, then the command's row


def fill(port: int, entries: int) -> None:
    """A fresh stream of `entries` entries and a consumer group reading it from the start."""
    client = redis.Redis(port=port, socket_timeout=60)
    client.delete(STREAM)
    for start in range(0, entries, FILL_BATCH):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(FILL_BATCH, entries - start)):
            pipe.xadd(STREAM, {"f": "v"})
        pipe.execute()
    client.xgroup_create(STREAM, GROUP, id="0")
    client.close()


def measure(
    args: argparse.Namespace,
    cluster: LocalCluster,
    router_port: int,
    reference_port: int,
    name: str,
    pipeline: int,
) -> None:
    """Each round runs redis, slotraft, redis; the ratio divides slotraft's figure by the
    mean of the redis runs around it (this machine's speed drifts within an hour)."""
    command = COMMANDS[name]
    if name == "XREADGROUP":
        # An entry for every read of every run: none answers "nothing new".
        fill(router_port, args.requests * args.rounds)
        fill(reference_port, args.requests * (args.rounds + 1))

    def run(port: int) -> float:
        return custom_benchmark(port, command, args.requests, args.clients, pipeline)

    ours, theirs, ratios = [], [], []
    spent: dict[str, float] = {}
    redis_before = run(reference_port)
    for number in range(args.rounds):
        print(f"  {name} -P {pipeline}: round {number + 1}/{args.rounds} ...", file=sys.stderr)
        started = cluster_cpu(cluster)
        ours.append(run(router_port))
        finished = cluster_cpu(cluster)
        for process in started.keys() & finished.keys():
            spent[process] = spent.get(process, 0.0) + finished[process] - started[process]
        redis_after = run(reference_port)
        reference = (redis_before + redis_after) / 2
        theirs.append(reference)
        ratios.append(ours[-1] / reference if reference else float("nan"))
        redis_before = redis_after
    print_pair(f"{name:<12}", pipeline, ours, theirs, ratios, spent, args.requests * args.rounds)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if shutil.which("redis-benchmark") is None or shutil.which("redis-server") is None:
        print("needs redis-server and redis-benchmark (make setup installs them)")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="slotraft-bench-"))
    (workdir / "redis").mkdir()
    reference, reference_port = start_reference_redis(workdir / "redis")
    cluster = LocalCluster(data_dir=workdir / "cluster")
    cluster.prepare()
    cluster.start()
    try:
        cluster.wait_until_serving(90)
        router_port = cluster.router_ports[0]
        print(f"3 nodes, 3 shards, one stream (one shard), {args.clients} clients")
        print(
            f"{'test':<12}{'-P':>4}{'slotraft':>12}{'redis always':>14}{'ratio':>8}"
            f"   (medians of {args.rounds} rounds; ratios per round)"
        )
        for pipeline in [int(p) for p in args.pipelines.split(",")]:
            for name in COMMANDS:
                measure(args, cluster, router_port, reference_port, name, pipeline)
        return 0
    finally:
        cluster.stop()
        reference.terminate()
        reference.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
