"""Cursors for SCAN, and the helpers HSCAN, SSCAN and ZSCAN use.

Members are visited in the order of a stable 48-bit hash of their bytes (`member_hash`,
the same on every replica and in every process; Python's hash() is salted). A cursor is
`hash + 1` of the next member to visit, 0 when the iteration is over, so it survives any
insertion or deletion: a member present during the whole iteration has a fixed place in
the order and is returned exactly once (members with equal hashes are always returned
together). Cursors stay below 2**48: the router packs a shard number above them.

COUNT is a hint, as in Redis: a page visits `count` members, and MATCH (and TYPE, for
SCAN) filter the visited ones afterwards, so a page may come back short or empty while
the cursor is not 0.

How a type module implements HSCAN/SSCAN/ZSCAN with this module (Redis's order of
checks: cursor, then the key, then the options):

    cursor = parse_cursor(args[2])              # ERR invalid cursor
    value = db.lookup_typed(args[1], Hash)       # absent -> reply [b"0", []]
    options = parse_scan_options(args, 3)        # ERR syntax error, COUNT errors
    (Redis counts field/value pairs for HSCAN/ZSCAN: pass options.count unchanged, a page
    visits that many members)
    if value uses a small encoding (listpack, intset):
        # Redis returns everything in one call, whatever the cursor
        members = [m for m in all_members if options.accepts(m)]
        return scan_reply(0, <members, with their values for HSCAN/ZSCAN>)
    next_cursor, members = scan_page(index_or_members, cursor, options.count, options.match)
    return scan_reply(next_cursor, <members, with values for HSCAN/ZSCAN>)

`scan_page` takes either any iterable of members (it then orders them by hash on every
call: O(n) per page, fine for collections of a few thousand) or a `ScanIndex`: O(log n +
count) per page. Build the index on the first scan from the live collection
(`ScanIndex(self._fields)`), then call `add(member)` on every insert and
`discard(member)` on every delete (both cheap: they are applied in bulk by the next
page). Never replace the collection object under a live index: drop the index instead.
"""

from __future__ import annotations

import heapq
import re
import zlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

import numpy as np
from crc32c import crc32c
from sortedcontainers import SortedList

from node.engine.errors import CommandError
from node.engine.parsing import parse_int
from proto.errors import SYNTAX
from proto.glob import compile_pattern, matches_all

if TYPE_CHECKING:
    from node.engine.keyspace import Keyspace

CURSOR_BITS = 48
# Hashes lie in [0, 2**48 - 2] so that every cursor (hash + 1) is in [1, 2**48 - 1].
_HASH_MODULUS = (1 << CURSOR_BITS) - 1
_ULONG_MAX = (1 << 64) - 1
_CURSOR = re.compile(rb"([+-]?)([0-9]+)\Z")
_C_SPACE = b" \t\n\v\f\r"
INVALID_CURSOR = b"ERR invalid cursor"
DEFAULT_COUNT = 10


def member_hash(member: bytes) -> int:
    """The member's place in the iteration order: stable across processes, machines and
    versions (two standard CRCs, computed in C: the whole key space is hashed when the
    first SCAN builds its index)."""
    return ((zlib.crc32(member) << 32) | crc32c(member)) % _HASH_MODULUS


def parse_cursor(arg: bytes) -> int:
    """A cursor as Redis parses it (strtoul, base 10): no leading space, an optional sign
    ('-n' wraps modulo 2**64), nothing after the digits but a NUL; '' is 0. Raises
    `ERR invalid cursor` otherwise."""
    if arg[:1] and arg[:1] in _C_SPACE:
        raise CommandError(INVALID_CURSOR)
    text = arg.split(b"\x00", 1)[0]
    if not text:
        return 0
    found = _CURSOR.match(text)
    if found is None:
        raise CommandError(INVALID_CURSOR)
    digits = found.group(2).lstrip(b"0") or b"0"
    # More than 20 significant digits overflows (and would be slow to convert).
    if len(digits) > 20 or int(digits) > _ULONG_MAX:
        raise CommandError(INVALID_CURSOR)
    value = int(digits)
    return (-value) & _ULONG_MAX if found.group(1) == b"-" else value


