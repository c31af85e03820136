"""The one Ready policy (node/raft/ready_policy.py): which messages may leave before the
batch's write is durable (a leader's replication; never an acknowledgement or a vote, and
nothing of a group whose new term or vote is being written), and what must be written (a
hard state only with a new term or vote, or along with entries, a truncation or a
snapshot)."""

from __future__ import annotations

from node.raft.messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    RequestVote,
    VoteResponse,
)
from node.raft.multi import MultiReady
from node.raft.ready import Ready
from node.raft.ready_policy import GroupWrite, ReadyPolicy
from node.raft.types import Entry, HardState


def batch(outbox: dict, **groups: Ready) -> MultiReady:
    multi = MultiReady()
    multi.outbox = outbox
    multi.groups = {int(name[1:]): ready for name, ready in groups.items()}
    return multi


def ready(**fields: object) -> Ready:
    made = Ready()
    for name, value in fields.items():
        setattr(made, name, value)
    return made


def test_replication_and_heartbeat_answers_leave_early_acknowledgements_and_votes_wait():
    append = AppendEntries(1, 1, 2, 5, 9, 5, (Entry(10, 5),), 9, 3)
    heartbeat = Heartbeat(2, 1, 2, 5, 9, 3)
    ack = AppendResponse(3, 1, 2, 5, 10, stamp=3)
    heartbeat_ack = HeartbeatResponse(3, 1, 3, 5, 3)
    vote = VoteResponse(4, 1, 3, 6, True)
    plan = ReadyPolicy().plan(batch({2: [append, heartbeat, ack], 3: [heartbeat_ack, vote]}))
    # A heartbeat's answer promises nothing about the log: held behind a long apply, it
    # starved the leader's check-quorum (test_heavy on a loaded CI runner).
    assert plan.early == {2: [append, heartbeat], 3: [heartbeat_ack]}
    assert plan.late == {2: [ack], 3: [vote]}
    assert not plan.must_sync


def test_a_group_writing_a_new_term_sends_nothing_early():
    policy = ReadyPolicy()
    policy.restored(1, HardState(5, 1, 9))
    policy.restored(2, HardState(4, 1, 9))
    request = RequestVote(1, 1, 2, 6, 10, 5)
    append = AppendEntries(1, 1, 2, 6, 9, 5, (Entry(10, 6),), 9, 3)
    other = AppendEntries(2, 1, 2, 4, 9, 4, (), 9, 3)
    plan = policy.plan(
        batch({2: [request, append, other]}, g1=ready(hard_state=HardState(6, 1, 9)))
    )
    assert plan.new_terms == {1}
    assert plan.early == {2: [other]}
    assert plan.late == {2: [request, append]}
    assert plan.writes == [GroupWrite(1, hard_state=HardState(6, 1, 9))]


def test_a_commit_index_alone_is_not_written_but_goes_with_entries():
    policy = ReadyPolicy()
    policy.restored(1, HardState(5, 1, 9))
    only_commit = policy.plan(batch({}, g1=ready(hard_state=HardState(5, 1, 12))))
    assert only_commit.writes == [] and not only_commit.must_sync
    entries = (Entry(13, 5),)
    with_entries = policy.plan(batch({}, g1=ready(hard_state=HardState(5, 1, 13), entries=entries)))
    assert with_entries.writes == [GroupWrite(1, entries=entries, hard_state=HardState(5, 1, 13))]
    truncation = policy.plan(batch({}, g1=ready(truncate_from=11)))
    assert truncation.writes == [GroupWrite(1, truncate_from=11)]
