"""Hash commands, as Redis 7.0's t_hash.c: the same replies, errors and order of checks."""

from __future__ import annotations

import numpy as np

from node.engine.errors import CommandError, check_random_draws
from node.engine.hash_value import HashValue
from node.engine.keyspace import Keyspace
from node.engine.parsing import (
    LLONG_MAX,
    LLONG_MIN,
    format_long_double,
    parse_int,
    to_int,
    to_long_double,
)
from node.engine.registry import command
from node.engine.scan import (
    page_count,
    parse_cursor,
    parse_scan_options,
    scan_budget,
    scan_page,
    scan_reply,
)
from node.engine.work import distinct_positions, random_positions
from proto.errors import (
    COUNT_RANGE,
    NAN_OR_INFINITY,
    NOT_FLOAT,
    NOT_INTEGER,
    OUT_OF_RANGE,
    OVERFLOW,
    SYNTAX,
    wrong_arity,
)
from proto.resp import OK, Map, Pairs, Reply

HASH_NOT_INTEGER = b"ERR hash value is not an integer"
HASH_NOT_FLOAT = b"ERR hash value is not a float"
INCREMENT_NAN_OR_INF = b"ERR value is NaN or Infinity"
# HRANDFIELD's count must be within [-LONG_MAX, LONG_MAX] (getRangeLongFromObjectOrReply).


def _hash_for_write(db: Keyspace, key: bytes) -> tuple[HashValue, bool]:
    """hashTypeLookupWriteOrCreate: the hash at `key` and whether it is new (an empty one
    when absent, which the caller stores once it holds a field); WRONGTYPE for another
    type."""
    value = db.lookup_typed(key, HashValue)
    if value is None:
        return HashValue(db.config), True
    return value, False


def _store(db: Keyspace, key: bytes, value: HashValue, new: bool, event: bytes) -> None:
    """Record a change: a new hash is stored, an existing one reported as modified;
    subscribers get `event`."""
    if new:
        db.set(key, value)
    else:
        db.modified(key)
    db.notify("h", event, key)


# ---------------------------------------------------------------------- writes


def _set_pairs(db: Keyspace, args: list[bytes], name: str) -> int:
    if len(args) % 2 == 1:
        raise CommandError(wrong_arity(name))
    key = args[1]
    value, new = _hash_for_write(db, key)
    created = 0
    for index in range(2, len(args), 2):
        created += value.set(args[index], args[index + 1])
    _store(db, key, value, new, b"hset")
    return created


@command("hset")
def hset(db: Keyspace, args: list[bytes]) -> Reply:
    return _set_pairs(db, args, "hset")


@command("hmset")
def hmset(db: Keyspace, args: list[bytes]) -> Reply:
    _set_pairs(db, args, "hmset")
    return OK


@command("hsetnx")
def hsetnx(db: Keyspace, args: list[bytes]) -> Reply:
    key, field = args[1], args[2]
    value, new = _hash_for_write(db, key)
    if field in value:
        return 0
    value.set(field, args[3])
    _store(db, key, value, new, b"hset")
    return 1


@command("hdel")
def hdel(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    value = db.lookup_typed(key, HashValue)
    if value is None:
        return 0
    deleted = 0
    for field in args[2:]:
        deleted += value.delete(field)
        if not value:
            break
    if deleted:
        db.modified(key)
        db.notify("h", b"hdel", key)
        if not value:
            db.delete(key)
            db.notify("g", b"del", key)
    return deleted


@command("hincrby")
def hincrby(db: Keyspace, args: list[bytes]) -> Reply:
    key, field = args[1], args[2]
    increment = parse_int(args[3])
    value, new = _hash_for_write(db, key)
    current = value.get(field)
    number: int | None
    if current is None:
        number = 0
    else:
        number = to_int(current)
        if number is None:
            raise CommandError(HASH_NOT_INTEGER)
    result = number + increment
    if result < LLONG_MIN or result > LLONG_MAX:
        raise CommandError(OVERFLOW)
    value.set(field, b"%d" % result)
    _store(db, key, value, new, b"hincrby")
    return result


@command("hincrbyfloat")
def hincrbyfloat(db: Keyspace, args: list[bytes]) -> Reply:
    key, field = args[1], args[2]
    increment = to_long_double(args[3])
    if increment is None:
        raise CommandError(NOT_FLOAT)
    if not np.isfinite(increment):
        raise CommandError(INCREMENT_NAN_OR_INF)
    value, new = _hash_for_write(db, key)
    current = value.get(field)
    if current is None:
        base = np.longdouble(0)
    else:
        parsed = to_long_double(current)
        if parsed is None:
            raise CommandError(HASH_NOT_FLOAT)
        base = parsed
    with np.errstate(over="ignore"):  # an overflow is reported below, not warned about
        result = base + increment
    if not np.isfinite(result):
        raise CommandError(NAN_OR_INFINITY)
    text = format_long_double(result)
    value.set(field, text)
    _store(db, key, value, new, b"hincrbyfloat")
    return text


# ---------------------------------------------------------------------- reads


@command("hget")
def hget(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], HashValue)
    return None if value is None else value.get(args[2])


