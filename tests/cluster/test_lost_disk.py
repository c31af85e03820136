"""A node whose data directory is lost (wiped volume, replaced disk) and that starts again
under its id: it rejoins without voting until it has caught up (node/identity.py), so it
never helps elect a leader that lacks acknowledged writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from node.storage.records import EntriesRecord
from node.storage.segments import list_segments, scan_segment
from slotraft.ctl import render_status
from slotraft.local_cluster import LocalCluster
from tests.cluster.conftest import dump_logs, running_cluster

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_cluster():
    with running_cluster(router_args=["--retry-seconds", "3"]) as cluster:
        yield cluster


def identity_state(cluster: LocalCluster, node_id: int) -> str:
    path = cluster.data_dir / f"node-{node_id}" / "identity.json"
    try:
        return json.loads(path.read_text())["state"]
    except (FileNotFoundError, ValueError):
        return ""


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not reached in {timeout}s: {what}"
        time.sleep(0.2)


def wipe_and_restart(cluster: LocalCluster, node_id: int) -> None:
    cluster.kill(cluster.node(node_id))
    shutil.rmtree(cluster.data_dir / f"node-{node_id}")
    cluster.start_process(cluster.node(node_id))


def read_when_served(client: redis.Redis, keys: list[bytes], timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.mget(keys)
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def write(client: redis.Redis, prefix: bytes, count: int) -> dict[bytes, bytes]:
    data = {b"%s:%d" % (prefix, i): b"value-%d" % i for i in range(count)}
    pipe = client.pipeline(transaction=False)
    for key, value in data.items():
        pipe.set(key, value)
    pipe.execute()
    return data


def test_a_wiped_node_rejoins_catches_up_and_then_counts_as_a_copy(fresh_cluster):
    cluster = fresh_cluster
    client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
    assert all(identity_state(cluster, n) == "verified" for n in (1, 2, 3))
    data = write(client, b"before", 1500)
    wipe_and_restart(cluster, 2)
    wait_for(lambda: identity_state(cluster, 2) == "verified", 60, "node 2 caught up")
    log = cluster.node(2).log.read_text()
    assert "this node's data was lost" in log, dump_logs(cluster)
    assert "votes released" in log
    data.update(write(client, b"after", 500))
    # Node 2 now stands in for node 1: everything must be on it and node 3.
    cluster.kill(cluster.node(1))
    keys = list(data)
    assert read_when_served(client, keys) == [data[key] for key in keys]
    cluster.start_process(cluster.node(1))
    cluster.wait_until_serving(60)


def test_a_wiped_node_and_a_stale_one_elect_nobody_and_answer_no_wrong_reads(fresh_cluster):
    """Node 3 misses the writes (paused); node 2, which acknowledged them, loses its disk;
    node 1 is down. Nodes 2 and 3 are a majority, but electing node 3 would drop the writes:
    the cluster must refuse to serve until node 1 is back, never answer without them."""
    cluster = fresh_cluster
    client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
    cluster.pause(cluster.node(3))
    cluster.wait_until_serving(60)  # node 3's shards failed over (the writes' retry is short)
    data = write(client, b"acked", 300)  # acknowledged by nodes 1 and 2 only
    cluster.kill(cluster.node(1))
    wipe_and_restart(cluster, 2)
    cluster.resume(cluster.node(3))
    wait_for(lambda: identity_state(cluster, 2) not in ("", "new"), 30, "node 2 heard its peers")
    keys = list(data)
    deadline = time.monotonic() + 8  # several election timeouts
    refused = 0
    while time.monotonic() < deadline:
        try:
            answer = client.mget(keys)
        except redis.RedisError:
            refused += 1
            continue
        assert answer == [data[key] for key in keys], "a read without acknowledged writes"
    assert refused, "the cluster answered without a quorum that holds the writes"
    assert identity_state(cluster, 2) == "rejoining"
    status = render_status(cluster.status())
    assert any("node 2" in line and "rejoining: votes held" in line for line in status.splitlines())
    cluster.start_process(cluster.node(1))
    cluster.wait_until_serving(60)
    assert client.mget(keys) == [data[key] for key in keys]
    wait_for(lambda: identity_state(cluster, 2) == "verified", 60, "node 2 caught up")


def test_an_operator_can_release_a_rejoining_node_when_its_peer_is_gone(fresh_cluster):
    """Node 1 is gone, node 2 lost its disk: node 3 alone holds the data but needs node 2's
    vote, which it holds. The operator, knowing node 3 is complete, releases node 2."""
    cluster = fresh_cluster
    client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
    data = write(client, b"all", 300)  # on all three nodes
    cluster.kill(cluster.node(1))
    wipe_and_restart(cluster, 2)
    wait_for(lambda: identity_state(cluster, 2) == "rejoining", 30, "node 2 knows it lost data")
    keys = list(data)
    with pytest.raises(redis.RedisError):
        client.mget(keys)
    node_2 = f"127.0.0.1:{cluster.node(2).port}"
    secret = ("--cluster-secret-file", str(cluster.secret_file))
    refused = ctl(*secret, "--node", node_2, "release-votes")
    assert refused.returncode == 2 and "--accept-data-loss" in refused.stderr
    released = ctl(*secret, "--node", node_2, "release-votes", "--accept-data-loss")
    assert released.returncode == 0, released.stderr
    assert "votes released (was rejoining)" in released.stdout
    assert read_when_served(client, keys) == [data[key] for key in keys]
    assert identity_state(cluster, 2) == "verified"
    assert "votes released by an operator" in cluster.node(2).log.read_text()
    cluster.start_process(cluster.node(1))
    cluster.wait_until_serving(60)


def shard_seen_by_leader(cluster: LocalCluster, shard: int):
    """The shard's ShardInfo as its leader reports it (None while it has no leader)."""
    for answer in cluster.status():
        for info in answer.local:
            if info.id == shard and info.leader == answer.node:
                return info
    return None


