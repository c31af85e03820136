"""The router's side of one cross-shard attempt (node/xshard/driver.py), against two real
`ShardTxnState`s stepped by hand: the messages it sends at each step, conflicts, lost
replies, the deadline, read-only attempts."""

from __future__ import annotations

from node.xshard.state import ShardTxnState, XshardConfig
from proto.xshard_messages import (
    Abort,
    Commit,
    Decide,
    Executed,
    Failed,
    Mode,
    Prepare,
    Release,
    Reply,
    Request,
    Resolve,
    Value,
)
from router.xshard_driver import Phase, Result, TxnDriver

W, R = Mode.WRITE, Mode.READ


class Store(dict[bytes, Value]):
    def get(self, key: bytes) -> Value:  # type: ignore[override]
        return super().get(key)

    def put(self, key: bytes, value: Value) -> None:
        self[key] = value


def concat(program: object, inputs: dict[bytes, Value], now: int) -> Executed | Failed:
    """Both keys become the concatenation of the two values."""
    joined = b"".join(value or b"" for _, value in sorted(inputs.items()))
    writes: dict[bytes, Value] = {} if program == "read" else dict.fromkeys(inputs, joined)
    return Executed(writes, joined)


def shards() -> list[ShardTxnState]:
    config = XshardConfig(lock_timeout=100, retention=1_000)
    return [
        ShardTxnState(0, Store({b"a": b"A"}), concat, config),
        ShardTxnState(1, Store({b"b": b"B"}), concat, config),
    ]


def deliver(states: list[ShardTxnState], sends: list[tuple[int, Request]], now: int) -> list:
    return [(shard, states[shard].apply(request, now)) for shard, request in sends]


def driver(mode: Mode = W, txn: tuple[int, int] = (7, 1)) -> TxnDriver:
    keys: dict[int, tuple[tuple[bytes, Mode], ...]] = {0: ((b"a", mode),), 1: ((b"b", mode),)}
    program = "write" if mode is W else "read"
    return TxnDriver(txn, keys, 0, program, now=0, timeout=50, resend=10, read_executor=concat)


def step(run: TxnDriver, replies: list[tuple[int, Reply]], now: int) -> list[tuple[int, Request]]:
    sends: list[tuple[int, Request]] = []
    for shard, reply in replies:
        sends += run.on_reply(shard, reply, now)
    return sends


def test_the_happy_path_is_prepare_decide_commit() -> None:
    states = shards()
    run = driver()
    sends = run.start()
    assert all(isinstance(request, Prepare) for _, request in sends)
    sends = step(run, deliver(states, sends, 1), 1)
    assert [(shard, type(request)) for shard, request in sends] == [(0, Decide)]
    sends = step(run, deliver(states, sends, 2), 2)
    assert run.outcome is not None and run.outcome.result is Result.COMMITTED
    assert run.outcome.reply == b"AB" and states[0].store.get(b"a") == b"AB"
    assert [(shard, type(request)) for shard, request in sends] == [(1, Commit)]
    assert states[1].blocks([b"b"], write=False)  # until its COMMIT applies
    step(run, deliver(states, sends, 3), 3)
    assert run.phase is Phase.DONE and states[1].store.get(b"b") == b"AB"
    assert not len(states[0].locks) and not len(states[1].locks)


def test_a_conflict_aborts_through_the_coordinator_and_may_retry() -> None:
    states = shards()
    states[1].apply(Prepare((9, 9), 1, (1,), ((b"b", W),), False), 0)
    run = driver()
    sends = step(run, deliver(states, run.start(), 1), 1)
    assert sends == [(0, Resolve((7, 1), None))]
    sends = step(run, deliver(states, sends, 2), 2)
    assert run.outcome is not None and run.outcome.result is Result.ABORTED
    assert run.outcome.retry and sends == [(1, Abort((7, 1)))]
    assert states[0].store.get(b"a") == b"A" and not len(states[0].locks)


def test_lost_messages_are_sent_again_and_duplicates_ignored() -> None:
    states = shards()
    run = driver()
    sends = run.start()
    replies = deliver(states, sends[:1], 1)  # the PREPARE to shard 1 is lost
    assert step(run, replies + replies, 1) == []
    assert run.on_tick(5) == []  # not yet time to send again
    again = run.on_tick(11)
    assert [shard for shard, _ in again] == [1]
    assert [type(request) for _, request in step(run, deliver(states, again, 12), 12)] == [Decide]


def test_the_deadline_asks_the_coordinator_which_may_say_committed() -> None:
    states = shards()
    run = driver()
    sends = step(run, deliver(states, run.start(), 1), 1)
    deliver(states, sends, 2)  # DECIDE applied, its answer lost
    assert run.on_tick(50) == [(0, Resolve((7, 1), None))]
    sends = step(run, deliver(states, [(0, Resolve((7, 1), None))], 51), 51)
    assert run.outcome is not None and run.outcome.result is Result.COMMITTED
    assert sends == [(1, Commit((7, 1), ((b"b", b"AB"),), 1))]


def test_a_coordinator_out_of_reach_gives_an_unknown_outcome() -> None:
    run = driver()
    run.start()
    run.on_tick(50)
    assert run.on_tick(100) == [] and run.phase is Phase.DONE
    assert run.outcome is not None and run.outcome.result is Result.UNKNOWN


def test_read_only_needs_no_decision() -> None:
    states = shards()
    run = driver(R)
    sends = step(run, deliver(states, run.start(), 1), 1)
    assert sorted(sends) == [(0, Release((7, 1))), (1, Release((7, 1)))]
    assert run.outcome is None  # until every RELEASE says the shared locks held
    step(run, deliver(states, sends, 2), 2)
    assert run.outcome is not None and run.outcome.reply == b"AB"
    assert run.outcome.result is Result.COMMITTED and not states[0].records
    assert not len(states[0].locks) and not len(states[1].locks)


def test_a_read_whose_locks_ran_out_is_retried() -> None:
    """Shard 0's shared lock expired (its leader released it) before shard 1 answered: a
    write may have come between the two reads, so they are no consistent cut."""
    states = shards()
    run = driver(R)
    first = run.start()
    replies = deliver(states, first[:1], 1)
    states[0].apply(Release((7, 1)), 200)  # the participant's own timeout
    states[0].store.put(b"a", b"changed")
    sends = step(run, replies + deliver(states, first[1:], 201), 201)
    step(run, deliver(states, sends, 202), 202)
    assert run.outcome is not None and run.outcome.result is Result.ABORTED
    assert run.outcome.retry
