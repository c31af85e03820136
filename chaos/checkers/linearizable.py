"""Linearizability of one object's history: the Wing-Gong search with Lowe's memoization,
as Porcupine does it.

The invocations and completions are put on a doubly linked list in time order (at equal
times invocations first: touching operations count as concurrent). The search walks the
list: at an invocation it tries to linearize that operation now (the model must accept it
from the current state); if the (set of linearized operations, state) pair is new, the
operation and its completion are lifted out of the list and the walk restarts at the head.
Reaching a completion means that operation could not be placed before its deadline:
undo the last choice and try the next candidate. The cache of visited (set, state) pairs
makes the search finish on histories that would otherwise explode.

An indeterminate operation's completion is at +infinity: it may take effect at any time
after its invocation, or never (placing it last is the same as never).

The caller gives a deadline (a time budget): when it passes, the answer is "unknown",
never a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

from chaos.history import Operation


class Model(Protocol):
    def init(self) -> Hashable: ...

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        """Whether `op` may happen in `state`, and the state after it."""
        ...


@dataclass(slots=True)
class SearchOutcome:
    linearizable: bool | None  # None: the time budget ran out
    steps: int = 0
    # Where the deepest attempt got stuck: the operation that could not be placed before
    # its completion, and the last operations placed before it (in order).
    stuck: Operation | None = None
    placed_before: list[Operation] = field(default_factory=list)
    placed_count: int = 0


_CALL = 0
_RETURN = 1
_TAIL_KEPT = 6  # operations shown before the one that could not be placed


def check_operations(
    operations: list[Operation],
    model: Model,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> SearchOutcome:
    count = len(operations)
    if count == 0:
        return SearchOutcome(True)
    order = sorted(
        [(op.start, _CALL, i) for i, op in enumerate(operations)]
        + [(op.effect_deadline, _RETURN, i) for i, op in enumerate(operations)]
    )
    # Nodes 1..2n in time order; node 0 is the head; -1 ends the list.
    size = 2 * count + 1
    kind = [_CALL] * size
    op_of = [0] * size
    match = [0] * size
    call_node = [0] * count
    for position, (_, entry_kind, i) in enumerate(order, start=1):
        kind[position] = entry_kind
        op_of[position] = i
        if entry_kind == _CALL:
            call_node[i] = position
        else:
            match[call_node[i]] = position
    nxt = [*range(1, size), -1]
    prev = [-1, *range(0, size - 1)]

    def lift(node: int) -> None:
        for n in (node, match[node]):
            nxt[prev[n]] = nxt[n]
            if nxt[n] != -1:
                prev[nxt[n]] = prev[n]

    def unlift(node: int) -> None:
        for n in (match[node], node):
            nxt[prev[n]] = n
            if nxt[n] != -1:
                prev[nxt[n]] = n

    state = model.init()
    linearized = 0
    cache: set[tuple[int, Hashable]] = set()
    stack: list[tuple[int, Hashable]] = []
    outcome = SearchOutcome(None)
    deepest = -1
    steps = 0
    node = nxt[0]
    while nxt[0] != -1:
        steps += 1
        if steps & 0x3FF == 0 and clock() > deadline:
            outcome.steps = steps
            return outcome
        if kind[node] == _CALL:
            i = op_of[node]
            allowed, after = model.step(state, operations[i])
            if allowed:
                candidate = linearized | (1 << i)
                memo = (candidate, after)
                if memo not in cache:
                    cache.add(memo)
                    stack.append((node, state))
                    state = after
                    linearized = candidate
                    lift(node)
                    node = nxt[0]
                    continue
            node = nxt[node]
            continue
        # A completion: its operation was not placed in time. Backtrack.
        if len(stack) > deepest:
            deepest = len(stack)
            outcome.stuck = operations[op_of[node]]
            outcome.placed_count = deepest
            outcome.placed_before = [operations[op_of[n]] for n, _ in stack[-_TAIL_KEPT:]]
        if not stack:
            outcome.linearizable = False
            outcome.steps = steps
            return outcome
        top, state = stack.pop()
        linearized &= ~(1 << op_of[top])
        unlift(top)
        node = nxt[top]
    outcome.linearizable = True
    outcome.steps = steps
    outcome.stuck = None
    outcome.placed_before = []
    return outcome
