"""Snapshot files: one group's state-machine snapshot at one index, one file each.

A file is written under a temporary name, fsynced, renamed into place and the directory fsynced:
it is either absent or whole. It only becomes the group's snapshot when its marker record is
durable in the WAL; files that no durable marker names are leftovers and are removed on open.

Layout: magic, group u64, data length u64, data CRC32C u32, the encoded SnapshotMeta, a CRC32C
of all of that, then the data.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path

from crc32c import crc32c

from node.raft.types import Snapshot
from node.storage.disk import TEMPORARY_SUFFIX, Syncer, replace_durably
from node.storage.errors import CorruptionError, StorageError
from node.storage.records import decode_meta, encode_meta

MAGIC = b"SLOTSNP1"
_HEAD = struct.Struct("<8sQQI")  # magic, group, data length, data CRC
_CRC = struct.Struct("<I")
_NAME = re.compile(r"^g(\d{10})-i(\d{20})\.snap$")


def snapshot_name(group: int, index: int) -> str:
    return f"g{group:010d}-i{index:020d}.snap"


class SnapshotStore:
    def __init__(self, directory: Path | str, syncer: Syncer | None = None) -> None:
        self.directory = Path(directory)
        self._syncer = syncer or Syncer()
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True)
            self._syncer.sync_directory(self.directory.parent)

    def path(self, group: int, index: int) -> Path:
        return self.directory / snapshot_name(group, index)

    def write(self, group: int, snapshot: Snapshot) -> Path:
        """Write the snapshot durably; it counts once its marker is committed to the WAL."""
        final = self.path(group, snapshot.meta.index)
        head = _HEAD.pack(MAGIC, group, len(snapshot.data), crc32c(snapshot.data))
        head += encode_meta(snapshot.meta)
        replace_durably(final, [head + _CRC.pack(crc32c(head)), snapshot.data], self._syncer)
        return final

    def load(self, group: int, index: int) -> Snapshot:
        path = self.path(group, index)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StorageError(
                f"{path}: the snapshot of group {group} at index {index} that the WAL names "
                "durable is missing; refusing to start so that no durable data is dropped"
            ) from None
        return _decode(path, data, group, index)

    def files(self) -> dict[int, list[int]]:
        """group -> indexes of its snapshot files, ascending."""
        found: dict[int, list[int]] = {}
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            if match:
                found.setdefault(int(match.group(1)), []).append(int(match.group(2)))
        return {group: sorted(indexes) for group, indexes in sorted(found.items())}

    def prune(self, group: int, below: int) -> list[Path]:
        """Delete the group's snapshot files older than index `below` (call only once the
        snapshot at `below` is durable)."""
        doomed = [self.path(group, i) for i in self.files().get(group, []) if i < below]
        self._delete(doomed)
        return doomed

    def retain_only(self, durable: Mapping[int, int]) -> list[Path]:
        """On open: keep exactly the snapshot each group's durable marker names (checking that
        it exists); remove temporary files and snapshots written but never committed."""
        doomed = [
            self.directory / name
            for name in os.listdir(self.directory)
            if name.endswith(TEMPORARY_SUFFIX)
        ]
        files = self.files()
        for group, index in durable.items():
            if index not in files.get(group, []):
                self.load(group, index)  # raises: the file is missing
        for group, indexes in files.items():
            doomed += [self.path(group, i) for i in indexes if durable.get(group) != i]
        self._delete(doomed)
        return doomed

    def _delete(self, paths: list[Path]) -> None:
        for path in paths:
            path.unlink()
        if paths:
            self._syncer.sync_directory(self.directory)


def _decode(path: Path, data: bytes, group: int, index: int) -> Snapshot:
    try:
        magic, found_group, length, data_crc = _HEAD.unpack_from(data, 0)
        meta, end = decode_meta(data, _HEAD.size)
        (head_crc,) = _CRC.unpack_from(data, end)
    except struct.error:
        raise CorruptionError(path, 0, "truncated snapshot header") from None
    if magic != MAGIC or crc32c(data[:end]) != head_crc:
        raise CorruptionError(path, 0, "bad snapshot header")
    if found_group != group or meta.index != index:
        raise CorruptionError(path, 0, f"header says group {found_group} index {meta.index}")
    start = end + _CRC.size
    body = data[start:]
    if len(body) != length or crc32c(body) != data_crc:
        raise CorruptionError(path, start, "snapshot data length or checksum mismatch")
    return Snapshot(meta=meta, data=body)
