"""A cluster's SWAPDB in the metadata group (node/db_swaps.py, node/metadata.py): the
swapdb-begin and swapdb-fenced entries, their refusals, the commit on the last shard's
acknowledgement, what every shard must hold, snapshots, and the exclusion with slot moves
and membership operations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from node import membership_ops
from node.db_swaps import RESULTS_KEPT, DbSwaps, PendingSwap
from node.metadata import ClusterMap, MetadataState
from node.slot_moves import Move, begin_command, step_command
from proto.topology import ShardPlacement

IDENTITY = list(range(16))
SHARDS = [
    ShardPlacement(0, ((0, 5460),), (1, 2, 3)),
    ShardPlacement(1, ((5461, 10922),), (2, 3, 1)),
    ShardPlacement(2, ((10923, 16383),), (3, 1, 2)),
]


def swapped(first: int, second: int, mapping: list[int] | None = None) -> list[int]:
    result = list(IDENTITY if mapping is None else mapping)
    result[first], result[second] = result[second], result[first]
    return result


def begin(swaps: DbSwaps, first: Any, second: Any, entry_id: str = "b", **kwargs: Any) -> bool:
    shards = kwargs.get("shards", [0, 1, 2])
    busy = kwargs.get("busy", "")
    return swaps.apply(DbSwaps.begin_command(first, second, entry_id), shards, busy)


def ack(swaps: DbSwaps, epoch: Any, shard: Any) -> bool:
    return swaps.apply(DbSwaps.fenced_command(epoch, shard, "f"), [0, 1, 2], "")


# ---------------------------------------------------------------------- begin


def test_begin_records_a_pending_swap() -> None:
    swaps = DbSwaps()
    assert begin(swaps, 3, 7, "s1", shards=[2, 0, 1, 0]) is False  # no map change yet
    assert swaps.pending == PendingSwap(1, 3, 7, [0, 1, 2], [])
    assert swaps.results["s1"] == 1
    assert swaps.mapping == IDENTITY and swaps.epoch == 0
    assert swaps.pending.fenced_mask == 1 << 3 | 1 << 7
    assert "SWAPDB 3 7" in swaps.busy()


def test_desired_names_the_fence_while_a_swap_is_pending() -> None:
    swaps = DbSwaps()
    assert swaps.desired() == (0, IDENTITY, 0, 0)
    begin(swaps, 0, 15)
    assert swaps.desired() == (0, IDENTITY, 1, 1 | 1 << 15)


def test_desired_returns_a_copy_of_the_map() -> None:
    swaps = DbSwaps()
    _, mapping, _, _ = swaps.desired()
    mapping[0] = 9
    assert swaps.mapping == IDENTITY


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (4, 4),  # the same database
        (0, 16),
        (16, 0),
        (-1, 2),
        (2, -1),
        ("1", 2),
        (True, 2),
        (1.0, 2),
        (None, 2),
        (1, [2]),
    ],
)
def test_begin_of_an_invalid_pair_is_refused(first: Any, second: Any) -> None:
    swaps = DbSwaps()
    begin(swaps, first, second, "bad")
    assert swaps.pending is None
    assert swaps.results["bad"] == 0
    assert swaps.busy() == ""


def test_begin_while_busy_is_refused() -> None:
    swaps = DbSwaps()
    begin(swaps, 1, 2, "x", busy="2 slot moves are in flight")
    assert swaps.pending is None and swaps.results["x"] == 0


def test_a_second_begin_while_one_is_pending_is_refused() -> None:
    swaps = DbSwaps()
    begin(swaps, 1, 2, "first")
    begin(swaps, 3, 4, "second")
    begin(swaps, 1, 2, "again")  # the same pair, a new entry: refused too
    assert swaps.pending == PendingSwap(1, 1, 2, [0, 1, 2], [])
    assert swaps.results == {"first": 1, "second": 0, "again": 0}


def test_results_are_kept_only_for_string_ids_of_bounded_length() -> None:
    swaps = DbSwaps()
    swaps.apply({"op": "swapdb-begin", "first": 1, "second": 2}, [0], "")
    swaps.apply({"op": "swapdb-begin", "first": 1, "second": 2, "id": 5}, [0], "")
    swaps.apply({"op": "swapdb-begin", "first": 1, "second": 2, "id": "x" * 65}, [0], "")
    assert len(swaps.results) == 0
    assert swaps.pending is not None  # the first one began, without a result to wait on


def test_results_keep_the_latest_entries_only() -> None:
    swaps = DbSwaps()
    for n in range(RESULTS_KEPT + 10):
        begin(swaps, 1, 2, f"id{n}")
    assert len(swaps.results) == RESULTS_KEPT
    assert "id0" not in swaps.results and swaps.results[f"id{RESULTS_KEPT + 9}"] == 0


@pytest.mark.parametrize(
    "command",
    [None, [], "swapdb-begin", {"op": "swapdb-other"}, {"op": 5}, {}],
)
def test_an_entry_that_is_not_a_swap_changes_nothing(command: Any) -> None:
    swaps = DbSwaps()
    assert swaps.apply(command, [0, 1], "") is False
    assert swaps.to_json() == DbSwaps().to_json()


# ---------------------------------------------------------------------- fenced acknowledgements


def test_the_last_shards_ack_commits_the_swap() -> None:
    swaps = DbSwaps()
    begin(swaps, 3, 7)
    assert ack(swaps, 1, 2) is False
    assert ack(swaps, 1, 0) is False
    assert swaps.pending is not None and sorted(swaps.pending.fenced) == [0, 2]
    assert swaps.mapping == IDENTITY
    assert ack(swaps, 1, 1) is True
    assert swaps.mapping == swapped(3, 7)
    assert swaps.epoch == 1 and swaps.pending is None
    assert swaps.desired() == (1, swapped(3, 7), 0, 0)
    assert swaps.busy() == ""


@pytest.mark.parametrize("epoch", [0, 2, -1, "1", None, 1.5])
def test_an_ack_of_another_epoch_is_ignored(epoch: Any) -> None:
    swaps = DbSwaps()
    begin(swaps, 1, 2, shards=[0])
    assert ack(swaps, epoch, 0) is False
    assert swaps.pending is not None and swaps.pending.fenced == []


@pytest.mark.parametrize("shard", [3, -1, "0", None, [0]])
def test_an_ack_of_an_unknown_shard_is_ignored(shard: Any) -> None:
    swaps = DbSwaps()
    begin(swaps, 1, 2, shards=[0])
    assert ack(swaps, 1, shard) is False
    assert swaps.pending is not None and swaps.pending.fenced == []


@pytest.mark.parametrize(("epoch", "shard"), [(True, 0), (1.0, 0), (1, False), (1, 0.0)])
def test_an_ack_with_a_bool_or_float_field_is_ignored(epoch: Any, shard: Any) -> None:
    swaps = DbSwaps()
    begin(swaps, 1, 2, shards=[0])
    assert ack(swaps, epoch, shard) is False
    assert swaps.pending is not None and swaps.pending.fenced == []


def test_duplicate_acks_count_once() -> None:
    swaps = DbSwaps()
    begin(swaps, 1, 2, shards=[0, 1])
    assert ack(swaps, 1, 0) is False
    assert ack(swaps, 1, 0) is False
    assert ack(swaps, 1, 0) is False
    assert swaps.pending is not None and swaps.pending.fenced == [0]
    assert ack(swaps, 1, 1) is True


def test_an_ack_without_a_pending_swap_changes_nothing() -> None:
    swaps = DbSwaps()
    assert ack(swaps, 1, 0) is False
    begin(swaps, 1, 2, shards=[0])
    assert ack(swaps, 1, 0) is True
    # A late (re-driven) ack of the committed swap.
    assert ack(swaps, 1, 0) is False
    assert swaps.mapping == swapped(1, 2) and swaps.epoch == 1


def test_an_ack_counts_only_for_the_shards_of_the_map_at_begin() -> None:
    swaps = DbSwaps()
    swaps.apply(DbSwaps.begin_command(1, 2, "b"), [0], "")
    # The caller passes other shards to the ack: the pending swap's own list decides.
    assert swaps.apply(DbSwaps.fenced_command(1, 5, "f"), [0, 5], "") is False
    assert swaps.apply(DbSwaps.fenced_command(1, 0, "f"), [5], "") is True


def test_consecutive_swaps_compose() -> None:
    swaps = DbSwaps()
    begin(swaps, 0, 1, "a", shards=[0])
    ack(swaps, 1, 0)
    begin(swaps, 1, 2, "b", shards=[0])
    assert swaps.results["b"] == 2
    assert swaps.desired() == (1, swapped(0, 1), 2, 0b110)
    ack(swaps, 2, 0)
    assert swaps.epoch == 2
    assert swaps.mapping == swapped(1, 2, swapped(0, 1))
    begin(swaps, 0, 1, "c", shards=[0])
    begin_again = swaps.results["c"]
    ack(swaps, 3, 0)
    assert begin_again == 3 and swaps.epoch == 3
    assert sorted(swaps.mapping) == IDENTITY


# ---------------------------------------------------------------------- snapshots


def test_to_json_and_restore_round_trip_a_pending_swap() -> None:
    swaps = DbSwaps()
    begin(swaps, 0, 1, shards=[0])
    ack(swaps, 1, 0)
    begin(swaps, 4, 9, shards=[0, 1, 2])
    ack(swaps, 2, 1)
    raw = json.loads(json.dumps(swaps.to_json()))
    copy = DbSwaps()
    copy.restore(raw)
    assert copy.to_json() == swaps.to_json()
    assert copy.desired() == swaps.desired() == (1, swapped(0, 1), 2, 1 << 4 | 1 << 9)
    assert copy.results == {}  # not replicated
    # The restored state finishes the swap as the original would.
    assert ack(copy, 2, 0) is False and ack(copy, 2, 2) is True
    assert copy.mapping == swapped(4, 9, swapped(0, 1)) and copy.epoch == 2


def test_to_json_and_restore_round_trip_without_a_pending_swap() -> None:
    swaps = DbSwaps()
    begin(swaps, 2, 3, shards=[0])
    ack(swaps, 1, 0)
    copy = DbSwaps()
    copy.restore(json.loads(json.dumps(swaps.to_json())))
    assert copy.to_json() == swaps.to_json()
    assert copy.to_json()["pending"] is None


def test_restore_from_before_databases_is_the_identity() -> None:
    swaps = DbSwaps()
    begin(swaps, 2, 3, shards=[0])
    swaps.restore(None)
    assert swaps.to_json() == DbSwaps().to_json()
    assert swaps.desired() == (0, IDENTITY, 0, 0)


def test_restore_ignores_a_map_that_is_not_a_permutation() -> None:
    swaps = DbSwaps()
    swaps.restore({"epoch": 4, "mapping": [0] * 16, "pending": None})
    assert swaps.mapping == IDENTITY and swaps.epoch == 4


# ---------------------------------------------------------------------- through MetadataState


def metadata() -> MetadataState:
    state = MetadataState(ClusterMap(epoch=0, nodes={1: "a", 2: "b", 3: "c"}, shards=SHARDS))
    state.apply(1, MetadataState.install_command(state.map))
    return state


def entry(command: dict[str, Any]) -> bytes:
    return json.dumps(command).encode()


def test_metadata_applies_a_whole_swap() -> None:
    state = metadata()
    notified: list[str] = []
    state.db_swap_listeners.append(lambda: notified.append("swap"))
    state.settings_listeners.append(lambda: notified.append("settings"))
    state.apply(2, entry(DbSwaps.begin_command(0, 5, "s")))
    assert state.db_swaps.pending == PendingSwap(1, 0, 5, [0, 1, 2], [])
    assert "s" in state.applied_config_ids and state.db_swaps.results["s"] == 1
    for index, shard in enumerate((0, 1, 2), start=3):
        state.apply(index, entry(DbSwaps.fenced_command(1, shard, f"f{shard}")))
    assert state.db_swaps.pending is None
    assert state.db_swaps.desired() == (1, swapped(0, 5), 0, 0)
    assert notified == ["swap", "settings"] * 4
    assert state.map.epoch == 1  # the cluster map is not changed by a swap


def test_a_swap_is_refused_while_a_slot_move_is_in_flight() -> None:
    state = metadata()
    move = Move("m", 0, 99, 0, 1)
    state.apply(2, begin_command(move, "mb"))
    assert state.slot_moves.results["mb"] == "" and "m" in state.slot_moves.moves
    state.apply(3, entry(DbSwaps.begin_command(1, 2, "s1")))
    assert state.db_swaps.pending is None and state.db_swaps.results["s1"] == 0
    assert "s1" in state.applied_config_ids  # its proposer stops waiting
    state.apply(4, step_command("move-commit", "m", "mc"))
    state.apply(5, entry(DbSwaps.begin_command(1, 2, "s2")))
    assert state.db_swaps.results["s2"] == 0  # committed, not done: still in flight
    state.apply(6, step_command("move-done", "m", "md"))
    state.apply(7, entry(DbSwaps.begin_command(1, 2, "s3")))
    assert state.db_swaps.results["s3"] == 1 and state.db_swaps.pending is not None


def test_a_slot_move_is_refused_while_a_swap_is_pending() -> None:
    state = metadata()
    state.apply(2, entry(DbSwaps.begin_command(1, 2, "s")))
    before = state.map.to_json()
    state.apply(3, begin_command(Move("m", 0, 99, 0, 1), "mb"))
    assert "SWAPDB 1 2" in state.slot_moves.results["mb"]
    assert state.slot_moves.moves == {} and state.map.to_json() == before
    for index, shard in enumerate((0, 1, 2), start=4):
        state.apply(index, entry(DbSwaps.fenced_command(1, shard, "f")))
    state.apply(8, begin_command(Move("m", 0, 99, 0, 1), "mb2"))
    assert state.slot_moves.results["mb2"] == "" and "m" in state.slot_moves.moves


def test_a_membership_operation_is_refused_while_a_swap_is_pending() -> None:
    state = metadata()
    state.apply(2, entry(DbSwaps.begin_command(1, 2, "s")))
    before = state.map.to_json()
    add = membership_ops.start_command(
        "m", {"kind": "add-node", "node": 4, "address": "d:1"}, 0, []
    )
    state.apply(3, add)
    assert state.membership.outcomes["m"] != "" and state.membership.current is None
    assert state.map.to_json() == before


def test_a_swap_is_refused_while_a_membership_operation_is_in_flight() -> None:
    state = metadata()
    add = membership_ops.start_command(
        "m", {"kind": "add-node", "node": 4, "address": "d:1"}, 0, []
    )
    state.apply(2, add)
    assert state.membership.current is not None
    state.apply(3, entry(DbSwaps.begin_command(1, 2, "s")))
    assert state.db_swaps.pending is None and state.db_swaps.results["s"] == 0
    state.apply(4, membership_ops.done_command("m"))
    state.apply(5, entry(DbSwaps.begin_command(1, 2, "s2")))
    assert state.db_swaps.results["s2"] == 1


def test_a_swap_records_the_shards_of_the_current_map() -> None:
    state = metadata()
    state.apply(2, begin_command(Move("m", 0, 99, 0, 1), "mb"))
    state.apply(3, step_command("move-commit", "m", "mc"))
    state.apply(4, step_command("move-done", "m", "md"))
    state.apply(5, entry(DbSwaps.begin_command(1, 2, "s")))
    assert state.db_swaps.pending is not None
    assert state.db_swaps.pending.shards == [0, 1, 2]


@pytest.mark.parametrize(
    "data",
    [
        b'{"op": "swapdb-begin"}',
        b'{"op": "swapdb-begin", "first": "a", "second": 1, "id": "x"}',
        b'{"op": "swapdb-fenced", "epoch": "1", "shard": 0}',
        b'{"op": "swapdb-fenced"}',
    ],
)
def test_malformed_swap_entries_change_nothing(data: bytes) -> None:
    state = metadata()
    before = state.snapshot()
    state.apply(2, data)
    assert state.snapshot() == before


def test_metadata_snapshot_keeps_the_swap_state() -> None:
    state = metadata()
    state.apply(2, entry(DbSwaps.begin_command(0, 1, "a")))
    for index, shard in enumerate((0, 1, 2), start=3):
        state.apply(index, entry(DbSwaps.fenced_command(1, shard, "f")))
    state.apply(6, entry(DbSwaps.begin_command(8, 9, "b")))
    state.apply(7, entry(DbSwaps.fenced_command(2, 1, "f")))
    blob = state.snapshot()
    assert json.loads(blob)["databases"] == state.db_swaps.to_json()

    copy = MetadataState(ClusterMap())
    notified: list[bool] = []
    copy.db_swap_listeners.append(lambda: notified.append(True))
    copy.restore(blob)
    assert notified == [True]
    assert copy.db_swaps.to_json() == state.db_swaps.to_json()
    assert copy.snapshot() == blob
    # The restored pending swap still excludes slot moves, and commits on the last acks.
    copy.apply(8, begin_command(Move("m", 0, 99, 0, 1), "mb"))
    assert "SWAPDB 8 9" in copy.slot_moves.results["mb"]
    copy.apply(9, entry(DbSwaps.fenced_command(2, 0, "f")))
    copy.apply(10, entry(DbSwaps.fenced_command(2, 2, "f")))
    assert copy.db_swaps.desired() == (2, swapped(8, 9, swapped(0, 1)), 0, 0)


def test_a_metadata_snapshot_from_before_databases_restores_the_identity() -> None:
    state = metadata()
    raw = json.loads(state.snapshot())
    del raw["databases"]
    copy = MetadataState(ClusterMap())
    copy.db_swaps.apply(DbSwaps.begin_command(1, 2, "x"), [0], "")
    copy.restore(json.dumps(raw).encode())
    assert copy.db_swaps.desired() == (0, IDENTITY, 0, 0)
