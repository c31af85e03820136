"""The data of a shard's Raft log entries: what every replica applies.

An entry holds the leader's wall-clock time, a random seed, a batch of client requests
and the keys the leader proposes to expire or evict. It never leaves the nodes (routers
never see it), it is written once and applied by every replica, so it is encoded for
decoding speed: `marshal` of plain tuples, lists, ints and bytes (format version 4, the same
on every CPython 3), behind a one-byte version tag. Reading a protobuf message field by
field cost several microseconds per request on every replica; this costs a fraction of one.
The bytes are checksummed by the WAL and travel over TCP; `decode` still validates every
field's type and range (what protobuf guarantees of a request the leader received), so that
nothing the state machine stores can later fail to serialize into a snapshot: a malformed
entry raises EntryFormatError, the same on every replica (they all read the same bytes),
and ShardState applies it as a no-op that fails its requests.
"""

from __future__ import annotations

import marshal
from typing import NamedTuple

ENTRY_VERSION = 1
_MARSHAL_VERSION = 4

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


class ShardEntry(NamedTuple):
    time_ms: int
    seed: int
    requests: list[Request]
    expire_keys: list[bytes]
    evict_keys: list[bytes]


class EntryFormatError(ValueError):
    pass


def encode(entry: ShardEntry) -> bytes:
    body = (
        entry.time_ms,
        entry.seed,
        [tuple(request) for request in entry.requests],
        entry.expire_keys,
        entry.evict_keys,
    )
    return bytes((ENTRY_VERSION,)) + marshal.dumps(body, _MARSHAL_VERSION)


_U64 = 1 << 64
_I64 = 1 << 63


def decode(data: bytes) -> ShardEntry:
    if not data or data[0] != ENTRY_VERSION:
        raise EntryFormatError(f"unknown shard entry version {bytes(data[:1])!r}")
    try:
        time_ms, seed, requests, expire_keys, evict_keys = marshal.loads(data[1:])
    except (ValueError, TypeError, EOFError) as error:
        raise EntryFormatError(f"malformed shard entry: {error}") from None
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
    return ShardEntry(time_ms, seed, parsed, expire_keys, evict_keys)


def request_count(data: bytes) -> int:
    """How many requests a malformed entry claims to hold (0 when that cannot be read): the
    results its no-op must fail."""
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
    if type(request) is not tuple or len(request) != 7:
        return False
    client_id, sequence, acked, kind, resp3, commands, watches = request
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
    for args in commands:
        if type(args) is not list:
            return False
        for arg in args:
            if type(arg) is not bytes:
                return False
    for watch in watches:
        if type(watch) is not tuple or len(watch) != 2:
            return False
        if type(watch[0]) is not bytes or type(watch[1]) is not bytes:
            return False
    return True
