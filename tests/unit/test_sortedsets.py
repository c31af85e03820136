"""Sorted-set commands: error texts, scores (inf, NaN, -0, formatting), ranges and LIMIT,
encodings against Redis, RESP3 shapes, blocking pops, ZSCAN against Redis, memory."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine.blocking import WouldBlock
from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.engine.errors import CommandError
from node.engine.zset_value import (
    ZSetValue,
    parse_lex_range,
    parse_score,
    parse_score_range,
    score_text,
)
from proto import resp
from proto.commands import TABLE
from proto.resp import NULL_ARRAY, Double, Error, Pairs
from tests.differential import cases_sortedsets
from tests.differential.common import KEYS
from tests.differential.harness import Differential, RawRedis
from tests.differential.test_differential import sequences
from tests.unit.test_sets import Resp3Socket

NOW = 1_700_000_000_000
WRONGTYPE = Error(b"WRONGTYPE Operation against a key holding the wrong kind of value")
SYNTAX = Error(b"ERR syntax error")


class Node:
    """An engine driven by hand, with its own seeded generator."""

    def __init__(self, seed: int = 7) -> None:
        self.engine = Engine()
        self.rng = random.Random(seed)

    def __call__(self, *args: bytes | str | int) -> object:
        return self.engine.execute(_args(args), NOW, self.rng)

    def value(self, key: bytes) -> ZSetValue:
        value = self.engine.db.data[key]
        assert isinstance(value, ZSetValue)
        return value


def _args(args: tuple) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


@pytest.fixture
def node() -> Node:
    return Node()


def error(text: str) -> Error:
    return Error(text.encode())


def members(reply: object) -> list[bytes]:
    assert isinstance(reply, list)
    return list(reply)


# ---------------------------------------------------------------------- ZADD / ZINCRBY


def test_zadd_option_errors(node):
    assert node("ZADD", "z", "NX", "XX", "1", "a") == error(
        "ERR XX and NX options at the same time are not compatible"
    )
    gt_lt_nx = error("ERR GT, LT, and/or NX options at the same time are not compatible")
    assert node("ZADD", "z", "GT", "LT", "1", "a") == gt_lt_nx
    assert node("ZADD", "z", "NX", "GT", "1", "a") == gt_lt_nx
    assert node("ZADD", "z", "INCR", "1", "a", "2", "b") == error(
        "ERR INCR option supports a single increment-element pair"
    )
    assert node("ZADD", "z", "1", "a", "2") == SYNTAX
    assert node("ZADD", "z", "NX", "XX") == SYNTAX  # parity is checked before conflicts
    assert node("ZADD", "z", "1", "a", "x", "b") == error("ERR value is not a valid float")
    assert b"z" not in node.engine.db.data  # all or nothing
    assert node("ZINCRBY", "z", "nx", "a") == SYNTAX  # the option word eats the increment


def test_zadd_flags(node):
    assert node("ZADD", "z", "1", "a", "2", "b") == 2
    assert node("ZADD", "z", "XX", "1", "new") == 0
    assert node("ZADD", "nokey", "XX", "1", "a") == 0
    assert b"nokey" not in node.engine.db.data
    assert node("ZADD", "z", "NX", "5", "a", "3", "c") == 1
    assert node("ZADD", "z", "CH", "5", "a", "2", "b", "4", "d") == 2
    assert node("ZADD", "z", "GT", "CH", "1", "a", "9", "b") == 1  # only b goes up
    assert node("ZADD", "z", "LT", "CH", "0", "a", "10", "b") == 1  # only a goes down
    assert node("ZADD", "z", "XX", "GT", "INCR", "-1", "a") is None  # would go down
    assert node("ZADD", "z", "INCR", "2.5", "a") == Double(2.5)
    assert node("ZADD", "z", "NX", "INCR", "1", "a") is None
    assert node("ZINCRBY", "z", "1", "a") == Double(3.5)
    assert node("ZSCORE", "z", "a") == Double(3.5)


def test_nan_and_infinity(node):
    node("ZADD", "z", "inf", "a", "-inf", "b")
    assert node("ZINCRBY", "z", "-inf", "a") == error("ERR resulting score is not a number (NaN)")
    assert node("ZSCORE", "z", "a") == Double(math.inf)
    assert node("ZINCRBY", "z", "inf", "a") == Double(math.inf)
    for text in ("nan", "1e500", "-1e500", "1e-400", " 1", "1 ", "", "0x"):
        assert node("ZADD", "z", text, "c") == error("ERR value is not a valid float"), text
    assert node("ZADD", "z", "1e-310", "c") == 1  # a subnormal is not an underflow to 0
    assert node("ZRANGE", "z", "0", "-1") == [b"b", b"c", b"a"]
    assert resp.encode(node("ZSCORE", "z", "a")) == b"$3\r\ninf\r\n"
    assert resp.encode(node("ZSCORE", "z", "b"), resp3=True) == b",-inf\r\n"


def test_score_formatting(node):
    node("ZADD", "z", "1.1", "a", "3", "b", "0.1", "c")
    assert resp.encode(node("ZSCORE", "z", "a")) == b"$18\r\n1.1000000000000001\r\n"
    assert resp.encode(node("ZSCORE", "z", "a"), resp3=True) == b",1.1000000000000001\r\n"
    assert resp.encode(node("ZSCORE", "z", "b")) == b"$1\r\n3\r\n"
    assert score_text(1.1) == b"1.1000000000000001"
    assert score_text(1e17) == b"100000000000000000"  # ZSCAN prints integers as such
    assert score_text(5e18) == b"5e+18"  # ... within double2ll's range only
    assert score_text(-0.0) == b"-0"
    assert score_text(-math.inf) == b"-inf"


def test_negative_zero(node):
    # The listpack stores -0 as the integer 0; the skiplist keeps the sign.
    assert node("ZADD", "small", "INCR", "-0", "a") == Double(-0.0)
    assert resp.encode(node("ZSCORE", "small", "a")) == b"$1\r\n0\r\n"
    node("ZADD", "big", "1", "x" * 65)
    node("ZADD", "big", "-0", "a")
    assert resp.encode(node("ZSCORE", "big", "a")) == b"$2\r\n-0\r\n"
    # A computed result is a listpack again when it fits: its -0 scores become 0.
    node("ZUNIONSTORE", "u", "1", "small", "WEIGHTS", "-1")
    assert resp.encode(node("ZSCORE", "u", "a")) == b"$1\r\n0\r\n"
    assert resp.encode(node("ZUNION", "1", "small", "WEIGHTS", "-1", "WITHSCORES")) == (
        b"*2\r\n$1\r\na\r\n$2\r\n-0\r\n"
    )


def test_parsers():
    assert parse_score(b"0x10") == 16.0
    assert parse_score(b"-inf") == -math.inf
    with pytest.raises(CommandError):
        parse_score(b"0x1p99999")  # overflow (float.fromhex raises; strtod sets ERANGE)
    assert parse_score_range(b"-0x1p99999", b"0x1p99999").low == -math.inf
    spec = parse_score_range(b"(1", b"")
    assert (spec.low, spec.low_exclusive, spec.high, spec.high_exclusive) == (1.0, True, 0.0, False)
    assert parse_score_range(b" 2", b"1e500").high == math.inf  # strtod: overflow is inf
    assert parse_score_range(b"1\x00junk", b"(").low == 1.0  # strtod stops at NUL
    for bad in (b"x", b"nan", b"(nan", b"1 ", b" ", b"((1"):
        with pytest.raises(CommandError, match="min or max is not a float"):
            parse_score_range(bad, b"1")
    for bad in (b"a", b"", b"--", b"+x"):
        with pytest.raises(CommandError, match="min or max not valid string range item"):
            parse_lex_range(bad, b"+")
    assert parse_lex_range(b"-", b"-").is_empty()
    assert parse_lex_range(b"[a", b"(a").is_empty()
    assert not parse_lex_range(b"[a", b"[a").is_empty()
    assert parse_lex_range(b"+", b"-").is_empty()


# ---------------------------------------------------------------------- ranges


@pytest.fixture
def abc(node) -> Node:
    node("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")
    return node


def test_rank_ranges(abc):
    assert abc("ZRANGE", "z", "0", "-1") == [b"a", b"b", b"c", b"d"]
    assert abc("ZRANGE", "z", "-2", "100") == [b"c", b"d"]
    assert abc("ZRANGE", "z", "5", "10") == []
    assert abc("ZRANGE", "z", "2", "1") == []
    assert abc("ZRANGE", "z", "-100", "-5") == []
    assert abc("ZREVRANGE", "z", "0", "1", "WITHSCORES") == Pairs(
        [b"d", Double(4.0), b"c", Double(3.0)]
    )
    assert abc("ZRANGE", "z", "0", "0", "REV") == [b"d"]
    assert abc("ZRANGE", "z", "x", "1") == error("ERR value is not an integer or out of range")
    assert abc("ZRANGE", "z", "-0", "1") == error("ERR value is not an integer or out of range")
    assert abc("ZRANK", "z", "c") == 2
    assert abc("ZREVRANK", "z", "c") == 1
    assert abc("ZRANK", "z", "nope") is None
    assert abc("ZRANK", "nokey", "a") is None


def test_score_ranges_and_limit(abc):
    assert abc("ZRANGEBYSCORE", "z", "(1", "3") == [b"b", b"c"]
    assert abc("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2") == [b"b", b"c"]
    # A negative count means no limit; a negative offset returns nothing.
    assert abc("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "-1") == [b"b", b"c", b"d"]
    assert abc("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2") == []
    assert abc("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "10", "2") == []
    assert abc("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "0") == []
    assert abc("ZREVRANGEBYSCORE", "z", "3", "(1", "WITHSCORES") == Pairs(
        [b"c", Double(3.0), b"b", Double(2.0)]
    )
    assert abc("ZRANGE", "z", "(4", "+inf", "BYSCORE", "REV", "LIMIT", "0", "1") == []
    assert abc("ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "LIMIT", "1", "1") == [b"c"]
    assert abc("ZRANGEBYSCORE", "z", "3", "2") == []
    assert abc("ZRANGEBYSCORE", "z", "(2", "2") == []
    assert abc("ZCOUNT", "z", "(1", "(4") == 2
    assert abc("ZCOUNT", "z", "(inf", "inf") == 0
    assert abc("ZRANGE", "z", "0", "-1", "LIMIT", "0", "1") == error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    )
    assert abc("ZRANGE", "z", "0", "-1", "LIMIT", "0", "-1") == [b"a", b"b", b"c", b"d"]
    assert abc("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES") == error(
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    )
    assert abc("ZRANGE", "z", "0", "1", "REV", "REV") == SYNTAX
    assert abc("ZRANGEBYSCORE", "z", "0", "1", "BYSCORE") == SYNTAX
    assert abc("ZREVRANGE", "z", "0", "1", "REV") == SYNTAX
    assert abc("ZRANGEBYSCORE", "z", "x", "1") == error("ERR min or max is not a float")


def test_lex_ranges(node):
    node("ZADD", "z", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e")
    assert node("ZRANGEBYLEX", "z", "[b", "(d") == [b"b", b"c"]
    assert node("ZRANGEBYLEX", "z", "-", "+", "LIMIT", "1", "2") == [b"b", b"c"]
    assert node("ZREVRANGEBYLEX", "z", "+", "[c") == [b"e", b"d", b"c"]
    assert node("ZLEXCOUNT", "z", "(a", "[d") == 3
    assert node("ZLEXCOUNT", "z", "+", "-") == 0
    assert node("ZREMRANGEBYLEX", "z", "[b", "[c") == 2
    assert node("ZRANGE", "z", "0", "-1") == [b"a", b"d", b"e"]
    assert node("ZRANGEBYLEX", "z", "a", "+") == error("ERR min or max not valid string range item")


def test_lex_ranges_with_mixed_scores_walk_like_the_listpack(node):
    # Members in score order: c(0) b(1) a(2) d(3). The walk starts at the first member
    # >= min and goes on while members stay <= max. (Replies checked against Redis 7.0.)
    node("ZADD", "z", "1", "b", "2", "a", "3", "d", "0", "c")
    assert node("ZRANGEBYLEX", "z", "[b", "[c") == [b"c", b"b", b"a"]
    assert node("ZRANGEBYLEX", "z", "-", "[b") == []  # c comes first and is > b
    assert node("ZREVRANGEBYLEX", "z", "[c", "-") == [b"a", b"b", b"c"]
    assert node("ZLEXCOUNT", "z", "[a", "[c") == 3


def test_removals_by_range(abc):
    assert abc("ZREMRANGEBYRANK", "z", "5", "10") == 0
    assert abc("ZREMRANGEBYRANK", "z", "-1", "-1") == 1
    assert abc("ZREMRANGEBYSCORE", "z", "(1", "2") == 1
    assert abc("ZRANGE", "z", "0", "-1") == [b"a", b"c"]
    assert abc("ZREMRANGEBYSCORE", "z", "-inf", "+inf") == 2
    assert b"z" not in abc.engine.db.data
    assert abc("ZREMRANGEBYRANK", "z", "x", "1") == error(
        "ERR value is not an integer or out of range"
    )


def test_zrangestore(abc):
    assert abc("ZRANGESTORE", "dst", "z", "1", "2") == 2
    assert abc("ZRANGE", "dst", "0", "-1", "WITHSCORES") == Pairs(
        [b"b", Double(2.0), b"c", Double(3.0)]
    )
    assert abc("ZRANGESTORE", "dst", "z", "(4", "+inf", "BYSCORE") == 0
    assert b"dst" not in abc.engine.db.data
    assert abc("ZRANGESTORE", "dst", "z", "0", "1", "WITHSCORES") == SYNTAX
    abc("SET", "str", "x")
    assert abc("ZRANGESTORE", "dst", "str", "0", "1") == WRONGTYPE


# ---------------------------------------------------------------------- algebra


def test_algebra_errors(node):
    node("ZADD", "z", "1", "a")
    assert node("ZUNION", "0", "z") == error(
        "ERR at least 1 input key is needed for 'zunion' command"
    )
    assert node("ZUNIONSTORE", "d", "-1", "z") == error(
        "ERR at least 1 input key is needed for 'zunionstore' command"
    )
    assert node("ZINTERCARD", "0", "z") == error(
        "ERR at least 1 input key is needed for 'zintercard' command"
    )
    assert node("ZUNION", "x", "z") == error("ERR value is not an integer or out of range")
    assert node("ZUNION", "2", "z") == SYNTAX
    assert node("ZUNION", "1", "z", "WEIGHTS", "x") == error("ERR weight value is not a float")
    assert node("ZUNION", "1", "z", "WEIGHTS", "nan") == error("ERR weight value is not a float")
    assert node("ZUNION", "1", "z", "WEIGHTS") == SYNTAX
    assert node("ZUNION", "1", "z", "AGGREGATE", "avg") == SYNTAX
    assert node("ZDIFF", "1", "z", "AGGREGATE", "min") == SYNTAX
    assert node("ZUNIONSTORE", "d", "1", "z", "WITHSCORES") == SYNTAX
    assert node("ZINTERCARD", "1", "z", "LIMIT", "-1") == error("ERR LIMIT can't be negative")
    assert node("ZINTERCARD", "1", "z", "WITHSCORES") == SYNTAX
    node("LPUSH", "list", "x")
    # The keys are read before the options: WRONGTYPE wins over a syntax error.
    assert node("ZUNION", "1", "list", "BAD") == WRONGTYPE


def test_algebra_scores(node):
    node("ZADD", "z", "1", "a", "2", "b", "inf", "i")
    node("ZADD", "y", "10", "b", "-inf", "i")
    node("SADD", "s", "a", "b")
    assert node("ZUNION", "2", "z", "y", "WITHSCORES") == Pairs(
        [b"i", Double(0.0), b"a", Double(1.0), b"b", Double(12.0)]  # inf + -inf is 0
    )
    assert node("ZINTER", "2", "z", "s", "WEIGHTS", "2", "3", "WITHSCORES") == Pairs(
        [b"a", Double(5.0), b"b", Double(7.0)]  # a plain set's members score 1
    )
    assert node("ZINTER", "2", "z", "y", "AGGREGATE", "MAX", "WITHSCORES") == Pairs(
        [b"b", Double(10.0), b"i", Double(math.inf)]
    )
    assert node("ZUNION", "1", "z", "WEIGHTS", "0", "WITHSCORES") == Pairs(
        [b"a", Double(0.0), b"b", Double(0.0), b"i", Double(0.0)]  # 0 * inf is 0
    )
    assert node("ZDIFF", "2", "z", "s") == [b"i"]
    assert node("ZDIFF", "2", "z", "z") == []
    assert node("ZINTERCARD", "2", "z", "s") == 2
    assert node("ZINTERCARD", "2", "z", "s", "LIMIT", "1") == 1
    assert node("ZINTERSTORE", "dst", "2", "z", "nokey") == 0
    assert node("ZUNIONSTORE", "dst", "2", "z", "y", "AGGREGATE", "MIN") == 3
    assert node("ZRANGE", "dst", "0", "-1", "WITHSCORES") == Pairs(
        [b"i", Double(-math.inf), b"a", Double(1.0), b"b", Double(2.0)]
    )


# ---------------------------------------------------------------------- pops


def test_pops(abc):
    assert abc("ZPOPMIN", "z") == [b"a", Double(1.0)]
    assert abc("ZPOPMAX", "z", "2") == Pairs([b"d", Double(4.0), b"c", Double(3.0)])
    assert abc("ZPOPMIN", "z", "0") == []
    assert abc("ZPOPMIN", "z", "-1") == error("ERR value is out of range, must be positive")
    assert abc("ZPOPMIN", "z", "1", "2") == SYNTAX
    assert abc("ZPOPMIN", "z", "5") == Pairs([b"b", Double(2.0)])
    assert b"z" not in abc.engine.db.data
    assert abc("ZPOPMIN", "z") == []


def test_zmpop(abc):
    abc("SET", "str", "x")
    assert abc("ZMPOP", "2", "nokey", "z", "MAX", "COUNT", "2") == [
        b"z",
        [[b"d", Double(4.0)], [b"c", Double(3.0)]],
    ]
    assert abc("ZMPOP", "2", "nokey", "str", "MIN") == WRONGTYPE
    assert abc("ZMPOP", "2", "z", "str", "MIN") == [b"z", [[b"a", Double(1.0)]]]
    assert abc("ZMPOP", "1", "nokey", "MIN") is NULL_ARRAY
    numkeys = error("ERR numkeys should be greater than 0")
    assert abc("ZMPOP", "0", "z", "MIN") == numkeys
    assert abc("ZMPOP", "x", "z", "MIN") == numkeys
    assert abc("ZMPOP", "3", "z", "MIN") == SYNTAX
    assert abc("ZMPOP", "1", "z", "LEFT") == SYNTAX
    count = error("ERR count should be greater than 0")
    assert abc("ZMPOP", "1", "z", "MIN", "COUNT", "0") == count
    assert abc("ZMPOP", "1", "z", "MIN", "COUNT", "x") == count
    assert abc("ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1") == SYNTAX


def test_blocking_pops_would_block(node):
    for args, keys, timeout in (
        (["BZPOPMIN", "a", "b", "1.5"], [b"a", b"b"], 1.5),
        (["BZPOPMAX", "a", "0"], [b"a"], 0.0),
        (["BZMPOP", "0.25", "2", "a", "b", "MIN", "COUNT", "3"], [b"a", b"b"], 0.25),
    ):
        reply = node(*args)
        assert isinstance(reply, WouldBlock)
        assert (reply.keys, reply.timeout) == (keys, timeout)
    assert node.engine.changed_keys == []
    assert node("BZPOPMAX", "a", "-1") == error("ERR timeout is negative")
    assert node("BZPOPMAX", "a", "x") == error("ERR timeout is not a float or out of range")
    # BZMPOP reads numkeys, MIN/MAX and COUNT before the timeout.
    assert node("BZMPOP", "x", "0", "a", "MIN") == error("ERR numkeys should be greater than 0")
    assert node("BZMPOP", "x", "1", "a", "MIN") == error(
        "ERR timeout is not a float or out of range"
    )
    node("SET", "str", "v")
    assert node("BZPOPMIN", "nokey", "str", "0") == WRONGTYPE
    node("ZADD", "z", "1", "m")
    assert node("BZPOPMIN", "nokey", "z", "str", "0") == [b"z", b"m", Double(1.0)]
    assert node.engine.changed_keys == [b"z", b"z"]  # modified, then deleted
    # Inside MULTI a pop that would block answers as if its timeout had passed.
    assert node.engine.execute_transaction([[b"BZPOPMIN", b"z", b"0"]], NOW, node.rng) == [
        NULL_ARRAY
    ]


def test_table_entries():
    positions = TABLE["zunionstore"].key_positions
    assert positions([b"zunionstore", b"d", b"2", b"a", b"b", b"WEIGHTS", b"1", b"2"]) == [1, 3, 4]
    assert TABLE["bzmpop"].key_positions([b"bzmpop", b"0", b"2", b"a", b"b", b"MIN"]) == [3, 4]
    assert TABLE["bzpopmin"].key_positions([b"bzpopmin", b"a", b"b", b"0"]) == [1, 2]
    assert TABLE["zrangestore"].key_positions([b"zrangestore", b"d", b"s", b"0", b"1"]) == [1, 2]
    assert TABLE["bzpopmin"].is_blocking and TABLE["bzmpop"].is_blocking
    assert not TABLE["zmpop"].is_blocking


# ---------------------------------------------------------------------- random members


def test_zrandmember(abc):
    assert abc("ZRANDMEMBER", "nokey") is None
    assert abc("ZRANDMEMBER", "nokey", "3") == []
    assert abc("ZRANDMEMBER", "z") in (b"a", b"b", b"c", b"d")
    # The whole set comes highest first, as Redis's set iterator walks it.
    assert abc("ZRANDMEMBER", "z", "10") == [b"d", b"c", b"b", b"a"]
    assert len(set(members(abc("ZRANDMEMBER", "z", "3")))) == 3
    assert len(members(abc("ZRANDMEMBER", "z", "-9"))) == 9
    pairs = abc("ZRANDMEMBER", "z", "-3", "WITHSCORES")
    assert isinstance(pairs, Pairs) and len(pairs) == 6
    assert abc("ZRANDMEMBER", "z", "1", "WITHSCORES", "x") == SYNTAX
    assert abc("ZRANDMEMBER", "z", "1", "x") == SYNTAX
    assert abc("ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES") == error(
        "ERR value is out of range"
    )
    assert abc("ZRANDMEMBER", "z", "-9223372036854775808") == error(
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    )


def test_zrandmember_is_reproducible():
    first, second = Node(seed=11), Node(seed=11)
    for replica in (first, second):
        replica("ZADD", "z", *[part for n in range(50) for part in (str(n), f"m{n}")])
    assert [first("ZRANDMEMBER", "z", "5") for _ in range(5)] == [
        second("ZRANDMEMBER", "z", "5") for _ in range(5)
    ]


# ---------------------------------------------------------------------- encodings


def test_encoding_thresholds(node):
    node("ZADD", "z", *[part for n in range(128) for part in (str(n), f"m{n}")])
    assert node.value(b"z").encoding() == b"listpack"
    node("ZADD", "z", "1", "one-more")
    assert node.value(b"z").encoding() == b"skiplist"
    node("ZREMRANGEBYRANK", "z", "0", "100")
    assert node.value(b"z").encoding() == b"skiplist"  # never converted back
    node("ZADD", "w", "1", "x" * 64)
    assert node.value(b"w").encoding() == b"listpack"
    node("ZADD", "w", "1", "x" * 65)
    assert node.value(b"w").encoding() == b"skiplist"
    node("ZREM", "w", "x" * 65)
    node("ZUNIONSTORE", "u", "1", "w")  # a computed result is encoded afresh
    assert node.value(b"u").encoding() == b"listpack"


def test_encodings_match_redis(redis_port):
    """OBJECT ENCODING after the same commands on both sides (sizes around the limits)."""
    many = [part for n in range(129) for part in (str(n), f"m{n}")]
    script = [
        ["ZADD", "a", *many[:256]],
        ["ZADD", "b", *many],
        ["ZADD", "c", "1", "x" * 65, "2", "y"],
        ["ZREM", "c", "x" * 65],
        ["ZUNIONSTORE", "d", "1", "c"],
        ["ZRANGESTORE", "e", "b", "0", "-1"],
        ["ZRANGESTORE", "f", "b", "0", "10"],
        ["ZRANGESTORE", "g", "b", "-inf", "+inf", "BYSCORE"],
        ["ZINTERSTORE", "h", "2", "b", "a"],
        ["ZDIFFSTORE", "i", "2", "b", "a"],
    ]
    redis = RawRedis(redis_port)
    node = Node()
    try:
        redis.call([b"FLUSHALL"])
        for args in script:
            assert node(*args) == redis.call(_args(tuple(args)))
        for key in "abcdefghi":
            expected = redis.call([b"OBJECT", b"ENCODING", key.encode()])
            assert node.value(key.encode()).encoding() == expected, key
    finally:
        redis.call([b"FLUSHALL"])
        redis.close()


# ---------------------------------------------------------------------- against Redis


def test_reply_bytes_match_redis_resp3(redis_port):
    """Raw RESP3 bytes: which replies nest pairs and which stay flat in Redis 7.0."""
    script = [
        ["ZADD", "z", "1", "a", "2.5", "b", "3", "c", "4", "d", "5", "e", "6", "f"],
        ["ZRANGE", "z", "0", "1", "WITHSCORES"],
        ["ZRANGEBYSCORE", "z", "-inf", "2", "WITHSCORES"],
        ["ZUNION", "1", "z", "WITHSCORES"],
        ["ZRANDMEMBER", "z", "100", "WITHSCORES"],
        ["ZPOPMIN", "z"],
        ["ZPOPMIN", "z", "1"],
        ["ZPOPMAX", "z", "0"],
        ["ZMPOP", "1", "z", "MAX"],
        ["BZPOPMIN", "z", "0"],
        ["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"],
        ["ZMPOP", "1", "z", "MIN"],
        ["ZSCORE", "z", "a"],
        ["ZMSCORE", "nokey", "a"],
        ["ZINCRBY", "y", "1.1", "m"],
        ["ZSCAN", "y", "0"],
        ["ZADD", "y", "XX", "INCR", "1", "nope"],
    ]
    node = Node()
    with Resp3Socket(redis_port) as redis:
        redis.raw([b"FLUSHALL"])
        for args in script:
            assert resp.encode(node(*args), resp3=True) == redis.raw(_args(tuple(args))), args
        redis.raw([b"FLUSHALL"])


score_text_strategy = st.sampled_from([b"0", b"1", b"-2", b"2.5", b"-0", b"inf", b"-inf"])
zset_member = st.sampled_from([b"a", b"b", b"c", b"1", b"x" * 70])
fill = st.lists(st.tuples(score_text_strategy, zset_member), min_size=1, max_size=4)
pop_keys = st.lists(st.sampled_from([b"{z}1", b"{z}2", b"{z}3"]), min_size=1, max_size=3)
blocking: st.SearchStrategy[tuple[bytes, list[bytes]]] = st.one_of(
    st.tuples(st.sampled_from([b"BZPOPMIN", b"BZPOPMAX"]), st.just([])),
    st.tuples(
        st.just(b"BZMPOP"),
        st.sampled_from([[b"MIN"], [b"MAX"], [b"MIN", b"COUNT", b"2"], [b"max", b"count", b"9"]]),
    ),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(st.tuples(pop_keys, fill, blocking, st.booleans()), min_size=1, max_size=6),
)
def test_blocking_pops_match_redis_when_data_is_there(redis_port, steps):
    """The serving path of the blocking pops, against Redis: each pop follows a ZADD to
    one of its keys, so Redis never blocks."""
    for resp3 in (False, True):
        diff = Differential(redis_port, resp3=resp3)
        try:
            for keys, pairs, (name, tail), first_filled in steps:
                filled = keys[0] if first_filled else keys[-1]
                diff.check([b"ZADD", filled, *[part for pair in pairs for part in pair]])
                if name == b"BZMPOP":
                    diff.check([name, b"0", b"%d" % len(keys), *keys, *tail])
                else:
                    diff.check([name, *keys, b"0"])
        finally:
            diff.close()


def _lexicographic(args: list[bytes]) -> bool:
    name = args[0].upper()
    return b"LEX" in name or any(arg.upper() == b"BYLEX" for arg in args)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=sequences(cases_sortedsets.CASES))
def test_skiplist_sets_match_redis(redis_port, sequence):
    """The differential cases on sets that start as skiplists (a 70-byte member), minus
    the lexicographic ranges: with unequal scores Redis's answer to those depends on the
    random levels of its skiplist nodes."""
    diff = Differential(redis_port, resp3=False)
    try:
        for key in KEYS:
            diff.check([b"ZADD", key, b"0.5", b"x" * 70])
        for case, args in sequence:
            if not _lexicographic(args):
                diff.check(args, case.normalize)
    finally:
        diff.close()


def _full_zscan(call, key: bytes, extra: list[bytes]) -> tuple[list[tuple[bytes, bytes]], int]:
    cursor = b"0"
    seen: list[tuple[bytes, bytes]] = []
    calls = 0
    while True:
        cursor, page = call([b"ZSCAN", key, cursor, *extra])
        seen.extend(zip(page[0::2], page[1::2]))
        calls += 1
        if cursor == b"0":
            return seen, calls


@pytest.mark.parametrize("extra", [[], [b"COUNT", b"7"], [b"MATCH", b"m1*", b"COUNT", b"3"]])
def test_zscan_iterates_like_redis(redis_port, extra):
    """Page by page over a skiplist: every member exactly once, with Redis's score text."""
    scores = [b"1.1", b"-0", b"100000000000000000", b"5e18", b"inf", b"3", b"0.25"]
    args = [part for n in range(300) for part in (scores[n % len(scores)], b"m%d" % n)]
    redis = RawRedis(redis_port)
    node = Node()
    try:
        redis.call([b"DEL", b"big"])
        redis.call([b"ZADD", b"big", *args])
        node("ZADD", b"big", *args)
        ours, pages = _full_zscan(lambda a: node(*a), b"big", extra)
        theirs, _ = _full_zscan(redis.call, b"big", extra)
        assert len(ours) == len({member for member, _ in ours})
        assert sorted(ours) == sorted(set(theirs))
        assert pages > 1
    finally:
        redis.call([b"DEL", b"big"])
        redis.close()