def replica_of(cluster: LocalCluster, node_id: int, shard: int):
    for answer in cluster.status():
        if answer.node == node_id:
            return next((info for info in answer.local if info.id == shard), None)
    return None


def tear_last_entries_record(wal_dir: Path, group: int, acknowledged: int) -> int:
    """Cut the newest WAL segment in the middle of the group's last entries record, which
    holds `acknowledged`: the torn tail a lying disk leaves (fsync said it was durable).
    Returns the first index lost."""
    sequence, path = list_segments(wal_dir)[-1]
    scan = scan_segment(sequence, path)
    offsets = [offset for offset, _ in scan.records] + [scan.valid_end]
    last = max(
        position
        for position, (_, record) in enumerate(scan.records)
        if isinstance(record, EntriesRecord) and record.group == group
    )
    record = scan.records[last][1]
    assert isinstance(record, EntriesRecord)
    assert record.entries[0].index <= acknowledged <= record.entries[-1].index, record
    start, end = offsets[last], offsets[last + 1]
    with path.open("r+b") as file:
        file.truncate(start + (end - start) // 2)
    return record.entries[0].index


def test_a_follower_whose_wal_lost_an_acknowledged_tail_rejoins_and_catches_up(fresh_cluster):
    """Finding 8: the torn tail is cut at start; the node must hold its votes like after a
    lost disk and the leader must send it what it lacks, with no leader moved by hand."""
    cluster = fresh_cluster
    client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
    write(client, b"before", 300)
    cluster.wait_until_caught_up(60)
    # A shard that node 2 follows and whose leader is where leader balancing keeps it.
    shard, seen = next(
        (info.id, info)
        for info in (shard_seen_by_leader(cluster, s) for s in range(3))
        if info is not None and info.leader != 2 and info.replicas[0] == info.leader
    )
    group = seen.group

    def node_2_match() -> int:
        info = shard_seen_by_leader(cluster, shard)
        if info is None:
            return -1
        return next(r.match for r in info.replica_status if r.node == 2)

    wait_for(lambda: node_2_match() == seen.last_index, 30, "node 2 acknowledged everything")
    acknowledged = node_2_match()
    cluster.kill(cluster.node(2))
    wal_dir = cluster.data_dir / "node-2" / "raft" / "wal"
    lost_from = tear_last_entries_record(wal_dir, group, acknowledged)
    cluster.start_process(cluster.node(2))
    wait_for(lambda: replica_of(cluster, 2, shard) is not None, 30, "node 2 answers")
    later = write(client, b"later", 300)
    leader = cluster.leader_of(shard)

    def caught_up() -> bool:
        info = shard_seen_by_leader(cluster, shard)
        mine = replica_of(cluster, 2, shard)
        return info is not None and mine is not None and mine.applied >= info.commit

    wait_for(caught_up, 60, f"node 2 caught up after losing entries from {lost_from}")
    wait_for(lambda: identity_state(cluster, 2) == "verified", 60, "node 2 released")
    log = cluster.node(2).log.read_text()
    assert "may have lost entries it had acknowledged" in log, dump_logs(cluster)
    assert "votes released" in log
    assert cluster.leader_of(shard) == leader
    # Node 2 is a full copy again: with the shard's leader gone it serves everything.
    cluster.kill(cluster.node(leader))
    keys = list(later)
    assert read_when_served(client, keys) == [later[key] for key in keys]
    cluster.start_process(cluster.node(leader))
    cluster.wait_until_serving(60)


def ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slotraft.cli", "ctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
