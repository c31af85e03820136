"""The replicated metadata: the cluster's nodes, shards, their slot ranges and replicas,
and the cluster-wide settings (CONFIG SET).

It is the state machine of Raft group 0. Its first entry (proposed by the group's first
leader) installs the placement every node derives from the cluster description; later
entries may change it. The epoch is the log index of the last change, so a larger epoch
always means a newer map. A config entry sets cluster-wide parameters
(proto/redis_config.py CLUSTER_PARAMETERS), all of its settings or, if one is not valid,
none; `settings_version` is the log index of the last one.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node import membership_ops
from node.db_swaps import SWAP_OPS, DbSwaps
from node.slot_moves import MOVE_OPS, SlotMoves
from proto.acl import AclError
from proto.acl_table import AclTable
from proto.redis_config import CLUSTER_PARAMETERS, ConfigError, lookup
from proto.topology import ClusterDescription, ShardPlacement, place_shards

log = logging.getLogger("slotraft.metadata")


class MetadataFormatError(ValueError):
    pass


@dataclass(slots=True)
class ClusterMap:
    epoch: int = 0
    nodes: dict[int, str] = field(default_factory=dict)  # node id -> address
    shards: list[ShardPlacement] = field(default_factory=list)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "epoch": self.epoch,
                "nodes": {str(node): address for node, address in sorted(self.nodes.items())},
                "shards": [
                    {"id": s.id, "slots": [list(r) for r in s.slots], "replicas": list(s.replicas)}
                    for s in self.shards
                ],
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ClusterMap:
        raw = json.loads(data)
        return cls(
            epoch=raw["epoch"],
            nodes={int(node): address for node, address in raw["nodes"].items()},
            shards=[
                ShardPlacement(
                    id=shard["id"],
                    slots=tuple((first, last) for first, last in shard["slots"]),
                    replicas=tuple(shard["replicas"]),
                )
                for shard in raw["shards"]
            ],
        )


def initial_map(description: ClusterDescription) -> ClusterMap:
    return ClusterMap(
        epoch=0,
        nodes={node.id: node.raft_address for node in description.nodes},
        shards=place_shards(description),
    )


class MetadataState:
    """Applies metadata entries: JSON objects {"op": "install", "map": {...}} and
    {"op": "config", "settings": {name: value}, "id": "..."}."""

    def __init__(self, fallback: ClusterMap) -> None:
        # Until the first entry applies, the map derived from the description is served
        # (with epoch 0): it is what that entry will install.
        self.map = fallback
        self.installed = False
        self.listeners: list[Callable[[ClusterMap], None]] = []
        self.settings: dict[str, str] = {}  # canonical name -> canonical value
        self.settings_version = 0
        self.settings_listeners: list[Callable[[], None]] = []
        # The ids of the config entries applied lately: a node that proposed one waits
        # for its id (not replicated state: only the proposer's wait reads it).
        self.applied_config_ids: collections.deque[str] = collections.deque(maxlen=256)
        # Slot ranges moving between shards (node/slot_moves.py).
        self.slot_moves = SlotMoves()
        # The ACL users (ACL SETUSER, DELUSER, LOAD: proto/acl_table.py).
        self.acl = AclTable()
        # Node membership and replica placement operations (node/membership_ops.py).
        self.membership = membership_ops.MembershipLedger()
        # The database map and SWAPDB in progress (node/db_swaps.py).
        self.db_swaps = DbSwaps()
        self.db_swap_listeners: list[Callable[[], None]] = []

    def apply(self, index: int, data: bytes) -> None:
        """Apply one entry. Total, as every replica of the group applies every entry and
        replays it after each restart: an entry that is not a well-formed install or
        config entry (the same on every replica, which all read the same bytes) is a
        logged no-op."""
        try:
            op = _op_of(data)
            if type(op) is str and op in MOVE_OPS:
                self._apply_move(index, data)
                return
            if type(op) is str and op in SWAP_OPS:
                self._apply_swap(data)
                return
            if op == "acl":
                self._apply_acl(index, data)
                return
            if op in ("membership", "membership-done"):
                self._apply_membership(index, data)
                return
            if op == "config":
                settings, config_id = parse_config(data)
                self.settings.update(settings)
                self.settings_version = index
                self.applied_config_ids.append(config_id)
                for settings_listener in list(self.settings_listeners):
                    settings_listener()
                return
            new_map = parse_install(data)
        except MetadataFormatError as error:
            log.error("metadata entry %d applied as a no-op: %s", index, error)
            return
        new_map.epoch = index
        self.map = new_map
        self.installed = True
        for listener in list(self.listeners):
            listener(new_map)

    def _apply_swap(self, data: bytes) -> None:
        """A SWAPDB step (node/db_swaps.py); refused while the map's shards may change."""
        command = json.loads(data)
        busy = self.membership.in_flight()
        if self.slot_moves.moves:
            busy = f"{len(self.slot_moves.moves)} slot moves are in flight"
        self.db_swaps.apply(command, [shard.id for shard in self.map.shards], busy)
        entry_id = command.get("id") if type(command) is dict else None
        if type(entry_id) is str:
            self.applied_config_ids.append(entry_id)
        for listener in list(self.db_swap_listeners):
            listener()
        for settings_listener in list(self.settings_listeners):
            settings_listener()  # routers watch the map with the settings

    def _apply_move(self, index: int, data: bytes) -> None:
        """A slot move entry: a commit gives the range to its target, with a new epoch."""
        busy = self.membership.in_flight() or self.db_swaps.busy()
        shards = self.slot_moves.apply(json.loads(data), self.map.shards, busy)
        if shards is None:
            return
        self.map = dataclasses.replace(
            self.map, epoch=index, nodes=dict(self.map.nodes), shards=shards
        )
        for listener in list(self.listeners):
            listener(self.map)

    def _apply_acl(self, index: int, data: bytes) -> None:
        """An ACL change: applied to the table, or (refused the same way on every replica)
        a logged no-op. Either way its id is applied, so that its proposer stops waiting."""
        change, config_id = parse_acl(data)
        try:
            self.acl.apply(change, index)
        except (AclError, ValueError, TypeError, KeyError) as error:
            log.info("ACL change at %d refused: %s", index, error)
        self.applied_config_ids.append(config_id)
        for settings_listener in list(self.settings_listeners):
            settings_listener()

    @staticmethod
    def acl_command(change: dict[str, Any], config_id: str) -> bytes:
        return json.dumps({"op": "acl", "change": change, "id": config_id}, sort_keys=True).encode()

    def _apply_membership(self, index: int, data: bytes) -> None:
        current = self.map
        outcome = membership_ops.apply(
            self.membership,
            index,
            data,
            dict(current.nodes),
            list(current.shards),
            current.epoch,
            len(self.slot_moves.moves) + (self.db_swaps.pending is not None),
        )
        if outcome.error:
            log.warning("metadata entry %d: membership change refused: %s", index, outcome.error)
        if outcome.nodes is None and outcome.shards is None:
            return
        new_map = dataclasses.replace(
            current,
            epoch=index,
            nodes=outcome.nodes if outcome.nodes is not None else dict(current.nodes),
            shards=list(outcome.shards) if outcome.shards is not None else list(current.shards),
        )
        self.map = new_map
        for listener in list(self.listeners):
            listener(new_map)

    @staticmethod
    def install_command(cluster_map: ClusterMap) -> bytes:
        return json.dumps({"op": "install", "map": json.loads(cluster_map.to_json())}).encode()

    @staticmethod
    def config_command(settings: dict[str, str], config_id: str) -> bytes:
        return json.dumps(
            {"op": "config", "settings": settings, "id": config_id}, sort_keys=True
        ).encode()

    def snapshot(self) -> bytes:
        return json.dumps(
            {
                "installed": self.installed,
                "map": json.loads(self.map.to_json()),
                "settings": self.settings,
                "settings_version": self.settings_version,
                "moves": self.slot_moves.to_json(),
                "acl": self.acl.to_json(),
                "membership": self.membership.snapshot(),
                "databases": self.db_swaps.to_json(),
            },
            sort_keys=True,
        ).encode()

    def restore(self, data: bytes) -> None:
        raw = json.loads(data)
        self.installed = raw["installed"]
        self.map = ClusterMap.from_json(json.dumps(raw["map"]).encode())
        # Snapshots from before cluster-wide settings have none.
        self.settings = dict(raw.get("settings", {}))
        self.settings_version = raw.get("settings_version", 0)
        self.slot_moves.restore(raw.get("moves"))  # none in snapshots from before moves
        # Snapshots from before ACL users have none.
        self.acl = AclTable.from_json(raw.get("acl", {}))
        self.membership.restore(raw.get("membership"))  # absent before membership changes
        self.db_swaps.restore(raw.get("databases"))  # absent before databases
        for swap_listener in list(self.db_swap_listeners):
            swap_listener()
        for listener in list(self.listeners):
            listener(self.map)
        for settings_listener in list(self.settings_listeners):
            settings_listener()


