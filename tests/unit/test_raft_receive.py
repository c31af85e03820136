"""The node's Raft receive path (RaftTransport._receive -> the host's batch handler ->
MultiRaft.step) under hostile frames: nothing raises, no node stops, the leader keeps its term
(tests/raft/wire_cluster.py runs three nodes on it)."""

from __future__ import annotations

import logging

import pytest

from node.raft import Entry, Role
from node.raft import messages as m
from node.transport import BatchHeader, RaftTransport
from proto import slotraft_pb2 as pb
from tests.raft.wire_cluster import GROUP, WireCluster, frame
from tests.support.auth import node_credentials

TOP_TERM = (1 << 64) - 1


def send_forged(cluster: WireCluster, sender: int, forge) -> None:
    for node in cluster.nodes.values():
        if node.node_id != sender:
            node.transport._receive(frame(sender, [forge(node.node_id)]), sender)


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
    receive(b"\xff\xff\xff\xff garbage", other)
    # A batch from one node whose message says it comes from another (the leader).
    receive(
        frame(other, [m.Heartbeat(GROUP, leader.node_id, follower.node_id, term + 1, 0, 1)]),
        other,
    )
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
    receive(frame(leader.node_id, [smuggled, misaddressed]), leader.node_id)
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
        node.transport._receive(frame(2, [m.RequestVote(GROUP, 2, 1, TOP_TERM, 0, 0)]), 2)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert 1 <= len(warnings) <= 5


def test_a_header_only_batch_still_reaches_the_host():
    seen: list[tuple[BatchHeader, list]] = []
    transport = RaftTransport(
        1,
        {2: "127.0.0.1:2"},
        lambda header, msgs: seen.append((header, msgs)),
        print,
        node_credentials(1),
    )
    transport._receive(pb.RaftBatch(from_node=2, from_incarnation=7).SerializeToString(), 2)
    assert seen == [(BatchHeader(2, 7, 0, 0), [])]


def test_a_failing_handler_is_logged_rate_limited_and_never_raises(caplog):
    def broken(header: BatchHeader, messages: list) -> None:
        raise RuntimeError("a bug in stepping")

    transport = RaftTransport(1, {2: "127.0.0.1:2"}, broken, print, node_credentials(1))
    caplog.set_level(logging.ERROR)
    heartbeat = m.Heartbeat(GROUP, 2, 1, 3, 0, 1)
    for _ in range(50):
        transport._receive(frame(2, [heartbeat]), 2)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "a bug in stepping" in errors[0].getMessage()
