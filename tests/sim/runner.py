"""Run simulated seeds and report failures with the command that replays each one."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

from tests.sim.params import SimParams
from tests.sim.simulation import Simulation


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    ok: bool
    error: str
    seconds: float
    time_units: int
    reads_checked: int
    entries_applied: int
    max_term: int
    states_checked: int = 0  # shard entries whose state digest was compared
    moves_finished: int = 0  # placement moves carried out (tests/sim/placement.py)
    move_changes: int = 0  # membership changes they proposed


def replay_command(params: SimParams) -> str:
    return (
        f"python -m tests.sim --seed {params.seed} --nodes {params.nodes} "
        f"--groups {params.groups} --steps {params.steps}"
    )


def run_seed(
    seed: int, nodes: int = 5, groups: int = 3, steps: int = 3000, trace: bool = False
) -> SeedResult:
    params = SimParams.from_seed(seed, nodes=nodes, groups=groups, steps=steps)
    simulation = Simulation(params)
    started = time.perf_counter()
    error = ""
    try:
        simulation.run()
    except Exception as failure:  # a crash of the core is a failure of the seed too
        error = f"{type(failure).__name__}: {failure}"
        if trace:
            error += "\n" + traceback.format_exc()
            error += "\nnemesis:\n  " + "\n  ".join(simulation.nemesis.log[-40:])
        error += f"\n  at time {simulation.now}; replay: {replay_command(params)}"
    checker = simulation.checker
    return SeedResult(
        seed=seed,
        ok=not error,
        error=error,
        seconds=time.perf_counter() - started,
        time_units=simulation.now,
        reads_checked=checker.reads_checked,
        entries_applied=sum(len(seq) for seq in checker.applied.values()),
        max_term=checker.max_term,
        states_checked=checker.states_checked,
        moves_finished=simulation.placement.moves_finished,
        move_changes=simulation.placement.changes,
    )
