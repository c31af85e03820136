"""Slot moves in the metadata group: which slot ranges are moving, and the map's change
when one commits (pure; docs/DESIGN.md, "Moving slots").

A move goes through three metadata entries, each a JSON object with an "id" (the
proposer waits for it):

- {"op": "move-begin", "move": {...}}: records the move (its range, source and target)
  among the moves in flight, if it is valid against the map and the other moves then;
- {"op": "move-commit", "move_id": ...}: the map gives the range to the target, its epoch
  becomes the entry's index (routers follow it);
- {"op": "move-done", "move_id": ...}: forgets the move (the source has dropped the keys).

Every check is made when the entry applies, on every replica, so two operators racing for
the same slots get one move and one refusal. Apply is total: a malformed or refused entry
records its error under its id and changes nothing.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from dataclasses import asdict, dataclass
from typing import Any

from proto.slots import SLOT_COUNT
from proto.topology import ShardPlacement

MOVE_OPS = frozenset({"move-begin", "move-commit", "move-done"})
# How many recent entry results a node keeps for the proposers waiting on them.
RESULTS_KEPT = 256
MAX_MOVES = 64  # moves in flight at once
MAX_ID = 64  # bytes of a move id or entry id

# Phases of a move, as the metadata records it.
COPYING = "copying"  # begun: the source fences, the keys are streamed to the target
COMMITTED = "committed"  # the map names the target: it activates, the source drops


class SlotMoveError(ValueError):
    """A move that cannot be made; the text is the operator's error message."""


@dataclass(slots=True)
class Move:
    id: str
    first: int
    last: int
    source: int
    target: int
    phase: str = COPYING

    def overlaps(self, first: int, last: int) -> bool:
        return self.first <= last and first <= self.last


def parse_range(text: str) -> tuple[int, int]:
    """FIRST-LAST (or one slot) as an inclusive range; SlotMoveError if it is not one."""
    first_text, _, last_text = text.partition("-")
    try:
        first = int(first_text)
        last = int(last_text) if last_text else first
    except ValueError:
        raise SlotMoveError(f"not a slot range: {text!r} (FIRST-LAST)") from None
    if not 0 <= first <= last < SLOT_COUNT:
        raise SlotMoveError(f"not a slot range: {text!r} (0 <= FIRST <= LAST < {SLOT_COUNT})")
    return first, last


def owner_of(shards: list[ShardPlacement], slot: int) -> int | None:
    for shard in shards:
        if any(first <= slot <= last for first, last in shard.slots):
            return shard.id
    return None


def check_move(
    shards: list[ShardPlacement], moves: dict[str, Move], first: int, last: int, target: int
) -> int:
    """The source shard of moving [first, last] to `target`; SlotMoveError if the move is
    not valid: an unknown target, slots owned by several shards or already by the target,
    slots that are already moving."""
    if not 0 <= first <= last < SLOT_COUNT:
        raise SlotMoveError(f"slots {first}-{last} are not a slot range")
    if all(shard.id != target for shard in shards):
        raise SlotMoveError(f"unknown shard {target}")
    for move in moves.values():
        if move.overlaps(first, last):
            raise SlotMoveError(
                f"slots {move.first}-{move.last} are already moving "
                f"(move {move.id}, shard {move.source} -> {move.target})"
            )
    source = owner_of(shards, first)
    for slot_range in _owners(shards, first, last):
        if slot_range[2] != source:
            raise SlotMoveError(
                f"slots {first}-{last} are not held by one shard "
                f"(shard {source} holds {first}, shard {slot_range[2]} holds {slot_range[0]})"
            )
    if source is None:
        raise SlotMoveError(f"slots {first}-{last} are held by no shard")
    if source == target:
        raise SlotMoveError(f"shard {target} already holds slots {first}-{last}")
    return source


def _owners(
    shards: list[ShardPlacement], first: int, last: int
) -> list[tuple[int, int, int | None]]:
    """(first, last, owner) pieces covering [first, last]; None where no shard holds it."""
    pieces = sorted(
        (max(a, first), min(b, last), shard.id)
        for shard in shards
        for a, b in shard.slots
        if a <= last and first <= b
    )
    covered: list[tuple[int, int, int | None]] = []
    position = first
    for a, b, owner in pieces:
        if a > position:
            covered.append((position, a - 1, None))
        covered.append((a, b, owner))
        position = b + 1
    if position <= last:
        covered.append((position, last, None))
    return covered


