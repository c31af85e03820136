"""The node's Raft receive path (RaftTransport._receive -> the host's batch handler ->
MultiRaft.step) under hostile frames: nothing raises, no node stops, the leader keeps its term.

Three nodes run in memory the way node/host.py runs them: every Ready is turned into WAL
records (encoded, so that a value the WAL cannot hold fails here as it would on disk) and
its outbox into RaftBatch frames handed to the receiving node's transport."""

from __future__ import annotations

import logging
import random
from types import SimpleNamespace

import pytest

from node.host import NodeHost
from node.raft import Entry, MultiRaft, RaftConfig, Role, bootstrap_state
from node.raft import messages as m
from node.raft.core import RaftNode
from node.raft_wire import add_to_batch
from node.storage.records import encode, persist_records
from node.transport import BatchHeader, RaftTransport
from proto import slotraft_pb2 as pb

GROUP = 4
TOP_TERM = (1 << 64) - 1


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
        self.transport = RaftTransport(node_id, peers, handler, lambda peer: None)

    @property
    def raft(self) -> RaftNode:
        return self.multi.group(GROUP)


class WireCluster:
    def __init__(self) -> None:
        self.nodes = {n: WireNode(n, (1, 2, 3)) for n in (1, 2, 3)}

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
                self.nodes[destination].transport._receive(frame(node.node_id, messages))
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


def send_forged(cluster: WireCluster, sender: int, forge) -> None:
    for node in cluster.nodes.values():
        if node.node_id != sender:
            node.transport._receive(frame(sender, [forge(node.node_id)]))


FORGED = {
    "vote": lambda term, last: lambda dst: m.RequestVote(GROUP, 2, dst, TOP_TERM, last, 1),
    "pre-vote": lambda term, last: (
        lambda dst: m.RequestVote(GROUP, 2, dst, TOP_TERM, last, 1, pre=True)
    ),
    "forced-vote": lambda term, last: (
        lambda dst: m.RequestVote(GROUP, 2, dst, TOP_TERM, last, 1, force=True)
    ),
    "heartbeat": lambda term, last: lambda dst: m.Heartbeat(GROUP, 2, dst, TOP_TERM, 0, 1),
    "append": lambda term, last: (
        lambda dst: m.AppendEntries(GROUP, 2, dst, TOP_TERM, last, 1, (), 0, 1)
    ),
    "timeout-now": lambda term, last: lambda dst: m.TimeoutNow(GROUP, 2, dst, TOP_TERM),
    "forced-vote-term+100": lambda term, last: (
        lambda dst: m.RequestVote(GROUP, 2, dst, term + 100, last + 10, term, force=True)
    ),
    "forced-vote-term+1": lambda term, last: (
        lambda dst: m.RequestVote(GROUP, 2, dst, term + 1, last + 10, term, force=True)
    ),
}


@pytest.mark.parametrize("kind", list(FORGED))
def test_a_forged_frame_stops_no_node_and_the_leader_keeps_its_term(kind):
    cluster = WireCluster()
    leader = cluster.leader()
    if leader.node_id == 2:  # the forger must be a follower
        leader.raft.transfer_leader(1)
        cluster.run(5)
        leader = cluster.leader()
    term = leader.raft.term
    last = leader.raft.log.last_index()
    send_forged(cluster, 2, FORGED[kind](term, last))
    cluster.run(60)  # several election timeouts: a node that adopted the term would campaign
    assert leader.raft.role is Role.LEADER
    assert {n.raft.term for n in cluster.nodes.values()} == {term}
    index = leader.raft.propose(b"after")
    cluster.run(3)
    assert all(n.raft.log.committed >= index for n in cluster.nodes.values())


def test_garbage_frames_and_mismatched_senders_are_dropped_with_a_warning(caplog):
    cluster = WireCluster()
    leader = cluster.leader()
    follower = next(n for n in cluster.nodes.values() if n is not leader)
    other = next(n for n in (1, 2, 3) if n not in (leader.node_id, follower.node_id))
    term = leader.raft.term
    last = follower.raft.log.last_index()
    receive = follower.transport._receive
    caplog.set_level(logging.WARNING)
    receive(b"\xff\xff\xff\xff garbage")
    # A batch from one node whose message says it comes from another (the leader).
    receive(frame(other, [m.Heartbeat(GROUP, leader.node_id, follower.node_id, term + 1, 0, 1)]))
    # One bad message spoils its batch: the append before it is dropped too.
    smuggled = m.AppendEntries(
        GROUP,
        leader.node_id,
        follower.node_id,
        term,
        last,
        follower.raft.log.last_term(),
        (Entry(last + 1, term, data=b"smuggled"),),
        0,
        1,
    )
    misaddressed = m.Heartbeat(GROUP, leader.node_id, 99, term, 0, 1)
    receive(frame(leader.node_id, [smuggled, misaddressed]))
    assert follower.raft.log.last_index() == last
    cluster.run(20)
    assert leader.raft.role is Role.LEADER and leader.raft.term == term
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings
    assert f"node {other}" in warnings[1] and f"node {leader.node_id}" in warnings[2]


def test_warnings_about_one_sender_are_rate_limited(caplog):
    cluster = WireCluster()
    node = cluster.nodes[1]
    caplog.set_level(logging.WARNING)
    for _ in range(500):
        node.transport._receive(frame(2, [m.RequestVote(GROUP, 2, 1, TOP_TERM, 0, 0)]))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 <= len(warnings) <= 5


def test_a_header_only_batch_still_reaches_the_host():
    seen: list[tuple[BatchHeader, list]] = []
    transport = RaftTransport(
        1, {2: "127.0.0.1:2"}, lambda header, msgs: seen.append((header, msgs)), print
    )
    transport._receive(pb.RaftBatch(from_node=2, from_incarnation=7).SerializeToString())
    assert seen == [(BatchHeader(2, 7, 0, 0), [])]
