"""Set commands: error texts, edge cases, encodings, RESP3 shapes, SSCAN against Redis,
determinism of SPOP across replicas and snapshots, memory accounting."""

from __future__ import annotations

import random

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.engine.set_value import SetValue, is_intset_member
from proto import resp
from proto.commands import TABLE
from proto.resp import Error, SetReply
from tests.differential.harness import RawRedis

NOW = 1_700_000_000_000
WRONGTYPE = Error(b"WRONGTYPE Operation against a key holding the wrong kind of value")


class Node:
    """An engine driven by hand, with its own seeded generator."""

    def __init__(self, seed: int = 7) -> None:
        self.engine = Engine()
        self.rng = random.Random(seed)

    def __call__(self, *args: bytes | str | int) -> object:
        return self.engine.execute(_args(args), NOW, self.rng)

    def value(self, key: bytes) -> SetValue:
        value = self.engine.db.data[key]
        assert isinstance(value, SetValue)
        return value


def _args(args: tuple) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


@pytest.fixture
def node() -> Node:
    return Node()


def error(text: str) -> Error:
    return Error(text.encode())


# ---------------------------------------------------------------------- replies and errors


def test_basic_membership(node):
    assert node("SADD", "s", "a", "b", "a") == 2
    assert node("SADD", "s", "b") == 0
    assert node("SCARD", "s") == 2
    assert node("SISMEMBER", "s", "a") == 1
    assert node("SMISMEMBER", "s", "a", "z") == [1, 0]
    assert node("SMISMEMBER", "nokey", "a") == [0]
    assert sorted(node("SMEMBERS", "s")) == [b"a", b"b"]
    assert node("SREM", "s", "a", "z") == 1
    assert node("SREM", "s", "b") == 1
    assert b"s" not in node.engine.db.data  # the last member took the key with it


def test_wrongtype_everywhere(node):
    node("SET", "str", "x")
    for args in (
        ["SADD", "str", "a"],
        ["SREM", "str", "a"],
        ["SCARD", "str"],
        ["SMEMBERS", "str"],
        ["SPOP", "str"],
        ["SPOP", "str", "0"],
        ["SRANDMEMBER", "str", "0"],
        ["SMISMEMBER", "str", "a"],
        ["SSCAN", "str", "0"],
    ):
        assert node(*args) == WRONGTYPE, args


def test_smove_checks_in_redis_order(node):
    node("SET", "str", "x")
    node("SADD", "src", "a", "b")
    # A missing source answers 0 before the destination's type is looked at.
    assert node("SMOVE", "nokey", "str", "a") == 0
    assert node("SMOVE", "src", "str", "a") == WRONGTYPE
    assert node("SMOVE", "str", "src", "a") == WRONGTYPE
    assert node("SMOVE", "src", "src", "a") == 1
    assert node("SMOVE", "src", "src", "z") == 0
    assert node("SMOVE", "src", "dst", "z") == 0
    assert node("SMOVE", "src", "dst", "a") == 1
    node("SADD", "dst", "b")
    assert node("SMOVE", "src", "dst", "b") == 1  # already in dst: still 1
    assert b"src" not in node.engine.db.data
    assert sorted(node("SMEMBERS", "dst")) == [b"a", b"b"]


def test_count_errors(node):
    node("SADD", "s", "a")
    must_be_positive = error("ERR value is out of range, must be positive")
    assert node("SPOP", "s", "-1") == must_be_positive
    assert node("SPOP", "s", "abc") == must_be_positive  # Redis's odd text for a non-number
    assert node("SPOP", "s", "-0") == must_be_positive
    assert node("SPOP", "s", "1", "2") == error("ERR syntax error")
    assert node("SRANDMEMBER", "s", "x") == error("ERR value is not an integer or out of range")
    assert node("SRANDMEMBER", "s", "-9223372036854775808") == error(
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    )
    assert node("SRANDMEMBER", "s", "1", "2") == error("ERR syntax error")


