"""The sorted-set container and the score and lexicographic ranges it answers.

Members are ordered by (score, member bytes), as Redis's skiplist and listpack order them;
a `sortedcontainers.SortedList` of (score, member) pairs gives positions, ranks and range
bounds in O(log n), and a dict gives a member's score in O(1).

Redis 7.0 details that replies can show and that this module keeps:

- Encoding: "listpack" while there are at most zset-max-listpack-entries members and none
  is longer than zset-max-listpack-value bytes, then "skiplist" for good. A computed
  result (ZUNIONSTORE, a loaded snapshot) is encoded afresh.
- A listpack stores an integral score as an integer, so a score of -0 becomes 0 there;
  the skiplist keeps the sign.
- Lexicographic ranges assume that all members have the same score. When they do not,
  Redis's answer follows from how it walks the structure; this module walks as the
  listpack does (from the first member at or above the minimum, while members stay at or
  below the maximum), which is also what the skiplist does whenever the scores are equal.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np
from sortedcontainers import SortedList

from node.engine.config import EngineConfig
from node.engine.errors import CommandError
from node.engine.keyspace import Container
from node.engine.parsing import LLONG_MAX, to_float
from node.engine.scan import ScanIndex
from proto.errors import MIN_MAX_NOT_FLOAT, MIN_MAX_NOT_STRING, NOT_FLOAT

# Estimated bytes besides the member bytes: the robj and the encoding's header, and per
# member the score, a dictEntry and a skiplist node share. Constants, so every replica
# computes the same `mem`.
ZSET_OVERHEAD = 64
MEMBER_OVERHEAD = 40

_C_SPACE = b" \t\n\v\f\r"
# double2ll's bounds: beyond them Redis prints a score with "%.17g" even when integral.
_INTEGRAL_LIMIT = float(LLONG_MAX // 2)

Entry = tuple[bytes, float]


# ---------------------------------------------------------------------- scores


def parse_score(arg: bytes, error: bytes = NOT_FLOAT) -> float:
    """A score as Redis's getDoubleFromObject reads it (string2d): strtod over the whole
    argument, no leading space, no NaN, and no overflow to infinity or underflow to zero
    (a literal "inf" is fine)."""
    value = _strtod(arg)
    if value is None or _out_of_range(arg, value):
        raise CommandError(error)
    return value


def _strtod(text: bytes) -> float | None:
    """parsing.to_float, with a hexadecimal overflow read as infinity as strtod reads it
    (float.fromhex raises instead)."""
    try:
        return to_float(text)
    except OverflowError:
        return -math.inf if text.lstrip(b"+")[:1] == b"-" else math.inf


def _out_of_range(text: bytes, value: float) -> bool:
    """Whether strtod would have set ERANGE with an infinite or zero result."""
    lowered = text.lower()
    if math.isinf(value):
        return b"inf" not in lowered
    if value != 0.0:
        return False
    hexadecimal = b"0x" in lowered
    mantissa = lowered.split(b"p" if hexadecimal else b"e", 1)[0]
    if hexadecimal:
        mantissa = mantissa.split(b"0x", 1)[1]
    return any(digit in b"123456789abcdef" for digit in mantissa)


def score_text(score: float) -> bytes:
    """How a listpack holds a score, which ZSCAN of a listpack replies with (Redis's
    d2string): integral scores in the long long range without a fraction, 'inf'/'-inf',
    else '%.17g'. A skiplist's ZSCAN prints every score with '%.17g' instead."""
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    if score == 0:
        return b"-0" if math.copysign(1.0, score) < 0 else b"0"
    if -_INTEGRAL_LIMIT <= score <= _INTEGRAL_LIMIT and score == int(score):
        return b"%d" % int(score)
    return b"%.17g" % score


# ---------------------------------------------------------------------- ranges


@dataclass(frozen=True, slots=True)
class ScoreRange:
    """min/max of ZRANGEBYSCORE and friends; '(' makes an end exclusive."""

    low: float
    low_exclusive: bool
    high: float
    high_exclusive: bool

    def above_low(self, score: float) -> bool:
        return score > self.low if self.low_exclusive else score >= self.low

    def below_high(self, score: float) -> bool:
        return score < self.high if self.high_exclusive else score <= self.high


