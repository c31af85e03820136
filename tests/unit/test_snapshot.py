"""Engine snapshots: round trips, refusal of damaged input, and the frame format."""

from __future__ import annotations

import random
import struct
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import crc32c
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine import snapshot
from node.engine.config import EngineConfig
from node.engine.digest import digest
from node.engine.engine import Engine
from node.engine.keyspace import Container, Keyspace
from node.engine.registry import IMPLEMENTATIONS
from node.engine.snapshot import SnapshotError, dump, load, load_into
from tests.unit.test_memory import programs

HEADER = struct.Struct("<8sHHQI")


def state(db: Keyspace) -> tuple[Any, ...]:
    """Everything a snapshot must carry, with the string kinds made visible."""
    data = [(key, type(value).__name__, _plain(value)) for key, value in db.data.items()]
    counters = (db.dirty, db.expired_keys, db.evicted_keys)
    return data, dict(db.expires), counters, db.used_memory


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return (value.TYPE_NAME, value.snapshot_items())


def reframe(body: bytes, version: int = snapshot.VERSION) -> bytes:
    """A frame with a valid checksum around any body: to reach the checks behind the CRC."""
    return HEADER.pack(snapshot.MAGIC, version, 0, len(body), crc32c.crc32c(body)) + body


def body_of(blob: bytes) -> bytes:
    return blob[HEADER.size :]


def sample_db() -> Keyspace:
    db = Keyspace()
    db.set(b"plain", b"value")
    db.set(b"raw", bytearray(b"grown in place"))
    db.set(b"empty", b"")
    db.set(b"binary\x00\xff", bytes(range(256)))
    db.set(b"ttl", b"soon")
    db.set_expire(b"ttl", 1_700_000_000_123)
    db.set(b"later", b"x" * 1000)
    db.set_expire(b"later", 1_800_000_000_000)
    db.expired_keys = 7
    db.evicted_keys = 3
    return db


# ---------------------------------------------------------------------- round trips


def test_empty_key_space_round_trips():
    db = Keyspace()
    restored = load(dump(db))
    assert state(restored) == state(db)
    assert restored.data == {}


def test_strings_ttls_and_counters_round_trip():
    db = sample_db()
    restored = load(dump(db))
    assert state(restored) == state(db)
    assert type(restored.data[b"raw"]) is bytearray
    assert type(restored.data[b"plain"]) is bytes
    assert list(restored.data) == list(db.data)


def test_restore_rebuilds_the_expiry_index_and_sampling():
    db = sample_db()
    restored = load(dump(db))
    assert restored.expired_candidates(1_750_000_000_000, 10) == [b"ttl"]
    assert restored.expired_candidates(2_000_000_000_000, 10) == [b"ttl", b"later"]
    found = restored.sample_keys(random.Random(1), 3, volatile=True)
    assert found and set(found) <= {b"ttl", b"later"}


def test_hit_and_miss_counters_are_not_replicated_state():
    db = sample_db()
    db.lookup(b"plain")
    db.lookup(b"absent")
    restored = load(dump(db))
    assert (restored.keyspace_hits, restored.keyspace_misses) == (0, 0)


def test_the_snapshot_is_deterministic():
    assert dump(sample_db()) == dump(sample_db())


def test_engine_snapshot_and_restore_answer_the_same():
    source = Engine()
    rng = random.Random(3)
    for index in range(200):
        source.execute([b"SET", b"k%d" % index, b"v%d" % index], 1000, rng)
    source.execute([b"SET", b"ttl", b"v", b"PX", b"5000"], 1000, rng)
    source.execute([b"APPEND", b"k1", b"-more"], 1000, rng)
    target = Engine()
    target.execute([b"SET", b"old", b"gone after restore"], 1000, rng)
    target.restore(source.snapshot())
    assert target.db.used_memory == source.db.used_memory
    assert target.stats()["keys"] == source.stats()["keys"]
    for key in [b"k0", b"k1", b"k199", b"ttl", b"old"]:
        assert target.execute([b"GET", key], 2000, rng) == source.execute([b"GET", key], 2000, rng)
    assert target.execute([b"GET", b"ttl"], 7000, rng) is None


