"""The linearizability checker on synthetic register histories: known linearizable ones
pass, stale reads and lost writes are caught, an exhausted time budget says "unknown", and
on small random histories it agrees with brute force over all orders."""

from __future__ import annotations

import itertools
import math
import random
import time

import pytest

from chaos.checkers import registers
from chaos.checkers.registers import RegisterModel, check, check_key, relevant
from chaos.checkers.result import INVALID, UNKNOWN, VALID
from chaos.history import Operation
from tests.chaos.histories import op

W = registers.WORKLOAD


def read(value, start, end, key="r", type="ok", process=0):
    return op(W, "read", key, None, start, end, value, type, process)


def write(value, start, end, key="r", type="ok", process=0):
    result = "OK" if type == "ok" else None
    return op(W, "write", key, value, start, end, result, type, process)


def cas(expected, new, start, end, result=True, key="r", type="ok"):
    return op(W, "cas", key, [expected, new], start, end, result, type)


def test_sequential_history_is_linearizable():
    history = [
        read(None, 0, 1),
        write("a", 2, 3),
        read("a", 4, 5),
        cas("a", "b", 6, 7),
        cas("a", "c", 8, 9, result=False),
        read("b", 10, 11),
    ]
    result = check(history)
    assert result.verdict == VALID, result.to_json()


def test_concurrent_operations_may_take_effect_in_either_order():
    # The read overlaps both writes: it may see either; the last read fixes the order.
    history = [
        write("a", 0, 10, process=0),
        write("b", 1, 9, process=1),
        read("a", 2, 8, process=2),
        read("a", 11, 12, process=2),
    ]
    assert check(history).verdict == VALID


def test_stale_read_is_caught():
    history = [
        write("a", 0, 1),
        write("b", 2, 3),
        read("a", 4, 5),  # "b" was acknowledged before this read began
    ]
    result = check(history)
    assert result.verdict == INVALID
    anomaly = result.anomalies[0]
    assert anomaly.kind == "not-linearizable"
    assert anomaly.key == "r"
    assert history[2].index in {o.index for o in anomaly.operations}


def test_lost_write_is_caught():
    # An acknowledged write forgotten: the register reads as if it never happened.
    history = [write("a", 0, 1), read("a", 2, 3), read(None, 4, 5)]
    assert check(history).verdict == INVALID


def test_compare_and_set_that_should_have_failed_is_caught():
    history = [write("a", 0, 1), cas("x", "b", 2, 3, result=True)]
    assert check(history).verdict == INVALID


def test_failed_compare_and_set_must_see_another_value():
    history = [write("a", 0, 1), cas("a", "b", 2, 3, result=False)]
    assert check(history).verdict == INVALID


def test_indeterminate_write_may_take_effect_late():
    history = [
        write("a", 0, 1),
        write("b", 2, 3, type="info"),  # no answer: it may commit any time later
        read("a", 4, 5),
        read("b", 20, 21),
    ]
    assert check(history).verdict == VALID


def test_indeterminate_write_may_never_take_effect():
    history = [write("a", 0, 1), write("b", 2, 3, type="info"), read("a", 30, 31)]
    assert check(history).verdict == VALID


def test_failed_write_takes_no_effect():
    history = [write("a", 0, 1), write("b", 2, 3, type="fail"), read("b", 4, 5)]
    assert check(history).verdict == INVALID


def test_unobserved_indeterminate_write_can_explain_a_failed_compare_and_set():
    # The first search leaves out the unseen write "z" and fails; the full one needs it.
    history = [
        write("a", 0, 1),
        write("z", 2, 3, type="info"),
        cas("a", "b", 4, 5, result=False),
    ]
    assert check(history).verdict == VALID


def test_keys_are_checked_independently():
    history = [
        write("a", 0, 1, key="k1"),
        write("b", 0, 1, key="k2"),
        read("a", 2, 3, key="k1"),
        read("a", 2, 3, key="k2"),
    ]
    result = check(history)
    assert result.verdict == INVALID
    assert [a.key for a in result.anomalies] == ["k2"]


