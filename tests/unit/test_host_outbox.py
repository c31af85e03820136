"""Which messages a node may send before its own write of the same Ready is durable: a
leader's replication (its own copy counts towards a commit only once durable), never an
acknowledgement or a vote, and nothing of a group whose new term or vote is being written."""

from __future__ import annotations

from node.host import split_outbox
from node.raft.messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    RequestVote,
    VoteResponse,
)
from node.raft.types import Entry


def test_replication_leaves_early_acknowledgements_and_votes_wait():
    append = AppendEntries(1, 1, 2, 5, 9, 5, (Entry(10, 5),), 9, 3)
    heartbeat = Heartbeat(2, 1, 2, 5, 9, 3)
    ack = AppendResponse(3, 1, 2, 5, 10, stamp=3)
    heartbeat_ack = HeartbeatResponse(3, 1, 3, 5, 3)
    vote = VoteResponse(4, 1, 3, 6, True)
    early, late = split_outbox({2: [append, heartbeat, ack], 3: [heartbeat_ack, vote]}, set())
    assert early == {2: [append, heartbeat]}
    assert late == {2: [ack], 3: [heartbeat_ack, vote]}


def test_a_group_writing_a_new_term_sends_nothing_early():
    request = RequestVote(1, 1, 2, 6, 10, 5)
    append = AppendEntries(1, 1, 2, 6, 9, 5, (Entry(10, 6),), 9, 3)
    other = AppendEntries(2, 1, 2, 4, 9, 4, (), 9, 3)
    early, late = split_outbox({2: [request, append, other]}, {1})
    assert early == {2: [other]}
    assert late == {2: [request, append]}
