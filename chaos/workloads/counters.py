"""Counters: INCRBY of small positive amounts and GET reads on a few keys; a final GET of
each after recovery."""

from __future__ import annotations

import random
from operator import methodcaller

from chaos.client import Session
from chaos.workloads.base import Workload, read_until_ok


def as_count(reply: str | None) -> int:
    return int(reply) if reply is not None else 0


class Counters(Workload):
    name = "counters"

    def all_keys(self) -> list[str]:
        return [self.key("counter", i) for i in range(self.settings.keys)]

    def step(self, session: Session, rng: random.Random) -> None:
        key = rng.choice(self.all_keys())
        if rng.random() < 0.75:
            amount = rng.randint(1, 5)
            session.call(
                "add", key, amount, lambda c: c.execute_command("INCRBY", key, amount), True, int
            )
        else:
            session.call("read", key, None, lambda c: c.get(key), False, as_count)

    def final(self, session: Session, deadline: float) -> None:
        for key in self.all_keys():
            read_until_ok(session, "final", key, methodcaller("get", key), as_count, deadline)
