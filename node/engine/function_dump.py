"""FUNCTION DUMP's payload, as Redis 7.0 writes and reads it (rdb.c, cluster.c).

The payload is an RDB fragment: per library the opcode RDB_OPCODE_FUNCTION2 (245) and the
library's code as an RDB string, then the RDB version (2 bytes, little-endian; 10 for 7.0)
and a CRC-64 (Jones polynomial, reflected, as Redis's crc64.c) of everything before it, 8
bytes little-endian. Redis compresses a string longer than 20 bytes with LZF when that
saves space; we write strings uncompressed (Redis reads both) and read both. Reading is
bounded: every length is checked against the bytes that remain, and an LZF string may not
grow past `max_string` bytes.
"""

from __future__ import annotations

RDB_VERSION = 10
OPCODE_FUNCTION2 = 245
OPCODE_FUNCTION = 246  # 7.0 rc1/rc2: name, engine, description and code apart
FOOTER_SIZE = 10

_CRC64_POLY = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9, reflected


def _crc64_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC64_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC64_TABLE = _crc64_table()


def crc64(data: bytes, crc: int = 0) -> int:
    table = _CRC64_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


class PayloadError(Exception):
    """The payload cannot be read: `args[0]` is Redis's message for it."""


def encode_length(length: int) -> bytes:
    if length < 1 << 6:
        return bytes([length])
    if length < 1 << 14:
        return bytes([0x40 | (length >> 8), length & 0xFF])
    if length <= 0xFFFFFFFF:
        return b"\x80" + length.to_bytes(4, "big")
    return b"\x81" + length.to_bytes(8, "big")


def dump_payload(codes: list[bytes]) -> bytes:
    parts = []
    for code in codes:
        parts.append(bytes([OPCODE_FUNCTION2]))
        parts.append(encode_length(len(code)))
        parts.append(code)
    parts.append(RDB_VERSION.to_bytes(2, "little"))
    body = b"".join(parts)
    return body + crc64(body).to_bytes(8, "little")


def verify_payload(payload: bytes) -> bool:
    """verifyDumpPayload: a footer, a version we read, the checksum."""
    if len(payload) < FOOTER_SIZE:
        return False
    footer = len(payload) - FOOTER_SIZE
    version = payload[footer] | payload[footer + 1] << 8
    if version > RDB_VERSION:
        return False
    return crc64(payload[: footer + 2]) == int.from_bytes(payload[footer + 2 :], "little")


class _Reader:
    def __init__(self, data: bytes, max_string: int) -> None:
        self.data = data
        self.position = 0
        self.max_string = max_string

    def take(self, count: int) -> bytes:
        if count > len(self.data) - self.position:
            raise PayloadError
        piece = self.data[self.position : self.position + count]
        self.position += count
        return piece

    def length(self) -> tuple[int, bool]:
        """(length, whether it is an encoded value) as rdbLoadLenByRef reads it."""
        first = self.take(1)[0]
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return (first & 0x3F) << 8 | self.take(1)[0], False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if first == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        raise PayloadError

    def string(self) -> bytes:
        length, encoded = self.length()
        if not encoded:
            return self.take(length)
        if length in (0, 1, 2):  # RDB_ENC_INT8/16/32: an integer written as its digits
            size = 1 << length
            value = int.from_bytes(self.take(size), "little", signed=True)
            return b"%d" % value
        if length == 3:  # RDB_ENC_LZF
            compressed_size, _ = self.length()
            size, _ = self.length()
            compressed = self.take(compressed_size)
            if size > self.max_string:
                raise PayloadError
            return lzf_decompress(compressed, size)
        raise PayloadError


def lzf_decompress(data: bytes, size: int) -> bytes:
    """liblzf's format: a control byte below 32 starts a run of control+1 literal bytes;
    otherwise its top 3 bits are a length (7: one more length byte follows) and the rest
    with the next byte an offset back into the output. The output must be `size` bytes
    exactly (Redis refuses the string otherwise)."""
    out = bytearray()
    position, end = 0, len(data)
    while position < end:
        control = data[position]
        position += 1
        if control < 32:
            count = control + 1
            if position + count > end or len(out) + count > size:
                raise PayloadError
            out += data[position : position + count]
            position += count
            continue
        length = control >> 5
        if length == 7:
            if position >= end:
                raise PayloadError
            length += data[position]
            position += 1
        if position >= end:
            raise PayloadError
        back = ((control & 0x1F) << 8 | data[position]) + 1
        position += 1
        length += 2
        start = len(out) - back
        if start < 0 or len(out) + length > size:
            raise PayloadError
        if back >= length:
            out += out[start : start + length]
        else:  # the copy overlaps what it writes: the pattern repeats
            pattern = bytes(out[start:])
            out += (pattern * (length // back + 1))[:length]
    if len(out) != size:
        raise PayloadError
    return bytes(out)


def read_payload(payload: bytes, max_string: int) -> list[bytes]:
    """The libraries' codes of a verified payload (functionRestoreCommand's loop: until
    the last 10 bytes; strings may reach into them, as in Redis)."""
    reader = _Reader(payload, max_string)
    codes: list[bytes] = []
    while len(payload) - reader.position > FOOTER_SIZE:
        try:
            opcode = reader.take(1)[0]
        except PayloadError:
            raise PayloadError("can not read data type") from None
        if opcode == OPCODE_FUNCTION2:
            try:
                codes.append(reader.string())
            except PayloadError:
                raise PayloadError("Failed loading library payload") from None
        elif opcode == OPCODE_FUNCTION:
            codes.append(_old_format(reader))
        else:
            raise PayloadError("given type is not a function")
    return codes


def _old_format(reader: _Reader) -> bytes:
    """7.0 rc1/rc2: name, engine, a description flag (and description), the code."""
    fields = [
        ("name", "Failed loading library name"),
        ("engine", "Failed loading engine name"),
    ]
    values: dict[str, bytes] = {}
    for field, message in fields:
        try:
            values[field] = reader.string()
        except PayloadError:
            raise PayloadError(message) from None
    try:
        has_description, _ = reader.length()
    except PayloadError:
        raise PayloadError("Failed loading library description indicator") from None
    if has_description:
        try:
            reader.string()
        except PayloadError:
            raise PayloadError("Failed loading library description") from None
    try:
        blob = reader.string()
    except PayloadError:
        raise PayloadError("Failed loading library blob") from None
    return b"#!%s name=%s\n%s" % (values["engine"], values["name"], blob)
