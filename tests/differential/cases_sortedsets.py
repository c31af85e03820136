"""Differential cases for the sorted-set commands.

ZRANDMEMBER chooses at random, so only the shape and size of its replies are compared.
ZSCAN is compared by a complete iteration (one call from cursor 0 with a COUNT of at
least 100 visits every member of these small sets on both sides); pages from other
cursors are compared for their errors only. The blocking forms are generated here only
with arguments that Redis refuses before it could block (a bad timeout, numkeys, MIN/MAX
or COUNT): a real server would otherwise wait on an empty key. Their serving path runs
against Redis in tests/unit/test_sortedsets.py.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.differential.common import CommandCase, cmd, count_text, index_text, key, keys, options
from tests.differential.harness import normalize_pairs_unordered

# Members with a common score order lexicographically; "1" is stored as an integer by the
# listpack. No member is longer than 64 bytes and no set gets past 128 members, so every
# set stays a listpack: on a skiplist whose scores differ, Redis's answer to a
# lexicographic range depends on its nodes' random levels. tests/unit/test_sortedsets.py
# runs these cases on skiplists, leaving out the lexicographic ranges.
member = st.sampled_from([b"a", b"b", b"c", b"aa", b"", b"1", b"\xff", b"x" * 64])
members = st.lists(member, min_size=1, max_size=4)
# Valid scores (with -0, infinities, exponents, hex) and invalid ones (NaN, overflow,
# underflow to zero, spaces, garbage).
score = st.one_of(
    st.sampled_from(
        [
            b"0",
            b"1",
            b"-1",
            b"2",
            b"1.5",
            b"1.1",
            b"-0",
            b"inf",
            b"-inf",
            b"+inf",
            b"0x10",
            b"3.0e-2",
            b"1e-310",
            b"100000000000000000",
            b"5e18",
        ]
    ),
    st.sampled_from([b"nan", b"1e500", b"1e-400", b"x", b" 1", b"1 ", b""]),
    st.integers(-3, 5).map(lambda n: b"%d" % n),
)
valid_score = st.sampled_from([b"0", b"1", b"2", b"-1", b"2.5", b"-0", b"inf", b"-inf"])
pairs = st.lists(st.tuples(score, member), min_size=1, max_size=4).map(
    lambda ps: [part for pair in ps for part in pair]
)
valid_pairs = st.lists(st.tuples(valid_score, member), min_size=1, max_size=4).map(
    lambda ps: [part for pair in ps for part in pair]
)
zadd_flag = st.sampled_from([b"NX", b"XX", b"CH", b"INCR", b"GT", b"LT", b"nx", b"ch"])
zadd_flags = st.lists(zadd_flag, max_size=3)
score_bound = st.sampled_from(
    [
        b"-inf",
        b"+inf",
        b"inf",
        b"(-inf",
        b"(inf",
        b"0",
        b"(0",
        b"1",
        b"(1",
        b"2.5",
        b"(2",
        b"-0",
        b"x",
        b"",
        b"(",
        b" 1",
        b"1 ",
        b"nan",
        b"1e500",
        b"((1",
    ]
)
lex_bound = st.sampled_from(
    [
        b"-",
        b"+",
        b"[a",
        b"(a",
        b"[b",
        b"(b",
        b"[aa",
        b"[c",
        b"(c",
        b"[",
        b"(",
        b"[\xff",
        b"a",
        b"--",
        b"++",
        b"",
    ]
)
limit = cmd(
    b"LIMIT",
    st.sampled_from([b"0", b"1", b"2", b"-1", b"x"]),
    st.sampled_from([b"0", b"1", b"3", b"-1", b"-5", b"x"]),
)
range_options = options([b"REV"], [b"WITHSCORES"], limit, [b"BYSCORE"], [b"BYLEX"], [b"FOO"])
rank_range = cmd(index_text, index_text)
any_range = st.one_of(
    rank_range, cmd(score_bound, score_bound, b"BYSCORE"), cmd(lex_bound, lex_bound, b"BYLEX")
)
numkeys_and_keys = st.one_of(
    keys.map(lambda ks: [b"%d" % len(ks), *ks]),
    st.tuples(st.sampled_from([b"0", b"-1", b"x", b"3", b"9"]), keys).map(
        lambda nk: [nk[0], *nk[1]]
    ),
)
weight = st.sampled_from([b"1", b"2", b"0", b"-1", b"0.5", b"inf", b"-inf", b"x", b"nan"])
algebra_options = options(
    cmd(b"WEIGHTS", st.lists(weight, min_size=1, max_size=4)),
    cmd(b"AGGREGATE", st.sampled_from([b"SUM", b"min", b"MAX", b"avg"])),
    [b"WITHSCORES"],
    cmd(b"LIMIT", st.sampled_from([b"0", b"1", b"-1", b"x"])),
)
where = st.sampled_from([b"MIN", b"MAX", b"min", b"max"])
mpop_tail = st.one_of(
    cmd(where, st.sampled_from([[], [b"COUNT", b"1"], [b"COUNT", b"3"], [b"count", b"10"]])),
    cmd(
        st.sampled_from([b"LEFT", b""]),
        st.sampled_from([[], [b"COUNT", b"1"]]),
    ),
    cmd(
        where,
        st.sampled_from(
            [
                [b"COUNT", b"0"],
                [b"COUNT", b"-1"],
                [b"COUNT", b"x"],
                [b"COUNT"],
                [b"COUNT", b"1"] * 2,
            ]
        ),
    ),
)
# Timeouts that Redis 7.0 refuses (negative or not a float) whatever the keys hold.
bad_timeout = st.sampled_from([b"-1", b"-0.5", b"x", b"nan", b" 1", b"1x", b""])
pop_count = st.one_of(count_text, st.sampled_from([b"-0", b"9223372036854775807", b"1.0"]))
rand_count = st.one_of(
    count_text, st.sampled_from([b"-9223372036854775808", b"9223372036854775807", b"-0"])
)
# Out of range with WITHSCORES; without it, a negative one would make Redis draw that many.
huge_count = st.sampled_from([b"4611686018427387904", b"-4611686018427387904"])
pattern = st.sampled_from([b"*", b"a*", b"[ab]", b"?", b"x*", b"*1*", b""])
cursor = st.sampled_from([b"0", b"1", b"17", b"-1", b"", b"x", b" 0"])


def normalize_random(reply: Any) -> Any:
    """ZRANDMEMBER's shape: None, a member, or an array of a given length whose items are
    members (or, with WITHSCORES, members and scores; 2-item arrays in RESP3)."""
    if isinstance(reply, bytes):
        return "bulk"
    if isinstance(reply, float):
        return "double"
    if isinstance(reply, list):
        return ("array", len(reply), [normalize_random(item) for item in reply])
    return reply


def normalize_complete_zscan(reply: Any) -> Any:
    """One ZSCAN call that must have visited every member: its cursor and its pairs."""
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):
        return ("zscan", reply[0], normalize_pairs_unordered(reply[1]))
    return reply


def normalize_any_page(reply: Any) -> Any:
    """A page from an arbitrary cursor: only its shape and its errors are comparable."""
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):
        return ("page", reply[0].isdigit(), len(reply[1]) % 2)
    return reply


# Hypothesis picks a case uniformly and most sequences are short, so the cases that fill
# sorted sets are listed several times: the reads, ranges and algebra then mostly meet data.
many_valid_pairs = st.lists(st.tuples(valid_score, member), min_size=2, max_size=8).map(
    lambda ps: [part for pair in ps for part in pair]
)
# Equal scores: what lexicographic ranges are meant for.
same_score_members = st.lists(member, min_size=2, max_size=8).map(
    lambda ms: [part for m in ms for part in (b"0", m)]
)
_FILL = [
    CommandCase("zadd", cmd(b"ZADD", key, many_valid_pairs)),
    CommandCase("zadd", cmd(b"ZADD", key, same_score_members)),
    CommandCase("zadd", cmd(b"ZADD", st.sampled_from([b"{t}a", b"{t}b"]), many_valid_pairs)),
]

CASES = [
    *(_FILL * 4),
    CommandCase("zadd", cmd(b"ZADD", key, zadd_flags, pairs)),
    CommandCase("zadd", cmd(b"ZADD", key, valid_pairs)),
    CommandCase("zadd", cmd(b"ZADD", key, zadd_flags, valid_score, member)),
    CommandCase("zadd", cmd(b"ZADD", key, zadd_flags)),
    CommandCase("zincrby", cmd(b"ZINCRBY", key, score, member)),
    CommandCase("zincrby", cmd(b"ZINCRBY", key, zadd_flag, member)),
    CommandCase("zrem", cmd(b"ZREM", key, members)),
    CommandCase("zcard", cmd(b"ZCARD", key)),
    CommandCase("zscore", cmd(b"ZSCORE", key, member)),
    CommandCase("zmscore", cmd(b"ZMSCORE", key, members)),
    CommandCase("zrank", cmd(b"ZRANK", key, member)),
    CommandCase("zrevrank", cmd(b"ZREVRANK", key, member)),
    CommandCase("zcount", cmd(b"ZCOUNT", key, score_bound, score_bound)),
    CommandCase("zlexcount", cmd(b"ZLEXCOUNT", key, lex_bound, lex_bound)),
    CommandCase("zrange", cmd(b"ZRANGE", key, any_range, range_options)),
    CommandCase("zrange", cmd(b"ZRANGE", key, b"0", b"-1", b"WITHSCORES")),
    CommandCase("zrangestore", cmd(b"ZRANGESTORE", key, key, any_range, range_options)),
    CommandCase("zrevrange", cmd(b"ZREVRANGE", key, rank_range, range_options)),
    CommandCase(
        "zrangebyscore", cmd(b"ZRANGEBYSCORE", key, score_bound, score_bound, range_options)
    ),
    CommandCase(
        "zrevrangebyscore", cmd(b"ZREVRANGEBYSCORE", key, score_bound, score_bound, range_options)
    ),
    CommandCase("zrangebylex", cmd(b"ZRANGEBYLEX", key, lex_bound, lex_bound, range_options)),
    CommandCase("zrevrangebylex", cmd(b"ZREVRANGEBYLEX", key, lex_bound, lex_bound, range_options)),
    CommandCase("zremrangebyrank", cmd(b"ZREMRANGEBYRANK", key, index_text, index_text)),
    CommandCase("zremrangebyscore", cmd(b"ZREMRANGEBYSCORE", key, score_bound, score_bound)),
    CommandCase("zremrangebylex", cmd(b"ZREMRANGEBYLEX", key, lex_bound, lex_bound)),
    CommandCase("zpopmin", cmd(b"ZPOPMIN", key)),
    CommandCase("zpopmin", cmd(b"ZPOPMIN", key, pop_count)),
    CommandCase("zpopmax", cmd(b"ZPOPMAX", key, st.one_of(st.just([]), pop_count))),
    CommandCase("zpopmax", cmd(b"ZPOPMAX", key, b"1", b"2")),
    CommandCase("zmpop", cmd(b"ZMPOP", numkeys_and_keys, mpop_tail)),
    CommandCase("bzpopmin", cmd(b"BZPOPMIN", keys, bad_timeout)),
    CommandCase("bzpopmax", cmd(b"BZPOPMAX", keys, bad_timeout)),
    # BZMPOP reads numkeys, MIN/MAX and COUNT before the timeout: a bad timeout, or a
    # bad one of those with any timeout, is refused without blocking.
    CommandCase("bzmpop", cmd(b"BZMPOP", bad_timeout, numkeys_and_keys, mpop_tail)),
    CommandCase(
        "bzmpop",
        cmd(
            b"BZMPOP",
            st.sampled_from([b"0", b"0.1"]),
            st.one_of(
                cmd(st.sampled_from([b"0", b"-1", b"x"]), keys, where),
                cmd(b"1", key, st.sampled_from([[b"LEFT"], [b"MIN", b"COUNT", b"0"]])),
            ),
        ),
    ),
    CommandCase("zrandmember", cmd(b"ZRANDMEMBER", key), normalize_random),
    CommandCase(
        "zrandmember",
        cmd(b"ZRANDMEMBER", key, rand_count, st.sampled_from([[], [b"WITHSCORES"], [b"x"]])),
        normalize_random,
    ),
    CommandCase("zrandmember", cmd(b"ZRANDMEMBER", key, huge_count, b"WITHSCORES")),
    CommandCase("zrandmember", cmd(b"ZRANDMEMBER", key, b"1", b"WITHSCORES", b"x")),
    CommandCase("zunion", cmd(b"ZUNION", numkeys_and_keys, algebra_options)),
    CommandCase("zinter", cmd(b"ZINTER", numkeys_and_keys, algebra_options)),
    CommandCase("zdiff", cmd(b"ZDIFF", numkeys_and_keys, algebra_options)),
    CommandCase("zintercard", cmd(b"ZINTERCARD", numkeys_and_keys, algebra_options)),
    CommandCase("zunionstore", cmd(b"ZUNIONSTORE", key, numkeys_and_keys, algebra_options)),
    CommandCase("zinterstore", cmd(b"ZINTERSTORE", key, numkeys_and_keys, algebra_options)),
    CommandCase("zdiffstore", cmd(b"ZDIFFSTORE", key, numkeys_and_keys, algebra_options)),
    CommandCase(
        "zscan",
        cmd(
            b"ZSCAN",
            key,
            b"0",
            st.one_of(st.just([]), cmd(b"MATCH", pattern)),
            b"COUNT",
            st.sampled_from([b"100", b"1000"]),
        ),
        normalize_complete_zscan,
    ),
    CommandCase(
        "zscan", cmd(b"ZSCAN", key, cursor, options(cmd(b"COUNT", count_text))), normalize_any_page
    ),
]
