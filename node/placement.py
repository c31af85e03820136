"""The placement planner: a cluster map and a membership request -> the new map and the
replica moves that lead to it.

Pure and deterministic (it runs inside the metadata group's apply, on every replica and
after every restart): the same map and request give the same answer everywhere, every loop
is bounded by the number of shards and nodes, and bad input raises PlacementError with the
text the operator sees, before anything changes.

The requests:
- add a node: record it (its replicas come with a rebalance);
- remove a node: each of its replicas goes to the least-loaded node that does not hold the
  shard yet, then replicas and preferred leaders are spread again;
- replace a node (a dead machine): a new node takes over exactly its replicas, and its
  preferred leaderships, so that nothing else moves;
- rebalance: replicas, then preferred leaders (replicas[0]), spread evenly.

A move of shard S from node X to node Y is carried out by S's leader one Raft membership
change at a time (node/membership_steps.py): Y joins as a learner, catches up, is promoted,
then X is removed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from proto.topology import ShardPlacement

# The metadata group has at most this many voters (the lowest node ids); the other nodes
# hold learners of it (node/host.py METADATA_VOTERS says the same for a new cluster).
METADATA_VOTERS = 5


class PlacementError(ValueError):
    """A request that cannot be carried out; the message says why, for the operator."""


@dataclass(frozen=True, slots=True)
class AddNode:
    node: int
    address: str


@dataclass(frozen=True, slots=True)
class RemoveNode:
    node: int


@dataclass(frozen=True, slots=True)
class ReplaceNode:
    node: int  # the node that is gone
    new_node: int
    address: str


@dataclass(frozen=True, slots=True)
class Rebalance:
    pass


Request = AddNode | RemoveNode | ReplaceNode | Rebalance


@dataclass(frozen=True, slots=True)
class ReplicaMove:
    """One replica of `shard` goes from `source` to `target` (0: none, a pure add or
    removal)."""

    shard: int
    source: int
    target: int


@dataclass(frozen=True, slots=True)
class Plan:
    nodes: dict[int, str]  # the nodes after the request (a removed node leaves at the end)
    shards: tuple[ShardPlacement, ...]
    moves: tuple[ReplicaMove, ...]
    leaders: tuple[tuple[int, int], ...]  # (shard, new preferred leader) that changed


def plan(
    nodes: Mapping[int, str],
    shards: Iterable[ShardPlacement],
    request: Request,
    down: frozenset[int] = frozenset(),
) -> Plan:
    """The placement after `request`. `down` names the nodes known to be unreachable: a
    request that needs a majority of a shard's replicas while they are down is refused."""
    nodes = dict(nodes)
    shards = tuple(shards)
    match request:
        case AddNode(node, address):
            _check_new(nodes, node, address)
            nodes[node] = address
            new_shards = shards
        case RemoveNode(node):
            _check_known(nodes, node)
            replicas = max((len(s.replicas) for s in shards), default=0)
            if len(nodes) - 1 < replicas:
                raise PlacementError(
                    f"removing node {node} would leave {len(nodes) - 1} nodes for shards of "
                    f"{replicas} replicas; add a node first"
                )
            _check_majorities(shards, node, down)
            moved = _evacuate(nodes, shards, node)
            del nodes[node]
            new_shards = _spread_leaders(nodes, _spread_replicas(nodes, moved))
        case ReplaceNode(node, new_node, address):
            _check_known(nodes, node)
            _check_new(nodes, new_node, address)
            _check_majorities(shards, node, down)
            del nodes[node]
            nodes[new_node] = address
            new_shards = tuple(
                dataclasses.replace(
                    s, replicas=tuple(new_node if r == node else r for r in s.replicas)
                )
                for s in shards
            )
        case Rebalance():
            new_shards = _spread_leaders(nodes, _spread_replicas(nodes, shards))
        case _:
            raise PlacementError(f"unknown request {request!r}")
    return Plan(nodes, new_shards, _moves(shards, new_shards), _leader_changes(shards, new_shards))


