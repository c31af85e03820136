"""The data of a shard's Raft log entries: what every replica applies.

An entry holds the leader's wall-clock time, a random seed, a batch of client requests
and the keys the leader proposes to expire or evict; or (a settings entry, version 2) the
shard's engine settings from the metadata group, which every replica adopts at that point
of the log (node/engine/config.py). Ordinary entries keep version 1, byte for byte.

An entry never leaves the nodes (routers never see it), it is written once and applied by
every replica, so it is encoded for decoding speed: `marshal` of plain tuples, lists, ints
and bytes (format version 4, the same on every CPython 3), behind a one-byte version tag.
Reading a protobuf message field by field cost several microseconds per request on every
replica; this costs a fraction of one. The bytes are checksummed by the WAL and travel over
TCP; `decode` still validates every field's type and range (what protobuf guarantees of a
request the leader received), so that nothing the state machine stores can later fail to
serialize into a snapshot: a malformed entry raises EntryFormatError, the same on every
replica (they all read the same bytes), and ShardState applies it as a no-op that fails its
requests.
"""

from __future__ import annotations

import marshal
import re
import struct
from itertools import chain
from typing import Any, NamedTuple

from node.engine.databases import valid_map
from proto.acl_check import MAX_CALLER_RULES
from proto.databases import DATABASES

ENTRY_VERSION = 1
SETTINGS_VERSION = 2
DB_MAP_VERSION = 4  # (3 is node/slot_entries.py's SLOT_ENTRY_VERSION)
_MARSHAL_VERSION = 4
# A settings entry names at most this many settings (there are about twenty).
MAX_SETTINGS = 256

# kinds, as KvRequest.kind in proto/slotraft.proto
COMMANDS = 0
TRANSACTION = 1


class Request(NamedTuple):
    client_id: int
    sequence: int  # 0: not deduplicated (no session)
    acked: int
    kind: int
    resp3: bool
    commands: list[list[bytes]]
    watches: list[tuple[bytes, bytes]]
    # A restricted ACL user's rules when the commands include a script (KvRequest.caller);
    # a request without them is stored as before, in seven fields.
    caller: bytes = b""
    # The database (SELECT) the commands act on (KvRequest.db): a ninth field, only when
    # it is not 0.
    db: int = 0


class ShardEntry(NamedTuple):
    time_ms: int
    seed: int
    requests: list[Request]
    expire_keys: list[bytes]
    evict_keys: list[bytes]
    # A settings entry's engine settings (name, canonical value), all of them: they
    # replace the shard's replicated settings. None in every other entry.
    settings: list[tuple[bytes, bytes]] | None = None
    # Expiry and eviction in the key spaces other than 0 (node/engine/databases.py):
    # (key space id, keys to expire, keys to evict); a sixth field only when not empty.
    other_spaces: list[tuple[int, list[bytes], list[bytes]]] | None = None
    # A database map entry (version 3): a cluster SWAPDB's step (node/db_swaps.py).
    db_map: DbMapStep | None = None


class DbMapStep(NamedTuple):
    """The metadata group's database map of swap `epoch`, and the databases (bit mask)
    fenced for the swap `fence_epoch` in progress (0: none)."""

    epoch: int
    mapping: list[int]
    fence_epoch: int
    fenced: int


class EntryFormatError(ValueError):
    pass


def encode(entry: ShardEntry) -> bytes:
    if entry.db_map is not None:
        step = entry.db_map
        map_body = (
            entry.time_ms,
            entry.seed,
            step.epoch,
            list(step.mapping),
            step.fence_epoch,
            step.fenced,
        )
        return bytes((DB_MAP_VERSION,)) + marshal.dumps(map_body, _MARSHAL_VERSION)
    if entry.settings is not None:
        settings_body = (entry.time_ms, entry.seed, sorted(entry.settings))
        return bytes((SETTINGS_VERSION,)) + marshal.dumps(settings_body, _MARSHAL_VERSION)
    body: tuple[Any, ...] = (
        entry.time_ms,
        entry.seed,
        [_stored(request) for request in entry.requests],
        entry.expire_keys,
        entry.evict_keys,
    )
    if entry.other_spaces:
        body += (
            [(space, list(expire), list(evict)) for space, expire, evict in entry.other_spaces],
        )
    return bytes((ENTRY_VERSION,)) + marshal.dumps(body, _MARSHAL_VERSION)


def _stored(request: Request) -> tuple[object, ...]:
    """The fields a request is stored with: seven, eight with a caller, nine with a
    database."""
    if request[8]:
        return tuple(request)
    if request[7]:
        return request[:8]
    return request[:7]


