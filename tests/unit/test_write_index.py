"""WAIT's node side: a write's reply carries the log index of the entry that applied it, and
the leader counts the followers whose match index reaches it (node/services.py)."""

from __future__ import annotations

import asyncio
import time

from node.replica import ShardReplica
from node.services import followers_holding
from node.shard_state import ShardState
from proto import slotraft_pb2 as pb
from proto.topology import ShardPlacement
from tests.raft.harness import Cluster


def leader_replica(cluster: Cluster) -> ShardReplica:
    """Node 1's Raft node as a shard replica, applying what the harness hands it."""
    replica = ShardReplica(
        1, ShardPlacement(0, ((0, 16383),), (1, 2, 3)), cluster.nodes[1], ShardState(), 0
    )

    def on_ready(node_id: int, ready) -> None:
        if node_id == 1:
            replica.on_ready(ready)
            replica.apply_pending(time.perf_counter() + 10)

    cluster.on_ready = on_ready
    return replica


async def write(cluster: Cluster, replica: ShardReplica, key: bytes, sequence: int) -> pb.KvReply:
    future = replica.submit(
        pb.KvRequest(
            id=sequence,
            client_id=7,
            sequence=sequence,
            acked=sequence,
            args=[b"SET", key, b"v"],
            arg_counts=[3],
        )
    )
    replica.flush()
    cluster.stabilize()
    return await asyncio.wait_for(future, 1)


def test_a_writes_reply_names_its_entry_and_the_followers_holding_it_are_counted():
    async def scenario() -> None:
        cluster = Cluster()
        cluster.elect(1)
        replica = leader_replica(cluster)
        first = await write(cluster, replica, b"a", 1)
        assert first.status == pb.OK and first.log_index > 0
        assert first.log_index == replica.applied
        assert followers_holding(replica, first.log_index) == 2
        cluster.isolate(3)
        second = await write(cluster, replica, b"b", 2)
        assert second.log_index > first.log_index
        assert followers_holding(replica, second.log_index) == 1  # node 3 never got it
        assert followers_holding(replica, first.log_index) == 2
        assert followers_holding(replica, 0) == 2  # nothing written: every follower

    asyncio.run(scenario())