def metadata_members(node_ids: Iterable[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(voters, learners) of the metadata group for these nodes: the lowest ids vote."""
    ordered = sorted(set(node_ids))
    return tuple(ordered[:METADATA_VOTERS]), tuple(ordered[METADATA_VOTERS:])


def replica_counts(nodes: Iterable[int], shards: Iterable[ShardPlacement]) -> dict[int, int]:
    counts = dict.fromkeys(nodes, 0)
    for shard in shards:
        for replica in shard.replicas:
            counts[replica] = counts.get(replica, 0) + 1
    return counts


def leader_counts(nodes: Iterable[int], shards: Iterable[ShardPlacement]) -> dict[int, int]:
    counts = dict.fromkeys(nodes, 0)
    for shard in shards:
        if shard.replicas:
            counts[shard.replicas[0]] = counts.get(shard.replicas[0], 0) + 1
    return counts


# -- checks --------------------------------------------------------------------------------


def _check_known(nodes: Mapping[int, str], node: int) -> None:
    if node not in nodes:
        known = ", ".join(str(n) for n in sorted(nodes))
        raise PlacementError(f"unknown node {node} (the cluster's nodes: {known})")


def _check_new(nodes: Mapping[int, str], node: int, address: str) -> None:
    if not 0 < node < 1 << 63:
        raise PlacementError(f"node id {node} is not a positive 64-bit integer")
    if node in nodes:
        raise PlacementError(f"node {node} is already a member (at {nodes[node]})")
    host, colon, port = address.rpartition(":")
    if not (colon and host and port.isdigit() and 0 < int(port) < 65536) or len(address) > 255:
        raise PlacementError(f"address {address!r} is not HOST:PORT")
    for other, other_address in nodes.items():
        if other_address == address:
            raise PlacementError(f"address {address} is already node {other}'s")


def _check_majorities(
    shards: tuple[ShardPlacement, ...], leaving: int, down: frozenset[int]
) -> None:
    """Moving `leaving`'s replicas needs each of its shards to keep a majority of its
    voters up without it (the learner catches up from, and is promoted by, that majority)."""
    for shard in shards:
        if leaving not in shard.replicas:
            continue
        others_up = [r for r in shard.replicas if r != leaving and r not in down]
        if len(others_up) < len(shard.replicas) // 2 + 1:
            down_list = ", ".join(str(r) for r in shard.replicas if r in down) or "none"
            raise PlacementError(
                f"shard {shard.id} would lose its majority: its replicas are on nodes "
                f"{', '.join(map(str, shard.replicas))} and nodes {down_list} are down; "
                "bring them back first"
            )


# -- spreading -----------------------------------------------------------------------------


def _evacuate(
    nodes: Mapping[int, str], shards: tuple[ShardPlacement, ...], leaving: int
) -> tuple[ShardPlacement, ...]:
    """Each replica on `leaving` goes to the least-loaded other node without that shard."""
    counts = replica_counts(nodes, shards)
    result = []
    for shard in shards:
        if leaving in shard.replicas:
            candidates = [n for n in nodes if n != leaving and n not in shard.replicas]
            if not candidates:
                raise PlacementError(
                    f"no node can take node {leaving}'s replica of shard {shard.id}"
                )
            target = min(candidates, key=lambda n: (counts[n], n))
            counts[target] += 1
            counts[leaving] -= 1
            shard = dataclasses.replace(
                shard, replicas=tuple(target if r == leaving else r for r in shard.replicas)
            )
        result.append(shard)
    return tuple(result)


def _spread_replicas(
    nodes: Mapping[int, str], shards: tuple[ShardPlacement, ...]
) -> tuple[ShardPlacement, ...]:
    """Move replicas from the fullest node to the emptiest until counts differ by at most
    one. Each move lowers the sum of squared counts, so at most (replicas)^2 moves; the
    bound below is that, and a move is always found while the spread is above one (the
    fullest node holds a shard the emptiest does not)."""
    if not nodes:
        return shards
    placed = [list(s.replicas) for s in shards]
    counts = replica_counts(nodes, shards)
    total = sum(len(p) for p in placed)
    for _ in range(total * total + 1):
        fullest = max(counts, key=lambda n: (counts[n], -n))
        emptiest = min(counts, key=lambda n: (counts[n], n))
        if counts[fullest] - counts[emptiest] <= 1:
            break
        # The first shard (by id) on the fullest node that the emptiest does not hold; as a
        # follower rather than a preferred leader when it can.
        order = sorted(range(len(shards)), key=lambda i: (placed[i][:1] == [fullest], shards[i].id))
        for i in order:
            if fullest in placed[i] and emptiest not in placed[i]:
                placed[i][placed[i].index(fullest)] = emptiest
                counts[fullest] -= 1
                counts[emptiest] += 1
                break
        else:  # pragma: no cover - impossible: fullest holds more shards than emptiest
            break
    return tuple(
        dataclasses.replace(s, replicas=tuple(p)) for s, p in zip(shards, placed, strict=True)
    )


def _spread_leaders(
    nodes: Mapping[int, str], shards: tuple[ShardPlacement, ...]
) -> tuple[ShardPlacement, ...]:
    """Reorder each shard's replicas so that preferred leaders (replicas[0]) spread evenly.
    An improvement hands preferences along a chain: node H prefers shard a holding node B,
    B prefers shard b holding C, ... up to a node L preferring at least two fewer than H;
    each shard of the chain passes its preference to the next node, so H loses one, L gains
    one, the others keep theirs. Each lowers the sum of squared counts: at most
    (shards)^2 of them, each a breadth-first search over the nodes."""
    placed = [list(s.replicas) for s in shards]
    counts = leader_counts(nodes, shards)
    for _ in range(len(shards) * len(shards) + 1):
        chain = _leader_chain(placed, counts)
        if chain is None:
            break
        for i, successor in chain:
            counts[placed[i][0]] -= 1
            counts[successor] += 1
            placed[i].remove(successor)
            placed[i].insert(0, successor)
    return tuple(
        dataclasses.replace(s, replicas=tuple(p)) for s, p in zip(shards, placed, strict=True)
    )


def _leader_chain(placed: list[list[int]], counts: dict[int, int]) -> list[tuple[int, int]] | None:
    """[(shard index, node that takes its preference), ...] from a node preferring the most
    to one preferring at least two fewer, or None."""
    for high in sorted(counts, key=lambda n: (-counts[n], n)):
        # Breadth-first from `high`: how each node was reached (shard index, from node).
        reached: dict[int, tuple[int, int]] = {}
        frontier = [high]
        seen = {high}
        while frontier:
            following = []
            for node in frontier:
                for i, replicas in enumerate(placed):
                    if not replicas or replicas[0] != node:
                        continue
                    for other in sorted(replicas[1:]):
                        if other in seen:
                            continue
                        seen.add(other)
                        reached[other] = (i, node)
                        if counts[other] <= counts[high] - 2:
                            chain = []
                            step = other
                            while step != high:
                                shard_index, previous = reached[step]
                                chain.append((shard_index, step))
                                step = previous
                            return chain
                        following.append(other)
            frontier = following
    return None


# -- differences ---------------------------------------------------------------------------


def _moves(
    before: tuple[ShardPlacement, ...], after: tuple[ShardPlacement, ...]
) -> tuple[ReplicaMove, ...]:
    moves = []
    old = {s.id: s.replicas for s in before}
    for shard in after:
        previous = old.get(shard.id, ())
        added = [n for n in shard.replicas if n not in previous]
        removed = [n for n in previous if n not in shard.replicas]
        for k in range(max(len(added), len(removed))):
            source = removed[k] if k < len(removed) else 0
            target = added[k] if k < len(added) else 0
            moves.append(ReplicaMove(shard.id, source, target))
    return tuple(moves)


def _leader_changes(
    before: tuple[ShardPlacement, ...], after: tuple[ShardPlacement, ...]
) -> tuple[tuple[int, int], ...]:
    old = {s.id: s.replicas[:1] for s in before}
    return tuple(
        (s.id, s.replicas[0]) for s in after if s.replicas and old.get(s.id) != s.replicas[:1]
    )
