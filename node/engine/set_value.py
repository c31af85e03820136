"""The set container: members in an explicit order, with Redis 7.0's encoding rules.

SPOP is a write that every replica applies with the same seeded generator, so a random
draw must pick the same member everywhere. Python's set and dict iteration order depends
on the (salted) hash and on the history of insertions and deletions, and a replica
restored from a snapshot has another history. The members therefore live in a list whose
order is part of the replicated state (a snapshot stores it), with a dict member ->
position beside it; a removal moves the last member into the hole, so adding, removing
and drawing a random member are all O(1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from node.engine.config import EngineConfig
from node.engine.keyspace import Container
from node.engine.parsing import to_int
from node.engine.scan import ScanIndex

# Estimated bytes besides the member bytes: the robj and the encoding's header, and per
# member a dictEntry share, an sds header and the list slot. Constants, so every replica
# computes the same `mem`.
SET_OVERHEAD = 48
MEMBER_OVERHEAD = 24


def is_intset_member(member: bytes) -> bool:
    """Whether Redis 7.0 can keep `member` in an intset: the canonical text of a signed
    64-bit integer (string2ll, which refuses "-0", "+1", "01" and spaces)."""
    return to_int(member) is not None


class SetValue(Container):
    """A Redis set. All changes go through `add`, `remove` and `pop_at`, which keep the
    order, the byte count behind `mem`, the encoding and the scan index right."""

    __slots__ = (
        "_config",
        "_content_bytes",
        "_hashtable",
        "_members",
        "_positions",
        "_scan_index",
    )
    TYPE_NAME = b"set"

    def __init__(self, config: EngineConfig, members: Iterable[bytes] = ()) -> None:
        """A set holding `members` (duplicates ignored), encoded as Redis encodes a set it
        builds member by member: an intset until a non-integer member arrives or the count
        passes set-max-intset-entries, then a hashtable for good."""
        super().__init__()
        self._config = config
        self._members: list[bytes] = []
        self._positions: dict[bytes, int] = {}
        self._content_bytes = 0  # sum of len(member)
        self._hashtable = False
        self._scan_index: ScanIndex | None = None  # built by the first SSCAN that needs it
        for member in members:
            self.add(member)

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, member: bytes) -> bool:
        return member in self._positions

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._members)

    def members(self) -> list[bytes]:
        """The members in their replicated order (a copy)."""
        return list(self._members)

    def member_at(self, position: int) -> bytes:
        """The member at `position` in the replicated order: O(1), for random draws."""
        return self._members[position]

    @property
    def mem(self) -> int:
        return SET_OVERHEAD + self._content_bytes + MEMBER_OVERHEAD * len(self._members)

    def encoding(self) -> bytes:
        return b"hashtable" if self._hashtable else b"intset"

    @property
    def is_intset(self) -> bool:
        return not self._hashtable

    def scan_index(self) -> ScanIndex:
        """The members in SSCAN order, kept up to date from now on (a derived cache: it
        changes no reply and is not part of `mem`)."""
        if self._scan_index is None:
            self._scan_index = ScanIndex(self._members)
        return self._scan_index

    # ------------------------------------------------------------------ writing

    def add(self, member: bytes) -> bool:
        """Add a member; True when it was not there yet."""
        positions = self._positions
        if member in positions:
            return False
        if not self._hashtable and (
            len(positions) >= self._config.set_max_intset_entries or not is_intset_member(member)
        ):
            self._hashtable = True
        positions[member] = len(self._members)
        self._members.append(member)
        self._content_bytes += len(member)
        if self._scan_index is not None:
            self._scan_index.add(member)
        return True

    def remove(self, member: bytes) -> bool:
        """Remove a member; True when it was there."""
        position = self._positions.get(member)
        if position is None:
            return False
        self.pop_at(position)
        return True

    def pop_at(self, position: int) -> bytes:
        """Remove and return the member at `position`; the last member takes its place."""
        members = self._members
        positions = self._positions
        member = members[position]
        last = members.pop()
        if position < len(members):
            members[position] = last
            positions[last] = position
        del positions[member]
        self._content_bytes -= len(member)
        if self._scan_index is not None:
            self._scan_index.discard(member)
        return member

    # ------------------------------------------------------------------ whole value

    def copy(self) -> SetValue:
        duplicate = SetValue(self._config)
        duplicate._members = list(self._members)
        duplicate._positions = dict(self._positions)
        duplicate._content_bytes = self._content_bytes
        duplicate._hashtable = self._hashtable
        return duplicate

    def snapshot_items(self) -> list[bytes]:
        """The members in their replicated order: a restored replica draws like the rest."""
        return list(self._members)

    @classmethod
    def from_snapshot_items(
        cls, config: EngineConfig, items: Iterable[bytes], encoding: bytes | None = None
    ) -> SetValue:
        """A set holding `items` in that order, encoded as Redis encodes a set it loads, or
        as a hashtable when `encoding` (the original's `encoding()`, if the snapshot kept
        it) says so, so that SSCAN pages alike on a restored replica. Duplicate members
        are refused."""
        value = cls(config)
        value._hashtable = encoding == b"hashtable"
        for member in items:
            if not value.add(bytes(member)):
                raise ValueError(f"duplicate set member {bytes(member)!r}")
        return value
