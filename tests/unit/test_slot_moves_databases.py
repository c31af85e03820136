"""Slot moves carry every database (node/slot_entries.py, node/slot_service.py): a range's
keys of databases 0, 3 and 15 end on the target with their values and TTLs and go from the
source, through a whole move (TRACK, CLEAR, the first copy in chunks with writes between
them, FENCE, the dirty copy, ACTIVATE, DROP) driven through the export the ctl reads; old
four-field items still apply to key space 0; malformed items are refused."""

from __future__ import annotations

import asyncio
import marshal
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import entry_codec, slot_entries
from node.entry_codec import EntryFormatError, Request, ShardEntry
from node.shard_state import ShardState
from node.slot_entries import ALL_SPACES, MOVING_REPLY, SlotEntry
from node.slot_service import SlotService
from proto import slotraft_pb2 as pb
from proto.slots import key_slot

RANGE = (0, 99)
NOW = 1_000_000
SOURCE_SLOTS = ((0, 5460),)
TARGET_SLOTS = ((5461, 10922),)


def keys_in(slot_range: tuple[int, int], count: int, prefix: bytes = b"k") -> list[bytes]:
    found: list[bytes] = []
    n = 0
    while len(found) < count:
        key = prefix + b"%d" % n
        if slot_range[0] <= key_slot(key) <= slot_range[1]:
            found.append(key)
        n += 1
    return found


class Shard:
    """A ShardState fed entries as a shard's log would: client requests in a database,
    housekeeping, slot entries."""

    def __init__(self, slots: tuple[tuple[int, int], ...]) -> None:
        self.state = ShardState()
        self.state.slots.start(slots)
        self.sequence = 0
        self.clock = NOW

    def run(self, db: int, *commands: list[bytes]) -> list[bytes]:
        self.sequence += 1
        self.clock += 1
        request = Request(9, self.sequence, self.sequence, 0, False, list(commands), [], b"", db)
        entry = ShardEntry(self.clock, 1, [request], [], [])
        replies = self.state.apply(entry_codec.encode(entry)).results[0].replies
        assert replies is not None
        return replies

    def expire(self, space_id: int, keys: list[bytes], at: int) -> None:
        """The leader's active expiry of `keys` in key space `space_id`, applied at `at`."""
        self.clock = max(self.clock, at)
        if space_id:
            entry = ShardEntry(self.clock, 1, [], [], [], None, [(space_id, keys, [])])
        else:
            entry = ShardEntry(self.clock, 1, [], keys, [])
        self.state.apply(entry_codec.encode(entry))

    def slot(self, op: int, items: list | None = None) -> slot_entries.SlotResult:
        data = slot_entries.encode(SlotEntry(self.clock, op, b"m", *RANGE, items or []))
        result = self.state.apply(data).slot_result
        assert result is not None and not result.refused
        return result


def view(shard: Shard, in_range: bool = True) -> dict[int, dict[bytes, tuple[Any, ...]]]:
    """Each key space's keys of the range (or outside it) as IMPORT records: kind, value
    (a DUMP payload for non-strings) and absolute expiry. Empty key spaces are left out."""
    out: dict[int, dict[bytes, tuple[Any, ...]]] = {}
    for space_id, db in shard.state.engine.databases.spaces.items():
        records = {}
        for key in db.data:
            if (RANGE[0] <= key_slot(key) <= RANGE[1]) == in_range:
                record = slot_entries.export_record(db, key, space_id)
                assert record is not None
                records[key] = record[1:4]
        if records:
            out[space_id] = records
    return out


def export(
    shard: Shard, mode: int, budget: int, between: Callable[[int], None] = lambda _: None
) -> list[list[Any]]:
    """The chunks the source's leader gives, read as the ctl does (the cursor passed back,
    the items through marshal); `between(n)` runs after chunk n (the clients' writes)."""
    databases = shard.state.engine.databases
    listing = slot_entries.export_listing(databases, shard.state.slots, *RANGE, mode)
    chunks: list[list[Any]] = []
    after = b""
    while True:
        chunk = slot_entries.export_chunk(databases, listing, after, mode, budget)
        if chunk.items:
            chunks.append(marshal.loads(marshal.dumps(chunk.items, 4)))
            between(len(chunks))
        if chunk.done:
            return chunks
        assert chunk.last_key, "a cursor that is not the start"
        after = chunk.last_key


