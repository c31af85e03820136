"""Locks: `SET lock token NX PX ttl` to acquire, `DELEX lock IFEQ token` to release,
`INCR fence` for a fencing token while holding the lock.

A client that got OK holds the lock from the reply until the earlier of `start + ttl`
(the server set the key at or after `start`, so it expires no sooner) and the moment it
invokes the release. A reply that comes later than `start + ttl` gives no window at all:
the key may have expired before the client learnt it had set it. Checked per lock:
- no two holders' windows overlap;
- a release that returned 0 although it completed before `start + ttl` means the key
  vanished while still valid (a lost write);
- fencing tokens: no two INCRs return the same number; a holder whose INCR completed
  within its window got a smaller token than every later such holder.

`tolerance` absorbs the difference between the client's monotonic clock and the wall
clock the servers measure expiry with.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from chaos.checkers.result import Anomaly, CheckResult, by_key
from chaos.history import Operation

WORKLOAD = "locks"


@dataclass(slots=True)
class Holding:
    acquire: Operation
    start: float
    end: float
    release: Operation | None
    fence: Operation | None  # an acknowledged INCR that completed within the window


def holdings(operations: list[Operation], fences: dict[str, Operation]) -> list[Holding]:
    releases: dict[str, Operation] = {}
    for op in operations:
        if op.f == "release":
            releases.setdefault(op.value, op)
    held = []
    for op in operations:
        if op.f != "acquire" or not op.ok or not op.result:
            continue
        token, ttl_ms = op.value
        release = releases.get(token)
        end = op.start + ttl_ms / 1000
        if release is not None:
            end = min(end, release.start)
        fence = fences.get(token)
        if fence is not None and not (fence.ok and fence.end <= end):
            fence = None
        if op.end < end:
            held.append(Holding(op, op.end, end, release, fence))
    held.sort(key=lambda h: h.start)
    return held


def check_lock(
    key: str,
    operations: list[Operation],
    fences: dict[str, Operation],
    tolerance: float,
    result: CheckResult,
) -> int:
    held = holdings(operations, fences)
    latest: Holding | None = None  # the holder whose window reaches furthest so far
    for holding in held:
        if latest is not None and holding.start < latest.end - tolerance:
            result.anomalies.append(
                Anomaly(
                    "overlapping-holders",
                    key,
                    f"token {holding.acquire.value[0]} acquired the lock at "
                    f"{holding.start:.3f}s while token {latest.acquire.value[0]} held it "
                    f"until {latest.end:.3f}s",
                    [
                        latest.acquire,
                        *([latest.release] if latest.release else []),
                        holding.acquire,
                    ],
                )
            )
        if latest is None or holding.end > latest.end:
            latest = holding
        release = holding.release
        token, ttl_ms = holding.acquire.value
        if (
            release is not None
            and release.ok
            and release.result == 0
            and release.end < holding.acquire.start + ttl_ms / 1000 - tolerance
        ):
            result.anomalies.append(
                Anomaly(
                    "lost-lock",
                    key,
                    f"releasing token {token} found the lock gone before it could expire",
                    [holding.acquire, release],
                )
            )
    fenced = [h for h in held if h.fence is not None]
    for before, after in itertools.pairwise(fenced):
        assert before.fence is not None and after.fence is not None
        if before.end <= after.start and before.fence.result >= after.fence.result:
            result.anomalies.append(
                Anomaly(
                    "fencing-order",
                    key,
                    f"holder {after.acquire.value[0]} got fencing token {after.fence.result}, "
                    f"not above the earlier holder's {before.fence.result}",
                    [before.acquire, before.fence, after.acquire, after.fence],
                )
            )
    return len(held)


def check(operations: list[Operation], tolerance: float = 0.01) -> CheckResult:
    result = CheckResult(WORKLOAD)
    ours = [op for op in operations if op.workload == WORKLOAD]
    fences = {op.value: op for op in ours if op.f == "fence"}
    issued: dict[tuple[str, int], Operation] = {}
    for op in fences.values():
        if not op.ok:
            continue
        earlier = issued.get((op.key, op.result))
        if earlier is not None:
            result.anomalies.append(
                Anomaly(
                    "duplicate-fencing-token",
                    op.key,
                    f"fencing token {op.result} was handed out twice",
                    [earlier, op],
                )
            )
        issued[(op.key, op.result)] = op
    locks = by_key([op for op in ours if op.f != "fence"])
    acquisitions = 0
    for key, ops in sorted(locks.items()):
        acquisitions += check_lock(key, ops, fences, tolerance, result)
    result.stats = {"locks": len(locks), "holdings": acquisitions}
    return result
