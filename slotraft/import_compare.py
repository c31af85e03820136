"""`slotraft import`'s verification, one DatabaseCheck per source database: its key
count against the target database's, and a sample of its copied keys compared by value.
A value is read back with the data commands (GET, LRANGE, SMEMBERS, HGETALL, ZRANGE,
XRANGE: a stream's entries, each as its ID and sorted field-value pairs), not DUMP: that
checks what RESTORE built, and works for values too large for one DUMP here. A DUMP
payload (from an .rdb file) is decoded to the same canonical form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from proto.rdb import values
from proto.rdb.reader import FormatError

Content = tuple[bytes, Any]


@dataclass
class DatabaseCheck:
    source_db: int
    target_db: int | None  # None: not imported (--db-map leaves it out)
    source_keys: int
    target_keys: int = 0  # in the target database after the import
    sample: list[bool] = field(default_factory=list)  # per sampled key: the same value


def compare_live(source: redis.Redis, target: redis.Redis, keys: list[bytes]) -> list[bool]:
    """Whether each key holds the same value on both sides, with a TTL on both or none
    (the remaining times differ by the time the copy took)."""
    if not keys:
        return []
    theirs, ours = read_contents(source, keys), read_contents(target, keys)
    their_ttls, our_ttls = _ttls(source, keys), _ttls(target, keys)
    return [
        a is not None and a == b and (ttl_a == -1) == (ttl_b == -1)
        for a, b, ttl_a, ttl_b in zip(theirs, ours, their_ttls, our_ttls, strict=True)
    ]


def _ttls(client: redis.Redis, keys: list[bytes]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
    return pipe.execute(raise_on_error=False)


def compare_payloads(
    target: redis.Redis, keys: list[bytes], payloads: dict[bytes, bytes]
) -> list[bool]:
    """Whether each key holds the value of its DUMP payload (from the file)."""
    if not keys:
        return []
    ours = read_contents(target, keys)
    return [
        found is not None and found == payload_content(payloads[key])
        for key, found in zip(keys, ours, strict=True)
    ]


def _canonical(kind: bytes, items: Any) -> Content:
    if kind in (b"set", b"hash"):
        items = sorted(items)
    elif kind == b"zset":
        items = sorted(((member, float(score)) for member, score in items), key=_by_score)
    elif kind == b"list":
        items = list(items)
    elif kind == b"stream":
        items = [(stream_id, sorted(fields.items())) for stream_id, fields in items]
    return kind, items


def _by_score(entry: tuple[bytes, float]) -> tuple[float, bytes]:
    return entry[1], entry[0]


def payload_content(payload: bytes) -> Content | None:
    """The canonical content of a DUMP payload, or None if it cannot be read."""
    try:
        decoded = values.read_payload(payload)
    except FormatError:
        return None
    if decoded.kind == b"stream":
        entries = [
            (b"%d-%d" % (stream_id >> 64, stream_id & _SEQ_MASK), _fields(items))
            for node in decoded.items.nodes
            for stream_id, items in node.entries
        ]
        return _canonical(b"stream", entries)
    return _canonical(decoded.kind, decoded.items)


_SEQ_MASK = (1 << 64) - 1


def _fields(items: list[bytes]) -> dict[bytes, bytes]:
    """An entry's fields as XRANGE's reply reads through redis-py (a dict: the last of
    a repeated field wins)."""
    return dict(zip(items[0::2], items[1::2], strict=True))


def read_contents(client: redis.Redis, keys: list[bytes]) -> list[Content | None]:
    """The canonical content of each key (None: missing, or a type not compared)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    kinds = pipe.execute(raise_on_error=False)
    pipe = client.pipeline(transaction=False)
    readers = {
        b"string": lambda key: pipe.get(key),
        b"list": lambda key: pipe.lrange(key, 0, -1),
        b"set": lambda key: pipe.smembers(key),
        b"hash": lambda key: pipe.hgetall(key),
        b"zset": lambda key: pipe.zrange(key, 0, -1, withscores=True),
        b"stream": lambda key: pipe.xrange(key),
    }
    read: list[bytes | None] = []
    for key, kind in zip(keys, kinds, strict=True):
        name = kind if isinstance(kind, bytes) else str(kind).encode()
        if name in readers:
            readers[name](key)
            read.append(name)
        else:
            read.append(None)
    replies = iter(pipe.execute(raise_on_error=False))
    found: list[Content | None] = []
    for entry in read:
        if entry is None:
            found.append(None)
            continue
        reply = next(replies)
        if isinstance(reply, Exception):
            found.append(None)
        elif entry == b"hash":
            found.append(_canonical(entry, list(reply.items())))
        else:
            found.append(_canonical(entry, reply))
    return found
