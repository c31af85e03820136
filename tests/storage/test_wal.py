"""The multi-group WAL: round trips, interleaving, overwrites, rotation and segment deletion."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.raft.types import ConfState, Entry, HardState, SnapshotMeta
from node.storage import (
    EntriesRecord,
    HardStateRecord,
    Record,
    SnapshotRecord,
    StorageError,
    TruncateRecord,
    Wal,
    WriterFailed,
    replay,
    snapshot_records,
)
from node.storage.segments import list_segments
from tests.storage.strategies import draw_batch
from tests.storage.support import ModelGroup, RecordingSyncer, apply_all, as_comparable, entries


def open_wal(directory: Path, segment_bytes: int = 1 << 20) -> Wal:
    wal, _ = Wal.open(directory, segment_bytes=segment_bytes, syncer=RecordingSyncer())
    return wal


def test_round_trip_of_every_record_kind(tmp_path):
    wal = open_wal(tmp_path)
    meta = SnapshotMeta(3, 2, ConfState(voters=(1, 2, 3), learners=(4,)))
    wal.commit([EntriesRecord(7, entries(1, 5, term=2)), HardStateRecord(7, HardState(2, 1, 4))])
    wal.commit([SnapshotRecord(7, meta), EntriesRecord(7, entries(6, 2, term=2))])
    wal.commit([TruncateRecord(7, 7)])
    wal.close()
    restored = replay(tmp_path)
    assert list(restored) == [7]
    group = restored[7]
    assert group.hard_state == HardState(2, 1, 4)
    assert group.snapshot == meta
    assert group.entries == entries(4, 3, term=2)


def test_empty_directory_replays_to_nothing_and_is_created(tmp_path):
    wal = open_wal(tmp_path / "a" / "wal")
    wal.close()
    assert replay(tmp_path / "a" / "wal") == {}


def test_many_groups_interleaved_in_one_batch_and_across_batches(tmp_path):
    wal = open_wal(tmp_path, segment_bytes=4096)
    for index in range(1, 101):
        batch: list[Record] = [
            EntriesRecord(g, [Entry(index, 1, data=b"%d/%d" % (g, index))]) for g in range(8)
        ]
        batch.append(HardStateRecord(index % 8, HardState(1, 0, index)))
        wal.commit(batch)
    wal.close()
    restored = replay(tmp_path)
    assert sorted(restored) == list(range(8))
    for g in range(8):
        assert [e.data for e in restored[g].entries] == [b"%d/%d" % (g, i) for i in range(1, 101)]
    assert restored[4].hard_state.commit == 100
    assert restored[3].hard_state.commit == 99


def test_appending_over_a_suffix_replaces_it(tmp_path):
    wal = open_wal(tmp_path)
    wal.commit([EntriesRecord(1, entries(1, 10, term=1)), EntriesRecord(2, entries(1, 3, term=1))])
    # A new leader of term 2 overwrites 6..10 with a shorter suffix ...
    wal.commit([EntriesRecord(1, entries(6, 2, term=2))])
    # ... and one of term 3 rewrites from 7 on; group 2 is untouched.
    wal.commit([EntriesRecord(1, entries(7, 1, term=3))])
    wal.close()
    restored = replay(tmp_path)
    assert restored[1].entries == [
        *entries(1, 5, term=1),
        *entries(6, 1, term=2),
        *entries(7, 1, 3),
    ]
    assert restored[2].entries == entries(1, 3, term=1)


def test_installed_snapshot_replaces_the_log_and_compaction_keeps_the_suffix(tmp_path):
    wal = open_wal(tmp_path)
    wal.commit([EntriesRecord(1, entries(1, 10, term=1)), EntriesRecord(2, entries(1, 10, 1))])
    wal.commit([SnapshotRecord(1, SnapshotMeta(4, 1))])
    wal.commit(snapshot_records(2, SnapshotMeta(6, 5), replaces_log=True))
    wal.commit([EntriesRecord(2, entries(7, 1, term=5))])
    wal.close()
    restored = replay(tmp_path)
    assert restored[1].snapshot == SnapshotMeta(4, 1)
    assert restored[1].entries == entries(5, 6, term=1)
    assert restored[2].snapshot == SnapshotMeta(6, 5)
    assert restored[2].entries == entries(7, 1, term=5)


def test_reopening_continues_in_a_new_segment_with_the_state_intact(tmp_path):
    wal = open_wal(tmp_path)
    wal.commit([EntriesRecord(1, entries(1, 3, 1)), HardStateRecord(1, HardState(1, 2, 3))])
    wal.close()
    for round_ in range(3):
        wal = open_wal(tmp_path)
        wal.commit([EntriesRecord(1, entries(4 + round_, 1, 1))])
        wal.close()
    assert len(list_segments(tmp_path)) == 4
    restored = replay(tmp_path)
    assert restored[1].entries == entries(1, 6, 1)
    assert restored[1].hard_state == HardState(1, 2, 3)


def test_segments_rotate_at_the_size_limit(tmp_path):
    wal = open_wal(tmp_path, segment_bytes=2048)
    for index in range(1, 201):
        wal.commit([EntriesRecord(1, [Entry(index, 1, data=b"x" * 100)])])
    wal.close()
    sizes = [path.stat().st_size for _, path in list_segments(tmp_path)]
    assert len(sizes) > 10
    # a segment holds at least one record, so it may pass the limit by at most one record
    assert all(size <= 2048 + 200 for size in sizes)
    assert [e.index for e in replay(tmp_path)[1].entries] == list(range(1, 201))


def test_a_segment_is_deleted_only_when_every_group_in_it_is_covered(tmp_path):
    wal = open_wal(tmp_path, segment_bytes=1024)
    for index in range(1, 61):
        wal.commit([EntriesRecord(g, [Entry(index, 1, data=b"y" * 40)]) for g in (1, 2)])
    before = wal.sequences
    assert len(before) > 5
    # Group 1 alone is snapshotted: group 2 still needs every segment.
    assert wal.commit([SnapshotRecord(1, SnapshotMeta(60, 1))])
    assert wal.sequences[: len(before)] == before
    # Group 2 covered up to 30: the segments holding only entries <= 30 of both groups go.
    wal.commit([SnapshotRecord(2, SnapshotMeta(30, 1))])
    remaining = wal.sequences
    assert remaining[0] > before[0]
    assert remaining == list(range(remaining[0], remaining[0] + len(remaining)))
    wal.close()
    restored = replay(tmp_path)
    assert [e.index for e in restored[2].entries] == list(range(31, 61))
    assert restored[1].entries == [] and restored[1].snapshot == SnapshotMeta(60, 1)
    # Entries 31..60 of group 2 must all still be on disk.
    wal = open_wal(tmp_path, segment_bytes=1024)
    wal.commit([SnapshotRecord(2, SnapshotMeta(60, 1))])
    assert wal.sequences == [wal.sequences[-1]]
    wal.close()
    assert as_comparable(replay(tmp_path)) == {
        1: (HardState(), SnapshotMeta(60, 1), []),
        2: (HardState(), SnapshotMeta(60, 1), []),
    }


def test_the_groups_pinning_the_oldest_segment_are_named_until_snapshots_free_it(tmp_path):
    wal = open_wal(tmp_path, segment_bytes=1024)
    assert wal.groups_pinning_segments() == {}  # only the segment being written
    wal.commit([EntriesRecord(0, [Entry(1, 1, data=b"meta")])])  # a quiet group: one entry
    for index in range(1, 61):
        wal.commit([EntriesRecord(1, [Entry(index, 1, data=b"y" * 40)])])
    first = wal.sequences[0]
    pins = wal.groups_pinning_segments()
    assert pins[0] == 1 and set(pins) == {0, 1}
    # The busy group's snapshot alone frees nothing: the quiet group keeps the first segment
    # and so every later one.
    wal.commit([SnapshotRecord(1, SnapshotMeta(60, 1))])
    assert wal.sequences[0] == first
    assert wal.groups_pinning_segments() == {0: 1}
    wal.commit([SnapshotRecord(0, SnapshotMeta(1, 1))])
    assert wal.sequences == [wal.sequences[-1]]
    assert wal.groups_pinning_segments() == {}
    wal.close()


def test_hard_state_survives_deletion_of_the_segment_that_held_it(tmp_path):
    wal = open_wal(tmp_path, segment_bytes=600)
    wal.commit([HardStateRecord(5, HardState(term=9, vote=3, commit=0))])
    for index in range(1, 41):
        wal.commit([EntriesRecord(5, [Entry(index, 9, data=b"z" * 40)])])
    first = wal.sequences[0]
    wal.commit([SnapshotRecord(5, SnapshotMeta(40, 9))])
    assert first not in wal.sequences
    wal.close()
    assert replay(tmp_path)[5].hard_state == HardState(term=9, vote=3, commit=0)


def test_overwritten_entries_do_not_pin_old_segments(tmp_path):
    wal = open_wal(tmp_path, segment_bytes=800)
    for index in range(1, 31):
        wal.commit([EntriesRecord(1, [Entry(index, 1, data=b"w" * 40)])])
    old = wal.sequences[:-1]
    # entries 11..30 are replaced by a new term's 11..12, then everything to 12 is snapshotted
    wal.commit([EntriesRecord(1, entries(11, 2, term=2))])
    wal.commit([SnapshotRecord(1, SnapshotMeta(12, 2))])
    assert not set(old) & set(wal.sequences)
    wal.close()
    assert replay(tmp_path)[1].snapshot == SnapshotMeta(12, 2)


def test_a_failed_write_refuses_everything_after(tmp_path):
    class FailingSyncer(RecordingSyncer):
        fail = False

        def sync_file(self, fd):
            if self.fail:
                raise OSError(5, "Input/output error")
            super().sync_file(fd)

    syncer = FailingSyncer()
    wal, _ = Wal.open(tmp_path, syncer=syncer)
    syncer.fail = True
    with pytest.raises(OSError):
        wal.commit([EntriesRecord(1, entries(1, 1, 1))])
    syncer.fail = False
    with pytest.raises(WriterFailed):
        wal.commit([EntriesRecord(1, entries(2, 1, 1))])
    wal.close()


def test_a_missing_middle_segment_refuses_to_start(tmp_path):
    wal = open_wal(tmp_path, segment_bytes=600)
    for index in range(1, 41):
        wal.commit([EntriesRecord(1, [Entry(index, 1, data=b"q" * 40)])])
    wal.close()
    segments = list_segments(tmp_path)
    segments[2][1].unlink()
    with pytest.raises(StorageError, match="missing"):
        replay(tmp_path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_raft_workloads_replay_to_the_model(data):
    model: dict[int, ModelGroup] = {}
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        segment_bytes = data.draw(st.sampled_from([300, 1000, 1 << 20]), label="segment bytes")
        for _ in range(data.draw(st.integers(1, 3), label="restarts")):
            wal, restored = Wal.open(
                directory, segment_bytes=segment_bytes, syncer=RecordingSyncer()
            )
            assert as_comparable(restored) == as_comparable(model)
            for _ in range(data.draw(st.integers(1, 12), label="batches")):
                batch = draw_batch(data, model, groups=4)
                wal.commit(batch)
                apply_all(model, batch)
            wal.close()
        assert as_comparable(replay(directory)) == as_comparable(model)
