"""Queues: RPUSH of unique elements; LPOP and BLPOP consumers; a final drain (LRANGE of
what is left) after recovery.

Per queue, counting what the consumers received plus what is left:
- no element is delivered twice;
- no element is delivered that was never enqueued (or whose RPUSH certainly failed), nor
  before its RPUSH was invoked;
- every acknowledged element is delivered or left, except at most one per dequeue whose
  outcome is unknown (such a pop may have taken an element whose value never reached us).
"""

from __future__ import annotations

from chaos.checkers.result import Anomaly, CheckResult, by_key
from chaos.history import Operation

WORKLOAD = "queues"
_SHOWN = 20


def _names(elements: list[str]) -> str:
    shown = ", ".join(map(str, elements[:_SHOWN]))
    return shown + (f" ... ({len(elements)} in all)" if len(elements) > _SHOWN else "")


def check_key(key: str, operations: list[Operation], result: CheckResult) -> None:
    enqueues = {op.value: op for op in operations if op.f == "enqueue" and op.type != "fail"}
    dequeues = [op for op in operations if op.f == "dequeue"]
    drains = [op for op in operations if op.f == "drain" and op.ok]
    # element -> the operations that delivered it (a dequeue, or the final drain)
    delivered: dict[str, list[Operation]] = {}
    for op in dequeues:
        if op.ok and op.result is not None:
            delivered.setdefault(op.result, []).append(op)
    if not drains:
        result.undecided.append(f"{key}: the final drain did not succeed")
    for drain in drains[-1:]:
        for element in drain.result:
            delivered.setdefault(element, []).append(drain)
    for element, ops in sorted(delivered.items()):
        if len(ops) > 1:
            result.anomalies.append(
                Anomaly(
                    "duplicate-delivery",
                    key,
                    f"element {element} delivered {len(ops)} times",
                    [*([enqueues[element]] if element in enqueues else []), *ops],
                )
            )
        enqueue = enqueues.get(element)
        if enqueue is None:
            result.anomalies.append(
                Anomaly(
                    "unexpected-element",
                    key,
                    f"element {element} was delivered but never (successfully) enqueued",
                    ops,
                )
            )
        elif any(op.end < enqueue.start for op in ops):
            result.anomalies.append(
                Anomaly(
                    "delivered-before-enqueued",
                    key,
                    f"element {element} was delivered before its RPUSH was invoked",
                    [enqueue, *ops],
                )
            )
    if drains:
        unknown_pops = sum(op.info for op in dequeues)
        lost = sorted(
            (op for element, op in enqueues.items() if op.ok and element not in delivered),
            key=lambda op: op.start,
        )
        if len(lost) > unknown_pops:
            result.anomalies.append(
                Anomaly(
                    "lost-write",
                    key,
                    f"{len(lost)} acknowledged elements were neither delivered nor left in "
                    f"the queue, and only {unknown_pops} dequeues may have taken one unseen: "
                    f"{_names([op.value for op in lost])}",
                    [*drains[-1:], *lost[:_SHOWN]],
                )
            )


def check(operations: list[Operation]) -> CheckResult:
    result = CheckResult(WORKLOAD)
    keys = by_key([op for op in operations if op.workload == WORKLOAD])
    for key, ops in sorted(keys.items()):
        check_key(key, ops, result)
    ours = [op for op in operations if op.workload == WORKLOAD]
    result.stats = {
        "keys": len(keys),
        "enqueued": sum(op.ok for op in ours if op.f == "enqueue"),
        "delivered": sum(op.ok and op.result is not None for op in ours if op.f == "dequeue"),
        "unknown_dequeues": sum(op.info for op in ours if op.f == "dequeue"),
    }
    return result
