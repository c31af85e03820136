"""Redis's databases 0-15 in one engine (node/engine/databases.py, node/engine/engine.py,
node/engine/t_keys.py): SELECT, MOVE, COPY ... DB, FLUSHALL/FLUSHDB, a lone engine's
SWAPDB, the multi-database snapshot frame, per-database stats, expiry by key space and
SELECT inside MULTI."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest

from node import entry_codec
from node.engine.config import EngineConfig
from node.engine.databases import IDENTITY, MULTI_MAGIC, DatabaseError
from node.engine.engine import Engine
from node.engine.keyspace import Keyspace
from node.engine.snapshot import SnapshotError, dump
from node.entry_codec import Request, ShardEntry
from node.notifications import channels_of
from node.shard_state import ShardState
from proto.errors import INT_OUT_OF_RANGE
from proto.resp import OK, Error

NOW = 1_000_000

SAME_OBJECT = b"ERR source and destination objects are the same"
DB_OUT_OF_RANGE = b"ERR DB index is out of range"
NOT_INTEGER = b"ERR value is not an integer or out of range"

# The multi-database frame as node/engine/databases.py documents it: magic, map epoch,
# fence epoch, fenced mask, the 16-byte map, the count of key spaces; then per key space
# its id, the length of its snapshot and the snapshot.
FRAME_HEADER = struct.Struct(">8sQQH16BH")
SPACE_HEADER = struct.Struct(">BQ")


def run(engine: Engine, db: int, *args: bytes, now: int = NOW) -> Any:
    """One command in database `db`, then database 0 selected again (as between requests)."""
    engine.select(db)
    try:
        return engine.execute(list(args), now, random.Random(7))
    finally:
        engine.select(0)


def contents(engine: Engine) -> dict[int, dict[bytes, Any]]:
    """Each database index's string keys (other values by type name), empty ones left out."""
    found: dict[int, dict[bytes, Any]] = {}
    for index, db in engine.databases.existing():
        if db.data:
            found[index] = {
                key: value if type(value) is bytes else type(value).__name__
                for key, value in db.data.items()
            }
    return found


def is_error(reply: Any, text: bytes) -> bool:
    return type(reply) is Error and reply == text


def frame(
    spaces: list[tuple[int, bytes]],
    mapping: list[int] | tuple[int, ...] = IDENTITY,
    map_epoch: int = 0,
    fence_epoch: int = 0,
    fenced: int = 0,
    count: int | None = None,
) -> bytes:
    """A multi-database snapshot built by hand (to make malformed ones)."""
    header = FRAME_HEADER.pack(
        MULTI_MAGIC,
        map_epoch,
        fence_epoch,
        fenced,
        *mapping,
        len(spaces) if count is None else count,
    )
    body = b"".join(SPACE_HEADER.pack(space_id, len(blob)) + blob for space_id, blob in spaces)
    return header + body


def lone_space_snapshot(**strings: bytes) -> bytes:
    """A one-database snapshot, as engines wrote before databases existed."""
    db = Keyspace()
    for key, value in strings.items():
        db.set(key.encode(), value)
    return dump(db)


def populated() -> Engine:
    """Databases 0, 3 and 15 with keys (a list and a TTL among them)."""
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"zero")
    run(engine, 3, b"SET", b"k", b"three")
    run(engine, 3, b"RPUSH", b"list", b"a", b"b", b"c")
    run(engine, 15, b"SET", b"t", b"fifteen", b"PX", b"60000")
    return engine


# ---------------------------------------------------------------------- SELECT


def test_select_returns_the_key_space_commands_then_act_on() -> None:
    engine = Engine()
    db3 = engine.select(3)
    assert engine.db is db3 and db3.index == 3
    assert engine.execute([b"SET", b"a", b"1"], NOW, random.Random(1)) == OK
    assert db3.data == {b"a": b"1"}
    zero = engine.select(0)
    assert zero is engine.databases.spaces[0] and zero is not db3
    assert zero.data == {}
    assert engine.select(3) is db3  # the same key space each time


def test_key_spaces_are_made_on_first_use_only() -> None:
    engine = Engine()
    assert set(engine.databases.spaces) == {0}
    run(engine, 9, b"SET", b"a", b"1")
    assert set(engine.databases.spaces) == {0, 9}


