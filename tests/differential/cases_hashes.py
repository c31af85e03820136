"""Differential cases for the hash commands.

Replies that cannot be compared as they are:

- HGETALL, HKEYS, HVALS: the order of fields is unspecified, so they compare unordered.
- HRANDFIELD: the fields are drawn at random, so only the reply's shape compares (null or
  bulk, the array length, pairs in RESP3); tests/unit/test_hashes.py checks the fields.
- HSCAN: cursors are implementation-specific. Hashes here have at most a handful of fields
  (`field`), so one call from cursor 0 with a COUNT of at least 10 visits every field on
  both sides, for either encoding: that call's cursor and pairs compare exactly. Full
  page-by-page iterations of big hashes run against Redis in tests/unit/test_hashes.py.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.differential.common import (
    CommandCase,
    cmd,
    float_text,
    integer_text,
    key,
    options,
    small_text,
    value,
)
from tests.differential.harness import normalize_pairs_unordered, normalize_unordered

# Few fields so that commands meet existing ones; a 70-byte field or value (small_text has
# one too) turns a hash into a hashtable.
field = st.sampled_from([b"f1", b"f2", b"f3", b"", b"x" * 70, b"n"])
fields = st.lists(field, min_size=1, max_size=4)
pairs = st.lists(st.tuples(field, value), min_size=1, max_size=4).map(
    lambda ps: [part for pair in ps for part in pair]
)
# Field values that HINCRBY/HINCRBYFLOAT may or may not accept.
counter_value = st.sampled_from(
    [b"0", b"7", b"-3", b"1.5", b"07", b" 1", b"5e3", b"9223372036854775807", b"abc", b"inf"]
)
random_count = st.one_of(
    st.integers(-8, 8).map(lambda n: b"%d" % n),
    st.sampled_from([b"x", b"1.0", b"-9223372036854775808", b"9223372036854775807"]),
)
random_options = st.sampled_from(
    [[], [b"WITHVALUES"], [b"withvalues"], [b"WITHVALUE"], [b"a", b"b"]]
)
# Huge negative counts ask for that many draws, which Redis 7.0 would really attempt: they
# only appear with WITHVALUES, whose range check refuses them first.
huge_count = st.sampled_from(
    [
        b"-9223372036854775807",
        b"-4611686018427387904",
        b"4611686018427387904",
        b"4611686018427387903",
    ]
)
pattern = st.sampled_from([b"*", b"f*", b"f[12]", b"?", b"", b"x*", b"*[^1]", b"n"])
complete_count = st.sampled_from([b"10", b"100"])
bad_scan_options = st.sampled_from(
    [[b"COUNT", b"0"], [b"COUNT", b"-1"], [b"COUNT", b"x"], [b"MATCH"], [b"NOVALUES"], [b"BAD"]]
)


def normalize_random_fields(reply: Any) -> Any:
    """HRANDFIELD's shape: None, a bulk string, or an array of a given length whose items
    are bulk strings (or, for RESP3 WITHVALUES, 2-item arrays); errors stay as they are."""
    if isinstance(reply, bytes):
        return "bulk"
    if isinstance(reply, list):
        return ("array", len(reply), [normalize_random_fields(item) for item in reply])
    return reply


def normalize_complete_hscan(reply: Any) -> Any:
    """One HSCAN call that must have visited every field: its cursor and its pairs."""
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):
        return ("hscan", reply[0], normalize_pairs_unordered(reply[1]))
    return reply


CASES = [
    CommandCase("hset", cmd(b"HSET", key, pairs)),
    CommandCase("hset", cmd(b"HSET", key, field, value, field)),
    CommandCase("hset", cmd(b"HSET", key, field, counter_value)),
    CommandCase("hmset", cmd(b"HMSET", key, pairs)),
    CommandCase("hmset", cmd(b"HMSET", key, field, value, field)),
    CommandCase("hsetnx", cmd(b"HSETNX", key, field, value)),
    CommandCase("hget", cmd(b"HGET", key, field)),
    CommandCase("hmget", cmd(b"HMGET", key, fields)),
    CommandCase("hgetall", cmd(b"HGETALL", key), normalize_pairs_unordered),
    CommandCase("hkeys", cmd(b"HKEYS", key), normalize_unordered),
    CommandCase("hvals", cmd(b"HVALS", key), normalize_unordered),
    CommandCase("hdel", cmd(b"HDEL", key, fields)),
    CommandCase("hlen", cmd(b"HLEN", key)),
    CommandCase("hexists", cmd(b"HEXISTS", key, field)),
    CommandCase("hstrlen", cmd(b"HSTRLEN", key, field)),
    CommandCase("hincrby", cmd(b"HINCRBY", key, field, integer_text)),
    CommandCase("hincrbyfloat", cmd(b"HINCRBYFLOAT", key, field, float_text)),
    CommandCase("hincrbyfloat", cmd(b"HINCRBYFLOAT", key, field, small_text)),
    CommandCase("hrandfield", cmd(b"HRANDFIELD", key), normalize_random_fields),
    CommandCase(
        "hrandfield",
        cmd(b"HRANDFIELD", key, random_count, random_options),
        normalize_random_fields,
    ),
    CommandCase(
        "hrandfield", cmd(b"HRANDFIELD", key, huge_count, b"WITHVALUES"), normalize_random_fields
    ),
    CommandCase(
        "hscan",
        cmd(
            b"HSCAN",
            key,
            b"0",
            options(cmd(b"MATCH", pattern)),
            st.one_of(st.just([]), cmd(b"COUNT", complete_count)),
        ),
        normalize_complete_hscan,
    ),
    CommandCase(
        "hscan",
        cmd(
            b"HSCAN",
            key,
            st.sampled_from([b"0", b"x", b" 0", b"18446744073709551616"]),
            st.one_of(st.just([]), bad_scan_options),
        ),
        normalize_complete_hscan,
    ),
]