@dataclass(frozen=True, slots=True)
class ScanOptions:
    count: int = DEFAULT_COUNT
    match: bytes | None = None  # None when nothing is filtered (absent or exactly "*")
    type_name: bytes | None = None  # SCAN's TYPE, lower-cased

    def accepts(self, member: bytes) -> bool:
        return self.match is None or compile_pattern(self.match)(member)


def parse_scan_options(args: list[bytes], start: int, allow_type: bool = False) -> ScanOptions:
    """COUNT n, MATCH pattern (and TYPE name for SCAN) from args[start:], in any order,
    repeated options overriding earlier ones. Errors in Redis 7.0's order and words: a
    non-integer COUNT -> ERR value is not an integer or out of range; COUNT < 1, an
    unknown option or a missing value -> ERR syntax error."""
    count = DEFAULT_COUNT
    match: bytes | None = None
    type_name: bytes | None = None
    index = start
    while index < len(args):
        option = args[index].lower()
        has_value = index + 1 < len(args)
        if option == b"count" and has_value:
            count = parse_int(args[index + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif option == b"match" and has_value:
            match = args[index + 1]
        elif option == b"type" and allow_type and has_value:
            type_name = args[index + 1].lower()
        else:
            raise CommandError(SYNTAX)
        index += 2
    return ScanOptions(count, None if matches_all(match) else match, type_name)


def scan_reply(cursor: int, elements: list) -> list:
    """The reply of every *SCAN command: [cursor as a bulk string, elements]."""
    return [b"%d" % cursor, elements]


class ScanIndex:
    """The members of a live collection (`source`: the owner's dict or set, the same
    object for the index's whole life) by `member_hash`, for paging in O(log n + count).

    The owner reports changes with `add` and `discard`; they are only recorded (a dict
    write) and applied in bulk by the next `page`, so a collection that is rarely scanned
    pays almost nothing per write. If changes pile up beyond a quarter of the index
    without a page being read, the index lets go of its contents (`stale`) and the next
    page builds it again from `source`; so does a page that finds the sizes disagree.

    Building the index of a large collection (hashing every member) takes about half a
    second per million members, which a node cannot spend in one go on the loop that
    sends its heartbeats. So a large index is built in steps: `page` with a `budget` hashes
    (or catches up on changes for) at most that many members, and answers None until the
    index is ready; the SCAN commands then reply with an empty page and the same cursor,
    which a client simply calls again (a SCAN page may be empty before the iteration
    ends). Without a budget (the apply path, whose replies must be the same on every
    replica) `page` always finishes the index first. Only the last step, sorting the
    hashes, is done in one go: a C sort, about 0.07 s per million members.
    """

    __slots__ = (
        "_building",
        "_built",
        "_hashes",
        "_members",
        "_new_hashes",
        "_pending",
        "_size",
        "_source",
        "_state",
    )

    # Sources up to this size are indexed at once (in about a millisecond).
    BUILD_AT_ONCE = 4096
    _EMPTY, _BUILDING, _READY = "empty", "building", "ready"

    def __init__(self, source: Collection[bytes]) -> None:
        self._source = source
        self._drop()
        self._state = self._EMPTY
        if len(source) <= self.BUILD_AT_ONCE:
            self._catch_up(None)

    @property
    def stale(self) -> bool:
        """Whether the index let go of its contents (or has not been built yet)."""
        return self._state == self._EMPTY

    def _drop(self) -> None:
        self._state = self._EMPTY
        self._pending: dict[bytes, bool] = {}  # member -> present, the last change wins
        self._members: dict[int, bytes | tuple[bytes, ...]] = {}
        self._hashes: SortedList[int] = SortedList()
        self._size = 0
        self._building: list[bytes] = []  # the source's members when the build began
        self._built = 0  # how many of them are hashed (into _members and _new_hashes)
        self._new_hashes: list[int] = []

    def __len__(self) -> int:
        self._catch_up(None)
        return self._size

    def add(self, member: bytes) -> None:
        self._note(member, True)

    def discard(self, member: bytes) -> None:
        self._note(member, False)

    def _note(self, member: bytes, present: bool) -> None:
        if self._state == self._EMPTY:
            return  # the next build starts from the source as it is then
        pending = self._pending
        pending[member] = present
        if len(pending) > 1024 + max(self._size, len(self._building)) // 4:
            self._drop()

    def page(
        self, cursor: int, count: int, budget: int | None = None
    ) -> tuple[int, list[bytes]] | None:
        """The members visited from `cursor` on (at least `count` unless the iteration
        ends, more to finish a run of equal hashes) and the cursor after them; None when
        `budget` (members to hash or changes to apply) ran out before the index was
        ready."""
        if not self._catch_up(budget):
            return None
        members = self._members
        start = self._hashes.bisect_left(cursor - 1) if cursor else 0
        visited: list[bytes] = []
        for hashed in self._hashes.islice(start):
            if len(visited) >= count:
                return hashed + 1, visited
            found = members[hashed]
            if isinstance(found, bytes):
                visited.append(found)
            else:
                visited.extend(found)
        return 0, visited

    def _catch_up(self, budget: int | None) -> bool:
        """Build the index and apply the recorded changes, within `budget` members (None:
        all of it); whether the index is now ready and agrees with the source."""
        if self._state == self._READY and not self._pending:
            if self._size == len(self._source):
                return True
            self._drop()
        if self._state == self._EMPTY:
            self._state = self._BUILDING
            self._building = list(self._source)
        if self._state == self._BUILDING:
            remaining = len(self._building) - self._built
            step = remaining if budget is None else min(budget, remaining)
            self._hash_members(step)
            if budget is not None:
                budget -= step
            if self._built < len(self._building):
                return False
            self._finish_build()
        pending = self._pending
        if pending:
            if budget is not None and len(pending) > budget:
                changes = list(islice(pending.items(), budget))
                for member, _ in changes:
                    del pending[member]
                self._apply_changes(changes)
                return False
            self._pending = {}
            self._apply_changes(list(pending.items()))
        if self._size != len(self._source):
            self._drop()
            return self._catch_up(budget) if budget is None else False
        return True

    def _hash_members(self, step: int) -> None:
        chunk = self._building[self._built : self._built + step]
        hashes = list(map(member_hash, chunk))
        members = self._members
        if len(set(hashes)) == len(hashes) and not members.keys() & hashes:
            members.update(zip(hashes, chunk))
        else:  # equal hashes (rare: 48 bits): grouped one by one
            for hashed, member in zip(hashes, chunk):
                self._group(hashed, member)
        self._new_hashes += hashes
        self._built += step

    def _finish_build(self) -> None:
        # Sorted in C (equal hashes once), then handed over as one sorted run.
        self._hashes = SortedList()
        self._hashes.update(np.unique(np.array(self._new_hashes, dtype=np.uint64)).tolist())
        self._size = len(self._building)
        self._building = []
        self._new_hashes = []
        self._built = 0
        self._state = self._READY

    def _apply_changes(self, changes: list[tuple[bytes, bool]]) -> None:
        hashes_before = len(self._members)
        added: list[int] = []
        for member, present in changes:
            if present:
                hashed = self._insert(member)
                if hashed is not None:
                    added.append(hashed)
            else:
                self._remove(member)
        if len(added) > hashes_before:
            self._hashes = SortedList(self._members)
        else:
            self._hashes.update(added)

    def _group(self, hashed: int, member: bytes) -> bool:
        """Put a member in `_members` under its hash, with any others of that hash;
        whether it was not there yet."""
        found = self._members.get(hashed)
        if found is None:
            self._members[hashed] = member
            return True
        group = (found,) if type(found) is bytes else found
        if member in group:
            return False
        self._members[hashed] = tuple(sorted((*group, member)))
        return True

    def _insert(self, member: bytes) -> int | None:
        """Add a member; returns its hash when that hash is new to the index."""
        hashed = member_hash(member)
        new_hash = hashed not in self._members
        if self._group(hashed, member):
            self._size += 1
        return hashed if new_hash else None

    def _remove(self, member: bytes) -> None:
        hashed = member_hash(member)
        found = self._members.get(hashed)
        if found is None:
            return
        if found == member:
            del self._members[hashed]
            self._hashes.discard(hashed)
            self._size -= 1
        elif type(found) is tuple and member in found:
            rest = tuple(other for other in found if other != member)
            self._members[hashed] = rest[0] if len(rest) == 1 else rest
            self._size -= 1


def scan_page(
    members: ScanIndex | Iterable[bytes],
    cursor: int,
    count: int,
    match: bytes | None,
    budget: int | None = None,
) -> tuple[int, list[bytes]]:
    """One page of an iteration over `members` (a ScanIndex, or any iterable of distinct
    members), filtered by `match` (None: no filter). Returns (next cursor, members). With
    a `budget`, an index not ready yet gives an empty page that keeps the cursor (never 0,
    which would end the iteration; cursor 1 is where it starts)."""
    if isinstance(members, ScanIndex):
        paged = members.page(cursor, count, budget)
        if paged is None:
            return max(cursor, 1), []
        next_cursor, visited = paged
    else:
        next_cursor, visited = _page_of(members, cursor, count)
    if match is None:
        return next_cursor, visited
    matcher = compile_pattern(match)
    return next_cursor, [member for member in visited if matcher(member)]


def page_count(db: Keyspace, count: int, per_member: int = 1) -> int:
    """SCAN's COUNT within the command's work budget (node.engine.work): COUNT is a hint,
    so the SCAN family is never refused; a page visits what the budget allows (at least
    one member), each visited member costing `per_member` (2 with its value or score).
    The work is charged here."""
    count = max(1, min(count, db.work_left // per_member))
    db.charge(min(count * per_member, db.work_left))
    return count


def scan_budget(db: Keyspace, size: int) -> int | None:
    """How many members a SCAN may hash into the index of a collection of `size` members
    this time. A read builds a large index over several calls (ScanIndex). A command being
    applied must reply the same on every replica, whatever reads built there, so it builds
    the index whole, and is charged for it whether or not it is built already: past
    max-command-work, SCAN in MULTI/EXEC, in a script or in a pipeline with writes is
    refused (outside them it is not)."""
    if db.mutating:
        if size > ScanIndex.BUILD_AT_ONCE:
            db.charge(size)
        return None
    return max(db.work_left, 1024)


def _page_of(members: Iterable[bytes], cursor: int, count: int) -> tuple[int, list[bytes]]:
    """ScanIndex.page without an index: the smallest hashes at or after the cursor."""
    floor = cursor - 1 if cursor else 0
    ahead = [(h, member) for member in members if (h := member_hash(member)) >= floor]
    # One more than the page, and ties with the last one, tell where the next page starts.
    chosen = heapq.nsmallest(count + 1, ahead)
    if len(chosen) <= count:
        return 0, [member for _, member in chosen]
    boundary = chosen[count - 1][0]
    if chosen[count][0] != boundary:
        return chosen[count][0] + 1, [member for _, member in chosen[:count]]
    tied = sorted(entry for entry in ahead if entry[0] <= boundary)
    rest = [h for h, _ in ahead if h > boundary]
    return (min(rest) + 1 if rest else 0), [member for _, member in tied]
