"""The few file-system calls whose durability matters, behind one object so that tests can count
fsyncs or simulate a crash that loses what was not synced."""

from __future__ import annotations

import os
from pathlib import Path

_sync_data = getattr(os, "fdatasync", os.fsync)
TEMPORARY_SUFFIX = ".tmp"  # a file being replaced (`replace_durably`); leftovers are garbage


class Syncer:
    """Makes file contents and directory entries durable. Subclass to observe or fake it."""

    def sync_file(self, fd: int) -> None:
        # fdatasync also flushes the file size, which is all the metadata a reader needs.
        _sync_data(fd)

    def sync_directory(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """os.write may write less than asked; loop until every byte is written."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def replace_durably(path: Path, chunks: list[bytes], syncer: Syncer) -> None:
    """Write `path` whole or not at all: a temporary file, fsynced, renamed over it, and the
    directory fsynced."""
    temporary = path.with_name(path.name + TEMPORARY_SUFFIX)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for chunk in chunks:
            write_all(fd, chunk)
        syncer.sync_file(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    syncer.sync_directory(path.parent)


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """os.pwrite may write less than asked; loop until every byte is written at offset."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def truncate_durably(path: Path, size: int, syncer: Syncer) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        syncer.sync_file(fd)
    finally:
        os.close(fd)
