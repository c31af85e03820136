"""The replicated cross-shard state of one shard (node/xshard/state.py): locks, records,
idempotent steps, tombstones, limits, and what is overdue."""

from __future__ import annotations

from node.xshard.state import SendTo, ShardTxnState, XshardConfig
from proto.xshard_messages import (
    Abort,
    Commit,
    Decide,
    Executed,
    Failed,
    Forget,
    Mode,
    Prepare,
    Prepared,
    Refused,
    RefusedReason,
    Release,
    Resolve,
    Value,
)

W, R = Mode.WRITE, Mode.READ
CONFIG = XshardConfig(lock_timeout=100, retention=1_000, max_keys=3, max_bytes=10)


class Store(dict[bytes, Value]):
    def get(self, key: bytes) -> Value:  # type: ignore[override]
        return super().get(key)

    def put(self, key: bytes, value: Value) -> None:
        self[key] = value


def swap(program: object, inputs: dict[bytes, Value], now: int) -> Executed | Failed:
    """Swaps the values of two keys; "fail" fails; "stray" writes a key it did not read."""
    if program == "fail":
        return Failed("ERR no")
    if program == "stray":
        return Executed({b"other": b"x"}, None)
    a, b = sorted(inputs)
    return Executed({a: inputs[b], b: inputs[a]}, "swapped")


def shard(number: int = 0, unsafe: bool = False) -> ShardTxnState:
    store = Store({b"a": b"1", b"b": b"2"})
    return ShardTxnState(number, store, swap, CONFIG, unsafe=unsafe)


def prepare(txn: tuple[int, int], keys: tuple[tuple[bytes, Mode], ...]) -> Prepare:
    return Prepare(txn, 0, (0, 1), keys, all(mode is R for _, mode in keys))


def test_prepare_locks_and_returns_values() -> None:
    state = shard()
    reply = state.apply_prepare(prepare((1, 1), ((b"a", W),)), now=5)
    assert reply == Prepared((1, 1), 0, ((b"a", b"1"),), number=1)
    assert state.blocks([b"a"], write=False) and not state.blocks([b"b"], write=True)
    assert state.apply_prepare(prepare((2, 1), ((b"a", R),)), 6) == Refused(
        (2, 1), 0, RefusedReason.LOCKED
    )
    # Re-entrant: a retried PREPARE gets the same values.
    assert state.apply_prepare(prepare((1, 1), ((b"a", W),)), 7) == reply


def test_shared_locks_let_readers_in_and_keep_writers_out() -> None:
    state = shard()
    assert isinstance(state.apply_prepare(prepare((1, 1), ((b"a", R),)), 0), Prepared)
    assert isinstance(state.apply_prepare(prepare((2, 1), ((b"a", R),)), 0), Prepared)
    assert not state.blocks([b"a"], write=False) and state.blocks([b"a"], write=True)
    assert isinstance(state.apply_prepare(prepare((3, 1), ((b"a", W),)), 0), Refused)
    state.apply_release(Release((1, 1)))
    state.apply_release(Release((2, 1)))
    assert not state.blocks([b"a"], write=True) and not len(state.locks)


def test_decide_runs_once_and_settles_the_coordinator() -> None:
    state = shard()
    state.apply_prepare(prepare((1, 1), ((b"a", W),)), 0)
    decide = Decide((1, 1), ((0, b"a", W, b"1"), (1, b"z", W, b"9")), "swap", ((0, 1),))
    decision = state.apply_decide(decide, 0)
    assert decision.committed and decision.reply == "swapped"
    assert decision.writes == ((0, b"a", b"9"), (1, b"z", b"1"))
    assert state.store.get(b"a") == b"9" and not len(state.locks) and not state.prepared
    # A retried DECIDE is answered from the record, not run again.
    assert state.apply_decide(decide, 0) is decision
    assert state.apply_resolve(Resolve((1, 1), None), 50) is decision


def test_a_failed_or_stray_program_aborts() -> None:
    for program in ("fail", "stray"):
        state = shard()
        state.apply_prepare(prepare((1, 1), ((b"a", W),)), 0)
        decision = state.apply_decide(Decide((1, 1), ((0, b"a", W, b"1"),), program, ((0, 1),)), 0)
        assert not decision.committed and state.store.get(b"a") == b"1"
        assert not len(state.locks)


def test_decide_without_a_record_runs_nothing() -> None:
    state = shard()
    decision = state.apply_decide(Decide((1, 1), ((0, b"a", W, b"1"),), "swap"), 0)
    assert not decision.committed and not state.records


