"""Placement moves in the simulation: the nemesis gives a group a new placement (one of
its replicas to another node, as node/placement.py plans for add, remove and replace), and
the group's current leader takes it there with node/membership_steps.py, the node's own
code: a learner on the new node, caught up by log or snapshot, promoted, then the old
replica removed (the leader itself after handing over its leadership). Crashes, wipes,
partitions and loss go on meanwhile; the checkers watch every replica; after healing every
move must finish (liveness)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from node.membership_steps import StepKind, next_step
from node.raft import ConfChangeType, RaftError

if TYPE_CHECKING:
    from tests.sim.simulation import Simulation

DRIVE_EVERY = 5  # time units between two looks of the driver at each group


class PlacementDriver:
    def __init__(self, simulation: Simulation, rng: random.Random) -> None:
        self.sim = simulation
        self.rng = rng
        self.targets: dict[int, tuple[int, ...]] = {}  # group -> wanted voters
        self.moves_started = 0
        self.moves_finished = 0
        self.changes = 0

    def start_move(self) -> str:
        """The nemesis's action: one replica of a group without a move goes elsewhere."""
        sim = self.sim
        idle = [g for g in sorted(sim.hosts) if g not in self.targets]
        if not idle:
            return ""
        group = self.rng.choice(idle)
        leader = sim.leader_of(group)
        if leader is None or leader.conf.learners:
            return ""
        voters = leader.conf.voters
        others = [n for n in sorted(sim.nodes) if n not in voters]
        if not others:
            return ""
        source, target = self.rng.choice(voters), self.rng.choice(others)
        self.targets[group] = tuple(sorted({*voters, target} - {source}))
        self.moves_started += 1
        return f"group {group}: move {source} -> {target}"

    def drive(self) -> None:
        sim = self.sim
        if sim.now % DRIVE_EVERY or not self.targets:
            return
        if any(node.held() for node in sim.nodes.values()):
            return  # as the nemesis's own changes: no change on top of a lost disk
        for group, voters in list(self.targets.items()):
            leader = sim.leader_of(group)
            if leader is None:
                continue
            step = next_step(leader.status(), voters)
            if step.kind is StepKind.SETTLED:
                if not leader._pending_conf_index > leader.log.committed:
                    del self.targets[group]
                    self.moves_finished += 1
                continue
            try:
                if step.kind is StepKind.TRANSFER:
                    leader.transfer_leader(step.node)
                elif step.kind is StepKind.CHANGE:
                    assert step.change is not None
                    node = sim.nodes[step.node]
                    adding = step.change.type is ConfChangeType.ADD_LEARNER
                    if adding and (not node.up or node.multi is None):
                        continue  # its replica cannot be created now; later
                    index = leader.propose_conf_change(step.change)
                    self.changes += 1
                    if adding:
                        sim.added_at[(group, step.node)] = index
                        assert node.multi is not None
                        if group not in node.multi:
                            sim.create_replica(node, group)
                    sim.nemesis.log.append(
                        f"{sim.now}: group {group}: {step.change.type.name} {step.node}"
                    )
            except RaftError:
                continue  # another change pending, a transfer running: the next look
            sim.nodes[leader.id].dirty = True

    @property
    def settled(self) -> bool:
        return not self.targets