def test_lists_keep_their_quicklist_nodes_through_a_snapshot():
    """DUMP writes a list's tracked quicklist nodes (an LPUSHed list fills them from the
    tail): a replica restored from a snapshot must dump the same bytes (a script or a
    transaction may store them), and go on tracking; an untracked list stays untracked."""
    rng = random.Random(4)
    source = Engine()
    elements = [b"element %d" % index for index in range(3000)]
    source.execute([b"LPUSH", b"tracked", *elements], 1000, rng)
    source.execute([b"RPOP", b"tracked", b"5"], 1000, rng)
    source.execute([b"RPUSH", b"untracked", *elements], 1000, rng)
    source.execute([b"LSET", b"untracked", b"0", b"x"], 1000, rng)
    target = Engine()
    target.restore(source.snapshot())
    for key in (b"tracked", b"untracked"):
        assert target.db.data[key].node_counts() == source.db.data[key].node_counts()
        for engine in (source, target):
            engine.execute([b"LPUSH", key, *elements[:700]], 1000, rng)
        dumped = [engine.execute([b"DUMP", key], 1000, rng) for engine in (source, target)]
        assert dumped[0] == dumped[1]
    assert source.db.data[b"tracked"].node_counts() is not None
    assert source.db.data[b"untracked"].node_counts() is None
    # Version 2 only when a list has node counts: a build reading version 1 refuses it.
    assert struct.unpack_from("<H", source.snapshot(), 8) == (snapshot.VERSION_LIST_NODES,)
    source.execute([b"DEL", b"tracked"], 1000, rng)
    assert struct.unpack_from("<H", source.snapshot(), 8) == (snapshot.VERSION,)


@pytest.mark.parametrize("forged", [[2], [3, 0], [1, 1, 2]])
def test_list_node_counts_that_do_not_add_up_are_refused(forged):
    engine = Engine()
    engine.execute([b"LPUSH", b"l", b"a", b"b", b"c"], 1000, random.Random(0))
    engine.db.data[b"l"]._nodes = deque([count, 10] for count in forged)
    with pytest.raises(SnapshotError):
        load_into(Keyspace(), engine.snapshot())


strings = st.binary(max_size=40)
key_spaces = st.lists(
    st.tuples(
        strings,
        strings,
        st.booleans(),
        st.one_of(st.none(), st.integers(1, 2**62)),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(key_spaces, st.integers(0, 2**62), st.integers(0, 2**40))
def test_any_string_key_space_round_trips(entries, dirty, expired):
    db = Keyspace()
    for key, value, raw, when in entries:
        db.set(key, bytearray(value) if raw else value)
        if when is not None:
            db.set_expire(key, when)
    db.dirty = dirty
    db.expired_keys = expired
    restored = load(dump(db))
    assert state(restored) == state(db)


def test_piece_lengths_widen_to_eight_bytes_for_huge_values(monkeypatch):
    # A value of 4 GiB is not practical in a test: lower the limit that picks the width.
    monkeypatch.setattr(snapshot, "_U32_LIMIT", 8)
    db = sample_db()
    blob = dump(db)
    body = body_of(blob)
    width = struct.unpack_from("<QQQB", body, 24)[3]
    assert width == 8
    assert state(load(blob)) == state(db)


# ---------------------------------------------------------------------- refusals


def test_bad_magic_is_refused():
    blob = bytearray(dump(sample_db()))
    blob[0:8] = b"NOTSNAP!"
    with pytest.raises(SnapshotError, match="not a slotraft snapshot: magic at offset 0"):
        load(bytes(blob))


def test_unknown_version_is_refused():
    blob = reframe(body_of(dump(sample_db())), version=99)
    with pytest.raises(SnapshotError, match="unsupported snapshot format version 99"):
        load(blob)


def test_every_truncation_is_refused():
    blob = dump(sample_db())
    for cut in range(len(blob)):
        with pytest.raises(SnapshotError, match="truncated"):
            load(blob[:cut])


def test_trailing_bytes_are_refused():
    with pytest.raises(SnapshotError, match="trailing bytes"):
        load(dump(sample_db()) + b"\x00")


def test_any_flipped_body_bit_is_caught_by_the_checksum():
    blob = dump(sample_db())
    rng = random.Random(5)
    for _ in range(200):
        damaged = bytearray(blob)
        position = rng.randrange(HEADER.size, len(blob))
        damaged[position] ^= 1 << rng.randrange(8)
        with pytest.raises(SnapshotError, match="corrupted body: CRC32C"):
            load(bytes(damaged))


def test_a_failed_restore_leaves_the_engine_unchanged():
    engine = Engine()
    rng = random.Random(0)
    engine.execute([b"SET", b"keep", b"me"], 1000, rng)
    before = state(engine.db)
    damaged = bytearray(dump(sample_db()))
    damaged[-1] ^= 0xFF
    with pytest.raises(SnapshotError):
        engine.restore(bytes(damaged))
    assert state(engine.db) == before
    assert engine.execute([b"GET", b"keep"], 1000, rng) == b"me"


def _body(
    kinds: bytes,
    pieces: list[bytes],
    counts: Sequence[int] = (),
    scores: Sequence[float] = (),
    expiries: Sequence[tuple[int, int]] = (),
    width: int = 4,
) -> bytes:
    """A hand-built version-1 body, to check the consistency checks behind the CRC."""
    length = "I" if width == 4 else "Q"
    return b"".join(
        [
            struct.pack("<qqq", 0, 0, 0),
            struct.pack("<QQQB", len(kinds), len(pieces), len(scores), width),
            kinds,
            struct.pack(f"<{len(counts)}I", *counts),
            struct.pack(f"<{len(pieces)}{length}", *map(len, pieces)),
            b"".join(pieces),
            struct.pack(f"<{len(scores)}d", *scores),
            struct.pack("<Q", len(expiries)),
            struct.pack(f"<{len(expiries)}I", *(index for index, _ in expiries)),
            struct.pack(f"<{len(expiries)}q", *(when for _, when in expiries)),
        ]
    )


def test_the_hand_built_body_matches_the_writer():
    db = Keyspace()
    db.set(b"a", b"1")
    db.set(b"b", bytearray(b"22"))
    db.set_expire(b"b", 123)
    db.dirty = 0
    assert body_of(dump(db)) == _body(b"\x00\x01", [b"a", b"1", b"b", b"22"], expiries=[(1, 123)])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_body(b"\x00\x00", [b"a", b"1", b"a", b"2"]), "duplicate keys"),
        (_body(b"\x00", [b"a", b"1"], expiries=[(1, 5)]), "expiry names key index 1"),
        (_body(b"\x00", [b"a", b"1"], expiries=[(0, 5), (0, 6)]), "two expiry times"),
        (_body(b"\x09", [b"a"], counts=[0]), "unknown kind 9"),
        (_body(b"\x00", [b"a", b"1", b"extra"]), "pieces belong to no key"),
        (_body(b"\x00\x00", [b"a", b"1", b"b"]), "pieces end inside string key #1"),
        (_body(b"\x00", [b"a", b"1"], width=3), "length width 3"),
        (_body(b"\x00", [b"a", b"1"]) + b"\x00", "unexpected bytes"),
    ],
)
def test_inconsistent_bodies_are_refused(body, message):
    with pytest.raises(SnapshotError, match=message):
        load(reframe(body))


