"""Differential cases for the set commands.

Replies in no defined order (SMEMBERS, SINTER, ...) are compared sorted. SPOP and
SRANDMEMBER choose at random, so only the shape and size of their replies are compared,
and after SPOP the harness copies the engine's keys into redis (`resync_keys`). SSCAN is
compared by a complete iteration: with a few members and a COUNT of at least 100, one
call from cursor 0 returns every member on both sides; pages from other cursors are
compared for their errors only (tests/unit/test_sets.py iterates page by page).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.differential.common import CommandCase, cmd, count_text, key, keys, options
from tests.differential.harness import normalize_unordered

# Integers (an intset while all members are), near-integers that are not ("-0", "01"),
# strings and a long one.
member = st.sampled_from(
    [
        b"1",
        b"2",
        b"-3",
        b"10",
        b"9223372036854775807",
        b"-0",
        b"01",
        b"a",
        b"b",
        b"c",
        b"",
        b"x" * 70,
    ]
)
members = st.lists(member, min_size=1, max_size=5)
signed_count = st.one_of(
    count_text,
    # Not -9223372036854775807: Redis would draw that many members.
    st.sampled_from([b"-9223372036854775808", b"9223372036854775807", b"-0", b"1.0"]),
)
numkeys_and_keys = st.one_of(
    keys.map(lambda ks: [b"%d" % len(ks), *ks]),
    st.tuples(st.sampled_from([b"0", b"-1", b"x", b"-0", b"3", b"9"]), keys).map(
        lambda nk: [nk[0], *nk[1]]
    ),
)
limit_option = cmd(
    st.sampled_from([b"LIMIT", b"limit"]),
    st.sampled_from([b"0", b"1", b"2", b"-1", b"x"]),
)
pattern = st.sampled_from([b"*", b"1*", b"[ab]", b"?", b"x*", b"*0*", b"\\", b""])
cursor = st.sampled_from([b"0", b"1", b"17", b"-1", b"", b"x", b" 0", b"18446744073709551616"])
any_scan_options = options(
    cmd(b"MATCH", pattern),
    cmd(b"COUNT", st.sampled_from([b"1", b"2", b"0", b"-1", b"x"])),
    [b"NOPE"],
    [b"COUNT"],
)


def normalize_random(reply: Any) -> Any:
    """A random draw: None, a member, or an array of a given length (errors unchanged)."""
    if isinstance(reply, bytes):
        return "member"
    if isinstance(reply, list):
        return ("array", len(reply), all(isinstance(item, bytes) for item in reply))
    return reply


def normalize_distinct(reply: Any) -> Any:
    """A draw without repetitions (SPOP count, SRANDMEMBER with a positive count)."""
    if isinstance(reply, list):
        return (normalize_random(reply), len(set(reply)) == len(reply))
    return normalize_random(reply)


def normalize_complete_sscan(reply: Any) -> Any:
    """One SSCAN call that must have visited every member: its cursor and its members."""
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):
        return ("sscan", reply[0], normalize_unordered(reply[1]))
    return reply


def normalize_any_page(reply: Any) -> Any:
    """A page from an arbitrary cursor: only its shape and its errors are comparable."""
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):
        return ("page", reply[0].isdigit(), all(isinstance(m, bytes) for m in reply[1]))
    return reply


# Hypothesis picks a case uniformly and most sequences are short, so the cases that fill
# sets are listed several times: the reads and the algebra then mostly meet data.
_FILL = [
    CommandCase("sadd", cmd(b"SADD", key, st.lists(member, min_size=2, max_size=8))),
    CommandCase("sadd", cmd(b"SADD", st.sampled_from([b"{t}a", b"{t}b"]), members)),
]

CASES = [
    *(_FILL * 4),
    CommandCase("sadd", cmd(b"SADD", key, members)),
    CommandCase("srem", cmd(b"SREM", key, members)),
    CommandCase("smembers", cmd(b"SMEMBERS", key), normalize_unordered),
    CommandCase("sismember", cmd(b"SISMEMBER", key, member)),
    CommandCase("smismember", cmd(b"SMISMEMBER", key, members)),
    CommandCase("scard", cmd(b"SCARD", key)),
    CommandCase("spop", cmd(b"SPOP", key), normalize_random, resync_keys=True),
    CommandCase("spop", cmd(b"SPOP", key, signed_count), normalize_distinct, resync_keys=True),
    CommandCase("spop", cmd(b"SPOP", key, b"1", b"2")),
    CommandCase("srandmember", cmd(b"SRANDMEMBER", key), normalize_random),
    CommandCase(
        "srandmember",
        cmd(b"SRANDMEMBER", key, st.integers(0, 12).map(lambda n: b"%d" % n)),
        normalize_distinct,
    ),
    CommandCase("srandmember", cmd(b"SRANDMEMBER", key, signed_count), normalize_random),
    CommandCase("srandmember", cmd(b"SRANDMEMBER", key, b"1", b"2")),
    CommandCase("smove", cmd(b"SMOVE", key, key, member)),
    CommandCase("sinter", cmd(b"SINTER", keys), normalize_unordered),
    CommandCase("sinterstore", cmd(b"SINTERSTORE", key, keys)),
    CommandCase(
        "sintercard",
        cmd(b"SINTERCARD", numkeys_and_keys, st.one_of(st.just([]), limit_option)),
    ),
    CommandCase("sintercard", cmd(b"SINTERCARD", b"1", key, limit_option, limit_option)),
    CommandCase("sintercard", cmd(b"SINTERCARD", b"1", key, st.sampled_from([[b"LIMIT"], [b"X"]]))),
    CommandCase("sunion", cmd(b"SUNION", keys), normalize_unordered),
    CommandCase("sunionstore", cmd(b"SUNIONSTORE", key, keys)),
    CommandCase("sdiff", cmd(b"SDIFF", keys), normalize_unordered),
    CommandCase("sdiffstore", cmd(b"SDIFFSTORE", key, keys)),
    CommandCase(
        "sscan",
        cmd(
            b"SSCAN",
            key,
            b"0",
            st.one_of(st.just([]), cmd(b"MATCH", pattern)),
            b"COUNT",
            st.sampled_from([b"100", b"1000"]),
        ),
        normalize_complete_sscan,
    ),
    CommandCase("sscan", cmd(b"SSCAN", key, cursor, any_scan_options), normalize_any_page),
]