def parse_score_range(low: bytes, high: bytes) -> ScoreRange:
    """zslParseRange: an optional '(' then what strtod reads up to the end (leading space
    allowed, nothing at all reads as 0, overflow reads as infinity), never NaN."""
    low_value, low_exclusive = _score_bound(low)
    high_value, high_exclusive = _score_bound(high)
    return ScoreRange(low_value, low_exclusive, high_value, high_exclusive)


def _score_bound(arg: bytes) -> tuple[float, bool]:
    exclusive = arg[:1] == b"("
    # strtod stops at a NUL byte, and Redis only checks that it stopped at one.
    text = (arg[1:] if exclusive else arg).split(b"\x00", 1)[0]
    if not text:
        return 0.0, exclusive
    value = _strtod(text.lstrip(_C_SPACE))
    if value is None:
        raise CommandError(MIN_MAX_NOT_FLOAT)
    return value, exclusive


# A lexicographic bound is (rank, bytes): "-" is (-1, b""), below every member (0, m);
# "+" is (1, b""), above them. Tuple order then is Redis's sdscmplex.
LexBound = tuple[int, bytes]
_MIN_STRING: LexBound = (-1, b"")
_MAX_STRING: LexBound = (1, b"")


@dataclass(frozen=True, slots=True)
class LexRange:
    """min/max of ZRANGEBYLEX and friends: '[x' inclusive, '(x' exclusive, '-', '+'."""

    low: LexBound
    low_exclusive: bool
    high: LexBound
    high_exclusive: bool

    def is_empty(self) -> bool:
        return self.low > self.high or (
            self.low == self.high and (self.low_exclusive or self.high_exclusive)
        )

    def above_low(self, member: bytes) -> bool:
        key = (0, member)
        return key > self.low if self.low_exclusive else key >= self.low

    def below_high(self, member: bytes) -> bool:
        key = (0, member)
        return key < self.high if self.high_exclusive else key <= self.high


def parse_lex_range(low: bytes, high: bytes) -> LexRange:
    low_bound, low_exclusive = _lex_bound(low)
    high_bound, high_exclusive = _lex_bound(high)
    return LexRange(low_bound, low_exclusive, high_bound, high_exclusive)


def _lex_bound(arg: bytes) -> tuple[LexBound, bool]:
    first = arg[:1]
    if first == b"[":
        return (0, arg[1:]), False
    if first == b"(":
        return (0, arg[1:]), True
    if arg == b"-":
        return _MIN_STRING, True
    if arg == b"+":
        return _MAX_STRING, True
    raise CommandError(MIN_MAX_NOT_STRING)


# ---------------------------------------------------------------------- the container


def _score_prefix(score: float) -> bytes:
    """8 bytes whose byte order is the numeric order of scores (-0 and 0 alike, as Redis
    compares them): the IEEE bits with the sign flipped for positives, all bits flipped
    for negatives."""
    if score == 0:
        score = 0.0
    (bits,) = _BITS.unpack(_DOUBLE.pack(score))
    return _BITS.pack(bits ^ _ALL_BITS if bits & _SIGN_BIT else bits | _SIGN_BIT)


_DOUBLE = struct.Struct(">d")
_BITS = struct.Struct(">Q")
_SIGN_BIT = 1 << 63
_ALL_BITS = (1 << 64) - 1
_PREFIX = 8


