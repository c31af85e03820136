"""Snapshots of real nodes under pipelined load: nodes that snapshot every few entries keep
serving while their disk writes are in flight, a node killed with SIGKILL recovers from
snapshot + WAL, and a node that was down long enough to need the leader's snapshot catches
up from it. Every acknowledged write is there afterwards.

(A node whose data directory was lost and that rejoins under its id: test_lost_disk.py.)"""

from __future__ import annotations

import time

import pytest
import redis

from proto import slotraft_pb2 as pb
from tests.cluster.conftest import running_cluster

pytestmark = pytest.mark.slow


def snapshots_taken(cluster, node: int) -> int:
    process = cluster.node(node)
    total = 0
    admin = cluster.admin().stub(f"127.0.0.1:{process.port}")
    for shard in range(3):
        stats = admin.Stats(pb.ShardStatsRequest(shard=shard), timeout=5)
        total += int(stats.values["snapshots"])
    return total


def caught_up(cluster, node: int) -> bool:
    """Every shard replica on `node` has applied what its leader has, key for key."""
    answers = {answer.node: answer for answer in cluster.status()}
    if node not in answers:
        return False
    mine = {info.id: info for info in answers[node].local}
    for answer in answers.values():
        for info in answer.local:
            if info.leader == answer.node:  # the leader's view of its shard
                ours = mine.get(info.id)
                if ours is None or ours.applied < info.commit or ours.keys != info.keys:
                    return False
    return True


def describe(cluster) -> str:
    return "; ".join(
        f"node {answer.node} shard {info.id} leader {info.leader} commit {info.commit} "
        f"applied {info.applied} keys {info.keys}"
        for answer in cluster.status()
        for info in answer.local
    )


def write_batch(client: redis.Redis, first: int, count: int) -> dict[bytes, bytes]:
    pipe = client.pipeline(transaction=False)
    written = {}
    for n in range(first, first + count):
        key, value = b"snap:%d" % n, b"value-%d" % n
        pipe.set(key, value)
        written[key] = value
    assert all(pipe.execute())
    return written


def test_snapshots_under_load_restart_and_catch_up_keep_every_acknowledged_write():
    with running_cluster(node_args=["--snapshot-entries", "40"]) as cluster:
        client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
        written: dict[bytes, bytes] = {}
        for round_number in range(40):
            written |= write_batch(client, round_number * 100, 100)
        assert all(snapshots_taken(cluster, node) > 0 for node in (1, 2, 3))

        cluster.kill(cluster.node(2))  # restart from snapshot + WAL
        cluster.start_process(cluster.node(2))
        # Node 3 is down while the others write and compact far past its log: it can only
        # catch up through the leaders' snapshots.
        cluster.kill(cluster.node(3))
        for round_number in range(40, 80):
            written |= write_batch(client, round_number * 100, 100)
        for n in range(8000, 10400):  # one entry each: far past the 512 entries kept
            key = b"snap:%d" % n
            assert client.set(key, b"single")
            written[key] = b"single"
        cluster.start_process(cluster.node(3))
        cluster.wait_until_serving(60)
        values = client.mget(list(written))
        missing = [key for key, value in zip(written, values, strict=True) if value != written[key]]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:3]}"
        # Node 3 holds every shard's keys again (it got them from the snapshots).
        deadline = time.monotonic() + 60
        while not caught_up(cluster, 3):
            assert time.monotonic() < deadline, f"node 3 did not catch up: {describe(cluster)}"
            time.sleep(0.2)
        log = cluster.node(3).log.read_text()
        assert "installed snapshot" in log  # it did need them


def wal_segments(cluster, node: int) -> list[str]:
    return sorted(path.name for path in (cluster.data_dir / f"node-{node}/raft/wal").glob("*.wal"))


def test_quiet_groups_do_not_keep_the_whole_wal():
    """Writes to one shard only: the metadata group and the two quiet shards have a few
    entries in the first segment. Without snapshots of them, that segment and every later
    one stayed on disk (and a restart replayed the whole history)."""
    with running_cluster(node_args=["--wal-segment-mb", "1"]) as cluster:
        client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
        value = b"v" * 2000
        written = {}
        for batch in range(30):  # about 6 MB of log through one shard: 6 segments or more
            pipe = client.pipeline(transaction=False)
            for n in range(100):
                key = b"{quiet}:%d" % (batch * 100 + n)
                pipe.set(key, value)
                written[key] = value
            assert all(pipe.execute())
        deadline = time.monotonic() + 30
        while max(len(wal_segments(cluster, node)) for node in (1, 2, 3)) > 3:
            assert time.monotonic() < deadline, {
                node: wal_segments(cluster, node) for node in (1, 2, 3)
            }
            time.sleep(0.2)
        for node in (1, 2, 3):  # the log was written: its first segments went
            assert wal_segments(cluster, node)[0] != "0000000000000001.wal"
        for process in [cluster.node(node) for node in (1, 2, 3)]:
            cluster.kill(process)
        for process in [cluster.node(node) for node in (1, 2, 3)]:
            cluster.start_process(process)
        cluster.wait_until_serving(60)
        assert client.mget(list(written)) == list(written.values())
