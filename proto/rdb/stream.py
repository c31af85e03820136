"""Streams in Redis's RDB format (rdb.c's OBJ_STREAM branch, t_stream.c's node layout).

A stream is written as RDB_TYPE_STREAM_LISTPACKS_2 (19), as Redis 7.0 writes it: the
radix tree's nodes (key: the master ID, 16 bytes big-endian; value: the node's listpack
as a string), the length, last ID, first ID, max deleted ID, entries added, then the
consumer groups by name, each with its last ID, entries read, its pending entries list
(ID, delivery time in ms, delivery count) and its consumers by name (seen time, the IDs
they own). Types 15 (Redis 5-6: without the first ID, max deleted ID, entries added and
entries read) and 19 are read; 21 (Redis 7.2) is not, as Redis 7.0 does not read it.

A node's listpack holds its master entry (live count, deleted count, the master fields,
a 0 terminator), then per entry its flags, the ID's difference from the master ID, the
values alone when its fields are the master's (SAMEFIELDS) or else the field count and
the fields and values, then the entry's element count ("lp-count"). Deleted entries
stay as tombstones (flag DELETED) in Redis's nodes, and here: a node holds its live
entries and its tombstones, written and read in ID order.

Every count read is bounded by the bytes left, so a corrupt payload raises FormatError
without reading past its end or allocating more than it holds."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from proto.rdb import listpack
from proto.rdb.primitives import Charge, encode_length, encode_string, read_count, read_string
from proto.rdb.reader import FormatError, Reader

FLAG_DELETED = 1
FLAG_SAMEFIELDS = 2
TYPE_STREAM_LISTPACKS_2 = 19  # as in proto.rdb.values
_U64 = 1 << 64
_SEQ_MASK = _U64 - 1
INVALID_ENTRIES_READ = -1  # a group's entries read when it is not known
_MS_TIME = struct.Struct("<q")  # rdbSaveMillisecondTime
# Smallest encodings, to bound counts by the bytes left: a node (two strings of at least
# one byte each), a pending entry (ID, time, count), a consumer (name, time, count), a
# consumer's pending ID.
_NODE_MIN = 2
_NACK_MIN = 16 + 8 + 1
_CONSUMER_MIN = 1 + 8 + 1
_GROUP_MIN = 5


@dataclass(slots=True)
class StreamNode:
    """One listpack node: its master ID and fields, its live entries and its deleted
    ones (ID, fields and values interleaved) and its listpack's size (when read)."""

    master: int
    master_fields: list[bytes]
    entries: list[tuple[int, list[bytes]]]
    tombstones: list[tuple[int, list[bytes]]] = field(default_factory=list)
    size: int = 0


@dataclass(slots=True)
class StreamGroup:
    name: bytes
    last_id: int
    entries_read: int | None  # None: not in the payload (type 15)
    pel: list[tuple[int, int, int]]  # ID, delivery time, delivery count, by ID
    consumers: list[tuple[bytes, int, list[int]]]  # name, seen time, its pending IDs


@dataclass(slots=True)
class StreamData:
    """A stream in neutral form. IDs are ints, ms << 64 | seq. first_id and
    entries_added are None when the payload (type 15) does not hold them."""

    nodes: list[StreamNode]
    length: int
    last_id: int
    first_id: int | None = None
    max_deleted_id: int = 0
    entries_added: int | None = None
    groups: list[StreamGroup] = field(default_factory=list)


# ---------------------------------------------------------------------- writing


def _wrap(value: int) -> int:
    """A difference of two uint64 as Redis stores it: an int64."""
    value %= _U64
    return value - _U64 if value >= 1 << 63 else value


def node_listpack(node: StreamNode) -> bytes:
    """The node's listpack as streamAppendItem builds it, and streamIteratorRemoveEntry
    flags its deleted entries."""
    entry = listpack.entry
    master_fields = node.master_fields
    parts = [entry(len(node.entries)), entry(len(node.tombstones)), entry(len(master_fields))]
    parts.extend(entry(name) for name in master_fields)
    parts.append(entry(0))
    master_ms, master_seq = node.master >> 64, node.master & _SEQ_MASK
    flagged = [(stream_id, items, 0) for stream_id, items in node.entries]
    if node.tombstones:
        flagged += [(stream_id, items, FLAG_DELETED) for stream_id, items in node.tombstones]
        flagged.sort(key=lambda record: record[0])
    for stream_id, items, deleted in flagged:
        fields = items[0::2]
        same = fields == master_fields
        parts.append(entry((FLAG_SAMEFIELDS if same else 0) | deleted))
        parts.append(entry(_wrap((stream_id >> 64) - master_ms)))
        parts.append(entry(_wrap((stream_id & _SEQ_MASK) - master_seq)))
        if same:
            parts.extend(entry(value) for value in items[1::2])
            count = len(fields) + 3
        else:
            parts.append(entry(len(fields)))
            parts.extend(entry(item) for item in items)
            count = 2 * len(fields) + 4
        parts.append(entry(count))
    return listpack.assemble(parts)


