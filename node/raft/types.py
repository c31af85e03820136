"""Values shared by the Raft core (node.raft) and durable storage (node.storage)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field


class EntryType(enum.IntEnum):
    NORMAL = 0  # application data (a command batch for the state machine), or b"" for a no-op
    CONF_CHANGE = 1  # a membership change (data is an encoded ConfChange)


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    term: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before any message that depends on it is sent."""

    term: int = 0
    vote: int = 0  # node id voted for in `term`, 0 for none
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfState:
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Snapshot:
    meta: SnapshotMeta = field(default_factory=SnapshotMeta)
    data: bytes = b""  # the state machine's serialized state at meta.index


@dataclass(frozen=True, slots=True)
class RestoredState:
    """What storage replayed from disk for one replica, handed to `RaftNode(config, restored)`.

    - hard_state: the last persisted term, vote and commit (zeros for a new replica).
    - snapshot: the last durable snapshot with its data, or None. Its `meta.conf` is the
      membership at `meta.index`; the core replays CONF_CHANGE entries after it itself.
    - entries: the persisted entries after the snapshot index, contiguous and in order.

    A brand-new member joining an existing group starts from `RestoredState()` and learns
    everything from the leader. A new group starts from `node.raft.bootstrap_state(...)`.
    """

    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: Sequence[Entry] = ()
