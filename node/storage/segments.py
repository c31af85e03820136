"""Segment files: the WAL is a run of files `<sequence>.wal` with consecutive sequence numbers.

Each file starts with a 20-byte header (magic, sequence number, CRC32C of both) followed by
frames (see records.py). A file is only appended to, and is fsynced before the next one is
created, so only the newest file can end in a torn record.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from crc32c import crc32c

from node.storage.disk import Syncer, write_all
from node.storage.records import (
    FrameStatus,
    Record,
    RecordFormatError,
    decode_payload,
    read_frame,
    valid_frame_after,
)

MAGIC = b"SLOTWAL1"
_HEADER_FIELDS = struct.Struct("<8sQ")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEADER_FIELDS.size + _CRC.size
SUFFIX = ".wal"
_NAME = re.compile(r"^(\d{16})\.wal$")


def segment_path(directory: Path, sequence: int) -> Path:
    return directory / f"{sequence:016d}{SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """(sequence, path) of every segment file in the directory, oldest first."""
    found = []
    for name in os.listdir(directory):
        match = _NAME.match(name)
        if match:
            found.append((int(match.group(1)), directory / name))
    return sorted(found)


def encode_header(sequence: int) -> bytes:
    fields = _HEADER_FIELDS.pack(MAGIC, sequence)
    return fields + _CRC.pack(crc32c(fields))


class SegmentWriter:
    """The open segment being appended to."""

    def __init__(self, directory: Path, sequence: int, syncer: Syncer) -> None:
        self.sequence = sequence
        self.path = segment_path(directory, sequence)
        self._syncer = syncer
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        header = encode_header(sequence)
        write_all(self._fd, header)
        self.size = len(header)
        # The new name must survive a crash as soon as anything in the file is acknowledged.
        syncer.sync_directory(directory)

    def append(self, data: bytes | bytearray) -> None:
        write_all(self._fd, data)
        self.size += len(data)

    def sync(self) -> None:
        self._syncer.sync_file(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True, slots=True)
class Defect:
    offset: int
    reason: str
    # True when the bad bytes can be the end of a write that a crash interrupted: a partial
    # record, or the very last record with a bad checksum. Only acceptable in the last segment.
    torn_tail: bool


@dataclass(slots=True)
class SegmentScan:
    sequence: int
    path: Path
    size: int
    records: list[tuple[int, Record]] = field(default_factory=list)  # (offset, record)
    valid_end: int = 0  # the file may be cut here: everything before it is whole
    defect: Defect | None = None


def scan_segment(sequence: int, path: Path) -> SegmentScan:
    """Read every record of a segment up to its end or its first defect."""
    data = path.read_bytes()
    scan = SegmentScan(sequence=sequence, path=path, size=len(data))
    scan.defect = _check_header(data, sequence)
    if scan.defect is not None:
        return scan
    offset = scan.valid_end = HEADER_SIZE
    while offset < len(data):
        read = read_frame(data, offset)
        if read.status is not FrameStatus.OK:
            scan.defect = _classify(data, offset, read.status, read.end)
            return scan
        assert read.payload is not None
        try:
            record = decode_payload(read.kind, read.payload)
        except RecordFormatError as error:
            scan.defect = Defect(offset, str(error), torn_tail=False)
            return scan
        scan.records.append((offset, record))
        offset = scan.valid_end = read.end
    return scan


def _check_header(data: bytes, sequence: int) -> Defect | None:
    if len(data) < HEADER_SIZE:
        return Defect(0, "the file ends inside the segment header", torn_tail=True)
    fields = data[: _HEADER_FIELDS.size]
    (crc,) = _CRC.unpack_from(data, _HEADER_FIELDS.size)
    magic, found = _HEADER_FIELDS.unpack(fields)
    if crc32c(fields) != crc or magic != MAGIC:
        torn = valid_frame_after(data, HEADER_SIZE - 1) is None
        return Defect(0, "bad segment header", torn_tail=torn)
    if found != sequence:
        return Defect(0, f"segment header says sequence {found}", torn_tail=False)
    return None


def _classify(data: bytes, offset: int, status: FrameStatus, end: int) -> Defect:
    if status is FrameStatus.PARTIAL:
        return Defect(offset, status.value, torn_tail=True)
    if status is FrameStatus.BAD_PAYLOAD:
        # A trusted header tells where the record ends: torn only if nothing follows it.
        return Defect(offset, status.value, torn_tail=end == len(data))
    following = valid_frame_after(data, offset)
    if following is None:
        return Defect(offset, status.value, torn_tail=True)
    return Defect(offset, f"{status.value} (a valid record follows at {following})", False)
