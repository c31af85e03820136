"""Nodes added to a `slotraft up` cluster (slotraft/up_join.py): the ctl's request, `up`
starting and recording the node, and the next `up` starting it again on the same port."""

from __future__ import annotations

import json

import pytest

from slotraft.local_cluster import LocalCluster
from slotraft.up_join import joined_port, request_join, restore_joined, start_requested


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    local = LocalCluster(data_dir=tmp_path, metrics=False)
    local.prepare()
    started: list[object] = []
    monkeypatch.setattr(local, "start_process", started.append)
    local.started = started  # type: ignore[attr-defined]
    yield local
    assert local.lock is not None
    local.lock.release()


def test_a_request_starts_one_joining_node_and_records_it(cluster, tmp_path):
    request_join(tmp_path, 4)
    request_join(tmp_path, 4)  # a resumed ctl asks again: one node
    messages = start_requested(cluster)
    assert len(messages) == 1 and "node 4 started to join" in messages[0]
    process = cluster.node(4)
    assert cluster.started == [process]
    assert "--join" in process.command and f"127.0.0.1:{process.port}" in process.command
    assert json.loads((tmp_path / "joined-nodes.json").read_text()) == [[4, process.port]]
    assert not list((tmp_path / "join-requests").iterdir())
    request_join(tmp_path, 4)
    assert start_requested(cluster) == []  # already running


def test_the_next_up_starts_it_again_on_its_port(cluster, tmp_path):
    request_join(tmp_path, 5)
    start_requested(cluster)
    port = cluster.node(5).port
    again = LocalCluster(data_dir=tmp_path, metrics=False)
    again.lock = cluster.lock  # the same `up`, as after a restart
    again.prepare()
    restore_joined(again)
    assert again.node(5).port == port and "--join" in again.node(5).command


def test_bad_requests(cluster, tmp_path):
    with pytest.raises(ValueError, match="not a positive integer"):
        request_join(tmp_path, 0)
    (tmp_path / "join-requests").mkdir()
    (tmp_path / "join-requests" / "evil").touch()
    assert start_requested(cluster) == ["ignored a join request named 'evil'"]
    assert not any(p.role == "node" and p.id > 3 for p in cluster.processes)


def test_the_ctl_finds_the_port_in_cluster_json(tmp_path):
    assert joined_port(tmp_path, 4) == 0
    (tmp_path / "cluster.json").write_text(
        json.dumps({"processes": [{"role": "node", "id": 4, "port": 7123}]})
    )
    assert joined_port(tmp_path, 4) == 7123
