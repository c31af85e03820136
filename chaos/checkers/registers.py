"""Registers: every key is a read/write/compare-and-set register, checked for
linearizability on its own (P-compositionality: a history is linearizable iff each key's
sub-history is).

Operations (workload "registers"):
- read:  value None, result the value read (None: the key does not exist);
- write: value v (unique per run);
- cas:   value [expected, new], result True (it was set) or False (the value differed).

Only operations that can matter are searched: failed ones and unanswered reads took no
effect. An indeterminate write whose value nobody ever observed is left out of a first
search: if the rest linearizes, so does the whole (put it last). Only when that first
search fails is the full sub-history searched, so that a write that really happened can
explain, say, a failed compare-and-set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from chaos.checkers.linearizable import SearchOutcome, check_operations
from chaos.checkers.result import Anomaly, CheckResult, by_key
from chaos.history import Operation

WORKLOAD = "registers"


class RegisterModel:
    """The state is the register's value (None: absent)."""

    def init(self) -> Hashable:
        return None

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        if op.f == "read":
            return state == op.result, state
        if op.f == "write":
            return True, op.value
        if op.f == "cas":
            expected, new = op.value
            if op.info:  # it happens here (if it happens at all); the outcome is unknown
                return True, new if state == expected else state
            if op.result:
                return state == expected, new
            return state != expected, state
        raise ValueError(f"unknown register operation {op.f!r}")


def relevant(operations: list[Operation]) -> list[Operation]:
    """What can constrain or change the register: answered reads, and writes that did or
    may have taken effect."""
    kept = []
    for op in operations:
        if op.type == "fail":
            continue
        if op.f == "read" and not op.ok:
            continue
        kept.append(op)
    return kept


def observed_values(operations: list[Operation]) -> set[Any]:
    seen = set()
    for op in operations:
        if op.ok and op.f == "read":
            seen.add(op.result)
        elif op.ok and op.f == "cas" and op.result:
            seen.add(op.value[0])
    return seen


def written_value(op: Operation) -> Any:
    return op.value[1] if op.f == "cas" else op.value


def without_unobserved_writes(operations: list[Operation]) -> list[Operation]:
    seen = observed_values(operations)
    return [
        op
        for op in operations
        if not (op.info and op.f in ("write", "cas") and written_value(op) not in seen)
    ]


def check_key(
    operations: list[Operation], deadline: float, clock: Callable[[], float] = time.monotonic
) -> SearchOutcome:
    model = RegisterModel()
    ops = relevant(operations)
    pruned = without_unobserved_writes(ops)
    outcome = check_operations(pruned, model, deadline, clock)
    if outcome.linearizable is False and len(pruned) < len(ops):
        outcome = check_operations(ops, model, deadline, clock)
    return outcome


def concurrent_with(target: Operation, operations: list[Operation], limit: int) -> list[Operation]:
    return [
        op
        for op in operations
        if op is not target and op.start <= target.end and target.start <= op.effect_deadline
    ][:limit]


def describe(op: Operation) -> str:
    argument = "" if op.value is None else f" {op.value!r}"
    return f"{op.f}{argument} -> {op.type} {op.result!r}"


def unique(operations: list[Operation]) -> list[Operation]:
    first: dict[int, Operation] = {}
    for op in operations:
        first.setdefault(op.index, op)
    return list(first.values())


def check(
    operations: list[Operation],
    budget_s: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """Each key gets an equal share of what is left of the budget."""
    result = CheckResult(WORKLOAD)
    keys = by_key([op for op in operations if op.workload == WORKLOAD])
    started = clock()
    steps = 0
    for position, (key, ops) in enumerate(sorted(keys.items())):
        remaining = budget_s - (clock() - started)
        deadline = clock() + remaining / (len(keys) - position)
        outcome = check_key(ops, deadline, clock)
        steps += outcome.steps
        if outcome.linearizable is None:
            result.undecided.append(
                f"{key}: the linearizability search ran out of its time budget "
                f"({len(ops)} operations)"
            )
        elif not outcome.linearizable:
            stuck = outcome.stuck
            assert stuck is not None
            result.anomalies.append(
                Anomaly(
                    "not-linearizable",
                    key,
                    f"no linearization: at most {outcome.placed_count} operations could be "
                    f"ordered, then operation #{stuck.index} ({describe(stuck)}) fits no order "
                    f"of those before it (shown: it, operations concurrent with it, the last "
                    f"ones ordered)",
                    unique([stuck, *concurrent_with(stuck, ops, 8), *outcome.placed_before]),
                )
            )
    result.stats = {"keys": len(keys), "search_steps": steps}
    return result
