"""A node's durable storage: the WAL shared by all its groups plus the groups' snapshot files.

Layout under the root directory: `wal/` (segments) and `snapshots/` (one file per snapshot).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from node.raft.types import RestoredState, Snapshot
from node.storage.disk import Syncer
from node.storage.errors import StorageError
from node.storage.records import Record
from node.storage.recovery import Recovery, RestoredGroup, suspected_losses
from node.storage.segments import list_segments
from node.storage.snapshots import SnapshotStore
from node.storage.wal import DEFAULT_SEGMENT_BYTES, Wal


class NodeStorage:
    def __init__(self, wal: Wal, snapshots: SnapshotStore) -> None:
        """Use `NodeStorage.open`."""
        self.wal = wal
        self.snapshots = snapshots

    @classmethod
    def open(
        cls,
        root: Path | str,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        syncer: Syncer | None = None,
        on_suspected_loss: Callable[[list[str]], None] | None = None,
    ) -> tuple[NodeStorage, dict[int, RestoredState]]:
        """Replay and repair the WAL, check that every durable snapshot file is there, drop
        leftover snapshot files and covered segments. Returns the storage and, per group, the
        state to start its Raft replica from (node.raft.RestoredState, snapshot data loaded
        and checked).

        `on_suspected_loss(findings)` is called, before anything is repaired, if the node
        may hold less than it had promised (recovery.suspected_losses: a torn tail cut, a
        commit index above the log, a snapshot file above it). If it raises, nothing on disk
        has changed and the open fails: the evidence survives until it has been recorded."""
        root = Path(root)
        syncer = syncer or Syncer()
        had_wal = cls.holds_data(root)
        snapshots = SnapshotStore(root / "snapshots", syncer)
        if not had_wal and snapshots.files():
            raise StorageError(
                f"{root}: snapshot files exist but the WAL directory {root / 'wal'} has no "
                "segments; refusing to start (a lost WAL would make the node forget its votes)"
            )

        def report(recovery: Recovery) -> None:
            findings = suspected_losses(recovery, snapshots.files())
            if findings and on_suspected_loss is not None:
                on_suspected_loss(findings)

        wal, groups = Wal.open(
            root / "wal", segment_bytes=segment_bytes, syncer=syncer, before_repair=report
        )
        durable = {g: r.snapshot.index for g, r in groups.items() if r.snapshot is not None}
        snapshots.retain_only(durable)
        wal.delete_covered_segments()
        storage = cls(wal, snapshots)
        return storage, {group: storage._state_of(group, r) for group, r in groups.items()}

    @staticmethod
    def holds_data(root: Path) -> bool:
        """Whether `root` holds a WAL with at least one segment."""
        wal = root / "wal"
        return wal.is_dir() and bool(list_segments(wal))

    def _state_of(self, group: int, restored: RestoredGroup) -> RestoredState:
        meta = restored.snapshot
        snapshot = None if meta is None else self.snapshots.load(group, meta.index)
        if meta is not None and snapshot is not None and snapshot.meta != meta:
            raise StorageError(
                f"{self.snapshots.path(group, meta.index)}: snapshot file says {snapshot.meta}, "
                f"the WAL says {meta}"
            )
        return RestoredState(restored.hard_state, snapshot, restored.entries)

    def commit(self, records: Iterable[Record]) -> None:
        """Write and fsync a batch (on the writer thread). Once a snapshot marker is durable,
        the segments and older snapshot files it covers are deleted."""
        for marker in self.wal.commit(records):
            self.snapshots.prune(marker.group, self.wal.durable_snapshot_index(marker.group))

    def save_snapshot(self, group: int, snapshot: Snapshot) -> Path:
        """Write the snapshot file durably (on the writer thread or any other). It becomes the
        group's snapshot once its marker is committed: `persist_records(snapshot=meta, ...)`
        for one installed from a leader, `snapshot_records(group, meta, replaces_log=False)`
        for a local compaction."""
        return self.snapshots.write(group, snapshot)

    def close(self) -> None:
        self.wal.close()