def test_a_late_decide_meeting_a_record_made_anew_runs_nothing() -> None:
    """T committed and was forgotten; late copies of its PREPARE and DECIDE arrive: the
    PREPARE makes a new record (number 2), the DECIDE names number 1 and is refused."""
    state = shard()
    first = state.apply_prepare(prepare((1, 1), ((b"a", W),)), 0)
    assert isinstance(first, Prepared) and first.number == 1
    inputs = ((0, b"a", W, b"1"), (1, b"z", W, b"9"))
    decide = Decide((1, 1), inputs, "swap", ((0, first.number), (1, 7)))
    assert state.apply_decide(decide, 1).committed
    state.apply_forget(Forget((1, 1)))
    state.store.put(b"a", b"later")
    again = state.apply_prepare(prepare((1, 1), ((b"a", W),)), 2)
    assert isinstance(again, Prepared) and again.number == 2
    assert not state.apply_decide(decide, 3).committed
    assert state.store.get(b"a") == b"later" and state.records[(1, 1)].decision is None


def test_resolve_leaves_a_tombstone_that_refuses_a_late_prepare() -> None:
    state = shard()
    assert not state.apply_resolve(Resolve((1, 1), 1), 0).committed
    assert state.apply_prepare(prepare((1, 1), ((b"a", W),)), 1) == Refused(
        (1, 1), 0, RefusedReason.ABORTED
    )
    assert not len(state.locks)


def test_commit_installs_only_what_this_participant_prepared_for_writing() -> None:
    state = shard(1)
    state.apply_prepare(prepare((1, 1), ((b"a", W), (b"b", R))), 0)
    state.apply_commit(Commit((1, 1), ((b"a", b"new"), (b"b", b"no")), 1))
    assert state.store.get(b"a") == b"new" and state.store.get(b"b") == b"2"
    # A duplicate COMMIT finds nothing prepared and installs nothing.
    state.store.put(b"a", b"later")
    state.apply_commit(Commit((1, 1), ((b"a", b"new"),), 1))
    assert state.store.get(b"a") == b"later"


def test_a_commit_for_another_preparation_frees_without_installing() -> None:
    """A late PREPARE locked again after the transaction committed here; the decision's
    COMMIT (sent again by recovery) names the first preparation: nothing is installed twice."""
    state = shard(1)
    state.apply_prepare(prepare((1, 1), ((b"a", W),)), 0)
    state.apply_commit(Commit((1, 1), ((b"a", b"new"),), 1))
    state.store.put(b"a", b"later")
    again = state.apply_prepare(prepare((1, 1), ((b"a", W),)), 5)
    assert isinstance(again, Prepared) and again.number == 2
    finished = state.apply_commit(Commit((1, 1), ((b"a", b"new"),), 1))
    assert state.store.get(b"a") == b"later" and not state.blocks([b"a"], write=True)
    assert finished.held


def test_release_never_frees_write_locks() -> None:
    state = shard(1)
    state.apply_prepare(prepare((1, 1), ((b"a", W),)), 0)
    state.apply_release(Release((1, 1)))
    assert state.blocks([b"a"], write=False)
    state.apply_abort(Abort((1, 1)))
    assert not state.blocks([b"a"], write=False) and state.store.get(b"a") == b"1"


def test_limits() -> None:
    state = shard()
    keys = tuple((bytes([n]), W) for n in range(4))
    assert state.apply_prepare(prepare((1, 1), keys), 0) == Refused((1, 1), 0, RefusedReason.LIMIT)
    state.store.put(b"a", b"x" * 11)
    assert state.apply_prepare(prepare((2, 1), ((b"a", W),)), 0) == Refused(
        (2, 1), 0, RefusedReason.LIMIT
    )
    assert not len(state.locks) and not state.prepared and not state.records


def test_due_asks_the_coordinator_then_forgets_after_retention() -> None:
    participant = shard(1)
    participant.apply_prepare(Prepare((1, 1), 0, (0, 1), ((b"a", W),), False), 0)
    participant.apply_prepare(prepare((2, 1), ((b"b", R),)), 0)
    assert participant.due(99) == []
    assert participant.due(100) == [SendTo(0, Resolve((1, 1), 1)), SendTo(1, Release((2, 1)))]
    coordinator = shard(0)
    coordinator.apply_prepare(prepare((1, 1), ((b"b", W),)), 0)
    decision = coordinator.apply_resolve(Resolve((1, 1), 1), 120)
    assert not decision.committed and not len(coordinator.locks)
    participant.apply(participant.follow_up(decision), 130)
    assert not participant.blocks([b"a"], write=True) and (1, 1) not in participant.prepared
    assert coordinator.due(999) == []  # retention counts from the record's creation
    assert coordinator.due(1_000) == [SendTo(1, Abort((1, 1)))]
    coordinator.apply(Forget((1, 1)), 1_200)
    assert not coordinator.records


def test_a_pending_record_is_never_forgotten() -> None:
    state = shard()
    state.apply_prepare(prepare((1, 1), ((b"a", W),)), 0)
    state.apply_forget(Forget((1, 1)))
    assert (1, 1) in state.records


def test_unsafe_takes_no_locks() -> None:
    state = shard(unsafe=True)
    state.apply_prepare(prepare((1, 1), ((b"a", W),)), 0)
    assert isinstance(state.apply_prepare(prepare((2, 1), ((b"a", W),)), 0), Prepared)
    assert not state.blocks([b"a"], write=True)
