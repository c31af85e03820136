"""node/membership_steps.py: the next change towards a placement, alone and driving real
Raft replicas (tests/raft/harness.py) until the group holds the target membership."""

from __future__ import annotations

from node.membership_steps import StepKind, next_step
from node.raft import ConfChangeType, ConfState, Role, Status
from node.raft.errors import RaftError
from node.raft.ready import PeerStatus
from tests.raft.harness import Cluster


def status(voters, learners=(), me=1, commit=10, peers=None, role=Role.LEADER) -> Status:
    if peers is None:
        peers = {n: (commit, "replicate") for n in (*voters, *learners) if n != me}
    return Status(
        node_id=me,
        group_id=1,
        role=role,
        term=2,
        vote=me,
        leader=me,
        commit=commit,
        applied=commit,
        last_index=commit,
        first_index=1,
        conf=ConfState(tuple(voters), tuple(learners)),
        peers={
            n: PeerStatus(match, match + 1, state, n in learners)
            for n, (match, state) in peers.items()
        },
    )


def test_settled_when_membership_is_the_target():
    assert next_step(status((1, 2, 3)), (1, 2, 3)).kind is StepKind.SETTLED


def test_a_follower_waits():
    assert next_step(status((1, 2, 3), role=Role.FOLLOWER), (1, 2, 4)).kind is StepKind.WAIT


def test_a_move_adds_a_learner_first():
    step = next_step(status((1, 2, 3)), (1, 2, 4))
    assert step.kind is StepKind.CHANGE and step.change is not None
    assert (step.change.type, step.change.node_id) == (ConfChangeType.ADD_LEARNER, 4)


def test_a_learner_behind_is_waited_for_then_promoted():
    behind = status(
        (1, 2, 3), (4,), peers={2: (10, "replicate"), 3: (10, "replicate"), 4: (3, "snapshot")}
    )
    step = next_step(behind, (1, 2, 4))
    assert step.kind is StepKind.WAIT and "catching up" in step.reason
    step = next_step(status((1, 2, 3), (4,)), (1, 2, 4))
    assert step.change is not None and step.change.type is ConfChangeType.PROMOTE_LEARNER


def test_the_old_voter_goes_after_the_new_one_votes():
    step = next_step(status((1, 2, 3, 4)), (1, 2, 4))
    assert step.change is not None
    assert (step.change.type, step.change.node_id) == (ConfChangeType.REMOVE_NODE, 3)


def test_an_unwanted_learner_is_removed_first():
    step = next_step(status((1, 2, 3), (5,)), (1, 2, 4))
    assert step.change is not None
    assert (step.change.type, step.change.node_id) == (ConfChangeType.REMOVE_NODE, 5)


def test_the_leader_leaving_hands_over_its_leadership_first():
    step = next_step(status((1, 2, 3, 4)), (2, 3, 4))
    assert step.kind is StepKind.TRANSFER and step.node in (2, 3, 4)


def test_no_removal_below_a_majority_of_up_to_date_voters():
    # Voters 1..4, the target drops 4; nodes 2 and 3 are down: 1 alone of {1, 2, 3}.
    peers = {2: (1, "probe"), 3: (1, "probe"), 4: (10, "replicate")}
    step = next_step(status((1, 2, 3, 4), peers=peers), (1, 2, 3))
    assert step.kind is StepKind.WAIT and "majority" in step.reason


def test_no_promotion_that_leaves_too_few_up_to_date_voters():
    # Voters 1, 2, 3 with 2 and 3 down; promoting 4 gives 2 current of 4: not a majority.
    peers = {2: (1, "probe"), 3: (1, "probe"), 4: (10, "replicate")}
    step = next_step(status((1, 2, 3), (4,), peers=peers), (1, 2, 3, 4))
    assert step.kind is StepKind.WAIT and "majority" in step.reason


def test_replacing_a_dead_voter_keeps_a_majority_of_live_ones():
    # Node 3 is dead; 4 replaces it: add, promote (1, 2, 4 are current of 4 voters), remove 3.
    peers = {2: (10, "replicate"), 3: (2, "probe"), 4: (10, "replicate")}
    step = next_step(status((1, 2, 3), (4,), peers=peers), (1, 2, 4))
    assert step.change is not None and step.change.type is ConfChangeType.PROMOTE_LEARNER
    step = next_step(status((1, 2, 3, 4), peers=peers), (1, 2, 4))
    assert step.change is not None and step.change.node_id == 3


def test_metadata_learners_are_added_and_kept_as_learners():
    step = next_step(status((1, 2, 3)), (1, 2, 3), learners=(6,))
    assert step.change is not None and step.change.type is ConfChangeType.ADD_LEARNER
    assert next_step(status((1, 2, 3), (6,)), (1, 2, 3), learners=(6,)).kind is StepKind.SETTLED


def drive(cluster: Cluster, voters: tuple[int, ...], rounds: int = 200) -> list[str]:
    """Take the steps the leader's status asks for until the group settles."""
    done: list[str] = []
    for _ in range(rounds):
        cluster.stabilize()
        leader = cluster.nodes[cluster.leader()]
        step = next_step(leader.status(), voters)
        if step.kind is StepKind.SETTLED:
            return done
        if step.kind is StepKind.CHANGE:
            assert step.change is not None
            try:
                leader.propose_conf_change(step.change)
                done.append(f"{step.change.type.name} {step.change.node_id}")
            except RaftError:
                pass
        elif step.kind is StepKind.TRANSFER:
            leader.transfer_leader(step.node)
            done.append(f"TRANSFER {step.node}")
        cluster.tick(times=1)
    raise AssertionError(f"not settled after {rounds} rounds: {done}")


def test_drives_a_raft_group_from_1_2_3_to_2_3_4_with_writes_in_between():
    cluster = Cluster((1, 2, 3))
    cluster.elect(1)
    for i in range(20):
        cluster.nodes[1].propose(b"w%d" % i)
    cluster.stabilize()
    cluster.add_node(4)  # the new node's empty replica, waiting to be added
    done = drive(cluster, (2, 3, 4))
    assert done[:2] == ["ADD_LEARNER 4", "PROMOTE_LEARNER 4"]
    assert "TRANSFER" in " ".join(done) and done[-1] == "REMOVE_NODE 1"
    leader = cluster.nodes[cluster.leader()]
    assert leader.conf == ConfState((2, 3, 4), ())
    leader.propose(b"after")
    cluster.stabilize()
    for node in (2, 3, 4):
        assert cluster.data(node)[-1] == b"after"
        assert [d for d in cluster.data(node) if d.startswith(b"w")] == [
            b"w%d" % i for i in range(20)
        ]


def test_a_learner_holding_its_votes_is_not_promoted():
    held = status((1, 2, 3), (4,))
    peers = dict(held.peers)
    peers[4] = PeerStatus(10, 11, "replicate", True, rejoining=True)
    step = next_step(
        Status(**{**{f: getattr(held, f) for f in held.__dataclass_fields__}, "peers": peers}),
        (1, 2, 4),
    )
    assert step.kind is StepKind.WAIT and "catching up" in step.reason
