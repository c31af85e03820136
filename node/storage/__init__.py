"""Durable storage for Raft: one write-ahead log per node shared by all its groups (segment
files, CRC32C-checked records, group commit), snapshot files, and crash recovery.

Start here: `NodeStorage.open(root)` -> (storage, {group: node.raft.RestoredState}); turn
each Ready into records with `persist_records` (after `storage.save_snapshot` for a snapshot),
and commit records of any groups through `GroupCommitter` (or `aio.AsyncGroupCommit`) with
`storage.commit` as the write function. `replay(wal_directory)` reads a WAL without changing it.
"""

from node.storage.errors import CorruptionError, StorageError, WriterFailed
from node.storage.group_commit import DeferredExecutor, GroupCommitter, InlineExecutor, Ticket
from node.storage.records import (
    EntriesRecord,
    HardStateRecord,
    Record,
    SnapshotRecord,
    TruncateRecord,
    persist_records,
    snapshot_records,
)
from node.storage.recovery import RestoredGroup, replay
from node.storage.store import NodeStorage
from node.storage.wal import Wal

__all__ = [
    "CorruptionError",
    "DeferredExecutor",
    "EntriesRecord",
    "GroupCommitter",
    "HardStateRecord",
    "InlineExecutor",
    "NodeStorage",
    "Record",
    "RestoredGroup",
    "SnapshotRecord",
    "StorageError",
    "Ticket",
    "TruncateRecord",
    "Wal",
    "WriterFailed",
    "persist_records",
    "replay",
    "snapshot_records",
]
