"""The metadata group's apply is total: an entry that is not a well-formed install is a
logged no-op (every replica reads the same bytes), never an exception that would stop
every node of the group at the same index on each restart."""

from __future__ import annotations

import json

import pytest

from node.metadata import ClusterMap, MetadataState
from proto.topology import ShardPlacement


def _state() -> MetadataState:
    fallback = ClusterMap(0, {1: "127.0.0.1:1"}, [ShardPlacement(0, ((0, 16383),), (1,))])
    return MetadataState(fallback)


def _install(raw_map: object) -> bytes:
    return json.dumps({"op": "install", "map": raw_map}).encode()


GOOD = {
    "epoch": 0,
    "nodes": {"1": "a:1"},
    "shards": [{"id": 0, "slots": [[0, 9]], "replicas": [1]}],
}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        b"[1, 2]",
        b"null",
        b'{"op": "remove"}',
        b'{"op": "install"}',
        _install(None),
        _install({**GOOD, "nodes": {"x": "a:1"}}),
        _install({**GOOD, "nodes": {"1": 5}}),
        _install({**GOOD, "shards": [{"id": "0", "slots": [[0, 9]], "replicas": [1]}]}),
        _install({**GOOD, "shards": [{"id": 0, "slots": [[0]], "replicas": [1]}]}),
        _install({**GOOD, "shards": [{"id": 0, "slots": [[0, 9]], "replicas": [True]}]}),
        _install({**GOOD, "shards": [{"id": 0, "slots": [[0, 9]]}]}),
        _install({**GOOD, "epoch": -1}),
    ],
)
def test_a_malformed_entry_is_a_no_op(data):
    state = _state()
    before = state.snapshot()
    state.apply(5, data)
    assert state.snapshot() == before and not state.installed


def test_an_install_applies():
    state = _state()
    seen: list[ClusterMap] = []
    state.listeners.append(seen.append)
    state.apply(7, _install(GOOD))
    assert state.installed and state.map.epoch == 7
    assert state.map.shards == [ShardPlacement(0, ((0, 9),), (1,))]
    assert seen == [state.map]
