"""List commands and the ListValue container: edge cases, null forms, blocking, memory."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine.blocking import WouldBlock
from node.engine.engine import Engine
from node.engine.keyspace import value_size
from node.engine.list_value import ELEMENT_OVERHEAD, LIST_OVERHEAD, ListValue
from node.engine.snapshot import load
from proto import resp
from proto.resp import NULL_ARRAY, Error
from tests.differential.cases_lists import CASES as LIST_CASES
from tests.differential.harness import Differential

NOW = 1_700_000_000_000
WRONGTYPE = Error(b"WRONGTYPE Operation against a key holding the wrong kind of value")
SYNTAX = Error(b"ERR syntax error")


def run(engine: Engine, *args: bytes) -> resp.Reply:
    return engine.execute(list(args), NOW, random.Random(0))


def contents(engine: Engine, key: bytes = b"l") -> list[bytes]:
    return run(engine, b"LRANGE", key, b"0", b"-1")


@pytest.fixture
def engine() -> Engine:
    engine = Engine()
    run(engine, b"RPUSH", b"l", b"a", b"b", b"c", b"a", b"b", b"a")
    run(engine, b"SET", b"s", b"v")
    return engine


# ---------------------------------------------------------------------- push and read


def test_lpush_pushes_each_element_at_the_head_in_turn():
    engine = Engine()
    assert run(engine, b"LPUSH", b"n", b"a", b"b", b"c") == 3
    assert contents(engine, b"n") == [b"c", b"b", b"a"]
    assert run(engine, b"RPUSHX", b"n", b"d", b"e") == 5
    assert run(engine, b"LPUSHX", b"missing", b"a") == 0
    assert b"missing" not in engine.db.data
    assert engine.db.data[b"n"].encoding() == b"quicklist"


@pytest.mark.parametrize(
    ("start", "stop", "expected"),
    [
        (b"0", b"-1", [b"a", b"b", b"c", b"a", b"b", b"a"]),
        (b"-2", b"-1", [b"b", b"a"]),
        (b"-100", b"1", [b"a", b"b"]),
        (b"4", b"100", [b"b", b"a"]),
        (b"3", b"1", []),
        (b"6", b"10", []),
        (b"-1", b"-2", []),
        (b"5", b"5", [b"a"]),
    ],
)
def test_lrange_indexes(engine, start, stop, expected):
    assert run(engine, b"LRANGE", b"l", start, stop) == expected


def test_lrange_walks_from_the_nearer_end_and_agrees_with_a_slice():
    value = ListValue(b"%d" % index for index in range(1000))
    items = value.snapshot_items()
    for start, stop in [(0, 5), (990, 999), (400, 600), (0, 999), (998, 998)]:
        assert value.range(start, stop) == items[start : stop + 1]


def test_lindex_and_lset_count_negative_indexes_from_the_tail(engine):
    assert run(engine, b"LINDEX", b"l", b"-1") == b"a"
    assert run(engine, b"LINDEX", b"l", b"-6") == b"a"
    assert run(engine, b"LINDEX", b"l", b"-7") is None
    assert run(engine, b"LINDEX", b"l", b"6") is None
    assert run(engine, b"LSET", b"l", b"-2", b"z") == resp.OK
    assert contents(engine)[-2] == b"z"
    assert run(engine, b"LSET", b"l", b"6", b"z") == Error(b"ERR index out of range")
    assert run(engine, b"LSET", b"l", b"-7", b"z") == Error(b"ERR index out of range")
    assert run(engine, b"LSET", b"missing", b"0", b"z") == Error(b"ERR no such key")


def test_lindex_looks_the_key_up_before_parsing_the_index(engine):
    assert run(engine, b"LINDEX", b"missing", b"x") is None
    assert run(engine, b"LINDEX", b"s", b"x") == WRONGTYPE
    assert run(engine, b"LINDEX", b"l", b"x") == Error(
        b"ERR value is not an integer or out of range"
    )


def test_lrange_and_ltrim_parse_indexes_before_the_key(engine):
    not_integer = Error(b"ERR value is not an integer or out of range")
    assert run(engine, b"LRANGE", b"s", b"x", b"1") == not_integer
    assert run(engine, b"LTRIM", b"missing", b"0", b"x") == not_integer
    assert run(engine, b"LTRIM", b"missing", b"0", b"1") == resp.OK


# ---------------------------------------------------------------------- pops and null forms


def test_pop_counts(engine):
    assert run(engine, b"LPOP", b"l", b"0") == []
    assert run(engine, b"LPOP", b"l", b"2") == [b"a", b"b"]
    assert run(engine, b"RPOP", b"l", b"2") == [b"a", b"b"]
    assert run(engine, b"RPOP", b"l") == b"a"
    assert run(engine, b"LPOP", b"l", b"100") == [b"c"]
    assert b"l" not in engine.db.data
    positive = Error(b"ERR value is out of range, must be positive")
    assert run(engine, b"LPOP", b"l", b"-1") == positive
    assert run(engine, b"LPOP", b"l", b"x") == positive
    assert run(engine, b"LPOP", b"l", b"1", b"2") == Error(
        b"ERR wrong number of arguments for 'lpop' command"
    )
    assert run(engine, b"LPOP", b"s", b"0") == WRONGTYPE


@pytest.mark.parametrize(
    ("args", "resp2", "resp3"),
    [
        ([b"LPOP", b"missing"], b"$-1\r\n", b"_\r\n"),
        ([b"RPOP", b"missing", b"0"], b"*-1\r\n", b"_\r\n"),
        ([b"LPOP", b"missing", b"3"], b"*-1\r\n", b"_\r\n"),
        ([b"LMPOP", b"2", b"missing", b"other", b"LEFT"], b"*-1\r\n", b"_\r\n"),
        ([b"LMOVE", b"missing", b"l", b"LEFT", b"LEFT"], b"$-1\r\n", b"_\r\n"),
        ([b"LPOS", b"l", b"zz"], b"$-1\r\n", b"_\r\n"),
        ([b"LPOS", b"l", b"zz", b"COUNT", b"0"], b"*0\r\n", b"*0\r\n"),
        ([b"LPOS", b"missing", b"a", b"COUNT", b"1"], b"*0\r\n", b"*0\r\n"),
        ([b"LPOP", b"l", b"0"], b"*0\r\n", b"*0\r\n"),
    ],
)
def test_null_and_empty_forms_as_redis_7_0(engine, args, resp2, resp3):
    reply = run(engine, *args)
    assert resp.encode(reply) == resp2
    assert resp.encode(reply, resp3=True) == resp3


def test_lmpop_pops_from_the_first_non_empty_list(engine):
    assert run(engine, b"LMPOP", b"3", b"missing", b"l", b"s", b"RIGHT", b"COUNT", b"2") == [
        b"l",
        [b"a", b"b"],
    ]
    assert run(engine, b"LMPOP", b"2", b"s", b"l", b"LEFT") == WRONGTYPE
    assert run(engine, b"LMPOP", b"1", b"missing", b"LEFT") is NULL_ARRAY


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([b"LMPOP", b"0", b"l", b"LEFT"], b"ERR numkeys should be greater than 0"),
        ([b"LMPOP", b"x", b"l", b"LEFT"], b"ERR numkeys should be greater than 0"),
        ([b"LMPOP", b"2", b"l", b"LEFT"], b"ERR syntax error"),
        ([b"LMPOP", b"1", b"l", b"UP"], b"ERR syntax error"),
        ([b"LMPOP", b"1", b"l", b"LEFT", b"COUNT", b"0"], b"ERR count should be greater than 0"),
        ([b"LMPOP", b"1", b"l", b"LEFT", b"COUNT", b"x"], b"ERR count should be greater than 0"),
        ([b"LMPOP", b"1", b"l", b"LEFT", b"COUNT", b"1", b"COUNT", b"1"], b"ERR syntax error"),
        ([b"LMPOP", b"1", b"l", b"LEFT", b"COUNT"], b"ERR syntax error"),
    ],
)
def test_lmpop_argument_errors(engine, args, error):
    assert run(engine, *args) == Error(error)
    assert len(contents(engine)) == 6


# ---------------------------------------------------------------------- LPOS


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], 0),
        ([b"RANK", b"2"], 3),
        ([b"RANK", b"-1"], 5),
        ([b"RANK", b"-3"], 0),
        ([b"RANK", b"4"], None),
        ([b"COUNT", b"0"], [0, 3, 5]),
        ([b"COUNT", b"2"], [0, 3]),
        ([b"RANK", b"-1", b"COUNT", b"0"], [5, 3, 0]),
        ([b"RANK", b"2", b"COUNT", b"0", b"MAXLEN", b"5"], [3]),
        ([b"MAXLEN", b"1", b"COUNT", b"0"], [0]),
        ([b"RANK", b"-2", b"MAXLEN", b"2"], None),
        ([b"RANK", b"1", b"RANK", b"2"], 3),
        # C arithmetic: -LLONG_MIN stays negative, every match qualifies and COUNT never stops.
        ([b"RANK", b"-9223372036854775808"], 5),
        ([b"RANK", b"-9223372036854775808", b"COUNT", b"1"], [5, 3, 0]),
        ([b"RANK", b"9223372036854775807", b"COUNT", b"1"], []),
    ],
)
def test_lpos(engine, options, expected):
    assert run(engine, b"LPOS", b"l", b"a", *options) == expected


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (
            [b"RANK", b"0"],
            b"ERR RANK can't be zero: use 1 to start from the first match, 2 from the second "
            b"... or use negative to start from the end of the list",
        ),
        ([b"RANK", b"x"], b"ERR value is not an integer or out of range"),
        ([b"COUNT", b"-1"], b"ERR COUNT can't be negative"),
        ([b"COUNT", b"x"], b"ERR COUNT can't be negative"),
        ([b"MAXLEN", b"-1"], b"ERR MAXLEN can't be negative"),
        ([b"RANK"], b"ERR syntax error"),
        ([b"FOO", b"1"], b"ERR syntax error"),
    ],
)
def test_lpos_errors_even_for_a_missing_key(engine, options, error):
    assert run(engine, b"LPOS", b"l", b"a", *options) == Error(error)
    assert run(engine, b"LPOS", b"missing", b"a", *options) == Error(error)


# ---------------------------------------------------------------------- in-place changes


def test_linsert(engine):
    assert run(engine, b"LINSERT", b"l", b"BEFORE", b"zz", b"x") == -1
    assert run(engine, b"LINSERT", b"missing", b"BEFORE", b"a", b"x") == 0
    assert run(engine, b"LINSERT", b"missing", b"SIDEWAYS", b"a", b"x") == SYNTAX
    assert run(engine, b"LINSERT", b"s", b"after", b"a", b"x") == WRONGTYPE
    assert run(engine, b"LINSERT", b"l", b"after", b"b", b"x") == 7
    assert run(engine, b"LINSERT", b"l", b"BEFORE", b"a", b"y") == 8
    assert contents(engine) == [b"y", b"a", b"b", b"x", b"c", b"a", b"b", b"a"]


@pytest.mark.parametrize(
    ("count", "removed", "left"),
    [
        (b"0", 3, [b"b", b"c", b"b"]),
        (b"1", 1, [b"b", b"c", b"a", b"b", b"a"]),
        (b"-2", 2, [b"a", b"b", b"c", b"b"]),
        (b"10", 3, [b"b", b"c", b"b"]),
    ],
)
def test_lrem(engine, count, removed, left):
    assert run(engine, b"LREM", b"l", count, b"a") == removed
    assert contents(engine) == left


def test_lrem_of_everything_deletes_the_key(engine):
    run(engine, b"RPUSH", b"one", b"x", b"x")
    assert run(engine, b"LREM", b"one", b"0", b"x") == 2
    assert b"one" not in engine.db.data
    assert run(engine, b"LREM", b"l", b"0", b"zz") == 0
    assert engine.changed_keys == []


@pytest.mark.parametrize(
    ("start", "stop", "left"),
    [
        (b"1", b"-2", [b"b", b"c", b"a", b"b"]),
        (b"-2", b"100", [b"b", b"a"]),
        (b"-100", b"0", [b"a"]),
    ],
)
def test_ltrim(engine, start, stop, left):
    assert run(engine, b"LTRIM", b"l", start, stop) == resp.OK
    assert contents(engine) == left


@pytest.mark.parametrize(("start", "stop"), [(b"3", b"1"), (b"6", b"10"), (b"-1", b"-2")])
def test_ltrim_to_nothing_deletes_the_key(engine, start, stop):
    run(engine, b"LTRIM", b"l", start, stop)
    assert b"l" not in engine.db.data


def test_lmove_and_rpoplpush(engine):
    assert run(engine, b"LMOVE", b"l", b"l", b"LEFT", b"RIGHT") == b"a"
    assert contents(engine) == [b"b", b"c", b"a", b"b", b"a", b"a"]
    assert run(engine, b"RPOPLPUSH", b"l", b"new") == b"a"
    assert contents(engine, b"new") == [b"a"]
    assert run(engine, b"LMOVE", b"new", b"new", b"RIGHT", b"LEFT") == b"a"
    assert contents(engine, b"new") == [b"a"]
    assert run(engine, b"LMOVE", b"new", b"l", b"left", b"left") == b"a"
    assert b"new" not in engine.db.data
    assert contents(engine)[0] == b"a"


def test_lmove_checks_the_destination_type_before_popping(engine):
    assert run(engine, b"LMOVE", b"l", b"s", b"LEFT", b"LEFT") == WRONGTYPE
    assert len(contents(engine)) == 6
    assert run(engine, b"LMOVE", b"missing", b"s", b"LEFT", b"LEFT") is None
    assert run(engine, b"LMOVE", b"l", b"s", b"UP", b"LEFT") == SYNTAX


# ---------------------------------------------------------------------- blocking forms


@pytest.mark.parametrize(
    ("args", "keys", "timeout"),
    [
        ([b"BLPOP", b"x", b"y", b"0"], [b"x", b"y"], 0.0),
        ([b"BRPOP", b"x", b"1.5"], [b"x"], 1.5),
        ([b"BRPOPLPUSH", b"x", b"l", b"2"], [b"x"], 2.0),
        ([b"BRPOPLPUSH", b"x", b"s", b"2"], [b"x"], 2.0),
        ([b"BLMOVE", b"x", b"y", b"LEFT", b"RIGHT", b"0.25"], [b"x"], 0.25),
        # Rounded up to whole milliseconds (7.0's ceill): 0.001 * 1000 is just below 1 as
        # a long double, truncated it would be 0, forever.
        ([b"BLPOP", b"x", b"0.001"], [b"x"], 0.001),
        ([b"BRPOP", b"x", b"0.0001"], [b"x"], 0.001),
        ([b"BLPOP", b"x", b"-0.0001"], [b"x"], 0.0),
        ([b"BLPOP", b"x", b"0.0015"], [b"x"], 0.002),
        ([b"BLMPOP", b"3", b"2", b"x", b"y", b"RIGHT", b"COUNT", b"5"], [b"x", b"y"], 3.0),
    ],
)
def test_nothing_to_pop_returns_would_block_and_changes_nothing(engine, args, keys, timeout):
    before = engine.snapshot()
    reply = run(engine, *args)
    assert type(reply) is WouldBlock
    assert reply.keys == keys
    assert reply.timeout == timeout
    assert engine.changed_keys == []
    assert engine.snapshot() == before


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([b"BLPOP", b"l", b"-1"], b"ERR timeout is negative"),
        ([b"BLPOP", b"x", b"abc"], b"ERR timeout is not a float or out of range"),
        ([b"BRPOP", b"l", b"nan"], b"ERR timeout is not a float or out of range"),
        ([b"BRPOPLPUSH", b"l", b"y", b"-0.5"], b"ERR timeout is negative"),
        ([b"BLMOVE", b"l", b"y", b"LEFT", b"LEFT", b"x"], b"ERR timeout is not a float or "),
        ([b"BLMOVE", b"x", b"y", b"UP", b"LEFT", b"-1"], b"ERR syntax error"),
        ([b"BLMPOP", b"-1", b"1", b"l", b"LEFT"], b"ERR timeout is negative"),
        # BLMPOP reads the timeout last.
        ([b"BLMPOP", b"-1", b"0", b"l", b"LEFT"], b"ERR numkeys should be greater than 0"),
        ([b"BLMPOP", b"-1", b"1", b"l", b"UP"], b"ERR syntax error"),
        ([b"BLMPOP", b"x", b"1", b"l", b"LEFT", b"COUNT", b"0"], b"ERR count should be greater"),
    ],
)
def test_blocking_arguments_are_refused_at_once(engine, args, error):
    reply = run(engine, *args)
    assert type(reply) is Error and reply.startswith(error)
    assert len(contents(engine)) == 6


def test_wrong_types_are_refused_instead_of_blocking(engine):
    assert run(engine, b"BLPOP", b"missing", b"s", b"l", b"0") == WRONGTYPE
    assert run(engine, b"BRPOPLPUSH", b"s", b"l", b"0") == WRONGTYPE
    assert run(engine, b"BLMOVE", b"l", b"s", b"LEFT", b"LEFT", b"0") == WRONGTYPE
    assert run(engine, b"BLMPOP", b"0", b"2", b"s", b"l", b"LEFT") == WRONGTYPE
    # A wrong type after the list that serves the pop is never looked at.
    assert run(engine, b"BLPOP", b"l", b"s", b"0") == [b"l", b"a"]


def test_available_data_is_served_with_the_blocking_reply_shapes(engine):
    assert run(engine, b"BLPOP", b"missing", b"l", b"0") == [b"l", b"a"]
    assert run(engine, b"BRPOP", b"l", b"0") == [b"l", b"a"]
    assert run(engine, b"BRPOPLPUSH", b"l", b"dst", b"0") == b"b"
    assert run(engine, b"BLMOVE", b"l", b"dst", b"LEFT", b"RIGHT", b"1") == b"b"
    assert contents(engine, b"dst") == [b"b", b"b"]
    assert run(engine, b"BLMPOP", b"0", b"2", b"missing", b"l", b"LEFT", b"COUNT", b"5") == [
        b"l",
        [b"c", b"a"],
    ]
    assert b"l" not in engine.db.data
    assert b"l" in engine.changed_keys


def test_inside_a_transaction_blocking_forms_answer_as_timed_out(engine):
    replies = engine.execute_transaction(
        [
            [b"BLPOP", b"x", b"0"],
            [b"BLMOVE", b"x", b"y", b"LEFT", b"LEFT", b"0"],
            [b"BLMPOP", b"0", b"1", b"x", b"LEFT"],
            [b"BRPOP", b"l", b"0"],
        ],
        NOW,
        random.Random(0),
    )
    assert replies == [NULL_ARRAY, None, NULL_ARRAY, [b"l", b"a"]]


def test_the_table_marks_the_blocking_forms_and_finds_their_keys():
    from proto.commands import TABLE

    for name in ("blpop", "brpop", "blmove", "brpoplpush", "blmpop"):
        assert TABLE[name].is_blocking and TABLE[name].is_write
    for name in ("lpop", "lmpop", "lmove"):
        assert not TABLE[name].is_blocking
    assert TABLE["blpop"].keys([b"BLPOP", b"a", b"b", b"0"]) == [b"a", b"b"]
    assert TABLE["blmove"].keys([b"BLMOVE", b"a", b"b", b"LEFT", b"LEFT", b"0"]) == [b"a", b"b"]
    assert TABLE["lmpop"].keys([b"LMPOP", b"2", b"a", b"b", b"LEFT"]) == [b"a", b"b"]
    assert TABLE["blmpop"].keys([b"BLMPOP", b"0", b"2", b"a", b"b", b"LEFT"]) == [b"a", b"b"]


# ---------------------------------------------------------------------- blocking vs. Redis

element = st.sampled_from([b"a", b"b", b"", b"1", b"x" * 70])
push = st.tuples(st.sampled_from([b"LPUSH", b"RPUSH"]), st.lists(element, min_size=1, max_size=3))
other_keys = st.lists(st.sampled_from([b"k1", b"k2", b"k3"]), max_size=2)
timeout = st.sampled_from([b"0", b"0.5", b"3"])
side = st.sampled_from([b"LEFT", b"RIGHT"])


@st.composite
def push_then_block(draw: st.DrawFn) -> list[list[bytes]]:
    """A push onto `target` and a blocking command that has `target` among its keys (as its
    source for the moves): Redis serves it at once or refuses a wrong type, never blocks."""
    target = draw(st.sampled_from([b"k1", b"k2", b"k3"]))
    verb, elements = draw(push)
    before, after = draw(other_keys), draw(other_keys)
    watched = [*before, target, *after]
    kind = draw(st.sampled_from(["pop", "move", "rpoplpush", "mpop"]))
    if kind == "pop":
        blocking = [draw(st.sampled_from([b"BLPOP", b"BRPOP"])), *watched, draw(timeout)]
    elif kind == "move":
        destination = draw(st.sampled_from([b"k1", b"k2", b"k3"]))
        blocking = [b"BLMOVE", target, destination, draw(side), draw(side), draw(timeout)]
    elif kind == "rpoplpush":
        destination = draw(st.sampled_from([b"k1", b"k2", b"k3"]))
        blocking = [b"BRPOPLPUSH", target, destination, draw(timeout)]
    else:
        count = draw(st.sampled_from([[], [b"COUNT", b"2"], [b"COUNT", b"10"]]))
        blocking = [b"BLMPOP", draw(timeout), b"%d" % len(watched), *watched, draw(side), *count]
    return [[verb, target, *elements], blocking]


setup = st.one_of(
    st.tuples(st.just(b"SET"), st.sampled_from([b"k1", b"k2", b"k3"]), st.just(b"v")).map(list),
    *[case.strategy for case in LIST_CASES if case.name in ("rpush", "lpop", "ltrim", "lmove")],
)
step = st.one_of(push_then_block(), setup.map(lambda args: [args]))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(step, min_size=1, max_size=12), st.booleans())
def test_blocking_forms_with_data_match_redis(redis_port, steps, resp3):
    diff = Differential(redis_port, resp3=resp3)
    # A bug in the strategy would otherwise park this connection for good.
    diff.redis.sock.settimeout(10)
    try:
        for commands in steps:
            for args in commands:
                diff.check(args)
    finally:
        diff.close()


# ---------------------------------------------------------------------- memory accounting


def recomputed_mem(value: ListValue) -> int:
    items = value.snapshot_items()
    return LIST_OVERHEAD + sum(map(len, items)) + ELEMENT_OVERHEAD * len(items)


text = st.sampled_from([b"", b"a", b"bb", b"v" * 80])
index = st.integers(-4, 4).map(lambda n: b"%d" % n)
list_key = st.sampled_from([b"l1", b"l2"])
operation = st.one_of(
    st.tuples(st.sampled_from([b"LPUSH", b"RPUSH", b"LPUSHX"]), list_key, text, text),
    st.tuples(st.sampled_from([b"LPOP", b"RPOP"]), list_key, st.sampled_from([b"1", b"3"])),
    st.tuples(st.just(b"LSET"), list_key, index, text),
    st.tuples(st.just(b"LREM"), list_key, index, text),
    st.tuples(st.just(b"LTRIM"), list_key, index, index),
    st.tuples(st.just(b"LINSERT"), list_key, st.sampled_from([b"BEFORE", b"AFTER"]), text, text),
    st.tuples(st.just(b"LMOVE"), list_key, list_key, side, side),
    st.tuples(st.just(b"LMPOP"), st.just(b"2"), list_key, list_key, side, st.just(b"COUNT"), index),
    st.tuples(st.just(b"BLMPOP"), st.just(b"0"), st.just(b"1"), list_key, side),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=60))
def test_mem_equals_a_recomputation_after_any_operations(program):
    engine = Engine()
    for args in program:
        engine.execute(list(args), NOW, random.Random(0))
        for value in engine.db.data.values():
            assert len(value) > 0
            assert value.mem == recomputed_mem(value)
            assert value.accounted == value.mem
        total = sum(value_size(name, value) for name, value in engine.db.data.items())
        assert engine.db.used_memory == total
    restored = load(engine.snapshot(), engine.config)
    assert {k: v.snapshot_items() for k, v in restored.data.items()} == {
        k: v.snapshot_items() for k, v in engine.db.data.items()
    }


def test_copy_is_deep():
    original = ListValue([b"a", b"b"])
    duplicate = original.copy()
    duplicate.push([b"c"], left=False)
    assert original.snapshot_items() == [b"a", b"b"]
    assert duplicate.mem == original.mem + 1 + ELEMENT_OVERHEAD