def test_keys_are_separate_per_database() -> None:
    engine = Engine()
    for index in (0, 3, 15):
        assert run(engine, index, b"SET", b"k", b"v%d" % index) == OK
    assert run(engine, 0, b"GET", b"k") == b"v0"
    assert run(engine, 3, b"GET", b"k") == b"v3"
    assert run(engine, 15, b"GET", b"k") == b"v15"
    assert run(engine, 7, b"GET", b"k") is None
    assert run(engine, 3, b"DEL", b"k") == 1
    assert run(engine, 0, b"EXISTS", b"k") == 1 and run(engine, 15, b"EXISTS", b"k") == 1
    assert run(engine, 3, b"DBSIZE") == 0 and run(engine, 15, b"DBSIZE") == 1
    assert engine.key_count() == 2


# ---------------------------------------------------------------------- MOVE


def test_move_takes_the_key_to_the_other_database() -> None:
    engine = Engine()
    run(engine, 0, b"RPUSH", b"k", b"a", b"b")
    assert run(engine, 0, b"MOVE", b"k", b"3") == 1
    assert run(engine, 0, b"EXISTS", b"k") == 0
    assert run(engine, 3, b"LRANGE", b"k", b"0", b"-1") == [b"a", b"b"]


def test_move_from_a_database_other_than_0() -> None:
    engine = Engine()
    run(engine, 5, b"SET", b"k", b"v")
    assert run(engine, 5, b"MOVE", b"k", b"0") == 1
    assert contents(engine) == {0: {b"k": b"v"}}


def test_move_onto_an_existing_key_answers_0_and_changes_nothing() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"source")
    run(engine, 3, b"SET", b"k", b"target")
    assert run(engine, 0, b"MOVE", b"k", b"3") == 0
    assert contents(engine) == {0: {b"k": b"source"}, 3: {b"k": b"target"}}


def test_move_of_a_missing_key_answers_0() -> None:
    engine = Engine()
    assert run(engine, 0, b"MOVE", b"nothing", b"3") == 0
    assert contents(engine) == {}


def test_move_of_an_expired_key_answers_0_and_moves_nothing() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"v", b"PX", b"10")
    assert run(engine, 0, b"MOVE", b"k", b"3", now=NOW + 100) == 0
    assert run(engine, 3, b"EXISTS", b"k", now=NOW + 100) == 0


def test_move_to_the_same_database_is_an_error() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"v")
    run(engine, 4, b"SET", b"k", b"v")
    assert is_error(run(engine, 0, b"MOVE", b"k", b"0"), SAME_OBJECT)
    assert is_error(run(engine, 4, b"MOVE", b"k", b"4"), SAME_OBJECT)
    assert contents(engine) == {0: {b"k": b"v"}, 4: {b"k": b"v"}}


@pytest.mark.parametrize(
    ("index", "error"),
    [
        (b"16", DB_OUT_OF_RANGE),
        (b"-1", DB_OUT_OF_RANGE),
        (b"99", DB_OUT_OF_RANGE),
        (b"x", NOT_INTEGER),
        (b"1.5", NOT_INTEGER),
        (b"03", NOT_INTEGER),
    ],
)
def test_move_to_a_bad_database_index_is_refused(index: bytes, error: bytes) -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"v")
    assert is_error(run(engine, 0, b"MOVE", b"k", index), error)
    assert contents(engine) == {0: {b"k": b"v"}}


def test_move_keeps_the_ttl_with_the_key() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"v", b"PX", b"5000")
    assert run(engine, 0, b"MOVE", b"k", b"3") == 1
    assert run(engine, 3, b"PTTL", b"k") == 5000
    assert engine.databases.database(3).expires == {b"k": NOW + 5000}
    assert engine.databases.database(0).expires == {}
    run(engine, 0, b"SET", b"p", b"v")
    assert run(engine, 0, b"MOVE", b"p", b"3") == 1
    assert run(engine, 3, b"TTL", b"p") == -1


def test_move_keeps_the_used_memory_of_the_engine() -> None:
    engine = Engine()
    run(engine, 0, b"HSET", b"h", b"f1", b"v1", b"f2", b"v2")
    run(engine, 0, b"SET", b"s", b"value")
    before = engine.used_memory()
    assert run(engine, 0, b"MOVE", b"h", b"3") == 1
    assert run(engine, 0, b"MOVE", b"s", b"3") == 1
    assert engine.used_memory() == before
    assert engine.databases.database(0).used_memory == 0
    assert engine.databases.database(3).used_memory == before