def test_sintercard_errors(node):
    numkeys = error("ERR numkeys should be greater than 0")
    assert node("SINTERCARD", "0", "a") == numkeys
    assert node("SINTERCARD", "x", "a") == numkeys
    assert node("SINTERCARD", "-0", "a") == numkeys
    assert node("SINTERCARD", "2", "a") == error(
        "ERR Number of keys can't be greater than number of args"
    )
    assert node("SINTERCARD", "1", "a", "LIMIT", "-1") == error("ERR LIMIT can't be negative")
    assert node("SINTERCARD", "1", "a", "LIMIT", "x") == error("ERR LIMIT can't be negative")
    assert node("SINTERCARD", "1", "a", "LIMIT") == error("ERR syntax error")
    assert node("SINTERCARD", "1", "a", "FOO", "1") == error("ERR syntax error")


def test_algebra(node):
    node("SADD", "a", "1", "2", "3", "x")
    node("SADD", "b", "2", "3", "4")
    node("SADD", "c", "3", "x")
    assert sorted(node("SINTER", "a", "b")) == [b"2", b"3"]
    assert node("SINTER", "a", "nokey") == SetReply([])
    assert sorted(node("SUNION", "a", "b", "nokey")) == [b"1", b"2", b"3", b"4", b"x"]
    assert sorted(node("SDIFF", "a", "b")) == [b"1", b"x"]
    assert node("SDIFF", "a", "a") == SetReply([])
    assert node("SDIFF", "nokey", "a") == SetReply([])
    assert node("SINTERCARD", "2", "a", "b") == 2
    assert node("SINTERCARD", "3", "a", "b", "c") == 1
    assert node("SINTERCARD", "2", "a", "b", "LIMIT", "1") == 1
    assert node("SINTERCARD", "2", "a", "b", "LIMIT", "0") == 2  # 0 means no limit
    node("SET", "str", "v")
    # WRONGTYPE even after a missing key (Redis looks every key up first).
    assert node("SINTER", "nokey", "str") == WRONGTYPE
    assert node("SUNION", "a", "str") == WRONGTYPE


def test_store_replaces_or_deletes_destination(node):
    node("SADD", "a", "1", "2")
    node("SET", "dst", "old")
    node("PEXPIRE", "dst", "100000")
    assert node("SUNIONSTORE", "dst", "a") == 2
    assert node("TYPE", "dst") == resp.Simple(b"set")
    assert node("PTTL", "dst") == -1  # the destination is a new key
    assert node("SINTERSTORE", "dst", "a", "nokey") == 0
    assert b"dst" not in node.engine.db.data
    node("SET", "dst", "old")
    assert node("SDIFFSTORE", "dst", "a", "a") == 0
    assert b"dst" not in node.engine.db.data


def test_spop_and_srandmember_edge_cases(node):
    assert node("SPOP", "nokey") is None
    assert node("SPOP", "nokey", "3") == SetReply([])
    assert node("SRANDMEMBER", "nokey") is None
    assert node("SRANDMEMBER", "nokey", "3") == []
    node("SADD", "s", "a", "b", "c")
    assert node("SPOP", "s", "0") == SetReply([])
    assert node("SRANDMEMBER", "s", "0") == []
    picks = node("SRANDMEMBER", "s", "-10")
    assert len(picks) == 10 and set(picks) <= {b"a", b"b", b"c"}
    assert sorted(node("SRANDMEMBER", "s", "10")) == [b"a", b"b", b"c"]
    two = node("SRANDMEMBER", "s", "2")
    assert len(set(two)) == 2
    popped = node("SPOP", "s", "10")
    assert sorted(popped) == [b"a", b"b", b"c"]
    assert b"s" not in node.engine.db.data


def test_spop_keeps_the_ttl(node):
    node("SADD", "s", *[str(n) for n in range(20)])
    node("PEXPIRE", "s", "100000")
    node("SPOP", "s", "2")  # pops members one by one
    assert node("PTTL", "s") > 0
    node("SPOP", "s", "17")  # rebuilds the set from the member that stays
    assert node("SCARD", "s") == 1
    assert node("PTTL", "s") > 0


