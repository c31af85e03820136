"""Run one seed of the cross-shard simulation and check it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.xsim.checker import Violation, check
from tests.xsim.world import World, XsimParams


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    ok: bool
    error: str
    seconds: float
    counts: dict[str, int]


def run_seed(seed: int, unsafe: bool = False) -> SeedResult:
    params = XsimParams.from_seed(seed, unsafe)
    world = World(params)
    started = time.perf_counter()
    counts: dict[str, int] = {}
    error = ""
    try:
        world.run()
        counts = check(world)
    except Violation as violation:
        error = f"{violation} (replay: python -m tests.xsim --seed {seed}"
        error += " --unsafe)" if unsafe else ")"
    return SeedResult(seed, not error, error, time.perf_counter() - started, counts)
