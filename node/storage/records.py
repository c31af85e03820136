"""WAL records: what they say (typed values) and how they are framed on disk.

A frame is a 13-byte header followed by the payload:

    payload length  u32
    record kind     u8
    payload CRC32C  u32
    header CRC32C   u32   (over the 9 bytes above)

The header has its own checksum so that a flipped bit in a length is detected as corruption
instead of being mistaken for a record that runs past the end of the file (a torn tail).
All integers are little-endian.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crc32c import crc32c

from node.raft.types import ConfState, Entry, EntryType, HardState, SnapshotMeta


class RecordKind(enum.IntEnum):
    ENTRIES = 1
    HARD_STATE = 2
    SNAPSHOT = 3
    TRUNCATE = 4


@dataclass(frozen=True, slots=True)
class EntriesRecord:
    """Consecutive entries of one group. Appending entries that start at index i replaces the
    entry at i and everything after it, as a Raft follower overwrites a conflicting suffix."""

    group: int
    entries: Sequence[Entry]


@dataclass(frozen=True, slots=True)
class HardStateRecord:
    group: int
    state: HardState


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """The snapshot file of `group` at `meta.index` is durable: entries up to meta.index are no
    longer needed; later entries stay. A snapshot installed from a leader also replaces the log
    after it: see `snapshot_records`."""

    group: int
    meta: SnapshotMeta


@dataclass(frozen=True, slots=True)
class TruncateRecord:
    """Entries of `group` at `index` and after are removed."""

    group: int
    index: int


Record = EntriesRecord | HardStateRecord | SnapshotRecord | TruncateRecord


def snapshot_records(group: int, meta: SnapshotMeta, *, replaces_log: bool) -> list[Record]:
    """The records that make a durable snapshot file part of the log: for a local compaction
    just the marker; for a snapshot installed from a leader, also the removal of every entry
    after it (they conflict with the leader's log, or Raft would not have installed it)."""
    marker = SnapshotRecord(group, meta)
    return [TruncateRecord(group, meta.index + 1), marker] if replaces_log else [marker]


def persist_records(
    group: int,
    *,
    snapshot: SnapshotMeta | None = None,
    truncate_from: int | None = None,
    entries: Sequence[Entry] = (),
    hard_state: HardState | None = None,
) -> list[Record]:
    """The records for what one Raft Ready asks to persist, in the order it asks for: an
    installed snapshot (its file already durable: `NodeStorage.save_snapshot`) replacing the
    stored log, the truncation of an overwritten suffix, new entries, the hard state."""
    records: list[Record] = []
    if snapshot is not None:
        records += snapshot_records(group, snapshot, replaces_log=True)
    if truncate_from is not None:
        records.append(TruncateRecord(group, truncate_from))
    if entries:
        records.append(EntriesRecord(group, entries))
    if hard_state is not None:
        records.append(HardStateRecord(group, hard_state))
    return records


class RecordFormatError(ValueError):
    """A payload whose checksum is right but whose contents cannot be decoded."""


# ---------------------------------------------------------------------------- payloads

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_ENTRIES_HEAD = struct.Struct("<QQI")  # group, first index, count
_ENTRY_HEAD = struct.Struct("<QBI")  # term, type, data length
_HARD_STATE = struct.Struct("<QQQQ")  # group, term, vote, commit
_GROUP_INDEX = struct.Struct("<QQ")  # group, index
_META_HEAD = struct.Struct("<QQII")  # index, term, voter count, learner count


def encode_meta(meta: SnapshotMeta) -> bytes:
    conf = meta.conf
    ids = (*conf.voters, *conf.learners)
    return _META_HEAD.pack(meta.index, meta.term, len(conf.voters), len(conf.learners)) + (
        struct.pack(f"<{len(ids)}Q", *ids)
    )


def decode_meta(buf: bytes | memoryview, offset: int) -> tuple[SnapshotMeta, int]:
    """The meta encoded at offset and the offset just past it."""
    index, term, voters, learners = _META_HEAD.unpack_from(buf, offset)
    offset += _META_HEAD.size
    ids = struct.unpack_from(f"<{voters + learners}Q", buf, offset)
    offset += 8 * (voters + learners)
    conf = ConfState(voters=tuple(ids[:voters]), learners=tuple(ids[voters:]))
    return SnapshotMeta(index=index, term=term, conf=conf), offset


def _encode_entries(record: EntriesRecord) -> bytes:
    entries = record.entries
    if not entries:
        raise ValueError(f"group {record.group}: an entries record needs at least one entry")
    first = entries[0].index
    pack = _ENTRY_HEAD.pack
    parts = [_ENTRIES_HEAD.pack(record.group, first, len(entries))]
    expected = first
    for entry in entries:
        if entry.index != expected:
            raise ValueError(
                f"group {record.group}: entries must be consecutive, got index {entry.index} "
                f"after {expected - 1}"
            )
        expected += 1
        data = entry.data
        parts.append(pack(entry.term, entry.type, len(data)))
        parts.append(data)
    return b"".join(parts)


def _decode_entries(payload: memoryview) -> EntriesRecord:
    group, first, count = _ENTRIES_HEAD.unpack_from(payload, 0)
    offset = _ENTRIES_HEAD.size
    entries = []
    for index in range(first, first + count):
        term, kind, length = _ENTRY_HEAD.unpack_from(payload, offset)
        offset += _ENTRY_HEAD.size
        if offset + length > len(payload):
            raise RecordFormatError(f"entry {index} runs past the end of its record")
        data = bytes(payload[offset : offset + length])
        offset += length
        entries.append(Entry(index=index, term=term, type=EntryType(kind), data=data))
    _expect_end(payload, offset)
    return EntriesRecord(group=group, entries=entries)


def _expect_end(payload: memoryview, offset: int) -> None:
    if offset != len(payload):
        raise RecordFormatError(f"{len(payload) - offset} unexpected bytes after the record")


def _encode_hard_state(record: HardStateRecord) -> bytes:
    state = record.state
    return _HARD_STATE.pack(record.group, state.term, state.vote, state.commit)


def _encode_snapshot(record: SnapshotRecord) -> bytes:
    return _U64.pack(record.group) + encode_meta(record.meta)


def _encode_truncate(record: TruncateRecord) -> bytes:
    return _GROUP_INDEX.pack(record.group, record.index)


# Dispatch on the exact type: this runs once per record on the hot path.
_ENCODERS: dict[type, tuple[int, Callable[[Any], bytes]]] = {
    EntriesRecord: (RecordKind.ENTRIES.value, _encode_entries),
    HardStateRecord: (RecordKind.HARD_STATE.value, _encode_hard_state),
    SnapshotRecord: (RecordKind.SNAPSHOT.value, _encode_snapshot),
    TruncateRecord: (RecordKind.TRUNCATE.value, _encode_truncate),
}


def decode_payload(kind: int, payload: bytes | memoryview) -> Record:
    view = memoryview(payload)
    try:
        match kind:
            case RecordKind.ENTRIES:
                return _decode_entries(view)
            case RecordKind.HARD_STATE:
                _expect_end(view, _HARD_STATE.size)
                group, term, vote, commit = _HARD_STATE.unpack_from(view, 0)
                return HardStateRecord(group, HardState(term=term, vote=vote, commit=commit))
            case RecordKind.SNAPSHOT:
                (group,) = _U64.unpack_from(view, 0)
                meta, end = decode_meta(view, _U64.size)
                _expect_end(view, end)
                return SnapshotRecord(group, meta)
            case RecordKind.TRUNCATE:
                _expect_end(view, _GROUP_INDEX.size)
                group, index = _GROUP_INDEX.unpack_from(view, 0)
                return TruncateRecord(group, index)
    except (struct.error, ValueError) as error:
        raise RecordFormatError(f"undecodable {RecordKind(kind).name} record: {error}") from None
    raise RecordFormatError(f"unknown record kind {kind}")


# ---------------------------------------------------------------------------- frames

_HEADER_FIELDS = struct.Struct("<IBI")  # payload length, kind, payload CRC
HEADER_SIZE = _HEADER_FIELDS.size + _U32.size
_KINDS = frozenset(RecordKind)


def frame(kind: int, payload: bytes) -> bytes:
    fields = _HEADER_FIELDS.pack(len(payload), kind, crc32c(payload))
    return fields + _U32.pack(crc32c(fields)) + payload


def encode(record: Record) -> bytes:
    """The record as it goes on disk: header and payload."""
    try:
        kind, encoder = _ENCODERS[type(record)]
    except KeyError:
        raise TypeError(f"not a WAL record: {record!r}") from None
    payload = encoder(record)
    fields = _HEADER_FIELDS.pack(len(payload), kind, crc32c(payload))
    return fields + _U32.pack(crc32c(fields)) + payload


class FrameStatus(enum.Enum):
    OK = "ok"
    PARTIAL = "the file ends inside the record"
    BAD_HEADER = "record header checksum mismatch"
    BAD_PAYLOAD = "record payload checksum mismatch"


@dataclass(frozen=True, slots=True)
class FrameRead:
    status: FrameStatus
    kind: int = 0
    payload: memoryview | None = None
    end: int = 0  # offset just past the frame, when its header could be trusted


def read_frame(buf: bytes, offset: int) -> FrameRead:
    """Check and cut out the frame that starts at offset (offset < len(buf))."""
    if offset + HEADER_SIZE > len(buf):
        return FrameRead(FrameStatus.PARTIAL)
    fields_end = offset + _HEADER_FIELDS.size
    (header_crc,) = _U32.unpack_from(buf, fields_end)
    if crc32c(buf[offset:fields_end]) != header_crc:
        return FrameRead(FrameStatus.BAD_HEADER)
    length, kind, payload_crc = _HEADER_FIELDS.unpack_from(buf, offset)
    start = offset + HEADER_SIZE
    end = start + length
    if end > len(buf):
        return FrameRead(FrameStatus.PARTIAL, kind, end=end)
    payload = memoryview(buf)[start:end]
    if crc32c(payload) != payload_crc:
        return FrameRead(FrameStatus.BAD_PAYLOAD, kind, end=end)
    return FrameRead(FrameStatus.OK, kind, payload, end)


def valid_frame_after(buf: bytes, offset: int) -> int | None:
    """The offset of the first whole, checksum-valid frame that starts after offset, if any.

    Only used when a header is unreadable: if nothing valid follows, the bad bytes are the torn
    end of the log; if something does, they are a corrupted record in the middle of it."""
    # A frame's kind byte is never zero: none starts in the trailing zeros (preallocated space).
    nonzero_end = len(buf.rstrip(b"\0"))
    for candidate in range(offset + 1, min(len(buf) - HEADER_SIZE + 1, nonzero_end - 4)):
        # Cheap filter before the checksums: the kind byte must name a record kind.
        if buf[candidate + 4] in _KINDS and read_frame(buf, candidate).status is FrameStatus.OK:
            return candidate
    return None