# ---------------------------------------------------------------------- the container


def test_copy_and_snapshot_round_trip():
    config = EngineConfig()
    value = ZSetValue(config, skiplist=True)
    value.put(b"a", -0.0)
    value.put(b"b", 2.0)
    duplicate = value.copy()
    duplicate.put(b"c", 1.0)
    assert len(value) == 2 and duplicate.encoding() == b"skiplist"
    restored = ZSetValue.from_snapshot_items(config, value.snapshot_items())
    assert restored.snapshot_items() == [(b"a", 0.0), (b"b", 2.0)]
    assert restored.encoding() == b"listpack"  # loaded sets are encoded afresh
    exact = ZSetValue.from_snapshot_items(config, value.snapshot_items(), value.encoding())
    assert exact.snapshot_items() == value.snapshot_items()
    assert math.copysign(1.0, exact.snapshot_items()[0][1]) < 0  # the skiplist's -0 stays
    assert exact.encoding() == b"skiplist"
    with pytest.raises(ValueError):
        ZSetValue.from_snapshot_items(config, [(b"a", 1.0), (b"a", 2.0)])
    with pytest.raises(ValueError):
        ZSetValue.from_snapshot_items(config, [(b"a", math.nan)])


operation = st.one_of(
    st.tuples(st.just("ZADD"), st.lists(st.tuples(score_text_strategy, zset_member), min_size=1)),
    st.tuples(st.just("ZINCRBY"), st.tuples(score_text_strategy, zset_member).map(list)),
    st.tuples(st.just("ZREM"), st.lists(zset_member, min_size=1, max_size=3)),
    st.tuples(st.just("ZPOPMIN"), st.sampled_from([[], [b"2"]])),
    st.tuples(st.just("ZREMRANGEBYSCORE"), st.just([b"-1", b"1"])),
    st.tuples(st.just("ZREMRANGEBYLEX"), st.just([b"[a", b"[b"])),
    st.tuples(st.just("ZUNIONSTORE"), st.just([])),
    st.tuples(st.just("ZRANGESTORE"), st.just([])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=30))
def test_mem_matches_a_recomputation(operations):
    node = Node()
    keys = [b"a", b"b"]
    for index, (name, extra) in enumerate(operations):
        key, other = keys[index % 2], keys[(index + 1) % 2]
        if name == "ZADD":
            node(name, key, *[part for pair in extra for part in pair])
        elif name == "ZUNIONSTORE":
            node(name, key, "2", key, other)
        elif name == "ZRANGESTORE":
            node(name, key, other, "0", "-1")
        else:
            node(name, key, *extra)
    db = node.engine.db
    for value in db.data.values():
        rebuilt = ZSetValue.from_snapshot_items(db.config, value.snapshot_items())
        assert value.mem == rebuilt.mem
        assert value.accounted == value.mem
        assert len(value.snapshot_items()) == len(value)
    used = db.used_memory
    db.rebuild_indexes()
    assert db.used_memory == used
