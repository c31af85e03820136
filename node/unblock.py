"""CLIENT UNBLOCK on the node: a router that holds the unblocked client publishes
[shard, router's Kv client id, request sequence, b"timeout" | b"error"] on NODE_UNBLOCK
to the nodes (Kv.Publish; the router's PUBLISH never sends a client's message on an
internal channel). The shard's leader answers the parked request at once, as its
timeout would (TIMEOUT) or with Redis's UNBLOCKED error (ERROR); nothing is applied, so
nothing is replicated. A request not parked here (served meanwhile, or not yet parked)
is left alone: the count published back is 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from proto.internal_channels import unpack


class Unblockable(Protocol):
    def unblock(self, client_id: int, sequence: int, error: bool) -> bool: ...


def unblock(replicas: Mapping[int, Unblockable], message: bytes) -> int:
    """1 if a parked request was answered, else 0."""
    items = unpack(message)
    if items is None or len(items) != 4 or not all(item.isdigit() for item in items[:3]):
        return 0
    shard, client_id, sequence = (int(item) for item in items[:3])
    replica = replicas.get(shard)
    if replica is None:
        return 0
    return int(replica.unblock(client_id, sequence, items[3] == b"error"))
