"""Shared fixtures: a real redis-server for differential tests. The grouping of the tests
that start processes for `make test`'s two pytest-xdist workers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from slotraft.local_cluster import FREE_PORTS_ENV, free_port_range
from tests.support.processes import redis_server

TESTS = Path(__file__).resolve().parent
# `make test` runs two workers (pytest -n 2 --dist loadgroup). The tests that start clusters
# of processes or containers run one after another within their group, each group on one
# worker: containers and chaos runs, which mostly wait on Docker and on their fault
# schedules, beside the local clusters; the in-process tests fill whatever time is left
# on either worker. No two clusters of one group run at once.
PROCESS_GROUPS = {
    "docker": "containers-and-chaos",
    "chaos": "containers-and-chaos",
    "cluster": "local-clusters",
    "redis_units": "local-clusters",
    "fuzz/test_node_port.py": "local-clusters",
    # Not processes, but a module fixture that runs hundreds of seeds: once, on one worker.
    "sim": "simulations",
    "xsim": "simulations",
}


def _own_ports() -> None:
    """Each xdist worker hands out ports from its own part of the range (free_port): two
    workers picking at once could give two servers one port, and a test would talk to the
    other worker's. The parts take the lower half, so a cluster-mode redis-server's bus
    (its port + 10000) falls in the upper half, which nobody hands out."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or not worker[2:].isdigit() or FREE_PORTS_ENV in os.environ:
        return
    ports = free_port_range()
    width = (len(ports) // 2) // max(count, 1)
    first = ports.start + int(worker[2:]) * width
    os.environ[FREE_PORTS_ENV] = f"{first}-{first + width - 1}"


_own_ports()


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the marks into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.resolve().relative_to(TESTS).parts
        group = PROCESS_GROUPS.get(parts[0]) or PROCESS_GROUPS.get("/".join(parts[:2]))
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def redis_port() -> Iterator[int]:
    with redis_server() as port:
        yield port
