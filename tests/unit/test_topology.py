"""Placement derived from a cluster description."""

from __future__ import annotations

from collections import Counter

import pytest

from proto.slots import SLOT_COUNT
from proto.topology import (
    ClusterDescription,
    NodeAddress,
    place_shards,
    slot_table,
    split_slots,
)


def nodes(count: int) -> tuple[NodeAddress, ...]:
    return tuple(NodeAddress(id=i + 1, raft_address=f"127.0.0.1:{7000 + i}") for i in range(count))


@pytest.mark.parametrize("shards", [1, 2, 3, 7, 64, 16384])
def test_slot_ranges_cover_every_slot_once(shards):
    ranges = split_slots(shards)
    assert len(ranges) == shards
    covered = [slot for first, last in ranges for slot in range(first, last + 1)]
    assert covered == list(range(SLOT_COUNT))
    sizes = {last - first + 1 for first, last in ranges}
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(("node_count", "shards"), [(3, 3), (3, 6), (5, 5), (5, 7), (4, 3)])
def test_replicas_distinct_and_leaders_spread(node_count, shards):
    description = ClusterDescription(nodes=nodes(node_count), shards=shards, replicas=3)
    placements = place_shards(description)
    for placement in placements:
        assert len(set(placement.replicas)) == 3
    preferred = Counter(placement.replicas[0] for placement in placements)
    assert max(preferred.values()) - min(preferred.get(n, 0) for n in range(1, node_count + 1)) <= 1
    table = slot_table(placements)
    assert set(table) == set(range(shards))


def test_rejects_bad_descriptions():
    with pytest.raises(ValueError, match="replicas per shard"):
        ClusterDescription(nodes=nodes(2), shards=3, replicas=3)
    with pytest.raises(ValueError, match="unique"):
        ClusterDescription(nodes=(nodes(1)[0], nodes(1)[0]), shards=1, replicas=1)


def test_toml_round_trip(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text(
        "shards = 2\nreplicas = 3\n"
        '[[node]]\nid = 1\naddress = "127.0.0.1:7001"\n'
        '[[node]]\nid = 2\naddress = "127.0.0.1:7002"\n'
        '[[node]]\nid = 3\naddress = "127.0.0.1:7003"\n'
    )
    description = ClusterDescription.from_toml(path)
    assert description.shards == 2
    assert [n.raft_address for n in description.nodes][2] == "127.0.0.1:7003"
    assert ClusterDescription.from_json(description.to_json()) == description


def test_toml_missing_field_is_a_clear_error(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text("[[node]]\nid = 1\n")
    with pytest.raises(ValueError, match="address"):
        ClusterDescription.from_toml(path)
