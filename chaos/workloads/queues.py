"""Queues: producers RPUSH elements unique to the run; consumers LPOP, or BLPOP with a
short timeout; after recovery the final drain reads what is left (LRANGE)."""

from __future__ import annotations

import random
from operator import methodcaller

from chaos.client import Session
from chaos.workloads.base import Workload, read_until_ok


def popped(reply: list[str] | None) -> str | None:
    """BLPOP answers [key, element], or nil on timeout."""
    return reply[1] if reply else None


class Queues(Workload):
    name = "queues"

    def all_keys(self) -> list[str]:
        return [self.key("queue", i) for i in range(self.settings.keys)]

    def step(self, session: Session, rng: random.Random) -> None:
        key = rng.choice(self.all_keys())
        choice = rng.random()
        # More pushes than pops: a backlog builds up, whose loss the drain would show.
        if choice < 0.6:
            element = session.unique()
            session.call("enqueue", key, element, lambda c: c.rpush(key, element), True, int)
        elif choice < 0.85:
            session.call("dequeue", key, "LPOP", lambda c: c.lpop(key), True)
        else:
            timeout = self.settings.blpop_timeout_s
            session.call(
                "dequeue",
                key,
                "BLPOP",
                lambda c: c.execute_command("BLPOP", key, timeout),
                True,
                popped,
            )

    def final(self, session: Session, deadline: float) -> None:
        for key in self.all_keys():
            read_until_ok(session, "drain", key, methodcaller("lrange", key, 0, -1), list, deadline)
