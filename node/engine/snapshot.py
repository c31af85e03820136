"""The whole state of one key space as bytes, and back.

A snapshot crosses the network (InstallSnapshot) and the disk, so it is a plain binary
layout that any reader can validate, never pickle or marshal (marshal's format belongs to
the Python version and it trusts its input).

Frame (little-endian):

    magic b"SLRSNAP\\0" | version u16 | reserved u16 | body length u64 | CRC32C(body) u32 | body

Body, version 1 (version 2: the same, with lists' quicklist node counts, see kinds):

    dirty i64 | expired_keys i64 | evicted_keys i64
    key count u64 | piece count u64 | score count u64 | length width u8 (4 or 8)
    kinds         one byte per key, in key-space order (KIND_* below; a container kind has
                  KIND_CONVERTED added when Redis would have converted it to its large
                  encoding, which is sticky: a restored replica must page SCANs and keep
                  -0 scores exactly as the others do; on a list it says that its
                  first piece is the u32 element count of each of Redis's quicklist
                  nodes, which a list built by pushes and pops keeps: DUMP writes them)
    item counts   u32 per container key: pairs for a hash, elements for the others
    piece lengths one per piece, `length width` bytes each
    pieces        every byte string concatenated: per key, the key, then the string value,
                  or the hash's field, value, field, value..., or the list/set/zset members
                  in the container's own snapshot order
    scores        f64 per sorted-set member, in piece order
    expiry count u64 | key index u32 per expiry | expiry time i64 (ms) per expiry
    leases        optional, only when the lease table holds anything (so that a snapshot
                  without leases is what a build before them wrote and reads):
                  node.engine.leases.LeaseTable.to_bytes, tagged b"LEAS"

Everything is packed and unpacked column-wise with numpy and `bytes.join`, so the per-key
Python work is a single loop on each side: 1,000,000 string keys take well under a second.
Only the counters that every replica derives from the log are stored; the hit/miss
counters also move on leader-local reads and recency/frequency tracking is leader-local.
"""

from __future__ import annotations

import importlib
import math
import struct
from itertools import chain
from typing import Any

import crc32c
import numpy as np

from node.engine.config import EngineConfig
from node.engine.keyspace import Container, Keyspace
from node.engine.leases import SECTION_TAG, LeaseTable

MAGIC = b"SLRSNAP\x00"
VERSION = 1
# Version 2: version 1 with lists' quicklist node counts (KIND_LIST | KIND_CONVERTED),
# written only when a list has them, so that a build reading version 1 alone refuses such
# a snapshot instead of taking the counts for an element.
VERSION_LIST_NODES = 2
_READABLE_VERSIONS = (VERSION, VERSION_LIST_NODES)
_HEADER = struct.Struct("<8sHHQI")
_COUNTERS = struct.Struct("<qqq")
_SIZES = struct.Struct("<QQQB")
_COUNT = struct.Struct("<Q")

KIND_BYTES = 0  # a string stored as bytes
KIND_RAW = 1  # a string modified in place (bytearray: OBJECT ENCODING says "raw")
KIND_HASH = 2
KIND_LIST = 3
KIND_SET = 4
KIND_ZSET = 5
KIND_STREAM = 6  # pieces: the stream's own encoding (StreamValue.snapshot_items)
KIND_CONVERTED = 0x80
_LARGE_ENCODINGS = {b"hash": b"hashtable", b"set": b"hashtable", b"zset": b"skiplist"}
_KIND_OF_TYPE = {
    b"hash": KIND_HASH,
    b"list": KIND_LIST,
    b"set": KIND_SET,
    b"zset": KIND_ZSET,
    b"stream": KIND_STREAM,
}
_TYPE_OF_KIND = {kind: name for name, kind in _KIND_OF_TYPE.items()}
_CONTAINER_MODULES = {
    b"hash": "node.engine.hash_value",
    b"list": "node.engine.list_value",
    b"set": "node.engine.set_value",
    b"zset": "node.engine.zset_value",
    b"stream": "node.engine.stream_value",
}
_STRING_KINDS: dict[type, int] = {bytes: KIND_BYTES, bytearray: KIND_RAW}
_U32_LIMIT = 1 << 32


class SnapshotError(ValueError):
    """A snapshot that cannot be loaded: not a snapshot, another format version, truncated,
    corrupted, or inconsistent. The message says what is wrong and at which byte offset."""