def test_move_publishes_move_from_then_move_to_on_each_databases_channels() -> None:
    engine = Engine()
    engine.config.notify_keyspace_events = "KEA"
    run(engine, 0, b"SET", b"k", b"v")
    engine.take_events()
    assert run(engine, 0, b"MOVE", b"k", b"3") == 1
    events = engine.take_events()
    assert events == [("g", b"move_from", b"k"), ("g", b"move_to", b"k", 3)]
    assert channels_of(events, "KEA") == [
        (b"__keyspace@0__:k", b"move_from"),
        (b"__keyevent@0__:move_from", b"k"),
        (b"__keyspace@3__:k", b"move_to"),
        (b"__keyevent@3__:move_to", b"k"),
    ]
    assert engine.take_events() == []


def test_move_back_to_database_0_gives_its_events_three_fields() -> None:
    engine = Engine()
    engine.config.notify_keyspace_events = "Kg"
    run(engine, 3, b"SET", b"k", b"v")
    engine.take_events()
    run(engine, 3, b"MOVE", b"k", b"0")
    events = engine.take_events()
    assert events == [("g", b"move_from", b"k", 3), ("g", b"move_to", b"k")]
    assert channels_of(events, "Kg") == [
        (b"__keyspace@3__:k", b"move_from"),
        (b"__keyspace@0__:k", b"move_to"),
    ]


def test_move_reports_the_key_among_the_changed_keys() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"v")
    engine.select(0)
    engine.execute([b"MOVE", b"k", b"3"], NOW, random.Random(1))
    assert b"k" in engine.changed_keys


# ---------------------------------------------------------------------- COPY ... DB


def test_copy_to_another_database() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"src", b"v", b"PX", b"9000")
    assert run(engine, 0, b"COPY", b"src", b"dst", b"DB", b"3") == 1
    assert contents(engine) == {0: {b"src": b"v"}, 3: {b"dst": b"v"}}
    assert run(engine, 3, b"PTTL", b"dst") == 9000


def test_copy_to_the_same_name_in_another_database_is_allowed() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"v")
    assert run(engine, 0, b"COPY", b"k", b"k", b"DB", b"3") == 1
    assert contents(engine) == {0: {b"k": b"v"}, 3: {b"k": b"v"}}
    assert is_error(run(engine, 0, b"COPY", b"k", b"k", b"DB", b"0"), SAME_OBJECT)
    assert is_error(run(engine, 3, b"COPY", b"k", b"k", b"DB", b"3"), SAME_OBJECT)


def test_copy_onto_an_existing_key_needs_replace() -> None:
    engine = Engine()
    run(engine, 0, b"SADD", b"src", b"a", b"b")
    run(engine, 3, b"SET", b"dst", b"old")
    assert run(engine, 0, b"COPY", b"src", b"dst", b"DB", b"3") == 0
    assert run(engine, 3, b"GET", b"dst") == b"old"
    assert run(engine, 0, b"COPY", b"src", b"dst", b"DB", b"3", b"REPLACE") == 1
    assert sorted(run(engine, 3, b"SMEMBERS", b"dst")) == [b"a", b"b"]
    # The copy is a value of its own.
    run(engine, 3, b"SADD", b"dst", b"c")
    assert run(engine, 0, b"SCARD", b"src") == 2
    assert run(engine, 3, b"SCARD", b"dst") == 3


def test_copy_replace_in_either_order_of_options() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"src", b"new")
    run(engine, 5, b"SET", b"dst", b"old", b"PX", b"100")
    assert run(engine, 0, b"COPY", b"src", b"dst", b"REPLACE", b"DB", b"5") == 1
    assert run(engine, 5, b"GET", b"dst") == b"new"
    assert run(engine, 5, b"PTTL", b"dst") == -1  # the source had none


def test_copy_of_a_missing_key_answers_0() -> None:
    engine = Engine()
    assert run(engine, 0, b"COPY", b"nothing", b"dst", b"DB", b"3") == 0
    assert contents(engine) == {}


