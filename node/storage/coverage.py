"""Which WAL segments are still needed.

A segment holds records of many groups. Hard states and snapshot markers of every group are
repeated at the start of each new segment (a checkpoint), so an older segment is only needed for
its entries: it may go once, for every group with entries in it, the highest of those entries is
covered by that group's durable snapshot. Only a prefix of the segments is ever deleted, so
replay always starts at a segment boundary and sees every later truncation.
"""

from __future__ import annotations

from collections.abc import Mapping


class SegmentCoverage:
    def __init__(self) -> None:
        self._max_index: dict[int, dict[int, int]] = {}  # sequence -> group -> highest entry
        self._group_max: dict[int, int] = {}  # group -> highest entry in any segment

    def add_segment(self, sequence: int) -> None:
        self._max_index.setdefault(sequence, {})

    def remove_segment(self, sequence: int) -> None:
        del self._max_index[sequence]

    def note_entries(self, sequence: int, group: int, first: int, last: int) -> None:
        if first <= self._group_max.get(group, 0):
            self.note_truncate(group, first)
        in_segment = self._max_index[sequence]
        in_segment[group] = max(in_segment.get(group, 0), last)
        self._group_max[group] = last

    def note_truncate(self, group: int, index: int) -> None:
        """Entries at index and after are dead wherever they are: they no longer pin a segment."""
        if self._group_max.get(group, 0) < index:
            return
        for in_segment in self._max_index.values():
            if in_segment.get(group, 0) >= index:
                if index > 1:
                    in_segment[group] = index - 1
                else:
                    del in_segment[group]
        self._group_max[group] = index - 1

    def pinning(self, snapshot_index: Mapping[int, int], keep_from: int) -> dict[int, int]:
        """The groups that keep the oldest segment (before keep_from) that cannot go, each
        with its highest entry there: a snapshot of each at or past it frees that segment.
        Empty when no finished segment is pinned."""
        for sequence in sorted(self._max_index):
            if sequence >= keep_from:
                break
            pins = {
                group: highest
                for group, highest in self._max_index[sequence].items()
                if highest > snapshot_index.get(group, 0)
            }
            if pins:
                return pins
        return {}

    def deletable_prefix(self, snapshot_index: Mapping[int, int], keep_from: int) -> list[int]:
        """The oldest segments (before sequence keep_from) whose entries every group's durable
        snapshot covers."""
        deletable = []
        for sequence in sorted(self._max_index):
            if sequence >= keep_from:
                break
            pinned = any(
                highest > snapshot_index.get(group, 0)
                for group, highest in self._max_index[sequence].items()
            )
            if pinned:
                break
            deletable.append(sequence)
        return deletable