_ONLY_LISTS = frozenset({list})
_ONLY_BYTES = frozenset({bytes})
_U64 = 1 << 64
_I64 = 1 << 63


def decode(data: bytes) -> ShardEntry:
    if data and data[0] == SETTINGS_VERSION:
        return _decode_settings(data)
    if data and data[0] == DB_MAP_VERSION:
        return _decode_db_map(data)
    if not data or data[0] != ENTRY_VERSION:
        raise EntryFormatError(f"unknown shard entry version {bytes(data[:1])!r}")
    body = data[1:]
    if _HUGE_COUNT.search(body) is not None and not counts_fit(body):
        raise EntryFormatError("malformed shard entry: a count larger than the entry")
    try:
        fields = marshal.loads(body)
    except (ValueError, TypeError, EOFError) as error:
        raise EntryFormatError(f"malformed shard entry: {error}") from None
    if type(fields) is not tuple or len(fields) not in (5, 6):
        raise EntryFormatError("malformed shard entry header")
    time_ms, seed, requests, expire_keys, evict_keys = fields[:5]
    other_spaces = fields[5] if len(fields) == 6 else None
    if other_spaces is not None and not _valid_other_spaces(other_spaces):
        raise EntryFormatError("malformed shard entry: other key spaces' housekeeping")
    if not (
        type(time_ms) is int
        and 0 <= time_ms < _I64
        and type(seed) is int
        and 0 <= seed < _U64
        and type(requests) is list
        and _all_bytes(expire_keys)
        and _all_bytes(evict_keys)
    ):
        raise EntryFormatError("malformed shard entry header")
    parsed = []
    for position, request in enumerate(requests):
        if not _well_formed(request):
            raise EntryFormatError(f"malformed request {position} in shard entry")
        parsed.append(Request(*request))
    return ShardEntry(time_ms, seed, parsed, expire_keys, evict_keys, None, other_spaces)


def _valid_other_spaces(items: object) -> bool:
    return (
        type(items) is list
        and len(items) <= DATABASES
        and all(
            type(item) is tuple
            and len(item) == 3
            and type(item[0]) is int
            and 0 < item[0] < DATABASES
            and _all_bytes(item[1])
            and _all_bytes(item[2])
            for item in items
        )
    )


def _decode_db_map(data: bytes) -> ShardEntry:
    body = data[1:]
    if len(body) > 4096 or not counts_fit(body):
        raise EntryFormatError("malformed database map entry")
    try:
        fields = marshal.loads(body)
    except (ValueError, TypeError, EOFError) as error:
        raise EntryFormatError(f"malformed database map entry: {error}") from None
    if type(fields) is not tuple or len(fields) != 6:
        raise EntryFormatError("malformed database map entry")
    time_ms, seed, epoch, mapping, fence_epoch, fenced = fields
    if not (
        type(time_ms) is int
        and 0 <= time_ms < _I64
        and type(seed) is int
        and 0 <= seed < _U64
        and type(epoch) is int
        and 0 <= epoch < _I64
        and valid_map(mapping)
        and type(fence_epoch) is int
        and 0 <= fence_epoch < _I64
        and type(fenced) is int
        and 0 <= fenced < 1 << DATABASES
    ):
        raise EntryFormatError("malformed database map entry")
    return ShardEntry(
        time_ms, seed, [], [], [], db_map=DbMapStep(epoch, mapping, fence_epoch, fenced)
    )


def _decode_settings(data: bytes) -> ShardEntry:
    body = data[1:]
    if len(body) > 1 << 20 or not counts_fit(body):
        raise EntryFormatError("malformed settings entry: a count larger than the entry")
    try:
        time_ms, seed, settings = marshal.loads(body)
    except (ValueError, TypeError, EOFError) as error:
        raise EntryFormatError(f"malformed settings entry: {error}") from None
    if not (
        type(time_ms) is int
        and 0 <= time_ms < _I64
        and type(seed) is int
        and 0 <= seed < _U64
        and type(settings) is list
        and len(settings) <= MAX_SETTINGS
        and all(
            type(pair) is tuple
            and len(pair) == 2
            and type(pair[0]) is bytes
            and type(pair[1]) is bytes
            and len(pair[0]) <= 64
            and len(pair[1]) <= 4096
            for pair in settings
        )
    ):
        raise EntryFormatError("malformed settings entry")
    return ShardEntry(time_ms, seed, [], [], [], settings)