def _op_of(data: bytes) -> object:
    try:
        command = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return command.get("op") if type(command) is dict else None


def parse_config(data: bytes) -> tuple[dict[str, str], str]:
    """The settings and id of a config entry; MetadataFormatError unless every setting is
    a cluster-wide parameter under its canonical name with a valid canonical value (the
    same check on every replica, so all apply the entry, or none)."""
    command = json.loads(data)
    settings = command.get("settings")
    config_id = command.get("id", "")
    if type(settings) is not dict or type(config_id) is not str or not settings:
        raise MetadataFormatError("malformed config entry")
    for name, value in settings.items():
        parameter = lookup(name)
        if parameter is None or parameter.name != name or name not in CLUSTER_PARAMETERS:
            raise MetadataFormatError(f"config entry sets {name!r}, not a cluster-wide setting")
        if type(value) is not str:
            raise MetadataFormatError(f"config entry gives {name} a value that is not text")
        try:
            shown = parameter.parse(value, value)
        except ConfigError as error:
            raise MetadataFormatError(f"config entry sets {name} to {value!r}: {error}") from None
        if shown != value:
            raise MetadataFormatError(f"config entry sets {name} to {value!r}, not canonical")
    return dict(settings), config_id


def parse_acl(data: bytes) -> tuple[dict[str, Any], str]:
    """The change and id of an ACL entry; MetadataFormatError if malformed."""
    command = json.loads(data)
    change = command.get("change")
    config_id = command.get("id", "")
    if type(change) is not dict or type(config_id) is not str:
        raise MetadataFormatError("malformed ACL entry")
    return change, config_id


