"""Generic key-space commands, as Redis 7.0's db.c, expire.c and OBJECT (object.c).

Databases 0-15 exist as in a standalone Redis (node/engine/databases.py): MOVE and COPY
... DB reach another database of the same shard (a key keeps its slot in every
database), FLUSHALL empties them all.
"""

from __future__ import annotations

from typing import Any

from node.engine.errors import CommandError
from node.engine.eviction import LfuTracker, LruTracker
from node.engine.keyspace import Keyspace, type_name
from node.engine.memory_usage import DEFAULT_SAMPLES, usage_work
from node.engine.memory_usage import memory_usage as redis_memory_usage
from node.engine.parsing import LLONG_MAX, parse_int, to_int
from node.engine.registry import command
from node.engine.scan import (
    ScanIndex,
    page_count,
    parse_cursor,
    parse_scan_options,
    scan_budget,
    scan_page,
    scan_reply,
)
from node.engine.work import string_work
from proto.databases import select_index
from proto.errors import (
    NO_SUCH_KEY,
    NOT_INTEGER,
    SAME_OBJECT,
    SYNTAX,
    invalid_expire_time,
)
from proto.glob import compile_pattern, matches_all
from proto.resp import OK, Reply, Simple

NX_INCOMPATIBLE = b"ERR NX and XX, GT or LT options at the same time are not compatible"
GT_LT_INCOMPATIBLE = b"ERR GT and LT options at the same time are not compatible"
EMBSTR_SIZE_LIMIT = 44  # object.c OBJ_ENCODING_EMBSTR_SIZE_LIMIT
# The largest seconds value whose conversion to ms does not overflow (C truncates the
# division by 1000 toward zero, so the bound is the same on both sides).
_SECONDS_LIMIT = LLONG_MAX // 1000


# ---------------------------------------------------------------------- existence and type


@command("del", "unlink")
def delete(db: Keyspace, args: list[bytes]) -> Reply:
    deleted = 0
    for key in args[1:]:
        # An expired key goes as expired (expireIfNeeded), not as deleted by this command.
        db.expire_keys([key])
        if db.delete(key):
            db.notify("g", b"del", key)
            deleted += 1
    return deleted


@command("exists", "touch")
def exists(db: Keyspace, args: list[bytes]) -> Reply:
    return sum(1 for key in args[1:] if db.lookup(key) is not None)