def test_exhausted_budget_reports_unknown_not_valid():
    history = [write(f"v{i}", i, i + 0.5) for i in range(5000)]
    history += [read(f"v{i}", i + 0.6, i + 0.7) for i in range(5000)]
    ticks = itertools.count()

    def clock() -> float:  # every reading a second later: the budget runs out at once
        return float(next(ticks))

    result = check(history, budget_s=1.0, clock=clock)
    assert result.verdict == UNKNOWN
    assert "time budget" in result.undecided[0]


def test_long_concurrent_linearizable_history_passes_quickly():
    rng = random.Random(7)
    history = simulated_history(rng, operations=3000, clients=8, info_rate=0.02)
    started = time.monotonic()
    result = check(history, budget_s=60)
    assert result.verdict == VALID, result.to_json()
    print(f"3000 operations checked in {time.monotonic() - started:.2f}s")


def test_corrupted_simulated_history_is_caught():
    rng = random.Random(11)
    history = simulated_history(rng, operations=500, clients=4, info_rate=0.0)
    # Every value is written once: make a late read return the first value written.
    first_value = next(o.value for o in history if o.f == "write" and o.ok)
    last_read = max((o for o in history if o.f == "read" and o.ok), key=lambda o: o.start)
    stale = Operation(**{**_fields(last_read), "result": first_value})
    corrupted = [stale if o is last_read else o for o in history]
    assert check(corrupted).verdict == INVALID


def _fields(operation: Operation) -> dict:
    return {name: getattr(operation, name) for name in Operation.__slots__}


def simulated_history(
    rng: random.Random, operations: int, clients: int, info_rate: float
) -> list[Operation]:
    """A real register driven by concurrent clients: each operation takes effect at one
    instant within its interval, so the history is linearizable by construction."""
    value = None
    clock = 0.0
    busy_until = [0.0] * clients
    history = []
    counter = itertools.count()
    for _ in range(operations):
        client = rng.randrange(clients)
        clock = max(clock + rng.random(), busy_until[client])
        start = max(clock - rng.random() * 3, busy_until[client])
        end = clock + rng.random() * 3  # it takes effect at `clock`
        busy_until[client] = end + 0.001
        choice = rng.random()
        indeterminate = rng.random() < info_rate
        if choice < 0.4:
            history.append(read(value, start, end, key="sim"))
            continue
        new = f"v{next(counter)}"
        if choice < 0.7:
            value = new
            history.append(
                write(new, start, end, key="sim", type="info" if indeterminate else "ok")
            )
            continue
        expected = value if rng.random() < 0.6 else "nope"
        succeeded = value == expected
        if succeeded:
            value = new
        history.append(
            cas(
                expected,
                new,
                start,
                end,
                succeeded,
                key="sim",
                type="info" if indeterminate else "ok",
            )
        )
    return history


# ---------------------------------------------------------------- agreement with brute force


def brute_force(history: list[Operation]) -> bool:
    ops = relevant(history)
    model = RegisterModel()
    for order in itertools.permutations(ops):
        if any(
            later.effect_deadline < earlier.start
            for position, earlier in enumerate(order)
            for later in order[position + 1 :]
        ):
            continue
        state = model.init()
        for operation in order:
            allowed, state = model.step(state, operation)
            if not allowed:
                break
        else:
            return True
    return False


def random_small_history(rng: random.Random) -> list[Operation]:
    values = [None, "a", "b"]
    history = []
    for _ in range(rng.randint(1, 6)):
        start = rng.randint(0, 8)
        end = start + rng.randint(0, 4)
        kind = rng.random()
        status = "info" if rng.random() < 0.2 else "ok"
        if kind < 0.4:
            history.append(read(rng.choice(values), start, end))
        elif kind < 0.7:
            history.append(write(rng.choice(values[1:]), start, end, type=status))
        else:
            history.append(
                cas(
                    rng.choice(values[1:]),
                    rng.choice(values[1:]),
                    start,
                    end,
                    result=rng.random() < 0.5,
                    type=status,
                )
            )
    return history


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_brute_force_on_small_histories(seed):
    rng = random.Random(seed)
    verdicts = {True: 0, False: 0}
    for _ in range(250):
        history = random_small_history(rng)
        expected = brute_force(history)
        outcome = check_key(history, deadline=math.inf)
        assert outcome.linearizable == expected, [o.describe() for o in history]
        verdicts[expected] += 1
    assert verdicts[True] and verdicts[False]  # both kinds were exercised
