"""Cluster benchmark: redis-benchmark through a router against a standalone redis-server
with `appendfsync always` started in the same run, and failover time (SIGKILL of a shard
leader -> first acknowledged write to that shard). Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from slotraft.benchmarks.profiling import ClusterProfile, py_spy
from slotraft.local_cluster import LocalCluster, free_port


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotraft bench cluster", description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000, help="per redis-benchmark run")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--shards",
        type=int,
        default=3,
        help="shards of the 3-node cluster (3, the default of `slotraft up`; each node leads "
        "one); fewer shards make bigger batches per Raft entry and per frame",
    )
    parser.add_argument("--pipelines", default="1,16", help="comma-separated -P values")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="runs of each test; each is paired with redis runs just before and after it",
    )
    parser.add_argument("--failovers", type=int, default=5, help="leader kills to time")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy each process (router, nodes) during the first round of every test and "
        "write collapsed stacks and a top table per process to DIR",
    )
    return parser.parse_args(argv)


def redis_benchmark(port: int, tests: str, requests: int, clients: int, pipeline: int) -> dict:
    result = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(port),
            "-t",
            tests,
            "-n",
            str(requests),
            "-c",
            str(clients),
            "-P",
            str(pipeline),
            "-r",
            "100000",
            "--csv",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    rows = list(csv.reader(io.StringIO(result.stdout)))
    return {row[0]: float(row[1]) for row in rows[1:] if len(row) > 1}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used (Linux /proc), None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cluster_cpu(cluster: LocalCluster) -> dict[str, float]:
    """CPU seconds used so far by each running process of the cluster, by name."""
    used = {}
    for process in cluster.processes:
        seconds = cpu_seconds(process.pid) if process.running and process.pid else None
        if seconds is not None:
            used[f"{process.role} {process.id}"] = seconds
    return used


def cpu_per_request(
    before: dict[str, float], after: dict[str, float], requests: int
) -> dict[str, float]:
    """Microseconds of CPU per request of each process measured before and after."""
    return {
        name: (after[name] - before[name]) / requests * 1e6
        for name in sorted(after)
        if name in before
    }


def cpu_line(per_request: dict[str, float]) -> str:
    """The CPU each process spent per request, their sum, and the throughput that bounds
    if every process had a core of its own (the busiest one's), which a 2-core machine
    cannot show but a bigger one would approach."""
    parts = ", ".join(f"{name} {micros:.1f}" for name, micros in per_request.items())
    line = f"  CPU µs per request (user+sys): {parts}"
    if per_request:
        busiest = max(per_request, key=per_request.__getitem__)
        total = sum(per_request.values())
        bound = 1e6 / per_request[busiest] if per_request[busiest] > 0 else float("inf")
        line += f"; total {total:.1f}; one core per process: at most {bound:,.0f}/s ({busiest})"
    return line


def start_reference_redis(directory: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


def time_failover(cluster: LocalCluster, shard_key: bytes) -> float:
    """Seconds from SIGKILL of the key's shard leader to the first acknowledged write."""
    shard = cluster.shard_of(shard_key)
    client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
    client.set(shard_key, b"0")
    leader = cluster.leader_of(shard)
    victim = cluster.node(leader)
    killed = time.monotonic()
    cluster.kill(victim)
    while True:
        try:
            client.incr(shard_key)
            elapsed = time.monotonic() - killed
            break
        except redis.RedisError:
            time.sleep(0.01)
    cluster.start_process(victim)
    cluster.wait_until_serving(60)
    # The next kill must find three working nodes: the restarted one has recovered and
    # caught up, and leaders have moved back to their preferred nodes.
    cluster.wait_until_caught_up(120)
    time.sleep(1)
    return elapsed


def start_profile(
    args: argparse.Namespace, cluster: LocalCluster, label: str
) -> ClusterProfile | None:
    """py-spy attached to every running process of the cluster, when --profile asks."""
    if args.profile is None:
        return None
    profile = ClusterProfile(args.profile)
    pids = {f"{p.role} {p.id}": p.pid for p in cluster.processes if p.running and p.pid}
    profile.start(label, pids)
    time.sleep(0.5)  # py-spy attached before the run starts
    return profile


def measure_pair(
    args: argparse.Namespace,
    cluster: LocalCluster,
    router_port: int,
    reference_port: int,
    test: str,
    pipeline: int,
) -> None:
    """Each round runs redis, slotraft, redis: the ratio divides slotraft by the mean of the
    redis runs around it, so that this machine's speed, which drifts by up to 3x within an
    hour, weighs on both sides alike."""
    ours, theirs, ratios = [], [], []
    spent: dict[str, float] = {}  # CPU seconds of each process during slotraft's runs
    redis_before = redis_benchmark(reference_port, test, args.requests, args.clients, pipeline)
    for number in range(args.rounds):
        print(f"  {test} -P {pipeline}: round {number + 1}/{args.rounds} ...", file=sys.stderr)
        profile = start_profile(args, cluster, f"{test}-P{pipeline}") if number == 0 else None
        started = cluster_cpu(cluster)
        ours.append(redis_benchmark(router_port, test, args.requests, args.clients, pipeline))
        finished = cluster_cpu(cluster)
        if profile is not None:
            profile.stop()
        for name in started.keys() & finished.keys():
            spent[name] = spent.get(name, 0.0) + finished[name] - started[name]
        redis_after = redis_benchmark(reference_port, test, args.requests, args.clients, pipeline)
        reference = (redis_before[test] + redis_after[test]) / 2
        theirs.append(reference)
        ratios.append(ours[-1][test] / reference if reference else float("nan"))
        redis_before = redis_after
    mine = [run[test] for run in ours]
    print_pair(f"{test:<10}", pipeline, mine, theirs, ratios, spent, args.requests * args.rounds)


def print_pair(
    label: str,
    pipeline: int,
    ours: list[float],
    theirs: list[float],
    ratios: list[float],
    spent: dict[str, float],
    requests: int,
) -> None:
    """A paired test's line (medians, and each round's ratio) and its CPU per request."""
    print(
        f"{label}{pipeline:>4}{statistics.median(ours):>12,.0f}"
        f"{statistics.median(theirs):>14,.0f}{statistics.median(ratios):>8.2f}"
        f"   ({', '.join(f'{r:.2f}' for r in ratios)})",
        flush=True,
    )
    zero = dict.fromkeys(spent, 0.0)
    print(cpu_line(cpu_per_request(zero, spent, requests)), flush=True)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if shutil.which("redis-benchmark") is None or shutil.which("redis-server") is None:
        print("needs redis-server and redis-benchmark (make setup installs them)")
        return 1
    if args.profile is not None and py_spy() is None:
        print("--profile needs py-spy (a dev dependency: make setup installs it)")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="slotraft-bench-"))
    (workdir / "redis").mkdir()
    reference, reference_port = start_reference_redis(workdir / "redis")
    cluster = LocalCluster(data_dir=workdir / "cluster", shards=args.shards)
    cluster.prepare()
    cluster.start()
    try:
        cluster.wait_until_serving(90)
        router_port = cluster.router_ports[0]
        if not args.skip_throughput:
            print(f"3 nodes, {args.shards} shard(s), {args.clients} clients")
            print(
                f"{'test':<10}{'-P':>4}{'slotraft':>12}{'redis always':>14}{'ratio':>8}"
                f"   (medians of {args.rounds} rounds; ratios per round)"
            )
            for pipeline in [int(p) for p in args.pipelines.split(",")]:
                for test in ("SET", "GET"):
                    measure_pair(args, cluster, router_port, reference_port, test, pipeline)
        if args.failovers:
            times = []
            for attempt in range(args.failovers):
                print(f"  failover {attempt + 1}/{args.failovers} ...", file=sys.stderr, flush=True)
                times.append(time_failover(cluster, b"bench:failover"))
            print(
                f"failover (SIGKILL of a leader -> first acknowledged write), "
                f"{len(times)} runs: min {min(times):.2f}s, median "
                f"{statistics.median(times):.2f}s, max {max(times):.2f}s"
            )
        return 0
    finally:
        cluster.stop()
        reference.terminate()
        reference.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
