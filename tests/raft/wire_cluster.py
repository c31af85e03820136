"""Three nodes that run in memory the way node/host.py runs them: every Ready is turned into
WAL records (encoded, so that a value the WAL cannot hold fails here as it would on disk)
and its outbox into RaftBatch frames handed to the receiving node's transport
(`RaftTransport._receive` -> the host's own batch handler -> `MultiRaft.step`)."""

from __future__ import annotations

import random
from types import SimpleNamespace

from node.host import NodeHost
from node.raft import MultiRaft, RaftConfig, Role, bootstrap_state
from node.raft import messages as m
from node.raft.core import RaftNode
from node.raft_wire import add_to_batch
from node.storage.records import encode, persist_records
from node.transport import RaftTransport
from proto import slotraft_pb2 as pb
from tests.support.auth import node_credentials

GROUP = 4


def frame(sender: int, messages: list[m.Message]) -> bytes:
    batch = pb.RaftBatch(from_node=sender)
    for message in messages:
        add_to_batch(batch, message)
    return batch.SerializeToString()


class WireNode:
    def __init__(self, node_id: int, voters: tuple[int, ...]) -> None:
        self.node_id = node_id
        self.multi = MultiRaft(node_id, random.Random(node_id))
        config = RaftConfig(node_id=node_id, group_id=GROUP, election_ticks=10, heartbeat_ticks=2)
        self.multi.add_group(config, bootstrap_state(voters))
        # The host's own handler, on a stand-in for the host: identity checks pass.
        host = SimpleNamespace(
            lost_disk=SimpleNamespace(admit=lambda header: True),
            multi=self.multi,
            wakeup=SimpleNamespace(set=lambda: None),
        )
        handler = NodeHost._on_raft_batch.__get__(host)
        peers = {peer: f"127.0.0.1:{peer}" for peer in voters}  # never connected here
        self.transport = RaftTransport(
            node_id, peers, handler, lambda peer: None, node_credentials(node_id)
        )

    @property
    def raft(self) -> RaftNode:
        return self.multi.group(GROUP)


class WireCluster:
    def __init__(self) -> None:
        self.nodes = {n: WireNode(n, (1, 2, 3)) for n in (1, 2, 3)}
        self.frames: list[tuple[int, bytes]] = []  # (destination, frame) of every real batch

    def cycle(self) -> bool:
        moved = False
        for node in self.nodes.values():
            if not node.multi.has_ready():
                continue
            moved = True
            batch = node.multi.ready()
            for group, ready in batch.groups.items():
                records = persist_records(
                    group,
                    snapshot=ready.snapshot.meta if ready.snapshot is not None else None,
                    truncate_from=ready.truncate_from,
                    entries=ready.entries,
                    hard_state=ready.hard_state,
                )
                for record in records:
                    encode(record)
            for destination, messages in batch.outbox.items():
                data = frame(node.node_id, messages)
                self.frames.append((destination, data))
                self.nodes[destination].transport._receive(data, node.node_id)
            node.multi.advance(batch)
        return moved

    def settle(self) -> None:
        for _ in range(200):
            if not self.cycle():
                return
        raise AssertionError("did not settle")

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            for node in self.nodes.values():
                node.multi.tick()
            self.settle()

    def leader(self) -> WireNode:
        for _ in range(200):
            leaders = [n for n in self.nodes.values() if n.raft.role is Role.LEADER]
            if leaders:
                self.run(3)  # its lease is established on every follower
                return leaders[0]
            self.run(1)
        raise AssertionError("no leader")
