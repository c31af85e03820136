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

from proto.rdb.crc64 import crc64
from proto.rdb.primitives import encode_length, read_length, read_string
from proto.rdb.reader import FormatError, Reader

__all__ = ["PayloadError", "crc64", "dump_payload", "encode_length", "read_payload"]

RDB_VERSION = 10
OPCODE_FUNCTION2 = 245
OPCODE_FUNCTION = 246  # 7.0 rc1/rc2: name, engine, description and code apart
FOOTER_SIZE = 10


class PayloadError(Exception):
    """The payload cannot be read: `args[0]` is Redis's message for it."""


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
    """proto.rdb's bounded reader, with PayloadError for what it refuses and LZF strings
    that may not grow past `max_string` bytes."""

    def __init__(self, data: bytes, max_string: int) -> None:
        def bound(size: int) -> None:
            if size > max_string:
                raise FormatError("string longer than allowed")

        self.reader = Reader(data, charge=bound)

    @property
    def position(self) -> int:
        return self.reader.pos

    def take(self, count: int) -> bytes:
        try:
            return self.reader.take(count)
        except FormatError:
            raise PayloadError from None

    def length(self) -> tuple[int, bool]:
        """(length, whether it is an encoded value) as rdbLoadLenByRef reads it."""
        try:
            return read_length(self.reader)
        except FormatError:
            raise PayloadError from None

    def string(self) -> bytes:
        try:
            return read_string(self.reader)
        except FormatError:
            raise PayloadError from None


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
