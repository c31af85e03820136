"""Digests of keys for WATCH across the router.

The router takes `digest(db, key)` of each watched key at WATCH time and sends them with
EXEC; the node applies EXEC only if every digest is unchanged. A digest covers the key's
type, value and absolute expiry time, so a key that expires between WATCH and EXEC also
aborts it (as Redis 7.0 does). It is BLAKE2b-128 over a length-prefixed encoding, the same
in every process (no salted `hash()`); hash fields and set members are sorted first so the
digest does not depend on a container's internal order.

Unlike Redis, which aborts on any write to a watched key, a write that leaves the same
type, value and TTL (SET k v over v) is not seen: the digests compare state, not history.
"""

from __future__ import annotations

import struct
from hashlib import blake2b
from typing import Any

from node.engine.keyspace import Keyspace, type_name

DIGEST_SIZE = 16
# What an absent (or expired) key digests to; a present key's digest equals it with
# probability 2**-128.
ABSENT = bytes(DIGEST_SIZE)

_LENGTH = struct.Struct("<Q")
_EXPIRY = struct.Struct("<q")
_SCORE = struct.Struct("<d")


def digest(db: Keyspace, key: bytes) -> bytes:
    """The digest of `key` as it is at `db.now_ms`; ABSENT when missing or expired. Reads
    `db` without side effects (no lazy expiry, no hit counters, no LRU touch)."""
    value = db.data.get(key)
    if value is None:
        return ABSENT
    when = db.expires.get(key) if db.expires else None
    if when is not None and when <= db.now_ms:
        return ABSENT
    hasher = blake2b(digest_size=DIGEST_SIZE)
    kind = type_name(value)
    _piece(hasher, kind)
    hasher.update(b"\x00" if when is None else b"\x01" + _EXPIRY.pack(when))
    if kind == b"string":
        _piece(hasher, value)
    else:
        _container(hasher, kind, value)
    return hasher.digest()


def digests(db: Keyspace, keys: list[bytes]) -> list[tuple[bytes, bytes]]:
    """(key, digest) for each key: what the router keeps from WATCH."""
    return [(key, digest(db, key)) for key in keys]


def unchanged(db: Keyspace, watches: list[tuple[bytes, bytes]]) -> bool:
    """Whether every watched key still has the digest it had at WATCH time."""
    return all(digest(db, key) == expected for key, expected in watches)


def _piece(hasher: Any, data: bytes | bytearray) -> None:
    hasher.update(_LENGTH.pack(len(data)))
    hasher.update(data)


def _container(hasher: Any, kind: bytes, value: Any) -> None:
    items = value.snapshot_items()
    hasher.update(_LENGTH.pack(len(items)))
    if kind == b"list":
        for element in items:
            _piece(hasher, element)
    elif kind == b"set":
        for member in sorted(items):
            _piece(hasher, member)
    elif kind == b"hash":
        for field, field_value in sorted(items):
            _piece(hasher, field)
            _piece(hasher, field_value)
    elif kind == b"stream":
        # Entries, groups, consumers and PELs in the stream's own deterministic order.
        for piece in items:
            _piece(hasher, piece)
    else:
        # Sorted by member: equal sets of (member, score) digest the same whatever the
        # container keeps internally.
        for member, score in sorted(items):
            _piece(hasher, member)
            hasher.update(_SCORE.pack(score))


def keyspace_digest(db: Keyspace) -> bytes:
    """The digest of every live key at `db.now_ms` (type, value, expiry), in key order: equal
    on two replicas exactly when their logical contents are equal, whatever the order of
    their containers or which expired keys each has already removed. O(keys): for checks
    (fuzzing, simulation), not for the apply path."""
    hasher = blake2b(digest_size=DIGEST_SIZE)
    for key in sorted(db.data):
        key_digest = digest(db, key)
        if key_digest != ABSENT:
            _piece(hasher, key)
            hasher.update(key_digest)
    return hasher.digest()
