"""A simulated disk per node: what was written is durable only once the simulation syncs it.

Writes are queued in order (snapshot, entries with truncation, hard state, per Ready; local
snapshots after compaction). A sync makes every queued write durable. A crash keeps a random
prefix of the queued writes (the OS may have flushed some of them) and loses the rest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from node.raft import Entry, HardState, RestoredState, Snapshot
from node.raft.ready_policy import GroupWrite


@dataclass
class GroupDisk:
    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)
    tombstone: bool = False  # the replica was removed; kept so that it never votes twice

    def restored(self) -> RestoredState:
        return RestoredState(self.hard_state, self.snapshot, tuple(self.entries))


class SimDisk:
    def __init__(self) -> None:
        self.groups: dict[int, GroupDisk] = {}
        self._queued: list[tuple[int, str, object]] = []
        # Set when the disk was lost, cleared once every replica caught up (VoteHold): a
        # node that restarts before that holds its votes again.
        self.rejoining = False

    def create(self, group: int, restored: RestoredState) -> None:
        disk = GroupDisk(restored.hard_state, restored.snapshot, list(restored.entries))
        self.groups[group] = disk

    def write_group(self, write: GroupWrite) -> None:
        """What the Ready policy says to write for one group (node/raft/ready_policy.py)."""
        queued = self._queued
        group = write.group
        if write.snapshot is not None:
            queued.append((group, "install", write.snapshot))
        if write.entries:
            queued.append((group, "entries", (write.truncate_from, write.entries)))
        elif write.truncate_from is not None:
            queued.append((group, "truncate", write.truncate_from))
        if write.hard_state is not None:
            queued.append((group, "hard_state", write.hard_state))

    def write_snapshot(self, group: int, snapshot: Snapshot) -> None:
        self._queued.append((group, "compact", snapshot))

    def has_unsynced(self) -> bool:
        return bool(self._queued)

    def sync(self) -> None:
        for write in self._queued:
            self._apply(*write)
        self._queued = []

    def crash(self, rng: random.Random) -> int:
        """Lose the writes not synced, except a random prefix; returns how many were kept."""
        kept = rng.randint(0, len(self._queued)) if self._queued else 0
        for write in self._queued[:kept]:
            self._apply(*write)
        self._queued = []
        return kept

    def _apply(self, group: int, kind: str, value: object) -> None:
        disk = self.groups[group]
        if kind == "hard_state":
            assert isinstance(value, HardState)
            disk.hard_state = value
        elif kind == "entries":
            assert isinstance(value, tuple)
            truncate_from, entries = value
            first = entries[0].index
            cut = first if truncate_from is None else min(first, truncate_from)
            stored = disk.entries
            base = disk.snapshot.meta.index if disk.snapshot is not None else 0
            keep = max(0, cut - base - 1)
            if keep < len(stored):
                del stored[keep:]
            if (stored[-1].index if stored else base) != first - 1:
                raise AssertionError(f"gap on disk: appending {first} after {stored[-1:] or base}")
            stored.extend(entries)
        elif kind == "truncate":
            assert isinstance(value, int)
            base = disk.snapshot.meta.index if disk.snapshot is not None else 0
            del disk.entries[max(0, value - base - 1) :]
        elif kind == "install":
            assert isinstance(value, Snapshot)
            disk.snapshot = value
            disk.entries = []
        elif kind == "compact":
            assert isinstance(value, Snapshot)
            current = disk.snapshot.meta.index if disk.snapshot is not None else 0
            if value.meta.index > current:
                disk.entries = [e for e in disk.entries if e.index > value.meta.index]
                disk.snapshot = value
