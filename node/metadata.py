"""The replicated metadata: the cluster's nodes, shards, their slot ranges and replicas.

It is the state machine of Raft group 0. Its first entry (proposed by the group's first
leader) installs the placement every node derives from the cluster description; later
entries may change it. The epoch is the log index of the last change, so a larger epoch
always means a newer map.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from proto.topology import ClusterDescription, ShardPlacement, place_shards


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
    """Applies metadata entries: JSON objects {"op": "install", "map": {...}}."""

    def __init__(self, fallback: ClusterMap) -> None:
        # Until the first entry applies, the map derived from the description is served
        # (with epoch 0): it is what that entry will install.
        self.map = fallback
        self.installed = False
        self.listeners: list[Callable[[ClusterMap], None]] = []

    def apply(self, index: int, data: bytes) -> None:
        command = json.loads(data)
        if command.get("op") != "install":
            raise ValueError(f"unknown metadata operation {command.get('op')!r}")
        new_map = ClusterMap.from_json(json.dumps(command["map"]).encode())
        new_map.epoch = index
        self.map = new_map
        self.installed = True
        for listener in list(self.listeners):
            listener(new_map)

    @staticmethod
    def install_command(cluster_map: ClusterMap) -> bytes:
        return json.dumps({"op": "install", "map": json.loads(cluster_map.to_json())}).encode()

    def snapshot(self) -> bytes:
        return json.dumps(
            {"installed": self.installed, "map": json.loads(self.map.to_json())}
        ).encode()

    def restore(self, data: bytes) -> None:
        raw = json.loads(data)
        self.installed = raw["installed"]
        self.map = ClusterMap.from_json(json.dumps(raw["map"]).encode())
        for listener in list(self.listeners):
            listener(self.map)
