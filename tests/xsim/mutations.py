"""Deliberate bugs, to show what the checker catches: `python -m tests.xsim.mutations NAME
[--seeds N]` runs seeds 0..N-1 with the bug in and prints how many fail (the table in
docs/CROSS-SHARD.md). Each bug replaces one method for the life of the process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from node.xshard.state import Record, SendTo, ShardTxnState, Status
from proto.xshard_messages import Commit, Decide, Decision, Forget, Resolve
from router import xshard_driver
from router.xshard_driver import Outcome, Result, TxnDriver
from tests.xsim import checker
from tests.xsim.runner import run_seed


def no_tombstone() -> None:
    """RESOLVE of an unknown transaction answers ABORTED but records nothing."""
    original = ShardTxnState.apply_resolve

    def apply_resolve(self: ShardTxnState, request: Resolve, now: int) -> Decision:
        if request.txn not in self.records:
            return Decision(request.txn, False, (), "aborted")
        return original(self, request, now)

    ShardTxnState.apply_resolve = apply_resolve  # type: ignore[method-assign]


def forget_early() -> None:
    """Records forgotten 50 ms after their decision, without acknowledgements."""
    original = ShardTxnState.due

    def due(self: ShardTxnState, now: int) -> list[SendTo]:
        actions = original(self, now)
        for txn, record in self.records.items():
            if record.status is not Status.PENDING and now - record.since > 50:
                actions.append(SendTo(self.shard, Forget(txn)))
        return actions

    ShardTxnState.due = due  # type: ignore[method-assign]


def ignore_held() -> None:
    """A read-only answer that does not wait for RELEASE to confirm its locks held."""
    original = TxnDriver._answer_read

    def answer_read(self: TxnDriver) -> None:
        self._all_held = True
        original(self)

    TxnDriver._answer_read = answer_read  # type: ignore[method-assign]


def reads_ignore_locks() -> None:
    """Single-shard reads do not wait for write locks."""
    original = ShardTxnState.blocks

    def blocks(self: ShardTxnState, keys: list[bytes], write: bool) -> bool:
        return write and original(self, keys, write)

    ShardTxnState.blocks = blocks  # type: ignore[method-assign]


def reads_ignore_locks_no_real_time() -> None:
    """The same, checked without the real-time edges of the serialization graph."""
    reads_ignore_locks()
    checker._real_time = lambda history, successors: None


def answer_before_decide() -> None:
    """The router answers "committed" once every PREPARE is in, before DECIDE."""
    original = TxnDriver._all_prepared

    def all_prepared(self: TxnDriver, now: int) -> list[xshard_driver.Send]:
        sends = original(self, now)
        if not self.read_only and self.outcome is None:
            self.outcome = Outcome(Result.COMMITTED, None, False, False)
        return sends

    TxnDriver._all_prepared = all_prepared  # type: ignore[method-assign]


def commit_anywhere() -> None:
    """COMMIT installs its writes even where nothing is prepared."""
    original = ShardTxnState.apply_commit

    def apply_commit(self: ShardTxnState, request: Commit) -> object:
        if request.txn not in self.prepared:
            for key, value in request.writes:
                self.store.put(key, value)
        return original(self, request)

    ShardTxnState.apply_commit = apply_commit  # type: ignore[method-assign, assignment]


def decide_ignores_number() -> None:
    """DECIDE runs on a record whatever preparation made it."""
    original = ShardTxnState.apply_decide

    def apply_decide(self: ShardTxnState, request: Decide, now: int) -> Decision:
        record: Record | None = self.records.get(request.txn)
        if record is not None and record.decision is None:
            numbers = tuple(
                (shard, record.number if shard == self.shard else number)
                for shard, number in request.numbers
            )
            request = Decide(request.txn, request.inputs, request.program, numbers)
        return original(self, request, now)

    ShardTxnState.apply_decide = apply_decide  # type: ignore[method-assign]


def commit_ignores_number() -> None:
    """COMMIT installs over whatever preparation it finds."""
    original = ShardTxnState.apply_commit

    def apply_commit(self: ShardTxnState, request: Commit) -> object:
        entry = self.prepared.get(request.txn)
        if entry is not None:
            request = Commit(request.txn, request.writes, entry.number)
        return original(self, request)

    ShardTxnState.apply_commit = apply_commit  # type: ignore[method-assign, assignment]


BUGS: dict[str, Callable[[], None]] = {
    bug.__name__: bug
    for bug in (
        no_tombstone,
        forget_early,
        ignore_held,
        reads_ignore_locks,
        reads_ignore_locks_no_real_time,
        answer_before_decide,
        commit_anywhere,
        decide_ignores_number,
        commit_ignores_number,
    )
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.xsim.mutations", description=__doc__)
    parser.add_argument("bug", choices=sorted(BUGS))
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args(argv)
    BUGS[args.bug]()
    failing = [result for seed in range(args.seeds) if not (result := run_seed(seed)).ok]
    print(f"{args.bug}: {len(failing)} of {args.seeds} seeds fail")
    if failing:
        print(f"  first: seed {failing[0].seed}: {failing[0].error[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
