"""What a checker says about a history: a verdict, the anomalies with the operations
involved, and notes (why a verdict is "unknown", what was checked)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaos.history import Operation

VALID = "valid"
INVALID = "invalid"
UNKNOWN = "unknown"  # the checker could not decide (time budget, missing final read)


@dataclass(slots=True)
class Anomaly:
    kind: str  # e.g. "lost-write", "stale-read", "duplicate-delivery"
    key: str
    message: str
    operations: list[Operation] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "message": self.message,
            "operations": [op.describe() for op in self.operations],
        }


@dataclass(slots=True)
class CheckResult:
    workload: str
    anomalies: list[Anomaly] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)  # reasons for "unknown"
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.anomalies:
            return INVALID
        if self.undecided:
            return UNKNOWN
        return VALID

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "verdict": self.verdict,
            "anomalies": [anomaly.to_json() for anomaly in self.anomalies],
            "undecided": self.undecided,
            "stats": self.stats,
        }


def by_key(operations: list[Operation]) -> dict[str, list[Operation]]:
    keys: dict[str, list[Operation]] = {}
    for op in operations:
        keys.setdefault(op.key, []).append(op)
    return keys


def overall_verdict(results: list[CheckResult]) -> str:
    verdicts = {result.verdict for result in results}
    if INVALID in verdicts:
        return INVALID
    if UNKNOWN in verdicts:
        return UNKNOWN
    return VALID
