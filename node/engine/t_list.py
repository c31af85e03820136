"""List commands, as Redis 7.0's t_list.c: the same replies, errors and order of checks.

The blocking forms (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) validate their arguments,
then either serve at once like the non-blocking form, with the blocking reply shape, or
return a WouldBlock naming the keys to wait for; nothing is modified in that case.
"""

from __future__ import annotations

from itertools import islice

from node.engine.blocking import WouldBlock, parse_timeout
from node.engine.errors import CommandError
from node.engine.keyspace import Keyspace
from node.engine.list_value import ListValue
from node.engine.parsing import LLONG_MIN, parse_int, to_int
from node.engine.registry import command
from node.engine.work import COMPARED_PER_ELEMENT
from proto.errors import (
    COUNT_POSITIVE,
    INDEX_OUT_OF_RANGE,
    NO_SUCH_KEY,
    NOT_POSITIVE,
    NUMKEYS_POSITIVE,
    SYNTAX,
    wrong_arity,
)
from proto.resp import NULL_ARRAY, OK, Reply

RANK_ZERO = (
    b"ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    b"or use negative to start from the end of the list"
)
COUNT_NEGATIVE = b"ERR COUNT can't be negative"
MAXLEN_NEGATIVE = b"ERR MAXLEN can't be negative"


# ---------------------------------------------------------------------- helpers


def _side(arg: bytes) -> bool:
    """getListPositionFromObjectOrReply: True for LEFT (the head), False for RIGHT."""
    side = arg.upper()
    if side == b"LEFT":
        return True
    if side == b"RIGHT":
        return False
    raise CommandError(SYNTAX)


def _at_least(arg: bytes, minimum: int, error: bytes) -> int:
    """An integer >= minimum, else `error` (Redis's getRangeLongFromObjectOrReply with a
    message: the same text for a non-integer)."""
    value = to_int(arg)
    if value is None or value < minimum:
        raise CommandError(error)
    return value