def container_class(type_name: bytes) -> type[Container]:
    """The Container subclass for a type name, found in its module of node.engine."""
    module_name = _CONTAINER_MODULES[type_name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise SnapshotError(
            f"snapshot holds a {type_name.decode()} but {module_name} is missing"
        ) from error
    for candidate in vars(module).values():
        if (
            isinstance(candidate, type)
            and issubclass(candidate, Container)
            and candidate.__module__ == module_name
            and type_name == candidate.TYPE_NAME
        ):
            return candidate
    raise SnapshotError(f"{module_name} defines no Container with TYPE_NAME {type_name!r}")


# ---------------------------------------------------------------------- writing


def dump(db: Keyspace) -> bytes:
    """The snapshot of `db`: every key with its value and TTL, and the replicated counters."""
    data = db.data
    value_types = set(map(type, data.values()))
    item_counts: list[int] = []
    scores: list[float] = []
    kinds: bytes | bytearray
    if value_types <= _STRING_KINDS.keys():
        # Strings only (the usual cache): kinds and pieces are built in C.
        kinds = bytes(map(_STRING_KINDS.__getitem__, map(type, data.values())))
        pieces: list[Any] = list(chain.from_iterable(data.items()))
    else:
        kinds, pieces = _flatten(data, item_counts, scores)
    index_of: dict[bytes, int] = {}
    expires = db.expires
    if expires:
        # Key indexes only for the keys with a TTL: building a full key -> index map for
        # a million keys costs more than this loop.
        wanted = expires.keys()
        for position, key in enumerate(data):
            if key in wanted:
                index_of[key] = position
    lengths = np.fromiter(map(len, pieces), dtype=np.uint64, count=len(pieces))
    width = 4 if not len(lengths) or int(lengths.max()) < _U32_LIMIT else 8
    if any(count >= _U32_LIMIT for count in item_counts):
        raise ValueError("a container has more than 2**32 - 1 items")
    expiry_keys = [index_of[key] for key in expires]
    body = b"".join(
        (
            _COUNTERS.pack(db.dirty, db.expired_keys, db.evicted_keys),
            _SIZES.pack(len(kinds), len(pieces), len(scores), width),
            kinds,
            np.asarray(item_counts, dtype="<u4").tobytes(),
            lengths.astype(f"<u{width}").tobytes(),
            b"".join(pieces),
            np.asarray(scores, dtype="<f8").tobytes(),
            _COUNT.pack(len(expiry_keys)),
            np.asarray(expiry_keys, dtype="<u4").tobytes(),
            np.fromiter(expires.values(), dtype="<i8", count=len(expires)).tobytes(),
            db.leases.to_bytes(),
        )
    )
    version = VERSION_LIST_NODES if KIND_LIST | KIND_CONVERTED in kinds else VERSION
    header = _HEADER.pack(MAGIC, version, 0, len(body), crc32c.crc32c(body))
    return header + body


def _flatten(
    data: dict[bytes, Any], item_counts: list[int], scores: list[float]
) -> tuple[bytearray, list[Any]]:
    """Kinds and pieces of a key space that holds containers; fills counts and scores."""
    kinds = bytearray()
    pieces: list[Any] = []
    add = pieces.append
    extend = pieces.extend
    for key, value in data.items():
        kind = type(value)
        if kind is bytes:
            kinds.append(KIND_BYTES)
            add(key)
            add(value)
            continue
        if kind is bytearray:
            kinds.append(KIND_RAW)
            add(key)
            add(value)
            continue
        type_name = value.TYPE_NAME
        converted = value.encoding() == _LARGE_ENCODINGS.get(type_name)
        items = value.snapshot_items()
        node_counts = value.node_counts() if type_name == b"list" else None
        if node_counts is not None:
            # A list whose quicklist nodes are known: their counts go first.
            kinds.append(KIND_LIST | KIND_CONVERTED)
            add(key)
            add(np.asarray(node_counts, dtype="<u4").tobytes())
            item_counts.append(len(items) + 1)
            extend(items)
            continue
        kinds.append(_KIND_OF_TYPE[type_name] | (KIND_CONVERTED if converted else 0))
        add(key)
        item_counts.append(len(items))
        if type_name == b"hash":
            for field, field_value in items:
                add(field)
                add(field_value)
        elif type_name == b"zset":
            for member, score in items:
                add(member)
                scores.append(score)
        else:
            extend(items)
    return kinds, pieces


# ---------------------------------------------------------------------- reading


class _Reader:
    """Bounds-checked reads from the body; offsets in errors count from the snapshot start."""

    def __init__(self, body: memoryview, base: int) -> None:
        self.body = body
        self.base = base
        self.offset = 0

    def take(self, size: int, what: str) -> memoryview:
        end = self.offset + size
        if size < 0 or end > len(self.body):
            raise SnapshotError(
                f"truncated {what}: needs {size} bytes at offset {self.base + self.offset}, "
                f"{len(self.body) - self.offset} left"
            )
        chunk = self.body[self.offset : end]
        self.offset = end
        return chunk

    def unpack(self, layout: struct.Struct, what: str) -> tuple[Any, ...]:
        return layout.unpack(self.take(layout.size, what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        size = np.dtype(dtype).itemsize
        return np.frombuffer(self.take(size * count, what), dtype=dtype)

    def where(self) -> int:
        return self.base + self.offset


def check_frame(blob: bytes | bytearray | memoryview) -> memoryview:
    """The body of a snapshot after its magic, version, length and checksum are verified."""
    view = memoryview(blob).cast("B")
    if len(view) < _HEADER.size:
        raise SnapshotError(
            f"truncated header: {len(view)} bytes, a snapshot starts with {_HEADER.size}"
        )
    magic, version, _reserved, length, checksum = _HEADER.unpack(view[: _HEADER.size])
    if magic != MAGIC:
        raise SnapshotError(f"not a slotraft snapshot: magic at offset 0 is {bytes(magic)!r}")
    if version not in _READABLE_VERSIONS:
        raise SnapshotError(
            f"unsupported snapshot format version {version} at offset 8 "
            f"(this build reads versions {VERSION} and {VERSION_LIST_NODES})"
        )
    body = view[_HEADER.size :]
    if len(body) != length:
        state = "truncated" if len(body) < length else "trailing bytes after"
        raise SnapshotError(
            f"{state} body: the header at offset 12 says {length} bytes, {len(body)} follow it"
        )
    actual = crc32c.crc32c(body)
    if actual != checksum:
        raise SnapshotError(
            f"corrupted body: CRC32C of bytes {_HEADER.size}..{_HEADER.size + length} is "
            f"{actual:#010x}, the header at offset 20 says {checksum:#010x}"
        )
    return body


def load(blob: bytes | bytearray | memoryview, config: EngineConfig | None = None) -> Keyspace:
    """A new key space holding the snapshot's state, its indexes and memory rebuilt."""
    db = Keyspace(config)
    load_into(db, blob)
    return db


def load_into(db: Keyspace, blob: bytes | bytearray | memoryview) -> None:
    """Replace the contents of `db` by the snapshot's. On SnapshotError `db` is unchanged."""
    reader = _Reader(check_frame(blob), _HEADER.size)
    dirty, expired_keys, evicted_keys = reader.unpack(_COUNTERS, "counters")
    key_count, piece_count, score_count, width = reader.unpack(_SIZES, "section sizes")
    if width not in (4, 8):
        raise SnapshotError(f"length width {width} at offset {reader.where() - 1} is not 4 or 8")
    kinds = bytes(reader.take(key_count, "key kinds"))
    container_count = key_count - kinds.count(KIND_BYTES) - kinds.count(KIND_RAW)
    item_counts = reader.array("<u4", container_count, "item counts").tolist()
    lengths = reader.array(f"<u{width}", piece_count, "piece lengths")
    if piece_count and int(lengths.max()) > len(reader.body):
        raise SnapshotError(f"a piece length at offset {reader.where()} exceeds the body")
    total = int(lengths.sum(dtype=np.uint64)) if piece_count else 0
    start = reader.where()
    blob_view = reader.take(total, "pieces")
    pieces = _split(bytes(blob_view), lengths)
    scores = reader.array("<f8", score_count, "scores").tolist()
    (expiry_count,) = reader.unpack(_COUNT, "expiry count")
    expiry_keys = reader.array("<u4", expiry_count, "expiry key indexes").tolist()
    expiry_times = reader.array("<i8", expiry_count, "expiry times").tolist()
    leases = LeaseTable()
    if reader.offset != len(reader.body):
        if bytes(reader.body[reader.offset : reader.offset + 4]) != SECTION_TAG:
            raise SnapshotError(
                f"{len(reader.body) - reader.offset} unexpected bytes at offset {reader.where()}"
            )
        try:
            leases = LeaseTable.from_bytes(bytes(reader.body[reader.offset :]))
        except (ValueError, struct.error) as error:
            raise SnapshotError(f"lease section at offset {reader.where()}: {error}") from error
    data, keys = _build_values(db.config, kinds, item_counts, pieces, scores, start)
    if len(data) != key_count:
        raise SnapshotError(f"duplicate keys: {key_count} keys listed, {len(data)} distinct")
    expires: dict[bytes, int] = {}
    for index, when in zip(expiry_keys, expiry_times):
        if index >= key_count:
            raise SnapshotError(f"expiry names key index {index}, there are {key_count} keys")
        expires[keys[index]] = when
    if len(expires) != expiry_count:
        raise SnapshotError("a key has two expiry times")
    db.data = data
    db.expires = expires
    db.dirty = dirty
    db.expired_keys = expired_keys
    db.evicted_keys = evicted_keys
    db.leases = leases
    db.changed = []
    db.rebuild_indexes()


def _split(blob: bytes, lengths: np.ndarray) -> list[bytes]:
    ends = np.cumsum(lengths, dtype=np.uint64).tolist()
    starts = [0, *ends[:-1]] if ends else []
    return [blob[begin:end] for begin, end in zip(starts, ends)]


def _list_with_nodes(cls: type[Container], items: list[bytes]) -> Container:
    """A list whose first piece holds its quicklist node counts (u32 each)."""
    if not items or len(items[0]) % 4:
        raise ValueError("node counts missing or not whole u32s")
    counts = np.frombuffer(items[0], dtype="<u4").tolist()
    elements = items[1:]
    if not all(counts) or sum(counts) != len(elements):
        raise ValueError("node counts do not add up to the elements")
    value: Container = cls.with_nodes(elements, counts)  # type: ignore[attr-defined]
    return value


def _build_values(
    config: EngineConfig,
    kinds: bytes,
    item_counts: list[int],
    pieces: list[bytes],
    scores: list[float],
    start: int,
) -> tuple[dict[bytes, Any], list[bytes]]:
    """The key -> value dict, and the keys in order (for the expiry indexes)."""
    data: dict[bytes, Any] = {}
    keys: list[bytes] = []
    piece_count = len(pieces)
    if kinds.count(KIND_BYTES) == len(kinds) and piece_count == 2 * len(kinds):
        # The common all-strings case without a per-key loop.
        keys = pieces[0::2]
        data = dict(zip(keys, pieces[1::2]))
        return data, keys
    position = 0
    next_count = iter(item_counts).__next__
    score_position = 0
    classes: dict[int, type[Container]] = {}
    for index, kind in enumerate(kinds):
        if kind <= KIND_RAW:
            if position + 2 > piece_count:
                raise SnapshotError(f"pieces end inside string key #{index} (offset {start})")
            key = pieces[position]
            value: Any = pieces[position + 1]
            if kind == KIND_RAW:
                value = bytearray(value)
            position += 2
        else:
            encoding = None
            with_nodes = False
            if kind & KIND_CONVERTED:
                kind &= ~KIND_CONVERTED
                encoding = _LARGE_ENCODINGS.get(_TYPE_OF_KIND.get(kind, b""))
                with_nodes = kind == KIND_LIST
            if kind not in _TYPE_OF_KIND:
                raise SnapshotError(f"key #{index} has unknown kind {kind}")
            cls = classes.get(kind)
            if cls is None:
                cls = classes[kind] = container_class(_TYPE_OF_KIND[kind])
            count = next_count()
            key = pieces[position] if position < piece_count else b""
            position += 1
            if kind == KIND_HASH:
                end = position + 2 * count
                flat = pieces[position:end]
                items: list[Any] = list(zip(flat[0::2], flat[1::2]))
            elif kind == KIND_ZSET:
                end = position + count
                members = pieces[position:end]
                member_scores = scores[score_position : score_position + count]
                score_position += count
                if len(member_scores) != count or any(map(math.isnan, member_scores)):
                    raise SnapshotError(f"scores of sorted set key #{index} are missing or NaN")
                items = list(zip(members, member_scores))
            else:
                end = position + count
                items = pieces[position:end]
            if end > piece_count:
                raise SnapshotError(f"pieces end inside {cls.__name__} key #{index}")
            position = end
            try:
                if with_nodes:
                    value = _list_with_nodes(cls, items)
                else:
                    value = cls.from_snapshot_items(config, items, encoding)
            except (ValueError, TypeError) as error:
                raise SnapshotError(f"{cls.__name__} key #{index} is invalid: {error}") from error
        keys.append(key)
        data[key] = value
    if position != piece_count:
        raise SnapshotError(f"{piece_count - position} pieces belong to no key")
    if score_position != len(scores):
        raise SnapshotError(f"{len(scores) - score_position} scores belong to no member")
    return data, keys