class ZSetValue(Container):
    """A Redis sorted set. All changes go through `put`, `remove`, `remove_span` and
    `pop`, which keep the order, the byte count behind `mem`, the encoding and the scan
    index right. Positions count from the lowest (score, member).

    The order is a SortedList of bytes keys, `_score_prefix(score) + member`: their byte
    order is the (score, member) order, and comparing bytes is far cheaper than comparing
    (float, bytes) tuples. The exact score (its sign of zero too) lives in the dict."""

    __slots__ = ("_config", "_content_bytes", "_order", "_scan_index", "_scores", "_skiplist")
    TYPE_NAME = b"zset"

    def __init__(self, config: EngineConfig, skiplist: bool = False) -> None:
        super().__init__()
        self._config = config
        self._scores: dict[bytes, float] = {}
        self._order: SortedList[bytes] = SortedList()  # _score_prefix(score) + member
        self._content_bytes = 0  # sum of len(member)
        self._skiplist = skiplist  # Redis converts listpack -> skiplist once, never back
        self._scan_index: ScanIndex | None = None  # built by the first ZSCAN that needs it

    @classmethod
    def computed(cls, config: EngineConfig, entries: Iterable[Entry]) -> ZSetValue:
        """A sorted set built from distinct (member, score) entries and encoded afresh, as
        Redis encodes a ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE result or a loaded set."""
        entries = list(entries)
        fits = len(entries) <= config.zset_max_listpack_entries and all(
            len(member) <= config.zset_max_listpack_value for member, _ in entries
        )
        value = cls(config, skiplist=not fits)
        for member, score in entries:
            value.put(member, score)
        return value

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._scores)

    def __contains__(self, member: bytes) -> bool:
        return member in self._scores

    def __iter__(self) -> Iterator[Entry]:
        """(member, score) from the lowest to the highest."""
        return self._entries(iter(self._order))

    def _entries(self, keys: Iterable[bytes]) -> Iterator[Entry]:
        scores = self._scores
        for key in keys:
            member = key[_PREFIX:]
            yield member, scores[member]

    def score(self, member: bytes) -> float | None:
        return self._scores.get(member)

    def at(self, position: int) -> Entry:
        member = self._order[position][_PREFIX:]
        return member, self._scores[member]

    def entries_at(self, positions: list[int]) -> list[Entry]:
        """The entries at many positions (repetitions allowed), in the order given. Indexing
        a SortedList one position at a time costs a microsecond or more; for many positions
        they are found in its sublists (SortedList._lists, its documented layout since 2.0)
        with numpy, in time linear in the positions plus the number of sublists."""
        order = self._order
        if len(positions) < 64:
            keys = [order[position] for position in positions]
        else:
            sublists = cast(_SortedListLayout, order)._lists
            starts = np.cumsum([0, *map(len, sublists)])
            wanted = np.asarray(positions, dtype=np.int64)
            which = np.searchsorted(starts, wanted, side="right") - 1
            offsets = wanted - starts[which]
            keys = [
                sublists[sublist][offset]
                for sublist, offset in zip(which.tolist(), offsets.tolist())
            ]
        members = [key[_PREFIX:] for key in keys]
        return list(zip(members, map(self._scores.__getitem__, members)))

    def has_one_score(self) -> bool:
        """Whether every member has the same score (then members are in byte order, and a
        lexicographic range is found by bisection instead of a walk)."""
        return not self._order or _one_score(self._order)

    def rank(self, member: bytes) -> int | None:
        score = self._scores.get(member)
        if score is None:
            return None
        return self._order.index(_score_prefix(score) + member)

    def window(self, start: int, stop: int, reverse: bool = False) -> list[Entry]:
        """The entries at positions [start, stop), highest first when `reverse`."""
        members = [key[_PREFIX:] for key in self._order.islice(start, stop, reverse)]
        return list(zip(members, map(self._scores.__getitem__, members)))

    def walk(self, start: int, reverse: bool = False) -> Iterator[Entry]:
        """Entries from position `start` on, towards the highest (or, with `reverse`, the
        lowest) end."""
        if reverse:
            return self._entries(self._order.islice(0, start + 1, reverse=True))
        return self._entries(self._order.islice(start))

    def score_span(self, spec: ScoreRange) -> tuple[int, int]:
        """The positions [start, stop) of the members whose score is in `spec`."""
        order = self._order
        start = _first_at_or_above(order, spec.low, spec.low_exclusive)
        stop = _first_at_or_above(order, spec.high, not spec.high_exclusive)
        return start, max(start, stop)

    def lex_start(self, spec: LexRange, reverse: bool = False) -> int | None:
        """Where a lexicographic walk over `spec` starts: the first member at or above the
        minimum (or with `reverse` the last member at or below the maximum), None when that
        member is out of the range or there is none."""
        order = self._order
        size = len(order)
        if (
            size == 0
            or spec.is_empty()
            or not spec.above_low(order[-1][_PREFIX:])
            or not spec.below_high(order[0][_PREFIX:])
        ):
            return None
        if _one_score(order):
            # The members are sorted, so the walk's start can be searched.
            if reverse:
                position = _lex_position(order, spec.high, after=not spec.high_exclusive) - 1
            else:
                position = _lex_position(order, spec.low, after=spec.low_exclusive)
            member = order[position][_PREFIX:]
            inside = spec.above_low(member) if reverse else spec.below_high(member)
            return position if inside else None
        reached = spec.below_high if reverse else spec.above_low
        inside_range = spec.above_low if reverse else spec.below_high
        positions = range(size - 1, -1, -1) if reverse else range(size)
        keys = reversed(order) if reverse else iter(order)
        for position, key in zip(positions, keys):
            member = key[_PREFIX:]
            if reached(member):
                return position if inside_range(member) else None
        return None

    def lex_span(self, spec: LexRange) -> tuple[int, int]:
        """The positions [start, stop) a forward lexicographic walk over `spec` visits
        (ZLEXCOUNT, ZREMRANGEBYLEX): from `lex_start` while members stay at or below the
        maximum."""
        start = self.lex_start(spec)
        if start is None:
            return 0, 0
        order = self._order
        if _one_score(order):
            return start, _lex_position(order, spec.high, after=not spec.high_exclusive)
        stop = start
        for key in order.islice(start):
            if not spec.below_high(key[_PREFIX:]):
                break
            stop += 1
        return start, stop

    @property
    def mem(self) -> int:
        return ZSET_OVERHEAD + self._content_bytes + MEMBER_OVERHEAD * len(self._scores)

    def encoding(self) -> bytes:
        return b"skiplist" if self._skiplist else b"listpack"

    @property
    def is_listpack(self) -> bool:
        return not self._skiplist

    def convert_to_skiplist(self) -> None:
        """zsetConvert to a skiplist, for good (SORT does this to the set it sorts)."""
        self._skiplist = True

    def scan_index(self) -> ScanIndex:
        """The members in ZSCAN order, kept up to date from now on (a derived cache: it
        changes no reply and is not part of `mem`)."""
        if self._scan_index is None:
            self._scan_index = ScanIndex(self._scores)
        return self._scan_index

    # ------------------------------------------------------------------ writing

    def put(self, member: bytes, score: float) -> None:
        """Add a member or move it to a new score (never NaN)."""
        scores = self._scores
        old = scores.get(member)
        if old is None:
            config = self._config
            if not self._skiplist and (
                len(scores) >= config.zset_max_listpack_entries
                or len(member) > config.zset_max_listpack_value
            ):
                self._skiplist = True
            self._content_bytes += len(member)
            if self._scan_index is not None:
                self._scan_index.add(member)
        else:
            self._order.remove(_score_prefix(old) + member)
        if score == 0 and not self._skiplist:
            score = 0.0  # the listpack stores the integer 0
        scores[member] = score
        self._order.add(_score_prefix(score) + member)

    def remove(self, member: bytes) -> bool:
        score = self._scores.pop(member, None)
        if score is None:
            return False
        self._order.remove(_score_prefix(score) + member)
        self._forget(member)
        return True

    def remove_span(self, start: int, stop: int) -> int:
        """Remove the members at positions [start, stop); how many went."""
        order = self._order
        if stop - start > 64:
            gone = _cut_span(order, start, stop)
        else:
            gone = order[start:stop]
            del order[start:stop]
        members = [key[_PREFIX:] for key in gone]
        scores = self._scores
        for member in members:
            del scores[member]
        self._content_bytes -= sum(map(len, members))
        if self._scan_index is not None:
            for member in members:
                self._scan_index.discard(member)
        return len(gone)

    def pop(self, highest: bool) -> Entry:
        """Remove and return the lowest (or highest) entry."""
        member = self._order.pop(-1 if highest else 0)[_PREFIX:]
        score = self._scores.pop(member)
        self._forget(member)
        return member, score

    def _forget(self, member: bytes) -> None:
        self._content_bytes -= len(member)
        if self._scan_index is not None:
            self._scan_index.discard(member)

    # ------------------------------------------------------------------ whole value

    def copy(self) -> ZSetValue:
        duplicate = ZSetValue(self._config, self._skiplist)
        duplicate._scores = dict(self._scores)
        duplicate._order = SortedList(self._order)
        duplicate._content_bytes = self._content_bytes
        return duplicate

    def snapshot_items(self) -> list[Entry]:
        return list(self)

    @classmethod
    def from_snapshot_items(
        cls, config: EngineConfig, items: Iterable[Entry], encoding: bytes | None = None
    ) -> ZSetValue:
        """A sorted set holding `items`, encoded as Redis encodes a set it loads, or as a
        skiplist when `encoding` (the original's `encoding()`, if the snapshot kept it)
        says so: a skiplist keeps -0 scores that a listpack would store as 0, so a replica
        restored with the encoding stays identical to the others. Duplicate members and
        NaN scores are refused."""
        entries = [(bytes(member), float(score)) for member, score in items]
        if len({member for member, _ in entries}) != len(entries):
            raise ValueError("duplicate sorted set member")
        if any(math.isnan(score) for _, score in entries):
            raise ValueError("NaN score in a sorted set")
        if encoding != b"skiplist":
            return cls.computed(config, entries)
        value = cls(config, skiplist=True)
        for member, score in entries:
            value.put(member, score)
        return value


