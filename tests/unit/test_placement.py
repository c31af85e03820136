"""The placement planner (node/placement.py): a map and a request -> the new placement."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.placement import (
    AddNode,
    PlacementError,
    Rebalance,
    RemoveNode,
    ReplaceNode,
    ReplicaMove,
    Request,
    leader_counts,
    metadata_members,
    plan,
    replica_counts,
)
from proto.topology import ClusterDescription, NodeAddress, place_shards


def cluster(nodes: int, shards: int, replicas: int = 3):
    description = ClusterDescription(
        nodes=tuple(NodeAddress(i, f"127.0.0.1:{7000 + i}") for i in range(1, nodes + 1)),
        shards=shards,
        replicas=replicas,
    )
    return {n.id: n.raft_address for n in description.nodes}, place_shards(description)


def spread(counts: dict[int, int]) -> int:
    return max(counts.values()) - min(counts.values())


def check_valid(result, replicas: int = 3) -> None:
    for shard in result.shards:
        assert len(shard.replicas) == replicas
        assert len(set(shard.replicas)) == replicas, shard
        assert set(shard.replicas) <= set(result.nodes)


def test_add_node_records_it_and_moves_nothing():
    nodes, shards = cluster(3, 3)
    result = plan(nodes, shards, AddNode(4, "127.0.0.1:7004"))
    assert result.nodes[4] == "127.0.0.1:7004"
    assert result.shards == tuple(shards)
    assert result.moves == () and result.leaders == ()


def test_grow_to_five_then_rebalance_spreads_replicas_and_leaders():
    nodes, shards = cluster(3, 8)
    for new in (4, 5):
        nodes = plan(nodes, shards, AddNode(new, f"127.0.0.1:{7000 + new}")).nodes
    result = plan(nodes, shards, Rebalance())
    check_valid(result)
    assert spread(replica_counts(result.nodes, result.shards)) <= 1  # 24 over 5: 4 or 5
    assert spread(leader_counts(result.nodes, result.shards)) <= 1
    assert {m.target for m in result.moves} == {4, 5}
    # Only what is needed moves: nodes 4 and 5 get 4 or 5 replicas each, nothing else.
    assert 8 <= len(result.moves) <= 10
    assert all(m.source in (1, 2, 3) for m in result.moves)


def test_up_with_five_nodes_and_eight_shards_is_evened_by_rebalance():
    nodes, shards = cluster(5, 8)
    assert spread(replica_counts(nodes, shards)) == 2  # round-robin: 4, 5, 6, 5, 4
    result = plan(nodes, shards, Rebalance())
    check_valid(result)
    assert spread(replica_counts(result.nodes, result.shards)) <= 1
    assert len(result.moves) == 1  # node 3's sixth replica goes to node 1 or 5


def test_rebalance_of_a_balanced_map_changes_nothing():
    nodes, shards = cluster(3, 3)
    result = plan(nodes, shards, Rebalance())
    assert result.shards == tuple(shards) and result.moves == ()


def test_remove_node_moves_its_replicas_then_drops_it():
    nodes, shards = cluster(5, 8)
    result = plan(nodes, shards, RemoveNode(5))
    check_valid(result)
    assert 5 not in result.nodes
    assert all(5 not in s.replicas for s in result.shards)
    assert {m.source for m in result.moves if m.source} >= {5}
    assert spread(replica_counts(result.nodes, result.shards)) <= 1


def test_remove_refused_when_too_few_nodes_would_remain():
    nodes, shards = cluster(3, 3)
    with pytest.raises(PlacementError, match="leave 2 nodes for shards of 3 replicas"):
        plan(nodes, shards, RemoveNode(2))


def test_remove_refused_when_a_shard_would_lose_its_majority():
    nodes, shards = cluster(4, 4)
    # Shard 0 is on nodes 1, 2, 3: with node 2 down, moving node 1 away leaves only node 3.
    with pytest.raises(PlacementError, match="shard 0 would lose its majority"):
        plan(nodes, shards, RemoveNode(1), down=frozenset({2}))
    # Node 4 holds no replica of shard 0; shards it holds keep 2 of 3 live without it.
    plan(nodes, shards, RemoveNode(4), down=frozenset())


def test_replace_node_hands_exactly_its_replicas_and_leaderships_to_the_new_node():
    nodes, shards = cluster(3, 3)
    result = plan(nodes, shards, ReplaceNode(2, 9, "10.0.0.9:7001"), down=frozenset({2}))
    assert 2 not in result.nodes and result.nodes[9] == "10.0.0.9:7001"
    for before, after in zip(shards, result.shards, strict=True):
        assert after.replicas == tuple(9 if r == 2 else r for r in before.replicas)
    assert set(result.moves) == {ReplicaMove(s, 2, 9) for s in range(3)}
    assert result.leaders == ((1, 9),)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (RemoveNode(7), "unknown node 7"),
        (ReplaceNode(7, 9, "h:1"), "unknown node 7"),
        (AddNode(2, "h:1"), "node 2 is already a member"),
        (AddNode(4, "127.0.0.1:7001"), "already node 1's"),
        (AddNode(4, "no-port"), "not HOST:PORT"),
        (AddNode(4, "h:70000"), "not HOST:PORT"),
        (AddNode(0, "h:1"), "not a positive"),
        (ReplaceNode(1, 3, "h:1"), "node 3 is already a member"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_error(request_, message):
    nodes, shards = cluster(3, 3)
    with pytest.raises(PlacementError, match=message):
        plan(nodes, shards, request_)


def test_metadata_members_lowest_five_vote():
    assert metadata_members([3, 1, 2]) == ((1, 2, 3), ())
    assert metadata_members([7, 1, 2, 3, 4, 5, 6]) == ((1, 2, 3, 4, 5), (6, 7))


@settings(max_examples=60, deadline=None)
@given(
    nodes=st.integers(3, 9),
    shards=st.integers(1, 12),
    actions=st.lists(st.sampled_from(["add", "remove", "replace", "rebalance"]), max_size=6),
)
def test_any_sequence_of_requests_keeps_the_placement_valid(nodes, shards, actions):
    """Whatever the operator asks, every shard keeps 3 replicas on distinct known nodes,
    and a rebalance leaves replica and leader counts at most one apart."""
    node_map, placement = cluster(nodes, shards)
    next_id = nodes + 1
    for action in actions:
        request: Request
        try:
            if action == "add":
                request = AddNode(next_id, f"h:{next_id}")
                next_id += 1
            elif action == "remove":
                request = RemoveNode(max(node_map))
            elif action == "replace":
                request = ReplaceNode(min(node_map), next_id, f"h:{next_id}")
                next_id += 1
            else:
                request = Rebalance()
            result = plan(node_map, placement, request)
        except PlacementError:
            assert action == "remove" and len(node_map) == 3
            continue
        check_valid(result)
        if action == "rebalance":
            assert spread(replica_counts(result.nodes, result.shards)) <= 1
            assert spread(leader_counts(result.nodes, result.shards)) <= 1
        node_map, placement = result.nodes, list(result.shards)