def service_export(shard: Shard, budget: int, **mode: bool) -> list[list[Any]]:
    """The same through SlotService.export (the Admin.SlotExport handler)."""
    replica = SimpleNamespace(
        is_leader=True, raft=SimpleNamespace(term=1, leader=1), state=shard.state
    )
    service = SlotService(SimpleNamespace(shards={1: replica}))  # type: ignore[arg-type]
    chunks: list[list[Any]] = []
    after = b""
    while True:
        request = pb.SlotExportRequest(
            shard=1, first=RANGE[0], last=RANGE[1], after=after, max_bytes=budget, **mode
        )
        reply = asyncio.run(service.export(request))
        assert reply.ok, reply.error
        if reply.count:
            chunks.append(marshal.loads(reply.items))
        if reply.done:
            return chunks
        after = reply.last_key


# ------------------------------------------------------------------ a whole move

A, B, C, D, E, NEW = keys_in(RANGE, 6)
OUTSIDE = keys_in((100, 5460), 1)[0]


def populate(source: Shard) -> int:
    """Keys of the range and outside it in databases 0, 3 and 15; E's expiry time."""
    for db in (0, 3, 15):
        tag = b"db%d" % db
        source.run(db, [b"SET", A, tag + b"-a"], [b"SET", OUTSIDE, tag + b"-out"])
        source.run(db, [b"SET", B, tag + b"-b", b"PX", b"500000"])
        source.run(db, [b"RPUSH", C, tag, b"x", b"y"], [b"HSET", D, b"f", tag])
    source.run(3, [b"SET", b"", b"the empty key"])  # in slot 0: a cursor that must not restart
    source.run(15, [b"SET", E, b"only in 15", b"PX", b"600000"])
    return source.clock + 600_000


def test_a_move_carries_every_database() -> None:
    source, target = Shard(SOURCE_SLOTS), Shard(TARGET_SLOTS)
    e_expires = populate(source)
    # Leftovers of an earlier, interrupted move on the target, in two databases.
    target.run(3, [b"SET", A, b"stale"], [b"SET", E, b"stale"])
    target.run(7, [b"SET", C, b"stale"])
    source.slot(slot_entries.TRACK)
    assert target.slot(slot_entries.CLEAR).keys == 3
    assert view(target) == {}

    expiry: list[int] = []

    def clients_write(chunk: int) -> None:  # between the chunks of the first copy
        if chunk == 1:
            source.run(3, [b"SET", A, b"db3-a2"], [b"DEL", C], [b"SET", NEW, b"n"])
            source.run(15, [b"PEXPIRE", A, b"700000"], [b"MOVE", E, b"4"])
            expiry.append(source.clock + 700_000)
        elif chunk == 2:
            source.run(0, [b"COPY", D, D, b"DB", b"9"], [b"DEL", B])
            source.expire(15, [B], NOW + 550_000)  # database 15's B expired

    for items in export(source, slot_entries.EXPORT_ALL, 40, clients_write):
        target.slot(slot_entries.IMPORT, items)
    source.slot(slot_entries.FENCE)
    assert source.run(3, [b"SET", A, b"late"], [b"SET", OUTSIDE, b"ok"]) == [
        MOVING_REPLY,
        b"+OK\r\n",
    ]
    frozen = view(source)
    assert set(frozen) == {0, 3, 4, 9, 15}  # MOVE and COPY made key spaces 4 and 9
    assert source.state.slots.dirty >= {A, B, C, D, E}
    # The dirty copy: a name's record in each key space the source has it in.
    for items in export(source, slot_entries.EXPORT_DIRTY, 1):
        target.slot(slot_entries.IMPORT, items)
    target.slot(slot_entries.ACTIVATE)
    assert view(target) == frozen
    assert frozen[3][A] == (slot_entries.STRING, b"db3-a2", -1)
    assert frozen[15][A] == (slot_entries.STRING, b"db15-a", expiry[0])
    assert frozen[3][NEW] == (slot_entries.STRING, b"n", -1)
    assert B not in frozen[15] and B not in frozen[0] and C not in frozen[3]
    # The target serves them in the right databases, TTLs kept.
    assert target.run(3, [b"GET", A], [b"GET", b""]) == [
        b"$6\r\ndb3-a2\r\n",
        b"$13\r\nthe empty key\r\n",
    ]
    assert frozen[4][E] == (slot_entries.STRING, b"only in 15", e_expires)
    assert target.run(4, [b"GET", E]) == [b"$10\r\nonly in 15\r\n"]
    assert target.run(0, [b"LRANGE", C, b"0", b"-1"]) == [
        b"*3\r\n$3\r\ndb0\r\n$1\r\nx\r\n$1\r\ny\r\n"
    ]
    assert target.run(9, [b"HGET", D, b"f"]) == [b"$3\r\ndb0\r\n"]
    # The source drops the range in every database (the names read as DROP's items).
    outside = view(source, in_range=False)
    for items in export(source, slot_entries.EXPORT_KEYS, 1):
        source.slot(slot_entries.DROP, items)
    assert view(source) == {}
    assert view(source, in_range=False) == outside
    assert source.state.slots.tracking is None


