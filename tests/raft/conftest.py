"""Every Raft scenario doubles as a check of node.raft.validate: the traffic of a healthy
cluster (partitions, crashes and restarts included) is never refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.raft.harness import OWN_TRAFFIC_REJECTED


@pytest.fixture(autouse=True)
def own_traffic_is_never_rejected() -> Iterator[None]:
    OWN_TRAFFIC_REJECTED.clear()
    yield
    rejected = [f"{message} ({rejection})" for message, rejection in OWN_TRAFFIC_REJECTED]
    OWN_TRAFFIC_REJECTED.clear()
    assert not rejected, "validation dropped the cluster's own messages:\n" + "\n".join(rejected)
