"""The classic traps of Raft, each replayed step by step on a small cluster.

Scenarios recorded as traces (check-quorum, pre-vote, the partitioned leader, ReadIndex,
learners, leases, leader transfer) are in tests/raft/testdata, run by test_scripts.py;
the tests here check what those do not.
"""

from __future__ import annotations

import random

import pytest

from node.raft import (
    ConfChange,
    ConfChangeRejected,
    ConfChangeType,
    EntryType,
    LeaderTransferInProgress,
    NotLeader,
    Role,
    VoteHold,
)
from node.raft.messages import (
    AppendEntries,
    InstallSnapshot,
    RequestVote,
    SnapshotResponse,
    VoteResponse,
)
from tests.raft.harness import Cluster


def appends_with(index: int):
    return lambda m: isinstance(m, AppendEntries) and any(e.index == index for e in m.entries)


def assert_same_applied(cluster: Cluster, nodes: list[int]) -> None:
    sequences = [[(e.index, e.term, e.data) for e in cluster.applied[n]] for n in nodes]
    shortest = min(len(s) for s in sequences)
    for sequence in sequences:
        assert sequence[:shortest] == sequences[0][:shortest]


def test_figure_8_old_term_entry_is_not_committed_by_counting_replicas():
    """Raft paper, figure 8: a leader must not commit an entry of an earlier term because a
    majority stores it; another leader could still overwrite it."""
    c = Cluster(voters=(1, 2, 3, 4, 5), max_append_entries=1)
    # (a) 1 leads in term 2 and gets its entry X to index 2 on node 2 only.
    c.elect(1)
    c.run(1)
    assert c.nodes[1].term == 2 and c.nodes[1].log.last_index() == 2  # index 2: 1's no-op
    x = c.nodes[1].propose(b"X")
    assert x == 3
    c.process(1)
    c.deliver(lambda m: m.dst == 2)
    c.drop(lambda m: m.src == 1)
    c.process(2)
    c.drop(lambda m: True)  # 2's acknowledgement is lost
    # (b) 1 crashes; 5 is elected in term 3 by 3 and 4 and appends its no-op at index 3,
    # which nobody else receives.
    c.crash(1)
    c.isolate(2)
    c.elect_without_appends(5)
    assert c.nodes[5].term == 3
    assert c.nodes[5].log.term(3) == 3
    assert [c.nodes[n].log.last_index() for n in (3, 4)] == [2, 2]
    c.crash(5)
    c.heal()
    # (c) 1 restarts and is elected in term 4 (with 2, 3, 4); it brings X (term 2) to 3 and 4
    # but its own term-4 entry to nobody. X is on 1, 2, 3, 4: a majority.
    c.restart(1)
    c.elect_without_appends(1)
    assert c.nodes[1].term == 4
    leader = c.nodes[1]
    own_entry = leader.log.last_index()
    assert leader.log.term(own_entry) == 4
    for _ in range(20):
        c.tick([1])
        c.process(1)
        # Appends carrying the term-4 entry are lost once they could be accepted.
        c.drop(lambda m: appends_with(own_entry)(m) and c.nodes[m.dst].log.last_index() >= x)
        c.deliver(lambda m: m.src == 1 and m.dst in (3, 4))
        c.drop(lambda m: m.src == 1)
        for n in (3, 4):
            c.process(n)
        c.deliver(lambda m: m.dst == 1)
        c.drop(lambda m: True)
    assert [c.nodes[n].log.term(x) for n in (1, 2, 3, 4)] == [2, 2, 2, 2]
    assert leader.status().peers[3].match >= x and leader.status().peers[4].match >= x
    # X is stored by a majority but must not count as committed: its term is not 4.
    assert leader.log.committed < x
    c.process(1)
    assert all(e.data != b"X" for e in c.applied[1])
    # (d) 1 crashes; 5 restarts and wins term 5 (its last term 3 beats the others' 2),
    # overwriting X everywhere. Had X been committed, this would lose it.
    c.crash(1)
    c.restart(5)
    c.elect(5)
    c.run(3)
    for n in (2, 3, 4, 5):
        assert c.nodes[n].log.term(3) == 3
        assert all(e.data != b"X" for e in c.applied[n])
    c.restart(1)
    c.run(10)
    assert c.nodes[1].log.term(3) == 3
    assert_same_applied(c, [1, 2, 3, 4, 5])


