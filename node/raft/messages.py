"""The messages Raft replicas exchange: small immutable values, one class per kind.

Every message names its group, its sender and receiver replica ids (`src`, `dst`; a replica's
id is the id of the node that hosts it) and the sender's term. A leader stamps what it sends
with `stamp`, a number that only grows while it leads and encodes its tick count (see
`node.raft.readonly`); followers echo it so the leader knows which of its sends a quorum has
seen, which is what ReadIndex and lease reads are built on.

`entries` sequences are shared between the leader's log and the messages that carry them:
nobody mutates them. The classes are not frozen all the same: a frozen dataclass sets each
field through object.__setattr__, which made building a message 2-3x slower (2.8 against
0.5 µs for an AppendEntries), and every message is built twice, by the sender's core and
by the receiver's transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.raft.types import Entry, SnapshotMeta


@dataclass(slots=True)
class AppendEntries:
    group: int
    src: int
    dst: int
    term: int
    prev_index: int  # the entry just before `entries`
    prev_term: int
    entries: Sequence[Entry]
    commit: int
    stamp: int
    # The receiver, rejoining after lost data (VoteHold), has caught up with a leader that
    # committed in its term without it: it may vote again.
    release_hold: bool = False


@dataclass(slots=True)
class AppendResponse:
    """Success: the receiver's log matches the leader's up to `index`. Rejection: no entry at
    `index` with the term the leader sent; `hint_index`/`hint_term` is the receiver's last
    entry that could still match (the largest index <= index whose term <= the leader's)."""

    group: int
    src: int
    dst: int
    term: int
    index: int
    reject: bool = False
    hint_index: int = 0
    hint_term: int = 0
    stamp: int = 0  # 0: the request was not accepted in `term` (carries no acknowledgement)
    # From a replica that holds its votes (VoteHold): it may have lost what it acknowledged
    # before, and its answers count towards no commit, read or quorum check.
    rejoining: bool = False


@dataclass(slots=True)
class Heartbeat:
    group: int
    src: int
    dst: int
    term: int
    commit: int  # min(the receiver's known match, the leader's commit): safe to commit
    stamp: int
    release_hold: bool = False  # as AppendEntries.release_hold
    # The leader sent TimeoutNow to a voter: the receiver may honour that voter's forced
    # campaign for the next term despite the lease (RaftNode._forced_by_transfer).
    transfer: bool = False


@dataclass(slots=True)
class HeartbeatResponse:
    group: int
    src: int
    dst: int
    term: int
    stamp: int
    rejoining: bool = False  # as AppendResponse.rejoining


@dataclass(slots=True)
class RequestVote:
    """`pre`: a pre-vote (the sender's term is not incremented; `term` is the one it would
    campaign in). `force`: a campaign started by a leader transfer, which voters honour even
    within a leader's lease once that leader announced the transfer (Heartbeat.transfer)."""

    group: int
    src: int
    dst: int
    term: int
    last_index: int
    last_term: int
    pre: bool = False
    force: bool = False


@dataclass(slots=True)
class VoteResponse:
    group: int
    src: int
    dst: int
    term: int
    granted: bool
    pre: bool = False


@dataclass(slots=True)
class InstallSnapshot:
    """One chunk of the leader's snapshot: `data` is bytes [offset, offset+len) of it."""

    group: int
    src: int
    dst: int
    term: int
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool
    stamp: int


@dataclass(slots=True)
class SnapshotResponse:
    """The receiver holds bytes [0, next_offset) of snapshot `index` (0: send from the start).
    The receiver of the last chunk answers with an AppendResponse instead."""

    group: int
    src: int
    dst: int
    term: int
    index: int
    next_offset: int
    reject: bool = False  # the chunk did not follow what the receiver holds
    stamp: int = 0
    rejoining: bool = False  # as AppendResponse.rejoining


@dataclass(slots=True)
class TimeoutNow:
    """Leader transfer: the receiver campaigns at once, without pre-vote."""

    group: int
    src: int
    dst: int
    term: int


Message = (
    AppendEntries
    | AppendResponse
    | Heartbeat
    | HeartbeatResponse
    | RequestVote
    | VoteResponse
    | InstallSnapshot
    | SnapshotResponse
    | TimeoutNow
)
