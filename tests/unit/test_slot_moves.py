"""Slot moves: the metadata's move state machine, the shard's slot entries (fence, import,
activate, drop) and the session table across a move (node/slot_moves.py,
node/slot_entries.py)."""

from __future__ import annotations

import marshal

import pytest

from node import entry_codec, slot_entries
from node.entry_codec import EntryFormatError, Request, ShardEntry
from node.metadata import ClusterMap, MetadataState
from node.shard_state import ShardState
from node.slot_entries import MOVING_REPLY, SlotEntry
from node.slot_moves import (
    COMMITTED,
    Move,
    SlotMoveError,
    begin_command,
    check_move,
    normalize,
    parse_range,
    step_command,
    without,
)
from proto.slots import key_slot
from proto.topology import ShardPlacement

SHARDS = [
    ShardPlacement(0, ((0, 5460),), (1, 2, 3)),
    ShardPlacement(1, ((5461, 10922),), (2, 3, 1)),
    ShardPlacement(2, ((10923, 16383),), (3, 1, 2)),
]


def metadata() -> MetadataState:
    state = MetadataState(ClusterMap(epoch=0, nodes={1: "a", 2: "b", 3: "c"}, shards=SHARDS))
    state.apply(1, MetadataState.install_command(state.map))
    return state


def test_parse_range() -> None:
    assert parse_range("0-99") == (0, 99)
    assert parse_range("7") == (7, 7)
    for bad in ("a-b", "5-3", "0-16384", "-1-3", ""):
        with pytest.raises(SlotMoveError):
            parse_range(bad)


def test_ranges_arithmetic() -> None:
    assert without(((0, 100),), 10, 20) == ((0, 9), (21, 100))
    assert without(((0, 100),), 0, 100) == ()
    assert normalize([(21, 30), (0, 9), (10, 20)]) == ((0, 30),)


def test_bad_moves_are_refused() -> None:
    with pytest.raises(SlotMoveError, match="already holds"):
        check_move(SHARDS, {}, 0, 10, 0)
    with pytest.raises(SlotMoveError, match="unknown shard"):
        check_move(SHARDS, {}, 0, 10, 9)
    with pytest.raises(SlotMoveError, match="not held by one shard"):
        check_move(SHARDS, {}, 5000, 6000, 2)
    moving = {"m": Move("m", 0, 100, 0, 1)}
    with pytest.raises(SlotMoveError, match="already moving"):
        check_move(SHARDS, moving, 50, 60, 2)
    assert check_move(SHARDS, moving, 101, 200, 2) == 0


def test_move_commits_a_new_map_with_a_new_epoch() -> None:
    state = metadata()
    state.apply(2, begin_command(Move("m1", 0, 99, 0, 1), "e1"))
    assert state.slot_moves.results["e1"] == ""
    assert state.map.epoch == 1  # begin changes no owner
    # A second move of the same slots is refused when it applies, changing nothing.
    state.apply(3, begin_command(Move("m2", 50, 60, 0, 2), "e2"))
    assert "already moving" in state.slot_moves.results["e2"]
    assert list(state.slot_moves.moves) == ["m1"]
    state.apply(4, step_command("move-commit", "m1", "e3"))
    assert state.map.epoch == 4
    assert state.map.shards[0].slots == ((100, 5460),)
    assert state.map.shards[1].slots == ((0, 99), (5461, 10922))
    assert state.slot_moves.moves["m1"].phase == COMMITTED
    # Re-driven commit: no change, no new epoch.
    state.apply(5, step_command("move-commit", "m1", "e4"))
    assert state.map.epoch == 4 and state.slot_moves.results["e4"] == ""
    # The snapshot keeps the moves in flight.
    copy = MetadataState(ClusterMap())
    copy.restore(state.snapshot())
    assert copy.slot_moves.moves == state.slot_moves.moves
    state.apply(6, step_command("move-done", "m1", "e5"))
    assert state.slot_moves.moves == {}
    state.apply(7, step_command("move-done", "m1", "e6"))
    assert "no move" in state.slot_moves.results["e6"]


def test_done_before_commit_is_refused() -> None:
    state = metadata()
    state.apply(2, begin_command(Move("m1", 0, 99, 0, 1), "e1"))
    state.apply(3, step_command("move-done", "m1", "e2"))
    assert "not committed" in state.slot_moves.results["e2"]
    assert "m1" in state.slot_moves.moves