def test_resp3_shapes():
    node = Node()
    node("SADD", "s", "a", "b")
    assert resp.encode(node("SMEMBERS", "s"), resp3=True).startswith(b"~2\r\n")
    assert resp.encode(node("SINTER", "s", "s"), resp3=True).startswith(b"~2\r\n")
    assert resp.encode(node("SPOP", "nokey", "1"), resp3=True) == b"~0\r\n"
    assert resp.encode(node("SRANDMEMBER", "s", "2"), resp3=True).startswith(b"*2\r\n")
    assert resp.encode(node("SPOP", "s", "1"), resp3=True).startswith(b"~1\r\n")


def test_table_entries():
    assert TABLE["sintercard"].key_positions([b"sintercard", b"2", b"a", b"b", b"LIMIT", b"1"]) == [
        2,
        3,
    ]
    assert TABLE["smove"].key_positions([b"smove", b"a", b"b", b"m"]) == [1, 2]
    assert TABLE["sinterstore"].key_positions([b"sinterstore", b"d", b"a", b"b"]) == [1, 2, 3]
    assert TABLE["spop"].is_write
    assert not TABLE["srandmember"].is_write


# ---------------------------------------------------------------------- encodings


def test_intset_rules():
    assert is_intset_member(b"0")
    assert is_intset_member(b"-9223372036854775808")
    for text in (b"-0", b"01", b"+1", b" 1", b"1.0", b"9223372036854775808", b"", b"a"):
        assert not is_intset_member(text), text


def test_encoding_conversions(node):
    node("SADD", "s", *[str(n) for n in range(512)])
    assert node.value(b"s").encoding() == b"intset"
    node("SADD", "s", "512")
    assert node.value(b"s").encoding() == b"hashtable"
    node("SREM", "s", *[str(n) for n in range(100, 513)])
    assert node.value(b"s").encoding() == b"hashtable"  # never converted back
    node("SADD", "t", "1", "a")
    node("SREM", "t", "a")
    assert node.value(b"t").encoding() == b"hashtable"
    # A stored result is encoded afresh, as SMOVE's new destination is.
    node("SUNIONSTORE", "u", "t")
    assert node.value(b"u").encoding() == b"intset"
    node("SMOVE", "t", "v", "1")
    assert node.value(b"v").encoding() == b"intset"
    node("SADD", "w", "-0")
    assert node.value(b"w").encoding() == b"hashtable"


def test_encodings_match_redis(redis_port):
    """OBJECT ENCODING after the same commands on both sides (sizes around the limits)."""
    redis = RawRedis(redis_port)
    node = Node()
    script = [
        ["SADD", "a", *[str(n) for n in range(512)]],
        ["SADD", "b", *[str(n) for n in range(513)]],
        ["SADD", "c", "1", "2", "x"],
        ["SREM", "c", "x"],
        ["SADD", "d", "01"],
        ["SUNIONSTORE", "e", "c"],
        ["SINTERSTORE", "f", "b", "a"],
        ["SDIFFSTORE", "g", "b", "a"],
        ["SMOVE", "c", "h", "1"],
    ]
    try:
        redis.call([b"FLUSHALL"])
        for args in script:
            assert node(*args) == redis.call(_args(tuple(args)))
        for key in "abcdefgh":
            expected = redis.call([b"OBJECT", b"ENCODING", key.encode()])
            assert node.value(key.encode()).encoding() == expected, key
    finally:
        redis.call([b"FLUSHALL"])
        redis.close()


def test_spop_rebuild_encodes_afresh():
    """Popping most of a set rebuilds it from the kept members (Redis's SPOP case 3)."""
    node = Node(seed=3)
    node("SADD", "s", "x", *[str(n) for n in range(10)])
    node("SPOP", "s", "10")
    [kept] = node.value(b"s").members()
    expected = b"intset" if kept != b"x" else b"hashtable"
    assert node.value(b"s").encoding() == expected