def test_without_check_quorum_an_isolated_leader_stays_leader():
    c = Cluster(check_quorum=False, lease_reads=False)
    c.elect(1)
    c.isolate(1)
    c.tick([1], times=50)
    c.stabilize()
    assert c.nodes[1].role is Role.LEADER


def test_leader_lease_makes_followers_ignore_a_candidate():
    c = Cluster(pre_vote=False, check_quorum=True)
    c.elect(1)
    c.run(2)
    term = c.nodes[1].term
    # Node 3 is cut off from the leader only, times out and campaigns through node 2.
    c.partition([1], [3])
    c.blocked.discard((1, 2))
    for _ in range(40):
        c.tick([3])
        c.stabilize()
    votes = [m for m in c.sent if isinstance(m, RequestVote) and m.src == 3]
    assert votes, "node 3 never campaigned"
    assert c.nodes[2].term == term and c.nodes[2].leader == 1  # ignored: it heard from 1
    assert c.nodes[1].role is Role.LEADER


def test_snapshot_chunk_loss_is_recovered():
    c = Cluster(snapshot_chunk_bytes=32, compaction_lag=0)
    c.elect(1)
    for i in range(30):
        c.nodes[1].propose(b"value-%02d" % i)
    c.stabilize()
    c.compact(1)
    c.add_node(4)
    c.nodes[1].propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    dropped = 0
    for _ in range(40):
        c.tick()
        c.process_all()
        # Lose every third chunk and every answer to the first few.
        for m in list(c.queue):
            if isinstance(m, InstallSnapshot) and m.offset // 32 % 3 == 1 and dropped < 6:
                c.queue.remove(m)
                dropped += 1
            elif isinstance(m, SnapshotResponse) and dropped < 3:
                c.queue.remove(m)
        c.deliver()
        c.process_all()
    c.stabilize()
    assert dropped >= 3
    assert c.data(4) == c.data(1)


def test_leader_transfer_under_load():
    c = Cluster(max_append_entries=4)
    c.elect(1)
    proposed = []
    for round_number in range(10):
        for i in range(5):
            proposed.append(b"load-%d-%d" % (round_number, i))
            c.nodes[1].propose(proposed[-1])
        c.process(1)
        c.deliver(lambda m: m.dst != 3)  # node 3 lags behind
        c.process_all()
        c.deliver(lambda m: m.dst == 1)
    c.nodes[1].transfer_leader(3)
    with pytest.raises(LeaderTransferInProgress) as refused:
        c.nodes[1].propose(b"during")
    assert refused.value.leader_id == 3
    old_term = c.nodes[1].term
    c.stabilize()
    assert c.nodes[3].role is Role.LEADER and c.nodes[3].term == old_term + 1
    c.nodes[3].propose(b"after")
    c.stabilize()
    for n in (1, 2, 3):
        assert c.data(n) == [*proposed, b"after"]
    assert c.nodes[1].leader == 3


def test_leader_transfer_gives_up_after_an_election_timeout():
    c = Cluster()
    c.elect(1)
    c.isolate(3)
    c.nodes[1].transfer_leader(3)
    for _ in range(c.nodes[1].config.election_ticks):
        c.tick([1, 2])
        c.stabilize()
    assert c.nodes[1].role is Role.LEADER
    c.nodes[1].propose(b"accepted again")


def test_read_index_waits_for_the_new_leader_to_commit_in_its_term():
    c = Cluster(lease_reads=False)
    c.elect(1)
    c.nodes[1].propose(b"v1")
    c.process(1)  # v1 reaches 2 and 3 but they do not learn that it is committed
    c.deliver()
    c.process_all()
    c.deliver()
    c.drop(lambda m: True)
    assert c.nodes[1].log.committed > c.nodes[2].log.committed
    c.crash(1)
    c.elect_without_appends(2)
    noop = c.nodes[2].log.last_index()
    # Before its no-op commits, 2 does not know the commit index of the last term.
    c.nodes[2].read_index(b"early")
    c.run(3)
    [state] = c.read_states[2]
    assert state.index >= noop
    assert c.data(2) == [b"v1"]