@pytest.mark.parametrize(
    "entry",
    [
        b'{"op": "move-begin", "id": "x", "move": {"id": 3}}',
        b'{"op": "move-begin", "id": "x", "move": {"id": "a", "first": 9, "last": 2, '
        b'"source": 0, "target": 1}}',
        b'{"op": "move-commit", "id": "x", "move_id": ["a"]}',
        b'{"op": ["move-begin"]}',
        b'{"op": "move-done"}',
    ],
)
def test_malformed_move_entries_are_no_ops(entry: bytes) -> None:
    state = metadata()
    before = state.snapshot()
    state.apply(2, entry)
    assert state.snapshot() == before


# ------------------------------------------------------------------ the shard's side


def key_in(slot_range: tuple[int, int], prefix: bytes = b"k") -> bytes:
    n = 0
    while True:
        key = prefix + b"%d" % n
        if slot_range[0] <= key_slot(key) <= slot_range[1]:
            return key
        n += 1


def write(
    state: ShardState, sequence: int, *commands: list[bytes], client: int = 7
) -> list[bytes] | None:
    entry = ShardEntry(
        1000, 1, [Request(client, sequence, 0, 0, False, list(commands), [])], [], []
    )
    return state.apply(entry_codec.encode(entry)).results[0].replies


def slot_entry(op: int, first: int, last: int, items: list | None = None) -> bytes:
    return slot_entries.encode(SlotEntry(1000, op, b"m", first, last, items or []))


def test_fence_refuses_new_writes_but_a_retry_gets_its_stored_reply() -> None:
    source = ShardState()
    source.slots.start(((0, 5460),))
    moved, kept = key_in((0, 99)), key_in((100, 5460))
    assert write(source, 1, [b"SET", moved, b"1"]) == [b"+OK\r\n"]
    source.apply(slot_entry(slot_entries.FENCE, 0, 99))
    # The acknowledged write retried after the fence: its stored reply, not applied again.
    assert write(source, 1, [b"SET", moved, b"1"]) == [b"+OK\r\n"]
    # A new write to the range is refused (and recorded), one to the rest goes on.
    assert write(source, 2, [b"INCR", moved], [b"SET", kept, b"2"]) == [
        MOVING_REPLY,
        b"+OK\r\n",
    ]
    assert source.engine.db.data[moved] == b"1"
    # The retry of the refused request is refused again, from the session table.
    assert write(source, 2, [b"INCR", moved], [b"SET", kept, b"2"]) == [
        MOVING_REPLY,
        b"+OK\r\n",
    ]


def test_keys_move_with_their_ttl_and_a_stale_import_changes_nothing() -> None:
    source, target = ShardState(), ShardState()
    source.slots.start(((0, 5460),))
    target.slots.start(((5461, 10922),))
    plain, timed, listed = key_in((0, 99), b"a"), key_in((0, 99), b"b"), key_in((0, 99), b"c")
    write(source, 1, [b"SET", plain, b"v"], [b"SET", timed, b"t", b"PX", b"50000"])
    write(source, 2, [b"RPUSH", listed, b"x", b"y"])
    write(target, 1, [b"SET", key_in((0, 99), b"stale"), b"old"])  # left by an older move
    source.apply(slot_entry(slot_entries.FENCE, 0, 99))
    db = source.engine.db
    items = [slot_entries.export_record(db, key) for key in sorted(db.data)]
    target.apply(slot_entry(slot_entries.CLEAR, 0, 99))
    assert target.engine.db.data == {}
    result = target.apply(slot_entry(slot_entries.IMPORT, 0, 99, items)).slot_result
    assert result is not None and result.keys == 3
    assert target.engine.db.expires[timed] == 1000 + 50000
    target.apply(slot_entry(slot_entries.ACTIVATE, 0, 99))
    assert write(target, 1, [b"LRANGE", listed, b"0", b"-1"], client=8) == [
        b"*2\r\n$1\r\nx\r\n$1\r\ny\r\n"
    ]
    write(target, 2, [b"SET", plain, b"new"], client=8)
    # An import re-driven after the activation cannot overwrite the newer write.
    target.apply(slot_entry(slot_entries.IMPORT, 0, 99, items))
    assert target.engine.db.data[plain] == b"new"
    # The source drops what it gave; a drop never touches a served slot.
    dropped = source.apply(
        slot_entry(slot_entries.DROP, 0, 99, [(k, 0, b"", -1) for k in items_keys(items)])
    )
    assert dropped.slot_result is not None and dropped.slot_result.keys == 3
    assert source.engine.db.data == {}


