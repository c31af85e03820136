"""SWAPDB in a cluster: the database map in the metadata group, and the two steps that
change it on every shard at once (pure; docs/DESIGN.md, "Databases").

The map (database index -> key space id, a permutation of 0-15) and its epoch are
replicated by the metadata group; every shard holds a copy in its own replicated state
(node/engine/databases.py), installed by a database map entry its leader proposes
(node/host.py `_sync_db_maps`). A swap goes through these metadata entries, JSON objects:

- {"op": "swapdb-begin", "first": a, "second": b, "id": ...}: records the swap as pending,
  with epoch `epoch + 1` and the shards of the map then, unless another swap, a slot move
  or a membership operation is in flight (then it is refused, and the proposer tries
  again). From then on each shard's leader proposes a map entry that *fences* databases a
  and b: a command on them is not run but answered SLOT_MOVING, and its router sends it
  again (router/moving_slots.py).
- {"op": "swapdb-fenced", "epoch": e, "shard": s}: shard s has committed the fence of
  swap e (a router saw it applied on one of the shard's replicas: applied means committed).
  When the last shard's arrives, the swap commits in the same apply: the map exchanges a
  and b, its epoch becomes e. Each shard's leader then proposes the new map, which lifts
  the fence.

Why no client sees one shard swapped and another not: a shard serves the new map only
after the metadata group committed it, which it does only once every shard was fenced;
a fenced shard serves neither map. So before the commit every shard that serves a or b
serves the old map, after it every one serves the new map or waits. SWAPDB answers once
the swap committed. Any router drives the acknowledgements of a pending swap (router/
cluster_settings.py), so one that dies mid-swap leaves no database fenced for longer than
another router's next look; shard leaders re-propose their entries after any failover.
Apply is total: a malformed or refused entry changes nothing.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

from proto.databases import DATABASES

SWAP_OPS = frozenset({"swapdb-begin", "swapdb-fenced"})
RESULTS_KEPT = 256
MAX_ID = 64


@dataclass(slots=True)
class PendingSwap:
    epoch: int
    first: int
    second: int
    shards: list[int]
    fenced: list[int] = field(default_factory=list)

    @property
    def fenced_mask(self) -> int:
        return 1 << self.first | 1 << self.second


class DbSwaps:
    """The database map, its epoch and the swap in progress."""

    def __init__(self) -> None:
        self.mapping: list[int] = list(range(DATABASES))
        self.epoch = 0
        self.pending: PendingSwap | None = None
        # Entry id -> the swap's epoch (0: refused), for the proposer waiting on it. Not
        # replicated state: only the proposer's wait reads it.
        self.results: collections.OrderedDict[str, int] = collections.OrderedDict()

    def apply(self, command: Any, shards: list[int], busy: str) -> bool:
        """Apply one swap entry (a decoded JSON object) against the map's shards; `busy`
        names a slot move or membership operation in flight (no swap begins then).
        Whether the database map changed (a swap committed). Never raises."""
        if type(command) is not dict:
            return False
        op = command.get("op")
        if op == "swapdb-begin":
            self._begin(command, shards, busy)
            return False
        if op == "swapdb-fenced":
            return self._fenced(command)
        return False

    def _begin(self, command: dict[str, Any], shards: list[int], busy: str) -> None:
        first, second = command.get("first"), command.get("second")
        entry_id = command.get("id")
        valid = _is_index(first) and _is_index(second) and first != second
        epoch = 0
        if valid and self.pending is None and not busy and shards:
            epoch = self.epoch + 1
            self.pending = PendingSwap(epoch, first, second, sorted(set(shards)))  # type: ignore[arg-type]
        if type(entry_id) is str and len(entry_id) <= MAX_ID:
            self.results[entry_id] = epoch
            while len(self.results) > RESULTS_KEPT:
                self.results.popitem(last=False)

    def _fenced(self, command: dict[str, Any]) -> bool:
        pending = self.pending
        epoch, shard = command.get("epoch"), command.get("shard")
        if type(epoch) is not int or type(shard) is not int:
            return False
        if pending is None or epoch != pending.epoch or shard not in pending.shards:
            return False
        if shard not in pending.fenced:
            pending.fenced.append(shard)
        if len(pending.fenced) < len(pending.shards):
            return False
        mapping = self.mapping
        mapping[pending.first], mapping[pending.second] = (
            mapping[pending.second],
            mapping[pending.first],
        )
        self.epoch = pending.epoch
        self.pending = None
        return True

    def busy(self) -> str:
        """What a slot move or membership operation must wait for ("" when nothing)."""
        if self.pending is None:
            return ""
        return f"SWAPDB {self.pending.first} {self.pending.second} is in progress"

    def desired(self) -> tuple[int, list[int], int, int]:
        """What every shard must hold: (map epoch, map, fence epoch, fenced databases)."""
        pending = self.pending
        if pending is None:
            return self.epoch, list(self.mapping), 0, 0
        return self.epoch, list(self.mapping), pending.epoch, pending.fenced_mask

    def to_json(self) -> dict[str, Any]:
        pending = self.pending
        return {
            "epoch": self.epoch,
            "mapping": list(self.mapping),
            "pending": None
            if pending is None
            else {
                "epoch": pending.epoch,
                "first": pending.first,
                "second": pending.second,
                "shards": list(pending.shards),
                "fenced": list(pending.fenced),
            },
        }

    def restore(self, raw: Any) -> None:
        """From a metadata snapshot (none in those from before databases)."""
        self.mapping = list(range(DATABASES))
        self.epoch = 0
        self.pending = None
        if type(raw) is not dict:
            return
        self.epoch = int(raw.get("epoch", 0))
        mapping = raw.get("mapping")
        if type(mapping) is list and sorted(mapping) == list(range(DATABASES)):
            self.mapping = [int(item) for item in mapping]
        pending = raw.get("pending")
        if type(pending) is dict:
            self.pending = PendingSwap(
                int(pending["epoch"]),
                int(pending["first"]),
                int(pending["second"]),
                [int(s) for s in pending["shards"]],
                [int(s) for s in pending["fenced"]],
            )

    @staticmethod
    def begin_command(first: int, second: int, entry_id: str) -> dict[str, Any]:
        return {"op": "swapdb-begin", "first": first, "second": second, "id": entry_id}

    @staticmethod
    def fenced_command(epoch: int, shard: int, entry_id: str) -> dict[str, Any]:
        return {"op": "swapdb-fenced", "epoch": epoch, "shard": shard, "id": entry_id}


def _is_index(value: object) -> bool:
    return isinstance(value, int) and type(value) is not bool and 0 <= value < DATABASES
