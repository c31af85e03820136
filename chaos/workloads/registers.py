"""Registers: GET, SET and compare-and-set (`SET key new IFEQ expected`) on a few keys,
with values unique to the run, for the linearizability checker."""

from __future__ import annotations

import random

from chaos.client import Session
from chaos.history import OK
from chaos.workloads.base import Workload


class Registers(Workload):
    name = "registers"

    def all_keys(self) -> list[str]:
        return [self.key("register", i) for i in range(self.settings.keys)]

    def step(self, session: Session, rng: random.Random) -> None:
        key = rng.choice(self.all_keys())
        # What this client last saw in the key: the expected value of its next CAS.
        known = session.memory.get(key)
        choice = rng.random()
        if choice < 0.45 or (choice >= 0.7 and known is None):
            outcome, value = session.call("read", key, None, lambda c: c.get(key), writes=False)
            if outcome == OK:
                session.memory[key] = value
            return
        new = session.unique()
        if choice < 0.7:
            outcome, _ = session.call(
                "write", key, new, lambda c: c.execute_command("SET", key, new), writes=True
            )
            if outcome == OK:
                session.memory[key] = new
            return
        outcome, swapped = session.call(
            "cas",
            key,
            [known, new],
            lambda c: c.execute_command("SET", key, new, "IFEQ", known),
            writes=True,
            convert=bool,
        )
        if outcome == OK:
            session.memory[key] = new if swapped else None
