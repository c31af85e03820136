"""Hash commands and the HashValue container: errors, encodings, randomness, HSCAN, memory."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.engine.hash_value import (
    HASH_OVERHEAD,
    PAIR_OVERHEAD,
    HashValue,
)
from node.engine.keyspace import value_size
from node.engine.snapshot import load
from proto import resp
from proto.resp import Error, Map, Pairs
from tests.differential.harness import Differential, RawRedis

NOW = 1_700_000_000_000
WRONGTYPE = Error(b"WRONGTYPE Operation against a key holding the wrong kind of value")


def run(engine: Engine, *args: bytes, seed: int = 0) -> resp.Reply:
    return engine.execute(list(args), NOW, random.Random(seed))


@pytest.fixture
def engine() -> Engine:
    return Engine()


# ---------------------------------------------------------------------- replies and errors


def test_hset_counts_new_fields_and_hmset_says_ok(engine):
    assert run(engine, b"HSET", b"h", b"a", b"1", b"b", b"2") == 2
    assert run(engine, b"HSET", b"h", b"a", b"3", b"c", b"4") == 1
    assert run(engine, b"HMSET", b"h", b"d", b"5") == resp.OK
    assert run(engine, b"HGET", b"h", b"a") == b"3"
    assert run(engine, b"HLEN", b"h") == 4


def test_odd_field_value_lists_are_arity_errors_even_on_a_wrong_type(engine):
    run(engine, b"SET", b"s", b"v")
    assert run(engine, b"HSET", b"s", b"a", b"1", b"b") == Error(
        b"ERR wrong number of arguments for 'hset' command"
    )
    assert run(engine, b"HMSET", b"h", b"a", b"1", b"b") == Error(
        b"ERR wrong number of arguments for 'hmset' command"
    )
    assert run(engine, b"HSET", b"s", b"a", b"1") == WRONGTYPE


@pytest.mark.parametrize(
    "args",
    [
        [b"HGET", b"s", b"f"],
        [b"HMGET", b"s", b"f"],
        [b"HSETNX", b"s", b"f", b"v"],
        [b"HDEL", b"s", b"f"],
        [b"HLEN", b"s"],
        [b"HEXISTS", b"s", b"f"],
        [b"HSTRLEN", b"s", b"f"],
        [b"HGETALL", b"s"],
        [b"HKEYS", b"s"],
        [b"HVALS", b"s"],
        [b"HINCRBY", b"s", b"f", b"1"],
        [b"HINCRBYFLOAT", b"s", b"f", b"1"],
        [b"HRANDFIELD", b"s"],
        [b"HRANDFIELD", b"s", b"2"],
        [b"HSCAN", b"s", b"0"],
    ],
)
def test_every_command_refuses_another_type(engine, args):
    run(engine, b"SET", b"s", b"v")
    assert run(engine, *args) == WRONGTYPE


def test_missing_keys_read_as_empty(engine):
    assert run(engine, b"HGET", b"h", b"f") is None
    assert run(engine, b"HMGET", b"h", b"a", b"b") == [None, None]
    assert run(engine, b"HLEN", b"h") == 0
    assert run(engine, b"HSTRLEN", b"h", b"f") == 0
    assert run(engine, b"HEXISTS", b"h", b"f") == 0
    assert run(engine, b"HDEL", b"h", b"f") == 0
    assert run(engine, b"HKEYS", b"h") == []
    assert run(engine, b"HRANDFIELD", b"h") is None
    assert run(engine, b"HRANDFIELD", b"h", b"3") == []
    reply = run(engine, b"HGETALL", b"h")
    assert type(reply) is Map and reply == []
    assert resp.encode(reply, resp3=True) == b"%0\r\n"
    assert resp.encode(reply) == b"*0\r\n"
    assert run(engine, b"HSCAN", b"h", b"0") == [b"0", []]


def test_hgetall_is_a_map_in_resp3(engine):
    run(engine, b"HSET", b"h", b"a", b"1")
    assert resp.encode(run(engine, b"HGETALL", b"h"), resp3=True) == (
        b"%1\r\n$1\r\na\r\n$1\r\n1\r\n"
    )


def test_the_last_field_deleted_deletes_the_key(engine):
    run(engine, b"HSET", b"h", b"a", b"1", b"b", b"2")
    assert run(engine, b"HDEL", b"h", b"a", b"a", b"zz") == 1
    assert run(engine, b"EXISTS", b"h") == 1
    assert run(engine, b"HDEL", b"h", b"b") == 1
    assert b"h" not in engine.db.data
    assert engine.db.used_memory == 0


def test_hsetnx_only_sets_absent_fields(engine):
    assert run(engine, b"HSETNX", b"h", b"a", b"1") == 1
    assert run(engine, b"HSETNX", b"h", b"a", b"2") == 0
    assert run(engine, b"HGET", b"h", b"a") == b"1"


def test_writes_report_the_key_as_modified_and_reads_do_not(engine):
    run(engine, b"HSET", b"h", b"a", b"1")
    assert engine.changed_keys == [b"h"]
    run(engine, b"HGET", b"h", b"a")
    assert engine.changed_keys == []
    run(engine, b"HSETNX", b"h", b"a", b"2")
    assert engine.changed_keys == []
    run(engine, b"HDEL", b"h", b"nope")
    assert engine.changed_keys == []
    run(engine, b"HINCRBY", b"h", b"n", b"1")
    assert engine.changed_keys == [b"h"]


# ---------------------------------------------------------------------- counters


def test_hincrby_errors_and_overflow(engine):
    run(engine, b"HSET", b"h", b"max", b"9223372036854775807", b"text", b"1.5", b"pad", b"07")
    assert run(engine, b"HINCRBY", b"h", b"max", b"x") == Error(
        b"ERR value is not an integer or out of range"
    )
    assert run(engine, b"HINCRBY", b"h", b"max", b"1") == Error(
        b"ERR increment or decrement would overflow"
    )
    assert run(engine, b"HINCRBY", b"h", b"text", b"1") == Error(
        b"ERR hash value is not an integer"
    )
    assert run(engine, b"HINCRBY", b"h", b"pad", b"1") == Error(b"ERR hash value is not an integer")
    assert run(engine, b"HINCRBY", b"h", b"min", b"-9223372036854775808") == -(2**63)
    assert run(engine, b"HINCRBY", b"h", b"min", b"-1") == Error(
        b"ERR increment or decrement would overflow"
    )
    assert run(engine, b"HINCRBY", b"h", b"max", b"-9223372036854775807") == 0
    assert run(engine, b"HGET", b"h", b"max") == b"0"


@pytest.mark.parametrize(
    ("start", "increment", "expected"),
    [
        (None, b"10.5", b"10.5"),
        (b"10.5", b"0.1", b"10.6"),
        (b"5.0e3", b"2.0e2", b"5200"),
        (b"3", b"-3", b"0"),
        (None, b"-0.0", b"0"),
        (b"1", b"0x10", b"17"),
        (b"9223372036854775807", b"1", b"9223372036854775808"),
        (b"07", b"1", b"8"),
        (None, b"1e-5", b"0.00001"),
    ],
)
def test_hincrbyfloat_formats_like_redis(engine, start, increment, expected):
    if start is not None:
        run(engine, b"HSET", b"h", b"f", start)
    assert run(engine, b"HINCRBYFLOAT", b"h", b"f", increment) == expected
    assert run(engine, b"HGET", b"h", b"f") == expected


def test_hincrbyfloat_errors(engine):
    run(engine, b"HSET", b"h", b"text", b"abc", b"space", b" 1", b"big", b"1e4932")
    assert run(engine, b"HINCRBYFLOAT", b"h", b"f", b"x") == Error(
        b"ERR value is not a valid float"
    )
    assert run(engine, b"HINCRBYFLOAT", b"h", b"f", b"nan") == Error(
        b"ERR value is not a valid float"
    )
    assert run(engine, b"HINCRBYFLOAT", b"h", b"f", b"inf") == Error(
        b"ERR value is NaN or Infinity"
    )
    assert run(engine, b"HINCRBYFLOAT", b"h", b"text", b"1") == Error(
        b"ERR hash value is not a float"
    )
    assert run(engine, b"HINCRBYFLOAT", b"h", b"space", b"1") == Error(
        b"ERR hash value is not a float"
    )
    assert run(engine, b"HINCRBYFLOAT", b"h", b"big", b"1e4932") == Error(
        b"ERR increment would produce NaN or Infinity"
    )
    assert run(engine, b"HEXISTS", b"h", b"f") == 0


def test_a_failed_increment_does_not_create_the_key(engine):
    assert type(run(engine, b"HINCRBY", b"h", b"f", b"x")) is Error
    assert type(run(engine, b"HINCRBYFLOAT", b"h", b"f", b"inf")) is Error
    assert engine.db.data == {}


# ---------------------------------------------------------------------- encodings


def encoding(engine: Engine, key: bytes = b"h") -> bytes:
    return engine.db.data[key].encoding()


def test_listpack_until_more_than_512_fields_then_hashtable_for_good(engine):
    # 512: redis-server 7.0.15's own default (its sample redis.conf says 128).
    for index in range(512):
        run(engine, b"HSET", b"h", b"f%d" % index, b"v")
    assert encoding(engine) == b"listpack"
    run(engine, b"HSET", b"h", b"one-more", b"v")
    assert encoding(engine) == b"hashtable"
    for index in range(500):
        run(engine, b"HDEL", b"h", b"f%d" % index)
    assert encoding(engine) == b"hashtable"


@pytest.mark.parametrize(
    "args",
    [
        [b"HSET", b"h", b"x" * 65, b"v"],
        [b"HSET", b"h", b"f", b"x" * 65],
        [b"HSETNX", b"h", b"new", b"x" * 65],
        [b"HINCRBY", b"h", b"x" * 65, b"1"],
        [b"HINCRBYFLOAT", b"h", b"f", b"1e70"],
    ],
)
def test_a_field_or_value_over_64_bytes_makes_a_hashtable(engine, args):
    run(engine, b"HSET", b"h", b"f", b"1")
    run(engine, *args)
    assert encoding(engine) == b"hashtable"


def test_64_bytes_and_refused_writes_keep_the_listpack(engine):
    run(engine, b"HSET", b"h", b"x" * 64, b"y" * 64)
    assert run(engine, b"HSETNX", b"h", b"x" * 64, b"z" * 65) == 0
    assert encoding(engine) == b"listpack"


def test_thresholds_come_from_the_config():
    engine = Engine(EngineConfig(hash_max_listpack_entries=2, hash_max_listpack_value=3))
    run(engine, b"HSET", b"h", b"a", b"abc", b"b", b"1")
    assert encoding(engine) == b"listpack"
    run(engine, b"HSET", b"h", b"c", b"1")
    assert encoding(engine) == b"hashtable"
    run(engine, b"HSET", b"g", b"a", b"abcd")
    assert encoding(engine, b"g") == b"hashtable"


def test_copy_is_deep_and_keeps_the_encoding():
    config = EngineConfig()
    original = HashValue.from_snapshot_items(config, [(b"a", b"1"), (b"b", b"x" * 70)])
    original.delete(b"b")
    duplicate = original.copy()
    assert duplicate.encoding() == b"hashtable"
    duplicate.set(b"a", b"changed")
    assert original.get(b"a") == b"1"
    assert duplicate.mem == original.mem + len(b"changed") - 1


def test_snapshot_items_round_trip_in_order_and_reencode_like_a_load():
    config = EngineConfig()
    items = [(b"z", b"1"), (b"a", b"2"), (b"m", b"3")]
    value = HashValue.from_snapshot_items(config, items)
    assert value.snapshot_items() == items
    assert value.encoding() == b"listpack"
    big = HashValue.from_snapshot_items(config, [(b"f%d" % i, b"v") for i in range(513)])
    assert big.encoding() == b"hashtable"
    with pytest.raises(ValueError, match="duplicate"):
        HashValue.from_snapshot_items(config, [(b"a", b"1"), (b"a", b"2")])


def test_engine_snapshot_restores_hashes(engine):
    run(engine, b"HSET", b"h", b"b", b"2", b"a", b"1")
    run(engine, b"HSET", b"big", b"f", b"x" * 100)
    restored = load(engine.snapshot(), engine.config)
    assert restored.data[b"h"].snapshot_items() == [(b"b", b"2"), (b"a", b"1")]
    assert restored.data[b"big"].encoding() == b"hashtable"
    assert restored.used_memory == engine.db.used_memory


# ---------------------------------------------------------------------- HRANDFIELD


def test_hrandfield_count_rules(engine):
    fields = [b"f%d" % index for index in range(10)]
    run(engine, b"HSET", b"h", *[part for f in fields for part in (f, f + b"-v")])
    for seed in range(20):
        single = run(engine, b"HRANDFIELD", b"h", seed=seed)
        assert single in fields
        distinct = run(engine, b"HRANDFIELD", b"h", b"4", seed=seed)
        assert len(distinct) == 4 and len(set(distinct)) == 4 and set(distinct) <= set(fields)
        repeated = run(engine, b"HRANDFIELD", b"h", b"-25", seed=seed)
        assert len(repeated) == 25 and set(repeated) <= set(fields)
    assert sorted(run(engine, b"HRANDFIELD", b"h", b"10")) == fields
    assert sorted(run(engine, b"HRANDFIELD", b"h", b"1000")) == fields
    assert run(engine, b"HRANDFIELD", b"h", b"0") == []
    assert run(engine, b"HRANDFIELD", b"h", b"0", b"WITHVALUES") == []


def test_hrandfield_withvalues_pairs_each_field_with_its_value(engine):
    run(engine, b"HSET", b"h", b"a", b"1", b"b", b"2", b"c", b"3")
    values = {b"a": b"1", b"b": b"2", b"c": b"3"}
    for count in (b"2", b"-7", b"3"):
        reply = run(engine, b"HRANDFIELD", b"h", count, b"withvalues")
        assert type(reply) is Pairs
        assert len(reply) == 2 * abs(int(count))
        for index in range(0, len(reply), 2):
            assert values[reply[index]] == reply[index + 1]
    reply = Pairs([b"a", b"1", b"b", b"2"])
    assert resp.encode(reply, resp3=True) == (
        b"*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    )
    assert resp.encode(reply) == b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"


def test_hrandfield_argument_errors(engine):
    run(engine, b"HSET", b"h", b"a", b"1")
    assert run(engine, b"HRANDFIELD", b"h", b"x") == Error(
        b"ERR value is not an integer or out of range"
    )
    assert run(engine, b"HRANDFIELD", b"h", b"-9223372036854775808") == Error(
        b"ERR value is out of range, value must between -9223372036854775807 and "
        b"9223372036854775807"
    )
    for count in (b"4611686018427387904", b"-4611686018427387904"):
        assert run(engine, b"HRANDFIELD", b"h", count, b"WITHVALUES") == Error(
            b"ERR value is out of range"
        )
    assert run(engine, b"HRANDFIELD", b"h", b"4611686018427387903", b"WITHVALUES") == [
        b"a",
        b"1",
    ]
    assert run(engine, b"HRANDFIELD", b"h", b"1", b"WITHVALUE") == Error(b"ERR syntax error")
    assert run(engine, b"HRANDFIELD", b"h", b"1", b"WITHVALUES", b"x") == Error(b"ERR syntax error")


def test_hrandfield_draws_only_from_the_given_rng():
    """Replicas apply the same entries with the same seed: identical draws."""
    replies = []
    for _ in range(2):
        engine = Engine()
        rng = random.Random(42)
        run(engine, b"HSET", b"h", *[b"f%d" % (i // 2) for i in range(400)])
        replies.append(
            [
                engine.execute([b"HRANDFIELD", b"h", *extra], NOW, rng)
                for extra in ([], [b"5"], [b"-5", b"WITHVALUES"], [b"150"])
            ]
        )
    assert replies[0] == replies[1]


def test_a_restored_snapshot_draws_the_same_fields(engine):
    run(engine, b"HSET", b"h", *[b"f%d" % (i // 2) for i in range(60)])
    restored = Engine()
    restored.restore(engine.snapshot())
    for seed in range(5):
        args = [b"HRANDFIELD", b"h", b"-4"]
        assert run(engine, *args, seed=seed) == run(restored, *args, seed=seed)


# ---------------------------------------------------------------------- HSCAN


def scan_all(engine: Engine, key: bytes, *options: bytes) -> tuple[dict[bytes, bytes], int]:
    """Iterate HSCAN to the end; the pairs seen and the number of calls."""
    seen: dict[bytes, bytes] = {}
    cursor = b"0"
    calls = 0
    while True:
        cursor, flat = run(engine, b"HSCAN", key, cursor, *options)
        calls += 1
        for index in range(0, len(flat), 2):
            assert flat[index] not in seen, "a field came back twice"
            seen[flat[index]] = flat[index + 1]
        if cursor == b"0":
            return seen, calls


def test_hscan_returns_a_listpack_whole_whatever_the_cursor(engine):
    run(engine, b"HSET", b"h", b"a", b"1", b"b", b"2", b"c", b"3")
    assert run(engine, b"HSCAN", b"h", b"12345", b"COUNT", b"1") == [
        b"0",
        [b"a", b"1", b"b", b"2", b"c", b"3"],
    ]
    assert run(engine, b"HSCAN", b"h", b"0", b"MATCH", b"[ab]") == [
        b"0",
        [b"a", b"1", b"b", b"2"],
    ]


def test_hscan_pages_through_a_hashtable(engine):
    expected = {b"f%d" % index: b"v%d" % index for index in range(600)}
    run(engine, b"HSET", b"h", *[part for item in expected.items() for part in item])
    assert encoding(engine) == b"hashtable"
    seen, calls = scan_all(engine, b"h", b"COUNT", b"7")
    assert seen == expected
    assert calls > 10
    matched, _ = scan_all(engine, b"h", b"MATCH", b"f1*", b"COUNT", b"50")
    assert matched == {field: value for field, value in expected.items() if field[1:2] == b"1"}


def test_hscan_survives_changes_between_pages(engine):
    run(engine, b"HSET", b"h", *[b"f%d" % (i // 2) for i in range(1200)])
    cursor, first = run(engine, b"HSCAN", b"h", b"0", b"COUNT", b"20")
    seen = set(first[0::2])
    run(engine, b"HDEL", b"h", *[field for field in first[0::2]])
    run(engine, b"HSET", b"h", b"added", b"1")
    while cursor != b"0":
        cursor, page = run(engine, b"HSCAN", b"h", cursor, b"COUNT", b"20")
        seen.update(page[0::2])
    kept = {b"f%d" % i for i in range(300)} - set(first[0::2])
    assert kept <= seen


def test_hscan_argument_errors(engine):
    run(engine, b"HSET", b"h", b"a", b"1")
    assert run(engine, b"HSCAN", b"h", b"x") == Error(b"ERR invalid cursor")
    assert run(engine, b"HSCAN", b"h", b"0", b"COUNT", b"0") == Error(b"ERR syntax error")
    assert run(engine, b"HSCAN", b"h", b"0", b"MATCH") == Error(b"ERR syntax error")
    # Options are read only once the key is known to exist, as in Redis.
    assert run(engine, b"HSCAN", b"missing", b"0", b"COUNT", b"0") == [b"0", []]


@pytest.mark.parametrize(
    "options",
    [[], [b"COUNT", b"1"], [b"COUNT", b"13"], [b"MATCH", b"*7*", b"COUNT", b"5"]],
)
def test_complete_hscan_iterations_match_redis(redis_port, options):
    redis = RawRedis(redis_port)
    engine = Engine()
    try:
        redis.call([b"DEL", b"hscan-test"])
        pairs = [part for index in range(300) for part in (b"f%d" % index, b"v%d" % index)]
        for target in (lambda args: redis.call(args), lambda args: run(engine, *args)):
            target([b"HSET", b"hscan-test", *pairs])
            target([b"HSET", b"hscan-test", b"long", b"x" * 100])
        results = []
        for call in (redis.call, lambda args: run(engine, *args)):
            seen: dict[bytes, bytes] = {}
            cursor = b"0"
            while True:
                cursor, flat = call([b"HSCAN", b"hscan-test", cursor, *options])
                seen.update(zip(flat[0::2], flat[1::2]))
                if cursor == b"0":
                    break
            results.append(seen)
        assert results[0] == results[1]
        assert len(results[0]) > 0
    finally:
        redis.call([b"DEL", b"hscan-test"])
        redis.close()


def test_hrandfield_on_a_hashtable_has_redis_shapes(redis_port):
    diff = Differential(redis_port)
    try:
        diff.check([b"HSET", b"h", *[b"f%d" % (i // 2) for i in range(400)]])
        for count in (b"5", b"-5", b"199", b"200", b"500", b"-500"):
            for extra in ([], [b"WITHVALUES"]):
                engine_reply, redis_reply = diff.both([b"HRANDFIELD", b"h", count, *extra])
                assert len(engine_reply) == len(redis_reply)
    finally:
        diff.close()


# ---------------------------------------------------------------------- memory accounting


def recomputed_mem(value: HashValue) -> int:
    """From the data alone: two hashes with the same pairs have the same mem, whatever
    their history (encoding conversions are sticky; a snapshot reload re-derives them)."""
    items = value.snapshot_items()
    return HASH_OVERHEAD + sum(len(f) + len(v) for f, v in items) + PAIR_OVERHEAD * len(items)


name = st.sampled_from([b"a", b"b", b"c", b"", b"n" * 70])
text = st.sampled_from([b"", b"1", b"22", b"-3", b"4.5", b"v" * 80])
operation = st.one_of(
    st.tuples(st.just(b"HSET"), name, text),
    st.tuples(st.just(b"HSETNX"), name, text),
    st.tuples(st.just(b"HDEL"), name),
    st.tuples(st.just(b"HINCRBY"), name, st.sampled_from([b"1", b"-100", b"9223372036854775807"])),
    st.tuples(st.just(b"HINCRBYFLOAT"), name, st.sampled_from([b"0.5", b"-1e20", b"3"])),
    st.tuples(st.just(b"HMSET"), name, text, name, text),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([b"h1", b"h2"]), operation), max_size=60))
def test_mem_equals_a_recomputation_after_any_operations(program):
    engine = Engine(EngineConfig(hash_max_listpack_entries=3))
    for key, (command, *rest) in program:
        engine.execute([command, key, *rest], NOW, random.Random(0))
        for value in engine.db.data.values():
            assert value.mem == recomputed_mem(value)
            assert value.accounted == value.mem
        total = sum(value_size(key_, value) for key_, value in engine.db.data.items())
        assert engine.db.used_memory == total