@pytest.mark.parametrize(
    ("index", "error"), [(b"16", DB_OUT_OF_RANGE), (b"-1", DB_OUT_OF_RANGE), (b"x", NOT_INTEGER)]
)
def test_copy_to_a_bad_database_index_is_refused(index: bytes, error: bytes) -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"v")
    assert is_error(run(engine, 0, b"COPY", b"k", b"d", b"DB", index), error)
    assert contents(engine) == {0: {b"k": b"v"}}


def test_copy_to_another_database_publishes_copy_to_there() -> None:
    engine = Engine()
    engine.config.notify_keyspace_events = "KEg"
    run(engine, 0, b"SET", b"k", b"v")
    engine.take_events()
    run(engine, 0, b"COPY", b"k", b"d", b"DB", b"3")
    events = engine.take_events()
    assert events == [("g", b"copy_to", b"d", 3)]
    assert channels_of(events, "KEg") == [
        (b"__keyspace@3__:d", b"copy_to"),
        (b"__keyevent@3__:copy_to", b"d"),
    ]


def test_copy_without_db_copies_within_the_selected_database() -> None:
    engine = Engine()
    run(engine, 3, b"SET", b"a", b"1")
    assert run(engine, 3, b"COPY", b"a", b"b") == 1
    assert contents(engine) == {3: {b"a": b"1", b"b": b"1"}}


def test_copy_of_a_key_onto_itself_without_db_is_an_error_in_any_database() -> None:
    engine = Engine()
    run(engine, 3, b"SET", b"a", b"1")
    assert is_error(run(engine, 3, b"COPY", b"a", b"a"), SAME_OBJECT)
    assert contents(engine) == {3: {b"a": b"1"}}


# ---------------------------------------------------------------------- FLUSHALL, FLUSHDB


@pytest.mark.parametrize("flushing_db", [0, 3, 15])
def test_flushall_empties_every_database(flushing_db: int) -> None:
    engine = populated()
    run(engine, 7, b"SET", b"x", b"y")
    assert run(engine, flushing_db, b"FLUSHALL") == OK
    assert contents(engine) == {}
    assert engine.key_count() == 0 and engine.used_memory() == 0
    for index in (0, 3, 7, 15):
        assert run(engine, index, b"DBSIZE") == 0


def test_flushall_forgets_the_emptied_key_spaces() -> None:
    engine = populated()
    run(engine, 0, b"FLUSHALL")
    assert set(engine.databases.spaces) == {0}
    assert engine.snapshot()[:8] != MULTI_MAGIC  # back to the one-database format


def test_flushall_reports_every_databases_keys_as_changed() -> None:
    engine = populated()
    engine.select(3)
    engine.execute([b"FLUSHALL"], NOW, random.Random(1))
    assert set(engine.changed_keys) == {b"k", b"list", b"t"}
    engine.select(0)


def test_flushdb_empties_only_the_selected_database() -> None:
    engine = populated()
    assert run(engine, 3, b"FLUSHDB") == OK
    assert contents(engine) == {0: {b"k": b"zero"}, 15: {b"t": b"fifteen"}}
    assert run(engine, 0, b"FLUSHDB", b"ASYNC") == OK
    assert contents(engine) == {15: {b"t": b"fifteen"}}


def test_flush_with_a_bad_argument_is_a_syntax_error() -> None:
    engine = populated()
    reply = run(engine, 3, b"FLUSHALL", b"NOW")
    assert type(reply) is Error and reply.startswith(b"ERR syntax")
    assert engine.key_count() == 4


# ---------------------------------------------------------------------- SWAPDB on a lone engine


def test_swap_exchanges_contents_and_keeps_key_space_ids() -> None:
    engine = populated()
    space0, space3 = engine.databases.spaces[0], engine.databases.spaces[3]
    engine.databases.swap(0, 3)
    assert engine.databases.spaces[0] is space0 and engine.databases.spaces[3] is space3
    assert engine.databases.space_id(0) == 3 and engine.databases.space_id(3) == 0
    assert space0.index == 3 and space3.index == 0
    assert run(engine, 0, b"GET", b"k") == b"three"
    assert run(engine, 3, b"GET", b"k") == b"zero"
    assert run(engine, 0, b"LLEN", b"list") == 3
    assert contents(engine)[15] == {b"t": b"fifteen"}


