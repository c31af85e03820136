"""Stream commands, as Redis 7.0's t_stream.c: the same replies, errors and order of checks.

`*` IDs come from the log entry's time (db.now_ms), never below the stream's last ID (then
its ms and the next sequence), so IDs stay monotonic across leader changes. Delivery,
idle and seen times come from db.now_ms too. Streams are not deleted when they empty
(XDEL, XTRIM), as in Redis. XREAD and XREADGROUP with BLOCK return a WouldBlock when
there is nothing to serve; the node proposes them again when a key changes.
"""

from __future__ import annotations

from typing import Any

from node.engine.blocking import WouldBlock
from node.engine.errors import CommandError
from node.engine.keyspace import Keyspace
from node.engine.parsing import LLONG_MAX, to_int
from node.engine.registry import command
from node.engine.stream_ids import (
    parse_id,
    parse_strict_id,
    range_end,
    range_start,
)
from node.engine.stream_value import (
    INVALID_ENTRIES_READ,
    LISTPACK_MAX_SIZE,
    MAX_ID,
    SEQ_MASK,
    Group,
    Nack,
    StreamValue,
    estimate_read,
    format_id,
)
from node.engine.work import string_work
from proto.errors import (
    NO_SUCH_KEY,
    NOT_INTEGER,
    SYNTAX,
    TIMEOUT_NEGATIVE,
    TIMEOUT_NOT_INTEGER,
    WRONGTYPE,
    wrong_arity,
)
from proto.resp import NULL_ARRAY, OK, KeyedArrays, Map, Reply

ID_ZERO = b"ERR The ID specified in XADD must be greater than 0-0"
ID_TOO_SMALL = b"ERR The ID specified in XADD is equal or smaller than the target stream top item"
ID_EXHAUSTED = b"ERR The stream has exhausted the last possible ID, unable to add more items"
MAXLEN_NEGATIVE = b"ERR The MAXLEN argument must be >= 0."
LIMIT_NEGATIVE = b"ERR The LIMIT argument must be >= 0."
MAXLEN_AND_MINID = b"ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
LIMIT_WITHOUT_STRATEGY = (
    b"ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
)
LIMIT_WITHOUT_APPROX = b"ERR syntax error, LIMIT cannot be used without the special ~ option"
XTRIM_NO_STRATEGY = b"ERR syntax error, XTRIM must be called with a trimming strategy"
XREADGROUP_DOLLAR = (
    b"ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
    b"history of this consumer by specifying a proper ID, or use the > ID to get new "
    b"messages. The $ ID would just return an empty result set."
)
XREAD_GT = (
    b"ERR The > ID can be specified only when calling XREADGROUP using the GROUP "
    b"<group> <consumer> option."
)
MISSING_GROUP = b"ERR Missing GROUP option for XREADGROUP"
# XREADGROUP's GROUP once it blocked (node/resolved_reads.py keeps it for its retries).
BLOCKED_GROUP = b"GROUP\x00blocked"
KEY_GONE_WHILE_BLOCKED = b"UNBLOCKED the stream key no longer exists"
GROUP_GONE_WHILE_BLOCKED = b"NOGROUP the consumer group this client was blocked on no longer exists"
GROUP_ONLY_XREADGROUP = (
    b"ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."
)
NOACK_ONLY_XREADGROUP = (
    b"ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."
)
KEY_MUST_EXIST = (
    b"ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
    b"want to use the MKSTREAM option to create an empty stream automatically."
)
BUSYGROUP = b"BUSYGROUP Consumer Group name already exists"
ENTRIES_READ_RANGE = b"ERR value for ENTRIESREAD must be positive or -1"
SETID_SMALLER_THAN_DELETED = (
    b"ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"
)
SETID_SMALLER_THAN_TOP = (
    b"ERR The ID specified in XSETID is smaller than the target stream top item"
)
SETID_ADDED_TOO_SMALL = (
    b"ERR The entries_added specified in XSETID is smaller than the target stream length"
)
SETID_MAXDELETED_TOO_BIG = (
    b"ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
)
ENTRIES_ADDED_NEGATIVE = b"ERR entries_added must be positive"
AUTOCLAIM_COUNT = b"ERR COUNT must be > 0"
# XAUTOCLAIM's COUNT limit: LONG_MAX / max(sizeof(streamID), attempts factor 10).
AUTOCLAIM_MAX_COUNT = LLONG_MAX // 16
AUTOCLAIM_ATTEMPTS = 10

XGROUP_HELP = [
    b"XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"CREATE <key> <groupname> <id|$> [option]",
    b"    Create a new consumer group. Options are:",
    b"    * MKSTREAM",
    b"      Create the empty stream if it does not exist.",
    b"    * ENTRIESREAD entries_read",
    b"      Set the group's entries_read counter (internal use).",
    b"CREATECONSUMER <key> <groupname> <consumer>",
    b"    Create a new consumer in the specified group.",
    b"DELCONSUMER <key> <groupname> <consumer>",
    b"    Remove the specified consumer.",
    b"DESTROY <key> <groupname>",
    b"    Remove the specified group.",
    b"SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    b"    Set the current group ID and entries_read counter.",
    b"HELP",
    b"    Prints this help.",
]
XINFO_HELP = [
    b"XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"CONSUMERS <key> <groupname>",
    b"    Show consumers of <groupname>.",
    b"GROUPS <key>",
    b"    Show the stream consumer groups.",
    b"STREAM <key> [FULL [COUNT <count>]",
    b"    Show information about the stream.",
    b"HELP",
    b"    Prints this help.",
]


# ---------------------------------------------------------------------- helpers


def _stream(db: Keyspace, key: bytes, read: bool = False) -> StreamValue | None:
    value = db.lookup_read(key) if read else db.lookup(key)
    if value is not None and type(value) is not StreamValue:
        raise CommandError(WRONGTYPE)
    return value


