"""What the core hands to its caller: the Ready batch, role changes and the status."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.raft.messages import Message
from node.raft.readonly import ReadState
from node.raft.types import ConfState, Entry, HardState, Snapshot


class Role(enum.IntEnum):
    FOLLOWER = 0
    PRE_CANDIDATE = 1
    CANDIDATE = 2
    LEADER = 3


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth reacting to (redirect clients, fail their pending requests)."""

    leader: int
    role: Role


class Ready:
    """One batch of work for the caller: what to persist (`snapshot`, then `entries` after
    dropping every stored entry from `truncate_from` on, then `hard_state`), what to send
    (`messages`), what to apply (`snapshot` into the state machine, `committed_entries`),
    the reads to answer once their index is applied (`read_states`) and to fail
    (`dropped_reads`: leadership was lost), and the role change (`soft_state`). Then
    `advance(ready)`; until then the core hands out no other Ready (has_ready() is False),
    but it keeps taking ticks, messages and proposals.

    In what order, and which messages may leave before the write is durable, is one
    policy for every caller: node/raft/ready_policy.py. (A leader's replication may; its
    acknowledgements, votes and the messages of a new term may not.)
    """

    # Class-level defaults: a Ready only stores what is not empty, so an idle group's Ready
    # costs one object.
    hard_state: HardState | None = None
    entries: Sequence[Entry] = ()
    truncate_from: int | None = None
    snapshot: Snapshot | None = None
    committed_entries: Sequence[Entry] = ()
    read_states: Sequence[ReadState] = ()
    messages: Sequence[Message] = ()
    soft_state: SoftState | None = None
    dropped_reads: Sequence[bytes] = ()

    def must_persist(self) -> bool:
        return bool(self.hard_state is not None or self.entries or self.snapshot is not None)

    def __repr__(self) -> str:
        return (
            f"Ready(hs={self.hard_state}, entries={len(self.entries)}, "
            f"truncate_from={self.truncate_from}, snapshot={self.snapshot is not None}, "
            f"committed={len(self.committed_entries)}, reads={len(self.read_states)}, "
            f"messages={len(self.messages)}, soft={self.soft_state})"
        )


@dataclass(frozen=True, slots=True)
class PeerStatus:
    match: int
    next: int
    state: str  # "probe", "replicate" or "snapshot"
    learner: bool
    rejoining: bool = False  # holds its votes (lost disk, new node): counts towards nothing


@dataclass(frozen=True, slots=True)
class Status:
    node_id: int
    group_id: int
    role: Role
    term: int
    vote: int
    leader: int
    commit: int
    applied: int
    last_index: int
    first_index: int
    conf: ConfState
    peers: dict[int, PeerStatus] = field(default_factory=dict)  # leader only
