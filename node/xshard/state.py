"""The replicated cross-shard state of one shard: the participant's locks and prepared
transactions, and the coordinator's transaction records (docs/CROSS-SHARD.md).

Every `apply_*` runs from a log entry on every replica: total, deterministic, bounded, with
the entry's time as `now`. `due` is the leader's question "what is overdue", answered from
the replicated state; what the leader does with the answer goes through the log again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from node.xshard.locks import LockTable
from proto.xshard_messages import (
    Abort,
    Commit,
    Decide,
    Decision,
    Executor,
    Failed,
    Finished,
    Forget,
    Mode,
    Prepare,
    Prepared,
    Refused,
    RefusedReason,
    Release,
    Request,
    Resolve,
    TxnId,
    Value,
)


class Store(Protocol):
    """The shard's key space as the protocol sees it (the engine's DUMP/RESTORE)."""

    def get(self, key: bytes) -> Value: ...

    def put(self, key: bytes, value: Value) -> None: ...


@dataclass(frozen=True, slots=True)
class XshardConfig:
    lock_timeout: int = 5_000  # ms of log time a prepared lock waits before asking
    retention: int = 60_000  # ms a decided record is kept before it may be forgotten
    max_keys: int = 64  # keys of one transaction
    max_bytes: int = 16 << 20  # bytes of values one PREPARE returns


class Status(Enum):
    PENDING = "pending"
    COMMITTED = "committed"
    ABORTED = "aborted"


@dataclass(slots=True)
class Record:
    status: Status
    participants: tuple[int, ...]
    since: int
    decision: Decision | None = None
    number: int = 0  # this shard's count of records made, when this one was


@dataclass(slots=True)
class PreparedTxn:
    coordinator: int
    keys: dict[bytes, Mode]
    since: int
    read_only: bool
    number: int = 0


@dataclass(frozen=True, slots=True)
class SendTo:
    """An overdue action: send `request` to `shard`'s leader (may be this shard)."""

    shard: int
    request: Request


