"""Sets: SADD of unique elements, occasional SMEMBERS reads, a final read after recovery.

Per key:
- every acknowledged element is in the final read (else: lost write);
- the final read and every read hold only elements whose SADD was invoked before the read
  ended and did not certainly fail (else: an element that was never sent);
- a read holds every element acknowledged before the read began (else: stale read).
"""

from __future__ import annotations

from bisect import bisect_left

from chaos.checkers.result import Anomaly, CheckResult, by_key
from chaos.history import Operation

WORKLOAD = "sets"
_SHOWN = 20  # elements named in one anomaly's message


def _names(elements: list[str]) -> str:
    shown = ", ".join(map(str, elements[:_SHOWN]))
    return shown + (f" ... ({len(elements)} in all)" if len(elements) > _SHOWN else "")


def check_key(key: str, operations: list[Operation], result: CheckResult) -> None:
    adds = [op for op in operations if op.f == "add"]
    adding = {op.value: op for op in adds if op.type != "fail"}
    acked = sorted((op.end, op.value) for op in adds if op.ok)
    acked_ends = [end for end, _ in acked]
    finals = [op for op in operations if op.f == "final" and op.ok]
    if not finals:
        result.undecided.append(f"{key}: no final read succeeded")
    for final in finals:
        present = set(final.result)
        lost = [element for _, element in acked if element not in present]
        if lost:
            result.anomalies.append(
                Anomaly(
                    "lost-write",
                    key,
                    f"acknowledged elements missing from the final read: {_names(lost)}",
                    [final, *(adding[element] for element in lost[:_SHOWN])],
                )
            )
    for read in operations:
        if not read.ok or read.f not in ("read", "final"):
            continue
        present = set(read.result)
        never = sorted(
            element
            for element in present
            if element not in adding or adding[element].start > read.end
        )
        if never:
            result.anomalies.append(
                Anomaly(
                    "unexpected-element",
                    key,
                    f"{read.f} returned elements never (yet) sent: {_names(never)}",
                    [read],
                )
            )
        if read.f == "read":
            before = acked[: bisect_left(acked_ends, read.start)]
            missing = [element for _, element in before if element not in present]
            if missing:
                result.anomalies.append(
                    Anomaly(
                        "stale-read",
                        key,
                        f"read lacks elements acknowledged before it began: {_names(missing)}",
                        [read, *(adding[element] for element in missing[:_SHOWN])],
                    )
                )


def check(operations: list[Operation]) -> CheckResult:
    result = CheckResult(WORKLOAD)
    keys = by_key([op for op in operations if op.workload == WORKLOAD])
    for key, ops in sorted(keys.items()):
        check_key(key, ops, result)
    adds = [op for op in operations if op.workload == WORKLOAD and op.f == "add"]
    result.stats = {
        "keys": len(keys),
        "acknowledged": sum(op.ok for op in adds),
        "indeterminate": sum(op.info for op in adds),
    }
    return result