def test_swap_with_a_database_never_used_moves_the_keys_there() -> None:
    engine = populated()
    engine.databases.swap(3, 9)
    assert run(engine, 3, b"DBSIZE") == 0
    assert run(engine, 9, b"GET", b"k") == b"three"
    assert engine.databases.space_id(9) == 3


def test_swap_twice_is_the_identity() -> None:
    engine = populated()
    before = contents(engine)
    engine.databases.swap(3, 15)
    assert contents(engine) != before
    engine.databases.swap(15, 3)
    assert contents(engine) == before
    assert engine.databases.mapping == list(IDENTITY)


def test_events_after_a_swap_name_the_database_index() -> None:
    engine = populated()
    engine.config.notify_keyspace_events = "Kg"
    engine.databases.swap(0, 3)
    run(engine, 0, b"DEL", b"k")  # key space 3, database 0 now
    run(engine, 3, b"DEL", b"k")  # key space 0, database 3 now
    assert engine.take_events() == [("g", b"del", b"k"), ("g", b"del", b"k", 3)]


# ---------------------------------------------------------------------- snapshots


def swapped_and_fenced() -> Engine:
    engine = populated()
    engine.databases.swap(3, 7)
    # A later swap's fence (as a shard holds it between a cluster swap's two steps).
    engine.databases.install_map(0, list(engine.databases.mapping), 5, 1 << 1 | 1 << 2)
    return engine


def test_snapshot_round_trip_with_several_databases_a_swapped_map_and_a_fence() -> None:
    engine = swapped_and_fenced()
    blob = engine.snapshot()
    assert blob[:8] == MULTI_MAGIC
    copy = Engine()
    copy.restore(blob)
    assert contents(copy) == contents(engine)
    assert copy.databases.mapping == engine.databases.mapping
    assert (copy.databases.map_epoch, copy.databases.fence_epoch, copy.databases.fenced) == (
        0,
        5,
        0b110,
    )
    assert set(copy.databases.spaces) == set(engine.databases.spaces)
    assert copy.snapshot() == blob
    assert run(copy, 7, b"LRANGE", b"list", b"0", b"-1") == [b"a", b"b", b"c"]
    assert run(copy, 15, b"PTTL", b"t") == 60000
    assert copy.db is copy.databases.database(0)
    # Restored key spaces know their database index and the engine's databases.
    space3 = copy.databases.spaces[3]
    assert space3.index == 7 and space3.databases is copy.databases


def test_restore_replaces_an_engine_with_other_databases() -> None:
    blob = swapped_and_fenced().snapshot()
    engine = Engine()
    run(engine, 11, b"SET", b"gone", b"1")
    run(engine, 0, b"SET", b"gone", b"1")
    engine.restore(blob)
    assert 11 not in engine.databases.spaces
    assert run(engine, 0, b"GET", b"k") == b"zero"
    assert run(engine, 11, b"EXISTS", b"gone") == 0


def test_restored_databases_share_one_event_list() -> None:
    engine = Engine()
    engine.restore(swapped_and_fenced().snapshot())
    engine.config.notify_keyspace_events = "Kg"
    run(engine, 7, b"DEL", b"k")
    run(engine, 0, b"DEL", b"k")
    assert engine.take_events() == [("g", b"del", b"k", 7), ("g", b"del", b"k")]


def shard_with_databases() -> ShardState:
    state = ShardState()
    commands = [
        (0, [b"SET", b"k", b"zero"]),
        (3, [b"SET", b"k", b"three", b"PX", b"60000"]),
        (3, [b"ZADD", b"z", b"1", b"a", b"2", b"b"]),
        (12, [b"HSET", b"h", b"f", b"v"]),
    ]
    for sequence, (db, args) in enumerate(commands, start=1):
        request = Request(
            3, sequence, sequence - 1, entry_codec.COMMANDS, False, [args], [], b"", db
        )
        state.apply(entry_codec.encode(ShardEntry(NOW + sequence, 5, [request], [], [])))
    state.engine.databases.swap(3, 12)
    return state


def test_shard_snapshot_round_trip_keeps_databases_and_digest() -> None:
    state = shard_with_databases()
    blob = state.snapshot()
    copy = ShardState()
    copy.restore(blob)
    assert copy.digest() == state.digest()
    assert contents(copy.engine) == contents(state.engine)
    assert copy.engine.databases.mapping == state.engine.databases.mapping
    assert copy.snapshot() == blob