# ---------------------------------------------------------------------- SSCAN


def test_sscan_small_set_is_returned_whole(node):
    node("SADD", "s", "1", "2", "3")
    assert node("SSCAN", "s", "12345") == [b"0", [b"1", b"2", b"3"]]
    assert node("SSCAN", "s", "0", "MATCH", "[12]") == [b"0", [b"1", b"2"]]
    assert node("SSCAN", "nokey", "0", "COUNT", "0") == [b"0", []]  # no option parsing
    assert node("SSCAN", "s", "0", "COUNT", "0") == error("ERR syntax error")
    assert node("SSCAN", "s", "x") == error("ERR invalid cursor")


def _full_scan(call, key: bytes, extra: list[bytes]) -> tuple[list[bytes], int]:
    cursor = b"0"
    seen: list[bytes] = []
    calls = 0
    while True:
        cursor, page = call([b"SSCAN", key, cursor, *extra])
        seen.extend(page)
        calls += 1
        if cursor == b"0":
            return seen, calls


@pytest.mark.parametrize("extra", [[], [b"COUNT", b"7"], [b"MATCH", b"m1*", b"COUNT", b"3"]])
def test_sscan_iterates_like_redis(redis_port, extra):
    """Page by page over a hashtable set: every member exactly once, the same ones as
    Redis returns (its pages differ; the union must not)."""
    members = [b"m%d" % n for n in range(300)]
    redis = RawRedis(redis_port)
    node = Node()
    try:
        redis.call([b"DEL", b"big"])
        redis.call([b"SADD", b"big", *members])
        node("SADD", b"big", *members)
        ours, pages = _full_scan(lambda args: node(*args), b"big", extra)
        theirs, _ = _full_scan(redis.call, b"big", extra)
        assert len(ours) == len(set(ours))
        assert sorted(ours) == sorted(set(theirs))
        assert pages > 1
    finally:
        redis.call([b"DEL", b"big"])
        redis.close()


def test_sscan_survives_changes_between_pages(node):
    node("SADD", "s", *[f"m{n}" for n in range(200)])
    cursor, seen = b"0", set()
    for round_number in range(1000):
        cursor, page = node("SSCAN", "s", cursor, "COUNT", "10")
        seen.update(page)
        node("SADD", "s", f"new{round_number}")
        node("SREM", "s", f"new{round_number - 1}")
        if cursor == b"0":
            break
    assert {f"m{n}".encode() for n in range(200)} <= seen


# ---------------------------------------------------------------------- determinism


def _pops(node: Node, rounds: int) -> list:
    return [node("SPOP", "s", str(count)) for count in (1, 3, 2, 7, 1)[:rounds]] + [
        node("SPOP", "s"),
        node("SRANDMEMBER", "s", "-5"),
    ]


def test_spop_is_the_same_on_every_replica():
    first, second = Node(seed=42), Node(seed=42)
    for replica in (first, second):
        replica("SADD", "s", *[f"m{n}" for n in range(40)])
        replica("SREM", "s", "m3", "m17")
    assert _pops(first, 5) == _pops(second, 5)


def test_spop_after_snapshot_restore_matches():
    """A replica restored from a snapshot (another history: the order is all it has)
    draws exactly what the original draws."""
    original = Node(seed=1)
    original("SADD", "s", *[f"m{n}" for n in range(60)])
    original("SREM", "s", *[f"m{n}" for n in range(0, 60, 7)])
    original("SPOP", "s", "5")
    blob = original.engine.snapshot()
    restored = Node(seed=99)
    restored("SADD", "s", *[f"m{n}" for n in reversed(range(60))])  # a different order
    restored.engine.restore(blob)
    restored.rng = random.Random(5)
    original.rng = random.Random(5)
    assert _pops(original, 5) == _pops(restored, 5)
    assert original.value(b"s").members() == restored.value(b"s").members()


