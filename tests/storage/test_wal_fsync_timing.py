"""The WAL times each batch's fsync where it happens (Wal.sync) for the node's metrics."""

from __future__ import annotations

from node.raft.types import HardState
from node.storage.disk import Syncer
from node.storage.records import HardStateRecord
from node.storage.wal import Wal


class CountingSyncer(Syncer):
    def __init__(self) -> None:
        self.file_syncs = 0

    def sync_file(self, fd: int) -> None:
        self.file_syncs += 1
        super().sync_file(fd)


def test_every_batch_fsync_is_timed(tmp_path):
    syncer = CountingSyncer()
    wal, _ = Wal.open(tmp_path / "wal", syncer=syncer)
    before = syncer.file_syncs
    for term in range(1, 6):
        wal.commit([HardStateRecord(1, HardState(term, 0, 0))])
    histogram = wal.fsync_seconds
    assert histogram.count == 5 == syncer.file_syncs - before
    assert histogram.total > 0
    wal.close()