def _long(arg: bytes, error: bytes = NOT_INTEGER) -> int:
    value = to_int(arg)
    if value is None:
        raise CommandError(error)
    return value


def _entry_work(stream: StreamValue, count: int) -> int:
    """The work of replying `count` entries: each with its ID and its fields and values
    (Redis counts an entry's fields; here an entry of a typical stream, a few pairs)."""
    return count * 4


def _reply_entries(entries: list[tuple[int, list[bytes]]]) -> list[Reply]:
    return [[format_id(stream_id), items] for stream_id, items in entries]


def _charged_range(
    db: Keyspace, stream: StreamValue, start: int, end: int, count: int | None, rev: bool
) -> list[Reply]:
    """Entries in range, at most `count`, charging what is returned before copying out."""
    limit = stream.length if count is None else min(count, stream.length)
    entries = stream.range(start, end, limit, rev) if limit else []
    size = sum(len(item) for _stream_id, items in entries for item in items)
    db.charge(sum(2 + len(items) for _stream_id, items in entries) + string_work(size))
    return _reply_entries(entries)


def _bounded_range(
    db: Keyspace, stream: StreamValue, start: int, end: int, count: int | None, rev: bool
) -> list[Reply]:
    """A range whose size is not known before walking it: charged as it is collected, so
    that a huge COUNT on a huge stream stops at the budget (as other range reads do)."""
    limit = stream.length if count is None else min(count, stream.length)
    # At most what the budget lets through: one element of work is the least an entry costs.
    db.charge(0)
    budget_entries = max(db.work_left // 3, 0) + 1
    entries = stream.range(start, end, min(limit, budget_entries), rev) if limit else []
    size = sum(len(item) for _stream_id, items in entries for item in items)
    db.charge(sum(2 + len(items) for _stream_id, items in entries) + string_work(size))
    return _reply_entries(entries)


def _no_group(key: bytes, group: bytes) -> CommandError:
    return CommandError(b"NOGROUP No such key '%s' or consumer group '%s'" % (key, group))


def _lookup_group(db: Keyspace, key: bytes, name: bytes) -> tuple[StreamValue, Group]:
    stream = _stream(db, key, read=True)
    group = stream.groups.get(name) if stream is not None else None
    if stream is None or group is None:
        raise _no_group(key, name)
    return stream, group


def _consumer(db: Keyspace, key: bytes, stream: StreamValue, group: Group, name: bytes) -> Any:
    """streamLookupConsumer with refresh, else streamCreateConsumer (with its event)."""
    consumer = group.consumers.get(name)
    if consumer is None:
        consumer = stream.create_consumer(group, name, db.now_ms)
        db.modified(key)
        db.notify("t", b"xgroup-createconsumer", key)
    else:
        consumer.seen_time = db.now_ms
    return consumer


# ---------------------------------------------------------------------- trimming arguments


class _TrimArgs:
    __slots__ = (
        "approx",
        "given_id",
        "id_given",
        "id_index",
        "limit",
        "maxlen",
        "minid",
        "nomkstream",
        "seq_given",
    )

    def __init__(self) -> None:
        self.given_id = 0
        self.seq_given = True
        self.maxlen: int | None = None
        self.minid: int | None = None
        self.approx = False
        self.limit = 0
        self.nomkstream = False
        self.id_given = False
        self.id_index = 0


def _default_trim_limit(db: Keyspace) -> int:
    """LIMIT of an approximate trim without one: 100 nodes' worth of entries."""
    limit = 100 * db.config.stream_node_max_entries
    return limit if 0 < limit <= LISTPACK_MAX_SIZE else 10_000


def _parse_add_or_trim(db: Keyspace, args: list[bytes], xadd: bool) -> _TrimArgs:
    """streamParseAddOrTrimArgsOrReply. For XADD, `id_index` is where the ID is."""
    parsed = _TrimArgs()
    limit_given = False
    index = 2
    argc = len(args)
    while index < argc:
        more = argc - 1 - index
        option = args[index].upper()
        if xadd and args[index] == b"*":
            break
        if option == b"MAXLEN" and more:
            if parsed.maxlen is not None or parsed.minid is not None:
                raise CommandError(MAXLEN_AND_MINID)
            parsed.approx = False
            following = args[index + 1]
            if more >= 2 and following == b"~":
                parsed.approx = True
                index += 1
            elif more >= 2 and following == b"=":
                index += 1
            maxlen = _long(args[index + 1])
            if maxlen < 0:
                raise CommandError(MAXLEN_NEGATIVE)
            parsed.maxlen = maxlen
            index += 2
        elif option == b"MINID" and more:
            if parsed.maxlen is not None or parsed.minid is not None:
                raise CommandError(MAXLEN_AND_MINID)
            parsed.approx = False
            following = args[index + 1]
            if more >= 2 and following == b"~":
                parsed.approx = True
                index += 1
            elif more >= 2 and following == b"=":
                index += 1
            parsed.minid = parse_strict_id(args[index + 1])
            index += 2
        elif option == b"LIMIT" and more:
            limit = _long(args[index + 1])
            if limit < 0:
                raise CommandError(LIMIT_NEGATIVE)
            parsed.limit = limit
            limit_given = True
            index += 2
        elif xadd and option == b"NOMKSTREAM":
            parsed.nomkstream = True
            index += 1
        elif xadd:
            # A syntax error or the ID: parsed here, before the checks below.
            parsed.given_id, parsed.seq_given = parse_id(args[index], strict=True, seq_star=True)
            parsed.id_given = True
            break
        else:
            raise CommandError(SYNTAX)
    strategy = parsed.maxlen is not None or parsed.minid is not None
    if parsed.limit and not strategy:
        raise CommandError(LIMIT_WITHOUT_STRATEGY)
    if not xadd and not strategy:
        raise CommandError(XTRIM_NO_STRATEGY)
    if limit_given:
        if not parsed.approx:
            raise CommandError(LIMIT_WITHOUT_APPROX)
    elif parsed.approx:
        parsed.limit = _default_trim_limit(db)
    else:
        parsed.limit = 0
    parsed.id_index = index
    return parsed


def _trim_work(db: Keyspace, stream: StreamValue | None, adding: int = 0) -> int:
    """Trimming's work: whole blocks are dropped without walking their entries (a list
    deletion each), a partial one is rebuilt (at most a block of entries)."""
    if stream is None:
        return adding
    entries = stream.length + adding
    block = db.config.stream_node_max_entries or entries
    return min(entries, block) + (len(stream.blocks) + 1) // 16


def _trim(stream: StreamValue, parsed: _TrimArgs) -> int:
    return stream.trim(parsed.maxlen, parsed.minid, parsed.approx, parsed.limit)


# ---------------------------------------------------------------------- XADD / XTRIM / XDEL


@command("xadd")
def xadd(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    parsed = _parse_add_or_trim(db, args, xadd=True)
    id_index = parsed.id_index
    if id_index >= len(args):
        raise CommandError(wrong_arity("xadd"))
    given_id, seq_given = parsed.given_id, parsed.seq_given
    items = args[id_index + 1 :]
    if len(items) < 2 or len(items) % 2:
        raise CommandError(wrong_arity("xadd"))
    if parsed.id_given and seq_given and given_id == 0:
        raise CommandError(ID_ZERO)
    stream = _stream(db, key)
    if stream is None:
        if parsed.nomkstream:
            return None
        created = True
    else:
        created = False
    last_id = stream.last_id if stream is not None else 0
    if last_id == MAX_ID:
        raise CommandError(ID_EXHAUSTED)
    if parsed.id_given:
        if seq_given:
            new_id = given_id
        elif last_id >> 64 == given_id >> 64:
            if last_id & SEQ_MASK == SEQ_MASK:
                raise CommandError(ID_TOO_SMALL)
            new_id = last_id + 1
        else:
            new_id = given_id
    else:
        # streamNextID with the entry's time: never below the last ID.
        now = db.now_ms
        new_id = now << 64 if now > last_id >> 64 else last_id + 1
    if new_id <= last_id:
        raise CommandError(ID_TOO_SMALL)
    trimming = parsed.maxlen is not None or parsed.minid is not None
    db.charge(
        len(items)
        + string_work(sum(map(len, items)))
        + (_trim_work(db, stream, adding=1) if trimming else 0)
    )
    if stream is None:
        stream = StreamValue()
    config = db.config
    stream.append(new_id, items, config.stream_node_max_entries, config.stream_node_max_bytes)
    if created:
        db.set(key, stream)
    else:
        db.modified(key)
    db.notify("t", b"xadd", key)
    if trimming and _trim(stream, parsed):
        db.notify("t", b"xtrim", key)
    return format_id(new_id)


@command("xtrim")
def xtrim(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    parsed = _parse_add_or_trim(db, args, xadd=False)
    stream = _stream(db, key)
    if stream is None:
        return 0
    db.charge(_trim_work(db, stream))
    deleted = _trim(stream, parsed)
    if deleted:
        db.notify("t", b"xtrim", key)
        db.modified(key)
    return deleted


@command("xdel")
def xdel(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    stream = _stream(db, key)
    if stream is None:
        return 0
    ids = [parse_strict_id(arg) for arg in args[2:]]
    db.charge(len(ids) * 2)
    deleted = stream.delete(ids)
    if deleted:
        db.modified(key)
        db.notify("t", b"xdel", key)
    return deleted


@command("xlen")
def xlen(db: Keyspace, args: list[bytes]) -> Reply:
    stream = _stream(db, args[1])
    return 0 if stream is None else stream.length


# ---------------------------------------------------------------------- XRANGE / XREVRANGE


def _range_command(db: Keyspace, args: list[bytes], rev: bool) -> Reply:
    start_arg, end_arg = (args[3], args[2]) if rev else (args[2], args[3])
    start = range_start(start_arg)
    end = range_end(end_arg)
    count = -1
    index = 4
    while index < len(args):
        if args[index].upper() == b"COUNT" and index + 1 < len(args):
            count = max(_long(args[index + 1]), 0)
            index += 2
        else:
            raise CommandError(SYNTAX)
    stream = _stream(db, args[1])
    if stream is None:
        return []
    if count == 0:
        return NULL_ARRAY
    return _bounded_range(db, stream, start, end, None if count < 0 else count, rev)


@command("xrange")
def xrange(db: Keyspace, args: list[bytes]) -> Reply:
    return _range_command(db, args, rev=False)


@command("xrevrange")
def xrevrange(db: Keyspace, args: list[bytes]) -> Reply:
    return _range_command(db, args, rev=True)


# ---------------------------------------------------------------------- XREAD / XREADGROUP


def _block_timeout(arg: bytes) -> float:
    """getTimeoutFromObjectOrReply in milliseconds: seconds for the WouldBlock."""
    value = to_int(arg)
    if value is None:
        raise CommandError(TIMEOUT_NOT_INTEGER)
    if value < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    return value / 1000


def _read(db: Keyspace, args: list[bytes], group_read: bool) -> Reply:
    name = b"XREADGROUP" if group_read else b"XREAD"
    timeout: float | None = None
    count = 0
    streams_at = 0
    noack = False
    group_name: bytes | None = None
    group_at = 0
    consumer_name = b""
    index = 1
    argc = len(args)
    while index < argc:
        more = argc - index - 1
        option = args[index].upper()
        if option == b"BLOCK" and more:
            index += 1
            timeout = _block_timeout(args[index])
        elif option == b"COUNT" and more:
            index += 1
            count = max(_long(args[index]), 0)
        elif option == b"STREAMS" and more:
            streams_at = index + 1
            if (argc - streams_at) % 2:
                symbol = b">" if group_read else b"$"
                raise CommandError(
                    b"ERR Unbalanced %s list of streams: for each stream key an ID or "
                    b"'%s' must be specified." % (name, symbol)
                )
            break
        elif (option == b"GROUP" or args[index] == BLOCKED_GROUP) and more >= 2:
            if not group_read:
                raise CommandError(GROUP_ONLY_XREADGROUP)
            group_at = index
            group_name = args[index + 1]
            consumer_name = args[index + 2]
            index += 2
        elif option == b"NOACK":
            if not group_read:
                raise CommandError(NOACK_ONLY_XREADGROUP)
            noack = True
        else:
            raise CommandError(SYNTAX)
        index += 1
    if not streams_at:
        raise CommandError(SYNTAX)
    if group_read and group_name is None:
        raise CommandError(MISSING_GROUP)
    streams_count = (argc - streams_at) // 2
    keys = args[streams_at : streams_at + streams_count]
    # Parse the IDs and find the groups, in Redis's order (a key's type first).
    ids: list[int] = []
    groups: list[Group | None] = []
    dollars: list[int] = []
    for position, key in enumerate(keys):
        stream = _stream(db, key, read=True)
        group = None
        if group_name is not None:
            group = stream.groups.get(group_name) if stream is not None else None
            if group_at and args[group_at] == BLOCKED_GROUP:
                # Applied again after it blocked: what Redis answers a blocked client.
                if stream is None:
                    raise CommandError(KEY_GONE_WHILE_BLOCKED)
                if group is None:
                    raise CommandError(GROUP_GONE_WHILE_BLOCKED)
            if stream is None or group is None:
                raise CommandError(
                    b"NOGROUP No such key '%s' or consumer group '%s' in XREADGROUP with "
                    b"GROUP option" % (key, group_name)
                )
        groups.append(group)
        id_arg = args[streams_at + streams_count + position]
        if id_arg == b"$":
            if group_read:
                raise CommandError(XREADGROUP_DOLLAR)
            ids.append(stream.last_id if stream is not None else 0)
            dollars.append(position)
            continue
        if id_arg == b">":
            if not group_read:
                raise CommandError(XREAD_GT)
            ids.append(MAX_ID)
            continue
        ids.append(parse_strict_id(id_arg))
    # Everything a read returns is charged before anything changes (a consumer, the PEL):
    # first the plan of each stream, then its effects.
    plans: list[_Plan] = []
    for position, key in enumerate(keys):
        plan = _plan(db, key, ids[position], groups[position], consumer_name, count, charge=True)
        if plan is not None:
            plans.append(plan)
    reply: list[Reply] = []
    served: set[bytes] = set()
    for plan in plans:
        if plan.key in served and plan.group is not None:
            # The same stream twice: its second read sees what the first one changed.
            plan = _plan(db, plan.key, plan.after, plan.group, consumer_name, count, charge=False)
            if plan is None:
                continue
        entries = _serve(db, plan, consumer_name, noack)
        if plan.served:
            served.add(plan.key)
            reply.extend((plan.key, entries))
    if reply:
        # RESP2: an array of [key, entries]; RESP3: a map of key -> entries.
        return KeyedArrays(reply)
    if timeout is not None:
        resolved = None
        if dollars:
            # `$` resolved now, on the first application: a retry (a wake-up, or the router
            # after a failover) waits for entries after this ID, not after a later one.
            resolved = list(args)
            for position in dollars:
                resolved[streams_at + streams_count + position] = format_id(ids[position])
        elif group_at:
            # A retry knows it blocked: its key or group gone, it answers as Redis answers
            # a blocked client then.
            resolved = list(args)
            resolved[group_at] = BLOCKED_GROUP
        return WouldBlock(list(keys), timeout, resolved)
    return NULL_ARRAY


class _Plan:
    """What a read takes from one stream: `entries` (ID, fields and values; None for a
    pending entry that was deleted), read after `after` (the ID asked for)."""

    __slots__ = ("after", "entries", "group", "history", "key", "served", "stream")

    def __init__(
        self,
        key: bytes,
        stream: StreamValue,
        group: Group | None,
        after: int,
        history: bool,
        entries: list[tuple[int, list[bytes] | None]],
        served: bool = True,
    ) -> None:
        self.served = served
        self.key = key
        self.stream = stream
        self.group = group
        self.after = after
        self.history = history
        self.entries = entries


def _plan(
    db: Keyspace,
    key: bytes,
    after: int,
    group: Group | None,
    consumer_name: bytes,
    count: int,
    charge: bool,
) -> _Plan | None:
    """What reading `key` after `after` serves, None when it serves nothing (Redis's
    conditions for serving synchronously); charged when `charge`."""
    stream = _stream(db, key)
    if stream is None:
        return None
    history = False
    if group is not None:
        if after != MAX_ID:
            history = True
        elif stream.length and stream.last_entry_id() > group.last_id:
            after = group.last_id
        else:
            # Not served: Redis 7.0 neither makes the consumer nor refreshes its seen time.
            return _Plan(key, stream, group, after, False, [], served=False)
    elif not (stream.length and stream.last_entry_id() > after):
        return None
    start = after + 1 if after < MAX_ID else MAX_ID
    entries: list[tuple[int, list[bytes] | None]]
    if history:
        assert group is not None
        consumer = group.consumers.get(consumer_name)
        own = consumer.pending_sorted() if consumer is not None else []
        if charge:
            db.charge(len(own) // 16)
        wanted = [stream_id for stream_id in own if stream_id >= start]
        if count:
            wanted = wanted[:count]
        entries = [(stream_id, stream.get(stream_id)) for stream_id in wanted]
        if charge:
            db.charge(_entries_work(entries))
    else:
        limit = stream.length if not count else min(count, stream.length)
        if charge:
            # At most what the budget lets through: an entry costs at least 3 elements.
            db.charge(0)
            limit = min(limit, db.work_left // 3 + 1)
        entries = list(stream.range(start, MAX_ID, limit))
        if charge:
            db.charge(_entries_work(entries))
    return _Plan(key, stream, group, after, history, entries)


def _entries_work(entries: list[tuple[int, list[bytes] | None]]) -> int:
    """An entry's ID and array, its fields and values, and their bytes."""
    items = [item for _stream_id, fields in entries if fields for item in fields]
    return 2 * len(entries) + len(items) + string_work(sum(map(len, items)))


def _serve(db: Keyspace, plan: _Plan, consumer_name: bytes, noack: bool) -> list[Reply]:
    """The effects of a planned read (group and PEL), and its entries as replied."""
    stream, group = plan.stream, plan.group
    if group is None:
        return [[format_id(stream_id), items] for stream_id, items in plan.entries]
    if not plan.served:
        return []
    consumer = _consumer(db, plan.key, stream, group, consumer_name)
    db.modified(plan.key)
    now = db.now_ms
    out: list[Reply] = []
    if plan.history:
        for stream_id, items in plan.entries:
            if items is None:
                out.append([format_id(stream_id), NULL_ARRAY])
                continue
            nack = group.pel[stream_id]
            nack.delivery_time = now
            nack.delivery_count += 1
            out.append([format_id(stream_id), items])
        return out
    for stream_id, items in plan.entries:
        if stream_id > group.last_id:
            if group.entries_read != INVALID_ENTRIES_READ and not _has_tombstones(
                stream, stream_id, MAX_ID
            ):
                group.entries_read += 1
            elif stream.entries_added:
                group.entries_read = estimate_read(stream, stream_id)
            group.last_id = stream_id
        if not noack:
            existing = group.pel.get(stream_id)
            if existing is not None:
                stream.move_pending(group, stream_id, consumer)
                existing.delivery_time = now
                existing.delivery_count = 1
            else:
                stream.add_pending(group, stream_id, Nack(consumer, now, 1))
        out.append([format_id(stream_id), items])
    return out


@command("xread")
def xread(db: Keyspace, args: list[bytes]) -> Reply:
    return _read(db, args, group_read=False)


@command("xreadgroup")
def xreadgroup(db: Keyspace, args: list[bytes]) -> Reply:
    return _read(db, args, group_read=True)


# ---------------------------------------------------------------------- lag and counters


def _has_tombstones(stream: StreamValue, start: int, end: int) -> bool:
    """streamRangeHasTombstones."""
    deleted = stream.max_deleted_id
    if not stream.length or not deleted:
        return False
    if stream.first_id > deleted:
        return False
    return start <= deleted <= end


def _lag(stream: StreamValue, group: Group) -> int | None:
    """streamReplyWithCGLag: None when it cannot be known."""
    if not stream.entries_added:
        return 0
    if group.entries_read != INVALID_ENTRIES_READ and not _has_tombstones(
        stream, group.last_id, MAX_ID
    ):
        return stream.entries_added - group.entries_read
    entries_read = estimate_read(stream, group.last_id)
    if entries_read != INVALID_ENTRIES_READ:
        return stream.entries_added - entries_read
    return None


def _entries_read(group: Group) -> int | None:
    return None if group.entries_read == INVALID_ENTRIES_READ else group.entries_read


# ---------------------------------------------------------------------- XACK / XPENDING


@command("xack")
def xack(db: Keyspace, args: list[bytes]) -> Reply:
    stream = _stream(db, args[1], read=True)
    group = stream.groups.get(args[2]) if stream is not None else None
    if stream is None or group is None:
        return 0
    ids = [parse_strict_id(arg) for arg in args[3:]]
    acknowledged = 0
    for stream_id in ids:
        if stream.remove_pending(group, stream_id):
            acknowledged += 1
    if acknowledged:
        db.modified(args[1])
    return acknowledged


@command("xpending")
def xpending(db: Keyspace, args: list[bytes]) -> Reply:
    argc = len(args)
    key, group_name = args[1], args[2]
    if argc != 3 and not 6 <= argc <= 9:
        raise CommandError(SYNTAX)
    min_idle = 0
    count = 0
    start = end = 0
    consumer_name: bytes | None = None
    if argc >= 6:
        at = 3
        if args[3].upper() == b"IDLE":
            min_idle = _long(args[4])
            if argc < 8:
                raise CommandError(SYNTAX)
            at += 2
        count = max(_long(args[at + 2]), 0)
        start = range_start(args[at])
        end = range_end(args[at + 1])
        if at + 3 < argc:
            consumer_name = args[at + 3]
    stream = _stream(db, key)
    group = stream.groups.get(group_name) if stream is not None else None
    if stream is None or group is None:
        raise CommandError(b"NOGROUP No such key '%s' or consumer group '%s'" % (key, group_name))
    if argc == 3:
        if not group.pel:
            return [0, None, None, NULL_ARRAY]
        owners = [
            [consumer.name, b"%d" % len(consumer.pending)]
            for consumer in group.consumers_sorted()
            if consumer.pending
        ]
        db.charge(len(group.consumers) + 2 * len(owners))
        return [
            len(group.pel),
            format_id(group.pel_ids[0]),
            format_id(group.pel_ids[-1]),
            owners,
        ]
    if consumer_name is not None:
        consumer = group.consumers.get(consumer_name)
        if consumer is None:
            return []
        candidates = [
            stream_id for stream_id in consumer.pending_sorted() if start <= stream_id <= end
        ]
        db.charge(len(consumer.pending) // 16)
    else:
        candidates = list(group.pending_from(start, end)) if count else []
    now = db.now_ms
    out: list[Reply] = []
    walked = 0
    for stream_id in candidates:
        if not count:
            break
        walked += 1
        nack = group.pel[stream_id]
        if min_idle and now - nack.delivery_time < min_idle:
            continue
        count -= 1
        out.append(
            [
                format_id(stream_id),
                nack.consumer.name,
                max(now - nack.delivery_time, 0),
                nack.delivery_count,
            ]
        )
    db.charge(walked + 4 * len(out))
    return out


# ---------------------------------------------------------------------- XCLAIM / XAUTOCLAIM


@command("xclaim")
def xclaim(db: Keyspace, args: list[bytes]) -> Reply:
    key, group_name, consumer_name = args[1], args[2], args[3]
    stream, group = _lookup_group(db, key, group_name)
    min_idle = max(_long(args[4], b"ERR Invalid min-idle-time argument for XCLAIM"), 0)
    ids: list[int] = []
    index = 5
    while index < len(args):
        try:
            ids.append(parse_strict_id(args[index]))
        except CommandError:
            break
        index += 1
    now = db.now_ms
    retry_count = -1
    delivery_time = -1
    force = justid = False
    last_id = 0
    while index < len(args):
        more = len(args) - 1 - index
        option = args[index].upper()
        if option == b"FORCE":
            force = True
        elif option == b"JUSTID":
            justid = True
        elif option == b"IDLE" and more:
            index += 1
            delivery_time = now - _long(args[index], b"ERR Invalid IDLE option argument for XCLAIM")
        elif option == b"TIME" and more:
            index += 1
            delivery_time = _long(args[index], b"ERR Invalid TIME option argument for XCLAIM")
        elif option == b"RETRYCOUNT" and more:
            index += 1
            retry_count = _long(args[index], b"ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif option == b"LASTID" and more:
            index += 1
            last_id = parse_strict_id(args[index])
        else:
            raise CommandError(b"ERR Unrecognized XCLAIM option '%s'" % args[index])
        index += 1
    if delivery_time == -1 or delivery_time < 0 or delivery_time > now:
        delivery_time = now
    # Charged before anything changes: what every entry asked for would cost to reply.
    found = [stream.get(stream_id) for stream_id in ids]
    db.charge(3 * len(ids) + (0 if justid else _entries_work(list(zip(ids, found)))))
    changed = False
    if last_id > group.last_id:
        group.last_id = last_id
        changed = True
    consumer = None
    out: list[Reply] = []
    for stream_id, items in zip(ids, found):
        nack = group.pel.get(stream_id)
        if items is None:
            if nack is not None:
                stream.remove_pending(group, stream_id)
                changed = True
            continue
        fresh = False
        if force and nack is None:
            fresh = True
        elif nack is None or (min_idle and now - nack.delivery_time < min_idle):
            continue
        if consumer is None:
            consumer = _consumer(db, key, stream, group, consumer_name)
        if fresh:
            nack = Nack(consumer, now, 1)
            stream.add_pending(group, stream_id, nack)
        else:
            assert nack is not None
            stream.move_pending(group, stream_id, consumer)
        nack.delivery_time = delivery_time
        if retry_count >= 0:
            nack.delivery_count = retry_count
        elif not justid:
            nack.delivery_count += 1
        changed = True
        if justid:
            out.append(format_id(stream_id))
        else:
            out.append([format_id(stream_id), items])
    if changed:
        db.modified(key)
    return out


@command("xautoclaim")
def xautoclaim(db: Keyspace, args: list[bytes]) -> Reply:
    key, group_name, consumer_name = args[1], args[2], args[3]
    # Looked up first (a miss is a keymiss event even when an argument is then refused),
    # its type checked after the arguments, in Redis's order.
    found = db.lookup_read(key)
    min_idle = max(_long(args[4], b"ERR Invalid min-idle-time argument for XAUTOCLAIM"), 0)
    start = range_start(args[5])
    count = 100
    justid = False
    index = 6
    while index < len(args):
        more = len(args) - 1 - index
        option = args[index].upper()
        if option == b"COUNT" and more:
            count = _long(args[index + 1], AUTOCLAIM_COUNT)
            if not 1 <= count <= AUTOCLAIM_MAX_COUNT:
                raise CommandError(AUTOCLAIM_COUNT)
            index += 1
        elif option == b"JUSTID":
            justid = True
        else:
            raise CommandError(SYNTAX)
        index += 1
    if found is not None and type(found) is not StreamValue:
        raise CommandError(WRONGTYPE)
    stream: StreamValue | None = found
    group = stream.groups.get(group_name) if stream is not None else None
    if stream is None or group is None:
        raise _no_group(key, group_name)
    attempts = count * AUTOCLAIM_ATTEMPTS
    ids = group.pel_ids
    first = 0
    low, high = 0, len(ids)
    while low < high:
        middle = (low + high) // 2
        if ids[middle] < start:
            low = middle + 1
        else:
            high = middle
    first = low
    candidates = ids[first : first + min(attempts, len(ids) - first) + 1]
    now = db.now_ms
    # First what the claim takes (entries gone from the stream, or idle enough), charged
    # before anything changes; then its effects.
    actions: list[tuple[int, list[bytes] | None]] = []
    used = 0
    while attempts and count and used < len(candidates):
        attempts -= 1
        stream_id = candidates[used]
        used += 1
        items = stream.get(stream_id)
        if items is not None and min_idle and now - group.pel[stream_id].delivery_time < min_idle:
            continue
        actions.append((stream_id, items))
        count -= 1
    present = [action for action in actions if action[1] is not None]
    db.charge(len(candidates) + (len(present) if justid else _entries_work(present)))
    consumer = None
    claimed: list[Reply] = []
    deleted: list[Reply] = []
    for stream_id, items in actions:
        if items is None:
            stream.remove_pending(group, stream_id)
            deleted.append(format_id(stream_id))
            continue
        if consumer is None:
            consumer = _consumer(db, key, stream, group, consumer_name)
        nack = stream.move_pending(group, stream_id, consumer)
        nack.delivery_time = now
        if not justid:
            nack.delivery_count += 1
        claimed.append(format_id(stream_id) if justid else [format_id(stream_id), items])
    cursor = format_id(candidates[used]) if used < len(candidates) else b"0-0"
    if actions:
        db.modified(key)
    return [cursor, claimed, deleted]


# ---------------------------------------------------------------------- XGROUP


def _entries_read_arg(arg: bytes) -> int:
    value = _long(arg)
    if value < 0 and value != INVALID_ENTRIES_READ:
        raise CommandError(ENTRIES_READ_RANGE)
    return value


def _xgroup_target(
    db: Keyspace, args: list[bytes], mkstream: bool, needs_group: bool
) -> tuple[StreamValue | None, Group | None]:
    stream = _stream(db, args[2])
    group = stream.groups.get(args[3]) if stream is not None else None
    if not mkstream:
        if stream is None:
            raise CommandError(KEY_MUST_EXIST)
        if group is None and needs_group:
            raise CommandError(
                b"NOGROUP No such consumer group '%s' for key name '%s'" % (args[3], args[2])
            )
    return stream, group


def _subcommand_error(args: list[bytes]) -> CommandError:
    return CommandError(
        b"ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP."
        % (args[1], args[0].upper())
    )


@command("xgroup|create")
def xgroup_create(db: Keyspace, args: list[bytes]) -> Reply:
    key, name = args[2], args[3]
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    index = 5
    while index < len(args):
        option = args[index].upper()
        if option == b"MKSTREAM":
            mkstream = True
            index += 1
        elif option == b"ENTRIESREAD" and index + 1 < len(args):
            entries_read = _entries_read_arg(args[index + 1])
            index += 2
        else:
            raise _subcommand_error(args)
    stream, group = _xgroup_target(db, args, mkstream, needs_group=False)
    if len(args) > 8:
        raise _subcommand_error(args)
    if args[4] == b"$":
        last_id = stream.last_id if stream is not None else 0
    else:
        last_id = parse_strict_id(args[4])
    if group is not None:
        raise CommandError(BUSYGROUP)
    if stream is None:
        stream = StreamValue()
        db.set(key, stream)
    else:
        db.modified(key)
    stream.create_group(name, last_id, entries_read)
    db.notify("t", b"xgroup-create", key)
    return OK


@command("xgroup|setid")
def xgroup_setid(db: Keyspace, args: list[bytes]) -> Reply:
    entries_read = INVALID_ENTRIES_READ
    if len(args) not in (5, 7):
        raise _subcommand_error(args)
    if len(args) == 7:
        # Parsed before the key is looked up, as Redis does.
        if args[5].upper() != b"ENTRIESREAD":
            raise _subcommand_error(args)
        entries_read = _entries_read_arg(args[6])
    stream, group = _xgroup_target(db, args, False, needs_group=True)
    assert stream is not None and group is not None
    last_id = stream.last_id if args[4] == b"$" else parse_id(args[4])[0]
    group.last_id = last_id
    group.entries_read = entries_read
    db.modified(args[2])
    db.notify("t", b"xgroup-setid", args[2])
    return OK


@command("xgroup|destroy")
def xgroup_destroy(db: Keyspace, args: list[bytes]) -> Reply:
    stream, group = _xgroup_target(db, args, False, needs_group=False)
    assert stream is not None
    if group is None:
        return 0
    db.charge(len(group.pel) // 16 + len(group.consumers) // 16)
    stream.destroy_group(args[3])
    db.modified(args[2])
    db.notify("t", b"xgroup-destroy", args[2])
    return 1


@command("xgroup|createconsumer")
def xgroup_createconsumer(db: Keyspace, args: list[bytes]) -> Reply:
    stream, group = _xgroup_target(db, args, False, needs_group=True)
    assert stream is not None and group is not None
    if args[4] in group.consumers:
        return 0
    stream.create_consumer(group, args[4], db.now_ms)
    db.modified(args[2])
    db.notify("t", b"xgroup-createconsumer", args[2])
    return 1


@command("xgroup|delconsumer")
def xgroup_delconsumer(db: Keyspace, args: list[bytes]) -> Reply:
    stream, group = _xgroup_target(db, args, False, needs_group=True)
    assert stream is not None and group is not None
    consumer = group.consumers.get(args[4])
    if consumer is None:
        return 0
    db.charge(len(consumer.pending))
    pending = stream.delete_consumer(group, consumer)
    db.modified(args[2])
    db.notify("t", b"xgroup-delconsumer", args[2])
    return pending


@command("xgroup|help")
def xgroup_help(db: Keyspace, args: list[bytes]) -> Reply:
    return list(XGROUP_HELP)


# ---------------------------------------------------------------------- XSETID


@command("xsetid")
def xsetid(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    new_id = parse_strict_id(args[2])
    entries_added = -1
    max_deleted = 0
    index = 3
    while index < len(args):
        more = len(args) - 1 - index
        option = args[index].upper()
        if option == b"ENTRIESADDED" and more:
            entries_added = _long(args[index + 1])
            if entries_added < 0:
                raise CommandError(ENTRIES_ADDED_NEGATIVE)
            index += 2
        elif option == b"MAXDELETEDID" and more:
            max_deleted = parse_strict_id(args[index + 1])
            if new_id < max_deleted:
                raise CommandError(SETID_MAXDELETED_TOO_BIG)
            index += 2
        else:
            raise CommandError(SYNTAX)
    stream = _stream(db, key)
    if stream is None:
        raise CommandError(NO_SUCH_KEY)
    if new_id < stream.max_deleted_id:
        raise CommandError(SETID_SMALLER_THAN_DELETED)
    if stream.length:
        if new_id < stream.last_entry_id():
            raise CommandError(SETID_SMALLER_THAN_TOP)
        if entries_added != -1 and stream.length > entries_added:
            raise CommandError(SETID_ADDED_TOO_SMALL)
    stream.last_id = new_id
    if entries_added != -1:
        stream.entries_added = entries_added
    if max_deleted:
        stream.max_deleted_id = max_deleted
    db.modified(key)
    db.notify("t", b"xsetid", key)
    return OK


# ---------------------------------------------------------------------- XINFO


def _first_or_last(stream: StreamValue, rev: bool) -> Reply:
    entries = stream.range(0, MAX_ID, 1, rev)
    if not entries:
        return None
    return _reply_entries(entries)[0]


@command("xinfo|stream")
def xinfo_stream(db: Keyspace, args: list[bytes]) -> Reply:
    stream = _stream(db, args[2])
    if stream is None:
        raise CommandError(NO_SUCH_KEY)
    full = len(args) > 3
    count = 10
    if full:
        if args[3].upper() != b"FULL" or (len(args) > 4 and len(args) != 6):
            raise _subcommand_error(args)
        if len(args) == 6:
            if args[4].upper() != b"COUNT":
                raise _subcommand_error(args)
            count = _long(args[5])
            if count < 0:
                count = 10
    reply = Map(
        [
            b"length",
            stream.length,
            b"radix-tree-keys",
            len(stream.blocks),
            b"radix-tree-nodes",
            _rax_nodes(stream),
            b"last-generated-id",
            format_id(stream.last_id),
            b"max-deleted-entry-id",
            format_id(stream.max_deleted_id),
            b"entries-added",
            stream.entries_added,
            b"recorded-first-entry-id",
            format_id(stream.first_id),
        ]
    )
    if not full:
        reply.extend(
            [
                b"groups",
                len(stream.groups),
                b"first-entry",
                _first_or_last(stream, False),
                b"last-entry",
                _first_or_last(stream, True),
            ]
        )
        return reply
    limit = count or None
    reply.extend([b"entries", _bounded_range(db, stream, 0, MAX_ID, limit, False)])
    groups: list[Reply] = []
    for group in stream.groups_sorted():
        pel_ids = group.pel_ids if not count else group.pel_ids[:count]
        db.charge(4 * len(pel_ids) + len(group.consumers))
        pending = [
            [
                format_id(stream_id),
                group.pel[stream_id].consumer.name,
                group.pel[stream_id].delivery_time,
                group.pel[stream_id].delivery_count,
            ]
            for stream_id in pel_ids
        ]
        consumers: list[Reply] = []
        for consumer in group.consumers_sorted():
            own = consumer.pending_sorted()
            if count:
                own = own[:count]
            db.charge(3 * len(own))
            consumers.append(
                Map(
                    [
                        b"name",
                        consumer.name,
                        b"seen-time",
                        consumer.seen_time,
                        b"pel-count",
                        len(consumer.pending),
                        b"pending",
                        [
                            [
                                format_id(stream_id),
                                group.pel[stream_id].delivery_time,
                                group.pel[stream_id].delivery_count,
                            ]
                            for stream_id in own
                        ],
                    ]
                )
            )
        groups.append(
            Map(
                [
                    b"name",
                    group.name,
                    b"last-delivered-id",
                    format_id(group.last_id),
                    b"entries-read",
                    _entries_read(group),
                    b"lag",
                    _lag(stream, group),
                    b"pel-count",
                    len(group.pel),
                    b"pending",
                    pending,
                    b"consumers",
                    consumers,
                ]
            )
        )
    reply.extend([b"groups", groups])
    return reply


def _rax_nodes(stream: StreamValue) -> int:
    """An estimate of the radix tree's node count (Redis's depends on its key bytes): one
    per key plus the root, as a tree of few keys has."""
    return len(stream.blocks) + 1 if stream.blocks else 1


@command("xinfo|groups")
def xinfo_groups(db: Keyspace, args: list[bytes]) -> Reply:
    stream = _stream(db, args[2])
    if stream is None:
        raise CommandError(NO_SUCH_KEY)
    db.charge(12 * len(stream.groups))
    return [
        Map(
            [
                b"name",
                group.name,
                b"consumers",
                len(group.consumers),
                b"pending",
                len(group.pel),
                b"last-delivered-id",
                format_id(group.last_id),
                b"entries-read",
                _entries_read(group),
                b"lag",
                _lag(stream, group),
            ]
        )
        for group in stream.groups_sorted()
    ]


@command("xinfo|consumers")
def xinfo_consumers(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[2]
    stream = _stream(db, key)
    if stream is None:
        raise CommandError(NO_SUCH_KEY)
    group = stream.groups.get(args[3])
    if group is None:
        raise CommandError(
            b"NOGROUP No such consumer group '%s' for key name '%s'" % (args[3], key)
        )
    db.charge(6 * len(group.consumers))
    now = db.now_ms
    return [
        Map(
            [
                b"name",
                consumer.name,
                b"pending",
                len(consumer.pending),
                b"idle",
                max(now - consumer.seen_time, 0),
            ]
        )
        for consumer in group.consumers_sorted()
    ]


@command("xinfo|help")
def xinfo_help(db: Keyspace, args: list[bytes]) -> Reply:
    return list(XINFO_HELP)