def normalize(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted, with adjacent and overlapping ranges merged."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return tuple(merged)


def without(
    ranges: tuple[tuple[int, int], ...], first: int, last: int
) -> tuple[tuple[int, int], ...]:
    kept: list[tuple[int, int]] = []
    for a, b in ranges:
        if b < first or a > last:
            kept.append((a, b))
            continue
        if a < first:
            kept.append((a, first - 1))
        if b > last:
            kept.append((last + 1, b))
    return normalize(kept)


def reassign(shards: list[ShardPlacement], move: Move) -> list[ShardPlacement]:
    """The shards with the move's range taken from its source and given to its target."""
    changed = []
    for shard in shards:
        slots = shard.slots
        if shard.id == move.source:
            slots = without(slots, move.first, move.last)
        elif shard.id == move.target:
            slots = normalize([*slots, (move.first, move.last)])
        changed.append(dataclasses.replace(shard, slots=slots))  # replicas etc. as they are
    return changed


class SlotMoves:
    """The moves in flight (replicated) and the results of recent move entries (for the
    proposers on this node: not replicated state, never in a snapshot)."""

    def __init__(self) -> None:
        self.moves: dict[str, Move] = {}
        self.results: collections.OrderedDict[str, str] = collections.OrderedDict()

    def apply(
        self, command: Any, shards: list[ShardPlacement], membership_busy: str = ""
    ) -> list[ShardPlacement] | None:
        """Apply one move entry (a decoded JSON object). The new shards when the map
        changes (a commit), else None. Never raises. `membership_busy`: the membership
        operation in flight, during which no move begins (one change of the map at a time:
        a move's target shard must keep its replicas while it receives the slots)."""
        entry_id = command.get("id") if type(command) is dict else None
        try:
            if membership_busy and command.get("op") == "move-begin":
                raise SlotMoveError(
                    f"a membership operation is in flight ({membership_busy}); finish it first"
                )
            new_shards = self._apply(command, shards)
        except SlotMoveError as error:
            self._result(entry_id, str(error))
            return None
        self._result(entry_id, "")
        return new_shards

    def _result(self, entry_id: object, error: str) -> None:
        if type(entry_id) is str and len(entry_id) <= MAX_ID:
            self.results[entry_id] = error
            while len(self.results) > RESULTS_KEPT:
                self.results.popitem(last=False)

    def _apply(self, command: Any, shards: list[ShardPlacement]) -> list[ShardPlacement] | None:
        if type(command) is not dict:
            raise SlotMoveError("malformed move entry")
        op = command.get("op")
        if op == "move-begin":
            move = _parse_move(command.get("move"))
            if move.id in self.moves:
                raise SlotMoveError(f"move {move.id} exists already")
            if len(self.moves) >= MAX_MOVES:
                raise SlotMoveError(f"{MAX_MOVES} moves are in flight already")
            source = check_move(shards, self.moves, move.first, move.last, move.target)
            if source != move.source:
                raise SlotMoveError(f"slots {move.first}-{move.last} are held by shard {source}")
            self.moves[move.id] = move
            return None
        move_id = command.get("move_id")
        found = self.moves.get(move_id) if type(move_id) is str else None
        if found is None:
            raise SlotMoveError(f"no move {move_id!r} in flight")
        move = found
        if op == "move-commit":
            if move.phase == COMMITTED:
                return None  # committed already: a re-driven commit changes nothing
            move.phase = COMMITTED
            return reassign(shards, move)
        if op == "move-done":
            if move.phase != COMMITTED:
                raise SlotMoveError(f"move {move.id} is not committed yet")
            del self.moves[move.id]
            return None
        raise SlotMoveError(f"unknown move operation {op!r}")

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(move) for _, move in sorted(self.moves.items())]

    def restore(self, raw: Any) -> None:
        self.moves = {}
        for item in raw or []:
            move = _parse_move(item, phase=True)
            self.moves[move.id] = move


def _parse_move(raw: Any, phase: bool = False) -> Move:
    fields = ("id", "first", "last", "source", "target")
    if type(raw) is not dict or not all(name in raw for name in fields):
        raise SlotMoveError("malformed move")
    move_id = raw["id"]
    numbers = [raw[name] for name in fields[1:]]
    if not (
        type(move_id) is str
        and 0 < len(move_id) <= MAX_ID
        and all(type(n) is int and 0 <= n < 1 << 31 for n in numbers)
    ):
        raise SlotMoveError("malformed move")
    first, last, source, target = numbers
    if not first <= last < SLOT_COUNT:
        raise SlotMoveError(f"slots {first}-{last} are not a slot range")
    move = Move(move_id, first, last, source, target)
    if phase:
        if raw.get("phase") not in (COPYING, COMMITTED):
            raise SlotMoveError("malformed move phase")
        move.phase = raw["phase"]
    return move


def begin_command(move: Move, entry_id: str) -> bytes:
    body = asdict(move)
    del body["phase"]
    return json.dumps({"op": "move-begin", "id": entry_id, "move": body}).encode()


def step_command(op: str, move_id: str, entry_id: str) -> bytes:
    return json.dumps({"op": op, "id": entry_id, "move_id": move_id}).encode()
