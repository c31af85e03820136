"""Messages a healthy group must survive: forged by a peer that passed authentication (a buggy
or compromised node) or corrupted on the way. None of them may stop a replica, depose a
healthy leader or start an election; a real leader transfer still works."""

from __future__ import annotations

from typing import Any

import pytest

from node.raft import ConfChange, ConfChangeType, Entry, Role
from node.raft.messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    Message,
    RequestVote,
    TimeoutNow,
)
from node.raft.validate import check_for_replica
from tests.raft.harness import OWN_TRAFFIC_REJECTED, Cluster

GROUP = 1


def healthy(seed: int = 3, **config: Any) -> Cluster:
    """Leader 1 of three voters, one write committed everywhere."""
    cluster = Cluster(seed=seed, **config)
    cluster.elect(1)
    cluster.nodes[1].propose(b"before")
    cluster.stabilize()
    assert all(b"before" in cluster.data(n) for n in (1, 2, 3))
    return cluster


def assert_undisturbed(cluster: Cluster, term: int) -> None:
    """Leader 1 still leads `term`, the others follow it, and it still commits."""
    assert cluster.nodes[1].role is Role.LEADER
    for node_id in (1, 2, 3):
        node = cluster.nodes[node_id]
        assert node.term == term, f"node {node_id} moved to term {node.term}"
        assert node.leader == 1, f"node {node_id} follows {node.leader}"
    cluster.nodes[1].propose(b"after")
    cluster.stabilize()
    assert all(cluster.data(n)[-1] == b"after" for n in (1, 2, 3))


@pytest.mark.parametrize("jump", [1, 100])
def test_a_forged_forced_vote_does_not_depose_a_healthy_leader(jump):
    cluster = healthy()
    term = cluster.nodes[1].term
    last = cluster.nodes[2].log.last_index()
    for target in (1, 3):
        cluster.inject(RequestVote(GROUP, 2, target, term + jump, last + 10, term, force=True))
    cluster.stabilize()
    cluster.run(2)  # fewer ticks than an election timeout
    assert_undisturbed(cluster, term)


def test_a_forged_timeout_now_starts_no_election():
    cluster = healthy()
    term = cluster.nodes[1].term
    cluster.inject(TimeoutNow(GROUP, 2, 3, term))  # node 2 pretends to be the leader
    cluster.inject(TimeoutNow(GROUP, 2, 3, term + 1))  # ... of the next term
    cluster.stabilize()
    assert_undisturbed(cluster, term)


def test_a_forged_forced_vote_during_a_real_transfer_window_is_only_honoured_one_term_up():
    """The leader announced a transfer: voters honour a forced vote of the next term only
    (the transferee's campaign), not one far above it."""
    cluster = healthy()
    term = cluster.nodes[1].term
    cluster.isolate(3)  # the transferee lags: the transfer waits, its notice went out
    cluster.nodes[1].propose(b"lagging")
    cluster.stabilize()
    cluster.nodes[1].transfer_leader(3)
    cluster.stabilize()
    cluster.inject(RequestVote(GROUP, 3, 2, term + 50, 100, term, force=True))
    assert cluster.nodes[2].term == term and cluster.nodes[2].leader == 1


def test_a_real_leader_transfer_still_forces_the_election():
    cluster = healthy()
    term = cluster.nodes[1].term
    cluster.nodes[1].transfer_leader(3)
    cluster.stabilize()
    assert cluster.nodes[3].role is Role.LEADER and cluster.nodes[3].term == term + 1
    cluster.nodes[3].propose(b"after")
    cluster.stabilize()
    assert all(cluster.data(n)[-1] == b"after" for n in (1, 2, 3))


def test_a_follower_claiming_leadership_of_the_current_term_is_ignored():
    cluster = healthy()
    term = cluster.nodes[1].term
    last = cluster.nodes[3].log.last_index()
    cluster.inject(Heartbeat(GROUP, 2, 3, term, last, 1 << 40))
    cluster.inject(
        AppendEntries(GROUP, 2, 3, term, last, term, (Entry(last + 1, term, data=b"x"),), 0, 1)
    )
    assert cluster.nodes[3].log.last_index() == last
    cluster.stabilize()
    assert_undisturbed(cluster, term)
    assert b"x" not in cluster.data(3)


FROM_NON_MEMBER = [
    lambda term, last: Heartbeat(GROUP, 9, 2, term + 1, last, 1),
    lambda term, last: AppendEntries(GROUP, 9, 3, term + 1, last, term, (), last, 1),
    lambda term, last: RequestVote(GROUP, 9, 2, term + 1, last + 5, term, force=True),
    lambda term, last: RequestVote(GROUP, 9, 3, term + 1, last + 5, term, pre=True),
    lambda term, last: AppendResponse(GROUP, 9, 1, term + 1, last),
    lambda term, last: TimeoutNow(GROUP, 9, 2, term),
]


@pytest.mark.parametrize("forge", FROM_NON_MEMBER, ids=range(len(FROM_NON_MEMBER)))
def test_messages_of_a_non_member_are_dropped(forge):
    cluster = healthy()
    term = cluster.nodes[1].term
    cluster.inject(forge(term, cluster.nodes[1].log.last_index()))
    cluster.stabilize()
    assert_undisturbed(cluster, term)


