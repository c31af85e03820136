"""Counters: INCRBY with positive amounts, GET reads, and a final read after recovery.

Per key, with `acked` the sum of acknowledged increments and `attempted` that plus the
increments whose outcome is unknown:
- the final value lies within [acked, attempted];
- every value observed (a read, or the reply of an INCRBY) at [start, end] lies within
  [sum of increments acknowledged before `start` (plus its own amount), sum of increments
  possibly applied, i.e. invoked before `end`]: a value below is a stale read or a lost
  increment, a value above counts increments that never were;
- no two INCRBY replies are equal (amounts are positive): a repeated value means an
  increment applied twice or two histories (split brain).
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate

from chaos.checkers.result import Anomaly, CheckResult, by_key
from chaos.history import Operation

WORKLOAD = "counters"


class _Sums:
    """Sums of amounts over the increments that finished before / started before a time."""

    def __init__(self, increments: list[Operation]) -> None:
        acked = sorted((op.end, op.value) for op in increments if op.ok)
        started = sorted((op.start, op.value) for op in increments if op.type != "fail")
        self.acked_ends = [end for end, _ in acked]
        self.acked_prefix = [0, *accumulate(amount for _, amount in acked)]
        self.started_starts = [start for start, _ in started]
        self.started_prefix = [0, *accumulate(amount for _, amount in started)]

    def acked_before(self, time: float) -> int:
        return self.acked_prefix[bisect_left(self.acked_ends, time)]

    def started_before(self, time: float) -> int:
        return self.started_prefix[bisect_left(self.started_starts, time)]


def check_key(key: str, operations: list[Operation], result: CheckResult) -> None:
    increments = [op for op in operations if op.f == "add"]
    sums = _Sums(increments)
    acked = sum(op.value for op in increments if op.ok)
    attempted = acked + sum(op.value for op in increments if op.info)
    finals = [op for op in operations if op.f == "final" and op.ok]
    if not finals:
        result.undecided.append(f"{key}: no final read succeeded")
    for final in finals:
        value = final.result or 0
        if value < acked:
            result.anomalies.append(
                Anomaly(
                    "lost-increments",
                    key,
                    f"final value {value} is below the {acked} acknowledged",
                    [final],
                )
            )
        elif value > attempted:
            result.anomalies.append(
                Anomaly(
                    "phantom-increments",
                    key,
                    f"final value {value} exceeds all {attempted} attempted",
                    [final],
                )
            )
    for op in operations:
        if not op.ok or op.f not in ("read", "add"):
            continue
        value = op.result or 0
        own = op.value if op.f == "add" else 0
        low = sums.acked_before(op.start) + own
        # bisect_left(starts, end) counts starts strictly before `end`, never the op itself
        # when it is an add that started and ended at the same instant: include it by hand.
        high = sums.started_before(op.end) + (own if op.start >= op.end else 0)
        if value < low:
            result.anomalies.append(
                Anomaly(
                    "stale-read",
                    key,
                    f"{op.f} observed {value}, but {low} had been acknowledged before it began",
                    [op],
                )
            )
        elif value > high:
            result.anomalies.append(
                Anomaly(
                    "phantom-increments",
                    key,
                    f"{op.f} observed {value}, more than the {high} attempted before it ended",
                    [op],
                )
            )
    replies: dict[int, Operation] = {}
    for op in increments:
        if not op.ok:
            continue
        earlier = replies.get(op.result)
        if earlier is not None:
            result.anomalies.append(
                Anomaly(
                    "duplicate-value",
                    key,
                    f"two increments both answered {op.result}",
                    [earlier, op],
                )
            )
        replies[op.result] = op


def check(operations: list[Operation]) -> CheckResult:
    result = CheckResult(WORKLOAD)
    keys = by_key([op for op in operations if op.workload == WORKLOAD])
    for key, ops in sorted(keys.items()):
        check_key(key, ops, result)
    result.stats = {"keys": len(keys)}
    return result