def test_snapshot_items_round_trip_keeps_order_and_encoding():
    config = EngineConfig()
    value = SetValue(config, [b"3", b"1", b"2"])
    value.remove(b"3")
    copy = SetValue.from_snapshot_items(config, value.snapshot_items())
    assert copy.members() == value.members() == [b"2", b"1"]
    assert copy.encoding() == b"intset"
    with pytest.raises(ValueError):
        SetValue.from_snapshot_items(config, [b"a", b"a"])
    sticky = SetValue(config, [b"1", b"x"])
    sticky.remove(b"x")
    assert SetValue.from_snapshot_items(config, sticky.snapshot_items()).encoding() == b"intset"
    kept = SetValue.from_snapshot_items(config, sticky.snapshot_items(), sticky.encoding())
    assert kept.encoding() == b"hashtable"
    duplicate = value.copy()
    duplicate.add(b"x")
    assert b"x" not in value and duplicate.encoding() == b"hashtable"
    assert value.encoding() == b"intset"


# ---------------------------------------------------------------------- memory


member = st.sampled_from([b"1", b"22", b"-3", b"a", b"bb", b"x" * 40, b""])
operation = st.one_of(
    st.tuples(st.just("SADD"), st.lists(member, min_size=1, max_size=4)),
    st.tuples(st.just("SREM"), st.lists(member, min_size=1, max_size=4)),
    st.tuples(st.just("SPOP"), st.sampled_from([[], [b"1"], [b"3"], [b"10"]])),
    st.tuples(st.just("SMOVE"), st.tuples(member).map(list)),
    st.tuples(st.just("SUNIONSTORE"), st.just([])),
    st.tuples(st.just("SINTERSTORE"), st.just([])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=30), st.integers(0, 1000))
def test_mem_matches_a_recomputation(operations, seed):
    node = Node(seed=seed)
    keys = [b"a", b"b"]
    for index, (name, extra) in enumerate(operations):
        key, other = keys[index % 2], keys[(index + 1) % 2]
        if name == "SMOVE":
            node(name, key, other, *extra)
        elif name.endswith("STORE"):
            node(name, key, key, other)
        else:
            node(name, key, *extra)
    db = node.engine.db
    for value in db.data.values():
        rebuilt = SetValue.from_snapshot_items(db.config, value.snapshot_items())
        assert value.mem == rebuilt.mem
        assert value.accounted == value.mem
    used = db.used_memory
    db.rebuild_indexes()
    assert db.used_memory == used


def test_reply_bytes_match_redis_resp3(redis_port):
    """Raw RESP3 bytes of deterministic replies, '~' sets included (hiredis alone would
    read a set and an array alike)."""
    node = Node()
    script = [
        ["SADD", "s", "1"],
        ["SMEMBERS", "s"],
        ["SUNION", "s", "nokey"],
        ["SDIFF", "nokey"],
        ["SPOP", "nokey", "2"],
        ["SRANDMEMBER", "s", "5"],
        ["SRANDMEMBER", "nokey"],
        ["SMISMEMBER", "s", "1", "2"],
        ["SSCAN", "s", "0"],
    ]
    with Resp3Socket(redis_port) as redis:
        redis.raw([b"FLUSHALL"])
        for args in script:
            assert resp.encode(node(*args), resp3=True) == redis.raw(_args(tuple(args))), args
        redis.raw([b"FLUSHALL"])


class Resp3Socket:
    """A RESP3 connection that returns each reply's exact bytes."""

    def __init__(self, port: int) -> None:
        self.redis = RawRedis(port)
        self.raw([b"HELLO", b"3"])

    def raw(self, args: list[bytes]) -> bytes:
        sock = self.redis.sock
        sock.sendall(
            b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%s\r\n" % (len(a), a) for a in args])
        )
        reader = hiredis.Reader()
        received = b""
        while True:
            chunk = sock.recv(1 << 16)
            received += chunk
            reader.feed(chunk)
            if reader.gets() is not False:
                return received

    def __enter__(self) -> Resp3Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.redis.close()
