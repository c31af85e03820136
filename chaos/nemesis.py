"""Nemeses: faults injected into the target on a schedule, each recorded in the history
(process "nemesis") from injection to healing.

Faults:
- kill:              SIGKILL a random node; start it again when the fault heals;
- kill-leader:       SIGKILL the leader of a random shard; start it again;
- pause:             SIGSTOP a random node (half the time a shard's leader); SIGCONT;
- restart:           a clean shutdown (SIGTERM, waited for) of a random node; start it
                     again when the fault heals;
- partition-halves:  split the nodes into two random non-empty halves;
- partition-leader:  isolate the leader of a random shard;
- partition-one-way: cut the links from a shard's leader to the other nodes, or those
                     towards it (targets that can cut single links only);
- kill-all:          SIGKILL every node at once; start them all again;
- lose-disk:         SIGKILL a random node and delete its data directory; start it again
                     (it rejoins without voting until caught up); only while no other node
                     is still rejoining: two nodes without their data at once is beyond
                     what any replication survives (targets that can delete data only);
- duplicate-node:    an operator mistake: start a second process with a running node's
                     command line and data directory; it must refuse at once (the data
                     directory is locked) and touch nothing (targets that can start one);
- move-slots:        move half of one of a random shard's slot ranges to another shard
                     (`slotraft ctl move-slots`), in the background: later faults hit it
                     mid-move; a move that fails is taken up again by the next one, and
                     every move is finished before the final reads (targets that can;
                     named only, not part of "mixed");
- mixed:             a random choice among all of the above, one at a time.

A fault lasts a random time within `fault_seconds`, then heals; a quiet time within
`quiet_seconds` follows. When the schedule ends, whatever is active heals and every node
is brought back (running, resumed, reconnected).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from chaos.history import INFO, NEMESIS, History
from chaos.targets.base import Target

FAULTS = (
    "kill",
    "kill-leader",
    "pause",
    "restart",
    "partition-halves",
    "partition-leader",
    "partition-one-way",
    "kill-all",
    "lose-disk",
    "duplicate-node",
    "move-slots",
)
MIXED = "mixed"
NONE = "none"


def expand(names: list[str], target: Target) -> list[str]:
    """The fault names a --nemesis list stands for; "mixed" leaves out what the target
    cannot do, naming such a fault alone is an error."""
    chosen: list[str] = []
    for name in names:
        if name == NONE:
            continue
        if name != MIXED and name not in FAULTS:
            raise ValueError(f"unknown nemesis {name!r}; choose from {(*FAULTS, MIXED, NONE)}")
        for fault in FAULTS if name == MIXED else (name,):
            if fault == "partition-one-way" and not target.one_way_links:
                if name != MIXED:
                    raise ValueError(f"the {target.name} target cannot cut one-way links")
                continue
            if fault == "lose-disk" and not target.lost_disks:
                if name != MIXED:
                    raise ValueError(f"the {target.name} target cannot delete a node's data")
                continue
            if fault == "duplicate-node" and not target.duplicates:
                if name != MIXED:
                    raise ValueError(f"the {target.name} target cannot start duplicate nodes")
                continue
            if fault == "move-slots" and name == MIXED:
                # Named only, for now: "mixed" keeps the schedule its seeds are known by.
                continue
            if fault == "move-slots" and not target.slot_moves:
                if name != MIXED:
                    raise ValueError(f"the {target.name} target cannot move slots")
                continue
            if fault not in chosen:
                chosen.append(fault)
    return chosen


@dataclass(slots=True)
class ActiveFault:
    name: str
    description: str
    heal: Callable[[], None]
    index: int = -1  # of its entry in the history


class Nemesis:
    def __init__(
        self,
        target: Target,
        history: History,
        faults: list[str],
        rng: random.Random,
        fault_seconds: tuple[float, float] = (2.0, 8.0),
        quiet_seconds: tuple[float, float] = (1.0, 4.0),
    ) -> None:
        self.target = target
        self.history = history
        self.faults = faults
        self.rng = rng
        self.fault_seconds = fault_seconds
        self.quiet_seconds = quiet_seconds
        self.active: ActiveFault | None = None
        self.injected = 0
        self.errors: list[str] = []
        # Defects the nemesis itself observed in the cluster (a duplicate node that ran):
        # the run is not valid with any.
        self.anomalies: list[str] = []
        self.move: threading.Thread | None = None  # the slot move under way (move-slots)

    # ------------------------------------------------------------------ schedule

    def run(self, until: float, stop: threading.Event) -> None:
        """Inject faults one at a time until history time `until` (or `stop`), then heal."""
        try:
            while self.faults and not stop.is_set():
                if self.history.now() + self.fault_seconds[0] > until:
                    break
                self.inject(self.rng.choice(self.faults))
                duration = self.rng.uniform(*self.fault_seconds)
                stop.wait(max(0.0, min(duration, until - self.history.now())))
                self.heal()
                quiet = self.rng.uniform(*self.quiet_seconds)
                stop.wait(max(0.0, min(quiet, until - self.history.now())))
        finally:
            self.heal()
            self.target.heal_all()
            self._finish_moves()

    def inject(self, name: str) -> None:
        index = self.history.invoke(NEMESIS, NEMESIS, name, "", "injecting")
        try:
            fault = getattr(self, "_" + name.replace("-", "_"))()
        except Exception as error:  # a fault that could not be injected is reported, not fatal
            self.errors.append(f"{name}: {error!r}")
            self.history.complete(index, INFO, f"not injected: {error!r}")
            return
        fault.index = index
        self.active = fault
        self.injected += 1

    def heal(self) -> None:
        fault, self.active = self.active, None
        if fault is None:
            return
        try:
            fault.heal()
            outcome = f"{fault.description}; healed"
        except Exception as error:
            self.errors.append(f"healing {fault.name}: {error!r}")
            outcome = f"{fault.description}; healing failed: {error!r}"
        self.history.complete(fault.index, INFO, outcome)

    # ------------------------------------------------------------------ choices

    def _random_node(self) -> int:
        return self.rng.choice(self.target.nodes())

    def _leader(self) -> tuple[int, int]:
        """(shard, its leader), or (shard, a random node) when no leader is known."""
        shard = self.rng.choice(self.target.shards())
        leader = self.target.leader_of(shard)
        return shard, leader or self._random_node()

    # ------------------------------------------------------------------ faults

    def _kill(self) -> ActiveFault:
        node = self._random_node()
        self.target.kill(node)
        return ActiveFault("kill", f"killed node {node}", lambda: self.target.start_node(node))

    def _kill_leader(self) -> ActiveFault:
        shard, node = self._leader()
        self.target.kill(node)
        return ActiveFault(
            "kill-leader",
            f"killed node {node} (leader of shard {shard})",
            lambda: self.target.start_node(node),
        )

    def _pause(self) -> ActiveFault:
        if self.rng.random() < 0.5:
            shard, node = self._leader()
            what = f"paused node {node} (leader of shard {shard})"
        else:
            node = self._random_node()
            what = f"paused node {node}"
        self.target.pause(node)
        return ActiveFault("pause", what, lambda: self.target.resume(node))

    def _restart(self) -> ActiveFault:
        node = self._random_node()
        self.target.stop_node(node)
        return ActiveFault(
            "restart", f"stopped node {node} (SIGTERM)", lambda: self.target.start_node(node)
        )

    def _partition_halves(self) -> ActiveFault:
        nodes = self.target.nodes()
        self.rng.shuffle(nodes)
        cut = self.rng.randint(1, len(nodes) - 1)
        groups = [set(nodes[:cut]), set(nodes[cut:])]
        self.target.partition(groups)
        shown = " | ".join(",".join(map(str, sorted(g))) for g in groups)
        return ActiveFault("partition-halves", f"partitioned {shown}", self.target.heal_network)

    def _partition_leader(self) -> ActiveFault:
        shard, node = self._leader()
        others = set(self.target.nodes()) - {node}
        self.target.partition([{node}, others])
        return ActiveFault(
            "partition-leader",
            f"isolated node {node} (leader of shard {shard})",
            self.target.heal_network,
        )

    def _partition_one_way(self) -> ActiveFault:
        shard, node = self._leader()
        others = [n for n in self.target.nodes() if n != node]
        if self.rng.random() < 0.5:
            links = {(node, other) for other in others}
            what = f"cut links from node {node} (leader of shard {shard}) to the others"
        else:
            links = {(other, node) for other in others}
            what = f"cut links to node {node} (leader of shard {shard}) from the others"
        self.target.cut(links)
        return ActiveFault("partition-one-way", what, self.target.heal_network)

    def _kill_all(self) -> ActiveFault:
        nodes = self.target.nodes()
        for node in nodes:
            self.target.kill(node)

        def start_all() -> None:
            for node in nodes:
                self.target.start_node(node)

        return ActiveFault("kill-all", "killed every node", start_all)

    def _lose_disk(self) -> ActiveFault:
        rejoining = self.target.rejoining_nodes()
        if rejoining:
            raise RuntimeError(f"nodes {rejoining} are still rejoining after a lost disk")
        node = self._random_node()
        self.target.lose_disk(node)
        return ActiveFault(
            "lose-disk",
            f"killed node {node} and deleted its data",
            lambda: self.target.start_node(node),
        )

    def _duplicate_node(self) -> ActiveFault:
        node = self._random_node()
        refused, output = self.target.start_duplicate(node)
        last_line = output.splitlines()[-1] if output else "(no output)"
        if not refused:
            self.anomalies.append(f"a duplicate of node {node} was not refused: {last_line}")
        verdict = "refused" if refused else "NOT REFUSED"
        return ActiveFault(
            "duplicate-node",
            f"started a duplicate of node {node}: {verdict}: {last_line}",
            lambda: None,
        )

    def _move_slots(self) -> ActiveFault:
        if self.move is not None and self.move.is_alive():
            raise RuntimeError("a slot move is still under way")
        mover = self.target.slot_mover()
        slot_map = mover.slot_map()
        holders = [shard for shard in slot_map.shards if shard.slots]
        source = self.rng.choice(holders)
        ranges = self.rng.choice(list(source.slots))
        first, last = ranges.first, ranges.first + (ranges.last - ranges.first) // 2
        target = self.rng.choice([s.id for s in slot_map.shards if s.id != source.id])
        what = f"slots {first}-{last} from shard {source.id} to shard {target}"

        def run() -> None:
            index = self.history.invoke(NEMESIS, NEMESIS, "move-slots", "", what)
            try:
                mover.move(first, last, target)
                outcome = "moved"
            except Exception as error:  # taken up again by the next move or at the end
                outcome = f"stopped: {error!r}"
            self.history.complete(index, INFO, outcome)

        self.move = threading.Thread(target=run, name="move-slots", daemon=True)
        self.move.start()
        return ActiveFault("move-slots", f"moving {what}", lambda: None)

    def _finish_moves(self) -> None:
        """Every move begun is finished (resumed if it failed) before the final reads."""
        if self.move is None:
            return
        self.move.join(180)
        try:
            mover = self.target.slot_mover()
            for move in mover.moves():
                mover.move(move["first"], move["last"], move["target"])
        except Exception as error:
            self.errors.append(f"finishing slot moves: {error!r}")
