"""Whole .rdb files (RDB version 10 and earlier): the header, the opcodes (AUX,
SELECTDB, RESIZEDB, EXPIRETIME(_MS), IDLE, FREQ, FUNCTION2, MODULE_AUX, EOF and its
CRC-64) and one record per key, each with its value as a DUMP payload that RESTORE
takes (type byte and the value's bytes as they are in the file, then the footer).

Values are parsed only to find where they end (values.read_value, which validates
them too). Module values and Redis 7.2's streams (type 21) are stepped over, so that the
rest of a file still imports: they come out as records with `unsupported` set."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from proto.rdb import values
from proto.rdb.crc64 import crc64
from proto.rdb.reader import FormatError, Reader

OP_FUNCTION2 = 0xF5
OP_FUNCTION = 0xF6
OP_MODULE_AUX = 0xF7
OP_IDLE = 0xF8
OP_FREQ = 0xF9
OP_AUX = 0xFA
OP_RESIZEDB = 0xFB
OP_EXPIRETIME_MS = 0xFC
OP_EXPIRETIME = 0xFD
OP_SELECTDB = 0xFE
OP_EOF = 0xFF

_STREAM_7_2 = 21  # Redis 7.2's streams (15 and 19 are values.VALUE_TYPES)
_MODULE_TYPES = (values.TYPE_MODULE, values.TYPE_MODULE_2)
_MODULE_EOF, _MODULE_SINT, _MODULE_UINT, _MODULE_FLOAT, _MODULE_DOUBLE, _MODULE_STRING = range(6)


@dataclass(slots=True)
class KeyRecord:
    db: int
    key: bytes
    rdb_type: int
    payload: bytes  # a DUMP payload for RESTORE (empty when unsupported)
    expire_ms: int | None = None  # absolute Unix time in ms
    idle: int | None = None  # seconds (LRU)
    freq: int | None = None  # LFU counter
    unsupported: str = ""  # why it cannot be restored (streams, modules)


@dataclass(slots=True)
class FileInfo:
    version: int
    aux: dict[bytes, bytes]
    functions: int = 0  # FUNCTION2 libraries met (not imported)
    checksum_ok: bool | None = None  # None: the file has no checksum (0 or RDB < 5)


def _skip_stream(reader: Reader, rdb_type: int) -> None:
    """rdbLoadObject's stream branch, reading only what it takes to get past it."""
    for _ in range(values.read_count(reader)):
        values.read_string(reader)  # the node's master ID
        values.read_string(reader)  # the node's listpack
    values.read_count(reader)  # length
    values.read_count(reader)  # last ID ms
    values.read_count(reader)  # last ID seq
    if rdb_type != values.TYPE_STREAM_LISTPACKS:
        for _ in range(5):  # first ID, max deleted ID, entries added
            values.read_count(reader)
    for _ in range(values.read_count(reader)):  # consumer groups
        values.read_string(reader)
        values.read_count(reader)
        values.read_count(reader)
        if rdb_type != values.TYPE_STREAM_LISTPACKS:
            values.read_count(reader)  # entries read
        for _ in range(values.read_count(reader)):  # the group's pending entries
            reader.take(16 + 8)
            values.read_count(reader)
        for _ in range(values.read_count(reader)):  # consumers
            values.read_string(reader)
            reader.take(8)  # seen time
            if rdb_type == 21:
                reader.take(8)  # active time
            for _ in range(values.read_count(reader)):
                reader.take(16)


def _skip_module_value(reader: Reader) -> None:
    """A module value saved with typed opcodes (RDB 9 on), up to its EOF opcode."""
    while True:
        opcode = values.read_count(reader)
        if opcode == _MODULE_EOF:
            return
        if opcode in (_MODULE_SINT, _MODULE_UINT):
            values.read_count(reader)
        elif opcode == _MODULE_FLOAT:
            reader.take(4)
        elif opcode == _MODULE_DOUBLE:
            reader.take(8)
        elif opcode == _MODULE_STRING:
            values.read_string(reader)
        else:
            raise FormatError("unknown module opcode")


def read_file(data: bytes, info: FileInfo | None = None) -> Iterator[KeyRecord]:
    """The key records of an .rdb file's bytes, in file order; `info` (if given) is filled
    with the header's version, the AUX fields and the checksum's verdict at the end.
    FormatError for a malformed file."""
    if data[:5] != b"REDIS" or not data[5:9].isdigit():
        raise FormatError("not an RDB file")
    version = int(data[5:9])
    if version < 1 or version > values.RDB_VERSION:
        raise FormatError(f"RDB version {version} is not supported (at most 10)")
    info = info if info is not None else FileInfo(version, {})
    info.version = version
    reader = Reader(data, 9)
    db = 0
    expire: int | None = None
    idle: int | None = None
    freq: int | None = None
    while True:
        opcode = reader.byte()
        if opcode == OP_EOF:
            break
        if opcode == OP_AUX:
            name = values.read_string(reader)
            info.aux[name] = values.read_string(reader)
        elif opcode == OP_SELECTDB:
            db = values.read_count(reader)
        elif opcode == OP_RESIZEDB:
            values.read_count(reader)
            values.read_count(reader)
        elif opcode == OP_EXPIRETIME_MS:
            expire = int.from_bytes(reader.take(8), "little", signed=True)
        elif opcode == OP_EXPIRETIME:
            expire = int.from_bytes(reader.take(4), "little", signed=True) * 1000
        elif opcode == OP_IDLE:
            idle = values.read_count(reader)
        elif opcode == OP_FREQ:
            freq = reader.byte()
        elif opcode == OP_FUNCTION2:
            values.read_string(reader)
            info.functions += 1
        elif opcode == OP_FUNCTION:
            raise FormatError("pre-release FUNCTION opcode (Redis 7.0 RCs) is not supported")
        elif opcode == OP_MODULE_AUX:
            values.read_count(reader)  # module ID
            values.read_count(reader)  # when opcode
            values.read_count(reader)  # when
            _skip_module_value(reader)
        else:
            key = values.read_string(reader)
            start = reader.pos
            unsupported = ""
            if opcode == _STREAM_7_2:
                _skip_stream(reader, opcode)
                unsupported = "streams of Redis 7.2 (RDB type 21) are not supported"
            elif opcode in _MODULE_TYPES:
                if opcode == values.TYPE_MODULE:
                    raise FormatError("module values of RDB < 9 cannot be stepped over")
                values.read_count(reader)  # module ID
                _skip_module_value(reader)
                unsupported = "module values are not supported"
            elif opcode in values.VALUE_TYPES:
                values.read_value(opcode, reader)
            else:
                raise FormatError(f"unknown RDB opcode or type {opcode}")
            payload = b""
            if not unsupported:
                payload = values.wrap_payload(bytes((opcode,)) + data[start : reader.pos])
            yield KeyRecord(db, key, opcode, payload, expire, idle, freq, unsupported)
            expire = idle = freq = None
    if version >= 5:
        stored = int.from_bytes(reader.take(8), "little")
        info.checksum_ok = None if stored == 0 else crc64(data[: reader.pos - 8]) == stored
