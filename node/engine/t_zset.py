"""Sorted-set commands, as Redis 7.0's t_zset.c: the same replies, errors and order of checks.

Scores in replies are `Double`s (RESP2 bulk '%.17g', RESP3 double). Which replies nest
(member, score) pairs in RESP3 follows Redis 7.0 exactly: ZRANGE/ZUNION/... WITHSCORES,
ZRANDMEMBER WITHSCORES and ZPOPMIN/ZPOPMAX with a count use `Pairs`; ZPOPMIN without a
count and BZPOPMIN stay flat; ZMPOP/BZMPOP nest in both protocols.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator
from itertools import islice

from node.engine.blocking import WouldBlock, parse_timeout
from node.engine.errors import CommandError, check_random_draws
from node.engine.keyspace import Keyspace
from node.engine.parsing import LLONG_MAX, parse_int, to_int
from node.engine.registry import command
from node.engine.scan import (
    page_count,
    parse_cursor,
    parse_scan_options,
    scan_budget,
    scan_page,
    scan_reply,
)
from node.engine.set_value import SetValue
from node.engine.t_set import LIMIT_NEGATIVE, parse_positive_count, parse_signed_count
from node.engine.work import RANDOM_ZSET_DRAW, ZSET_REORDER, distinct_positions, random_positions
from node.engine.zset_value import (
    Entry,
    LexRange,
    ScoreRange,
    ZSetValue,
    parse_lex_range,
    parse_score,
    parse_score_range,
    score_text,
)
from proto.errors import COUNT_POSITIVE, NUMKEYS_POSITIVE, OUT_OF_RANGE, SYNTAX, WRONGTYPE
from proto.resp import NULL_ARRAY, Double, Pairs, Reply, format_double

NAN_RESULT = b"ERR resulting score is not a number (NaN)"
XX_AND_NX = b"ERR XX and NX options at the same time are not compatible"
GT_LT_NX = b"ERR GT, LT, and/or NX options at the same time are not compatible"
INCR_SINGLE_PAIR = b"ERR INCR option supports a single increment-element pair"
LIMIT_NEEDS_RANGE = (
    b"ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
)
WITHSCORES_WITH_BYLEX = b"ERR syntax error, WITHSCORES not supported in combination with BYLEX"
WEIGHT_NOT_FLOAT = b"ERR weight value is not a float"


def _flat(entries: Iterable[Entry]) -> list:
    return [part for member, score in entries for part in (member, Double(score))]


def _pop(db: Keyspace, key: bytes, value: ZSetValue, highest: bool, count: int) -> list[Entry]:
    """Pop up to `count` entries from one end, the first popped first; the key goes when
    the set is empty."""
    size = len(value)
    count = min(count, size)
    db.charge(2 * count)
    if count == 1:
        popped = [value.pop(highest)]
    elif highest:
        # The span at once: what `count` single pops would take, in their order.
        popped = value.window(size - count, size, reverse=True)
        value.remove_span(size - count, size)
    else:
        popped = value.window(0, count)
        value.remove_span(0, count)
    _removed(db, key, value, b"zpopmax" if highest else b"zpopmin")
    return popped


def _removed(db: Keyspace, key: bytes, value: ZSetValue, event: bytes) -> None:
    """Members left the sorted set at `key`: `event`, then "del" if that emptied it."""
    db.modified(key)
    db.notify("z", event, key)
    if not value:
        db.delete(key)
        db.notify("g", b"del", key)


# ---------------------------------------------------------------------- ZADD / ZINCRBY

_ZADD_FLAGS = (b"nx", b"xx", b"ch", b"incr", b"gt", b"lt")


def _zadd(db: Keyspace, args: list[bytes], incr: bool) -> Reply:
    flags: set[bytes] = set()
    index = 2
    while index < len(args) and args[index].lower() in _ZADD_FLAGS:
        flags.add(args[index].lower())
        index += 1
    incr = incr or b"incr" in flags
    nx, xx, gt, lt = (flag in flags for flag in (b"nx", b"xx", b"gt", b"lt"))
    pairs = args[index:]
    if not pairs or len(pairs) % 2:
        raise CommandError(SYNTAX)
    if nx and xx:
        raise CommandError(XX_AND_NX)
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise CommandError(GT_LT_NX)
    if incr and len(pairs) > 2:
        raise CommandError(INCR_SINGLE_PAIR)
    # Every score is checked before anything changes: the command is all or nothing.
    scores = [parse_score(pairs[position]) for position in range(0, len(pairs), 2)]
    key = args[1]
    value = db.lookup_typed(key, ZSetValue)
    new = value is None
    if value is None:
        if xx:
            return None if incr else 0
        value = ZSetValue(db.config)
    elif not nx:
        # A member given a new score is taken out of the order and put back.
        score_of = value.score
        moved = sum(
            1
            for score, member in zip(scores, pairs[1::2])
            if (current := score_of(member)) is not None and (incr or current != score)
        )
        db.charge(ZSET_REORDER * moved)
    added = updated = processed = 0
    result = 0.0
    for score, member in zip(scores, pairs[1::2]):
        current = value.score(member)
        if current is None:
            if xx:
                continue
            value.put(member, score)
            added += 1
        else:
            if nx:
                continue
            if incr:
                score += current
                if math.isnan(score):
                    raise CommandError(NAN_RESULT)
            if (lt and score >= current) or (gt and score <= current):
                continue
            if score != current:
                value.put(member, score)
                updated += 1
        processed += 1
        result = score
    if new:
        db.set(key, value)
    elif added or updated:
        db.modified(key)
    if added or updated:
        db.notify("z", b"zincr" if incr else b"zadd", key)
    if incr:
        return Double(result) if processed else None
    return added + updated if b"ch" in flags else added


@command("zadd")
def zadd(db: Keyspace, args: list[bytes]) -> Reply:
    return _zadd(db, args, incr=False)


@command("zincrby")
def zincrby(db: Keyspace, args: list[bytes]) -> Reply:
    return _zadd(db, args, incr=True)


# ---------------------------------------------------------------------- removals


@command("zrem")
def zrem(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    value = db.lookup_typed(key, ZSetValue)
    if value is None:
        return 0
    db.charge(ZSET_REORDER * len(args[2:]))
    removed = sum(value.remove(member) for member in args[2:])
    if removed:
        _removed(db, key, value, b"zrem")
    return removed


def _remove_span(
    db: Keyspace, key: bytes, value: ZSetValue, start: int, stop: int, event: bytes
) -> int:
    if start < stop:
        db.charge(stop - start)
    removed = value.remove_span(start, stop) if start < stop else 0
    if removed:
        _removed(db, key, value, event)
    return removed


@command("zremrangebyrank")
def zremrangebyrank(db: Keyspace, args: list[bytes]) -> Reply:
    start, end = parse_int(args[2]), parse_int(args[3])
    value = db.lookup_typed(args[1], ZSetValue)
    if value is None:
        return 0
    bounds = _rank_bounds(len(value), start, end)
    if bounds is None:
        return 0
    return _remove_span(db, args[1], value, bounds[0], bounds[1] + 1, b"zremrangebyrank")


@command("zremrangebyscore")
def zremrangebyscore(db: Keyspace, args: list[bytes]) -> Reply:
    spec = parse_score_range(args[2], args[3])
    value = db.lookup_typed(args[1], ZSetValue)
    if value is None:
        return 0
    start, stop = value.score_span(spec)
    return _remove_span(db, args[1], value, start, stop, b"zremrangebyscore")


@command("zremrangebylex")
def zremrangebylex(db: Keyspace, args: list[bytes]) -> Reply:
    spec = parse_lex_range(args[2], args[3])
    value = db.lookup_typed(args[1], ZSetValue)
    if value is None:
        return 0
    _charge_lex_walk(db, value)
    start, stop = value.lex_span(spec)
    return _remove_span(db, args[1], value, start, stop, b"zremrangebylex")


def _charge_lex_walk(db: Keyspace, value: ZSetValue) -> None:
    """A lexicographic range over members of several scores is found by walking the set
    (one score: by bisection, which costs nothing worth counting)."""
    if not value.has_one_score():
        db.charge(len(value))


# ---------------------------------------------------------------------- single-member reads


@command("zcard")
def zcard(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], ZSetValue)
    return 0 if value is None else len(value)


@command("zscore")
def zscore(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], ZSetValue)
    score = None if value is None else value.score(args[2])
    return None if score is None else Double(score)


@command("zmscore")
def zmscore(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], ZSetValue)
    scores = [None if value is None else value.score(member) for member in args[2:]]
    return [None if score is None else Double(score) for score in scores]


@command("zrank", "zrevrank")
def zrank(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], ZSetValue)
    rank = None if value is None else value.rank(args[2])
    if rank is None or value is None:
        return None
    return len(value) - 1 - rank if args[0].lower() == b"zrevrank" else rank


@command("zcount")
def zcount(db: Keyspace, args: list[bytes]) -> Reply:
    spec = parse_score_range(args[2], args[3])
    value = db.lookup_typed(args[1], ZSetValue)
    if value is None:
        return 0
    start, stop = value.score_span(spec)
    return stop - start


@command("zlexcount")
def zlexcount(db: Keyspace, args: list[bytes]) -> Reply:
    spec = parse_lex_range(args[2], args[3])
    value = db.lookup_typed(args[1], ZSetValue)
    if value is None:
        return 0
    _charge_lex_walk(db, value)
    start, stop = value.lex_span(spec)
    return stop - start


# ---------------------------------------------------------------------- ranges


class RangeKind(enum.Enum):
    RANK = "rank"
    SCORE = "score"
    LEX = "lex"


def _rank_bounds(size: int, start: int, end: int) -> tuple[int, int] | None:
    """Redis's index sanitizing: negative indexes count from the end; None when empty,
    else the inclusive (start, end) clamped to the set."""
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    if start > end or start >= size:
        return None
    return start, min(end, size - 1)


def _by_rank(
    db: Keyspace, value: ZSetValue, start: int, end: int, reverse: bool, per_entry: int
) -> list[Entry]:
    size = len(value)
    bounds = _rank_bounds(size, start, end)
    if bounds is None:
        return []
    first, last = bounds
    db.charge((last - first + 1) * per_entry)
    if reverse:
        return value.window(size - 1 - last, size - first, reverse=True)
    return value.window(first, last + 1)


def _by_score(
    db: Keyspace,
    value: ZSetValue,
    spec: ScoreRange,
    reverse: bool,
    offset: int,
    limit: int,
    per_entry: int,
) -> list[Entry]:
    # A negative offset walks Redis past the end: nothing comes back.
    if offset < 0:
        return []
    start, stop = value.score_span(spec)
    count = stop - start - offset
    if limit >= 0:
        count = min(count, limit)
    if count <= 0:
        return []
    db.charge(count * per_entry)
    if reverse:
        return value.window(stop - offset - count, stop - offset, reverse=True)
    return value.window(start + offset, start + offset + count)


def _by_lex(
    db: Keyspace, value: ZSetValue, spec: LexRange, reverse: bool, offset: int, limit: int
) -> list[Entry]:
    _charge_lex_walk(db, value)
    start = value.lex_start(spec, reverse)
    if start is None or offset < 0:
        return []
    # The walk below skips `offset` entries, then takes up to `limit` (all when negative)
    # while they stay in the range: at most what lies ahead of `start`.
    ahead = start + 1 if reverse else len(value) - start
    db.charge(min(ahead, offset + (limit if limit >= 0 else ahead)))
    # As Redis: skip `offset` entries unchecked, then take entries while still in range.
    inside = spec.above_low if reverse else spec.below_high
    found: list[Entry] = []
    entries: Iterator[Entry] = value.walk(start, reverse)
    for skipped, (member, score) in enumerate(entries):
        if skipped < offset:
            continue
        if len(found) == limit or not inside(member):
            break
        found.append((member, score))
    return found


def _zrange(
    db: Keyspace,
    args: list[bytes],
    key_index: int,
    store: bool,
    kind: RangeKind | None = None,
    reverse: bool | None = None,
) -> Reply:
    """zrangeGenericCommand: ZRANGE, ZRANGESTORE and the older Z[REV]RANGE[BYSCORE|BYLEX]
    (which fix `kind` and `reverse`, so the options that would set them are refused)."""
    withscores = False
    offset, limit = 0, -1
    index = key_index + 3
    while index < len(args):
        option = args[index].lower()
        if not store and option == b"withscores":
            withscores = True
        elif option == b"limit" and len(args) - index - 1 >= 2:
            offset, limit = parse_int(args[index + 1]), parse_int(args[index + 2])
            index += 2
        elif reverse is None and option == b"rev":
            reverse = True
        elif kind is None and option in (b"bylex", b"byscore"):
            kind = RangeKind.LEX if option == b"bylex" else RangeKind.SCORE
        else:
            raise CommandError(SYNTAX)
        index += 1
    reverse = bool(reverse)
    kind = kind or RangeKind.RANK
    if limit != -1 and kind is RangeKind.RANK:
        raise CommandError(LIMIT_NEEDS_RANGE)
    if withscores and kind is RangeKind.LEX:
        raise CommandError(WITHSCORES_WITH_BYLEX)
    low, high = args[key_index + 1], args[key_index + 2]
    if reverse and kind is not RangeKind.RANK:
        low, high = high, low  # given as max, min
    if kind is RangeKind.RANK:
        start, end = parse_int(low), parse_int(high)
    elif kind is RangeKind.SCORE:
        score_spec = parse_score_range(low, high)
    else:
        lex_spec = parse_lex_range(low, high)
    # ZRANGESTORE reads its source as ZRANGE does (lookupKeyRead: a miss is a keymiss).
    value = (
        db.lookup_typed(args[key_index], ZSetValue)
        if not store
        else _read_zset(db, args[key_index])
    )
    # Work per entry: a member, and its score when replied or stored.
    per_entry = 2 if store or withscores else 1
    if value is None:
        entries: list[Entry] = []
    elif kind is RangeKind.RANK:
        entries = _by_rank(db, value, start, end, reverse, per_entry)
    elif kind is RangeKind.SCORE:
        entries = _by_score(db, value, score_spec, reverse, offset, limit, per_entry)
    else:
        entries = _by_lex(db, value, lex_spec, reverse, offset, limit)
        if store:
            db.charge(2 * len(entries))
    if store:
        return _store_range(db, args[1], entries, kind)
    if withscores:
        return Pairs(_flat(entries))
    return [member for member, _ in entries]


def _read_zset(db: Keyspace, key: bytes) -> ZSetValue | None:
    value = db.lookup_read(key)
    if value is None or type(value) is ZSetValue:
        return value
    raise CommandError(WRONGTYPE)


def _store_range(db: Keyspace, destination: bytes, entries: list[Entry], kind: RangeKind) -> int:
    """ZRANGESTORE: the result is built member by member, starting as a skiplist only for
    a rank range known to be too long for a listpack (as Redis does)."""
    if not entries:
        if db.delete(destination):
            db.notify("g", b"del", destination)
        return 0
    config = db.config
    result = ZSetValue(
        config,
        skiplist=kind is RangeKind.RANK and len(entries) > config.zset_max_listpack_entries,
    )
    for member, score in entries:
        result.put(member, score)
    db.set(destination, result)
    db.notify("z", b"zrangestore", destination)
    return len(entries)


@command("zrange")
def zrange(db: Keyspace, args: list[bytes]) -> Reply:
    return _zrange(db, args, 1, store=False)


@command("zrangestore")
def zrangestore(db: Keyspace, args: list[bytes]) -> Reply:
    return _zrange(db, args, 2, store=True)


@command("zrevrange")
def zrevrange(db: Keyspace, args: list[bytes]) -> Reply:
    return _zrange(db, args, 1, store=False, kind=RangeKind.RANK, reverse=True)


@command("zrangebyscore")
def zrangebyscore(db: Keyspace, args: list[bytes]) -> Reply:
    return _zrange(db, args, 1, store=False, kind=RangeKind.SCORE, reverse=False)


@command("zrevrangebyscore")
def zrevrangebyscore(db: Keyspace, args: list[bytes]) -> Reply:
    return _zrange(db, args, 1, store=False, kind=RangeKind.SCORE, reverse=True)


@command("zrangebylex")
def zrangebylex(db: Keyspace, args: list[bytes]) -> Reply:
    return _zrange(db, args, 1, store=False, kind=RangeKind.LEX, reverse=False)


@command("zrevrangebylex")
def zrevrangebylex(db: Keyspace, args: list[bytes]) -> Reply:
    return _zrange(db, args, 1, store=False, kind=RangeKind.LEX, reverse=True)


# ---------------------------------------------------------------------- pops


@command("zpopmin", "zpopmax")
def zpop(db: Keyspace, args: list[bytes]) -> Reply:
    if len(args) > 3:
        raise CommandError(SYNTAX)
    count = parse_positive_count(args[2]) if len(args) == 3 else None
    key = args[1]
    value = db.lookup_typed(key, ZSetValue)
    if value is None or count == 0:
        return []
    popped = _pop(db, key, value, args[0].lower() == b"zpopmax", 1 if count is None else count)
    # Only the form with a count nests the pairs in RESP3.
    return _flat(popped) if count is None else Pairs(_flat(popped))


@command("bzpopmin", "bzpopmax")
def bzpop(db: Keyspace, args: list[bytes]) -> Reply:
    timeout = parse_timeout(args[-1])
    keys = args[1:-1]
    for key in keys:
        value = db.lookup_typed(key, ZSetValue)
        if value is not None:
            [(member, score)] = _pop(db, key, value, args[0].lower() == b"bzpopmax", 1)
            return [key, member, Double(score)]
    return WouldBlock(keys, timeout)


def _zmpop(db: Keyspace, args: list[bytes], numkeys_index: int, blocking: bool) -> Reply:
    numkeys = to_int(args[numkeys_index])
    if numkeys is None or numkeys < 1:
        raise CommandError(NUMKEYS_POSITIVE)
    where_index = numkeys_index + 1 + numkeys
    if where_index >= len(args) or args[where_index].lower() not in (b"min", b"max"):
        raise CommandError(SYNTAX)
    highest = args[where_index].lower() == b"max"
    count: int | None = None
    index = where_index + 1
    while index < len(args):
        if count is None and args[index].lower() == b"count" and index + 1 < len(args):
            count = to_int(args[index + 1])
            if count is None or count < 1:
                raise CommandError(COUNT_POSITIVE)
            index += 2
        else:
            raise CommandError(SYNTAX)
    timeout = parse_timeout(args[1]) if blocking else 0.0
    keys = args[numkeys_index + 1 : where_index]
    for key in keys:
        value = db.lookup_typed(key, ZSetValue)
        if value is not None:
            popped = _pop(db, key, value, highest, 1 if count is None else count)
            return [key, [[member, Double(score)] for member, score in popped]]
    return WouldBlock(keys, timeout) if blocking else NULL_ARRAY


@command("zmpop")
def zmpop(db: Keyspace, args: list[bytes]) -> Reply:
    return _zmpop(db, args, 1, blocking=False)


@command("bzmpop")
def bzmpop(db: Keyspace, args: list[bytes]) -> Reply:
    return _zmpop(db, args, 2, blocking=True)


# ---------------------------------------------------------------------- random members


@command("zrandmember")
def zrandmember(db: Keyspace, args: list[bytes]) -> Reply:
    if len(args) == 2:
        value = db.lookup_typed(args[1], ZSetValue)
        if value is None:
            return None
        return value.at(db.rng.randrange(len(value)))[0]
    count = parse_signed_count(args[2])
    if len(args) > 4 or (len(args) == 4 and args[3].lower() != b"withscores"):
        raise CommandError(SYNTAX)
    withscores = len(args) == 4
    if withscores and not -(LLONG_MAX // 2) <= count <= LLONG_MAX // 2:
        raise CommandError(OUT_OF_RANGE)
    value = db.lookup_typed(args[1], ZSetValue)
    if value is None or count == 0:
        return []
    check_random_draws(count, db.config.max_random_draws)
    size = len(value)
    rng = db.rng
    if count >= size:
        db.charge(size * (2 if withscores else 1))
    else:
        db.charge(abs(count) * (RANDOM_ZSET_DRAW + withscores))
    if count < 0 or count == 1:
        # Repetitions allowed: each draw is independent.
        picks = value.entries_at(random_positions(rng, size, abs(count)))
    elif count >= size:
        # The whole set, in the order Redis's set-operation iterator walks: highest first.
        picks = value.window(0, size, reverse=True)
    else:
        picks = value.entries_at(distinct_positions(rng, size, count))
    if withscores:
        return Pairs(_flat(picks))
    return [member for member, _ in picks]


# ---------------------------------------------------------------------- algebra


class SetOp(enum.Enum):
    UNION = "union"
    INTER = "inter"
    DIFF = "diff"


Source = ZSetValue | SetValue | None


def _entries(source: Source) -> Iterator[Entry]:
    """A source's (member, score): a plain set's members all score 1."""
    if isinstance(source, ZSetValue):
        yield from source
    elif source is not None:
        for member in source:
            yield member, 1.0


def _size(source: Source) -> int:
    return 0 if source is None else len(source)


def _score_in(source: Source, member: bytes) -> float | None:
    if isinstance(source, ZSetValue):
        return source.score(member)
    return 1.0 if source is not None and member in source else None


def _lookup_source(db: Keyspace, key: bytes) -> Source:
    # Read as Redis reads them, even for a *STORE (lookupKeyRead: a miss is a keymiss).
    value = db.lookup_read(key)
    if value is None or type(value) is ZSetValue or type(value) is SetValue:
        return value
    raise CommandError(WRONGTYPE)


def _aggregate(total: float, value: float, mode: bytes) -> float:
    if mode == b"sum":
        total += value
        # inf + -inf: Redis keeps the convention that the sum is 0.
        return 0.0 if math.isnan(total) else total
    if mode == b"min":
        return value if value < total else total
    return value if value > total else total


def _weighted(weight: float, score: float) -> float:
    product = weight * score
    return 0.0 if math.isnan(product) else product


def _union(inputs: list[tuple[Source, float]], mode: bytes) -> list[Entry]:
    totals: dict[bytes, float] = {}
    for source, weight in inputs:
        for member, score in _entries(source):
            value = _weighted(weight, score)
            current = totals.get(member)
            totals[member] = value if current is None else _aggregate(current, value, mode)
    return list(totals.items())


def _intersection(
    db: Keyspace, inputs: list[tuple[Source, float]], mode: bytes, limit: int
) -> list[Entry]:
    """Walks the first (smallest) input, looking each member up in the others; the walk
    stops at the work budget (the charge after it then refuses the command)."""
    first, first_weight = inputs[0]
    found: list[Entry] = []
    walked = 0
    for member, score in islice(_entries(first), db.work_left + 1):
        walked += 1
        total = _weighted(first_weight, score)
        for source, weight in inputs[1:]:
            other = _score_in(source, member)
            if other is None:
                break
            total = _aggregate(total, other * weight, mode)
        else:
            found.append((member, total))
            if len(found) == limit:
                break
    db.charge(walked)
    return found


def _difference(sources: list[Source]) -> list[Entry]:
    first = sources[0]
    others = [source for source in sources[1:] if source is not None]
    if any(source is first for source in others):
        return []
    return [
        (member, score)
        for member, score in _entries(first)
        if all(_score_in(source, member) is None for source in others)
    ]


def _setop(
    db: Keyspace,
    args: list[bytes],
    name: str,
    op: SetOp,
    numkeys_index: int,
    store: bool = False,
    cardinality_only: bool = False,
) -> Reply:
    """zunionInterDiffGenericCommand: the keys are looked up before the options are read,
    so WRONGTYPE comes before a syntax error."""
    numkeys = parse_int(args[numkeys_index])
    if numkeys < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command".encode())
    first_key = numkeys_index + 1
    if numkeys > len(args) - first_key:
        raise CommandError(SYNTAX)
    sources = [_lookup_source(db, key) for key in args[first_key : first_key + numkeys]]
    weights = [1.0] * numkeys
    mode = b"sum"
    withscores = False
    limit = 0
    weighable = op is not SetOp.DIFF and not cardinality_only
    index = first_key + numkeys
    while index < len(args):
        remaining = len(args) - index
        option = args[index].lower()
        if weighable and option == b"weights" and remaining >= numkeys + 1:
            weights = [parse_score(arg, WEIGHT_NOT_FLOAT) for arg in args[index + 1 :][:numkeys]]
            index += 1 + numkeys
        elif weighable and option == b"aggregate" and remaining >= 2:
            mode = args[index + 1].lower()
            if mode not in (b"sum", b"min", b"max"):
                raise CommandError(SYNTAX)
            index += 2
        elif not store and not cardinality_only and option == b"withscores":
            withscores = True
            index += 1
        elif cardinality_only and option == b"limit" and remaining >= 2:
            limit = parse_positive_count(args[index + 1], LIMIT_NEGATIVE)
            index += 2
        else:
            raise CommandError(SYNTAX)
    if op is SetOp.DIFF:
        # The first input is walked whole, each member looked up in the others.
        db.charge(_size(sources[0]))
        result = _difference(sources)
    else:
        # Smallest input first, as Redis (a stable sort, so ties keep the key order).
        inputs = sorted(zip(sources, weights), key=lambda item: _size(item[0]))
        if op is SetOp.UNION:
            db.charge(sum(_size(source) for source in sources))
            result = _union(inputs, mode)
        else:
            result = _intersection(db, inputs, mode, limit)
    if cardinality_only:
        return len(result)
    # The result is built before anything is stored: a refused STORE changes nothing.
    db.charge(len(result) * (2 if store or withscores else 1))
    if store:
        destination = args[1]
        if not result:
            if db.delete(destination):
                db.notify("g", b"del", destination)
            return 0
        db.set(destination, ZSetValue.computed(db.config, result))
        db.notify("z", name.encode(), destination)
        return len(result)
    result.sort(key=lambda entry: (entry[1], entry[0]))
    if withscores:
        return Pairs(_flat(result))
    return [member for member, _ in result]


@command("zunion")
def zunion(db: Keyspace, args: list[bytes]) -> Reply:
    return _setop(db, args, "zunion", SetOp.UNION, 1)


@command("zinter")
def zinter(db: Keyspace, args: list[bytes]) -> Reply:
    return _setop(db, args, "zinter", SetOp.INTER, 1)


@command("zdiff")
def zdiff(db: Keyspace, args: list[bytes]) -> Reply:
    return _setop(db, args, "zdiff", SetOp.DIFF, 1)


@command("zintercard")
def zintercard(db: Keyspace, args: list[bytes]) -> Reply:
    return _setop(db, args, "zintercard", SetOp.INTER, 1, cardinality_only=True)


@command("zunionstore")
def zunionstore(db: Keyspace, args: list[bytes]) -> Reply:
    return _setop(db, args, "zunionstore", SetOp.UNION, 2, store=True)


@command("zinterstore")
def zinterstore(db: Keyspace, args: list[bytes]) -> Reply:
    return _setop(db, args, "zinterstore", SetOp.INTER, 2, store=True)


@command("zdiffstore")
def zdiffstore(db: Keyspace, args: list[bytes]) -> Reply:
    return _setop(db, args, "zdiffstore", SetOp.DIFF, 2, store=True)


# ---------------------------------------------------------------------- iteration


@command("zscan")
def zscan(db: Keyspace, args: list[bytes]) -> Reply:
    cursor = parse_cursor(args[2])
    value = db.lookup_typed(args[1], ZSetValue)
    if value is None:
        return scan_reply(0, [])
    options = parse_scan_options(args, 3)
    if value.is_listpack:
        # Redis returns a small encoding whole, whatever the cursor, each score as the
        # listpack holds it.
        found = [
            part
            for member, score in value
            if options.accepts(member)
            for part in (member, score_text(score))
        ]
        return scan_reply(0, found)
    budget = scan_budget(db, len(value))
    count = page_count(db, options.count, per_member=2)
    next_cursor, members = scan_page(value.scan_index(), cursor, count, options.match, budget)
    # A skiplist's scores are printed with '%.17g' (createStringObjectFromLongDouble).
    found = []
    for member in members:
        score = value.score(member)
        if score is not None:  # the scan index holds exactly the members
            found += [member, format_double(score)]
    return scan_reply(next_cursor, found)
