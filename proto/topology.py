"""The cluster description and the initial placement every node derives from it.

A cluster is described once (a TOML file or flags): node ids and addresses, the number of
shards, replicas per shard. Every node computes the same placement from it: slot ranges
split evenly, each shard's replicas on distinct nodes, preferred leaders spread over the
nodes. The placement is the initial state of the replicated metadata group.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from proto.slots import SLOT_COUNT

_CLUSTER_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
METADATA_GROUP = 0  # Raft group id of the metadata group; shard s uses group s + 1


@dataclass(frozen=True, slots=True)
class NodeAddress:
    id: int
    raft_address: str  # host:port of the node's gRPC server (Raft, KV and admin services)


@dataclass(frozen=True, slots=True)
class ShardPlacement:
    id: int  # 0-based shard number; its Raft group is id + 1
    slots: tuple[tuple[int, int], ...]  # inclusive ranges
    replicas: tuple[int, ...]  # node ids; replicas[0] is the preferred leader

    @property
    def group(self) -> int:
        return self.id + 1


@dataclass(frozen=True, slots=True)
class ClusterDescription:
    nodes: tuple[NodeAddress, ...]
    shards: int = 3
    replicas: int = 3
    metadata_replicas: int = 3
    settings: dict[str, object] = field(default_factory=dict)
    # Names the cluster: a data directory, a peer or a router of another cluster is refused
    # (node/datadir.py, proto/handshake.py). "": not set (then derived from the secret).
    cluster_id: str = ""

    def __post_init__(self) -> None:
        if self.cluster_id and not _CLUSTER_ID.fullmatch(self.cluster_id):
            raise ValueError(
                f"cluster_id {self.cluster_id!r}: use 1-64 letters, digits, '.', '_' or '-'"
            )
        ids = [node.id for node in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError("node ids must be unique")
        if any(node_id <= 0 for node_id in ids):
            raise ValueError("node ids must be positive integers")
        if not 1 <= self.replicas <= len(self.nodes):
            raise ValueError(
                f"replicas per shard ({self.replicas}) must be between 1 and the number of "
                f"nodes ({len(self.nodes)})"
            )
        if not 1 <= self.shards <= SLOT_COUNT:
            raise ValueError(f"shards must be between 1 and {SLOT_COUNT}")

    def node(self, node_id: int) -> NodeAddress:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(f"no node with id {node_id} in the cluster description")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ClusterDescription:
        raw = json.loads(text)
        return cls(
            nodes=tuple(NodeAddress(**node) for node in raw["nodes"]),
            shards=raw["shards"],
            replicas=raw["replicas"],
            metadata_replicas=raw.get("metadata_replicas", 3),
            settings=raw.get("settings", {}),
            cluster_id=raw.get("cluster_id", ""),
        )

    @classmethod
    def from_toml(cls, path: Path) -> ClusterDescription:
        """Read a cluster file:

        cluster_id = "prod-1"   # optional
        shards = 3
        replicas = 3
        [[node]]
        id = 1
        address = "10.0.0.1:7001"
        """
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
        try:
            nodes = tuple(
                NodeAddress(id=int(entry["id"]), raft_address=str(entry["address"]))
                for entry in raw["node"]
            )
        except KeyError as missing:
            raise ValueError(f"{path}: every [[node]] needs {missing}") from None
        return cls(
            nodes=nodes,
            shards=int(raw.get("shards", 3)),
            replicas=int(raw.get("replicas", 3)),
            metadata_replicas=int(raw.get("metadata_replicas", 3)),
            settings=dict(raw.get("settings", {})),
            cluster_id=str(raw.get("cluster_id", "")),
        )


def split_slots(shards: int) -> list[tuple[int, int]]:
    """Even contiguous slot ranges, the first ones one slot larger when it does not divide."""
    base, extra = divmod(SLOT_COUNT, shards)
    ranges = []
    start = 0
    for shard in range(shards):
        size = base + (1 if shard < extra else 0)
        ranges.append((start, start + size - 1))
        start += size
    return ranges


def place_shards(description: ClusterDescription) -> list[ShardPlacement]:
    """Replicas on distinct nodes, round-robin so that each node leads (prefers) about the
    same number of shards and holds about the same number of replicas."""
    node_ids = sorted(node.id for node in description.nodes)
    count = len(node_ids)
    placements = []
    for shard, slot_range in enumerate(split_slots(description.shards)):
        replicas = tuple(
            node_ids[(shard + offset) % count] for offset in range(description.replicas)
        )
        placements.append(ShardPlacement(id=shard, slots=(slot_range,), replicas=replicas))
    return placements


def metadata_replicas(description: ClusterDescription) -> tuple[int, ...]:
    node_ids = sorted(node.id for node in description.nodes)
    return tuple(node_ids[: min(description.metadata_replicas, len(node_ids))])


def slot_table(placements: list[ShardPlacement]) -> list[int]:
    """shard id for each of the 16384 slots."""
    table = [-1] * SLOT_COUNT
    for placement in placements:
        for first, last in placement.slots:
            for slot in range(first, last + 1):
                table[slot] = placement.id
    if -1 in table:
        raise ValueError(f"slot {table.index(-1)} is not assigned to any shard")
    return table
