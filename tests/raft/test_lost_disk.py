"""A replica that starts again under its id without its data (a lost or wiped disk).

Raft assumes what a replica persisted survives: its term, its vote and the entries it
acknowledged. Without them it could help elect a leader that lacks an entry committed with
its own lost acknowledgement, or help a deposed leader commit or serve reads. A replica
that holds its votes (`VoteHold`) neither votes, campaigns nor takes leadership, and its
answers count towards no commit, read or quorum check, until a leader that committed in
its own term without it releases it.
"""

from __future__ import annotations

from node.raft import Role, VoteHold, bootstrap_state
from node.raft.messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
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


def test_a_rejoining_follower_counts_towards_no_commit_until_released():
    cluster = Cluster(seed=2)
    cluster.elect(1)
    for n in range(5):
        cluster.nodes[1].propose(b"w%d" % n)
    cluster.stabilize()
    leader = cluster.nodes[1]
    assert leader.status().peers[2].match == leader.log.last_index()
    wipe(cluster, 2, hold=VoteHold.UNTIL_CAUGHT_UP)
    cluster.crash(3)
    committed = leader.log.committed
    leader.propose(b"needs node 3")
    cluster.run(5)
    answers = [m for m in cluster.sent if isinstance(m, AppendResponse) and m.src == 2]
    assert answers and answers[-1].rejoining
    assert cluster.nodes[2].log.last_index() == leader.log.last_index()  # node 2 has it ...
    assert leader.log.committed == committed  # ... and it does not count
    assert cluster.nodes[2].vote_hold is VoteHold.UNTIL_CAUGHT_UP
    cluster.restart(3)
    cluster.run(5)
    assert b"needs node 3" in cluster.data(1)
    # (mypy keeps the value asserted above, which the calls since changed)
    assert cluster.nodes[2].vote_hold is VoteHold.NONE  # type: ignore[comparison-overlap]
    assert leader.status().peers[2].state == "replicate"


def test_a_deposed_leader_cannot_use_a_rejoining_replica():
    """Node 1, cut off, still believes it leads term 2; nodes 2 and 3 moved to term 3 and
    committed without it. Node 2 loses its disk (and its term): it may follow node 1 again,
    but node 1 must neither commit with it nor serve a read, nor release it."""
    cluster = Cluster(seed=5, check_quorum=False, pre_vote=True)
    cluster.elect(1)
    cluster.isolate(1)
    cluster.elect(3)
    cluster.nodes[3].propose(b"term 3 write")
    cluster.stabilize()
    assert b"term 3 write" in cluster.data(2)
    old = cluster.nodes[1]
    assert old.role is Role.LEADER and old.term < cluster.nodes[3].term
    cluster.tick([1], times=3 * old.config.election_ticks)  # its time passed too
    cluster.stabilize()
    wipe(cluster, 2, hold=VoteHold.UNTIL_CAUGHT_UP)
    cluster.heal()
    cluster.partition([1, 2], [3])  # node 2 hears only the deposed leader
    old.propose(b"stale write")
    old.read_index(b"stale read")
    cluster.run(10)
    assert cluster.nodes[2].term == old.term  # it did follow node 1 ...
    assert b"stale write" not in cluster.data(1)  # ... which committed nothing with it
    assert not cluster.read_states[1]  # nor confirmed a read
    assert cluster.nodes[2].vote_hold is VoteHold.UNTIL_CAUGHT_UP
    assert not any(
        isinstance(m, AppendEntries | Heartbeat) and m.release_hold and m.src == 1
        for m in cluster.sent
    )
    # Healed: node 3's term wins, node 2 catches up from it and is released.
    cluster.heal()
    cluster.run(30)
    assert cluster.nodes[3].role is Role.LEADER
    assert b"term 3 write" in cluster.data(2)
    # (mypy keeps the value asserted above, which the calls since changed)
    assert cluster.nodes[2].vote_hold is VoteHold.NONE  # type: ignore[comparison-overlap]


def test_an_idle_leader_commits_an_empty_entry_to_release_a_rejoining_replica():
    cluster = Cluster(seed=3)
    cluster.elect(1)
    cluster.nodes[1].propose(b"x")
    cluster.stabilize()
    wipe(cluster, 2, hold=VoteHold.UNTIL_CAUGHT_UP)
    last = cluster.nodes[1].log.last_index()
    cluster.run(10)  # no proposal
    assert cluster.nodes[1].log.committed > last
    assert cluster.nodes[2].vote_hold is VoteHold.NONE
    assert cluster.data(2) == cluster.data(1)


def test_no_leadership_goes_to_a_held_replica():
    cluster = Cluster(seed=4)
    cluster.elect(1)
    cluster.nodes[2].hold_votes(VoteHold.UNTIL_RELEASED)
    cluster.run(3)  # its answers tell the leader it holds its votes
    cluster.nodes[1].transfer_leader(2)
    cluster.stabilize()
    assert not any(isinstance(m, TimeoutNow) for m in cluster.sent)
    assert cluster.nodes[1].role is Role.LEADER
    # A TimeoutNow that arrives anyway (sent before the leader knew) is ignored.
    cluster.nodes[2].step(TimeoutNow(1, 1, 2, cluster.nodes[1].term))
    assert cluster.nodes[2].role is Role.FOLLOWER
    cluster.run(3)
    assert cluster.nodes[2].vote_hold is VoteHold.UNTIL_RELEASED  # waits for its caller
    cluster.nodes[2].hold_votes(VoteHold.NONE)
    cluster.run(3)
    cluster.nodes[1].transfer_leader(2)
    cluster.stabilize()
    # (mypy keeps the value asserted above, which the calls since changed)
    assert cluster.nodes[2].role is Role.LEADER  # type: ignore[comparison-overlap]


def test_a_replica_wiped_again_before_the_leader_heard_it_was_released_catches_up():
    """The leader still counts it as rejoining (with the match it acknowledged while
    rejoining) when it loses its data again: its rejections must lower that match, or the
    leader probes above its log forever."""
    cluster = Cluster(seed=6)
    cluster.elect(1)
    wipe(cluster, 2, hold=VoteHold.UNTIL_CAUGHT_UP)
    cluster.crash(3)  # no commit without node 2 now: the hold stays
    for n in range(4):
        cluster.nodes[1].propose(b"w%d" % n)
    cluster.run(3)
    leader = cluster.nodes[1]
    assert leader.status().peers[2].match == leader.log.last_index()
    wipe(cluster, 2, hold=VoteHold.UNTIL_CAUGHT_UP)
    cluster.restart(3)
    cluster.run(20)
    assert cluster.nodes[2].log.last_index() == leader.log.last_index()
    assert cluster.nodes[2].vote_hold is VoteHold.NONE
