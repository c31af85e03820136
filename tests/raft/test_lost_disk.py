"""A replica that starts again under its id without its data (a lost or wiped disk).

Raft assumes what a replica persisted survives: its vote and the entries it acknowledged.
Without them it could help elect a leader that lacks an entry committed with its own lost
acknowledgement. `VoteHold.UNTIL_CAUGHT_UP` keeps such a replica from voting, campaigning
and taking leadership until its log covers a commit of a leader in that leader's term.
"""

from __future__ import annotations

from node.raft import Role, VoteHold, bootstrap_state
from node.raft.messages import (
    AppendEntries,
    AppendResponse,
    RequestVote,
    TimeoutNow,
    VoteResponse,
)
from tests.raft.harness import Cluster, MemoryStorage


def commit_with_node_2_only(cluster: Cluster) -> None:
    """Leader 1 commits b"acked" with node 2's acknowledgement while node 3 hears nothing."""
    cluster.elect(1)
    cluster.isolate(3)
    cluster.nodes[1].propose(b"acked")
    cluster.stabilize()
    assert b"acked" in cluster.data(1)
    assert b"acked" in cluster.data(2)
    assert b"acked" not in cluster.data(3)


def wipe(cluster: Cluster, node_id: int, hold: VoteHold | None) -> None:
    """Crash the node, lose its disk, start it from the cluster's first state."""
    cluster.crash(node_id)
    cluster.storage[node_id] = MemoryStorage(bootstrap_state(cluster.voters))
    node = cluster.restart(node_id)
    if hold is not None:
        node.hold_votes(hold)


def elect_node_3_after_leader_1_dies(cluster: Cluster) -> None:
    cluster.crash(1)
    cluster.heal()
    for _ in range(5):
        cluster.forget_leader()
        cluster.campaign(3)


def test_without_the_hold_a_wiped_replica_helps_lose_an_acknowledged_write():
    """Why the hold exists: node 2's vote elects node 3, which never had the entry."""
    cluster = Cluster(seed=1)
    commit_with_node_2_only(cluster)
    wipe(cluster, 2, hold=None)
    elect_node_3_after_leader_1_dies(cluster)
    assert cluster.nodes[3].role is Role.LEADER
    cluster.nodes[3].propose(b"after")
    cluster.stabilize()
    assert b"after" in cluster.data(3)
    assert b"acked" not in cluster.data(3)  # lost: the case the hold prevents


def test_a_held_replica_elects_nobody_that_lacks_what_it_acknowledged():
    cluster = Cluster(seed=1)
    commit_with_node_2_only(cluster)
    wipe(cluster, 2, hold=VoteHold.UNTIL_CAUGHT_UP)
    since_wipe = len(cluster.sent)
    elect_node_3_after_leader_1_dies(cluster)
    assert cluster.nodes[3].role is not Role.LEADER
    answers = [m for m in cluster.sent[since_wipe:] if isinstance(m, VoteResponse) and m.src == 2]
    assert answers and not any(m.granted for m in answers)
    for _ in range(50):  # node 2 never campaigns either
        cluster.tick([2])
        cluster.stabilize()
    assert cluster.nodes[2].role is Role.FOLLOWER
    assert not any(isinstance(m, RequestVote) and m.src == 2 for m in cluster.sent[since_wipe:])

    # Node 1 comes back with the entry: it is elected, node 2 catches up and is released.
    cluster.restart(1)
    cluster.elect(1)
    cluster.run(5)
    for node_id in (1, 2, 3):
        assert b"acked" in cluster.data(node_id)
    assert cluster.nodes[2].vote_hold is VoteHold.NONE


def test_the_leader_forgets_what_a_wiped_follower_had_acknowledged():
    cluster = Cluster(seed=2)
    cluster.elect(1)
    for n in range(5):
        cluster.nodes[1].propose(b"w%d" % n)
    cluster.stabilize()
    stale = cluster.nodes[1].status().peers[2].match
    assert stale == cluster.nodes[1].log.last_index()
    wipe(cluster, 2, hold=VoteHold.UNTIL_CAUGHT_UP)
    cluster.nodes[1].propose(b"next")
    cluster.process(1)
    cluster.deliver()
    cluster.process(2)
    rejections = [m for m in cluster.queue if isinstance(m, AppendResponse) and m.reject]
    assert rejections and all(m.rejoining for m in rejections)
    cluster.deliver()
    assert cluster.nodes[1].status().peers[2].match < stale
    cluster.stabilize()
    assert cluster.data(2) == cluster.data(1)
    assert cluster.nodes[1].status().peers[2].match == cluster.nodes[1].log.last_index()
    assert cluster.nodes[2].vote_hold is VoteHold.NONE


def test_the_hold_lasts_until_a_commit_of_the_leaders_own_term_is_covered():
    """Entries copied from the leader are not enough while its commit index is still an
    entry of an earlier term."""
    cluster = Cluster(seed=3)
    cluster.elect(1)
    wipe(cluster, 2, hold=VoteHold.UNTIL_CAUGHT_UP)
    node_2 = cluster.nodes[2]
    # Only appends whose commit is below the leader's no-op (an earlier-term entry) arrive.
    leader = cluster.nodes[1]
    noop_index = max(e.index for e in leader.log.entries if e.term == leader.term)
    cluster.nodes[1].propose(b"x")
    for _ in range(20):
        cluster.process_all()
        cluster.deliver(lambda m: not (isinstance(m, AppendEntries) and m.commit >= noop_index))
        cluster.drop(lambda m: isinstance(m, AppendEntries) and m.commit >= noop_index)
    assert node_2.vote_hold is VoteHold.UNTIL_CAUGHT_UP
    cluster.stabilize()
    cluster.run(3)
    assert node_2.vote_hold is VoteHold.NONE


def test_a_held_replica_ignores_timeout_now_until_released():
    cluster = Cluster(seed=4)
    cluster.elect(1)
    cluster.nodes[2].hold_votes(VoteHold.UNTIL_RELEASED)
    cluster.nodes[1].transfer_leader(2)
    cluster.stabilize()
    assert any(isinstance(m, TimeoutNow) for m in cluster.sent)
    assert cluster.nodes[1].role is Role.LEADER
    assert cluster.nodes[2].role is Role.FOLLOWER
    # Caught up or not, UNTIL_RELEASED waits for the caller.
    cluster.run(3)
    assert cluster.nodes[2].vote_hold is VoteHold.UNTIL_RELEASED
    cluster.nodes[2].hold_votes(VoteHold.NONE)
    cluster.run(cluster.nodes[1].config.election_ticks * 3)  # the first transfer expired
    cluster.nodes[1].transfer_leader(2)
    cluster.stabilize()
    assert cluster.nodes[2].role is Role.LEADER