def raw_id(stream_id: int) -> bytes:
    """streamEncodeID: ms then seq, each 8 bytes big-endian."""
    return stream_id.to_bytes(16, "big")


def _length_id(stream_id: int) -> bytes:
    return encode_length(stream_id >> 64) + encode_length(stream_id & _SEQ_MASK)


def encode_stream_value(data: StreamData, charge: Charge) -> bytes:
    """RDB_TYPE_STREAM_LISTPACKS_2, type byte included; `charge` is told of each
    listpack's compression before it runs."""
    parts = [bytes((TYPE_STREAM_LISTPACKS_2,)), encode_length(len(data.nodes))]
    for node in data.nodes:
        parts.append(encode_string(raw_id(node.master)))
        parts.append(encode_string(node_listpack(node), charge))
    parts.append(encode_length(data.length))
    parts.append(_length_id(data.last_id))
    parts.append(_length_id(data.first_id or 0))
    parts.append(_length_id(data.max_deleted_id))
    parts.append(encode_length(data.entries_added or 0))
    parts.append(encode_length(len(data.groups)))
    for group in data.groups:
        parts.append(encode_string(group.name))
        parts.append(_length_id(group.last_id))
        entries_read = INVALID_ENTRIES_READ if group.entries_read is None else group.entries_read
        parts.append(encode_length(entries_read % _U64))
        parts.append(encode_length(len(group.pel)))
        for stream_id, delivery_time, delivery_count in group.pel:
            parts.append(raw_id(stream_id))
            parts.append(_MS_TIME.pack(delivery_time))
            parts.append(encode_length(delivery_count))
        parts.append(encode_length(len(group.consumers)))
        for name, seen_time, pending in group.consumers:
            parts.append(encode_string(name))
            parts.append(_MS_TIME.pack(seen_time))
            parts.append(encode_length(len(pending)))
            parts.extend(raw_id(stream_id) for stream_id in pending)
    return b"".join(parts)


# ---------------------------------------------------------------------- reading


def _int(element: bytes) -> int:
    """An integer element of a node's listpack (decode gives integers as their text)."""
    value = listpack.string_to_int(element)
    if value is None:
        raise FormatError("stream listpack: integer expected")
    return value


def _bounded(count: int, reader: Reader, smallest: int) -> range:
    if count * smallest > reader.remaining():
        raise FormatError("stream count larger than the payload")
    return range(count)


def parse_node(key: bytes, blob: bytes) -> StreamNode:
    """A node from its radix-tree key and listpack; FormatError unless it is well formed
    (counts that agree, entries in ID order, at least one entry). A node may hold only
    tombstones: Redis's XTRIM MINID leaves one when the node's last entry was deleted
    before (its node-removal test reads the last entry, deleted or not)."""
    if len(key) != 16:
        raise FormatError("stream node key is not an ID")
    master = int.from_bytes(key, "big")
    elements = listpack.decode(blob)
    if len(elements) < 4:
        raise FormatError("stream listpack: no master entry")
    live, deleted, field_count = _int(elements[0]), _int(elements[1]), _int(elements[2])
    if live < 0 or deleted < 0 or field_count < 0 or len(elements) < 4 + field_count:
        raise FormatError("stream listpack: master entry")
    master_fields = elements[3 : 3 + field_count]
    position = 3 + field_count
    if _int(elements[position]) != 0:
        raise FormatError("stream listpack: master entry terminator")
    position += 1
    master_ms, master_seq = master >> 64, master & _SEQ_MASK
    entries: list[tuple[int, list[bytes]]] = []
    tombstones: list[tuple[int, list[bytes]]] = []
    previous = -1
    end = len(elements)
    while position < end:
        if position + 3 > end:
            raise FormatError("stream listpack: truncated entry")
        flags = _int(elements[position])
        ms = (master_ms + _int(elements[position + 1])) % _U64
        seq = (master_seq + _int(elements[position + 2])) % _U64
        position += 3
        if flags & ~(FLAG_DELETED | FLAG_SAMEFIELDS):
            raise FormatError("stream listpack: entry flags")
        if flags & FLAG_SAMEFIELDS:
            values = elements[position : position + field_count]
            if not field_count or len(values) != field_count:
                raise FormatError("stream listpack: truncated entry")
            items = [item for pair in zip(master_fields, values, strict=True) for item in pair]
            position += field_count
            count = field_count + 3
        else:
            if position >= end:
                raise FormatError("stream listpack: truncated entry")
            pairs = _int(elements[position])
            items = elements[position + 1 : position + 1 + 2 * pairs]
            if pairs <= 0 or len(items) != 2 * pairs:
                raise FormatError("stream listpack: entry fields")
            position += 1 + 2 * pairs
            count = 2 * pairs + 4
        if position >= end or _int(elements[position]) != count:
            raise FormatError("stream listpack: entry count")
        position += 1
        stream_id = (ms << 64) | seq
        if stream_id <= previous:
            raise FormatError("stream listpack: entries out of order")
        previous = stream_id
        if flags & FLAG_DELETED:
            tombstones.append((stream_id, items))
        else:
            entries.append((stream_id, items))
    if len(entries) != live or len(tombstones) != deleted or not live + deleted:
        raise FormatError("stream listpack: entry counts")
    return StreamNode(master, master_fields, entries, tombstones, len(blob))