def _compared(elements: int) -> int:
    """The work of comparing `elements` list elements in a tight loop."""
    return -(-elements // COMPARED_PER_ELEMENT)


def _pop_many(db: Keyspace, value: ListValue, count: int, left: bool) -> list[bytes]:
    db.charge(min(count, len(value)))
    return value.pop_many(count, left)


def _removed_from(db: Keyspace, key: bytes, value: ListValue, event: bytes) -> None:
    """After elements left a list: tell watchers and subscribers (`event`), and drop the
    key once it is empty ("del"), as Redis's listElementsRemoved."""
    db.modified(key)
    db.notify("l", event, key)
    if len(value) == 0:
        db.delete(key)
        db.notify("g", b"del", key)


def _pop_event(left: bool) -> bytes:
    return b"lpop" if left else b"rpop"


def _push_to(
    db: Keyspace, key: bytes, value: ListValue | None, elements: list[bytes], left: bool
) -> int:
    """Push onto the list at `key` (`value`, or a new list when None); the new length."""
    if value is None:
        value = ListValue()
        length = value.push(elements, left)
        db.set(key, value)
    else:
        length = value.push(elements, left)
        db.modified(key)
    db.notify("l", b"lpush" if left else b"rpush", key)
    return length


def _index(value: ListValue, index: int) -> int | None:
    """A Redis list index (negative counts from the tail) as a position, None if outside."""
    if index < 0:
        index += len(value)
    return index if 0 <= index < len(value) else None


def _bounds(length: int, start: int, stop: int) -> tuple[int, int] | None:
    """LRANGE/LTRIM's range as positions start..stop inclusive, None when empty."""
    if start < 0:
        start += length
    if stop < 0:
        stop += length
    start = max(start, 0)
    if start > stop or start >= length:
        return None
    return start, min(stop, length - 1)


# ---------------------------------------------------------------------- push


def _push(db: Keyspace, args: list[bytes], left: bool, only_existing: bool) -> int:
    key = args[1]
    value = db.lookup_typed(key, ListValue)
    if value is None and only_existing:
        return 0
    return _push_to(db, key, value, args[2:], left)


@command("lpush")
def lpush(db: Keyspace, args: list[bytes]) -> Reply:
    return _push(db, args, left=True, only_existing=False)


@command("rpush")
def rpush(db: Keyspace, args: list[bytes]) -> Reply:
    return _push(db, args, left=False, only_existing=False)


@command("lpushx")
def lpushx(db: Keyspace, args: list[bytes]) -> Reply:
    return _push(db, args, left=True, only_existing=True)


@command("rpushx")
def rpushx(db: Keyspace, args: list[bytes]) -> Reply:
    return _push(db, args, left=False, only_existing=True)


@command("linsert")
def linsert(db: Keyspace, args: list[bytes]) -> Reply:
    key, where, pivot, element = args[1], args[2].upper(), args[3], args[4]
    if where not in (b"BEFORE", b"AFTER"):
        raise CommandError(SYNTAX)
    value = db.lookup_typed(key, ListValue)
    if value is None:
        return 0
    db.charge(_compared(len(value)))
    if not value.insert(pivot, element, after=where == b"AFTER"):
        return -1
    db.modified(key)
    db.notify("l", b"linsert", key)
    return len(value)


# ---------------------------------------------------------------------- pop


def _pop(db: Keyspace, args: list[bytes], left: bool, name: str) -> Reply:
    if len(args) > 3:
        raise CommandError(wrong_arity(name))
    count = _at_least(args[2], 0, NOT_POSITIVE) if len(args) == 3 else None
    key = args[1]
    value = db.lookup_typed(key, ListValue)
    if value is None:
        return None if count is None else NULL_ARRAY
    if count is None:
        element = value.pop(left)
        _removed_from(db, key, value, _pop_event(left))
        return element
    if count == 0:
        return []
    popped = _pop_many(db, value, count, left)
    _removed_from(db, key, value, _pop_event(left))
    return popped


@command("lpop")
def lpop(db: Keyspace, args: list[bytes]) -> Reply:
    return _pop(db, args, left=True, name="lpop")


@command("rpop")
def rpop(db: Keyspace, args: list[bytes]) -> Reply:
    return _pop(db, args, left=False, name="rpop")


def _first_nonempty(db: Keyspace, keys: list[bytes]) -> tuple[bytes, ListValue] | None:
    """The first key holding a list, checking types in order up to it (as Redis serves
    BLPOP and LMPOP: a wrong type after the served key is not reported)."""
    for key in keys:
        value = db.lookup_typed(key, ListValue)
        if value is not None:
            return key, value
    return None


def _mpop(db: Keyspace, keys: list[bytes], left: bool, count: int) -> Reply:
    """LMPOP's reply: [key, [elements]] from the first non-empty list, None if none."""
    found = _first_nonempty(db, keys)
    if found is None:
        return None
    key, value = found
    popped = _pop_many(db, value, count, left)
    _removed_from(db, key, value, _pop_event(left))
    return [key, popped]


def _parse_mpop(args: list[bytes], numkeys_index: int) -> tuple[list[bytes], bool, int]:
    """lmpopGenericCommand's parsing: numkeys, the keys, LEFT|RIGHT, [COUNT count]."""
    numkeys = _at_least(args[numkeys_index], 1, NUMKEYS_POSITIVE)
    where_index = numkeys_index + numkeys + 1
    if where_index >= len(args):
        raise CommandError(SYNTAX)
    left = _side(args[where_index])
    count: int | None = None
    index = where_index + 1
    while index < len(args):
        if count is None and args[index].upper() == b"COUNT" and index + 1 < len(args):
            count = _at_least(args[index + 1], 1, COUNT_POSITIVE)
            index += 2
        else:
            raise CommandError(SYNTAX)
    return args[numkeys_index + 1 : where_index], left, 1 if count is None else count


@command("lmpop")
def lmpop(db: Keyspace, args: list[bytes]) -> Reply:
    keys, left, count = _parse_mpop(args, 1)
    reply = _mpop(db, keys, left, count)
    return NULL_ARRAY if reply is None else reply


# ---------------------------------------------------------------------- move


def _move(
    db: Keyspace, source: bytes, destination: bytes, from_left: bool, to_left: bool
) -> bytes | None:
    """LMOVE: the moved element, None when the source is empty. The destination's type is
    checked before anything moves."""
    popped_from = db.lookup_typed(source, ListValue)
    if popped_from is None:
        return None
    pushed_to = db.lookup_typed(destination, ListValue)
    element = popped_from.pop(from_left)
    _push_to(db, destination, pushed_to, [element], to_left)
    # Checked after the push: with source == destination the list is never left empty.
    _removed_from(db, source, popped_from, _pop_event(from_left))
    return element


@command("lmove")
def lmove(db: Keyspace, args: list[bytes]) -> Reply:
    from_left, to_left = _side(args[3]), _side(args[4])
    return _move(db, args[1], args[2], from_left, to_left)


@command("rpoplpush")
def rpoplpush(db: Keyspace, args: list[bytes]) -> Reply:
    return _move(db, args[1], args[2], from_left=False, to_left=True)


# ---------------------------------------------------------------------- blocking forms


def _blocking_pop(db: Keyspace, args: list[bytes], left: bool) -> Reply:
    timeout = parse_timeout(args[-1])
    keys = args[1:-1]
    found = _first_nonempty(db, keys)
    if found is None:
        return WouldBlock(keys, timeout)
    key, value = found
    element = value.pop(left)
    _removed_from(db, key, value, _pop_event(left))
    return [key, element]


@command("blpop")
def blpop(db: Keyspace, args: list[bytes]) -> Reply:
    return _blocking_pop(db, args, left=True)


@command("brpop")
def brpop(db: Keyspace, args: list[bytes]) -> Reply:
    return _blocking_pop(db, args, left=False)


def _blocking_move(
    db: Keyspace, args: list[bytes], from_left: bool, to_left: bool, timeout_arg: bytes
) -> Reply:
    timeout = parse_timeout(timeout_arg)
    source = args[1]
    if db.lookup_typed(source, ListValue) is None:
        return WouldBlock([source], timeout)
    return _move(db, source, args[2], from_left, to_left)


@command("blmove")
def blmove(db: Keyspace, args: list[bytes]) -> Reply:
    from_left, to_left = _side(args[3]), _side(args[4])
    return _blocking_move(db, args, from_left, to_left, args[5])


@command("brpoplpush")
def brpoplpush(db: Keyspace, args: list[bytes]) -> Reply:
    return _blocking_move(db, args, from_left=False, to_left=True, timeout_arg=args[3])


@command("blmpop")
def blmpop(db: Keyspace, args: list[bytes]) -> Reply:
    keys, left, count = _parse_mpop(args, 2)
    # Redis reads the timeout after the other arguments.
    timeout = parse_timeout(args[1])
    reply = _mpop(db, keys, left, count)
    return WouldBlock(keys, timeout) if reply is None else reply


# ---------------------------------------------------------------------- reads


@command("llen")
def llen(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], ListValue)
    return 0 if value is None else len(value)