def test_a_learner_cannot_act_as_a_leader_but_is_replicated():
    cluster = Cluster(voters=(1, 2, 3), learners=(4,), seed=3)
    cluster.elect(1)
    term = cluster.nodes[1].term
    last = cluster.nodes[1].log.last_index()
    cluster.inject(Heartbeat(GROUP, 4, 2, term + 1, last, 1))
    cluster.inject(RequestVote(GROUP, 4, 3, term + 1, last + 5, term))
    cluster.nodes[1].propose(b"to the learner too")
    cluster.stabilize()
    assert cluster.nodes[2].term == term and cluster.nodes[3].term == term
    assert cluster.data(4) == cluster.data(1) == [b"to the learner too"]


def test_an_acknowledgement_beyond_the_leaders_log_is_dropped():
    """A success above the leader's last index would make it look for entries it never had
    (a snapshot it does not hold): the leader must not take it."""
    cluster = healthy()
    term = cluster.nodes[1].term
    last = cluster.nodes[1].log.last_index()
    cluster.inject(AppendResponse(GROUP, 2, 1, term, last + 1000))
    cluster.stabilize()
    assert cluster.nodes[1].status().peers[2].match <= last
    assert_undisturbed(cluster, term)


def test_an_echo_of_a_stamp_never_sent_confirms_no_read():
    """Followers echo the leader's stamps; one that echoes a stamp from the future must not
    make a cut-off leader answer a read."""
    cluster = healthy(check_quorum=False, lease_reads=False)
    term = cluster.nodes[1].term
    cluster.isolate(1)
    cluster.nodes[1].read_index(b"read")
    cluster.process(1)
    cluster.inject(HeartbeatResponse(GROUP, 2, 1, term, 1 << 62))
    cluster.inject(AppendResponse(GROUP, 3, 1, term, 0, stamp=1 << 62))
    cluster.run(2)
    assert cluster.read_states[1] == []


@pytest.mark.parametrize(
    "forged",
    [
        RequestVote(GROUP, 2, 3, (1 << 64) - 1, 5, 1),
        RequestVote(GROUP, 2, 1, (1 << 64) - 1, 5, 1, force=True),
        Heartbeat(GROUP, 2, 3, (1 << 64) - 1, 0, 1),
        AppendResponse(GROUP, 2, 1, (1 << 64) - 1, 0),
    ],
    ids=["vote", "forced-vote", "heartbeat", "append-response"],
)
def test_a_term_that_cannot_be_stored_or_incremented_is_refused(forged: Message):
    cluster = healthy()
    term = cluster.nodes[1].term
    cluster.inject(forged)
    cluster.stabilize()
    assert_undisturbed(cluster, term)


def test_a_replica_lagging_behind_a_promotion_catches_up_from_the_promoted_leader():
    """Node 3 misses the promotion of learner 4, which then leads: node 3 knows 4 only as
    a learner. It refuses 4 while it still follows a live leader, then takes it."""
    cluster = Cluster(voters=(1, 2, 3), learners=(4,), seed=11)
    cluster.elect(1)
    cluster.nodes[1].propose(b"x")
    cluster.stabilize()
    cluster.isolate(3)
    cluster.nodes[1].propose_conf_change(ConfChange(ConfChangeType.PROMOTE_LEARNER, 4))
    cluster.stabilize()
    assert 4 in cluster.nodes[1].conf.voters and 4 not in cluster.nodes[3].conf.voters
    cluster.nodes[1].transfer_leader(4)
    cluster.stabilize()
    assert cluster.nodes[4].role is Role.LEADER
    cluster.nodes[4].propose(b"from the promoted leader")
    cluster.stabilize()
    cluster.heal()
    cluster.nodes[3]._guard_elapsed = 0  # as if node 1 had just been heard
    cluster.tick([4], times=cluster.nodes[4].config.heartbeat_ticks)
    cluster.stabilize()
    assert cluster.rejected and all(m.src == 4 and m.dst == 3 for m, _ in cluster.rejected)
    cluster.run(2 * cluster.nodes[3].config.election_ticks)
    assert cluster.data(3) == cluster.data(4)
    assert cluster.nodes[3].leader == 4 and 4 in cluster.nodes[3].conf.voters
    # Those refusals were the point here, not a fault of validation (tests/raft/conftest.py).
    assert all(m.src == 4 and m.dst == 3 for m, _ in OWN_TRAFFIC_REJECTED)
    OWN_TRAFFIC_REJECTED.clear()


def test_a_removed_voter_is_heard_until_its_removal_commits_and_not_after():
    cluster = healthy()
    cluster.nodes[1].propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 3))
    cluster.process(1)
    cluster.deliver(lambda m: m.dst == 2)  # node 2 has the change, not yet its commit
    node_2 = cluster.nodes[2]
    assert 3 not in node_2.conf.voters and node_2.log.committed < node_2.log.last_index()
    term = node_2.term
    vote = RequestVote(GROUP, 3, 2, term + 1, 100, term)
    assert check_for_replica(node_2, vote) is None  # still a voter until it commits
    cluster.stabilize()
    assert node_2.log.committed == node_2.log.last_index()
    assert check_for_replica(node_2, vote) is not None
    cluster.inject(Heartbeat(GROUP, 3, 2, term + 1, 0, 1))
    assert node_2.term == term and node_2.leader == 1


def test_a_new_replica_that_knows_no_membership_takes_its_leader():
    cluster = healthy()
    fresh = cluster.add_node(5)  # RestoredState(): no membership yet
    heartbeat = Heartbeat(GROUP, 1, 5, cluster.nodes[1].term, 0, 1)
    assert check_for_replica(fresh, heartbeat) is None
