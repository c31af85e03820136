"""Sets: SADD of elements unique to the run, rare SMEMBERS reads, a final SMEMBERS of
each set after recovery."""

from __future__ import annotations

import random
from operator import methodcaller

from chaos.client import Session
from chaos.workloads.base import Workload, read_until_ok

READ_SHARE = 0.03  # a set grows all run long: read it now and then, not every time


def members(reply: set[str] | list[str]) -> list[str]:
    return sorted(reply)


class Sets(Workload):
    name = "sets"

    def all_keys(self) -> list[str]:
        return [self.key("set", i) for i in range(self.settings.keys)]

    def step(self, session: Session, rng: random.Random) -> None:
        key = rng.choice(self.all_keys())
        if rng.random() < READ_SHARE:
            session.call("read", key, None, lambda c: c.smembers(key), False, members)
            return
        element = session.unique()
        session.call("add", key, element, lambda c: c.sadd(key, element), True, int)

    def final(self, session: Session, deadline: float) -> None:
        for key in self.all_keys():
            read_until_ok(session, "final", key, methodcaller("smembers", key), members, deadline)
