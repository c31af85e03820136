"""What every workload provides: its keys, one step of client traffic, and the final reads
made after the faults have healed and the cluster has recovered."""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chaos.client import Command, Session
from chaos.history import OK


@dataclass(frozen=True, slots=True)
class WorkloadSettings:
    keys: int = 3  # objects per workload (registers, counters, sets, queues, locks)
    lock_ttl_ms: int = 3000
    blpop_timeout_s: float = 1.0


class Workload(ABC):
    name: str

    def __init__(
        self, prefix: str, settings: WorkloadSettings, shard_tags: list[str] | None = None
    ) -> None:
        self.prefix = prefix
        self.settings = settings
        self.shard_tags = shard_tags or []
        self.routers: list[tuple[str, int]] = []  # every router (set by the runner)

    def key(self, kind: str, number: int) -> str:
        """Key `number` of a kind lives on shard `number mod shards` (when shards are known)."""
        if not self.shard_tags:
            return f"{self.prefix}:{kind}:{number}"
        tag = self.shard_tags[number % len(self.shard_tags)]
        return f"{self.prefix}:{kind}:{number}:{{{tag}}}"

    @abstractmethod
    def all_keys(self) -> list[str]:
        """The keys this workload touches (all under the run's prefix)."""

    @abstractmethod
    def step(self, session: Session, rng: random.Random) -> None:
        """One client action: one operation or a short sequence (acquire, fence, release)."""

    def final(self, session: Session, deadline: float) -> None:  # noqa: B027 (optional)
        """Final reads after recovery; by default none."""


def read_until_ok(
    session: Session,
    f: str,
    key: str,
    command: Command,
    convert: Callable[[Any], Any],
    deadline: float,
) -> None:
    """A final read must succeed for the checker to decide: try until the deadline."""
    while time.monotonic() < deadline:
        outcome, _ = session.call(f, key, None, command, writes=False, convert=convert)
        if outcome == OK:
            return
        time.sleep(0.5)