def test_a_move_through_the_export_service() -> None:
    """SlotService.export (cursor in `last_key`, the listing kept between requests)."""
    source, target = Shard(SOURCE_SLOTS), Shard(TARGET_SLOTS)
    populate(source)
    source.slot(slot_entries.TRACK)
    target.slot(slot_entries.CLEAR)
    chunks = service_export(source, 1)
    assert len(chunks) == sum(len(keys) for keys in view(source).values())
    for items in chunks:
        target.slot(slot_entries.IMPORT, items)
    source.run(3, [b"INCR", NEW])
    source.slot(slot_entries.FENCE)
    for items in service_export(source, 64, dirty_only=True):
        target.slot(slot_entries.IMPORT, items)
    target.slot(slot_entries.ACTIVATE)
    assert view(target) == view(source)
    assert view(target)[3][NEW][1] == b"1"
    for items in service_export(source, 1 << 20, keys_only=True):
        source.slot(slot_entries.DROP, items)
    assert view(source) == {}


def test_a_key_space_the_source_dropped_is_emptied_on_the_target() -> None:
    """FLUSHALL drops the key spaces it empties: the dirty copy cannot name them by the
    source's key spaces, so a dirty key goes from every key space of the target."""
    source, target = Shard(SOURCE_SLOTS), Shard(TARGET_SLOTS)
    source.run(5, [b"SET", A, b"5"], [b"RPUSH", B, b"5"])
    source.slot(slot_entries.TRACK)
    target.slot(slot_entries.CLEAR)
    for items in export(source, slot_entries.EXPORT_ALL, 1 << 20):
        target.slot(slot_entries.IMPORT, items)
    assert set(view(target)) == {5}
    source.run(0, [b"FLUSHALL"])
    assert sorted(source.state.engine.databases.spaces) == [0]
    source.slot(slot_entries.FENCE)
    chunks = export(source, slot_entries.EXPORT_DIRTY, 1 << 20)
    assert chunks == [[(key, slot_entries.ABSENT, b"", -1, ALL_SPACES) for key in sorted((A, B))]]
    target.slot(slot_entries.IMPORT, chunks[0])
    assert view(target) == {}


def test_flushall_from_another_database_is_tracked() -> None:
    source, target = Shard(SOURCE_SLOTS), Shard(TARGET_SLOTS)
    source.run(3, [b"SET", A, b"3"])
    source.slot(slot_entries.TRACK)
    for items in export(source, slot_entries.EXPORT_ALL, 1 << 20):
        target.slot(slot_entries.IMPORT, items)
    source.run(0, [b"FLUSHALL"])
    source.slot(slot_entries.FENCE)
    for items in export(source, slot_entries.EXPORT_DIRTY, 1 << 20):
        target.slot(slot_entries.IMPORT, items)
    assert view(target) == view(source) == {}


# ------------------------------------------------------------------ random writes

DATABASES_USED = (0, 3, 15)
KEYS = [A, B, C, D, OUTSIDE]
operation = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(DATABASES_USED), st.sampled_from(KEYS)),
    st.tuples(st.just("del"), st.sampled_from(DATABASES_USED), st.sampled_from(KEYS)),
    st.tuples(st.just("rpush"), st.sampled_from(DATABASES_USED), st.sampled_from(KEYS)),
    st.tuples(st.just("expire"), st.sampled_from(DATABASES_USED), st.sampled_from(KEYS)),
    st.tuples(st.just("move"), st.sampled_from(DATABASES_USED), st.sampled_from(KEYS)),
    st.tuples(st.just("flushdb"), st.sampled_from(DATABASES_USED), st.just(b"")),
)


