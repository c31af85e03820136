"""The node's write-ahead log: one per node process, shared by every Raft group on the node.

Used from one thread at a time (the group-commit writer). `commit` writes a batch of records of
any groups and makes them durable with one fsync. Segments rotate at a configurable size; each
new segment starts with a checkpoint (every group's latest snapshot marker and hard state), so
older segments only matter for their entries and can be deleted once snapshots cover those.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from node.raft.types import HardState, SnapshotMeta
from node.storage.coverage import SegmentCoverage
from node.storage.disk import Syncer, truncate_durably
from node.storage.errors import WriterFailed
from node.storage.records import (
    EntriesRecord,
    HardStateRecord,
    Record,
    SnapshotRecord,
    TruncateRecord,
    encode,
)
from node.storage.recovery import Recovery, RestoredGroup, scan
from node.storage.segments import HEADER_SIZE, PREALLOCATE_BYTES, SegmentWriter, segment_path
from proto.histogram import Histogram

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


class Wal:
    def __init__(
        self,
        directory: Path,
        groups: dict[int, RestoredGroup],
        sequences: list[int],
        coverage: SegmentCoverage,
        *,
        segment_bytes: int,
        syncer: Syncer,
        preallocate_bytes: int = PREALLOCATE_BYTES,
    ) -> None:
        """Use `Wal.open`, which replays and repairs the directory first."""
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.preallocate_bytes = preallocate_bytes
        self.bytes_written = 0
        self.fsync_seconds = Histogram()  # each batch's fsync (`sync`), for the metrics
        self._syncer = syncer
        self._sequences = sequences
        self._coverage = coverage
        self._hard_states: dict[int, HardState] = {g: r.hard_state for g, r in groups.items()}
        self._snapshots: dict[int, SnapshotMeta] = {
            g: r.snapshot for g, r in groups.items() if r.snapshot is not None
        }
        self._durable_snapshot: dict[int, int] = {g: m.index for g, m in self._snapshots.items()}
        self._failed: BaseException | None = None
        self._current = self._start_segment(sequences[-1] + 1 if sequences else 1)
        self._current.sync()

    @classmethod
    def open(
        cls,
        directory: Path | str,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        syncer: Syncer | None = None,
        preallocate_bytes: int = PREALLOCATE_BYTES,
        before_repair: Callable[[Recovery], None] | None = None,
    ) -> tuple[Wal, dict[int, RestoredGroup]]:
        """Replay the directory (created if missing), cut a torn tail off the disk, and start a
        new segment. Returns the log and the state of every group found in it. Segments that
        snapshots cover are deleted by the next commit of a marker or `delete_covered_segments`
        (NodeStorage calls it once it has checked that the snapshot files are there).
        `before_repair` sees what the replay found before anything on disk changes (if it
        raises, nothing does)."""
        directory = Path(directory)
        syncer = syncer or Syncer()
        if not directory.is_dir():
            directory.mkdir(parents=True)
            syncer.sync_directory(directory.parent)
        recovery = scan(directory)
        if before_repair is not None:
            before_repair(recovery)
        sequences = recovery.sequences
        if recovery.tail_path is not None:
            if recovery.tail_valid_end < HEADER_SIZE:
                recovery.tail_path.unlink()
                recovery.coverage.remove_segment(sequences.pop())
                syncer.sync_directory(directory)
            else:
                truncate_durably(recovery.tail_path, recovery.tail_valid_end, syncer)
        wal = cls(
            directory,
            recovery.groups,
            sequences,
            recovery.coverage,
            segment_bytes=segment_bytes,
            syncer=syncer,
            preallocate_bytes=preallocate_bytes,
        )
        return wal, recovery.groups

    # ------------------------------------------------------------------ writing

    def write(self, records: Iterable[Record]) -> None:
        """Append records (not yet durable: see `sync`)."""
        self._check_usable()
        try:
            self._write(records)
        except BaseException as error:
            self._failed = error
            raise

    def sync(self) -> None:
        """Make everything written so far durable."""
        self._check_usable()
        try:
            started = time.perf_counter()
            self._current.sync()
            self.fsync_seconds.observe(time.perf_counter() - started)
        except BaseException as error:
            self._failed = error
            raise

    def commit(self, records: Iterable[Record]) -> list[SnapshotRecord]:
        """Write and fsync a batch; then delete the segments that its snapshot markers made
        unnecessary. Returns those markers, now durable."""
        batch = list(records)
        self.write(batch)
        self.sync()
        markers = [record for record in batch if isinstance(record, SnapshotRecord)]
        for marker in markers:
            known = self._durable_snapshot.get(marker.group, 0)
            self._durable_snapshot[marker.group] = max(known, marker.meta.index)
        if markers:
            self.delete_covered_segments()
        return markers

    def _write(self, records: Iterable[Record]) -> None:
        buffer = bytearray()
        limit = self.segment_bytes
        for record in records:
            data = encode(record)
            pending = self._current.size + len(buffer)
            if pending + len(data) > limit and pending > self._checkpoint_end:
                self._current.append(buffer)
                self.bytes_written += len(buffer)
                buffer.clear()
                self._rotate()
            self._note(record)
            buffer += data
        self._current.append(buffer)
        self.bytes_written += len(buffer)

    def _note(self, record: Record) -> None:
        if isinstance(record, EntriesRecord):
            entries = record.entries
            self._coverage.note_entries(
                self._current.sequence, record.group, entries[0].index, entries[-1].index
            )
        elif isinstance(record, HardStateRecord):
            self._hard_states[record.group] = record.state
        elif isinstance(record, TruncateRecord):
            self._coverage.note_truncate(record.group, record.index)
        elif isinstance(record, SnapshotRecord):
            known = self._snapshots.get(record.group)
            if known is None or record.meta.index > known.index:
                self._snapshots[record.group] = record.meta

    def _rotate(self) -> None:
        # The old segment must be complete on disk before a newer one exists: only the newest
        # segment may end in a torn record (or in preallocated zeros).
        self._current.finish()
        self._current.close()
        self._current = self._start_segment(self._current.sequence + 1)

    def _start_segment(self, sequence: int) -> SegmentWriter:
        writer = SegmentWriter(self.directory, sequence, self._syncer, self.preallocate_bytes)
        self._sequences.append(sequence)
        self._coverage.add_segment(sequence)
        checkpoint = bytearray()
        for group in sorted(self._snapshots.keys() | self._hard_states.keys()):
            if group in self._snapshots:
                checkpoint += encode(SnapshotRecord(group, self._snapshots[group]))
            if group in self._hard_states:
                checkpoint += encode(HardStateRecord(group, self._hard_states[group]))
        writer.append(checkpoint)
        self.bytes_written += len(checkpoint)
        self._checkpoint_end = writer.size
        return writer

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise WriterFailed(f"an earlier WAL write failed: {self._failed!r}") from self._failed

    # ------------------------------------------------------------------ compaction

    def delete_covered_segments(self) -> list[Path]:
        """Delete the oldest segments whose entries durable snapshots cover."""
        deletable = self._coverage.deletable_prefix(
            self._durable_snapshot, keep_from=self._current.sequence
        )
        deleted = []
        for sequence in deletable:
            path = segment_path(self.directory, sequence)
            os.unlink(path)
            self._coverage.remove_segment(sequence)
            self._sequences.remove(sequence)
            deleted.append(path)
        if deleted:
            self._syncer.sync_directory(self.directory)
        return deleted

    # ------------------------------------------------------------------ inspection

    @property
    def sequences(self) -> list[int]:
        """Sequence numbers of the segments on disk, oldest first (the last is being written)."""
        return list(self._sequences)

    def groups_pinning_segments(self) -> dict[int, int]:
        """The groups whose entries keep the oldest finished segment on disk (group ->
        highest entry there; see SegmentCoverage.pinning). A group that writes little
        snapshots rarely by entry count, and without this would keep every later segment."""
        return self._coverage.pinning(self._durable_snapshot, keep_from=self._current.sequence)

    def durable_snapshot_index(self, group: int) -> int:
        return self._durable_snapshot.get(group, 0)

    def close(self) -> None:
        if self._failed is None:
            with contextlib.suppress(OSError):  # the zeros also read as the end of the log
                self._current.trim()
        self._current.close()
