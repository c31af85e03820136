"""The cross-shard simulation in the default suite: XSIM_SEEDS (env, default 300) seeds with
every kind of fault, each checked for conservation, atomicity, exactly-once, a quiet end and
serializability; and the proof that the checker catches a protocol without isolation."""

from __future__ import annotations

import os

import pytest

from tests.xsim.checker import Violation, _check_serializable
from tests.xsim.runner import SeedResult, run_seed
from tests.xsim.world import World, XsimParams

SEEDS = range(int(os.environ.get("XSIM_SEEDS", "300")))


@pytest.fixture(scope="module")
def results() -> dict[int, SeedResult]:
    return {seed: run_seed(seed) for seed in SEEDS}


def test_every_seed_holds(results: dict[int, SeedResult]) -> None:
    failures = [result.error for result in results.values() if not result.ok]
    assert not failures, "\n".join(failures[:10])


def test_the_seeds_exercise_the_protocol(results: dict[int, SeedResult]) -> None:
    """Commits, aborts, consistent reads and answers lost with their router all happen, so
    the checks above are not vacuous."""
    totals: dict[str, int] = {}
    for result in results.values():
        for name, count in result.counts.items():
            totals[name] = totals.get(name, 0) + count
    for name in ("committed", "aborted", "reads", "edges", "unknown"):
        assert totals[name] > len(SEEDS) // 2, (name, totals)


@pytest.mark.parametrize("seed", range(5))
def test_unsafe_is_caught(seed: int) -> None:
    """PREPARE without locks: the readers' totals and the serialization graph both fail."""
    result = run_seed(seed, unsafe=True)
    assert not result.ok
    world = World(XsimParams.from_seed(seed, unsafe=True))
    world.run()
    with pytest.raises(Violation, match="cycle"):
        _check_serializable(world.history)
