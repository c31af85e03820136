"""Set commands, as Redis 7.0's t_set.c: the same replies, errors and order of checks.

Random draws (SPOP, SRANDMEMBER) use only `db.rng` and positions in the set's replicated
order (node.engine.set_value), so every replica pops the same members.
"""

from __future__ import annotations

from itertools import islice

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
from node.engine.work import distinct_positions, random_positions
from proto.errors import (
    COUNT_RANGE,
    NOT_POSITIVE,
    NUMKEYS_POSITIVE,
    SYNTAX,
    TOO_MANY_KEYS,
    WRONGTYPE,
)
from proto.resp import Reply, SetReply

LIMIT_NEGATIVE = b"ERR LIMIT can't be negative"
# SPOP rebuilds the set from the members it keeps when it pops more than this many times
# what stays (SPOP_MOVE_STRATEGY_MUL); the rebuilt set gets a fresh encoding.
_SPOP_REBUILD_FACTOR = 5


def parse_positive_count(arg: bytes, error: bytes = NOT_POSITIVE) -> int:
    """getPositiveLongFromObjectOrReply: 0..LONG_MAX; anything else, a non-number too,
    gets the one error text."""
    value = to_int(arg)
    if value is None or value < 0:
        raise CommandError(error)
    return value


def parse_signed_count(arg: bytes) -> int:
    """getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX): SRANDMEMBER's and ZRANDMEMBER's
    count."""
    value = parse_int(arg)
    if value < -LLONG_MAX:
        raise CommandError(COUNT_RANGE)
    return value


def _lookup_sets(db: Keyspace, keys: list[bytes]) -> list[SetValue | None]:
    """Every key's set (None when absent), in order; WRONGTYPE as soon as one is another
    type, even after an absent key."""
    # Read as Redis reads them, even for a *STORE (lookupKeyRead: a miss is a keymiss).
    found = []
    for key in keys:
        value = db.lookup_read(key)
        if value is not None and type(value) is not SetValue:
            raise CommandError(WRONGTYPE)
        found.append(value)
    return found


def _store(db: Keyspace, destination: bytes, members: list[bytes], event: bytes) -> int:
    """*STORE: the destination is replaced by the result (`event`), or deleted when it is
    empty ("del" if it existed)."""
    db.charge(len(members))
    if not members:
        if db.delete(destination):
            db.notify("g", b"del", destination)
        return 0
    db.set(destination, SetValue(db.config, members))
    db.notify("s", event, destination)
    return len(members)


def _removed(db: Keyspace, key: bytes, value: SetValue, event: bytes) -> None:
    """Members left the set at `key`: `event`, then "del" if that emptied it."""
    db.modified(key)
    db.notify("s", event, key)
    if not value:
        db.delete(key)
        db.notify("g", b"del", key)


# ---------------------------------------------------------------------- single set


@command("sadd")
def sadd(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    value = db.lookup_typed(key, SetValue)
    new = value is None
    if value is None:
        value = SetValue(db.config)
    added = sum(value.add(member) for member in args[2:])
    if new:
        db.set(key, value)
    elif added:
        db.modified(key)
    if added:
        db.notify("s", b"sadd", key)
    return added


@command("srem")
def srem(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    value = db.lookup_typed(key, SetValue)
    if value is None:
        return 0
    removed = sum(value.remove(member) for member in args[2:])
    if removed:
        _removed(db, key, value, b"srem")
    return removed


@command("smove")
def smove(db: Keyspace, args: list[bytes]) -> Reply:
    source_key, destination_key, member = args[1], args[2], args[3]
    source = db.lookup(source_key)
    destination = db.lookup(destination_key)
    if source is None:
        return 0
    if type(source) is not SetValue or (
        destination is not None and type(destination) is not SetValue
    ):
        raise CommandError(WRONGTYPE)
    if source is destination:
        return 1 if member in source else 0
    if not source.remove(member):
        return 0
    _removed(db, source_key, source, b"srem")
    if destination is None:
        db.set(destination_key, SetValue(db.config, [member]))
    elif destination.add(member):
        db.modified(destination_key)
    else:
        return 1
    db.notify("s", b"sadd", destination_key)
    return 1


@command("sismember")
def sismember(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], SetValue)
    return 1 if value is not None and args[2] in value else 0


@command("smismember")
def smismember(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], SetValue)
    return [1 if value is not None and member in value else 0 for member in args[2:]]


@command("scard")
def scard(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], SetValue)
    return 0 if value is None else len(value)