def items_keys(items: list) -> list[bytes]:
    return [item[0] for item in items]


def test_ownership_survives_a_snapshot() -> None:
    state = ShardState()
    state.slots.start(((0, 5460),))
    state.apply(slot_entry(slot_entries.FENCE, 0, 99))
    copy = ShardState()
    copy.slots.start(((0, 5460),))
    copy.restore(state.snapshot())
    assert not copy.slots.owns(50) and copy.slots.owns(100) and copy.slots.moved
    assert copy.digest() == state.digest()
    # A snapshot from before any move restores the placement's slots.
    fresh = ShardState()
    fresh.slots.start(((0, 5460),))
    copy.restore(fresh.snapshot())
    assert copy.slots.owns(50) and not copy.slots.moved


@pytest.mark.parametrize(
    "data",
    [
        bytes((3,)) + marshal.dumps((1, 9, b"m", 0, 1, []), 4),  # unknown op
        bytes((3,)) + marshal.dumps((1, 0, b"m", 5, 1, []), 4),  # range backwards
        bytes((3,)) + marshal.dumps((1, 2, b"m", 0, 1, [(b"k", b"p")]), 4),
        bytes((3,)) + marshal.dumps((1, 2, b"m", 0, 1, [(b"k", 7, b"p", -1)]), 4),
        bytes((3,)) + b"\x00garbage",
        bytes((3,)) + marshal.dumps((1, 2, b"m", 0, 16384, []), 4),
    ],
)
def test_malformed_slot_entries_are_no_ops(data: bytes) -> None:
    with pytest.raises(EntryFormatError):
        slot_entries.decode(data)
    state = ShardState()
    write(state, 1, [b"SET", b"k", b"v"])
    before = state.digest()
    state.apply(data)
    assert state.digest() == before


def test_bad_payload_is_counted_not_raised() -> None:
    target = ShardState()
    target.slots.start(((5461, 10922),))
    key = key_in((0, 99))
    result = target.apply(
        slot_entry(slot_entries.IMPORT, 0, 99, [(key, slot_entries.DUMP, b"junk", -1)])
    )
    assert result.slot_result is not None and result.slot_result.refused == [key]
    assert result.slot_result.keys == 0


def test_tracking_notes_the_keys_changed_during_the_first_copy() -> None:
    source = ShardState()
    source.slots.start(((0, 5460),))
    kept, changed, deleted = (key_in((0, 99), prefix) for prefix in (b"a", b"b", b"c"))
    outside = key_in((100, 5460))
    write(source, 1, [b"SET", kept, b"1"], [b"SET", changed, b"1"], [b"SET", deleted, b"1"])
    source.apply(slot_entry(slot_entries.TRACK, 0, 99))
    db = source.engine.db
    first_copy = [slot_entries.export_record(db, key) for key in (kept, changed, deleted)]
    write(source, 2, [b"SET", changed, b"2"], [b"DEL", deleted], [b"SET", outside, b"x"])
    assert source.slots.dirty == {changed, deleted}
    source.apply(slot_entry(slot_entries.FENCE, 0, 99))
    # The second copy: the dirty keys, those gone as ABSENT; the target ends as the source.
    second_copy = [
        slot_entries.export_record(db, key) or (key, slot_entries.ABSENT, b"", -1)
        for key in sorted(source.slots.dirty)
    ]
    target = ShardState()
    target.slots.start(((5461, 10922),))
    target.apply(slot_entry(slot_entries.IMPORT, 0, 99, first_copy))
    target.apply(slot_entry(slot_entries.IMPORT, 0, 99, second_copy))
    moved = {k: v for k, v in source.engine.db.data.items() if key_slot(k) <= 99}
    assert target.engine.db.data == moved == {kept: b"1", changed: b"2"}
    # The tracking and the dirty keys are replicated state: in snapshots and digests.
    copy = ShardState()
    copy.slots.start(((0, 5460),))
    copy.restore(source.snapshot())
    assert copy.slots.tracking == (0, 99) and copy.slots.dirty == {changed, deleted}
    assert copy.digest() == source.digest()
    # Dropping the range after the move ends the tracking.
    source.apply(slot_entry(slot_entries.DROP, 0, 99, [(kept, 0, b"", -1)]))
    assert source.slots.tracking is None and source.slots.dirty == set()
