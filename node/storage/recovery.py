"""Replay of the WAL directory after a restart: the state of every group as Raft last wrote it.

A torn tail (the newest segment ending inside a record, or its very last record failing its
checksum) is what a crash during an unacknowledged write leaves: it is cut off with a warning.
Anything else that does not check out stops the node with an error naming file and offset.

A torn tail is also what a disk leaves that acknowledged a sync it did not do: the records
cut may have been acknowledged to a leader. `suspected_losses` lists such signs, and others
of data the node had promised and no longer holds, for the caller to act on before anything
is repaired (the node rejoins without voting until it has caught up: node/identity.py).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from node.raft.types import Entry, HardState, SnapshotMeta
from node.storage.coverage import SegmentCoverage
from node.storage.errors import CorruptionError, StorageError
from node.storage.records import (
    EntriesRecord,
    HardStateRecord,
    Record,
    SnapshotRecord,
    TruncateRecord,
)
from node.storage.segments import Defect, list_segments, scan_segment, segment_path

log = logging.getLogger(__name__)


@dataclass(slots=True)
class RestoredGroup:
    """What a Raft group needs on restart: its latest hard state, its latest durable snapshot
    (None if it never had one; the snapshot's bytes are in the snapshot store) and the entries
    after that snapshot, consecutive."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: SnapshotMeta | None = None
    entries: list[Entry] = field(default_factory=list)


class _GroupLog:
    """One group's log while records are replayed in order.

    Right after a deleted prefix of segments the log can be transiently incomplete (entries
    whose predecessors were compacted away, before the snapshot marker that covers them is
    replayed), so entries are kept by index and only checked for holes at the end."""

    __slots__ = ("entries", "hard_state", "last", "snapshot")

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.snapshot: SnapshotMeta | None = None
        self.entries: dict[int, Entry] = {}
        self.last = 0  # no entry has a higher index (may be higher than the highest entry)

    def apply(self, record: Record) -> None:
        match record:
            case EntriesRecord(entries=entries):
                self._append(entries)
            case HardStateRecord(state=state):
                self.hard_state = state
            case SnapshotRecord(meta=meta):
                self._compact(meta)
            case TruncateRecord(index=index):
                self._truncate(index)

    def _append(self, entries: Sequence[Entry]) -> None:
        covered = self.snapshot.index if self.snapshot is not None else 0
        skip = max(0, covered - entries[0].index + 1)
        if skip >= len(entries):
            return
        self._truncate(entries[skip].index)
        for entry in entries[skip:]:
            self.entries[entry.index] = entry
        self.last = entries[-1].index

    def _truncate(self, index: int) -> None:
        for dropped in range(index, self.last + 1):
            self.entries.pop(dropped, None)
        self.last = min(self.last, index - 1)

    def _compact(self, meta: SnapshotMeta) -> None:
        if self.snapshot is not None and meta.index <= self.snapshot.index:
            return  # a checkpoint repeating a marker already replayed
        self.snapshot = meta
        self.entries = {i: e for i, e in self.entries.items() if i > meta.index}
        self.last = max(self.last, meta.index)

    def restored(self, directory: Path, group: int) -> RestoredGroup:
        indexes = sorted(self.entries)
        if indexes:
            start = self.snapshot.index + 1 if self.snapshot is not None else indexes[0]
            hole = next((start + n for n, i in enumerate(indexes) if i != start + n), None)
            if hole is not None:
                raise StorageError(
                    f"{directory}: group {group}: log entry {hole} is missing before entry "
                    f"{indexes[-1]}; refusing to start so that no durable data is dropped"
                )
        entries = [self.entries[i] for i in indexes]
        return RestoredGroup(hard_state=self.hard_state, snapshot=self.snapshot, entries=entries)


@dataclass(slots=True)
class Recovery:
    """Everything the WAL needs to reopen a directory."""

    groups: dict[int, RestoredGroup]
    sequences: list[int]  # segments that hold data, oldest first
    coverage: SegmentCoverage
    torn_tail: Defect | None = None  # cut off the newest segment (its sequence is sequences[-1])
    tail_path: Path | None = None
    tail_valid_end: int = 0


def scan(directory: Path) -> Recovery:
    """Read and check every segment in order; cut a torn tail (in memory) with a warning."""
    directory = Path(directory)
    segments = list_segments(directory)
    _check_consecutive(directory, [sequence for sequence, _ in segments])
    logs: dict[int, _GroupLog] = {}
    coverage = SegmentCoverage()
    recovery = Recovery(groups={}, sequences=[], coverage=coverage)
    for position, (sequence, path) in enumerate(segments):
        segment = scan_segment(sequence, path)
        newest = position == len(segments) - 1
        if segment.defect is not None:
            if not (newest and segment.defect.torn_tail):
                raise CorruptionError(path, segment.defect.offset, segment.defect.reason)
            if not segment.defect.zero_tail:  # zeros are preallocated space, nothing lost
                log.warning(
                    "%s: cutting a torn tail of %d bytes at byte offset %d (%s); it was never "
                    "acknowledged as durable, unless the disk lied about a sync",
                    path,
                    segment.size - segment.valid_end,
                    segment.valid_end,
                    segment.defect.reason,
                )
            recovery.torn_tail = segment.defect
            recovery.tail_path = path
            recovery.tail_valid_end = segment.valid_end
        recovery.sequences.append(sequence)
        coverage.add_segment(sequence)
        for _, record in segment.records:
            _note_coverage(coverage, sequence, record)
            logs.setdefault(record.group, _GroupLog()).apply(record)
    recovery.groups = {group: logs[group].restored(directory, group) for group in sorted(logs)}
    return recovery


def suspected_losses(recovery: Recovery, snapshot_files: Mapping[int, Sequence[int]]) -> list[str]:
    """Signs that the node may hold less than it had promised: acknowledged entries, a commit
    index, an installed snapshot. Each is also what an ordinary crash can leave (a write cut
    before its sync returned), and cannot be told apart from a disk that lost synced data.

    - A torn tail that is not just preallocated zeros: the cut bytes may have been synced.
    - A commit index above a group's last entry: entries it held when it wrote it are gone.
    - A snapshot file above a group's log with no durable marker: a snapshot from a leader
      is written before its marker, and acknowledged only after it (`snapshot_files`:
      group -> the indexes of its files, SnapshotStore.files)."""
    findings = []
    path = recovery.tail_path
    if path is not None and recovery.torn_tail is not None and not recovery.torn_tail.zero_tail:
        with path.open("rb") as file:
            file.seek(recovery.tail_valid_end)
            cut = file.read()
        if cut.count(0) != len(cut):
            findings.append(
                f"{path}: a torn record was cut at byte {recovery.tail_valid_end} "
                f"({len(cut)} bytes, {recovery.torn_tail.reason})"
            )
    for group, restored in recovery.groups.items():
        last = _last_index(restored)
        if restored.hard_state.commit > last:
            findings.append(
                f"group {group}: the commit index {restored.hard_state.commit} is above the "
                f"last entry held, {last}"
            )
    for group, indexes in snapshot_files.items():
        held = recovery.groups.get(group)
        last = _last_index(held) if held is not None else 0
        above = [index for index in indexes if index > last]
        if above:
            findings.append(
                f"group {group}: a snapshot file at index {above[-1]} is above the log held "
                f"(last index {last}) and no durable record names it"
            )
    return findings


def _last_index(restored: RestoredGroup) -> int:
    if restored.entries:
        return restored.entries[-1].index
    return restored.snapshot.index if restored.snapshot is not None else 0


def replay(directory: Path | str) -> dict[int, RestoredGroup]:
    """The state of every group found in the WAL directory (read-only: a torn tail is cut in
    the result, not on disk; reopening the WAL repairs the file)."""
    return scan(Path(directory)).groups


def _note_coverage(coverage: SegmentCoverage, sequence: int, record: Record) -> None:
    if isinstance(record, EntriesRecord):
        entries = record.entries
        coverage.note_entries(sequence, record.group, entries[0].index, entries[-1].index)
    elif isinstance(record, TruncateRecord):
        coverage.note_truncate(record.group, record.index)


def _check_consecutive(directory: Path, sequences: list[int]) -> None:
    for before, after in itertools.pairwise(sequences):
        if after != before + 1:
            raise CorruptionError(
                segment_path(directory, before + 1),
                0,
                f"segment file missing between segments {before} and {after}",
            )