@command("type")
def type_(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup(args[1])
    return Simple(b"none" if value is None else type_name(value))


# ---------------------------------------------------------------------- expiry

_EXPIRE_FLAGS = (b"nx", b"xx", b"gt", b"lt")


def _expire_flags(args: list[bytes]) -> set[bytes]:
    """parseExtendedExpireArgumentsOrReply: NX XX GT LT after the time, in any case."""
    flags: set[bytes] = set()
    for option in args[3:]:
        lowered = option.lower()
        if lowered not in _EXPIRE_FLAGS:
            # Redis formats the option with %s: it stops at a NUL byte.
            raise CommandError(b"ERR Unsupported option " + option.split(b"\x00", 1)[0])
        flags.add(lowered)
    if b"nx" in flags and len(flags) > 1:
        raise CommandError(NX_INCOMPATIBLE)
    if b"gt" in flags and b"lt" in flags:
        raise CommandError(GT_LT_INCOMPATIBLE)
    return flags


def _invalid_expire(name: bytes) -> CommandError:
    return CommandError(invalid_expire_time(name.lower()))


def _expire(db: Keyspace, args: list[bytes], seconds: bool, relative: bool) -> Reply:
    """expireGenericCommand: a time in the past deletes the key (as a master does)."""
    key = args[1]
    flags = _expire_flags(args)
    when = parse_int(args[2])
    if seconds:
        if when > _SECONDS_LIMIT or when < -_SECONDS_LIMIT:
            raise _invalid_expire(args[0])
        when *= 1000
    base = db.now_ms if relative else 0
    if when > LLONG_MAX - base:
        raise _invalid_expire(args[0])
    when += base
    if db.lookup(key) is None:
        return 0
    current = db.get_expire(key)
    if b"nx" in flags and current is not None:
        return 0
    if b"xx" in flags and current is None:
        return 0
    # A key without a TTL lives forever: GT never beats it, LT always does.
    if b"gt" in flags and (current is None or when <= current):
        return 0
    if b"lt" in flags and current is not None and when >= current:
        return 0
    if when <= db.now_ms:
        db.delete(key)
        db.notify("g", b"del", key)
    else:
        db.set_expire(key, when)
        db.notify("g", b"expire", key)
    return 1


@command("expire")
def expire(db: Keyspace, args: list[bytes]) -> Reply:
    return _expire(db, args, seconds=True, relative=True)


@command("pexpire")
def pexpire(db: Keyspace, args: list[bytes]) -> Reply:
    return _expire(db, args, seconds=False, relative=True)


@command("expireat")
def expireat(db: Keyspace, args: list[bytes]) -> Reply:
    return _expire(db, args, seconds=True, relative=False)


@command("pexpireat")
def pexpireat(db: Keyspace, args: list[bytes]) -> Reply:
    return _expire(db, args, seconds=False, relative=False)


def _ttl(db: Keyspace, key: bytes, milliseconds: bool, absolute: bool) -> int:
    """ttlGenericCommand: -2 for no key, -1 for no TTL; seconds are rounded."""
    if db.lookup(key) is None:
        return -2
    when = db.get_expire(key)
    if when is None:
        return -1
    remaining = max(when if absolute else when - db.now_ms, 0)
    return remaining if milliseconds else (remaining + 500) // 1000


@command("ttl")
def ttl(db: Keyspace, args: list[bytes]) -> Reply:
    return _ttl(db, args[1], milliseconds=False, absolute=False)


@command("pttl")
def pttl(db: Keyspace, args: list[bytes]) -> Reply:
    return _ttl(db, args[1], milliseconds=True, absolute=False)


@command("expiretime")
def expiretime(db: Keyspace, args: list[bytes]) -> Reply:
    return _ttl(db, args[1], milliseconds=False, absolute=True)


@command("pexpiretime")
def pexpiretime(db: Keyspace, args: list[bytes]) -> Reply:
    return _ttl(db, args[1], milliseconds=True, absolute=True)


@command("persist")
def persist(db: Keyspace, args: list[bytes]) -> Reply:
    if db.lookup(args[1]) is None or not db.persist(args[1]):
        return 0
    db.notify("g", b"persist", args[1])
    return 1


# ---------------------------------------------------------------------- rename and copy


def _rename(db: Keyspace, args: list[bytes], only_new: bool) -> Reply:
    source, target = args[1], args[2]
    value = db.lookup(source)
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    if source == target:
        return 0 if only_new else OK
    when = db.get_expire(source)
    if db.lookup(target) is not None:
        if only_new:
            return 0
        db.delete(target)
    db.delete(source)
    db.set(target, value)
    if when is not None:
        db.set_expire(target, when)
    db.notify("g", b"rename_from", source)
    db.notify("g", b"rename_to", target)
    return 1 if only_new else OK


@command("rename")
def rename(db: Keyspace, args: list[bytes]) -> Reply:
    return _rename(db, args, only_new=False)


@command("renamenx")
def renamenx(db: Keyspace, args: list[bytes]) -> Reply:
    return _rename(db, args, only_new=True)


def _database_index(arg: bytes) -> int:
    """getIntFromObjectOrReply then selectDb's range check."""
    index = select_index(arg)
    if type(index) is bytes:
        raise CommandError(index)
    return index  # type: ignore[return-value]


def copy_work(value: Any) -> int:
    """The work of `duplicate`: a container's members, a string's bytes (only a string
    changed in place is copied: others are shared)."""
    if type(value) is bytes:
        return 0
    if type(value) is bytearray:
        return string_work(len(value))
    return len(value)


def duplicate(value: Any) -> Any:
    """A value for a new key: strings modified in place (bytearray) are copied, immutable
    strings shared, containers deep-copied."""
    if type(value) is bytes:
        return value
    if type(value) is bytearray:
        return bytearray(value)
    return value.copy()


@command("copy")
def copy(db: Keyspace, args: list[bytes]) -> Reply:
    source, target = args[1], args[2]
    replace = False
    database = db.index
    index = 3
    while index < len(args):
        option = args[index].lower()
        if option == b"replace":
            replace = True
        elif option == b"db" and index + 1 < len(args):
            database = _database_index(args[index + 1])
            index += 1
        else:
            raise CommandError(SYNTAX)
        index += 1
    destination = _other(db, database)
    if source == target and destination is db:
        raise CommandError(SAME_OBJECT)
    value = db.lookup_read(source)
    if value is None:
        return 0
    db.charge(copy_work(value))
    when = db.get_expire(source)
    if destination.lookup(target) is not None:
        if not replace:
            return 0
        destination.delete(target)
    destination.set(target, duplicate(value))
    if when is not None:
        destination.set_expire(target, when)
    destination.notify("g", b"copy_to", target)
    _changed_elsewhere(db, destination, target)
    return 1


def _other(db: Keyspace, index: int) -> Keyspace:
    """Database `index`'s key space, set up for the running command as `db` is."""
    if index == db.index or db.databases is None:
        return db
    other: Keyspace = db.databases.database(index)
    other.now_ms = db.now_ms
    other.rng = db.rng
    other.mutating = db.mutating
    other.changed = []
    return other


def _changed_elsewhere(db: Keyspace, other: Keyspace, key: bytes) -> None:
    """A key changed in another database: reported among the running command's changes
    (blocked clients and client tracking name keys without their database, as Redis's
    tracking does), and that key space's memory accounted."""
    if other is not db and other.changed:
        db.changed.extend(other.changed)
        other.reaccount()
        other.changed = []


@command("move")
def move(db: Keyspace, args: list[bytes]) -> Reply:
    """MOVE key db: as Redis 7.0's moveCommand."""
    key = args[1]
    index = _database_index(args[2])
    destination = _other(db, index)
    if destination is db:
        raise CommandError(SAME_OBJECT)
    value = db.lookup_quietly(key)
    if value is None:
        return 0
    when = db.get_expire(key)
    if destination.lookup_quietly(key) is not None:
        return 0
    db.delete(key)
    destination.set(key, value)
    if when is not None:
        destination.set_expire(key, when)
    db.notify("g", b"move_from", key)
    destination.notify("g", b"move_to", key)
    _changed_elsewhere(db, destination, key)
    return 1


# ---------------------------------------------------------------------- whole key space


@command("randomkey")
def randomkey(db: Keyspace, args: list[bytes]) -> Reply:
    key = db.random_key(db.rng)
    if key is None and db.mutating and db.data:
        # Every key is expired: Redis's master deletes each one it draws until none is
        # left, so all of them go.
        db.expire_keys(list(db.data))
    return key


@command("keys")
def keys(db: Keyspace, args: list[bytes]) -> Reply:
    # Like Redis, KEYS skips expired keys without deleting them.
    pattern = args[1]
    now = db.now_ms
    # Every key is looked at (and with `*` every live one returned).
    db.charge(len(db.data))
    if matches_all(pattern):
        return [key for key in db.data if not db.is_expired(key, now)]
    matcher = compile_pattern(pattern)
    return [key for key in db.data if matcher(key) and not db.is_expired(key, now)]


def scan_index(db: Keyspace) -> ScanIndex:
    """The key space's SCAN order: built on first use, then told of every new and deleted
    key by Keyspace (which drops it when it replaces `data` wholesale)."""
    if db.scan_index is None:
        db.scan_index = ScanIndex(db.data)
    return db.scan_index


@command("scan")
def scan(db: Keyspace, args: list[bytes]) -> Reply:
    cursor = parse_cursor(args[1])
    options = parse_scan_options(args, 2, allow_type=True)
    budget = scan_budget(db, len(db.data))
    count = page_count(db, options.count)
    next_cursor, visited = scan_page(scan_index(db), cursor, count, None, budget)
    found = []
    for key in visited:
        if not options.accepts(key):
            continue
        if options.type_name is not None:
            # As Redis, the type check looks the key up, which on a master deletes an
            # expired key; the expiry check below then no longer sees it.
            value = db.lookup(key)
            if (b"none" if value is None else type_name(value)) != options.type_name:
                continue
        if db.is_expired(key, db.now_ms):
            if db.mutating:
                db.expire_keys([key])
            continue
        found.append(key)
    return scan_reply(next_cursor, found)


@command("dbsize")
def dbsize(db: Keyspace, args: list[bytes]) -> Reply:
    # Expired keys not yet removed count, as in Redis's dictSize.
    return len(db.data)


@command("flushdb", "flushall")
def flush(db: Keyspace, args: list[bytes]) -> Reply:
    if len(args) > 2 or (len(args) == 2 and args[1].lower() not in (b"sync", b"async")):
        raise CommandError(SYNTAX)
    if args[0].lower() == b"flushall" and db.databases is not None:
        for space in db.databases.all_spaces():
            if space is not db:
                # Their keys are changes of this command too (blocked clients, WATCH,
                # tracking, a slot range's copy: node/slot_entries.py TRACK).
                space.changed = []
                space.flush()
                db.changed.extend(space.changed)
                space.changed = []
        db.flush()
        db.databases.drop_empty(keep=db)
    else:
        db.flush()
    return OK


# ---------------------------------------------------------------------- OBJECT


def string_encoding(value: bytes | bytearray) -> bytes:
    """What Redis 7.0 reports for a string value: a string changed in place (APPEND,
    SETRANGE, SETBIT: held as a bytearray) is "raw"; a stored string is "int" when it is
    a canonical 64-bit integer of at most 20 bytes (string2l: "-0" is not), "embstr" up
    to 44 bytes, "raw" beyond."""
    if isinstance(value, bytearray):
        return b"raw"
    if len(value) <= 20 and value != b"-0" and to_int(value) is not None:
        return b"int"
    return b"embstr" if len(value) <= EMBSTR_SIZE_LIMIT else b"raw"


@command("object|encoding")
def object_encoding(db: Keyspace, args: list[bytes]) -> Reply:
    value = db.lookup_quietly(args[2])
    if value is None:
        return None
    if type(value) is bytes or type(value) is bytearray:
        return string_encoding(value)
    return value.encoding()


# Redis's texts (object.c) when the policy does not keep what is asked.
_SWITCHING = (
    b" Please note that when switching between policies at runtime LRU and LFU data "
    b"will take some time to adjust."
)
LFU_NOT_SELECTED = (
    b"ERR An LFU maxmemory policy is not selected, access frequency not tracked." + _SWITCHING
)
LFU_SELECTED = b"ERR An LFU maxmemory policy is selected, idle time not tracked." + _SWITCHING
SHARED_REFCOUNT = 2**31 - 1  # OBJ_SHARED_REFCOUNT (INT_MAX)
SHARED_INTEGERS = 10000  # OBJ_SHARED_INTEGERS


def _peek(db: Keyspace, key: bytes) -> Any:
    """The live value without counting as an access nor a keymiss event (OBJECT's
    LOOKUP_NOTOUCH | LOOKUP_NONOTIFY)."""
    tracker = db.access_tracker
    db.access_tracker = None
    try:
        return db.lookup_quietly(key)
    finally:
        db.access_tracker = tracker


def _lfu_policy(db: Keyspace) -> bool:
    return db.config.maxmemory_policy.endswith("-lfu")


@command("object|freq")
def object_freq(db: Keyspace, args: list[bytes]) -> Reply:
    if _peek(db, args[2]) is None:
        return None
    tracker = db.access_tracker
    if not _lfu_policy(db) or not isinstance(tracker, LfuTracker):
        raise CommandError(LFU_NOT_SELECTED)
    return tracker.frequency(args[2])


@command("object|idletime")
def object_idletime(db: Keyspace, args: list[bytes]) -> Reply:
    """Seconds since the last access, from the LRU tracker an LRU policy installs. Under
    the other policies (noeviction, random, volatile-ttl) no access times are kept here,
    unlike in Redis: 0."""
    if _peek(db, args[2]) is None:
        return None
    if _lfu_policy(db):
        raise CommandError(LFU_SELECTED)
    tracker = db.access_tracker
    if isinstance(tracker, LruTracker):
        return tracker.idle_ms(args[2]) // 1000
    return 0


@command("object|refcount")
def object_refcount(db: Keyspace, args: list[bytes]) -> Reply:
    """Redis shares the string objects of the integers 0-9999 (refcount INT_MAX) unless
    an LRU or LFU policy with a maxmemory needs each key's own access data; a string
    changed in place (APPEND, SETRANGE: a bytearray here) is never shared."""
    value = _peek(db, args[2])
    if value is None:
        return None
    if type(value) is bytes and len(value) <= 4:
        number = to_int(value)
        policy = db.config.maxmemory_policy
        sharing = db.config.maxmemory == 0 or not policy.endswith(("-lru", "-lfu"))
        if number is not None and 0 <= number < SHARED_INTEGERS and sharing:
            return SHARED_REFCOUNT
    return 1


@command("memory|usage")
def memory_usage(db: Keyspace, args: list[bytes]) -> Reply:
    """The bytes redis-server 7.0 would report for the key (node.engine.memory_usage),
    SAMPLES elements of a large container averaged over it (0: all of them)."""
    samples = DEFAULT_SAMPLES
    position = 3
    while position < len(args):
        if args[position].lower() == b"samples" and position + 1 < len(args):
            count = to_int(args[position + 1])
            if count is None:
                raise CommandError(NOT_INTEGER)
            if count < 0:
                raise CommandError(SYNTAX)
            samples = count
            position += 2
        else:
            raise CommandError(SYNTAX)
    value = db.lookup_quietly(args[2])
    if value is None:
        return None
    db.charge(usage_work(value))
    return redis_memory_usage(args[2], value, samples)


_OBJECT_HELP = (
    b"ENCODING <key>",
    b"    Return the kind of internal representation used in order to store the value",
    b"    associated with a <key>.",
    b"FREQ <key>",
    b"    Return the access frequency index of the <key>. The returned integer is",
    b"    proportional to the logarithm of the recent access frequency of the key.",
    b"IDLETIME <key>",
    b"    Return the idle time of the <key>, that is the approximated number of",
    b"    seconds elapsed since the last access to the key.",
    b"REFCOUNT <key>",
    b"    Return the number of references of the value associated with the specified",
    b"    <key>.",
)


@command("object|help")
def object_help(db: Keyspace, args: list[bytes]) -> Reply:
    """Redis 7.0's text, word for word, so that clients that parse it see what they
    expect."""
    header = b"%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:" % args[0].upper()
    lines = [header, *_OBJECT_HELP, b"HELP", b"    Prints this help."]
    return [Simple(line) for line in lines]
