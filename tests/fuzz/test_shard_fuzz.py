"""Fuzzing a shard's apply: random command and script sequences through the log into three
replicas (tests/fuzz/replicas.py checks them after every entry).

FUZZ_EXAMPLES (env) sets the number of generated histories per test (default: a CI budget
of well under a minute each); FUZZ_EXAMPLES=5000 for a long run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine.config import EngineConfig
from tests.fuzz.entries import entry, rarely
from tests.fuzz.replicas import Shard

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))

_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
START_MS = 1_700_000_000_000


def _run(data: st.DataObject, shard: Shard, steps: int) -> None:
    time_ms = START_MS
    for _ in range(steps):
        # Mostly forward; sometimes a big jump (expiries), sometimes a leader whose clock
        # is behind (the shard's clock never goes back).
        time_ms += data.draw(st.sampled_from([0, 1, 7, 1000, 250_000, -5000, 10**8]))
        time_ms = max(time_ms, 0)
        shard.apply(data.draw(entry(time_ms, shard.watch_digests)))
        if rarely(data.draw, 16):
            target, source = data.draw(st.sampled_from([(2, 0), (1, 2), (0, 1)]))
            shard.restore_replica(target, source)


@_SETTINGS
@given(data=st.data())
def test_three_replicas_apply_random_entries_alike(data):
    _run(data, Shard(), steps=data.draw(st.integers(1, 25)))


@_SETTINGS
@given(data=st.data())
def test_three_replicas_alike_under_maxmemory(data):
    """With a memory limit, DENYOOM decisions depend on the memory accounting: it must be
    the same on every replica, restored ones included."""
    policy = data.draw(st.sampled_from(["noeviction", "allkeys-lru", "volatile-ttl"]))
    limit = data.draw(st.sampled_from([1, 200, 2000]))
    shard = Shard(EngineConfig(maxmemory=limit, maxmemory_policy=policy))
    _run(data, shard, steps=data.draw(st.integers(1, 15)))
