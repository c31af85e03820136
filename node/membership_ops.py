"""Membership operations in the metadata group: add, remove and replace nodes, rebalance.

Two entries, applied by node/metadata.py MetadataState:

- {"op": "membership", "id": ID, "request": {...}, "epoch": E, "down": [node, ...]} starts
  an operation: the placement planner (node/placement.py) turns the current map and the
  request into the new map, which is installed at once (its epoch is the entry's index).
  Each group's leader then moves its replicas towards it (node/membership_steps.py). A
  node that leaves stays in the map's `nodes` (routers and peers keep its address) until
  the operation finishes.
- {"op": "membership-done", "id": ID} finishes it, proposed by `slotraft ctl` once every
  group holds its new membership: the leaving node is dropped from `nodes`.

One operation at a time. Refused, changing nothing: a second operation while one is in
flight, an entry planned on another map than the current one (`epoch`, 0: any), and what
the planner refuses. The same entry applied again (a ctl that re-drives after a crash) is
a no-op. Every replica applies the same entries with the same outcome (the planner is
pure); the outcome text is kept for the node that proposed the entry (not replicated).
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from typing import Any

from node.placement import (
    AddNode,
    PlacementError,
    Rebalance,
    RemoveNode,
    ReplaceNode,
    Request,
    plan,
)
from proto.topology import ShardPlacement

MAX_DOWN = 1024  # nodes listed as down in one entry (more is malformed)


class MembershipEntryError(ValueError):
    pass


@dataclass(slots=True)
class Operation:
    id: str
    request: dict[str, Any]  # as in the entry
    leaving: int  # a node that stays in `nodes` until the end (0: none)
    epoch: int  # the map epoch it installed

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request": self.request,
            "leaving": self.leaving,
            "epoch": self.epoch,
        }


@dataclass(slots=True)
class MembershipLedger:
    current: Operation | None = None
    finished: int = 0  # operations finished so far (replicated; ctl status shows it)
    # Outcomes of the entries applied lately, for the node waiting on them: id -> "" (done)
    # or the refusal. Not replicated, not in snapshots.
    outcomes: collections.OrderedDict[str, str] = field(default_factory=collections.OrderedDict)

    def in_flight(self) -> str:
        """The operation in flight, described ("": none)."""
        return "" if self.current is None else describe(self.current.request)

    def note(self, entry_id: str, outcome: str) -> None:
        self.outcomes[entry_id] = outcome
        while len(self.outcomes) > 256:
            self.outcomes.popitem(last=False)

    def snapshot(self) -> dict[str, Any]:
        return {
            "current": None if self.current is None else self.current.to_dict(),
            "finished": self.finished,
        }

    def restore(self, raw: dict[str, Any] | None) -> None:
        raw = raw or {}
        current = raw.get("current")
        self.current = None if current is None else Operation(**current)
        self.finished = raw.get("finished", 0)


def start_command(entry_id: str, request: dict[str, Any], epoch: int, down: list[int]) -> bytes:
    return json.dumps(
        {"op": "membership", "id": entry_id, "request": request, "epoch": epoch, "down": down},
        sort_keys=True,
    ).encode()


def done_command(entry_id: str) -> bytes:
    return json.dumps({"op": "membership-done", "id": entry_id}, sort_keys=True).encode()


def parse_request(raw: Any) -> Request:
    """The planner's request of an entry's "request" object; MembershipEntryError if it is
    not one."""
    if type(raw) is not dict:
        raise MembershipEntryError("request is not an object")
    kind = raw.get("kind")
    node, new_node, address = raw.get("node", 0), raw.get("new_node", 0), raw.get("address", "")
    if not (_is_id(node) and _is_id(new_node) and type(address) is str and len(address) <= 255):
        raise MembershipEntryError("request fields of the wrong type")
    match kind:
        case "add-node":
            return AddNode(node, address)
        case "remove-node":
            return RemoveNode(node)
        case "replace-node":
            return ReplaceNode(node, new_node, address)
        case "rebalance":
            return Rebalance()
    raise MembershipEntryError(f"unknown request kind {kind!r}")


def describe(request: dict[str, Any]) -> str:
    kind = request.get("kind")
    if kind == "add-node":
        return f"add-node {request.get('node')} at {request.get('address')}"
    if kind == "remove-node":
        return f"remove-node {request.get('node')}"
    if kind == "replace-node":
        new_node, address = request.get("new_node"), request.get("address")
        return f"replace-node {request.get('node')} by {new_node} at {address}"
    return str(kind)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an entry does to the map: None (unchanged) or the new nodes and shards."""

    error: str = ""
    nodes: dict[int, str] | None = None
    shards: tuple[ShardPlacement, ...] | None = None