def test_a_piece_length_past_the_end_is_refused():
    body = bytearray(_body(b"\x00", [b"a", b"1"]))
    lengths_at = 24 + 25 + 1  # counters, section sizes, one kind byte
    struct.pack_into("<I", body, lengths_at, 10_000)
    with pytest.raises(SnapshotError, match="exceeds the body"):
        load(reframe(bytes(body)))


# ---------------------------------------------------------------------- containers


class FakeContainer(Container):
    """Follows the Container protocol with a plain list, independently of the real
    classes: checks the snapshot layout for every kind."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        super().__init__()
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def mem(self) -> int:
        return 16 * len(self.items)

    def snapshot_items(self) -> list[Any]:
        return list(self.items)

    def encoding(self) -> bytes:
        return b"fake"

    @classmethod
    def from_snapshot_items(
        cls, config: EngineConfig, items: Iterable[Any], encoding: bytes | None = None
    ) -> FakeContainer:
        return cls(items)


class FakeHash(FakeContainer):
    __slots__ = ()
    TYPE_NAME = b"hash"


class FakeList(FakeContainer):
    __slots__ = ()
    TYPE_NAME = b"list"

    def node_counts(self) -> list[int] | None:
        return None  # quicklist nodes not tracked: the elements alone


class FakeSet(FakeContainer):
    __slots__ = ()
    TYPE_NAME = b"set"


class FakeZset(FakeContainer):
    __slots__ = ()
    TYPE_NAME = b"zset"


FAKES = {cls.TYPE_NAME: cls for cls in (FakeHash, FakeList, FakeSet, FakeZset)}


def test_every_container_kind_round_trips_in_order(monkeypatch):
    monkeypatch.setattr(snapshot, "container_class", FAKES.__getitem__)
    db = Keyspace()
    db.set(b"s", b"string first")
    db.set(b"h", FakeHash([(b"f1", b"v1"), (b"f2", b""), (b"", b"v3")]))
    db.set(b"l", FakeList([b"c", b"a", b"b", b"a"]))
    db.set(b"set", FakeSet([b"z", b"y", b"x"]))  # internal order, not sorted
    db.set(b"z", FakeZset([(b"m1", -1.5), (b"m2", 0.0), (b"m3", float("inf"))]))
    db.set(b"raw", bytearray(b"r"))
    db.set_expire(b"set", 99)
    db.set_expire(b"raw", 100)
    restored = load(dump(db))
    assert state(restored) == state(db)
    assert list(restored.data) == [b"s", b"h", b"l", b"set", b"z", b"raw"]
    assert [type(value) for value in restored.data.values()][1:5] == list(FAKES.values())


def test_nan_scores_are_refused(monkeypatch):
    monkeypatch.setattr(snapshot, "container_class", FAKES.__getitem__)
    body = _body(b"\x05", [b"z", b"m"], counts=[1], scores=[float("nan")])
    with pytest.raises(SnapshotError, match="NaN"):
        load(reframe(body))


def test_a_container_running_past_the_pieces_is_refused(monkeypatch):
    monkeypatch.setattr(snapshot, "container_class", FAKES.__getitem__)
    body = _body(b"\x03", [b"l", b"a"], counts=[5])
    with pytest.raises(SnapshotError, match="pieces end inside FakeList key #0"):
        load(reframe(body))


def test_load_into_replaces_everything():
    db = Keyspace()
    db.set(b"stale", b"x")
    db.set_expire(b"stale", 5)
    load_into(db, dump(sample_db()))
    assert b"stale" not in db.data
    assert state(db) == state(sample_db())


def test_a_container_refusing_its_items_is_a_snapshot_error(monkeypatch):
    class Picky(FakeList):
        __slots__ = ()

        @classmethod
        def from_snapshot_items(
            cls, config: EngineConfig, items: Iterable[Any], encoding: bytes | None = None
        ) -> Picky:
            raise ValueError("duplicate member b'a'")

    monkeypatch.setattr(snapshot, "container_class", {b"list": Picky}.__getitem__)
    body = _body(b"\x03", [b"l", b"a", b"a"], counts=[2])
    with pytest.raises(SnapshotError, match=r"Picky key #0 is invalid: duplicate member"):
        load(reframe(body))


# ---------------------------------------------------------------------- real containers

CONTAINER_COMMANDS = ("hset", "rpush", "sadd", "zadd", "spop", "smembers", "object|encoding")


def containers_implemented() -> bool:
    return all(name in IMPLEMENTATIONS for name in CONTAINER_COMMANDS)


def test_container_commands_exist_for_the_tests_below():
    missing = [name for name in CONTAINER_COMMANDS if name not in IMPLEMENTATIONS]
    assert missing == [], "the container round-trip tests below cannot run without these"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs, st.integers(0, 2**32))
def test_any_key_space_round_trips_byte_for_byte(program, seed):
    engine = Engine()
    rng = random.Random(seed)
    now = 1_000_000
    for args, elapsed in program:
        now += elapsed
        engine.execute(args, now, rng)
    blob = engine.snapshot()
    restored = Engine()
    restored.restore(blob)
    assert state(restored.db) == state(engine.db)
    assert restored.snapshot() == blob
    restored.db.now_ms = engine.db.now_ms
    for key in engine.db.data:
        assert digest(restored.db, key) == digest(engine.db, key)


def test_containers_answer_the_same_after_a_restore():
    assert containers_implemented()
    source = Engine()
    rng = random.Random(11)
    commands = [
        [b"HSET", b"session", b"user", b"1", b"cart", b"x" * 100],
        [b"RPUSH", b"queue", b"a", b"b", b"c", b"a"],
        [b"SADD", b"members", *[b"m%d" % index for index in range(40)], b"12"],
        [b"SADD", b"ints", *[b"%d" % index for index in range(0, 60, 3)]],
        [b"ZADD", b"board", b"3", b"carol", b"1", b"alice", b"2", b"bob", b"-inf", b"low"],
        [b"PEXPIRE", b"queue", b"60000"],
    ]
    for args in commands:
        source.execute(args, 1000, rng)
    target = Engine()
    target.restore(source.snapshot())
    reads = [
        [b"HGETALL", b"session"],
        [b"LRANGE", b"queue", b"0", b"-1"],
        [b"SMEMBERS", b"members"],
        [b"SMEMBERS", b"ints"],
        [b"ZRANGE", b"board", b"0", b"-1", b"WITHSCORES"],
        [b"PTTL", b"queue"],
        *[[b"OBJECT", b"ENCODING", name] for name in source.db.data],
    ]
    for args in reads:
        assert target.execute(args, 2000, rng) == source.execute(args, 2000, rng), args
    # Replicas replay SPOP from the set's order: the same seed must pop the same members.
    for key in (b"members", b"ints"):
        pops = [
            engine.execute([b"SPOP", key, b"5"], 2000, random.Random(99))
            for engine in (source, target)
        ]
        assert pops[0] == pops[1]
    assert target.db.used_memory == source.db.used_memory