def _read_id(reader: Reader) -> int:
    ms = read_count(reader)
    seq = read_count(reader)
    if ms >= _U64 or seq >= _U64:
        raise FormatError("stream ID")
    return (ms << 64) | seq


def read_stream(rdb_type: int, reader: Reader) -> StreamData:
    """rdbLoadObject's stream branch for types 15 and 19."""
    version_2 = rdb_type == TYPE_STREAM_LISTPACKS_2
    nodes: list[StreamNode] = []
    last_entry = -1
    for _ in _bounded(read_count(reader), reader, _NODE_MIN):
        key = read_string(reader)
        blob = read_string(reader)
        if reader.charge is not None:
            # Parsing a node's entries costs about as much again as decompressing its
            # bytes (measured: 20,000 small entries), told before it runs.
            reader.charge(len(blob))
        node = parse_node(key, blob)
        if node.entries:
            if node.entries[0][0] <= last_entry:
                raise FormatError("stream nodes out of order")
            last_entry = node.entries[-1][0]
        nodes.append(node)
    length = read_count(reader)
    if length != sum(len(node.entries) for node in nodes):
        raise FormatError("stream length disagrees with its nodes")
    data = StreamData(nodes, length, _read_id(reader))
    if data.last_id < last_entry:
        raise FormatError("stream last ID below its entries")
    if version_2:
        data.first_id = _read_id(reader)
        data.max_deleted_id = _read_id(reader)
        data.entries_added = read_count(reader)
        if data.entries_added < length:
            raise FormatError("stream entries added below its length")
    names: set[bytes] = set()
    for _ in _bounded(read_count(reader), reader, _GROUP_MIN):
        group = _read_group(reader, version_2)
        if group.name in names:
            raise FormatError("duplicate consumer group")
        names.add(group.name)
        data.groups.append(group)
    return data


def _read_group(reader: Reader, version_2: bool) -> StreamGroup:
    name = read_string(reader)
    last_id = _read_id(reader)
    entries_read: int | None = None
    if version_2:
        entries_read = read_count(reader)
        if entries_read == _U64 - 1:
            entries_read = INVALID_ENTRIES_READ
        elif entries_read >= 1 << 63:
            raise FormatError("consumer group entries read")
    pel: dict[int, tuple[int, int, int]] = {}
    for _ in _bounded(read_count(reader), reader, _NACK_MIN):
        stream_id = int.from_bytes(reader.take(16), "big")
        delivery_time = _MS_TIME.unpack(reader.take(8))[0]
        delivery_count = read_count(reader)
        if stream_id in pel or delivery_count >= 1 << 63:
            raise FormatError("consumer group pending entry")
        pel[stream_id] = (stream_id, delivery_time, delivery_count)
    owned: set[int] = set()
    consumers: list[tuple[bytes, int, list[int]]] = []
    consumer_names: set[bytes] = set()
    for _ in _bounded(read_count(reader), reader, _CONSUMER_MIN):
        consumer = read_string(reader)
        seen_time = _MS_TIME.unpack(reader.take(8))[0]
        pending: list[int] = []
        for _ in _bounded(read_count(reader), reader, 16):
            stream_id = int.from_bytes(reader.take(16), "big")
            if stream_id not in pel or stream_id in owned:
                raise FormatError("consumer pending entry not in its group's")
            owned.add(stream_id)
            pending.append(stream_id)
        if consumer in consumer_names:
            raise FormatError("duplicate consumer")
        consumer_names.add(consumer)
        consumers.append((consumer, seen_time, pending))
    if len(owned) != len(pel):
        # Redis (deep sanitization) refuses a pending entry without a consumer.
        raise FormatError("pending entry without a consumer")
    return StreamGroup(name, last_id, entries_read, sorted(pel.values()), consumers)
