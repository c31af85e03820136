"""Membership operations applied by the metadata state machine (node/membership_ops.py
through node/metadata.py): one at a time, refusals change nothing, replays are no-ops,
snapshots keep the operation in flight."""

from __future__ import annotations

import json

from node import membership_ops
from node.metadata import MetadataState, initial_map
from node.slot_moves import Move, begin_command, step_command
from proto.topology import ClusterDescription, NodeAddress


def fresh_state(nodes: int = 3, shards: int = 3) -> MetadataState:
    description = ClusterDescription(
        nodes=tuple(NodeAddress(i, f"127.0.0.1:{7000 + i}") for i in range(1, nodes + 1)),
        shards=shards,
    )
    state = MetadataState(initial_map(description))
    state.apply(1, MetadataState.install_command(state.map))
    return state


def start(entry_id: str, kind: str, epoch: int = 0, down=(), **fields) -> bytes:
    return membership_ops.start_command(entry_id, {"kind": kind, **fields}, epoch, list(down))


def test_add_node_then_rebalance_then_finish():
    state = fresh_state()
    state.apply(2, start("a", "add-node", node=4, address="127.0.0.1:7004"))
    assert state.membership.outcomes["a"] == ""
    assert state.map.nodes[4] == "127.0.0.1:7004" and state.map.epoch == 2
    state.apply(3, membership_ops.done_command("a"))
    assert state.membership.current is None and state.membership.finished == 1
    state.apply(4, start("b", "rebalance", epoch=2))
    assert state.map.epoch == 4
    assert any(4 in shard.replicas for shard in state.map.shards)


def test_a_second_operation_while_one_is_in_flight_is_refused_without_change():
    state = fresh_state(4, 4)
    state.apply(2, start("a", "remove-node", node=4))
    before = state.map.to_json()
    state.apply(3, start("b", "rebalance"))
    assert "another operation is in flight (remove-node 4)" in state.membership.outcomes["b"]
    assert state.map.to_json() == before
    # The same entry again (a ctl re-driving after a crash) changes nothing either.
    state.apply(4, start("a", "remove-node", node=4))
    assert state.membership.outcomes["a"] == "" and state.map.to_json() == before


def test_the_leaving_node_keeps_its_address_until_the_end():
    state = fresh_state(4, 4)
    state.apply(2, start("a", "remove-node", node=4))
    assert 4 in state.map.nodes
    assert all(4 not in shard.replicas for shard in state.map.shards)
    state.apply(3, membership_ops.done_command("a"))
    assert 4 not in state.map.nodes and state.map.epoch == 3


def test_refusals_change_nothing():
    state = fresh_state()
    before = state.map.to_json()
    cases = {
        "unknown": start("u", "remove-node", node=9),
        "duplicate": start("d", "add-node", node=4, address="127.0.0.1:7001"),
        "majority": start("m", "remove-node", node=1),
        "stale": start("s", "rebalance", epoch=77),
        "kind": start("k", "grow"),
    }
    for index, data in enumerate(cases.values(), start=2):
        state.apply(index, data)
    outcomes = state.membership.outcomes
    assert "unknown node 9" in outcomes["u"]
    assert "already node 1's" in outcomes["d"]
    assert "leave 2 nodes" in outcomes["m"]
    assert "the map changed" in outcomes["s"]
    assert "unknown request kind" in outcomes["k"]
    assert state.map.to_json() == before and state.membership.current is None


def test_malformed_entries_are_no_ops():
    state = fresh_state()
    before = state.map.to_json()
    for index, data in enumerate(
        [
            b'{"op": "membership"}',
            b'{"op": "membership", "id": 5}',
            b'{"op": "membership", "id": "x", "request": {"kind": "add-node", "node": "4"}}',
            b'{"op": "membership", "id": "y", "request": {"kind": "rebalance"}, "down": [-1]}',
            b'{"op": "membership", "id": "z", "request": [], "epoch": 1.5}',
            b'{"op": "membership-done"}',
        ],
        start=2,
    ):
        state.apply(index, data)
    assert state.map.to_json() == before and state.membership.current is None


def test_a_snapshot_keeps_the_operation_in_flight():
    state = fresh_state(4, 4)
    state.apply(2, start("a", "remove-node", node=4))
    copy = MetadataState(state.map)
    copy.restore(state.snapshot())
    assert copy.membership.current == state.membership.current
    assert copy.map.to_json() == state.map.to_json()
    # and a snapshot from before membership operations restores with none in flight
    raw = json.loads(state.snapshot())
    del raw["membership"]
    older = MetadataState(state.map)
    older.restore(json.dumps(raw).encode())
    assert older.membership.current is None


def test_slot_moves_and_membership_operations_exclude_each_other():
    """One change of the map at a time: no operation starts while a slot move is in
    flight, and no move begins while an operation is; each refusal changes nothing and
    the other goes through once the first is done."""
    state = fresh_state(4, 3)
    source = state.map.shards[0]
    first = source.slots[0][0]
    state.apply(2, begin_command(Move("m1", first, first + 9, 0, 1), "e1"))
    assert state.slot_moves.results["e1"] == ""
    before = state.map.to_json()
    state.apply(3, start("a", "remove-node", node=4))
    assert "1 slot moves are in flight" in state.membership.outcomes["a"]
    assert state.map.to_json() == before and state.membership.current is None
    state.apply(4, step_command("move-commit", "m1", "e2"))
    state.apply(5, step_command("move-done", "m1", "e3"))
    state.apply(6, start("a", "remove-node", node=4))
    assert state.membership.outcomes["a"] == ""
    state.apply(7, begin_command(Move("m2", first + 10, first + 19, 0, 1), "e4"))
    assert "a membership operation is in flight (remove-node 4)" in state.slot_moves.results["e4"]
    assert state.slot_moves.moves == {}