@dataclass(slots=True)
class ShardTxnState:
    shard: int
    store: Store
    executor: Executor
    config: XshardConfig = field(default_factory=XshardConfig)
    # Skips the isolation step (no lock is taken or checked): only for the simulation's
    # proof that its checker catches the anomalies that follow.
    unsafe: bool = False
    locks: LockTable = field(default_factory=LockTable)
    prepared: dict[TxnId, PreparedTxn] = field(default_factory=dict)
    records: dict[TxnId, Record] = field(default_factory=dict)
    numbered: int = 0  # preparations and records made so far: each gets the next number

    # -- what single-shard commands see

    def blocks(self, keys: list[bytes], write: bool) -> bool:
        """Whether a plain command on `keys` must wait (answered -TRYAGAIN, retried)."""
        if not len(self.locks):
            return False
        return any(self.locks.blocks(key, write) for key in keys)

    # -- participant

    def apply_prepare(self, request: Prepare, now: int) -> Prepared | Refused:
        txn = request.txn
        if len(request.keys) > self.config.max_keys:
            return Refused(txn, self.shard, RefusedReason.LIMIT)
        record = self.records.get(txn)
        if record is not None and record.status is not Status.PENDING:
            return Refused(txn, self.shard, RefusedReason.ABORTED)
        if not self.unsafe and not all(
            self.locks.can_take(txn, key, mode) for key, mode in request.keys
        ):
            return Refused(txn, self.shard, RefusedReason.LOCKED)
        values = tuple((key, self.store.get(key)) for key, _ in request.keys)
        if sum(len(value) for _, value in values if value is not None) > self.config.max_bytes:
            return Refused(txn, self.shard, RefusedReason.LIMIT)
        entry = self.prepared.get(txn)
        if entry is None:
            self.numbered += 1
            entry = PreparedTxn(request.coordinator, {}, now, request.read_only, self.numbered)
            self.prepared[txn] = entry
        for key, mode in request.keys:
            if not self.unsafe:
                self.locks.take(txn, key, mode)
            if entry.keys.get(key) is not Mode.WRITE:
                entry.keys[key] = mode
        if request.coordinator == self.shard and record is None and not request.read_only:
            record = Record(Status.PENDING, request.participants, now, None, entry.number)
            self.records[txn] = record
        return Prepared(txn, self.shard, values, entry.number)

    def apply_commit(self, request: Commit) -> Finished:
        entry = self.prepared.pop(request.txn, None)
        # Only the preparation the decision read is installed over; another one (a late
        # PREPARE's, after the transaction finished here) is just freed.
        if entry is not None and not entry.read_only and entry.number == request.number:
            for key, value in request.writes:
                if entry.keys.get(key) is Mode.WRITE:
                    self.store.put(key, value)
        if entry is not None:
            self._unlock(request.txn, entry)
        return Finished(request.txn, self.shard, entry is not None)

    def apply_abort(self, request: Abort) -> Finished:
        entry = self.prepared.pop(request.txn, None)
        if entry is not None:
            self._unlock(request.txn, entry)
        return Finished(request.txn, self.shard, entry is not None)

    def apply_release(self, request: Release) -> Finished:
        entry = self.prepared.get(request.txn)
        # Only shared locks end without a decision: write locks wait for the coordinator.
        held = entry is not None and entry.read_only
        if entry is not None and entry.read_only:
            del self.prepared[request.txn]
            self._unlock(request.txn, entry)
        return Finished(request.txn, self.shard, held)

    def follow_up(self, decision: Decision) -> Commit | Abort:
        """What this participant applies once it learns `decision`."""
        return self._finish_for(self.shard, decision)

    def _unlock(self, txn: TxnId, entry: PreparedTxn) -> None:
        if self.unsafe:
            return
        for key in entry.keys:
            self.locks.release(txn, key)

    # -- coordinator

    def apply_decide(self, request: Decide, now: int) -> Decision:
        txn = request.txn
        record = self.records.get(txn)
        if record is None:
            # Never begun here, or decided and forgotten long ago: nothing may run now.
            return Decision(txn, False, (), "transaction unknown to its coordinator")
        if record.decision is not None:
            return record.decision
        if record.number != dict(request.numbers).get(self.shard):
            return Decision(txn, False, (), "a DECIDE older than its coordinator's record")
        decision = self._run(request, now)
        record.status = Status.COMMITTED if decision.committed else Status.ABORTED
        record.decision = decision
        self._settle_locally(decision)
        return decision

    def _run(self, request: Decide, now: int) -> Decision:
        txn = request.txn
        inputs = {key: value for _, key, _, value in request.inputs}
        writable = {key: shard for shard, key, mode, _ in request.inputs if mode is Mode.WRITE}
        result = self.executor(request.program, inputs, now)
        if isinstance(result, Failed):
            return Decision(txn, False, (), result.error)
        if any(key not in writable for key in result.writes):
            return Decision(txn, False, (), "transaction wrote a key it did not prepare")
        writes = tuple((writable[key], key, value) for key, value in sorted(result.writes.items()))
        return Decision(txn, True, writes, result.reply, request.numbers)

    def apply_resolve(self, request: Resolve, now: int) -> Decision:
        txn = request.txn
        record = self.records.get(txn)
        if record is None:
            # A tombstone: a PREPARE of this transaction arriving later is refused.
            asker = () if request.asker is None else (request.asker,)
            self.numbered += 1
            record = Record(Status.ABORTED, asker, now, None, self.numbered)
            self.records[txn] = record
        if record.decision is None:
            record.status = Status.ABORTED
            record.decision = Decision(txn, False, (), "cross-shard transaction aborted")
            self._settle_locally(record.decision)
        return record.decision

    def apply_forget(self, request: Forget) -> None:
        record = self.records.get(request.txn)
        if record is not None and record.status is not Status.PENDING:
            del self.records[request.txn]

    def _settle_locally(self, decision: Decision) -> None:
        """The coordinator is a participant too: it applies its part of the decision in the
        same entry."""
        if decision.txn in self.prepared:
            follow = self.follow_up(decision)
            if isinstance(follow, Commit):
                self.apply_commit(follow)
            else:
                self.apply_abort(follow)

    # -- what the leader must do

    def due(self, now: int) -> list[SendTo]:
        """Overdue work, from the replicated state: locks held past the timeout and
        records past their retention. Bounded by the two tables' sizes."""
        actions: list[SendTo] = []
        for txn, entry in self.prepared.items():
            if now - entry.since < self.config.lock_timeout:
                continue
            if entry.read_only:
                actions.append(SendTo(self.shard, Release(txn)))
            else:
                actions.append(SendTo(entry.coordinator, Resolve(txn, self.shard)))
        for txn, record in self.records.items():
            if record.status is Status.PENDING:
                continue  # its own prepared entry above resolves it
            if now - record.since < self.config.retention:
                continue
            others = [shard for shard in record.participants if shard != self.shard]
            if not others:
                actions.append(SendTo(self.shard, Forget(txn)))
            for shard in record.participants:
                if shard != self.shard and record.decision is not None:
                    actions.append(SendTo(shard, self._finish_for(shard, record.decision)))
        return actions

    def _finish_for(self, shard: int, decision: Decision) -> Commit | Abort:
        if not decision.committed:
            return Abort(decision.txn)
        mine = tuple((key, value) for owner, key, value in decision.writes if owner == shard)
        return Commit(decision.txn, mine, dict(decision.numbers).get(shard, 0))

    def apply(self, request: Request, now: int) -> object:
        """One log entry of the protocol; every kind is accepted (total)."""
        if isinstance(request, Prepare):
            return self.apply_prepare(request, now)
        if isinstance(request, Decide):
            return self.apply_decide(request, now)
        if isinstance(request, Resolve):
            return self.apply_resolve(request, now)
        if isinstance(request, Commit):
            return self.apply_commit(request)
        if isinstance(request, Abort):
            return self.apply_abort(request)
        if isinstance(request, Release):
            return self.apply_release(request)
        self.apply_forget(request)
        return None
