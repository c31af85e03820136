"""Streams: XADD of unique elements; one consumer group reading new entries (XREADGROUP
>), acknowledging them and taking over pending ones (XAUTOCLAIM); after recovery every
pending entry is claimed and acknowledged, then the stream, the group's last delivered ID
and its pending count are read.

Per stream:
- every acknowledged XADD is in the final stream (entries are never trimmed here), and no
  element is in it twice (a retried XADD applied twice);
- no element is read by XREADGROUP > twice (a new entry goes to one consumer once), nor is
  anything read that is not in the stream;
- every entry up to the group's last delivered ID was delivered: read by an acknowledged
  XREADGROUP, or, when the read's answer was lost, taken from the PEL by an acknowledged
  XAUTOCLAIM, a consumer's during the run or the final recovery's (an entry skipped by the
  group would be none of these);
- nothing is pending after the recovery.
"""

from __future__ import annotations

from chaos.checkers.result import Anomaly, CheckResult, by_key
from chaos.history import Operation

WORKLOAD = "streams"
_SHOWN = 20


def _id(text: str) -> tuple[int, int]:
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _names(items: list[str]) -> str:
    shown = ", ".join(map(str, items[:_SHOWN]))
    return shown + (f" ... ({len(items)} in all)" if len(items) > _SHOWN else "")


def check_key(key: str, operations: list[Operation], result: CheckResult) -> None:
    produced = {op.value: op for op in operations if op.f == "produce" and op.type != "fail"}
    drains = [op for op in operations if op.f == "drain" and op.ok]
    lasts = [op for op in operations if op.f == "last-delivered" and op.ok]
    pendings = [op for op in operations if op.f == "pending" and op.ok]
    reads = [op for op in operations if op.f == "consume" and op.ok]
    recoveries = [op for op in operations if op.f == "recover" and op.ok]
    claims = [op for op in operations if op.f == "claim" and op.ok]
    if not drains:
        result.undecided.append(f"{key}: the final read of the stream did not succeed")
        return
    drain = drains[-1]
    stream: dict[str, str] = {}  # id -> element
    seen: dict[str, list[str]] = {}
    for entry_id, element in drain.result:
        stream[entry_id] = element
        seen.setdefault(element, []).append(entry_id)
    for element, ids in sorted(seen.items()):
        if len(ids) > 1:
            result.anomalies.append(
                Anomaly(
                    "duplicate-entry", key, f"{element} is in the stream {len(ids)} times", [drain]
                )
            )
    lost = [op for element, op in produced.items() if op.ok and element not in seen]
    if lost:
        result.anomalies.append(
            Anomaly(
                "lost-write",
                key,
                f"{len(lost)} acknowledged XADDs are not in the stream: "
                f"{_names([op.value for op in lost])}",
                [drain, *lost[:_SHOWN]],
            )
        )
    if not lasts or not pendings:
        # The stream's own checks above stand; the group's need its final state (gone
        # with the stream, its reads fail: the lost entries are reported above).
        result.undecided.append(f"{key}: the final reads of the group did not succeed")
        return
    delivered: dict[str, list[Operation]] = {}
    for op in reads:
        for entry_id, _element in op.result:
            delivered.setdefault(entry_id, []).append(op)
    for entry_id, ops in sorted(delivered.items(), key=lambda item: _id(item[0])):
        if len(ops) > 1:
            result.anomalies.append(
                Anomaly(
                    "duplicate-delivery",
                    key,
                    f"entry {entry_id} read as new {len(ops)} times",
                    ops,
                )
            )
        if entry_id not in stream:
            result.anomalies.append(
                Anomaly(
                    "unexpected-entry", key, f"entry {entry_id} read but not in the stream", ops
                )
            )
    # A consumer's XAUTOCLAIM during the run takes over what a lost XREADGROUP answer left
    # pending, and acknowledges it: it is neither read as new nor pending at the end.
    recovered = {
        entry_id for op in [*claims, *recoveries] for entry_id, _element in op.result["entries"]
    }
    last = lasts[-1].result
    if last is not None:
        skipped = [
            entry_id
            for entry_id in stream
            if _id(entry_id) <= _id(last)
            and entry_id not in delivered
            and entry_id not in recovered
        ]
        if skipped:
            result.anomalies.append(
                Anomaly(
                    "never-delivered",
                    key,
                    f"{len(skipped)} entries up to the group's last delivered ID {last} were "
                    f"neither read nor pending: {_names(skipped)}",
                    [drain, lasts[-1]],
                )
            )
    if pendings[-1].result:
        result.anomalies.append(
            Anomaly(
                "pending-left",
                key,
                f"{pendings[-1].result} entries still pending after the recovery claimed and "
                "acknowledged them all",
                [pendings[-1], *recoveries[-3:]],
            )
        )


def check(operations: list[Operation]) -> CheckResult:
    result = CheckResult(WORKLOAD)
    ours = [op for op in operations if op.workload == WORKLOAD]
    keys = by_key(ours)
    for key, ops in sorted(keys.items()):
        check_key(key, ops, result)
    result.stats = {
        "keys": len(keys),
        "produced": sum(op.ok for op in ours if op.f == "produce"),
        "read": sum(len(op.result) for op in ours if op.f == "consume" and op.ok),
        "unknown_reads": sum(op.info for op in ours if op.f == "consume"),
    }
    return result
