"""The data of a shard's Raft log entries: what every replica applies.

An entry holds the leader's wall-clock time, a random seed, a batch of client requests
and the keys the leader proposes to expire or evict. It never leaves the nodes (routers
never see it), it is written once and applied by every replica, so it is encoded for
decoding speed: `marshal` of plain tuples, lists, ints and bytes (format version 4, the same
on every CPython 3), behind a one-byte version tag. Reading a protobuf message field by
field cost several microseconds per request on every replica; this costs a fraction of one.
The bytes are checksummed by the WAL and travel over TCP; `decode` still validates the
shape, so a malformed entry stops the node with a clear error instead of applying garbage.
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


def decode(data: bytes) -> ShardEntry:
    if not data or data[0] != ENTRY_VERSION:
        raise EntryFormatError(f"unknown shard entry version {data[:1]!r}")
    try:
        time_ms, seed, requests, expire_keys, evict_keys = marshal.loads(data[1:])
        parsed = [Request(*request) for request in requests]
    except (ValueError, TypeError, EOFError) as error:
        raise EntryFormatError(f"malformed shard entry: {error}") from None
    if not (
        type(time_ms) is int
        and type(seed) is int
        and type(expire_keys) is list
        and type(evict_keys) is list
    ):
        raise EntryFormatError("malformed shard entry header")
    return ShardEntry(time_ms, seed, parsed, expire_keys, evict_keys)
