"""A follower whose disk lost the tail of what it had acknowledged (a lying disk: fsync
returned, the data did not survive) restarts one entry short of what its leader recorded.
The leader must send it what it lacks instead of probing above its log for ever."""

from __future__ import annotations

from node.raft import Role, VoteHold
from node.raft.messages import AppendResponse
from tests.raft.harness import Cluster


def lose_acknowledged_tail(cluster: Cluster, node_id: int, entries: int = 1) -> int:
    """Crash `node_id` and drop the last `entries` entries it persisted (and acknowledged);
    returns its last index after the loss."""
    leader = cluster.nodes[cluster.leader()]
    assert leader.status().peers[node_id].match == leader.log.last_index()
    cluster.crash(node_id)
    storage = cluster.storage[node_id]
    del storage.entries[-entries:]
    return storage.entries[-1].index


def writes_reach(cluster: Cluster, node_id: int, count: int) -> None:
    leader = cluster.nodes[cluster.leader()]
    for n in range(count):
        leader.propose(b"later %d" % n)
        cluster.run(1)
    cluster.run(5)
    assert cluster.nodes[node_id].log.last_index() == leader.log.last_index()
    assert cluster.data(node_id) == cluster.data(cluster.leader())


def test_a_follower_that_lost_acknowledged_entries_and_says_so_is_caught_up_and_released():
    cluster = Cluster(seed=8)
    cluster.elect(1)
    for n in range(5):
        cluster.nodes[1].propose(b"w%d" % n)
    cluster.stabilize()
    last = lose_acknowledged_tail(cluster, 2)
    node = cluster.restart(2)
    node.hold_votes(VoteHold.UNTIL_CAUGHT_UP)  # what the host does on a torn tail
    assert node.log.last_index() == last
    writes_reach(cluster, 2, 3)
    assert node.vote_hold is VoteHold.NONE
    assert cluster.nodes[1].role is Role.LEADER  # no leader move was needed


def test_a_rejection_below_the_acknowledged_match_resets_the_progress_even_unannounced():
    """The loss went unnoticed by the follower (whole records vanished, no torn bytes): its
    rejection of an index it had acknowledged in this term is the evidence. The leader
    lowers its match to what the follower has and sends the rest."""
    cluster = Cluster(seed=9)
    cluster.elect(1)
    for n in range(5):
        cluster.nodes[1].propose(b"w%d" % n)
    cluster.stabilize()
    last = lose_acknowledged_tail(cluster, 2, entries=2)
    cluster.restart(2)
    since = len(cluster.sent)
    writes_reach(cluster, 2, 3)
    rejections = [
        m for m in cluster.sent[since:] if isinstance(m, AppendResponse) and m.src == 2 and m.reject
    ]
    assert rejections and rejections[0].hint_index == last
    assert cluster.nodes[1].role is Role.LEADER
