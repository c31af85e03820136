"""Safety checkers of the simulation. Each raises SafetyViolation with what went wrong.

- Election safety: at most one leader per group and term.
- Log matching: an (index, term) pair identifies one entry and the term of its predecessor,
  checked for every entry any replica puts into its log (they all pass through a Ready),
  which by induction makes logs with a common (index, term) identical up to there.
- Leader completeness: whenever a leader's commit index moves, the commit is recorded with
  the leader's term; every leader of a later term must hold that entry.
- State machine safety: every replica applies, at each index, the entry every other replica
  applied there (one global applied sequence per group), contiguously; and a shard entry
  (the adversarial client's) leaves every replica with the same state digest and replies.
- Linearizable reads (a register per key, unique writes ordered by log index): a read must
  observe a write at least as recent as every write applied anywhere (hence committed,
  possibly acknowledged) before the read was invoked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.raft import Entry, RaftNode, Role, Snapshot


class SafetyViolation(AssertionError):
    pass


@dataclass(slots=True)
class _Commit:
    term: int  # the term of the leader that committed
    index: int
    entry_term: int


class Checker:
    def __init__(self) -> None:
        self.leaders: dict[tuple[int, int], int] = {}
        self.log_ids: dict[tuple[int, int, int], tuple[bytes, int]] = {}
        self.applied: dict[int, list[tuple[int, bytes]]] = {}  # group -> [(term, data)], index-1
        self.last_write: dict[tuple[int, str], int] = {}
        self.commits: dict[int, list[_Commit]] = {}
        self.commit_seen: dict[tuple[int, int, int], int] = {}  # (group, node, term) -> commit
        self.cursors: dict[tuple[int, int, int], int] = {}  # leader -> commits checked
        self.snapshot_states: dict[tuple[int, int], bytes] = {}
        self.states: dict[tuple[int, int], bytes] = {}  # (group, index) -> state digest
        self.states_checked = 0
        self.reads_checked = 0
        self.max_term = 0

    # -- per Ready -------------------------------------------------------------------------

    def on_entries(self, group: int, node: RaftNode, entries: Sequence[Entry]) -> None:
        log = node.log
        log_ids = self.log_ids
        for entry in entries:
            prev_term = log.term(entry.index - 1)
            key = (group, entry.index, entry.term)
            seen = log_ids.get(key)
            if seen is None:
                log_ids[key] = (entry.data, prev_term if prev_term is not None else -1)
            elif seen[0] != entry.data or (
                prev_term is not None and seen[1] not in (prev_term, -1)
            ):
                raise SafetyViolation(
                    f"log matching: group {group} node {node.id} has a different entry or "
                    f"predecessor at index {entry.index} term {entry.term}"
                )

    def on_apply(self, group: int, node_id: int, entry: Entry) -> None:
        sequence = self.applied.setdefault(group, [])
        position = entry.index - 1
        if position < len(sequence):
            term, data = sequence[position]
            if term != entry.term or data != entry.data:
                raise SafetyViolation(
                    f"state machine safety: group {group} node {node_id} applied "
                    f"({entry.index}, term {entry.term}) where another replica applied term {term}"
                )
        elif position == len(sequence):
            sequence.append((entry.term, entry.data))
            if entry.data[:2] == b"w|":
                key = entry.data.decode().split("|", 2)[1]
                self.last_write[(group, key)] = entry.index
        else:
            raise SafetyViolation(
                f"state machine safety: group {group} node {node_id} applied {entry.index} "
                f"before anyone applied {len(sequence) + 1}"
            )

    def on_state(self, group: int, node_id: int, index: int, state: bytes) -> None:
        """The digest of a replica's state machine (and of the entry's replies) right after
        it applied `index`: the same on every replica."""
        self.states_checked += 1
        known = self.states.setdefault((group, index), state)
        if known != state:
            raise SafetyViolation(
                f"state machine determinism: group {group} node {node_id} reached another "
                f"state (or replies) than its peers by applying entry {index}"
            )

    def on_snapshot(self, group: int, node_id: int, snapshot: Snapshot, state: bytes) -> None:
        """A snapshot taken (state = its data) or installed at meta.index."""
        meta = snapshot.meta
        sequence = self.applied.get(group, [])
        if meta.index > len(sequence) or (meta.index and sequence[meta.index - 1][0] != meta.term):
            raise SafetyViolation(
                f"snapshot safety: group {group} node {node_id} has a snapshot at "
                f"({meta.index}, {meta.term}) that no replica applied"
            )
        key = (group, meta.index)
        known = self.snapshot_states.setdefault(key, state)
        if known != state:
            raise SafetyViolation(
                f"snapshot safety: group {group} node {node_id}: two different states at "
                f"{meta.index}"
            )

    # -- reads -----------------------------------------------------------------------------

    def read_floor(self, group: int, key: str) -> int:
        """The most recent write to `key` applied anywhere: a read starting now must see it."""
        return self.last_write.get((group, key), 0)

    def on_read(
        self, group: int, node_id: int, key: str, floor: int, observed: int, how: str
    ) -> None:
        self.reads_checked += 1
        if observed < floor:
            raise SafetyViolation(
                f"linearizability: group {group} node {node_id} {how} read of {key!r} saw the "
                f"write at index {observed} but the write at {floor} was applied before the "
                f"read started"
            )

    # -- per step --------------------------------------------------------------------------

    def on_replica(self, group: int, node: RaftNode) -> None:
        """Check a replica after a step (called for every live replica)."""
        if node.role is not Role.LEADER:
            return
        term = node.term
        holder = self.leaders.setdefault((group, term), node.id)
        if holder != node.id:
            raise SafetyViolation(
                f"election safety: group {group} has leaders {holder} and {node.id} in term {term}"
            )
        self.max_term = max(self.max_term, term)
        commits = self.commits.setdefault(group, [])
        seen_key = (group, node.id, term)
        committed = node.log.committed
        if committed > self.commit_seen.get(seen_key, 0):
            self.commit_seen[seen_key] = committed
            entry_term = node.log.term(committed)
            if entry_term is not None:
                commits.append(_Commit(term, committed, entry_term))
        cursor = self.cursors.get(seen_key, 0)
        if cursor == len(commits):
            return
        log = node.log
        for record in commits[cursor:]:
            if record.term >= term or record.index <= log.offset:
                continue  # not required of this leader / covered by its snapshot
            if log.term(record.index) != record.entry_term:
                raise SafetyViolation(
                    f"leader completeness: group {group} leader {node.id} of term {term} lacks "
                    f"entry {record.index} (term {record.entry_term}) committed in term "
                    f"{record.term}"
                )
        self.cursors[seen_key] = len(commits)
