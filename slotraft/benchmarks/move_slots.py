"""`slotraft bench move-slots`: the time to move a slot range holding N MB of keys between
two shards of a local 3-node cluster, and what writers of the range see meanwhile: the
latency of their writes (p50, p99, max) and the longest stall (the fence to the new
shard's first answer). Figures are printed, never asserted."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from proto.slots import key_slot
from slotraft.ctl_slots import SlotMover
from slotraft.local_cluster import LocalCluster


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slotraft bench move-slots")
    parser.add_argument("--megabytes", type=float, default=64, help="data in the range (64)")
    parser.add_argument("--value-bytes", type=int, default=1000, help="bytes per value (1000)")
    parser.add_argument("--slots", default="0-999", help="the range moved (0-999, shard 0's)")
    parser.add_argument("--to", type=int, default=1, help="the target shard (1)")
    parser.add_argument("--writers", type=int, default=4, help="writer threads in the range (4)")
    parser.add_argument("--chunk-bytes", type=int, default=1 << 20, help="bytes per entry (1 MiB)")
    return parser.parse_args(argv)


def tags_in(first: int, last: int) -> list[bytes]:
    tags: dict[int, bytes] = {}
    n = 0
    while len(tags) < last - first + 1:
        tag = b"b%d" % n
        slot = key_slot(tag)
        if first <= slot <= last:
            tags.setdefault(slot, tag)
        n += 1
    return list(tags.values())


def load(port: int, tags: list[bytes], total_bytes: int, value_bytes: int) -> int:
    client = redis.Redis(port=port, socket_timeout=60)
    value = os.urandom(value_bytes)  # not compressible, as the values a cache holds
    keys = max(total_bytes // value_bytes, 1)
    pipe = client.pipeline(transaction=False)
    for i in range(keys):
        pipe.set(b"{%s}:%d" % (tags[i % len(tags)], i), value)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return keys


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    first_text, _, last_text = args.slots.partition("-")
    first, last = int(first_text), int(last_text or first_text)
    workdir = Path(tempfile.mkdtemp(prefix="slotraft-bench-move-"))
    cluster = LocalCluster(data_dir=workdir / "cluster", metrics=False)
    cluster.prepare()
    cluster.start()
    finished = False
    try:
        cluster.wait_until_serving(90)
        port = cluster.router_ports[0]
        tags = tags_in(first, last)
        keys = load(port, tags, int(args.megabytes * (1 << 20)), args.value_bytes)
        print(f"loaded {keys} keys of {args.value_bytes} bytes in slots {first}-{last}")
        latencies: list[tuple[float, float]] = []  # (start, seconds) of each write
        stop = threading.Event()

        def write(index: int) -> None:
            client = redis.Redis(port=port, socket_timeout=60)
            key = b"{%s}:writer%d" % (tags[index % len(tags)], index)
            while not stop.is_set():
                started = time.monotonic()
                client.incr(key)
                latencies.append((started, time.monotonic() - started))

        threads = [threading.Thread(target=write, args=(i,)) for i in range(args.writers)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        assert cluster.description is not None
        addresses = [node.raft_address for node in cluster.description.nodes]
        out = io.StringIO()
        mover = SlotMover(cluster.admin(), addresses, 3.0, out)
        move_started = time.monotonic()
        progress = mover.move(first, last, args.to, args.chunk_bytes)
        move_seconds = time.monotonic() - move_started
        print(out.getvalue(), end="")
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(60)
        during = [seconds for started, seconds in latencies if started >= move_started - 1]
        before = [seconds for started, seconds in latencies if started < move_started]
        megabytes = progress.bytes / (1 << 20)
        print(
            f"moved {progress.keys} keys, {megabytes:.1f} MB (DUMP payloads) in "
            f"{move_seconds:.2f} s: {megabytes / move_seconds:.1f} MB/s"
        )
        if before:
            print(f"writes before the move: p50 {statistics.median(before) * 1000:.1f} ms")
        print(
            f"writes to the range during the move: {len(during)}, "
            f"p50 {statistics.median(during) * 1000:.1f} ms, "
            f"p99 {percentile(during, 0.99) * 1000:.1f} ms, max {max(during) * 1000:.0f} ms"
        )
        # The cutover: writes that started between the fence and the target's activation
        # (they waited for it), and in the second after it.
        cutover = [
            seconds
            for started, seconds in latencies
            if progress.fenced_at <= started <= progress.activated_at + 1.0
        ]
        window = progress.activated_at - progress.fenced_at
        if cutover:
            print(
                f"cutover: fence to activation {window * 1000:.0f} ms; {len(cutover)} writes "
                f"from the fence to 1 s after: p99 {percentile(cutover, 0.99) * 1000:.0f} ms, "
                f"max {max(cutover) * 1000:.0f} ms"
            )
        finished = True
        return 0
    finally:
        cluster.stop()
        if finished:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"the cluster's data and logs are kept in {workdir}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