def parse_install(data: bytes) -> ClusterMap:
    """The map of an install entry; MetadataFormatError unless the entry is one, with
    fields of the types a ClusterMap holds (listeners build slot maps from them)."""
    try:
        command = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise MetadataFormatError(f"not JSON: {error}") from None
    if type(command) is not dict or command.get("op") != "install":
        op = command.get("op") if type(command) is dict else None
        raise MetadataFormatError(f"unknown metadata operation {op!r}")
    raw = command.get("map")
    if not (
        type(raw) is dict
        and _is_int(raw.get("epoch"))
        and type(raw.get("nodes")) is dict
        and all(key.isdigit() and type(address) is str for key, address in raw["nodes"].items())
        and type(raw.get("shards")) is list
        and all(_is_shard(shard) for shard in raw["shards"])
    ):
        raise MetadataFormatError("malformed cluster map in install entry")
    return ClusterMap.from_json(json.dumps(raw).encode())


def _is_int(value: Any) -> bool:
    return type(value) is int and 0 <= value < 1 << 63


def _is_shard(shard: Any) -> bool:
    return (
        type(shard) is dict
        and _is_int(shard.get("id"))
        and type(shard.get("slots")) is list
        and all(
            type(pair) is list and len(pair) == 2 and all(map(_is_int, pair))
            for pair in shard["slots"]
        )
        and type(shard.get("replicas")) is list
        and all(map(_is_int, shard["replicas"]))
    )