def test_duplicated_and_reordered_messages_are_harmless():
    rng = random.Random(7)
    c = Cluster(voters=(1, 2, 3, 4, 5), max_append_entries=3, max_inflight_appends=4)
    c.elect(1)
    proposed = []
    for step in range(300):
        if step % 3 == 0 and c.leader():
            try:
                proposed.append(b"p%d" % step)
                c.nodes[c.leader()].propose(proposed[-1])
            except NotLeader:
                proposed.pop()
        if step % 5 == 0:
            c.tick()
        c.process_all()
        # Shuffle what is in flight, duplicate some of it, deliver about half.
        rng.shuffle(c.queue)
        c.queue.extend(m for m in list(c.queue) if rng.random() < 0.2)
        half = set(range(0, len(c.queue), 2))
        picked = [m for i, m in enumerate(c.queue) if i in half]
        c.queue = [m for i, m in enumerate(c.queue) if i not in half]
        for m in picked:
            if m.dst in c.nodes:
                c.nodes[m.dst].step(m)
    c.run(20)
    leader = c.leader()
    applied = c.data(leader)
    assert len(applied) == len(set(applied))  # nothing applied twice
    assert len(applied) >= len(proposed) // 2
    assert_same_applied(c, [1, 2, 3, 4, 5])
    for n in (1, 2, 3, 4, 5):
        assert c.data(n) == applied


def test_restart_keeps_the_vote_so_nobody_votes_twice():
    c = Cluster(pre_vote=False)
    c.forget_leader()
    c.campaign(1)
    assert c.nodes[2].vote == 1 or c.nodes[3].vote == 1
    voter = 2 if c.nodes[2].vote == 1 else 3
    term = c.nodes[voter].term
    c.crash(voter)
    c.restart(voter)
    restarted = c.nodes[voter]
    assert (restarted.term, restarted.vote) == (term, 1)
    # A competing candidate of the same term asks the restarted node: refused.
    request = RequestVote(1, 3 if voter == 2 else 2, voter, term, 100, 100)
    restarted._guard_elapsed = restarted.config.election_ticks
    restarted.step(request)
    ready = restarted.ready()
    [answer] = ready.messages
    assert isinstance(answer, VoteResponse) and not answer.granted


def test_membership_change_one_at_a_time_and_removed_leader_steps_down():
    c = Cluster(voters=(1, 2, 3))
    c.elect(1)
    c.stabilize()
    c.add_node(4)
    c.nodes[1].propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    with pytest.raises(ConfChangeRejected):
        c.nodes[1].propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 2))
    c.stabilize()
    c.nodes[1].propose_conf_change(ConfChange(ConfChangeType.PROMOTE_LEARNER, 4))
    c.stabilize()
    c.nodes[1].propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 1))
    c.stabilize()
    assert c.nodes[1].role is Role.FOLLOWER
    for n in (2, 3, 4):
        assert c.nodes[n].conf.voters == (2, 3, 4)
    c.forget_leader()
    c.run(40)
    leader = c.leader()
    assert leader in (2, 3, 4)
    c.nodes[leader].propose(b"without-1")
    c.stabilize()
    for n in (2, 3, 4):
        assert c.data(n)[-1] == b"without-1"
    conf_entries = [e for e in c.applied[2] if e.type is EntryType.CONF_CHANGE]
    assert len(conf_entries) == 4  # the initial membership and three changes


def test_a_replica_whose_only_copy_removes_it_may_still_be_elected_to_commit_its_removal():
    """Found by the simulation (seed 17864 of the 20,000-seed run): a leader appends its own
    removal, crashes before anyone else has it, and restarts. Its log is the longest, so no
    other voter can win its vote, and with one voter holding its vote (a lost disk), no one
    could be elected at all: the removed replica, which alone could be, did not stand
    because its latest membership excludes it. It stands now (it is a voter of the
    committed membership), wins with the votes of the new membership, commits the change
    and steps down; the others then elect a leader among themselves."""
    c = Cluster(voters=(1, 2, 3, 4), eager_commit=False)
    c.elect(4)
    c.nodes[4].propose(b"x")
    c.stabilize()
    c.nodes[4].propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 4))
    c.process(4)  # the removal is appended on 4 only...
    c.crash(4)  # ...which crashes before sending it
    c.restart(4)
    c.nodes[1].hold_votes(VoteHold.UNTIL_CAUGHT_UP)  # node 1 lost its disk
    c.run(200)
    leader = c.leader()
    assert leader in (2, 3), {i: n.role for i, n in c.nodes.items()}
    assert c.nodes[leader].conf.voters == (1, 2, 3)
    c.nodes[leader].propose(b"after")
    c.run(20)
    assert c.data(2)[-1:] == [b"after"] and c.data(3)[-1:] == [b"after"]