# marshal allocates the item count of a list, a tuple or an integer before it reads the
# items: a malformed entry of a few bytes claiming 2**31 items costs gigabytes and seconds
# on every replica, or a MemoryError. A real entry's counts are small; what looks like a
# count of 2**24 or more (its fourth byte set) sends the entry through `counts_fit`, which
# also passes the real entries whose payload bytes merely look like one.
_HUGE_COUNT = re.compile(rb"[\x5b\xdb\x28\xa8\x6c\xec][\x00-\xff]{3}[\x01-\xff]", re.DOTALL)
_COUNT = struct.Struct("<i")


def counts_fit(body: bytes) -> bool:
    """Whether every count in a marshal body (of the types `encode` writes) fits in the
    bytes that follow it, each item taking one byte at least. False for any other type.

    Every replica runs this on nearly every entry (the pattern above matches inside ids
    and references), so the walk is kept tight: the current level's count in a local,
    the common codes first, counts read with struct."""
    end = len(body)
    position = 0
    levels: list[int] = []  # counts left at the enclosing levels
    remaining = 1  # objects left to read at this level
    read_count = _COUNT.unpack_from
    while True:
        if not remaining:
            if not levels:
                return True
            remaining = levels.pop()
            continue
        remaining -= 1
        if position >= end:
            return False
        code = body[position] & 0x7F  # without FLAG_REF
        position += 1
        if code == 0x73:  # bytes
            if position + 4 > end:
                return False
            (count,) = read_count(body, position)
            position += 4
            if not 0 <= count <= end - position:
                return False
            position += count
        elif code == 0x72 or code == 0x69:  # a reference, a 32-bit int
            position += 4
        elif code == 0x29:  # small tuple: a one-byte count
            if position >= end:
                return False
            levels.append(remaining)
            remaining = body[position]
            position += 1
        elif code == 0x54 or code == 0x46 or code == 0x4E:  # True, False, None
            continue
        else:
            if position + 4 > end:
                return False
            (count,) = read_count(body, position)
            position += 4
            left = end - position
            if code == 0x6C:  # integer: |count| 15-bit digits of two bytes
                if abs(count) * 2 > left:
                    return False
                position += abs(count) * 2
            elif code == 0x5B or code == 0x28:  # list, tuple
                if not 0 <= count <= left:
                    return False
                levels.append(remaining)
                remaining = count
            else:
                return False


def request_count(data: bytes) -> int:
    """How many requests a malformed entry claims to hold (0 when that cannot be read): the
    results its no-op must fail."""
    if _HUGE_COUNT.search(data[1:]) is not None and not counts_fit(data[1:]):
        return 0
    try:
        body = marshal.loads(data[1:])
        return len(body[2]) if type(body) is tuple and type(body[2]) is list else 0
    except Exception:  # anything marshal or the shape can raise: the count is a best effort
        return 0


def _all_bytes(items: object) -> bool:
    if type(items) is not list:
        return False
    return all(type(item) is bytes for item in items)


def _well_formed(request: object) -> bool:
    """The shape and ranges of a Request (uint64 ids, a bool, lists of bytes), in plain
    type tests: decode runs on every replica for every entry."""
    if type(request) is not tuple:
        return False
    if len(request) == 8:
        caller = request[7]
        if type(caller) is not bytes or not 0 < len(caller) <= MAX_CALLER_RULES:
            return False
    elif len(request) == 9:
        caller, db = request[7], request[8]
        if type(caller) is not bytes or len(caller) > MAX_CALLER_RULES:
            return False
        if type(db) is not int or not 0 < db < DATABASES:
            return False
    elif len(request) != 7:
        return False
    client_id, sequence, acked, kind, resp3, commands, watches = request[:7]
    if not (
        type(client_id) is int
        and 0 <= client_id < _U64
        and type(sequence) is int
        and 0 <= sequence < _U64
        and type(acked) is int
        and 0 <= acked < _U64
        and type(kind) is int
        and type(resp3) is bool
        and type(commands) is list
        and type(watches) is list
    ):
        return False
    # Every argument of every command, in C-level passes (a loop per argument cost a
    # few hundred nanoseconds per command on every replica).
    if commands and (
        not _ONLY_LISTS.issuperset(map(type, commands))
        or not _ONLY_BYTES.issuperset(map(type, chain.from_iterable(commands)))
    ):
        return False
    for watch in watches:
        if type(watch) is not tuple or len(watch) != 2:
            return False
        if type(watch[0]) is not bytes or type(watch[1]) is not bytes:
            return False
    return True