class _SortedListLayout(Protocol):
    """The internals of a SortedList of bytes that entries_at and _cut_span use (its layout
    since sortedcontainers 2.0), which the sortedcontainers stubs leave out."""

    _lists: list[list[bytes]]
    _maxes: list[bytes]
    _load: int
    _index: list[int]
    _len: int


def _cut_span(order: SortedList[bytes], start: int, stop: int) -> list[bytes]:
    """`del order[start:stop]`, returning what went. SortedList deletes a span shorter than
    an eighth of the list one position at a time (several microseconds each); this cuts
    its sublists (SortedList._lists and _maxes, its layout since 2.0) in time linear in
    the span plus the number of sublists, keeps their sizes within SortedList's bounds
    (at most twice its load, at least half of it but for the last) and lets it rebuild
    its positional index on the next use."""
    before: list[list[bytes]] = []
    after: list[list[bytes]] = []
    joined: list[bytes] = []  # what is left of the sublists the span touches
    gone: list[bytes] = []
    position = 0
    layout = cast(_SortedListLayout, order)
    for sublist in layout._lists:
        first = position
        position += len(sublist)
        if position <= start:
            before.append(sublist)
        elif first >= stop:
            after.append(sublist)
        else:
            low, high = max(start - first, 0), min(stop - first, len(sublist))
            gone += sublist[low:high]
            joined += sublist[:low]
            joined += sublist[high:]
    load = layout._load
    if len(joined) < load >> 1:
        if before:
            joined = before.pop() + joined
        elif after:
            joined += after.pop(0)
    pieces = [joined[index : index + load] for index in range(0, len(joined), load)]
    if len(pieces) > 1 and len(pieces[-1]) < load >> 1:
        tail = pieces.pop()
        pieces[-1] += tail
    lists = before + pieces + after
    layout._lists = lists
    layout._maxes = [sublist[-1] for sublist in lists]
    layout._index = []
    layout._len -= len(gone)
    return gone


def _one_score(order: SortedList[bytes]) -> bool:
    """Whether every member has the same score (then members are in byte order)."""
    return order[0][:_PREFIX] == order[-1][:_PREFIX]


def _first_at_or_above(order: SortedList[bytes], bound: float, strictly: bool) -> int:
    """The first position whose score is >= bound (> bound when `strictly`)."""
    if strictly:
        if bound == math.inf:
            return len(order)
        bound = math.nextafter(bound, math.inf)
    return order.bisect_left(_score_prefix(bound))


def _lex_position(order: SortedList[bytes], bound: LexBound, after: bool) -> int:
    """In a sorted set whose scores are all equal: the first position whose member is
    >= bound (> bound when `after`)."""
    rank, text = bound
    if rank < 0:
        return 0
    if rank > 0:
        return len(order)
    key = order[0][:_PREFIX] + text
    return order.bisect_right(key) if after else order.bisect_left(key)