def apply_op(shard: Shard, op: tuple[str, int, bytes], n: int) -> None:
    name, db, key = op
    other = DATABASES_USED[(DATABASES_USED.index(db) + 1) % len(DATABASES_USED)]
    command = {
        "set": [b"SET", key, b"v%d" % n],
        "del": [b"DEL", key],
        "rpush": [b"RPUSH", key, b"e%d" % n],
        "expire": [b"PEXPIRE", key, b"%d" % (1000 + n)],
        "move": [b"MOVE", key, b"%d" % other],
        "flushdb": [b"FLUSHDB"],
    }[name]
    shard.run(db, command)


@settings(max_examples=60, deadline=None)
@given(
    before=st.lists(operation, max_size=15),
    during=st.lists(operation, max_size=12),
    budget=st.integers(min_value=1, max_value=200),
)
def test_random_writes_during_the_copy(before: list, during: list, budget: int) -> None:
    source, target = Shard(SOURCE_SLOTS), Shard(TARGET_SLOTS)
    for n, op in enumerate(before):
        apply_op(source, op, n)
    source.slot(slot_entries.TRACK)
    target.slot(slot_entries.CLEAR)
    pending = list(during)

    def between(_: int) -> None:
        if pending:
            apply_op(source, pending.pop(0), 100 + len(pending))

    for items in export(source, slot_entries.EXPORT_ALL, budget, between):
        target.slot(slot_entries.IMPORT, items)
    for n, op in enumerate(pending):
        apply_op(source, op, 200 + n)
    source.slot(slot_entries.FENCE)
    outside = view(source, in_range=False)
    for items in export(source, slot_entries.EXPORT_DIRTY, budget):
        target.slot(slot_entries.IMPORT, items)
    target.slot(slot_entries.ACTIVATE)
    assert view(target) == view(source)
    for items in export(source, slot_entries.EXPORT_KEYS, budget):
        source.slot(slot_entries.DROP, items)
    assert view(source) == {}
    assert view(source, in_range=False) == outside


# ------------------------------------------------------------------ the encoding


def test_four_field_items_of_before_databases_still_apply_to_key_space_0() -> None:
    key = keys_in(RANGE, 1)[0]
    old = bytes((3,)) + marshal.dumps(
        (NOW, slot_entries.IMPORT, b"m", *RANGE, [(key, slot_entries.STRING, b"v", NOW + 9)]), 4
    )
    entry = slot_entries.decode(old)
    assert entry.items == [(key, slot_entries.STRING, b"v", NOW + 9)]
    target = Shard(TARGET_SLOTS)
    target.state.apply(old)
    assert view(target) == {0: {key: (slot_entries.STRING, b"v", NOW + 9)}}
    assert sorted(target.state.engine.databases.spaces) == [0]
    # An old ABSENT or DROP item acts in key space 0 only.
    target.run(3, [b"SET", key, b"3"])
    absent = (key, slot_entries.ABSENT, b"", -1)
    target.slot(slot_entries.IMPORT, [absent])
    assert set(view(target)) == {3}


def test_items_of_other_key_spaces() -> None:
    key = keys_in(RANGE, 1)[0]
    target = Shard(TARGET_SLOTS)
    target.slot(
        slot_entries.IMPORT,
        [(key, slot_entries.STRING, b"7", -1, 7), (key, slot_entries.STRING, b"15", -1, 15)],
    )
    assert view(target) == {
        7: {key: (slot_entries.STRING, b"7", -1)},
        15: {key: (slot_entries.STRING, b"15", -1)},
    }
    # Removing never makes a key space.
    target.slot(slot_entries.IMPORT, [(key, slot_entries.ABSENT, b"", -1, 4)])
    assert sorted(target.state.engine.databases.spaces) == [0, 7, 15]
    assert target.slot(slot_entries.DROP, [(key, slot_entries.STRING, b"", -1, 7)]).keys == 1
    assert view(target) == {15: {key: (slot_entries.STRING, b"15", -1)}}


