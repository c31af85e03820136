"""The next membership change that takes a Raft group towards its placement.

Pure: the group leader's status and the target membership (from the metadata map) in, one
step out. The leader calls it again after each change commits, so a move is resumed from
whatever the log holds after any crash: the state is the group's own membership, and the
target is replicated by the metadata group.

Order (the Raft dissertation's one-replica changes, as etcd and TiKV do them):
1. a learner that the target does not want is removed (it votes in nothing);
2. a wanted node that is not a member joins as a learner and catches up by snapshot and log;
3. a learner the target wants as a voter is promoted once it holds everything committed;
4. only then a voter the target does not want is removed, the leader itself last (it hands
   its leadership to an up-to-date wanted voter first).

Never below a majority of up-to-date voters: a promotion or a removal is proposed only if
the voters after it hold a majority of replicas that are up to date (replicating, within
`lag` entries of the commit index). Otherwise the step waits and says why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from node.raft import ConfChange, ConfChangeType, Role, Status


class StepKind(enum.Enum):
    SETTLED = "settled"  # the membership is the target
    WAIT = "wait"  # nothing can be done safely now (a learner catching up, a voter down)
    CHANGE = "change"  # propose `change`
    TRANSFER = "transfer"  # hand leadership to `node`, then the new leader goes on


@dataclass(frozen=True, slots=True)
class MembershipStep:
    kind: StepKind
    change: ConfChange | None = None
    node: int = 0
    reason: str = ""


SETTLED = MembershipStep(StepKind.SETTLED)


def next_step(
    status: Status,
    voters: tuple[int, ...],
    learners: tuple[int, ...] = (),
    lag: int = 0,
) -> MembershipStep:
    """The step the leader whose status this is takes towards `voters` and `learners`.
    A replica that is not the leader gets a WAIT."""
    if status.role is not Role.LEADER:
        return MembershipStep(StepKind.WAIT, reason="not the leader")
    if not voters:
        return MembershipStep(StepKind.WAIT, reason="no voters in the target")
    conf = status.conf
    wanted_voters, wanted_learners = set(voters), set(learners) - set(voters)
    members = set(conf.voters) | set(conf.learners)
    current = _up_to_date(status, lag)

    for learner in conf.learners:
        if learner not in wanted_voters and learner not in wanted_learners:
            return _change(ConfChangeType.REMOVE_NODE, learner)
    for node in sorted(wanted_voters | wanted_learners):
        if node not in members:
            return _change(ConfChangeType.ADD_LEARNER, node)
    for learner in conf.learners:
        if learner in wanted_voters:
            if learner not in current or status.peers[learner].match < status.commit:
                return MembershipStep(
                    StepKind.WAIT, node=learner, reason=f"learner {learner} is catching up"
                )
            after = (*conf.voters, learner)
            if not _majority_current(after, current | {learner}):
                return _blocked(after, current)
            return _change(ConfChangeType.PROMOTE_LEARNER, learner)
    extra = [v for v in conf.voters if v not in wanted_voters]
    if not extra:
        return SETTLED
    # Other voters before the leader itself.
    extra.sort(key=lambda v: (v == status.node_id, v))
    victim = extra[0]
    after = tuple(v for v in conf.voters if v != victim)
    if not after:
        return MembershipStep(StepKind.WAIT, reason="cannot remove the last voter")
    if not _majority_current(after, current):
        return _blocked(after, current)
    if victim == status.node_id:
        successor = [v for v in after if v in current and v in wanted_voters]
        if not successor:
            return MembershipStep(StepKind.WAIT, reason="no up-to-date voter to lead instead")
        best = max(successor, key=lambda v: (status.peers[v].match, -v))
        return MembershipStep(StepKind.TRANSFER, node=best, reason="leader leaves the group")
    return _change(ConfChangeType.REMOVE_NODE, victim)


def _change(kind: ConfChangeType, node: int) -> MembershipStep:
    return MembershipStep(StepKind.CHANGE, ConfChange(kind, node), node)


def _up_to_date(status: Status, lag: int) -> set[int]:
    """The leader and the peers replicating within `lag` entries of the commit index (not
    one holding its votes: its answers count towards no majority)."""
    current = {status.node_id}
    for peer, progress in status.peers.items():
        if (
            progress.state == "replicate"
            and not progress.rejoining
            and progress.match + lag >= status.commit
        ):
            current.add(peer)
    return current


def _majority_current(voters: tuple[int, ...], current: set[int]) -> bool:
    return sum(v in current for v in voters) >= len(voters) // 2 + 1


def _blocked(voters: tuple[int, ...], current: set[int]) -> MembershipStep:
    behind = ", ".join(str(v) for v in voters if v not in current)
    return MembershipStep(
        StepKind.WAIT,
        reason=f"voters {', '.join(map(str, voters))} would not hold a majority of up-to-date "
        f"replicas (behind or down: {behind})",
    )
