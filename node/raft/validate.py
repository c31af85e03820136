"""What a replica accepts from its peers: every received Raft message is checked here before
it reaches the core (node.raft.core), so that no message, however forged or corrupted, can
stop a replica, push it into a term it cannot leave, or let a node that is not the leader
act as one.

Two stages, both pure (they look, never change, and never raise on any input):

- `check_batch(messages, sender, receiver)`: what a message says about itself. Numbers in
  the ranges below, entries that follow each other, snapshot metadata that describes a
  membership, and every message from the batch's sender and for the receiving node. The
  receive path drops the whole batch when one message fails: its sender is broken or the
  frame was corrupted, and nothing else in it deserves trust.
- `check_for_replica(node, message)`: what the receiving replica knows. The sender must be
  a member of the group (a voter for votes and for what only a leader sends) in the
  membership committed or in any later one in the log (both sides of every change not yet
  committed; changes are one replica at a time, node.raft.confchange, so there is no other
  joint state), unless the replica has heard from no leader for an election timeout (it may
  lag behind the change that added the sender); what only a leader sends (appends,
  heartbeats, snapshots, TimeoutNow) is taken only from a sender that could lead that
  term; a leader takes acknowledgements only of what it sent. Only the failing message is
  dropped. Whether a forced campaign (leader transfer) may override a leader's lease is
  decided by the core itself (`RaftNode._forced_by_transfer`).

Ranges. The WAL stores terms, indexes and node ids as u64 and protobuf carries them as
uint64, but the core adds one to a term for each campaign and pre-vote, so a stored term
must leave room above it: terms, indexes and node ids stop at 2^63 - 1 (which also keeps
them valid as signed 64-bit numbers for every tool that reads them). A sane cluster is far
from that: one election a millisecond for 290 million years. Within that range a term far
above ours is legal Raft (a node that campaigned alone for a long time), but no cluster
reaches a jump of MAX_TERM_JUMP (one election every 20 ms for 2.7 years), while a forger
could otherwise move a group to the top in a single message: such a jump is refused.
Group ids are protobuf uint32; an AppendEntries carries at most MAX_APPEND_ENTRIES
entries (64 times what a leader sends, RaftConfig.max_append_entries).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from node.raft import confchange
from node.raft.confchange import ConfChangeType, InvalidConfChange
from node.raft.messages import (
    AppendEntries,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Message,
    RequestVote,
    SnapshotResponse,
    TimeoutNow,
    VoteResponse,
)
from node.raft.ready import Role
from node.raft.types import ConfState, Entry, EntryType

if TYPE_CHECKING:
    from node.raft.core import RaftNode

MAX_TERM = (1 << 63) - 1
MAX_INDEX = (1 << 63) - 1
MAX_NODE_ID = (1 << 63) - 1
MAX_GROUP = (1 << 32) - 1
MAX_STAMP = (1 << 64) - 1
MAX_TERM_JUMP = 1 << 32
MAX_APPEND_ENTRIES = 1 << 16
MAX_MEMBERS = 1024  # voters and learners of one group
MAX_SNAPSHOT_BYTES = 1 << 40

_NORMAL = EntryType.NORMAL
_CONF_CHANGE = EntryType.CONF_CHANGE
_LEADER = Role.LEADER


class Rejection(NamedTuple):
    reason: str  # a fixed phrase (what rate-limited logging counts by)
    detail: str  # with the numbers of this message

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


# ------------------------------------------------------------------ stage 1: the message


def check_batch(messages: Sequence[Message], sender: int, receiver: int) -> Rejection | None:
    """The first problem with any message of a batch `sender` sent to node `receiver`."""
    for message in messages:
        rejection = check_message(message, sender, receiver)
        if rejection is not None:
            return rejection
    return None


def check_message(message: Message, sender: int, receiver: int) -> Rejection | None:
    """What is wrong with one message on its own, or None."""
    check = _SHAPES.get(type(message))
    if check is None:
        return Rejection("not a Raft message", type(message).__name__)
    name = type(message).__name__
    if message.src != sender or not 0 < sender <= MAX_NODE_ID:
        return Rejection("wrong sender", f"{name} from {message.src} in a batch of {sender}")
    if message.dst != receiver or sender == receiver:
        return Rejection("wrong receiver", f"{name} for {message.dst} received by {receiver}")
    if not 0 <= message.group <= MAX_GROUP:
        return Rejection("group out of range", f"{name} for group {message.group}")
    if not 0 <= message.term <= MAX_TERM:
        return Rejection("term out of range", f"{name} with term {message.term}")
    problem = check(message)
    if problem is not None:
        return Rejection(problem, f"{name} of group {message.group}, term {message.term}")
    return None


def _index(value: int) -> bool:
    return 0 <= value <= MAX_INDEX


def _stamp(value: int) -> bool:
    return 0 <= value <= MAX_STAMP


def _append(message: AppendEntries) -> str | None:
    prev, prev_term, term = message.prev_index, message.prev_term, message.term
    if not _index(prev) or not _index(message.commit) or not _stamp(message.stamp):
        return "index, commit or stamp out of range"
    # Index 0 is the empty log's (term 0); every entry has a term of at least 1.
    if not (0 < prev_term <= term if prev else prev_term == 0):
        return "previous term out of range"
    entries = message.entries
    if not entries:
        return None
    if len(entries) > MAX_APPEND_ENTRIES or prev + len(entries) > MAX_INDEX:
        return "too many entries"
    return _check_entries(entries, prev + 1, max(prev_term, 1), term)


def _check_entries(
    entries: Sequence[Entry], first: int, low_term: int, high_term: int
) -> str | None:
    """Entries `first`, `first + 1`, ... with terms that never decrease, from `low_term` up
    to `high_term`, of a known type; membership changes that decode."""
    expected = first
    floor = low_term
    for entry in entries:
        if entry.index != expected:
            return "entries do not follow each other"
        term = entry.term
        if not floor <= term <= high_term:
            return "entry terms out of order or range"
        floor = term
        expected += 1
        kind = entry.type
        if kind != _NORMAL:
            if kind != _CONF_CHANGE:
                return "unknown entry type"
            problem = _conf_change_entry(entry)
            if problem is not None:
                return problem
    return None


def _conf_change_entry(entry: Entry) -> str | None:
    try:
        change = confchange.decode(entry.data)
    except InvalidConfChange:
        return "undecodable membership change"
    if change.type is ConfChangeType.SET:
        if entry.index != 1:  # only a new group's first entry (confchange.bootstrap_state)
            return "membership set after the first entry"
        return _conf_problem(ConfState(change.voters, change.learners))
    if not 0 < change.node_id <= MAX_NODE_ID:
        return "membership change of an invalid node id"
    return None


def _conf_problem(conf: ConfState) -> str | None:
    ids = (*conf.voters, *conf.learners)
    if not conf.voters or len(ids) > MAX_MEMBERS:
        return "membership without voters or too large"
    if len(set(ids)) != len(ids) or not all(0 < node <= MAX_NODE_ID for node in ids):
        return "membership with a repeated or invalid node id"
    return None


def _heartbeat(message: Heartbeat) -> str | None:
    if not _index(message.commit) or not _stamp(message.stamp):
        return "commit or stamp out of range"
    return None


def _append_response(message: AppendResponse) -> str | None:
    if not _index(message.index) or not _stamp(message.stamp):
        return "index or stamp out of range"
    if message.reject and not (
        0 <= message.hint_index <= message.index and 0 <= message.hint_term <= message.term
    ):
        return "rejection hint out of range"
    return None


def _heartbeat_response(message: HeartbeatResponse) -> str | None:
    return None if _stamp(message.stamp) else "stamp out of range"


def _vote(message: RequestVote) -> str | None:
    last, last_term = message.last_index, message.last_term
    if not _index(last) or not (0 < last_term <= message.term if last else last_term == 0):
        return "last log position out of range"
    if message.term == 0:
        return "campaign for term 0"
    if message.force and message.pre:
        return "forced pre-vote"  # only a real campaign is forced (TimeoutNow)
    return None


def _vote_response(message: VoteResponse) -> str | None:
    return None


def _snapshot(message: InstallSnapshot) -> str | None:
    meta = message.meta
    if not 0 < meta.index <= MAX_INDEX or not 0 < meta.term <= message.term:
        return "snapshot index or term out of range"
    if not _stamp(message.stamp):
        return "stamp out of range"
    if not 0 <= message.offset <= MAX_SNAPSHOT_BYTES - len(message.data):
        return "snapshot chunk out of range"
    return _conf_problem(meta.conf)


def _snapshot_response(message: SnapshotResponse) -> str | None:
    if not _index(message.index) or not _stamp(message.stamp):
        return "index or stamp out of range"
    if not 0 <= message.next_offset <= MAX_SNAPSHOT_BYTES:
        return "snapshot offset out of range"
    return None


def _timeout_now(message: TimeoutNow) -> str | None:
    return "campaign for term 0" if message.term == 0 else None


_SHAPES: dict[type, Callable] = {
    AppendEntries: _append,
    AppendResponse: _append_response,
    Heartbeat: _heartbeat,
    HeartbeatResponse: _heartbeat_response,
    RequestVote: _vote,
    VoteResponse: _vote_response,
    InstallSnapshot: _snapshot,
    SnapshotResponse: _snapshot_response,
    TimeoutNow: _timeout_now,
}

# ------------------------------------------------------------------ stage 2: the replica

_FROM_LEADER = (AppendEntries, Heartbeat, InstallSnapshot, TimeoutNow)


def check_for_replica(node: RaftNode, message: Message) -> Rejection | None:
    """What the replica `node` cannot take from this (well-formed) message, or None."""
    term = message.term
    own_term = node.term
    src = message.src
    if term > own_term + MAX_TERM_JUMP:
        return Rejection("term jump", f"term {term}, ours {own_term}")
    voters, members = node.membership.members_from(node.log.committed)
    # A replica that knows no membership (added to a group, learning all from its leader)
    # cannot judge a sender; one that heard from no leader for an election timeout may be
    # lagging behind the change that made the sender a voter (it would never catch up if
    # it refused that new voter's leadership or its campaign). A replica that follows a
    # live leader takes neither from a node it does not know as a voter.
    open_to_strangers = not voters or not node.follows_live_leader
    if isinstance(message, _FROM_LEADER):
        if (
            src not in voters
            and not open_to_strangers
            and not (term == own_term and src == node.term_leader)  # taken already
        ):
            return Rejection(
                "leader message from a non-voter", f"{type(message).__name__} from {src}"
            )
        if term == own_term:
            leader = node.term_leader
            if node.role is _LEADER or (leader and src != leader):
                return Rejection(
                    "leader message from a node that is not the leader",
                    f"{type(message).__name__} of term {term} from {src}, whose leader is {leader}",
                )
        if isinstance(message, TimeoutNow) and (
            term > own_term or (term == own_term and src != node.term_leader)
        ):  # (one of an earlier term is ignored by the core)
            return Rejection(
                "TimeoutNow not from our leader",
                f"term {term} from {src}; ours {own_term}, leader {node.term_leader}",
            )
        return None
    if isinstance(message, RequestVote):
        if src not in voters and not open_to_strangers:
            return Rejection("vote request from a non-voter", f"from {src}")
        return None
    if isinstance(message, VoteResponse):
        if src not in voters and voters:  # we asked only voters
            return Rejection("vote from a non-voter", f"from {src}")
        return None
    # Answers to a leader.
    if src not in members and voters:
        return Rejection("answer from a non-member", f"{type(message).__name__} from {src}")
    if term != own_term or node.role is not _LEADER:
        return None  # the core ignores it or steps down: nothing to compare with
    if message.stamp > node.stamp:
        return Rejection(
            "echo of a stamp never sent", f"stamp {message.stamp} from {src}, ours {node.stamp}"
        )
    if isinstance(message, AppendResponse):
        if not message.reject and message.index > node.log.last_index():
            return Rejection(
                "acknowledgement beyond our log",
                f"index {message.index} from {src}, our last {node.log.last_index()}",
            )
    elif isinstance(message, SnapshotResponse):
        snapshot = node.snapshot
        if (
            snapshot is not None
            and snapshot.meta.index == message.index
            and message.next_offset > len(snapshot.data)
        ):
            return Rejection(
                "snapshot offset beyond the snapshot",
                f"offset {message.next_offset} from {src}, size {len(snapshot.data)}",
            )
    return None


# ------------------------------------------------------------------ logging


class RejectionLog:
    """Which rejections to log: the first of each (sender, reason) per `interval` (in the
    caller's unit of time: seconds, ticks), with the number left out since. Bounded: a
    flood of distinct keys only resets it."""

    MAX_KEYS = 4096

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[tuple[int, str], tuple[float, int]] = {}

    def admit(self, sender: int, reason: str, now: float) -> int | None:
        """None: stay quiet. Otherwise log now; the value is how many were left out."""
        key = (sender, reason)
        seen = self._last.get(key)
        if seen is not None and now - seen[0] < self.interval:
            self._last[key] = (seen[0], seen[1] + 1)
            return None
        if seen is None and len(self._last) >= self.MAX_KEYS:
            self._last.clear()
        self._last[key] = (now, 0)
        return seen[1] if seen is not None else 0
