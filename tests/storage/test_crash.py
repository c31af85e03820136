"""Crash simulation: write, lose everything that was not fsynced (and maybe keep some of it,
torn), replay. A record whose commit returned is never lost; the result is always the log after
some prefix of the records written."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.storage import Wal, replay
from tests.storage.strategies import draw_batch
from tests.storage.support import ModelGroup, RecordingSyncer, as_comparable


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_crash_never_loses_a_synced_record(data):
    syncer = RecordingSyncer()
    model: dict[int, ModelGroup] = {}
    segment_bytes = data.draw(st.sampled_from([256, 700, 1 << 20]), label="segment bytes")
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        for _ in range(data.draw(st.integers(1, 4), label="crashes")):
            wal, restored = Wal.open(directory, segment_bytes=segment_bytes, syncer=syncer)
            assert as_comparable(restored) == as_comparable(model)
            # history[n] is the model after the first n records written since the last ack
            history = [_copy(model)]
            for _ in range(data.draw(st.integers(0, 10), label="acknowledged batches")):
                batch = draw_batch(data, history[-1], groups=3)
                wal.commit(batch)
                history = [_applied(history[-1], batch)]
            acknowledged = as_comparable(history[0])
            for _ in range(data.draw(st.integers(0, 2), label="unsynced batches")):
                batch = draw_batch(data, history[-1], groups=3)
                wal.write(batch)
                for record in batch:
                    history.append(_applied(history[-1], [record]))
            wal.close()
            syncer.crash(directory, keep_unsynced=data.draw(st.floats(0, 1), label="kept"))
            restored_now = as_comparable(replay(directory))
            candidates = [as_comparable(state) for state in history]
            assert restored_now in candidates, (restored_now, acknowledged)
            model = history[candidates.index(restored_now)]


def _copy(model: dict[int, ModelGroup]) -> dict[int, ModelGroup]:
    return {group: state.copy() for group, state in model.items()}


def _applied(model: dict[int, ModelGroup], records: list) -> dict[int, ModelGroup]:
    after = _copy(model)
    for record in records:
        after.setdefault(record.group, ModelGroup()).apply(record)
    return after