def test_shard_digest_sees_every_database() -> None:
    state = shard_with_databases()
    other = ShardState()
    other.restore(state.snapshot())
    run(other.engine, 3, b"HSET", b"h", b"f", b"changed")  # key space 12, database 3
    assert other.digest() != state.digest()


def test_shard_digest_depends_on_the_map() -> None:
    state = shard_with_databases()
    other = ShardState()
    other.restore(state.snapshot())
    other.engine.databases.swap(3, 12)  # back to the identity: same keys, other map
    assert other.digest() != state.digest()


def test_a_plain_engine_writes_the_one_database_format() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"k", b"v")
    blob = engine.snapshot()
    assert blob[:8] != MULTI_MAGIC
    assert blob == dump(engine.databases.spaces[0])


def test_an_old_one_database_snapshot_restores() -> None:
    engine = swapped_and_fenced()
    engine.restore(lone_space_snapshot(a=b"1", b=b"2"))
    assert contents(engine) == {0: {b"a": b"1", b"b": b"2"}}
    assert set(engine.databases.spaces) == {0}
    assert engine.databases.mapping == list(IDENTITY)
    assert (engine.databases.map_epoch, engine.databases.fence_epoch) == (0, 0)
    assert engine.databases.fenced == 0
    assert engine.databases.is_plain()
    assert engine.snapshot() == lone_space_snapshot(a=b"1", b=b"2")


def malformed_snapshots() -> list[tuple[str, bytes]]:
    zero = lone_space_snapshot(z=b"0")
    three = lone_space_snapshot(t=b"3")
    good = frame([(0, zero), (3, three)])
    not_a_permutation = list(IDENTITY)
    not_a_permutation[5] = 4
    out_of_range_map = list(IDENTITY)
    out_of_range_map[15] = 16
    return [
        ("truncated header", good[: FRAME_HEADER.size - 1]),
        ("truncated space header", good[: FRAME_HEADER.size + 3]),
        ("truncated space body", good[:-1]),
        ("truncated first space", good[: FRAME_HEADER.size + SPACE_HEADER.size + 10]),
        ("map with a duplicate", frame([(0, zero)], mapping=not_a_permutation)),
        ("map with 16", frame([(0, zero)], mapping=out_of_range_map)),
        ("duplicate key space", frame([(0, zero), (3, three), (3, three)])),
        ("key space id 16", frame([(0, zero), (16, three)])),
        ("no key space 0", frame([(3, three)])),
        ("trailing bytes", good + b"\x00"),
        ("count larger than the spaces", frame([(0, zero), (3, three)], count=3)),
        ("count above 16", frame([(0, zero)], count=17)),
        ("corrupt key space", frame([(0, zero), (3, three[:-1] + b"\xff")])),
        ("space size past the end", good[: -len(three)] + three[:-4]),
    ]


def test_the_hand_built_frame_is_accepted() -> None:
    """The well-formed frame the malformed ones derive from restores (so each failure below
    comes from its one defect)."""
    engine = Engine()
    engine.restore(frame([(0, lone_space_snapshot(z=b"0")), (3, lone_space_snapshot(t=b"3"))]))
    assert contents(engine) == {0: {b"z": b"0"}, 3: {b"t": b"3"}}


@pytest.mark.parametrize(("name", "blob"), malformed_snapshots())
def test_a_malformed_multi_database_snapshot_raises_and_changes_nothing(
    name: str, blob: bytes
) -> None:
    engine = swapped_and_fenced()
    before_snapshot = engine.snapshot()
    before_contents = contents(engine)
    space0 = engine.databases.spaces[0]
    with pytest.raises((DatabaseError, SnapshotError)):
        engine.restore(blob)
    assert engine.snapshot() == before_snapshot
    assert contents(engine) == before_contents
    assert engine.databases.spaces[0] is space0
    assert engine.databases.fenced == 0b110


def test_a_malformed_one_database_snapshot_raises_and_changes_nothing() -> None:
    engine = swapped_and_fenced()
    before = engine.snapshot()
    with pytest.raises(SnapshotError):
        engine.restore(lone_space_snapshot(a=b"1")[:-3])
    assert engine.snapshot() == before


