"""Builders of the encodings older Redis versions wrote and Redis 7.0 still loads
(ziplist, zipmap, quicklist of ziplists, the plain LIST/SET/ZSET/HASH types with text
scores), to make DUMP payloads of them for RESTORE tests. Written from ziplist.c's and
zipmap.c's format descriptions; redis-server 7.0 restoring them checks they are right."""

from __future__ import annotations

import math
import struct

from proto.rdb import values


def _int_encoding(value: int) -> bytes:
    if 0 <= value <= 12:
        return bytes((0xF1 + value,))
    if -128 <= value <= 127:
        return b"\xfe" + struct.pack("<b", value)
    if -(2**15) <= value < 2**15:
        return b"\xc0" + struct.pack("<h", value)
    if -(2**23) <= value < 2**23:
        return b"\xf0" + (value & 0xFFFFFF).to_bytes(3, "little")
    if -(2**31) <= value < 2**31:
        return b"\xd0" + struct.pack("<i", value)
    return b"\xe0" + struct.pack("<q", value)


def _string_encoding(data: bytes) -> bytes:
    size = len(data)
    if size <= 63:
        return bytes((size,)) + data
    if size <= 16383:
        return bytes((0x40 | (size >> 8), size & 0xFF)) + data
    return b"\x80" + size.to_bytes(4, "big") + data


def ziplist(elements: list[bytes | int]) -> bytes:
    entries = []
    previous = 0
    offsets = []
    offset = 10
    for element in elements:
        prevlen = bytes((previous,)) if previous < 254 else b"\xfe" + struct.pack("<I", previous)
        if isinstance(element, int):
            body = _int_encoding(element)
        else:
            body = _string_encoding(element)
        entry = prevlen + body
        offsets.append(offset)
        offset += len(entry)
        entries.append(entry)
        previous = len(entry)
    total = 10 + sum(map(len, entries)) + 1
    tail = offsets[-1] if offsets else 10
    header = struct.pack("<IIH", total, tail, min(len(elements), 65535))
    return header + b"".join(entries) + b"\xff"


def zipmap(pairs: list[tuple[bytes, bytes]]) -> bytes:
    def length(size: int) -> bytes:
        return bytes((size,)) if size < 254 else b"\xfe" + struct.pack("<I", size)

    parts = [bytes((min(len(pairs), 254),))]
    for field, value in pairs:
        parts += [length(len(field)), field, length(len(value)), b"\x00", value]
    return b"".join(parts) + b"\xff"


def _string(data: bytes) -> bytes:
    return values.encode_length(len(data)) + data


def _text_double(score: float) -> bytes:
    if math.isinf(score):
        return b"\xfe" if score > 0 else b"\xff"
    text = b"%.17g" % score
    return bytes((len(text),)) + text


def payload(rdb_type: int, body: bytes, version: int = 9) -> bytes:
    return values.wrap_payload(bytes((rdb_type,)) + body, version)


def old_payloads() -> dict[str, bytes]:
    """One payload per older type, with the content they hold."""
    words = [b"a", b"bb", b"x" * 70, b"12", b"-5", b"100000", b"9223372036854775807"]
    elements: list[bytes | int] = [b"a", 3, -100, 1000, 100000, 2**40, b"x" * 300, b"tail"]
    return {
        "list": payload(
            values.TYPE_LIST, values.encode_length(len(words)) + b"".join(map(_string, words))
        ),
        "list-ziplist": payload(values.TYPE_LIST_ZIPLIST, _string(ziplist(elements))),
        "list-quicklist": payload(
            values.TYPE_LIST_QUICKLIST,
            values.encode_length(2) + _string(ziplist(elements)) + _string(ziplist([b"second", 7])),
        ),
        "set": payload(
            values.TYPE_SET, values.encode_length(len(words)) + b"".join(map(_string, words))
        ),
        "zset": payload(
            values.TYPE_ZSET,
            values.encode_length(3)
            + b"".join(
                _string(m) + _text_double(s)
                for m, s in ((b"a", 1.5), (b"b", math.inf), (b"c", -math.inf))
            ),
        ),
        "zset-ziplist": payload(
            values.TYPE_ZSET_ZIPLIST, _string(ziplist([b"a", 1, b"b", b"2.5", b"c", 100000]))
        ),
        "hash": payload(
            values.TYPE_HASH,
            values.encode_length(2) + _string(b"f") + _string(b"v") + _string(b"n") + _string(b"1"),
        ),
        "hash-ziplist": payload(
            values.TYPE_HASH_ZIPLIST, _string(ziplist([b"f", b"v", b"n", 12, b"big", 2**33]))
        ),
        "hash-zipmap": payload(
            values.TYPE_HASH_ZIPMAP,
            _string(zipmap([(b"f", b"v"), (b"long", b"y" * 300), (b"n", b"1")])),
            version=3,
        ),
    }
