"""The fault schedule of a simulated run: at random intervals, one action among network
chaos (loss, duplication, long delays), symmetric and one-way partitions, isolating a
leader, crashes and restarts, clock-rate changes within the drift bound, leader transfers
and membership changes (add a learner, promote it, remove a voter, the leader included),
and in some seeds lost disks (a node restarts empty with its votes held, one at a time)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from node.raft import ConfChange, ConfChangeType, RaftError

if TYPE_CHECKING:
    from tests.sim.simulation import Simulation


class Nemesis:
    def __init__(self, simulation: Simulation, rng: random.Random) -> None:
        self.sim = simulation
        self.rng = rng
        self.active = True
        self.next_at = self._interval()
        self.restarts: dict[int, int] = {}  # node -> time to restart it
        self.heal_network_at: int | None = None
        self.log: list[str] = []
        self.actions: list[tuple[int, Callable[[], None]]] = [
            (3, self.chaos),
            (2, self.partition),
            (2, self.one_way),
            (2, self.isolate_leader),
            (3, self.crash),
            (2, self.crash_leader),
            (1, self.clocks),
            (2, self.transfer),
            (3, self.move if simulation.params.placement_moves else self.membership),
            (1, self.heal_network),
        ]
        if simulation.params.wipe_disks:  # appended: seeds without wipes draw as before
            self.actions.append((2, self.wipe))

    def _interval(self) -> int:
        return 1 + int(self.rng.expovariate(1 / self.sim.params.nemesis_every))

    def stop(self) -> None:
        self.active = False
        self.restarts.clear()
        self.heal_network_at = None

    def act(self, now: int) -> None:
        if not self.active:
            return
        if self.restarts:
            for node_id, at in list(self.restarts.items()):
                if at <= now:
                    del self.restarts[node_id]
                    self.sim.restart(node_id)
                    self.log.append(f"{now}: restart {node_id}")
        if self.heal_network_at is not None and now >= self.heal_network_at:
            self.heal_network_at = None
            self.sim.network.blocked.clear()
        if now < self.next_at:
            return
        self.next_at = now + self._interval()
        weights = [weight for weight, _ in self.actions]
        action = self.rng.choices([a for _, a in self.actions], weights)[0]
        action()

    def _note(self, text: str) -> None:
        self.log.append(f"{self.sim.now}: {text}")

    def _duration(self) -> int:
        ticks = self.sim.params.election_ticks * self.rng.choice((1, 3, 8, 20))
        return self.rng.randint(1, ticks * 10)

    # -- network ---------------------------------------------------------------------------

    def chaos(self) -> None:
        network = self.sim.network
        rng = self.rng
        network.drop_rate = rng.choice((0.0, 0.01, 0.1, 0.3))
        network.duplicate_rate = rng.choice((0.0, 0.05, 0.2))
        network.max_delay = rng.choice((2, 5, 20, 60))
        network.long_delay_rate = rng.choice((0.0, 0.02, 0.1))
        self._note(
            f"network drop {network.drop_rate} dup {network.duplicate_rate} "
            f"delay {network.max_delay} long {network.long_delay_rate}"
        )

    def partition(self) -> None:
        nodes = sorted(self.sim.nodes)
        self.rng.shuffle(nodes)
        cut = self.rng.randint(1, len(nodes) - 1)
        left, right = set(nodes[:cut]), set(nodes[cut:])
        blocked = self.sim.network.blocked
        blocked.clear()
        for a in left:
            for b in right:
                blocked.add((a, b))
                blocked.add((b, a))
        self.heal_network_at = self.sim.now + self._duration()
        self._note(f"partition {sorted(left)} | {sorted(right)}")

    def one_way(self) -> None:
        nodes = sorted(self.sim.nodes)
        blocked = self.sim.network.blocked
        for _ in range(self.rng.randint(1, 3)):
            a, b = self.rng.sample(nodes, 2)
            blocked.add((a, b))
            self._note(f"one-way block {a} -> {b}")
        self.heal_network_at = self.sim.now + self._duration()

    def isolate_leader(self) -> None:
        group = self.rng.randint(1, self.sim.params.groups)
        leader = self.sim.leader_of(group)
        if leader is None:
            return
        blocked = self.sim.network.blocked
        blocked.clear()
        for other in self.sim.nodes:
            if other != leader.id:
                blocked.add((leader.id, other))
                blocked.add((other, leader.id))
        self.heal_network_at = self.sim.now + self._duration()
        self._note(f"isolate leader {leader.id} of group {group}")

    def heal_network(self) -> None:
        self.sim.network.blocked.clear()
        self.sim.network.calm()
        self._note("heal network")

    # -- nodes -----------------------------------------------------------------------------

    def crash(self, node_id: int | None = None) -> None:
        sim = self.sim
        up = [n for n, node in sorted(sim.nodes.items()) if node.up]
        if node_id is None:
            if not up:
                return
            node_id = self.rng.choice(up)
        sim.crash(node_id)
        self.restarts[node_id] = sim.now + self._duration()
        self._note(f"crash {node_id}")

    def wipe(self) -> None:
        """Crash a node and lose its disk; it restarts from the groups' first state, its
        votes held until it has caught up. One lost disk at a time: with two, a group could
        lose every copy of an acknowledged entry, which no protocol survives."""
        sim = self.sim
        if any(node.held() for node in sim.nodes.values()) or not sim.membership_settled():
            # A membership change in flight is a second fault for a group that loses a
            # replica's data (its voters disagree on who votes; see `membership`).
            return
        up = [n for n, node in sorted(sim.nodes.items()) if node.up]
        if not up:
            return
        node_id = self.rng.choice(up)
        sim.wipe(node_id)
        self.restarts[node_id] = sim.now + self._duration()
        self._note(f"wipe {node_id}")

    def crash_leader(self) -> None:
        leader = self.sim.leader_of(self.rng.randint(1, self.sim.params.groups))
        if leader is not None:
            self.crash(leader.id)

    def clocks(self) -> None:
        for node in self.sim.nodes.values():
            node.rate = self.sim.random_rate()
        self._note("new clock rates")

    # -- Raft operations -------------------------------------------------------------------

    def transfer(self) -> None:
        group = self.rng.randint(1, self.sim.params.groups)
        leader = self.sim.leader_of(group)
        if leader is None:
            return
        others = [v for v in leader.conf.voters if v != leader.id]
        if not others:
            return
        target = self.rng.choice(others)
        leader.transfer_leader(target)
        self.sim.nodes[leader.id].dirty = True
        self._note(f"transfer group {group} from {leader.id} to {target}")

    def move(self) -> None:
        note = self.sim.placement.start_move()
        if note:
            self._note(note)

    def membership(self) -> None:
        sim = self.sim
        group = self.rng.randint(1, sim.params.groups)
        if any(node.held() for node in sim.nodes.values()):
            # A held replica lowers what its groups tolerate by one; a membership change on
            # top (a four-voter configuration, a removed member whose log is the longest) is
            # a second fault, after which a group may rightly wait for an operator.
            return
        leader = sim.leader_of(group)
        if leader is None:
            return
        conf = leader.conf
        members = set(conf.voters) | set(conf.learners)
        sim.nodes[leader.id].dirty = True
        try:
            if conf.learners:
                learner = self.rng.choice(conf.learners)
                leader.propose_conf_change(ConfChange(ConfChangeType.PROMOTE_LEARNER, learner))
                self._note(f"group {group}: promote {learner}")
            elif len(conf.voters) > sim.params.replicas:
                victim = self.rng.choice(conf.voters)
                leader.propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, victim))
                self._note(f"group {group}: remove {victim}")
            else:
                candidates = [
                    n for n, node in sorted(sim.nodes.items()) if n not in members and node.up
                ]
                if not candidates:
                    return
                new = self.rng.choice(candidates)
                index = leader.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, new))
                sim.added_at[(group, new)] = index
                node = sim.nodes[new]
                assert node.multi is not None
                if group not in node.multi:
                    sim.create_replica(node, group)
                self._note(f"group {group}: add learner {new}")
        except RaftError as error:
            self._note(f"group {group}: membership change refused: {error}")
