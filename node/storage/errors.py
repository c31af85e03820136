"""Errors raised by durable storage. Every corruption error names the file and byte offset:
storage refuses to start rather than silently drop data."""

from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """Durable storage cannot go on (I/O failure, misuse, or corrupted files)."""


class CorruptionError(StorageError):
    """A file holds bytes that cannot be what storage wrote, somewhere other than a torn tail."""

    def __init__(self, path: Path | str, offset: int, reason: str) -> None:
        self.path = Path(path)
        self.offset = offset
        self.reason = reason
        super().__init__(
            f"{self.path}: corrupted data at byte offset {offset}: {reason}; "
            "refusing to start so that no durable data is dropped"
        )


class WriterFailed(StorageError):
    """An earlier write or fsync failed: after a failed fsync the page cache may no longer match
    the disk, so nothing more is accepted until the node restarts and replays its log."""
