"""The replicated log of one replica, in memory: every entry after the last compaction point.

Indexes: `offset` is the index just before the first entry kept (the snapshot or compaction
point, whose term is `offset_term`), so `entries[i].index == offset + 1 + i`.

Markers (all indexes): committed (known to be on a quorum), applied (handed to the state
machine and acknowledged by `advance`), stable (persisted by storage and acknowledged),
and `unstable_from`, the first entry not yet handed to storage. When entries already handed
to storage are overwritten (a follower's uncommitted suffix), `truncate_from` tells storage
where its copy must be cut before the new entries are appended.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from operator import attrgetter
from types import MemberDescriptorType

from node.raft.types import Entry, EntryType

_term_of = attrgetter("term")
_data_of = attrgetter("data")


def _entry_factory() -> Callable[[int, int, EntryType, bytes], Entry]:
    """A constructor of Entry values that skips the frozen dataclass's __init__ (which sets
    each field through object.__setattr__): proposing is the hottest path of a leader."""
    slots = [Entry.__dict__.get(name) for name in ("index", "term", "type", "data")]
    if not all(isinstance(slot, MemberDescriptorType) for slot in slots):
        return Entry
    new = object.__new__
    set_index, set_term, set_type, set_data = (slot.__set__ for slot in slots)  # type: ignore[union-attr]

    def make_entry(index: int, term: int, kind: EntryType, data: bytes) -> Entry:
        entry = new(Entry)
        set_index(entry, index)
        set_term(entry, term)
        set_type(entry, kind)
        set_data(entry, data)
        return entry

    return make_entry


make_entry = _entry_factory()


class RaftLog:
    __slots__ = (
        "applied",
        "committed",
        "entries",
        "offset",
        "offset_term",
        "persist_limit",
        "stable",
        "truncate_from",
        "unstable_from",
    )

    def __init__(
        self, offset: int, offset_term: int, entries: Sequence[Entry], committed: int
    ) -> None:
        self.offset = offset
        self.offset_term = offset_term
        self.entries: list[Entry] = list(entries)
        for position, entry in enumerate(self.entries):
            if entry.index != offset + 1 + position:
                raise ValueError(f"entries are not contiguous after index {offset}")
        last = self.last_index()
        self.committed = max(offset, min(committed, last))
        self.applied = offset
        self.stable = last
        self.unstable_from = last + 1
        self.truncate_from: int | None = None
        # The highest index an outstanding Ready's entries may still make stable: lowered
        # when a truncation or snapshot overtakes entries that are being persisted.
        self.persist_limit = last

    # -- reading -------------------------------------------------------------------------

    def last_index(self) -> int:
        return self.offset + len(self.entries)

    def last_term(self) -> int:
        entries = self.entries
        return entries[-1].term if entries else self.offset_term

    def first_index(self) -> int:
        return self.offset + 1

    def term(self, index: int) -> int | None:
        """The term of the entry at `index`, None if it was compacted away or is not there."""
        position = index - self.offset - 1
        if position < 0:
            return self.offset_term if position == -1 else None
        entries = self.entries
        if position >= len(entries):
            return None
        return entries[position].term

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as up to date."""
        my_term = self.last_term()
        return last_term > my_term or (last_term == my_term and last_index >= self.last_index())

    def slice_limited(self, low: int, max_entries: int, max_bytes: int) -> list[Entry]:
        """Entries from `low`, at most max_entries and (past the first) max_bytes of data."""
        start = low - self.offset - 1
        batch = self.entries[start : start + max_entries]
        if sum(map(len, map(_data_of, batch))) <= max_bytes:
            return batch
        total = 0
        for count, entry in enumerate(batch):
            total += len(entry.data)
            if total > max_bytes and count > 0:
                return batch[:count]
        return batch

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= `index` whose term is <= `term`, with that term. Terms never
        decrease along a log, so this is a binary search. (index, 0) when `index` is below
        the compaction point (nothing is known about it)."""
        if index < self.offset:
            return index, 0
        stop = min(index, self.last_index()) - self.offset
        position = bisect_right(self.entries, term, 0, stop, key=_term_of)
        if position == 0:
            return self.offset, self.offset_term
        return self.offset + position, self.entries[position - 1].term

    # -- writing -------------------------------------------------------------------------

    def append(self, entry: Entry) -> None:
        self.entries.append(entry)

    def append_after(self, prev_index: int, entries: Sequence[Entry]) -> tuple[int, int | None]:
        """Put `entries` (which follow prev_index, known to match) into the log: entries
        already present with the same term are kept, the first one with a different term
        cuts the log there. Returns (last new index, the truncation index or None)."""
        last_new = prev_index + len(entries)
        last = self.last_index()
        if prev_index == last:
            self.entries.extend(entries)
            return last_new, None
        skip = 0
        for entry in entries:
            index = entry.index
            if index > last:
                break
            if self.term(index) != entry.term:
                self._truncate(index)
                break
            skip += 1
        else:
            return last_new, None
        truncated_at = index if index <= last else None
        self.entries.extend(entries[skip:] if skip else entries)
        return last_new, truncated_at

    def _truncate(self, index: int) -> None:
        """Drop every entry from `index` on (only ever uncommitted ones)."""
        if index <= self.committed:
            raise AssertionError(f"truncating committed entry {index} (commit {self.committed})")
        del self.entries[index - self.offset - 1 :]
        if index < self.unstable_from:
            # Storage already has (or is writing) entries from here: it must cut them.
            self.truncate_from = (
                index if self.truncate_from is None else min(self.truncate_from, index)
            )
            self.unstable_from = index
        self.stable = min(self.stable, index - 1)
        self.persist_limit = min(self.persist_limit, index - 1)

    def commit_to(self, index: int) -> bool:
        index = min(index, self.last_index())
        if index > self.committed:
            self.committed = index
            return True
        return False

    def restore(self, index: int, term: int) -> None:
        """Replace the whole log by a snapshot at (index, term) (storage discards its log when
        it persists the snapshot, so no truncate_from)."""
        self.offset = index
        self.offset_term = term
        self.entries = []
        self.committed = index
        self.stable = index
        self.unstable_from = index + 1
        self.truncate_from = None
        self.persist_limit = min(self.persist_limit, index)

    def compact(self, index: int) -> None:
        """Forget entries up to `index` (they are covered by a snapshot)."""
        if index <= self.offset:
            return
        if index > self.applied or index > self.stable:
            raise ValueError(f"cannot compact past applied/stable index ({index})")
        self.offset_term = self.entries[index - self.offset - 1].term
        del self.entries[: index - self.offset]
        self.offset = index