@command("lindex")
def lindex(db: Keyspace, args: list[bytes]) -> Reply:
    # Redis looks the key up before it parses the index.
    value = db.lookup_typed(args[1], ListValue)
    if value is None:
        return None
    position = _index(value, parse_int(args[2]))
    return None if position is None else value.at(position)


@command("lrange")
def lrange(db: Keyspace, args: list[bytes]) -> Reply:
    start, stop = parse_int(args[2]), parse_int(args[3])
    value = db.lookup_typed(args[1], ListValue)
    if value is None:
        return []
    bounds = _bounds(len(value), start, stop)
    if bounds is None:
        return []
    db.charge(bounds[1] - bounds[0] + 1)
    return value.range(*bounds)


@command("lpos")
def lpos(db: Keyspace, args: list[bytes]) -> Reply:
    element = args[2]
    rank, count, maxlen = 1, None, 0
    index = 3
    while index < len(args):
        option = args[index].upper()
        if index + 1 >= len(args):
            raise CommandError(SYNTAX)
        argument = args[index + 1]
        if option == b"RANK":
            rank = parse_int(argument)
            if rank == 0:
                raise CommandError(RANK_ZERO)
        elif option == b"COUNT":
            count = _at_least(argument, 0, COUNT_NEGATIVE)
        elif option == b"MAXLEN":
            maxlen = _at_least(argument, 0, MAXLEN_NEGATIVE)
        else:
            raise CommandError(SYNTAX)
        index += 2
    value = db.lookup_typed(args[1], ListValue)
    if value is None:
        return None if count is None else []
    found = _positions(db, value, element, rank, count or 0, maxlen, first_only=count is None)
    if count is None:
        return found[0] if found else None
    return found


