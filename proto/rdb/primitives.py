"""RDB's primitives (rdb.c): lengths (rdbSaveLen / rdbLoadLenByRef) and strings
(rdbSaveRawString with its integer and LZF encodings, rdbGenericLoadStringObject), which
every value type and proto.rdb.stream are written with."""

from __future__ import annotations

from collections.abc import Callable

from proto.rdb import listpack, lzf
from proto.rdb.reader import FormatError, Reader

_ENC_INT8 = 0
_ENC_INT16 = 1
_ENC_INT32 = 2
_ENC_LZF = 3
_LEN_32 = 0x80
_LEN_64 = 0x81

# Encoders are told the LZF work before they do it (Charge(bytes) may raise to stop them):
# compression is the costly part of a DUMP in pure Python.
Charge = Callable[[int], None]


def no_charge(size: int) -> None:
    return None


def encode_length(length: int) -> bytes:
    """rdbSaveLen: 6, 14, 32 or 64 bits."""
    if length < 1 << 6:
        return bytes((length,))
    if length < 1 << 14:
        return bytes((0x40 | (length >> 8), length & 0xFF))
    if length <= 0xFFFFFFFF:
        return bytes((_LEN_32,)) + length.to_bytes(4, "big")
    return bytes((_LEN_64,)) + length.to_bytes(8, "big")


def _encode_integer(value: int) -> bytes | None:
    """rdbEncodeInteger: a value that fits 8, 16 or 32 signed bits."""
    if -(1 << 7) <= value < 1 << 7:
        return bytes((0xC0 | _ENC_INT8,)) + value.to_bytes(1, "little", signed=True)
    if -(1 << 15) <= value < 1 << 15:
        return bytes((0xC0 | _ENC_INT16,)) + value.to_bytes(2, "little", signed=True)
    if -(1 << 31) <= value < 1 << 31:
        return bytes((0xC0 | _ENC_INT32,)) + value.to_bytes(4, "little", signed=True)
    return None


def encode_string(data: bytes, charge: Charge = no_charge) -> bytes:
    """rdbSaveRawString with rdbcompression yes: a short string that is a canonical
    integer as an integer, a string of more than 20 bytes LZF-compressed when that saves
    at least 4 bytes, otherwise the length and the bytes."""
    size = len(data)
    if size <= 11:
        value = listpack.string_to_int(data)
        if value is not None:
            encoded = _encode_integer(value)
            if encoded is not None:
                return encoded
    if size > 20:
        charge(size)
        packed = lzf.compress(data, size - 4)
        if packed is not None:
            return (
                bytes((0xC0 | _ENC_LZF,))
                + encode_length(len(packed))
                + encode_length(size)
                + packed
            )
    return encode_length(size) + data


def read_length(reader: Reader) -> tuple[int, bool]:
    """rdbLoadLenByRef: (length, is_encoded); an encoded one names _ENC_*."""
    first = reader.byte()
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, False
    if kind == 1:
        return ((first & 0x3F) << 8) | reader.byte(), False
    if kind == 3:
        return first & 0x3F, True
    if first == _LEN_32:
        return int.from_bytes(reader.take(4), "big"), False
    if first == _LEN_64:
        return int.from_bytes(reader.take(8), "big"), False
    raise FormatError("unknown length encoding")


def read_count(reader: Reader) -> int:
    length, encoded = read_length(reader)
    if encoded:
        raise FormatError("encoded length where a count belongs")
    return length


def read_string(reader: Reader) -> bytes:
    """rdbGenericLoadStringObject."""
    length, encoded = read_length(reader)
    if not encoded:
        return reader.take(length)
    if length == _ENC_INT8:
        return b"%d" % int.from_bytes(reader.take(1), "little", signed=True)
    if length == _ENC_INT16:
        return b"%d" % int.from_bytes(reader.take(2), "little", signed=True)
    if length == _ENC_INT32:
        return b"%d" % int.from_bytes(reader.take(4), "little", signed=True)
    if length == _ENC_LZF:
        packed_size = read_count(reader)
        size = read_count(reader)
        packed = reader.take(packed_size)
        if size > lzf.MAX_EXPANSION * packed_size:
            raise FormatError("LZF string longer than its compressed bytes can hold")
        if reader.charge is not None:
            reader.charge(size)
        try:
            return lzf.decompress(packed, size)
        except lzf.LzfError as error:
            raise FormatError(str(error)) from None
    raise FormatError("unknown string encoding")