@command("smembers")
def smembers(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_typed(args[1], SetValue)
    if value is None:
        return SetReply([])
    db.charge(len(value))
    return SetReply(value.members())


# ---------------------------------------------------------------------- random draws


@command("spop")
def spop(db: Keyspace, args: list[bytes]) -> Reply:
    if len(args) > 3:
        raise CommandError(SYNTAX)
    if len(args) == 3:
        return _spop_count(db, args[1], parse_positive_count(args[2]))
    key = args[1]
    value = db.lookup_typed(key, SetValue)
    if value is None:
        return None
    member = value.pop_at(db.rng.randrange(len(value)))
    _removed(db, key, value, b"spop")
    return member


def _spop_count(db: Keyspace, key: bytes, count: int) -> Reply:
    value = db.lookup_typed(key, SetValue)
    if value is None or count == 0:
        return SetReply([])
    size = len(value)
    db.charge(min(count, size))
    db.notify("s", b"spop", key)  # Redis's first: the set may go next
    if count >= size:
        db.delete(key)
        db.notify("g", b"del", key)
        return SetReply(value.members())
    remaining = size - count
    rng = db.rng
    if remaining * _SPOP_REBUILD_FACTOR > count:
        popped = [value.pop_at(rng.randrange(len(value))) for _ in range(count)]
        db.modified(key)
        return SetReply(popped)
    # Popping most of the set: draw the members that stay into a new set, reply the rest.
    kept = [value.pop_at(rng.randrange(len(value))) for _ in range(remaining)]
    db.set(key, SetValue(db.config, kept), keep_ttl=True)
    return SetReply(value.members())


@command("srandmember")
def srandmember(db: Keyspace, args: list[bytes]) -> Reply:
    if len(args) > 3:
        raise CommandError(SYNTAX)
    if len(args) == 3:
        return _srandmember_count(db, args[1], parse_signed_count(args[2]))
    value = db.lookup_typed(args[1], SetValue)
    if value is None:
        return None
    return value.member_at(db.rng.randrange(len(value)))


def _srandmember_count(db: Keyspace, key: bytes, count: int) -> Reply:
    value = db.lookup_typed(key, SetValue)
    if value is None or count == 0:
        return []
    check_random_draws(count, db.config.max_random_draws)
    size = len(value)
    rng = db.rng
    db.charge(size if count >= size else abs(count))
    if count < 0 or count == 1:
        # Repetitions allowed: each draw is independent.
        member_at = value.member_at
        return [member_at(position) for position in random_positions(rng, size, abs(count))]
    if count >= size:
        return value.members()
    member_at = value.member_at
    return [member_at(position) for position in distinct_positions(rng, size, count)]


# ---------------------------------------------------------------------- algebra


def _intersection(db: Keyspace, sets: list[SetValue | None], limit: int = 0) -> list[bytes]:
    """Members of every set (an absent key is an empty set), walking the smallest; stops
    after `limit` members when it is not 0, and at the work budget (the charge after the
    walk then refuses the command)."""
    if any(value is None for value in sets):
        return []
    ordered = sorted(sets, key=len)  # type: ignore[arg-type]
    smallest = ordered[0]
    assert smallest is not None
    others = [value for value in ordered[1:] if value is not smallest]
    found: list[bytes] = []
    walked = 0
    for member in islice(smallest, db.work_left + 1):
        walked += 1
        if all(member in value for value in others):  # type: ignore[operator]
            found.append(member)
            if len(found) == limit:
                break
    db.charge(walked)
    return found


def _union(db: Keyspace, sets: list[SetValue | None]) -> list[bytes]:
    db.charge(sum(len(value) for value in sets if value is not None))
    found: dict[bytes, None] = {}
    for value in sets:
        if value is not None:
            found.update(dict.fromkeys(value))
    return list(found)


def _difference(db: Keyspace, sets: list[SetValue | None]) -> list[bytes]:
    first = sets[0]
    if first is None:
        return []
    db.charge(len(first))
    others = [value for value in sets[1:] if value is not None]
    return [member for member in first if not any(member in value for value in others)]


def _reply(db: Keyspace, members: list[bytes]) -> Reply:
    db.charge(len(members))
    return SetReply(members)


@command("sinter")
def sinter(db: Keyspace, args: list[bytes]) -> Reply:
    return _reply(db, _intersection(db, _lookup_sets(db, args[1:])))


@command("sinterstore")
def sinterstore(db: Keyspace, args: list[bytes]) -> Reply:
    return _store(db, args[1], _intersection(db, _lookup_sets(db, args[2:])), b"sinterstore")


@command("sintercard")
def sintercard(db: Keyspace, args: list[bytes]) -> Reply:
    numkeys = to_int(args[1])
    if numkeys is None or numkeys < 1:
        raise CommandError(NUMKEYS_POSITIVE)
    if numkeys > len(args) - 2:
        raise CommandError(TOO_MANY_KEYS)
    limit = 0
    index = 2 + numkeys
    while index < len(args):
        if args[index].lower() == b"limit" and index + 1 < len(args):
            limit = parse_positive_count(args[index + 1], LIMIT_NEGATIVE)
            index += 2
        else:
            raise CommandError(SYNTAX)
    return len(_intersection(db, _lookup_sets(db, args[2 : 2 + numkeys]), limit))


@command("sunion")
def sunion(db: Keyspace, args: list[bytes]) -> Reply:
    return _reply(db, _union(db, _lookup_sets(db, args[1:])))


@command("sunionstore")
def sunionstore(db: Keyspace, args: list[bytes]) -> Reply:
    return _store(db, args[1], _union(db, _lookup_sets(db, args[2:])), b"sunionstore")


@command("sdiff")
def sdiff(db: Keyspace, args: list[bytes]) -> Reply:
    return _reply(db, _difference(db, _lookup_sets(db, args[1:])))


@command("sdiffstore")
def sdiffstore(db: Keyspace, args: list[bytes]) -> Reply:
    return _store(db, args[1], _difference(db, _lookup_sets(db, args[2:])), b"sdiffstore")


# ---------------------------------------------------------------------- iteration


@command("sscan")
def sscan(db: Keyspace, args: list[bytes]) -> Reply:
    cursor = parse_cursor(args[2])
    value = db.lookup_typed(args[1], SetValue)
    if value is None:
        return scan_reply(0, [])
    options = parse_scan_options(args, 3)
    if value.is_intset:
        # Redis returns a small encoding whole, whatever the cursor.
        return scan_reply(0, [member for member in value if options.accepts(member)])
    budget = scan_budget(db, len(value))
    count = page_count(db, options.count)
    next_cursor, found = scan_page(value.scan_index(), cursor, count, options.match, budget)
    return scan_reply(next_cursor, found)
