"""Nodes added, removed and replaced in a running cluster (issue 23, membership half), with a
writer and a reader running throughout: grow 3 -> 5 nodes, rebalance, remove two nodes
back to 3, replace a dead node by one at a new address. Every acknowledged write is read
back at the end, and every read during the run saw the value its key was written with.

One cluster for the module; the steps depend on each other, so they are one test."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from slotraft.local_cluster import LocalCluster
from tests.cluster.conftest import dump_logs, start_cluster, stop_cluster

# The whole cycle takes about 40 s. It hung in two of three full-suite runs on 2026-12-07:
# a joining node dropped the messages of a node added after its cluster file (node 4 or 5
# leading a group it joins); it now learns such peers from their Hello (node/transport.py).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


class Traffic:
    """A writer (each key written once, with its own value) and a reader of acknowledged
    keys; errors (a stall past the client's timeout) are counted, never a wrong value."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.acked: dict[bytes, bytes] = {}
        self.write_errors = 0
        self.reads = 0
        self.read_errors = 0
        self.wrong: list[tuple[bytes, object, bytes]] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._write, daemon=True),
            threading.Thread(target=self._read, daemon=True),
        ]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, socket_connect_timeout=5)

    def _write(self) -> None:
        client = self._client()
        n = 0
        while not self.stop.is_set():
            key, value = b"elastic:%d" % n, b"v%d" % n
            n += 1
            try:
                client.set(key, value)
            except redis.RedisError:
                self.write_errors += 1
                time.sleep(0.05)
                continue
            self.acked[key] = value
            time.sleep(0.002)

    def _read(self) -> None:
        client = self._client()
        rng = random.Random(7)
        while not self.stop.is_set():
            keys = list(self.acked)
            if not keys:
                time.sleep(0.01)
                continue
            key = rng.choice(keys)
            try:
                value = client.get(key)
            except redis.RedisError:
                self.read_errors += 1
                time.sleep(0.05)
                continue
            self.reads += 1
            if value != self.acked[key]:
                self.wrong.append((key, value, self.acked[key]))


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    running = start_cluster(node_args=["--snapshot-entries", "2000"])
    try:
        yield running
    finally:
        stop_cluster(running)


CTL = [sys.executable, "-m", "slotraft.cli", "ctl", "--data-dir"]


def ctl(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*CTL, str(cluster.data_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(f"$ slotraft ctl {' '.join(args)} -> {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def join(cluster: LocalCluster, node_id: int) -> str:
    process = cluster.add_joining_node(node_id)
    cluster.start_process(process)
    return f"{cluster.host}:{process.port}"


def map_of(cluster: LocalCluster) -> dict:
    result = ctl(cluster, "status", "--json")
    assert result.returncode == 0
    answers = json.loads(result.stdout)
    return max((a["slotMap"] for a in answers), key=lambda m: int(m["epoch"]))


def assert_retired(cluster, node_id: int) -> None:
    """The removed node's process exits by itself (status 0), and a new start on its data
    directory stops at once."""
    process = cluster.node(node_id)
    assert process.popen is not None
    assert process.popen.wait(60) == 0
    cluster.start_process(process)
    assert process.popen.wait(60) == 0


def test_grow_rebalance_shrink_and_replace_without_losing_a_write(cluster):
    try:
        with Traffic(cluster.router_ports[0]) as traffic:
            time.sleep(1)
            # Grow 3 -> 5.
            for node_id in (4, 5):
                address = join(cluster, node_id)
                assert (
                    ctl(cluster, "add-node", "--id", str(node_id), "--address", address).returncode
                    == 0
                )
            assert ctl(cluster, "rebalance").returncode == 0
            slot_map = map_of(cluster)
            counts = {int(n["id"]): 0 for n in slot_map["nodes"]}
            for shard in slot_map["shards"]:
                for replica in shard["replicas"]:
                    counts[int(replica)] += 1
            assert sorted(counts) == [1, 2, 3, 4, 5]
            assert max(counts.values()) - min(counts.values()) <= 1, counts

            # Every node restarts: the map since the description's (its epoch, the nodes
            # added, the moves) is what the metadata group holds afterwards.
            epoch = int(slot_map["epoch"])
            for node_id in range(1, 6):
                cluster.kill(cluster.node(node_id))
            for node_id in range(1, 6):
                cluster.start_process(cluster.node(node_id))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(AssertionError, KeyError, ValueError):
                    # A restarted node answers with its snapshot's map until the metadata
                    # group commits again and it replays the rest of the log.
                    restarted = map_of(cluster)
                    if len(restarted["nodes"]) == 5 and int(restarted["epoch"]) >= epoch:
                        break
                time.sleep(1)
            assert int(restarted["epoch"]) >= epoch and len(restarted["nodes"]) == 5

            # Bad input changes nothing.
            refused = ctl(cluster, "remove-node", "9")
            assert refused.returncode == 1 and "unknown node 9" in refused.stderr
            duplicate = ctl(cluster, "add-node", "--id", "8", "--address", address)
            assert duplicate.returncode == 1 and "already node 5's" in duplicate.stderr

            # Shrink 5 -> 3: node 5, then node 1 (a metadata voter, maybe its leader). The
            # first ctl is killed once the operation is planned: another operation is then
            # refused, and the same command resumes it.
            interrupted = subprocess.Popen(
                [*CTL, str(cluster.data_dir), "remove-node", "5"],
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            assert interrupted.stdout is not None
            first = interrupted.stdout.readline()
            interrupted.kill()
            interrupted.wait()
            assert "remove-node 5: planned" in first, first
            conflicting = ctl(cluster, "rebalance")
            assert conflicting.returncode == 1
            assert "another operation is in flight (remove-node 5)" in conflicting.stderr
            resumed = ctl(cluster, "remove-node", "5")
            assert resumed.returncode == 0 and "resuming" in resumed.stdout
            # A removed node stops by itself, for good (node/retire.py).
            assert "node 5 (" in resumed.stdout and "stopped for good" in resumed.stdout
            assert_retired(cluster, 5)
            removed = ctl(cluster, "remove-node", "1")
            assert removed.returncode == 0 and "stopped for good" in removed.stdout
            assert_retired(cluster, 1)
            too_few = ctl(cluster, "remove-node", "2")
            assert too_few.returncode == 1 and "leave 2 nodes" in too_few.stderr

            # Node 2's machine dies; node 6 at a new address takes its place.
            cluster.signal(cluster.node(2), signal.SIGKILL)
            address = join(cluster, 6)
            replaced = ctl(cluster, "replace-node", "2", "--new-id", "6", "--address", address)
            assert replaced.returncode == 0
            slot_map = map_of(cluster)
            assert sorted(int(n["id"]) for n in slot_map["nodes"]) == [3, 4, 6]
            for shard in slot_map["shards"]:
                assert sorted(int(r) for r in shard["replicas"]) == [3, 4, 6]
            time.sleep(1)
        assert not traffic.wrong, traffic.wrong[:5]
        assert len(traffic.acked) > 100 and traffic.reads > 100
        print(
            f"writes acknowledged {len(traffic.acked)}, failed {traffic.write_errors}; "
            f"reads {traffic.reads}, failed {traffic.read_errors}"
        )
        client = redis.Redis(port=cluster.router_ports[0], socket_timeout=10)
        keys = list(traffic.acked)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            values = [client.get(key) for key in chunk]
            lost = [k for k, v in zip(chunk, values, strict=True) if v != traffic.acked[k]]
            assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}"
    except BaseException:
        print(dump_logs(cluster))
        raise
