"""The router's side of one cross-shard attempt, sans-IO: PREPARE everywhere, DECIDE (or
RESOLVE) on the coordinator, then COMMIT/ABORT/RELEASE to the others, resending whatever is
unanswered. Everything that matters for safety is in the shards' logs; this state may be
lost with its router at any moment (docs/CROSS-SHARD.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from proto.xshard_messages import (
    Abort,
    Commit,
    Decide,
    Decision,
    Executed,
    Executor,
    Failed,
    Finished,
    Mode,
    Prepare,
    Prepared,
    Refused,
    RefusedReason,
    Release,
    Reply,
    Request,
    Resolve,
    TxnId,
    Value,
)

Send = tuple[int, Request]  # (shard, request) for that shard's leader


class Phase(Enum):
    PREPARING = "preparing"
    DECIDING = "deciding"
    FINISHING = "finishing"
    DONE = "done"


class Result(Enum):
    COMMITTED = "committed"
    ABORTED = "aborted"  # nothing was written
    UNKNOWN = "unknown"  # the coordinator could not be asked in time


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    reply: object
    retry: bool  # aborted by a conflict: a new attempt may succeed
    timed_out: bool


class TxnDriver:
    __slots__ = (
        "_all_held",
        "_deadline",
        "_executor",
        "_give_up",
        "_last_send",
        "_numbers",
        "_read",
        "_refused",
        "_resend",
        "_timed_out",
        "coordinator",
        "keys",
        "outcome",
        "outstanding",
        "phase",
        "program",
        "read_only",
        "txn",
        "values",
    )

    def __init__(
        self,
        txn: TxnId,
        keys: dict[int, tuple[tuple[bytes, Mode], ...]],
        coordinator: int,
        program: object,
        now: int,
        timeout: int,
        resend: int,
        read_executor: Executor,
    ) -> None:
        if coordinator not in keys:
            raise ValueError("the coordinator must be a participant")
        self.txn = txn
        self.keys = keys
        self.coordinator = coordinator
        self.program = program
        self.read_only = all(mode is Mode.READ for part in keys.values() for _, mode in part)
        self._executor = read_executor
        self._deadline = now + timeout
        self._give_up = now + 2 * timeout  # past it the outcome is reported unknown
        self._resend = resend
        self._last_send = now
        self._refused: RefusedReason | None = None
        self._timed_out = False
        self._all_held = True
        self._numbers: dict[int, int] = {}
        self._read: Executed | Failed | None = None
        self.phase = Phase.PREPARING
        self.values: dict[int, tuple[tuple[bytes, Value], ...]] = {}
        self.outstanding: dict[int, Request] = {}
        self.outcome: Outcome | None = None

    def start(self) -> list[Send]:
        participants = tuple(sorted(self.keys))
        for shard, part in self.keys.items():
            self.outstanding[shard] = Prepare(
                self.txn, self.coordinator, participants, part, self.read_only
            )
        return list(self.outstanding.items())

    def on_reply(self, shard: int, reply: Reply, now: int) -> list[Send]:
        if reply.txn != self.txn or shard not in self.outstanding:
            return []  # a duplicate, or a reply of another attempt
        if self.phase is Phase.PREPARING:
            return self._on_prepare_reply(shard, reply, now)
        if self.phase is Phase.DECIDING and isinstance(reply, Decision):
            return self._on_decision(reply, now)
        if self.phase is Phase.FINISHING and isinstance(reply, Finished):
            del self.outstanding[shard]
            self._all_held = self._all_held and reply.held
            if not self.outstanding:
                self.phase = Phase.DONE
                self._answer_read()
        return []

    def on_tick(self, now: int) -> list[Send]:
        if self.phase is Phase.DONE:
            return []
        if now >= self._give_up:
            if self.outcome is None:
                self.outcome = Outcome(
                    Result.UNKNOWN, "cross-shard transaction timed out", False, True
                )
            self.phase = Phase.DONE  # the participants' own timeouts finish it
            return []
        if now >= self._deadline and not self._timed_out and self.outcome is None:
            self._timed_out = True
            return self._abandon(now)
        if now - self._last_send < self._resend:
            return []
        self._last_send = now
        return list(self.outstanding.items())

    def _on_prepare_reply(self, shard: int, reply: Reply, now: int) -> list[Send]:
        if isinstance(reply, Prepared):
            self.values[shard] = reply.values
            self._numbers[shard] = reply.number
            del self.outstanding[shard]
            if not self.outstanding:
                return self._all_prepared(now)
            return []
        if isinstance(reply, Refused):
            self._refused = reply.reason
            return self._abandon(now)
        return []

    def _abandon(self, now: int) -> list[Send]:
        """Stop preparing or deciding: read-only releases its locks; a writing attempt asks
        the coordinator to abort (the answer may be that it committed)."""
        self._last_send = now
        if self.read_only:
            reason = "cross-shard transaction timed out" if self._timed_out else "conflict"
            self.outcome = Outcome(Result.ABORTED, reason, not self._timed_out, self._timed_out)
            return self._finish({shard: Release(self.txn) for shard in self.keys})
        self.phase = Phase.DECIDING
        self.outstanding = {self.coordinator: Resolve(self.txn, None)}
        return list(self.outstanding.items())

    def _all_prepared(self, now: int) -> list[Send]:
        self._last_send = now
        inputs = tuple(
            (shard, key, mode, value)
            for shard, part in sorted(self.keys.items())
            for (key, mode), (_, value) in zip(part, self.values[shard], strict=True)
        )
        if self.read_only:
            # The values are a consistent cut only if no shard's shared locks ran out before
            # the last PREPARE: the answer waits for every RELEASE to say they held.
            self._read = self._executor(
                self.program, {key: value for _, key, _, value in inputs}, now
            )
            return self._finish({shard: Release(self.txn) for shard in self.keys})
        self.phase = Phase.DECIDING
        numbers = tuple(sorted(self._numbers.items()))
        decide = Decide(self.txn, inputs, self.program, numbers)
        self.outstanding = {self.coordinator: decide}
        return list(self.outstanding.items())

    def _answer_read(self) -> None:
        result = self._read
        if self.outcome is not None or result is None:
            return
        if not self._all_held:
            self.outcome = Outcome(Result.ABORTED, "conflict", True, False)
        elif isinstance(result, Executed):
            self.outcome = Outcome(Result.COMMITTED, result.reply, False, False)
        else:
            self.outcome = Outcome(Result.ABORTED, result.error, False, False)

    def _on_decision(self, decision: Decision, now: int) -> list[Send]:
        self._last_send = now
        if decision.committed:
            self.outcome = Outcome(Result.COMMITTED, decision.reply, False, False)
        else:
            retry = self._refused is RefusedReason.LOCKED and not self._timed_out
            self.outcome = Outcome(Result.ABORTED, decision.reply, retry, self._timed_out)
        follow: dict[int, Request] = {}
        for shard in self.keys:
            if shard == self.coordinator:
                continue  # settled in the same entry as the decision
            if decision.committed:
                mine = tuple(
                    (key, value) for owner, key, value in decision.writes if owner == shard
                )
                follow[shard] = Commit(self.txn, mine, dict(decision.numbers).get(shard, 0))
            else:
                follow[shard] = Abort(self.txn)
        return self._finish(follow)

    def _finish(self, follow: dict[int, Request]) -> list[Send]:
        self.phase = Phase.FINISHING if follow else Phase.DONE
        self.outstanding = follow
        return list(follow.items())
