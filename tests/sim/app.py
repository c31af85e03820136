"""The replicated state machine of the simulation: a few registers per group.

A write entry is b"w|<key>|<value>"; values are unique, and the register remembers the log
index of the write it holds, so a read tells which write it observed.
"""

from __future__ import annotations

import hashlib
import json
import struct

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.raft import Entry, EntryType, Snapshot
from node.shard_state import ShardState

# A script that loops until its instruction budget stops it costs a quarter of a second
# per replica at the default budget; the simulation's runs stop after 200,000 (the same on
# every replica, so the outcome is as deterministic).
SIM_ENGINE = EngineConfig(script_max_instructions=200_000)


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


class ShardApp(RegisterApp):
    """The registers plus a real shard state machine (node.shard_state.ShardState): every
    NORMAL entry that is not a register write or a liveness marker is a shard log entry
    (the adversarial client's, tests/sim/adversary.py) applied to it. `apply` returns the
    digest of the whole shard state and of the entry's outcome, which every replica must
    reach alike (Checker.on_state)."""

    __slots__ = ("shard",)

    def __init__(self) -> None:
        super().__init__()
        self.shard = ShardState(Engine(SIM_ENGINE))

    def apply(self, entry: Entry) -> bytes | None:  # type: ignore[override]
        super().apply(entry)
        data = entry.data
        if entry.type is not EntryType.NORMAL or not data or data[:2] in _REGISTER_TAGS:
            return None
        outcome = self.shard.apply(data)
        replies = repr([(r.replies, r.blocked) for r in outcome.results]).encode()
        return hashlib.blake2b(self.shard.digest() + replies, digest_size=16).digest()

    def serialize(self) -> bytes:
        registers = super().serialize()
        return _LENGTH.pack(len(registers)) + registers + self.shard.snapshot()

    def canonical(self) -> bytes:
        """What two replicas at the same index must hold alike: the registers and the
        shard state's digest (its snapshot bytes may differ in container order)."""
        return super().serialize() + self.shard.digest()

    def restore(self, snapshot: Snapshot) -> None:
        data = snapshot.data
        (size,) = _LENGTH.unpack_from(data)
        registers = data[_LENGTH.size : _LENGTH.size + size]
        super().restore(Snapshot(snapshot.meta, registers))
        shard = ShardState(Engine(SIM_ENGINE))
        shard.restore(data[_LENGTH.size + size :])
        self.shard = shard


_REGISTER_TAGS = (b"w|", b"m|")
_LENGTH = struct.Struct(">I")