def test_apply_slot_entry_takes_the_databases() -> None:
    """The call node/shard_state.py makes: the engine's Databases (its key space 0, the
    call of before databases, stands for them)."""
    key = keys_in(RANGE, 1)[0]
    for how in ("databases", "keyspace"):
        target = Shard(TARGET_SLOTS)
        engine = target.state.engine
        items: list[slot_entries.Item] = [
            (key, slot_entries.STRING, b"0", -1),
            (key, slot_entries.STRING, b"3", -1, 3),
        ]
        entry = SlotEntry(NOW, slot_entries.IMPORT, b"m", *RANGE, items)
        where = engine.databases if how == "databases" else engine.db
        result = slot_entries.apply_slot_entry(entry, target.state.slots, where, NOW)
        assert result.keys == 2
        assert view(target) == {
            0: {key: (slot_entries.STRING, b"0", -1)},
            3: {key: (slot_entries.STRING, b"3", -1)},
        }
        clear = SlotEntry(NOW, slot_entries.CLEAR, b"m", *RANGE, [])
        assert slot_entries.apply_slot_entry(clear, target.state.slots, where, NOW).keys == 2


@pytest.mark.parametrize(
    "item",
    [
        (b"k", slot_entries.STRING, b"v", -1, 0),  # key space 0 has four fields only
        (b"k", slot_entries.STRING, b"v", -1, 16),  # every key space: ABSENT only
        (b"k", slot_entries.STRING, b"v", -1, 17),
        (b"k", slot_entries.ABSENT, b"", -1, -1),
        (b"k", slot_entries.STRING, b"v", -1, True),
        (b"k", slot_entries.STRING, b"v", -1, b"\x03"),
        (b"k", slot_entries.STRING, b"v", -1, 3, 3),
        (b"k", slot_entries.STRING, b"v"),
        [b"k", slot_entries.STRING, b"v", -1, 3],
    ],
)
def test_malformed_items_are_refused_and_apply_as_no_ops(item: Any) -> None:
    data = bytes((3,)) + marshal.dumps((NOW, slot_entries.IMPORT, b"m", 0, 99, [item]), 4)
    with pytest.raises(EntryFormatError):
        slot_entries.decode(data)
    shard = Shard(TARGET_SLOTS)
    shard.run(3, [b"SET", b"k", b"v"])
    before = shard.state.digest()
    shard.state.apply(data)
    assert shard.state.digest() == before


@pytest.mark.parametrize(
    ("space_id", "key"),
    [(0, b"plain"), (0, b""), (0, b"\x03looks like 3"), (0, b"\x00"), (3, b""), (15, b"\xff")],
)
def test_cursors_read_back(space_id: int, key: bytes) -> None:
    cursor = slot_entries.encode_cursor(space_id, key)
    assert cursor and slot_entries.decode_cursor(cursor) == (space_id, key)
    if space_id == 0 and key[:1] >= b"\x10":
        assert cursor == key  # as before databases existed
    assert slot_entries.decode_cursor(b"") is None


def test_the_listing_is_by_key_space_then_key_and_resumes_anywhere() -> None:
    source = Shard(SOURCE_SLOTS)
    populate(source)
    source.slot(slot_entries.FENCE)
    databases = source.state.engine.databases
    listing = slot_entries.export_listing(databases, source.state.slots, *RANGE, 0)
    walked = [(space_id, key) for space_id, keys in listing for key in keys]
    assert walked == sorted(walked) and {space for space, _ in walked} == {0, 3, 15}
    # From each position's cursor, the rest; a cursor of a key space with no keys listed
    # resumes at the next key space.
    for position, (space_id, key) in enumerate(walked):
        cursor = slot_entries.encode_cursor(space_id, key)
        chunk = slot_entries.export_chunk(databases, listing, cursor, 0, 1 << 30)
        assert [(slot_entries.item_space(i), i[0]) for i in chunk.items] == walked[position + 1 :]
        assert chunk.done
    chunk = slot_entries.export_chunk(databases, listing, b"\x05zzz", 0, 1 << 30)
    assert [slot_entries.item_space(i) for i in chunk.items] == [s for s, _ in walked if s > 5]
