"""What happened in one simulated run, recorded where it happened (at apply on the shards,
at the client for answers), for the checker."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.xsim.bank import decode


@dataclass(slots=True)
class TxnRecord:
    reads: dict[bytes, str]  # key -> the version read
    writes: dict[bytes, str]  # key -> the version written (the transaction's name)


@dataclass(slots=True)
class History:
    installs: dict[bytes, list[str]] = field(default_factory=dict)  # versions in order
    committed: dict[str, TxnRecord] = field(default_factory=dict)
    aborted: set[str] = field(default_factory=set)
    balances_read: list[tuple[str, int]] = field(default_factory=list)  # reader, total
    client_committed: set[str] = field(default_factory=set)
    client_aborted: set[str] = field(default_factory=set)
    client_unknown: set[str] = field(default_factory=set)
    # (invoked, answered) of what a client saw complete: the real-time order
    timing: dict[str, tuple[int, int]] = field(default_factory=dict)

    def install(self, key: bytes, value: bytes | None) -> None:
        self.installs.setdefault(key, ["init"]).append(decode(value)[1])