def apply(
    ledger: MembershipLedger,
    index: int,
    data: bytes,
    nodes: dict[int, str],
    shards: list[ShardPlacement],
    map_epoch: int,
    moves_in_flight: int = 0,
) -> Outcome:
    """Apply a membership entry to the ledger; the map changes the caller installs. Total:
    anything malformed or refused is an outcome with an error and no change. No operation
    starts while slot moves are in flight (`moves_in_flight`): one change of the map at a
    time."""
    entry_id = ""
    try:
        command = json.loads(data)
        if type(command) is not dict or type(command.get("id")) is not str:
            raise MembershipEntryError("no id")
        entry_id = command["id"][:64]
        if command.get("op") == "membership-done":
            outcome = _finish(ledger, entry_id, nodes)
        else:
            outcome = _start(
                ledger, index, entry_id, command, nodes, shards, map_epoch, moves_in_flight
            )
    except (MembershipEntryError, ValueError, UnicodeDecodeError) as error:
        outcome = Outcome(error=f"malformed membership entry: {error}")
    if entry_id:
        ledger.note(entry_id, outcome.error)
    return outcome


def _start(
    ledger: MembershipLedger,
    index: int,
    entry_id: str,
    command: dict[str, Any],
    nodes: dict[int, str],
    shards: list[ShardPlacement],
    map_epoch: int,
    moves_in_flight: int,
) -> Outcome:
    current = ledger.current
    if current is not None:
        if current.id == entry_id:
            return Outcome()  # applied already: the ctl re-drives it
        return Outcome(
            error=f"another operation is in flight ({describe(current.request)}); run its "
            "command again to finish it first"
        )
    if moves_in_flight:
        return Outcome(
            error=f"{moves_in_flight} slot moves are in flight; finish them first "
            "(slotraft ctl move-slots)"
        )
    epoch, down = command.get("epoch", 0), command.get("down", [])
    if not _is_id(epoch) or type(down) is not list or len(down) > MAX_DOWN:
        raise MembershipEntryError("epoch or down of the wrong type")
    if not all(_is_id(n) for n in down):
        raise MembershipEntryError("down lists something that is not a node id")
    if epoch and epoch != map_epoch:
        return Outcome(error=f"the map changed (epoch {map_epoch}, planned on {epoch}); try again")
    request = parse_request(command.get("request"))
    try:
        result = plan(nodes, shards, request, frozenset(down))
    except PlacementError as error:
        return Outcome(error=str(error))
    leaving = request.node if isinstance(request, RemoveNode | ReplaceNode) else 0
    new_nodes = dict(result.nodes)
    if leaving:
        new_nodes[leaving] = nodes[leaving]  # until the operation finishes
    ledger.current = Operation(entry_id, dict(command["request"]), leaving, index)
    return Outcome(nodes=new_nodes, shards=result.shards)


def _finish(ledger: MembershipLedger, entry_id: str, nodes: dict[int, str]) -> Outcome:
    current = ledger.current
    if current is None or current.id != entry_id:
        return Outcome(error="" if current is None else f"{describe(current.request)} is in flight")
    ledger.current = None
    ledger.finished += 1
    if not current.leaving:
        return Outcome()
    new_nodes = {n: a for n, a in nodes.items() if n != current.leaving}
    return Outcome(nodes=new_nodes)


def _is_id(value: Any) -> bool:
    return type(value) is int and 0 <= value < 1 << 63
