"""How a caller handles a MultiReady: the one policy the node (node/host.py), the
deterministic simulation (tests/sim), the Raft test harness and the benchmarks all use.

A node hosts many groups and writes one WAL for all of them; a write is only durable once
its fsync returns. Waiting for that fsync before doing anything else would put a disk
flush on the path of every message, so `ReadyPolicy.plan` splits each MultiReady into what
may happen before the write is durable and what must wait for it:

    plan = policy.plan(batch)
    1. start writing plan.writes (per group, in order: snapshot, truncation, entries,
       hard state; a snapshot's file must be durable before its record is written);
    2. send plan.early: a leader's replication (AppendEntries, Heartbeat, InstallSnapshot)
       and a follower's answers to heartbeats, of a group whose term and vote are already
       durable. A leader may send its entries before its own copy is durable (Raft thesis,
       10.2.1), because the core counts the leader's own copy towards a commit only after
       `advance` says it is durable (RaftConfig.eager_commit=False): nothing commits on a
       copy that may still be lost. A heartbeat's answer promises nothing about the log
       (its term is durable, its stamp is the leader's): held until after a long apply it
       starved the leader's check-quorum, which then stepped down (as etcd, which never
       holds MsgHeartbeatResp for storage);
    3. apply what the batch commits (plan.batch.groups[g].snapshot, committed_entries) and
       answer its read states: committed entries are durable on a majority already, and a
       read state depends on no local write. Only the state machine, which lives in memory
       and is rebuilt from the log after a crash, runs ahead of the local disk;
    4. wait until the write is durable;
    5. send plan.late: acknowledgements and votes, which promise what the write made
       durable, and every message of a group whose term or vote changed in this batch (its
       term must be durable before it speaks in it);
    6. call multi.advance(plan.batch).

The policy also decides what must be written at all: a hard state whose term and vote did
not change is written only along with entries, a truncation or a snapshot (a commit index
alone need not survive a crash: the leader tells it again), as etcd's MustSync.

What a crash can do between the steps: after 2, the leader's unsynced entries are lost
locally and may exist only on followers (they commit once a majority acknowledged them,
the leader's own copy never counted); after 3, the state machine's progress is lost and
replayed from the log; in 1 itself, the WAL may keep a torn prefix of the write (recovery
cuts it, and the node rejoins with its votes held: node/identity.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from node.raft.messages import (
    AppendEntries,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    Message,
)
from node.raft.multi import MultiReady
from node.raft.types import Entry, HardState, Snapshot

# What a leader replicates, and a follower's answer to a heartbeat: may leave before the
# sender's own write is durable.
EARLY_KINDS: tuple[type, ...] = (AppendEntries, Heartbeat, InstallSnapshot, HeartbeatResponse)


@dataclass(frozen=True, slots=True)
class GroupWrite:
    """What one group's Ready asks to make durable, in this order."""

    group: int
    snapshot: Snapshot | None = None
    truncate_from: int | None = None
    entries: Sequence[Entry] = ()
    hard_state: HardState | None = None


@dataclass(slots=True)
class ReadyPlan:
    batch: MultiReady
    writes: list[GroupWrite] = field(default_factory=list)
    early: dict[int, list[Message]] = field(default_factory=dict)  # peer -> messages
    late: dict[int, list[Message]] = field(default_factory=dict)
    # Groups whose term or vote this batch makes durable: they send nothing early.
    new_terms: set[int] = field(default_factory=set)

    @property
    def must_sync(self) -> bool:
        return bool(self.writes)

    def leaves_early(self, message: Message) -> bool:
        """Whether this plan sends `message` before its write is durable."""
        return any(message is early for early in self.early.get(message.dst, ()))


class ReadyPolicy:
    """Splits MultiReady batches; remembers which term and vote each group has durable."""

    def __init__(self) -> None:
        self._durable_votes: dict[int, tuple[int, int]] = {}

    def restored(self, group: int, hard_state: HardState) -> None:
        """What the group's storage holds at start (or after it was created)."""
        self._durable_votes[group] = (hard_state.term, hard_state.vote)

    def forget(self, group: int) -> None:
        self._durable_votes.pop(group, None)

    def plan(self, batch: MultiReady) -> ReadyPlan:
        plan = ReadyPlan(batch)
        for group, ready in batch.groups.items():
            hard_state = ready.hard_state
            if hard_state is not None:
                vote = (hard_state.term, hard_state.vote)
                if vote != self._durable_votes.get(group):
                    plan.new_terms.add(group)
                    self._durable_votes[group] = vote
                elif not (ready.entries or ready.snapshot or ready.truncate_from is not None):
                    hard_state = None  # only the commit index moved
            truncates = ready.truncate_from is not None
            if ready.snapshot is not None or ready.entries or truncates or hard_state is not None:
                plan.writes.append(
                    GroupWrite(
                        group, ready.snapshot, ready.truncate_from, ready.entries, hard_state
                    )
                )
        new_terms = plan.new_terms
        for peer, messages in batch.outbox.items():
            for message in messages:
                early = self.sends_early(message) and message.group not in new_terms
                (plan.early if early else plan.late).setdefault(peer, []).append(message)
        return plan

    def sends_early(self, message: Message) -> bool:
        """Whether `message` may leave before this batch's write is durable (given that its
        group's term and vote are durable already)."""
        return type(message) in EARLY_KINDS
