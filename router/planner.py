"""Routing: which shard(s) run a command, and how their replies are merged.

Pure: it only needs the slot map (`shard_count`, `shard_for_slot`) and a random
generator for RANDOMKEY. A plan is a `Forward` (one command, one shard, its reply is the
client's), a `Scatter` (commands to several shards and a merge), or an encoded error
reply (CROSSSLOT). Keys come from the command table (`CommandSpec.key_positions`); all
keys of a keyed command must hash to one slot, as in Redis Cluster.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from proto import errors
from proto.commands import CommandSpec, Merge, Route
from proto.slots import key_slot
from router import merge, replies, scan_cursor
from router.errors import ALL_SHARDS_IN_MULTI

CROSSSLOT_REPLY = replies.error(errors.CROSSSLOT)


class SlotMap(Protocol):
    @property
    def shard_count(self) -> int: ...

    def shard_for_slot(self, slot: int) -> int: ...


@dataclass(frozen=True, slots=True)
class Forward:
    shard: int
    args: list[bytes]


@dataclass(frozen=True, slots=True)
class Scatter:
    pieces: list[tuple[int, list[bytes]]]
    merge: merge.Merge


Plan = Forward | Scatter | bytes

# How the replies of a command split per shard (Route.SPLIT) or fanned out to every shard
# (Route.ALL_SHARDS) combine, by the spec's `merge`; IN_KEY_ORDER (split), SCAN and
# RANDOM_KEY (fanned out) are planned by their own methods.
SPLIT_MERGES: dict[Merge, merge.Merge] = {
    Merge.SUM: merge.sum_integers,
    Merge.ALL_OK: merge.all_ok,
}
FAN_OUT_MERGES: dict[Merge, merge.Merge] = {
    Merge.SUM: merge.sum_integers,
    Merge.CONCAT: merge.concat_arrays,
    Merge.ALL_OK: merge.all_ok,
    Merge.ALL_EXIST: merge.all_exist,
    Merge.ALL_EQUAL: merge.all_equal,
}


class Planner:
    def __init__(self, slot_map: SlotMap, rng: random.Random | None = None) -> None:
        self.slot_map = slot_map
        self.rng = rng or random.Random()
        self._any_shard = 0

    # ------------------------------------------------------------------ entry points

    def plan(self, spec: CommandSpec, args: list[bytes]) -> Plan:
        """The plan of a command whose arity was checked."""
        route = spec.route
        if route is Route.KEYED:
            if spec.keys_function is None and spec.first_key == 1 and spec.last_key == 1:
                return Forward(self.shard_of_key(args[1]), args)
            shard = self.shard_of_keys(spec.keys(args))
            if type(shard) is bytes:
                return shard
            return Forward(shard, args)  # type: ignore[arg-type]
        if route is Route.SPLIT:
            return self._split(spec, args)
        if route is Route.ALL_SHARDS:
            if self.slot_map.shard_count == 1:
                return Forward(0, args)
            return self._fan_out(spec, args)
        if route is Route.ANY_SHARD:
            return Forward(self._next_any_shard(), args)
        raise ValueError(f"{spec.name} is answered by the router, not planned")

    def transaction_shard(self, spec: CommandSpec, args: list[bytes]) -> int | bytes | None:
        """The shard a command queued in MULTI must run on: None if any shard will do, an
        encoded error if it cannot be part of a one-shard transaction."""
        route = spec.route
        if route is Route.KEYED:
            keys = spec.keys(args)
            return self.shard_of_keys(keys) if keys else None
        if route is Route.SPLIT:
            shards = {self.shard_of_key(key) for key in spec.keys(args)}
            if len(shards) > 1:
                return CROSSSLOT_REPLY
            return shards.pop() if shards else None
        if route is Route.ALL_SHARDS:
            if self.slot_map.shard_count == 1:
                return 0
            return replies.error(ALL_SHARDS_IN_MULTI % spec.name.upper().encode())
        return None

    def shard_of_key(self, key: bytes) -> int:
        return self.slot_map.shard_for_slot(key_slot(key))

    def shard_of_keys(self, keys: list[bytes]) -> int | bytes:
        """The shard of keys that must share a slot, or the CROSSSLOT error reply."""
        if not keys:
            return self._next_any_shard()  # a malformed key count: the engine will say why
        slot = key_slot(keys[0])
        for key in keys[1:]:
            if key_slot(key) != slot:
                return CROSSSLOT_REPLY
        return self.slot_map.shard_for_slot(slot)

    def shards_of_keys(self, keys: list[bytes]) -> set[int]:
        return {self.shard_of_key(key) for key in keys}

    # ------------------------------------------------------------------ SPLIT

    def _split(self, spec: CommandSpec, args: list[bytes]) -> Plan:
        positions = spec.key_positions(args)
        step = max(spec.key_step, 1)
        if not positions:
            return Forward(self._next_any_shard(), args)
        if (len(args) - positions[0]) % step:
            # Malformed (MSET with a key and no value): one shard replies the error, so
            # nothing is half applied.
            return Forward(self.shard_of_key(args[positions[0]]), args)
        by_shard: dict[int, list[int]] = {}
        for index, position in enumerate(positions):
            by_shard.setdefault(self.shard_of_key(args[position]), []).append(index)
        if len(by_shard) == 1:
            return Forward(next(iter(by_shard)), args)
        name = args[0]
        pieces: list[tuple[int, list[bytes]]] = []
        for shard, indexes in by_shard.items():
            piece = [name]
            for index in indexes:
                position = positions[index]
                piece.extend(args[position : position + step])
            pieces.append((shard, piece))
        kind = spec.merge
        if kind is Merge.IN_KEY_ORDER:
            return Scatter(pieces, merge.scatter_positions(list(by_shard.values()), len(positions)))
        return Scatter(pieces, SPLIT_MERGES[kind])  # type: ignore[index]

    # ------------------------------------------------------------------ ALL_SHARDS

    def _fan_out(self, spec: CommandSpec, args: list[bytes]) -> Plan:
        kind = spec.merge
        if kind is Merge.SCAN:
            return self._scan(args)
        if kind is Merge.RANDOM_KEY:
            return self._random_key(args)
        return Scatter([(shard, args) for shard in self._shards()], FAN_OUT_MERGES[kind])  # type: ignore[index]

    def _scan(self, args: list[bytes]) -> Plan:
        cursor = scan_cursor.parse(args[1])
        if cursor is None:
            return Forward(0, args)  # not ours to parse: shard 0 replies Redis's error
        shard, shard_cursor = scan_cursor.decompose(cursor)
        if shard >= self.slot_map.shard_count:
            return b"*2\r\n$1\r\n0\r\n*0\r\n"  # past the last shard: the iteration is over
        piece = [args[0], b"%d" % shard_cursor, *args[2:]]
        return Scatter([(shard, piece)], merge.scan_page(shard, self.slot_map.shard_count))

    def _random_key(self, args: list[bytes]) -> Plan:
        pieces: list[tuple[int, list[bytes]]] = []
        for shard in self._shards():
            pieces.append((shard, [b"DBSIZE"]))
            pieces.append((shard, args))
        return Scatter(pieces, merge.random_key(self.rng))

    def _shards(self) -> range:
        return range(self.slot_map.shard_count)

    def _next_any_shard(self) -> int:
        self._any_shard = (self._any_shard + 1) % self.slot_map.shard_count
        return self._any_shard
