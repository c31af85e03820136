"""One value in Redis's RDB format (rdb.c, RDB version 10 as Redis 7.0 writes it), and
the DUMP payload around it: type byte, value, RDB version (2 bytes LE), CRC-64 (8 bytes LE).

Encoders write what redis-server 7.0 writes for the same value and encoding; decoders
read every type Redis 7.0 loads (RDB 10 and earlier), modules excepted, into a
neutral form (`Decoded`) that callers turn into their own values. Every length is checked
against the bytes present, so a corrupt payload raises FormatError and never reads or
allocates more than it holds (LZF output aside, which LZF itself bounds to ~100x)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

from proto.rdb import intset, listpack, ziplist
from proto.rdb.crc64 import crc64
from proto.rdb.primitives import (
    Charge,
    encode_length,
    encode_string,
    no_charge,
    read_count,
    read_string,
)
from proto.rdb.reader import FormatError, Reader
from proto.rdb.stream import read_stream

RDB_VERSION = 10

TYPE_STRING = 0
TYPE_LIST = 1
TYPE_SET = 2
TYPE_ZSET = 3
TYPE_HASH = 4
TYPE_ZSET_2 = 5
TYPE_MODULE = 6
TYPE_MODULE_2 = 7
TYPE_HASH_ZIPMAP = 9
TYPE_LIST_ZIPLIST = 10
TYPE_SET_INTSET = 11
TYPE_ZSET_ZIPLIST = 12
TYPE_HASH_ZIPLIST = 13
TYPE_LIST_QUICKLIST = 14
TYPE_STREAM_LISTPACKS = 15
TYPE_HASH_LISTPACK = 16
TYPE_ZSET_LISTPACK = 17
TYPE_LIST_QUICKLIST_2 = 18
TYPE_STREAM_LISTPACKS_2 = 19

# Types whose values this codec reads (Redis 7.0's rdbIsObjectType, modules left out;
# streams in proto.rdb.stream).
VALUE_TYPES = frozenset({0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19})

_QUICKLIST_PLAIN = 1
_QUICKLIST_PACKED = 2
# list-max-listpack-size -2 (Redis's default): a quicklist node holds up to 8 KB.
_NODE_LIMIT = 8192
_SIZE_ESTIMATE_OVERHEAD = 8  # quicklist.c's guess of an entry's header and back-length
_LE_DOUBLE = struct.Struct("<d")


def _read_double_text(reader: Reader) -> float:
    """rdbLoadDoubleValue, the text scores of RDB_TYPE_ZSET."""
    size = reader.byte()
    if size == 253:
        return math.nan
    if size == 254:
        return math.inf
    if size == 255:
        return -math.inf
    return _to_float(reader.take(size))


def _to_float(text: bytes) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FormatError("bad score") from None
    if math.isnan(value):
        raise FormatError("NaN score")
    return value


# ---------------------------------------------------------------------- values


@dataclass(slots=True)
class Decoded:
    """A value read from RDB: kind is b"string", b"list", b"set", b"hash", b"zset" or
    b"stream"; items the string's bytes, the list's elements, the set's members, the
    hash's (field, value) pairs or the sorted set's (member, score) pairs, in payload
    order, or a stream's proto.rdb.stream.StreamData. A quicklist's `node_counts`: the
    element count of each of its nodes (Redis loads them as they are)."""

    kind: bytes
    items: Any
    rdb_type: int
    node_counts: list[int] | None = None


def encode_string_value(data: bytes, charge: Charge = no_charge) -> bytes:
    return bytes((TYPE_STRING,)) + encode_string(data, charge)


def quicklist_nodes(elements: list[bytes]) -> list[list[bytes]]:
    """How a quicklist built by pushing `elements` at its tail splits them into nodes
    (list-max-listpack-size -2: _quicklistNodeAllowInsert with its size estimate)."""
    nodes: list[list[bytes]] = []
    current: list[bytes] = []
    current_entries: list[bytes] = []
    node_size = 0
    for element in elements:
        size = len(element)
        estimate = node_size + size + _SIZE_ESTIMATE_OVERHEAD
        encoded = listpack.entry(element)
        if current and estimate <= _NODE_LIMIT:
            current.append(element)
            current_entries.append(encoded)
            node_size += len(encoded)
        else:
            if current:
                nodes.append(current)
            current = [element]
            current_entries = [encoded]
            node_size = listpack.HEADER_SIZE + len(encoded) + 1
    if current:
        nodes.append(current)
    return nodes


def list_nodes(elements: list[bytes], node_counts: list[int] | None) -> list[list[bytes]]:
    """A quicklist's nodes: `node_counts` elements each when given (and adding up), else
    as RPUSH would have filled them."""
    if node_counts is None or sum(node_counts) != len(elements):
        return quicklist_nodes(elements)
    nodes = []
    start = 0
    for count in node_counts:
        nodes.append(elements[start : start + count])
        start += count
    return nodes


def encode_list_value(
    elements: list[bytes], charge: Charge = no_charge, node_counts: list[int] | None = None
) -> bytes:
    """RDB_TYPE_LIST_QUICKLIST_2: the node count, then per node its container and its
    listpack as a string (compressed like any string). The nodes hold `node_counts`
    elements each when given, else as RPUSH would have filled them."""
    nodes = list_nodes(elements, node_counts)
    parts = [bytes((TYPE_LIST_QUICKLIST_2,)), encode_length(len(nodes))]
    for node in nodes:
        parts.append(encode_length(_QUICKLIST_PACKED))
        parts.append(encode_string(listpack.encode(node), charge))
    return b"".join(parts)


def encode_set_value(members: list[bytes], as_intset: bool, charge: Charge = no_charge) -> bytes:
    """RDB_TYPE_SET_INTSET (the intset as a string) or RDB_TYPE_SET (members in the
    table's order)."""
    if as_intset:
        values = [int(member) for member in members]
        return bytes((TYPE_SET_INTSET,)) + encode_string(intset.encode(values), charge)
    parts = [bytes((TYPE_SET,)), encode_length(len(members))]
    parts.extend(encode_string(member, charge) for member in members)
    return b"".join(parts)


def encode_hash_value(
    pairs: list[tuple[bytes, bytes]], as_listpack: bool, charge: Charge = no_charge
) -> bytes:
    """RDB_TYPE_HASH_LISTPACK or RDB_TYPE_HASH (field, value pairs in the table's order)."""
    if as_listpack:
        flat = [item for pair in pairs for item in pair]
        return bytes((TYPE_HASH_LISTPACK,)) + encode_string(listpack.encode(flat), charge)
    parts = [bytes((TYPE_HASH,)), encode_length(len(pairs))]
    for field, value in pairs:
        parts.append(encode_string(field, charge))
        parts.append(encode_string(value, charge))
    return b"".join(parts)


def encode_zset_listpack(entries: list[tuple[bytes, bytes]], charge: Charge = no_charge) -> bytes:
    """RDB_TYPE_ZSET_LISTPACK of (member, score text) pairs from the lowest score: the
    score as the listpack holds it (Redis's d2string text, an integer entry if integral)."""
    flat = [item for pair in entries for item in pair]
    return bytes((TYPE_ZSET_LISTPACK,)) + encode_string(listpack.encode(flat), charge)


def encode_zset_skiplist(entries: list[tuple[bytes, float]], charge: Charge = no_charge) -> bytes:
    """RDB_TYPE_ZSET_2 of (member, score) pairs from the lowest: Redis writes them from the
    skiplist's tail (highest first), so that loading inserts at the head cheaply."""
    parts = [bytes((TYPE_ZSET_2,)), encode_length(len(entries))]
    for member, score in reversed(entries):
        parts.append(encode_string(member, charge))
        parts.append(_LE_DOUBLE.pack(score))
    return b"".join(parts)


def _pairs(flat: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(flat) % 2:
        raise FormatError("odd number of elements")
    return list(zip(flat[0::2], flat[1::2], strict=True))


def _zset_pairs(flat: list[bytes]) -> list[tuple[bytes, float]]:
    return [(member, _to_float(score)) for member, score in _pairs(flat)]


def _blob_listpack(reader: Reader) -> list[bytes]:
    return listpack.decode(read_string(reader))


def _blob_ziplist(reader: Reader) -> list[bytes]:
    return ziplist.decode_ziplist(read_string(reader))


def _read_quicklist(reader: Reader, version_2: bool) -> tuple[list[bytes], list[int]]:
    """The elements, and each node's count (empty nodes, which Redis skips, left out)."""
    elements: list[bytes] = []
    counts: list[int] = []
    for _ in range(read_count(reader)):
        before = len(elements)
        container = _QUICKLIST_PACKED
        if version_2:
            container = read_count(reader)
            if container not in (_QUICKLIST_PACKED, _QUICKLIST_PLAIN):
                raise FormatError("quicklist container")
        blob = read_string(reader)
        if container == _QUICKLIST_PLAIN:
            elements.append(blob)
        elif version_2:
            elements.extend(listpack.decode(blob))
        else:
            elements.extend(ziplist.decode_ziplist(blob))
        if len(elements) > before:
            counts.append(len(elements) - before)
    return elements, counts


def read_value(rdb_type: int, reader: Reader) -> Decoded:
    """rdbLoadObject for one value of `rdb_type` at the reader's position."""
    if rdb_type == TYPE_STRING:
        return Decoded(b"string", read_string(reader), rdb_type)
    if rdb_type == TYPE_LIST:
        count = read_count(reader)
        return Decoded(b"list", [read_string(reader) for _ in _bounded(count, reader)], rdb_type)
    if rdb_type in (TYPE_LIST_QUICKLIST, TYPE_LIST_QUICKLIST_2):
        elements, counts = _read_quicklist(reader, rdb_type == TYPE_LIST_QUICKLIST_2)
        return Decoded(b"list", elements, rdb_type, counts)
    if rdb_type == TYPE_LIST_ZIPLIST:
        return Decoded(b"list", _blob_ziplist(reader), rdb_type)
    if rdb_type == TYPE_SET:
        count = read_count(reader)
        return Decoded(b"set", [read_string(reader) for _ in _bounded(count, reader)], rdb_type)
    if rdb_type == TYPE_SET_INTSET:
        values = intset.decode(read_string(reader))
        return Decoded(b"set", [b"%d" % value for value in values], rdb_type)
    if rdb_type == TYPE_HASH:
        count = read_count(reader)
        pairs = [(read_string(reader), read_string(reader)) for _ in _bounded(count, reader)]
        return Decoded(b"hash", pairs, rdb_type)
    if rdb_type == TYPE_HASH_ZIPMAP:
        return Decoded(b"hash", ziplist.decode_zipmap(read_string(reader)), rdb_type)
    if rdb_type == TYPE_HASH_ZIPLIST:
        return Decoded(b"hash", _pairs(_blob_ziplist(reader)), rdb_type)
    if rdb_type == TYPE_HASH_LISTPACK:
        return Decoded(b"hash", _pairs(_blob_listpack(reader)), rdb_type)
    if rdb_type in (TYPE_ZSET, TYPE_ZSET_2):
        count = read_count(reader)
        entries = []
        for _ in _bounded(count, reader):
            member = read_string(reader)
            if rdb_type == TYPE_ZSET_2:
                score = float(_LE_DOUBLE.unpack(reader.take(8))[0])
            else:
                score = _read_double_text(reader)
            if math.isnan(score):
                raise FormatError("NaN score")
            entries.append((member, score))
        return Decoded(b"zset", entries, rdb_type)
    if rdb_type == TYPE_ZSET_ZIPLIST:
        return Decoded(b"zset", _zset_pairs(_blob_ziplist(reader)), rdb_type)
    if rdb_type == TYPE_ZSET_LISTPACK:
        return Decoded(b"zset", _zset_pairs(_blob_listpack(reader)), rdb_type)
    if rdb_type in (TYPE_STREAM_LISTPACKS, TYPE_STREAM_LISTPACKS_2):
        return Decoded(b"stream", read_stream(rdb_type, reader), rdb_type)
    raise FormatError(f"unsupported value type {rdb_type}")


def _bounded(count: int, reader: Reader) -> range:
    """A count of items, each of which takes at least one byte: more than the bytes left
    is corrupt (refused before anything is allocated)."""
    if count > reader.remaining():
        raise FormatError("count larger than the payload")
    return range(count)


# ---------------------------------------------------------------------- DUMP payloads


def wrap_payload(body: bytes, version: int = RDB_VERSION) -> bytes:
    """createDumpPayload: the serialized value, then the RDB version and the CRC-64."""
    head = body + version.to_bytes(2, "little")
    return head + crc64(head).to_bytes(8, "little")


def check_payload(payload: bytes) -> bool:
    """verifyDumpPayload: at least 10 bytes, an RDB version Redis 7.0 knows, the CRC."""
    if len(payload) < 10:
        return False
    version = int.from_bytes(payload[-10:-8], "little")
    if version > RDB_VERSION:
        return False
    return crc64(payload[:-8]) == int.from_bytes(payload[-8:], "little")


def read_payload(payload: bytes, charge: Charge | None = None) -> Decoded:
    """The value of a payload that passed check_payload (FormatError: "Bad data format").
    Like Redis, which reads from the whole buffer, a value may run into the footer, and
    bytes left between the value and the footer are not looked at."""
    reader = Reader(payload, charge=charge)
    rdb_type = reader.byte()
    if rdb_type not in VALUE_TYPES:
        raise FormatError(f"unsupported value type {rdb_type}")
    return read_value(rdb_type, reader)
