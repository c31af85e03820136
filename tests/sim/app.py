"""The replicated state machine of the simulation: a few registers per group.

A write entry is b"w|<key>|<value>"; values are unique, and the register remembers the log
index of the write it holds, so a read tells which write it observed.
"""

from __future__ import annotations

import json

from node.raft import Entry, EntryType, Snapshot


def write_command(key: str, value: str) -> bytes:
    return f"w|{key}|{value}".encode()


class RegisterApp:
    __slots__ = ("applied", "registers")

    def __init__(self) -> None:
        self.registers: dict[str, tuple[str, int]] = {}  # key -> (value, index of its write)
        self.applied = 0

    def apply(self, entry: Entry) -> None:
        if entry.index != self.applied + 1:
            raise AssertionError(f"applied {entry.index} after {self.applied}")
        self.applied = entry.index
        data = entry.data
        if entry.type is EntryType.NORMAL and data[:2] == b"w|":
            _, key, value = data.decode().split("|", 2)
            self.registers[key] = (value, entry.index)

    def read(self, key: str) -> tuple[str, int]:
        """(value, index of the write) or ("", 0) for a register never written."""
        return self.registers.get(key, ("", 0))

    def serialize(self) -> bytes:
        return json.dumps(
            {"applied": self.applied, "registers": self.registers}, sort_keys=True
        ).encode()

    def restore(self, snapshot: Snapshot) -> None:
        state = json.loads(snapshot.data)
        if state["applied"] != snapshot.meta.index:
            raise AssertionError(
                f"snapshot at {snapshot.meta.index} holds state applied to {state['applied']}"
            )
        self.applied = state["applied"]
        self.registers = {key: (value, index) for key, (value, index) in state["registers"].items()}
