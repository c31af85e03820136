"""Snapshot files and the node storage that ties them to WAL markers."""

from __future__ import annotations

import os

import pytest

from node.raft.types import ConfState, Entry, HardState, RestoredState, Snapshot, SnapshotMeta
from node.storage import (
    CorruptionError,
    EntriesRecord,
    HardStateRecord,
    NodeStorage,
    StorageError,
    persist_records,
    snapshot_records,
)
from node.storage.snapshots import SnapshotStore
from tests.storage.support import RecordingSyncer, entries

CONF = ConfState(voters=(1, 2, 3), learners=(9,))


def snapshot(index: int, term: int = 1, data: bytes = b"") -> Snapshot:
    return Snapshot(SnapshotMeta(index, term, CONF), data or b"state at %d" % index)


def open_storage(root, segment_bytes: int = 1 << 20, syncer=None):
    return NodeStorage.open(root, segment_bytes=segment_bytes, syncer=syncer or RecordingSyncer())


def test_a_snapshot_file_round_trips_and_leaves_no_temporary_file(tmp_path):
    syncer = RecordingSyncer()
    store = SnapshotStore(tmp_path, syncer)
    big = Snapshot(SnapshotMeta(77, 5, CONF), os.urandom(300_000))
    path = store.write(3, big)
    assert store.load(3, 77) == big
    assert os.listdir(tmp_path) == [path.name]
    assert syncer.file_syncs == 1 and syncer.directory_syncs >= 1  # file, then the rename


@pytest.mark.parametrize("position", [0, 12, 40, -1])
def test_a_damaged_snapshot_file_is_refused_with_its_path(tmp_path, position):
    store = SnapshotStore(tmp_path, RecordingSyncer())
    path = store.write(1, snapshot(10))
    data = bytearray(path.read_bytes())
    data[position] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptionError) as caught:
        store.load(1, 10)
    assert caught.value.path == path


def test_old_snapshot_files_go_only_once_the_newer_marker_is_durable(tmp_path):
    storage, _ = open_storage(tmp_path)
    storage.save_snapshot(1, snapshot(5))
    storage.commit(snapshot_records(1, SnapshotMeta(5, 1, CONF), replaces_log=False))
    storage.save_snapshot(1, snapshot(9))
    assert storage.snapshots.files() == {1: [5, 9]}  # 9 is not committed yet
    storage.commit(snapshot_records(1, SnapshotMeta(9, 1, CONF), replaces_log=False))
    assert storage.snapshots.files() == {1: [9]}
    storage.close()


def test_restart_hands_raft_its_restored_state_with_the_snapshot_data(tmp_path):
    storage, restored = open_storage(tmp_path)
    assert restored == {}
    storage.commit(
        [EntriesRecord(4, entries(1, 12, term=2)), HardStateRecord(4, HardState(2, 1, 9))]
    )
    storage.save_snapshot(4, snapshot(8, term=2, data=b"engine bytes"))
    storage.commit(snapshot_records(4, SnapshotMeta(8, 2, CONF), replaces_log=False))
    storage.close()
    _, restored = open_storage(tmp_path)
    assert restored[4] == RestoredState(
        hard_state=HardState(2, 1, 9),
        snapshot=Snapshot(SnapshotMeta(8, 2, CONF), b"engine bytes"),
        entries=entries(9, 4, term=2),
    )


def test_persist_records_follow_the_ready_contract(tmp_path):
    storage, _ = open_storage(tmp_path)
    storage.commit(persist_records(2, entries=entries(1, 6, 1), hard_state=HardState(1, 2, 3)))
    # A leader of term 3 overwrote 4.. with one entry.
    storage.commit(persist_records(2, truncate_from=4, entries=entries(4, 1, 3)))
    # Then it sent a snapshot at 20: the stored log is replaced.
    storage.save_snapshot(2, snapshot(20, term=3))
    meta = SnapshotMeta(20, 3, CONF)
    storage.commit(persist_records(2, snapshot=meta, hard_state=HardState(3, 0, 20)))
    storage.commit(persist_records(2, entries=[Entry(21, 3, data=b"x")]))
    storage.close()
    _, restored = open_storage(tmp_path)
    assert restored[2].snapshot.meta == meta
    assert restored[2].hard_state == HardState(3, 0, 20)
    assert list(restored[2].entries) == [Entry(21, 3, data=b"x")]


def test_open_removes_leftovers_but_keeps_the_committed_snapshot(tmp_path):
    storage, _ = open_storage(tmp_path)
    storage.commit([EntriesRecord(1, entries(1, 10, term=1))])
    storage.save_snapshot(1, snapshot(4))
    storage.commit(snapshot_records(1, SnapshotMeta(4, 1, CONF), replaces_log=False))
    storage.save_snapshot(1, snapshot(8))  # crash before its marker
    storage.save_snapshot(2, snapshot(3))  # a group whose marker never made it
    (tmp_path / "snapshots" / "g0000000001-i00000000000000000009.snap.tmp").write_bytes(b"part")
    storage.close()
    storage, restored = open_storage(tmp_path)
    assert storage.snapshots.files() == {1: [4]}
    assert sorted(os.listdir(tmp_path / "snapshots")) == ["g0000000001-i00000000000000000004.snap"]
    assert restored[1].snapshot.meta.index == 4
    assert [e.index for e in restored[1].entries] == list(range(5, 11))
    storage.close()


def test_a_missing_snapshot_file_refuses_to_start(tmp_path):
    storage, _ = open_storage(tmp_path)
    path = storage.save_snapshot(1, snapshot(4))
    storage.commit(snapshot_records(1, SnapshotMeta(4, 1, CONF), replaces_log=False))
    storage.close()
    path.unlink()
    with pytest.raises(StorageError, match="missing"):
        open_storage(tmp_path)


def test_segments_go_after_snapshots_cover_them_across_restarts(tmp_path):
    storage, _ = open_storage(tmp_path, segment_bytes=1024)
    for index in range(1, 81):
        storage.commit([EntriesRecord(g, [Entry(index, 1, data=b"v" * 30)]) for g in (1, 2)])
    storage.close()
    storage, _ = open_storage(tmp_path, segment_bytes=1024)
    first = storage.wal.sequences[0]
    for group in (1, 2):
        storage.save_snapshot(group, snapshot(70))
        storage.commit(snapshot_records(group, SnapshotMeta(70, 1, CONF), replaces_log=False))
    assert storage.wal.sequences[0] > first
    storage.close()
    _, restored = open_storage(tmp_path, segment_bytes=1024)
    for group in (1, 2):
        assert [e.index for e in restored[group].entries] == list(range(71, 81))
        assert restored[group].snapshot.data == b"state at 70"


def test_snapshot_files_without_any_wal_refuse_to_start(tmp_path):
    storage, _ = open_storage(tmp_path)
    storage.save_snapshot(1, snapshot(4))
    storage.commit(snapshot_records(1, SnapshotMeta(4, 1, CONF), replaces_log=False))
    storage.close()
    for segment in (tmp_path / "wal").iterdir():
        segment.unlink()
    with pytest.raises(StorageError, match="no segments"):
        open_storage(tmp_path)
