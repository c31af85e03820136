"""A shard replica whose leader is handing leadership over refuses new writes with a
redirect to the new leader; it must not fail (a chaos run once stopped a node here)."""

from __future__ import annotations

import asyncio

from node.replica import ShardReplica
from node.shard_state import ShardState
from proto import slotraft_pb2 as pb
from proto.topology import ShardPlacement
from tests.raft.harness import Cluster


def test_writes_during_a_leader_transfer_are_redirected_to_the_transferee():
    cluster = Cluster()
    cluster.elect(1)
    cluster.isolate(2)  # node 2 cannot catch up, so the transfer stays in progress
    leader = cluster.nodes[1]
    leader.transfer_leader(2)
    replica = ShardReplica(1, ShardPlacement(0, ((0, 16383),), (1, 2, 3)), leader, ShardState(), 0)

    async def submit() -> pb.KvReply:
        write = replica.submit(pb.KvRequest(id=1, args=[b"SET", b"k", b"v"], arg_counts=[3]))
        replica.flush()
        return await asyncio.wait_for(write, 1)

    reply = asyncio.run(submit())
    assert reply.status == pb.NOT_LEADER
    assert reply.leader_node == 2
    assert leader.role.name == "LEADER"  # still leading until the transferee takes over
