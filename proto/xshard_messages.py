"""The messages of the cross-shard protocol (docs/CROSS-SHARD.md, "Steps"), which routers
and nodes both speak, and the shape of a transaction's execution."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

TxnId = tuple[int, int]  # (client id, attempt): unique over routers
Value = bytes | None  # a key's payload (as DUMP), None when the key does not exist


class Mode(Enum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Prepare:
    """Lock `keys` on this shard and return their values."""

    txn: TxnId
    coordinator: int
    participants: tuple[int, ...]
    keys: tuple[tuple[bytes, Mode], ...]
    read_only: bool


@dataclass(frozen=True, slots=True)
class Prepared:
    txn: TxnId
    shard: int
    values: tuple[tuple[bytes, Value], ...]
    # This shard's number for this preparation (and, on the coordinator, for its record): a
    # later COMMIT or DECIDE must name it, so a late copy meets no other incarnation.
    number: int = 0


class RefusedReason(Enum):
    LOCKED = "locked"  # another transaction holds a conflicting lock: retry later
    ABORTED = "aborted"  # the coordinator already aborted this transaction
    LIMIT = "limit"  # over the cap on keys or bytes: not retried


@dataclass(frozen=True, slots=True)
class Refused:
    txn: TxnId
    shard: int
    reason: RefusedReason


@dataclass(frozen=True, slots=True)
class Decide:
    """Run `program` on the prepared values; `inputs` are (shard, key, mode, value)."""

    txn: TxnId
    inputs: tuple[tuple[int, bytes, Mode, Value], ...]
    program: object
    # (shard, number) of each PREPARE whose values these are: a DECIDE meeting a record made
    # anew (by a late PREPARE after the first was forgotten) runs nothing.
    numbers: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Resolve:
    """Decide ABORTED unless decided already; answer the decision."""

    txn: TxnId
    asker: int | None  # the participant shard asking, None for a router


@dataclass(frozen=True, slots=True)
class Decision:
    txn: TxnId
    committed: bool
    writes: tuple[tuple[int, bytes, Value], ...]  # (shard, key, new value)
    reply: object  # the program's reply when committed; the error's text when aborted
    numbers: tuple[tuple[int, int], ...] = ()  # the DECIDE's: which preparations it used


@dataclass(frozen=True, slots=True)
class Commit:
    txn: TxnId
    writes: tuple[tuple[bytes, Value], ...]
    number: int = 0  # the preparation whose values the decision used; another is only freed


@dataclass(frozen=True, slots=True)
class Abort:
    txn: TxnId


@dataclass(frozen=True, slots=True)
class Release:
    """End a read-only transaction's shared locks."""

    txn: TxnId


@dataclass(frozen=True, slots=True)
class Finished:
    """A participant no longer holds `txn` (after COMMIT, ABORT or RELEASE)."""

    txn: TxnId
    shard: int
    # Whether it still held the transaction's locks until this step: a read-only
    # transaction's values form a consistent cut only if every RELEASE says so.
    held: bool = True


@dataclass(frozen=True, slots=True)
class Forget:
    txn: TxnId


Request = Prepare | Decide | Resolve | Commit | Abort | Release | Forget
Reply = Prepared | Refused | Decision | Finished


@dataclass(frozen=True, slots=True)
class Executed:
    writes: dict[bytes, Value]
    reply: object


@dataclass(frozen=True, slots=True)
class Failed:
    error: str


# Runs a transaction's program on its inputs (key -> value) at the log's time,
# deterministically: the coordinator's scratch engine (node/xshard/scratch.py) in a node, a
# plain function in the simulation.
Executor = Callable[[object, dict[bytes, Value], int], Executed | Failed]
