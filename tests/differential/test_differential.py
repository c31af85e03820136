"""Engine vs. real redis-server: random command sequences over all types, identical replies."""

from __future__ import annotations

import importlib
import os
import pkgutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests.differential as package
from node.engine.registry import IMPLEMENTATIONS
from tests.differential.common import KEYS, CommandCase
from tests.differential.harness import Differential
from tests.differential.rebuild import engine_reader, left_as_is, rebuild_commands

_MODULES = [
    importlib.import_module(f"{package.__name__}.{info.name}")
    for info in pkgutil.iter_modules(package.__path__)
    if info.name.startswith("cases_")
]
CASES: list[CommandCase] = [case for module in _MODULES for case in module.CASES]
NOT_IN_REDIS_7: set[str] = set().union(*(getattr(m, "NOT_IN_REDIS_7", set()) for m in _MODULES))
# Commands too slow on redis-server for random sequences, with a targeted test instead.
COVERED_ELSEWHERE: set[str] = set().union(
    *(getattr(m, "COVERED_ELSEWHERE", set()) for m in _MODULES)
)
BY_TYPE = {module.__name__.rsplit("_", 1)[1]: module.CASES for module in _MODULES}


def _run(diff: Differential, sequence: list[tuple[CommandCase, list[bytes]]]) -> None:
    for case, args in sequence:
        diff.check(args, case.normalize)
        if case.resync_keys:
            resync(diff)


def resync(diff: Differential) -> None:
    """After a command with a random effect (SPOP), make redis hold what the engine holds."""
    for key in KEYS:
        if left_as_is(engine_reader(diff.engine), key):
            continue
        diff.redis.call([b"DEL", key])
        for args in rebuild_commands(engine_reader(diff.engine), key):
            diff.redis.call(args)


# More examples for a longer run: DIFFERENTIAL_EXAMPLES=5000 make test
EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "600"))


def sequences(cases: list[CommandCase]) -> st.SearchStrategy:
    one = st.one_of(*[st.tuples(st.just(case), case.strategy) for case in cases])
    return st.lists(one, min_size=1, max_size=40)


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(sequence=sequences(CASES))
def test_mixed_types_resp2(redis_port, sequence):
    diff = Differential(redis_port, resp3=False)
    try:
        _run(diff, sequence)
    finally:
        diff.close()


@_SETTINGS
@given(sequence=sequences(CASES))
def test_mixed_types_resp3(redis_port, sequence):
    diff = Differential(redis_port, resp3=True)
    try:
        _run(diff, sequence)
    finally:
        diff.close()


@pytest.mark.parametrize("type_name", sorted(BY_TYPE))
def test_each_type(redis_port, type_name):
    @settings(max_examples=EXAMPLES // 2, deadline=None)
    @given(sequence=sequences(BY_TYPE[type_name]))
    def run(sequence):
        diff = Differential(redis_port, resp3=False)
        try:
            _run(diff, sequence)
        finally:
            diff.close()

    run()


def test_every_engine_command_is_covered():
    """No engine command is left out of the differential test (except those the Redis 7.0
    server here does not have, which have unit tests)."""
    covered = {case.name for case in CASES}
    engine_commands = {name.split("|")[0] if "|" not in name else name for name in IMPLEMENTATIONS}
    missing = sorted(engine_commands - covered - NOT_IN_REDIS_7 - COVERED_ELSEWHERE)
    assert not missing, f"commands without a differential case: {missing}"