# ---------------------------------------------------------------------- stats and memory


def test_stats_count_keys_per_database() -> None:
    engine = populated()
    stats = engine.stats()
    assert stats["keys"] == 4 and stats["expires"] == 1
    assert (stats["db0_keys"], stats["db0_expires"]) == (1, 0)
    assert (stats["db3_keys"], stats["db3_expires"]) == (2, 0)
    assert (stats["db15_keys"], stats["db15_expires"]) == (1, 1)
    assert stats["db15_avg_ttl"] == 60000
    assert "db7_keys" not in stats and "db1_keys" not in stats
    assert (stats["db_map_epoch"], stats["db_fence_epoch"]) == (0, 0)


def test_stats_name_database_indexes_after_a_swap() -> None:
    engine = populated()
    engine.databases.swap(3, 8)
    stats = engine.stats()
    assert stats["db8_keys"] == 2 and "db3_keys" not in stats


def test_stats_leave_out_emptied_databases() -> None:
    engine = populated()
    run(engine, 3, b"FLUSHDB")
    assert "db3_keys" not in engine.stats()


def test_used_memory_sums_the_key_spaces() -> None:
    engine = Engine()
    run(engine, 0, b"SET", b"a", b"x" * 100)
    only_zero = engine.used_memory()
    run(engine, 3, b"SET", b"a", b"y" * 500)
    run(engine, 15, b"RPUSH", b"l", b"z" * 50, b"w")
    spaces = engine.databases.spaces
    assert engine.used_memory() == sum(db.used_memory for db in spaces.values())
    assert engine.used_memory() > only_zero + 500
    assert engine.stats()["used_memory"] == engine.used_memory()
    assert spaces[0].used_memory == only_zero


def test_out_of_memory_counts_every_database() -> None:
    config = EngineConfig()
    engine = Engine(config)
    run(engine, 3, b"SET", b"big", b"x" * 2000)
    config.maxmemory = 1000
    reply = run(engine, 0, b"SET", b"small", b"v", b"NX")  # DENYOOM, noeviction
    assert type(reply) is Error and reply.startswith(b"OOM")


# ---------------------------------------------------------------------- expiry and eviction


def test_expired_by_space_finds_keys_in_database_3() -> None:
    engine = Engine()
    run(engine, 3, b"SET", b"gone", b"v", b"PX", b"100")
    run(engine, 3, b"SET", b"later", b"v", b"PX", b"100000")
    run(engine, 0, b"SET", b"zero", b"v", b"PX", b"50")
    found = engine.expired_by_space(NOW + 1000)
    assert found == {0: [b"zero"], 3: [b"gone"]}
    assert engine.expired_by_space(NOW) == {}
    assert engine.apply_expire([b"gone"], NOW + 1000, 3) == 1
    assert run(engine, 3, b"EXISTS", b"gone", now=NOW) == 0
    assert run(engine, 3, b"EXISTS", b"later", now=NOW) == 1
    assert run(engine, 0, b"EXISTS", b"zero", now=NOW) == 1  # key space 0 untouched
    assert engine.stats()["expired_keys"] == 1


def test_expired_by_space_names_key_space_ids_not_database_indexes() -> None:
    engine = Engine()
    run(engine, 3, b"SET", b"gone", b"v", b"PX", b"100")
    engine.databases.swap(3, 9)
    assert engine.expired_by_space(NOW + 1000) == {3: [b"gone"]}
    assert engine.apply_expire([b"gone"], NOW + 1000, 3) == 1
    assert run(engine, 9, b"DBSIZE") == 0


def test_apply_expire_removes_only_keys_expired_at_that_time() -> None:
    engine = Engine()
    run(engine, 3, b"SET", b"a", b"v", b"PX", b"100")
    run(engine, 3, b"SET", b"b", b"v")
    assert engine.apply_expire([b"a", b"b", b"missing"], NOW + 50, 3) == 0
    assert engine.apply_expire([b"a", b"b", b"missing"], NOW + 100, 3) == 1
    engine.select(0)
    assert contents(engine) == {3: {b"b": b"v"}}


def test_expired_by_space_respects_the_limit_per_key_space() -> None:
    engine = Engine()
    for n in range(5):
        run(engine, 2, b"SET", b"k%d" % n, b"v", b"PX", b"%d" % (10 + n))
    found = engine.expired_by_space(NOW + 1000, limit=3)
    assert found == {2: [b"k0", b"k1", b"k2"]}


