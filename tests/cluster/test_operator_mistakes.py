"""Operator mistakes cannot damage data: a second process on a node's data directory, a
node started with another --id or another cluster's description, a node of another cluster
pointed at this one. Each is refused with a message that says what is wrong, the running
cluster goes on serving, and the refused directory is byte-identical afterwards."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from node.datadir import LOCK_FILE
from proto.topology import ClusterDescription, NodeAddress
from slotraft.local_cluster import free_port, write_cluster_file
from tests.cluster.conftest import running_cluster

pytestmark = pytest.mark.slow  # a real cluster of processes


def digests(directory: Path) -> dict[str, str]:
    """Every file under `directory` (WAL, snapshots, identity, owner record), by relative
    path, with its contents' hash; not the lock file, which a process that got the lock
    (the directory being free) writes its pid into before it checks anything."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != LOCK_FILE
    }


def run_node(command: list[str], env: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **env),
    )
    return done.returncode, done.stdout + done.stderr


def replaced(command: list[str], flag: str, value: str) -> list[str]:
    index = command.index(flag)
    return [*command[: index + 1], value, *command[index + 2 :]]


@pytest.fixture(scope="module")
def cluster():
    with running_cluster() as started:
        yield started


def writes_and_reads(cluster, prefix: str) -> None:
    client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
    for index in range(20):
        assert client.set(f"{prefix}:{index}", index)
    assert client.mget([f"{prefix}:{index}" for index in range(20)]) == [
        str(index).encode() for index in range(20)
    ]


def test_a_second_process_on_a_running_nodes_directory_exits_at_once(cluster):
    writes_and_reads(cluster, "before-duplicate")
    node = cluster.node(2)
    directory = cluster.data_dir / "node-2"
    # Paused, the running node writes nothing while the directory is compared.
    cluster.pause(node)
    try:
        before = digests(directory)
        started = time.monotonic()
        code, output = run_node(node.command, node.env)
        elapsed = time.monotonic() - started
        after = digests(directory)
    finally:
        cluster.resume(node)
    assert code != 0
    assert f"{directory} is in use by another process (pid {node.pid})" in output
    assert after == before
    assert elapsed < 25  # it exits instead of running (generous: a loaded 2-core machine)
    assert node.running
    writes_and_reads(cluster, "after-duplicate")


def test_a_node_started_with_another_id_or_another_clusters_description_is_refused(
    cluster, tmp_path
):
    node = cluster.node(3)
    directory = cluster.data_dir / "node-3"
    cluster.signal(node, signal.SIGTERM)
    assert node.popen is not None
    node.popen.wait(30)
    try:
        before = digests(directory)
        code, output = run_node(replaced(node.command, "--id", "1"), node.env)
        assert code != 0
        assert "it belongs to node 3, this is --id 1" in output

        description = cluster.description
        assert description is not None
        other_cluster = tmp_path / "other-cluster.toml"
        write_cluster_file(
            other_cluster,
            ClusterDescription(
                nodes=description.nodes, shards=3, replicas=3, cluster_id="another-cluster"
            ),
        )
        code, output = run_node(replaced(node.command, "--cluster", str(other_cluster)), node.env)
        assert code != 0
        assert f"it belongs to cluster {description.cluster_id!r}" in output
        assert "'another-cluster'" in output

        reshaped = tmp_path / "reshaped.toml"
        write_cluster_file(
            reshaped,
            ClusterDescription(
                nodes=description.nodes,
                shards=4,
                replicas=3,
                cluster_id=description.cluster_id,
            ),
        )
        code, output = run_node(replaced(node.command, "--cluster", str(reshaped)), node.env)
        assert code != 0
        assert "it was made for shards = 3, the cluster description says 4" in output
        assert digests(directory) == before
    finally:
        cluster.start_process(node)
    writes_and_reads(cluster, "after-wrong-id")


def test_a_node_of_another_cluster_pointed_at_this_one_is_refused_and_logged(cluster, tmp_path):
    """Same secret, another cluster id: the handshake refuses the link on both sides."""
    description = cluster.description
    assert description is not None
    target = description.node(1)
    stranger_port = free_port()
    stranger_toml = tmp_path / "stranger.toml"
    write_cluster_file(
        stranger_toml,
        ClusterDescription(
            nodes=(
                NodeAddress(1, target.raft_address),  # the real node 1
                NodeAddress(2, f"127.0.0.1:{stranger_port}"),
            ),
            shards=1,
            replicas=2,
            cluster_id="a-stranger",
        ),
    )
    node_1_log = cluster.node(1).log
    logged_before = node_1_log.read_text()
    stranger_log = tmp_path / "stranger.log"
    with open(stranger_log, "wb") as log:
        stranger = subprocess.Popen(
            [
                *cluster.node(2).command[:3],
                "node",
                "--id",
                "2",
                "--cluster",
                str(stranger_toml),
                "--data-dir",
                str(tmp_path / "stranger-data"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, **cluster.node(2).env),
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            refused_here = "another cluster" in stranger_log.read_text()
            refused_there = "another cluster" in node_1_log.read_text()[len(logged_before) :]
            if refused_here and refused_there:
                break
            time.sleep(0.2)
        assert "link to node 1" in stranger_log.read_text()
        assert "refused: cluster id 'a-stranger'" in node_1_log.read_text()[len(logged_before) :]
    finally:
        stranger.terminate()
        stranger.wait(30)
    writes_and_reads(cluster, "after-stranger")
