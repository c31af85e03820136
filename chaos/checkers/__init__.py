"""History checkers, one module per workload; each takes the run's operations and returns
a CheckResult (valid / invalid with anomalies / unknown)."""

from __future__ import annotations

from chaos.checkers import counters, locks, pubsub, queues, registers, sets, streams
from chaos.checkers.result import CheckResult
from chaos.history import Operation


def check_workload(
    name: str, operations: list[Operation], budget_s: float, healed_at: float | None = None
) -> CheckResult:
    """`healed_at`: when the cluster served again after every fault healed (pub/sub
    tells what was delivered before and after)."""
    if name == registers.WORKLOAD:
        return registers.check(operations, budget_s)
    if name == pubsub.WORKLOAD:
        return pubsub.check(operations, healed_at)
    checkers = {
        counters.WORKLOAD: counters.check,
        sets.WORKLOAD: sets.check,
        queues.WORKLOAD: queues.check,
        locks.WORKLOAD: locks.check,
        streams.WORKLOAD: streams.check,
    }
    return checkers[name](operations)