@command("hmget")
def hmget(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], HashValue)
    if value is None:
        return [None] * (len(args) - 2)
    return [value.get(field) for field in args[2:]]


@command("hlen")
def hlen(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], HashValue)
    return 0 if value is None else len(value)


@command("hstrlen")
def hstrlen(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], HashValue)
    found = None if value is None else value.get(args[2])
    return 0 if found is None else len(found)


@command("hexists")
def hexists(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], HashValue)
    return int(value is not None and args[2] in value)


@command("hgetall")
def hgetall(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], HashValue)
    flat = Map()
    if value is not None:
        db.charge(2 * len(value))
        for field, field_value in value.items():
            flat.append(field)
            flat.append(field_value)
    return flat


@command("hkeys")
def hkeys(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], HashValue)
    if value is None:
        return []
    db.charge(len(value))
    return value.fields()


@command("hvals")
def hvals(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], HashValue)
    if value is None:
        return []
    db.charge(len(value))
    return value.values()


# ---------------------------------------------------------------------- random fields


@command("hrandfield")
def hrandfield(db: Keyspace, args: list[bytes]) -> Reply:
    if len(args) == 2:
        value = db.lookup_typed(args[1], HashValue)
        if value is None:
            return None
        return value.field_at(db.rng.randrange(len(value)))
    count = to_int(args[2])
    if count is None:
        raise CommandError(NOT_INTEGER)
    if count < -LLONG_MAX:
        raise CommandError(COUNT_RANGE)
    with_values = False
    if len(args) > 4 or (len(args) == 4 and args[3].lower() != b"withvalues"):
        raise CommandError(SYNTAX)
    if len(args) == 4:
        with_values = True
        # Redis doubles the count for the reply length and refuses what could overflow
        # (C's -LONG_MAX/2 truncates toward zero).
        if abs(count) > LLONG_MAX // 2:
            raise CommandError(OUT_OF_RANGE)
    value = db.lookup_typed(args[1], HashValue)
    if value is None or count == 0:
        return Pairs() if with_values else []
    return _random_fields(db, value, count, with_values)


def _random_fields(db: Keyspace, value: HashValue, count: int, with_values: bool) -> Reply:
    """HRANDFIELD with a count: |count| draws with repetition when negative, else up to
    `count` distinct fields (the whole hash when count reaches its size)."""
    check_random_draws(count, db.config.max_random_draws)
    size = len(value)
    db.charge((size if count >= size else abs(count)) * (2 if with_values else 1))
    rng = db.rng
    fields = value.fields()
    if count < 0:
        chosen = [fields[position] for position in random_positions(rng, size, -count)]
    elif count >= len(fields):
        chosen = fields
    else:
        chosen = [fields[position] for position in distinct_positions(rng, size, count)]
    if not with_values:
        return chosen
    pairs = Pairs()
    for field in chosen:
        pairs.append(field)
        pairs.append(value.get(field))
    return pairs


# ---------------------------------------------------------------------- iteration


@command("hscan")
def hscan(db: Keyspace, args: list[bytes]) -> Reply:
    cursor = parse_cursor(args[2])
    value = db.lookup_typed(args[1], HashValue)
    if value is None:
        return scan_reply(0, [])
    options = parse_scan_options(args, 3)
    if value.is_listpack:
        # Redis returns a listpack-encoded hash whole in one call, whatever the cursor.
        found = [field for field in value if options.accepts(field)]
        next_cursor = 0
    else:
        budget = scan_budget(db, len(value))
        count = page_count(db, options.count, per_member=2)
        next_cursor, found = scan_page(value.scan_index(), cursor, count, options.match, budget)
    get = value.get
    return scan_reply(next_cursor, [part for field in found for part in (field, get(field))])
