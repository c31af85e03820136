"""Locks: acquire with `SET lock token NX PX ttl`, take a fencing token with INCR, hold
briefly, release with `DELEX lock IFEQ token`."""

from __future__ import annotations

import random
import time

from chaos.client import Session
from chaos.history import INFO, OK
from chaos.workloads.base import Workload

HOLD_S = (0.0, 0.15)
BACKOFF_S = (0.01, 0.05)  # after finding the lock taken


class Locks(Workload):
    name = "locks"

    def all_keys(self) -> list[str]:
        return [self.key("lock", i) for i in range(self.settings.keys)]

    def fence_key(self, lock: str) -> str:
        return lock + ":fence"

    def step(self, session: Session, rng: random.Random) -> None:
        lock = rng.choice(self.all_keys())
        token = session.unique()
        ttl = self.settings.lock_ttl_ms
        outcome, granted = session.call(
            "acquire",
            lock,
            [token, ttl],
            lambda c: c.execute_command("SET", lock, token, "NX", "PX", ttl),
            writes=True,
            convert=bool,
        )
        if outcome == OK and granted:
            fence = self.fence_key(lock)
            session.call("fence", fence, token, lambda c: c.incr(fence), True, int)
            time.sleep(rng.uniform(*HOLD_S))
            self.release(session, lock, token)
        elif outcome == INFO:
            # It may hold the lock without knowing: give it back rather than block others.
            self.release(session, lock, token)
        else:
            time.sleep(rng.uniform(*BACKOFF_S))

    def release(self, session: Session, lock: str, token: str) -> None:
        session.call(
            "release",
            lock,
            token,
            lambda c: c.execute_command("DELEX", lock, "IFEQ", token),
            writes=True,
            convert=int,
        )
