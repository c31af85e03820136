"""Decoders of the encodings older RDB versions carry: ziplist (ziplist.c, RDB 7 to 9)
and zipmap (zipmap.c, RDB before 4). Only read: Redis 7.0 writes neither."""

from __future__ import annotations

from proto.rdb.reader import FormatError, Reader

_ZIP_END = 0xFF
_ZIPMAP_BIGLEN = 254


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def decode_ziplist(blob: bytes) -> list[bytes]:
    """The elements, integers as their decimal text."""
    if len(blob) < 11:
        raise FormatError("ziplist too short")
    total = int.from_bytes(blob[0:4], "little")
    tail = int.from_bytes(blob[4:8], "little")
    count = int.from_bytes(blob[8:10], "little")
    if total != len(blob) or blob[-1] != _ZIP_END or tail > total - 1:
        raise FormatError("ziplist header")
    reader = Reader(blob, 10, total - 1)
    elements: list[bytes] = []
    previous_size = 0
    while reader.remaining():
        start = reader.pos
        prevlen = reader.byte()
        if prevlen == 254:
            prevlen = int.from_bytes(reader.take(4), "little")
        if prevlen != previous_size:
            raise FormatError("ziplist prevlen")
        first = reader.byte()
        kind = first >> 6
        if kind == 0:
            elements.append(reader.take(first & 0x3F))
        elif kind == 1:
            elements.append(reader.take(((first & 0x3F) << 8) | reader.byte()))
        elif kind == 2:
            elements.append(reader.take(int.from_bytes(reader.take(4), "big")))
        elif first == 0xC0:
            elements.append(b"%d" % _signed(int.from_bytes(reader.take(2), "little"), 16))
        elif first == 0xD0:
            elements.append(b"%d" % _signed(int.from_bytes(reader.take(4), "little"), 32))
        elif first == 0xE0:
            elements.append(b"%d" % _signed(int.from_bytes(reader.take(8), "little"), 64))
        elif first == 0xF0:
            elements.append(b"%d" % _signed(int.from_bytes(reader.take(3), "little"), 24))
        elif first == 0xFE:
            elements.append(b"%d" % _signed(reader.byte(), 8))
        elif 0xF1 <= first <= 0xFD:
            elements.append(b"%d" % ((first & 0x0F) - 1))
        else:
            raise FormatError("ziplist entry")
        previous_size = reader.pos - start
    if count != 65535 and count != len(elements):
        raise FormatError("ziplist count")
    return elements


def _zipmap_length(reader: Reader) -> int:
    first = reader.byte()
    if first < _ZIPMAP_BIGLEN:
        return first
    if first == _ZIPMAP_BIGLEN:
        return int.from_bytes(reader.take(4), "little")
    raise FormatError("zipmap length")


def decode_zipmap(blob: bytes) -> list[tuple[bytes, bytes]]:
    """The (field, value) pairs of a zipmap: <len>field<len><free>value<free bytes>."""
    reader = Reader(blob)
    reader.byte()  # the count, unreliable past 253
    pairs: list[tuple[bytes, bytes]] = []
    while True:
        if reader.data[reader.pos : reader.pos + 1] == b"\xff":
            reader.pos += 1
            break
        field = reader.take(_zipmap_length(reader))
        size = _zipmap_length(reader)
        free = reader.byte()
        value = reader.take(size)
        reader.take(free)
        pairs.append((field, value))
    if reader.remaining():
        raise FormatError("zipmap trailing bytes")
    return pairs
