"""A real cluster of processes (3 nodes, 3 shards, a router) on free loopback ports."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from slotraft.benchmarks.heavy import settle
from slotraft.local_cluster import LocalCluster


def start_cluster(**options: object) -> LocalCluster:
    data_dir = Path(tempfile.mkdtemp(prefix="slotraft-test-"))
    cluster = LocalCluster(data_dir=data_dir, **options)  # type: ignore[arg-type]
    cluster.prepare()
    cluster.start()
    try:
        cluster.wait_until_serving(90)
    except Exception:
        cluster.stop()
        raise
    return cluster


def stop_cluster(cluster: LocalCluster) -> None:
    """Stop every process and remove the data directory (logs included)."""
    cluster.stop()
    shutil.rmtree(cluster.data_dir, ignore_errors=True)


@contextlib.contextmanager
def running_cluster(**options: object) -> Iterator[LocalCluster]:
    """A cluster of its own for one test: its last log lines are printed if the body
    fails, and it is stopped and removed in any case."""
    cluster = start_cluster(**options)
    try:
        yield cluster
    except BaseException:
        print(dump_logs(cluster))
        raise
    finally:
        stop_cluster(cluster)


# A node's warning that its event loop stalled, with the CPU it used meanwhile (node/host.py).
STALL = re.compile(rb"event loop stalled for (\d+) ms \(the process used (\d+) ms of CPU")


def kill_and_restart_every_process(cluster: LocalCluster, timeout: float = 90) -> None:
    """SIGKILL every node and router, start them again, and wait until they serve (their
    logs printed if they do not)."""
    for process in cluster.processes:
        cluster.kill(process)
    for process in cluster.processes:
        cluster.start_process(process)
    try:
        cluster.wait_until_serving(timeout)
    except Exception:
        print(dump_logs(cluster))
        raise


def dump_logs(cluster: LocalCluster) -> str:
    parts = []
    for process in cluster.processes:
        text = process.log.read_text(errors="replace") if process.log.exists() else ""
        parts.append(f"--- {process.role} {process.id} ---\n" + "\n".join(text.splitlines()[-40:]))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def cluster(request) -> Iterator[LocalCluster]:
    """Shared by the tests of one module; tests must not leave nodes down."""
    running = start_cluster(routers=2)
    yield running
    failed = request.session.testsfailed
    running.stop()
    if failed:
        print(dump_logs(running))
    stop_cluster(running)


def wait_for_preferred_leaders(cluster: LocalCluster, timeout: float = 60.0) -> None:
    """Until every shard is led by its preferred replica (replicas[0]): from then on the
    leader balancer moves nothing, so a term change can only come from an election."""
    if not settle(cluster, timeout):
        raise TimeoutError("the shards did not settle on their preferred leaders")
