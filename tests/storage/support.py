"""Helpers for storage tests: a syncer that counts and remembers, a crash that loses what was not
synced, and a plain model of what replay must produce."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from node.raft.types import Entry, HardState, SnapshotMeta
from node.storage.disk import Syncer
from node.storage.records import (
    EntriesRecord,
    HardStateRecord,
    Record,
    SnapshotRecord,
    TruncateRecord,
)
from node.storage.recovery import RestoredGroup


class RecordingSyncer(Syncer):
    """Counts syncs and remembers, per file, the content the last sync made durable, and per
    directory which names were in it at its last sync. Does not really sync (tests never
    crash the machine), which also keeps them fast. Content, not size: the WAL overwrites
    preallocated zeros, so what a crash loses need not be at the end of the file."""

    def __init__(self) -> None:
        self.file_syncs = 0
        self.directory_syncs = 0
        self.synced_content: dict[Path, bytes] = {}
        self.synced_names: dict[Path, set[str]] = {}

    def sync_file(self, fd: int) -> None:
        self.file_syncs += 1
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        self.synced_content[path] = path.read_bytes()

    def sync_directory(self, path: Path) -> None:
        self.directory_syncs += 1
        path = Path(path).resolve()
        self.synced_names[path] = set(os.listdir(path))

    def crash(self, directory: Path, keep_unsynced: float = 0.0) -> None:
        """Make the directory look as after a power cut: names created since its last sync are
        gone, and each file is its synced content changed by the first `keep_unsynced`
        fraction of the bytes written after (from the first byte that differs: a crash may
        or may not have flushed some of them)."""
        directory = directory.resolve()
        names = self.synced_names.get(directory, set())
        for name in os.listdir(directory):
            path = directory / name
            if name not in names:
                path.unlink()
                continue
            current = path.read_bytes()
            synced = self.synced_content.get(path, b"")
            changed_from = _common_prefix(current, synced)
            keep = changed_from + int((len(current) - changed_from) * keep_unsynced)
            after_crash = current[:keep] + synced[keep:]
            path.write_bytes(after_crash)
            self.synced_content[path] = after_crash
        self.synced_names[directory] = set(os.listdir(directory))


def _common_prefix(a: bytes, b: bytes) -> int:
    """How many leading bytes a and b share."""
    limit = min(len(a), len(b))
    step = 4096
    start = 0
    while start < limit and a[start : start + step] == b[start : start + step]:
        start += step
    end = min(start + step, limit)
    while start < end and a[start] == b[start]:
        start += 1
    return start


def entries(first: int, count: int, term: int, payload: bytes = b"") -> list[Entry]:
    return [
        Entry(index=i, term=term, data=payload or b"e%d" % i) for i in range(first, first + count)
    ]


@dataclass
class ModelGroup:
    """What replay must give for one group: written independently of node.storage.recovery,
    with a plain consecutive list."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: SnapshotMeta | None = None
    entries: list[Entry] = field(default_factory=list)

    def apply(self, record: Record) -> None:
        covered = self.snapshot.index if self.snapshot else 0
        if isinstance(record, EntriesRecord):
            new = [e for e in record.entries if e.index > covered]
            if new:
                self.entries = [e for e in self.entries if e.index < new[0].index] + new
        elif isinstance(record, TruncateRecord):
            self.entries = [e for e in self.entries if e.index < record.index]
        elif isinstance(record, HardStateRecord):
            self.hard_state = record.state
        elif isinstance(record, SnapshotRecord) and record.meta.index > covered:
            self.snapshot = record.meta
            self.entries = [e for e in self.entries if e.index > record.meta.index]

    def last_index(self) -> int:
        if self.entries:
            return self.entries[-1].index
        return self.snapshot.index if self.snapshot else 0

    def term_at(self, index: int) -> int:
        if self.snapshot and index == self.snapshot.index:
            return self.snapshot.term
        return next(e.term for e in self.entries if e.index == index)

    def copy(self) -> ModelGroup:
        return ModelGroup(self.hard_state, self.snapshot, list(self.entries))


def apply_all(model: dict[int, ModelGroup], records: list[Record]) -> None:
    for record in records:
        model.setdefault(record.group, ModelGroup()).apply(record)


def as_comparable(groups: dict[int, RestoredGroup] | dict[int, ModelGroup]) -> dict:
    """Group -> (hard state, snapshot, entries), leaving out groups with nothing in them."""
    result = {}
    for group, state in groups.items():
        value = (state.hard_state, state.snapshot, list(state.entries))
        if value != (HardState(), None, []):
            result[group] = value
    return result