def _wrap64(number: int) -> int:
    """`number` as C's signed 64-bit arithmetic leaves it (two's complement wrap)."""
    return (number - LLONG_MIN) % (1 << 64) + LLONG_MIN


def _positions(
    db: Keyspace,
    value: ListValue,
    element: bytes,
    rank: int,
    count: int,
    maxlen: int,
    first_only: bool,
) -> list[int]:
    """LPOS's matches: skip rank-1 of them (from the tail when rank < 0), then collect up
    to `count` (0: all), looking at no more than `maxlen` elements (0: all), nor at more
    than the work budget allows (the charge after the walk then refuses the command)."""
    backward = rank < 0
    # C's arithmetic, kept on purpose: RANK -9223372036854775808 stays negative once
    # negated, so every match qualifies and COUNT never stops the search.
    rank = _wrap64(-rank) if backward else rank
    last = len(value) - 1
    walk = reversed(value) if backward else iter(value)
    affordable = db.work_left * COMPARED_PER_ELEMENT + 1
    if maxlen:
        affordable = min(affordable, maxlen)
    found: list[int] = []
    matches = 0
    seen = -1
    for seen, item in enumerate(islice(walk, affordable)):
        if item != element:
            continue
        matches += 1
        if matches < rank:
            continue
        found.append(last - seen if backward else seen)
        if first_only or (count and _wrap64(matches - rank + 1) >= count):
            break
    db.charge(_compared(seen + 1) + len(found))
    return found


# ---------------------------------------------------------------------- in-place changes


@command("lset")
def lset(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    value = db.lookup_typed(key, ListValue)
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    position = _index(value, parse_int(args[2]))
    if position is None:
        raise CommandError(INDEX_OUT_OF_RANGE)
    value.replace_at(position, args[3])
    db.modified(key)
    db.notify("l", b"lset", key)
    return OK


@command("lrem")
def lrem(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    count = parse_int(args[2])
    value = db.lookup_typed(key, ListValue)
    if value is None:
        return 0
    db.charge(_compared(len(value)))
    removed = value.remove(args[3], count)
    if removed:
        _removed_from(db, key, value, b"lrem")
    return removed


@command("ltrim")
def ltrim(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    start, stop = parse_int(args[2]), parse_int(args[3])
    value = db.lookup_typed(key, ListValue)
    if value is None:
        return OK
    bounds = _bounds(len(value), start, stop)
    if bounds is None:
        value.clear()
    else:
        db.charge(len(value) - (bounds[1] - bounds[0] + 1))
        value.trim(*bounds)
    _removed_from(db, key, value, b"ltrim")
    return OK