def test_apply_evict_removes_keys_of_the_named_key_space() -> None:
    engine = Engine()
    engine.config.notify_keyspace_events = "Ke"
    run(engine, 0, b"SET", b"k", b"zero")
    run(engine, 4, b"SET", b"k", b"four")
    assert engine.apply_evict([b"k"], 4) == 1
    engine.select(0)
    assert contents(engine) == {0: {b"k": b"zero"}}
    assert engine.stats()["evicted_keys"] == 1
    assert engine.take_events() == [("e", b"evicted", b"k", 4)]


def test_eviction_candidates_come_from_the_largest_key_space() -> None:
    config = EngineConfig(maxmemory_policy="volatile-ttl")
    engine = Engine(config)
    run(engine, 0, b"SET", b"small", b"v", b"PX", b"1000")
    run(engine, 6, b"SET", b"big1", b"x" * 500, b"PX", b"3000")
    run(engine, 6, b"SET", b"big2", b"x" * 500, b"PX", b"2000")
    assert engine.eviction_candidates_by_space(2) == (6, [b"big2", b"big1"])


def test_eviction_candidates_of_an_empty_engine() -> None:
    engine = Engine(EngineConfig(maxmemory_policy="allkeys-random"))
    assert engine.eviction_candidates_by_space(3) == (0, [])


# ---------------------------------------------------------------------- MULTI with SELECT


def test_select_inside_a_transaction_moves_the_later_commands() -> None:
    engine = Engine()
    replies = engine.execute_transaction(
        [
            [b"SET", b"a", b"zero"],
            [b"SELECT", b"3"],
            [b"SET", b"a", b"three"],
            [b"GET", b"a"],
            [b"select", b"0"],
            [b"GET", b"a"],
        ],
        NOW,
        random.Random(1),
    )
    assert replies == [OK, OK, OK, b"three", OK, b"zero"]
    engine.select(0)
    assert contents(engine) == {0: {b"a": b"zero"}, 3: {b"a": b"three"}}


def test_a_transaction_ends_in_the_database_it_selected_last() -> None:
    engine = Engine()
    engine.execute_transaction([[b"SELECT", b"5"], [b"SET", b"x", b"1"]], NOW, random.Random(1))
    assert engine.db is engine.databases.database(5)
    assert engine.changed_keys == [b"x"]


def test_a_transactions_changed_keys_span_its_databases() -> None:
    engine = Engine()
    engine.execute_transaction(
        [[b"SET", b"a", b"1"], [b"SELECT", b"5"], [b"SET", b"b", b"1"]], NOW, random.Random(1)
    )
    assert sorted(engine.changed_keys) == [b"a", b"b"]


@pytest.mark.parametrize(
    ("index", "error"),
    [
        (b"x", NOT_INTEGER),
        (b"1.0", NOT_INTEGER),
        (b"", NOT_INTEGER),
        (b"16", DB_OUT_OF_RANGE),
        (b"-1", DB_OUT_OF_RANGE),
        (b"99999999999", INT_OUT_OF_RANGE),  # a long long, past an int
        (b"99999999999999999999", NOT_INTEGER),  # past a long long
        (b"01", NOT_INTEGER),
    ],
)
def test_a_bad_select_inside_a_transaction_errs_and_does_not_switch(
    index: bytes, error: bytes
) -> None:
    engine = Engine()
    engine.select(2)
    replies = engine.execute_transaction(
        [[b"SELECT", index], [b"SET", b"a", b"1"]], NOW, random.Random(1)
    )
    assert replies is not None
    assert is_error(replies[0], error)
    assert replies[1] == OK
    engine.select(0)
    assert contents(engine) == {2: {b"a": b"1"}}


def test_a_transaction_starts_in_the_selected_database() -> None:
    engine = Engine()
    run(engine, 4, b"SET", b"a", b"four")
    engine.select(4)
    replies = engine.execute_transaction([[b"GET", b"a"], [b"INCR", b"n"]], NOW, random.Random(1))
    assert replies == [b"four", 1]
    engine.select(0)
    assert contents(engine) == {4: {b"a": b"four", b"n": b"1"}}
