"""Differential cases for the string commands."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.differential.common import (
    CommandCase,
    cmd,
    count_text,
    float_text,
    index_text,
    integer_text,
    key,
    keys,
    options,
    small_text,
    value,
)

ttl_seconds = st.sampled_from([b"100", b"3000", b"0", b"-1", b"x", b"9223372036854775807"])
ttl_ms = st.sampled_from([b"100000", b"5000000", b"0", b"-5", b"x"])
future_s = st.just(b"4102444800")  # 2100-01-01
past_s = st.just(b"1000")
expire_option = st.one_of(
    cmd(b"EX", ttl_seconds),
    cmd(b"PX", ttl_ms),
    cmd(b"EXAT", st.one_of(future_s, past_s)),
    cmd(b"PXAT", st.sampled_from([b"4102444800000", b"1000"])),
)
set_options = options(
    [b"NX"],
    [b"XX"],
    [b"GET"],
    [b"KEEPTTL"],
    expire_option,
    cmd(b"IFEQ", small_text),
)
getex_options = options(expire_option, [b"PERSIST"], [b"GET"])
bit_offset = st.one_of(st.integers(0, 40).map(lambda n: b"%d" % n), st.sampled_from([b"-1", b"x"]))
bit_unit = st.sampled_from([[], [b"BYTE"], [b"BIT"], [b"WORD"]])
match_length = st.sampled_from([b"0", b"1", b"2", b"3", b"-1", b"x", b"9223372036854775808"])
lcs_options = options(
    [b"LEN"],
    [b"IDX"],
    [b"WITHMATCHLEN"],
    cmd(b"MINMATCHLEN", match_length),
    [b"MINMATCHLEN"],
    [b"len"],
    [b"NOSUCH"],
)

CASES = [
    CommandCase("get", cmd(b"GET", key)),
    # IFEQ is a Redis 8.4 option the 7.0 server here refuses; it has unit tests instead.
    CommandCase("set", cmd(b"SET", key, value, set_options).filter(lambda a: b"IFEQ" not in a)),
    CommandCase("setnx", cmd(b"SETNX", key, value)),
    CommandCase("setex", cmd(b"SETEX", key, ttl_seconds, value)),
    CommandCase("psetex", cmd(b"PSETEX", key, ttl_ms, value)),
    CommandCase("getset", cmd(b"GETSET", key, value)),
    CommandCase("getdel", cmd(b"GETDEL", key)),
    CommandCase("getex", cmd(b"GETEX", key, getex_options)),
    CommandCase("mget", cmd(b"MGET", keys)),
    CommandCase(
        "mset",
        cmd(
            b"MSET",
            st.lists(st.tuples(key, value), min_size=1, max_size=3).map(
                lambda ps: [x for p in ps for x in p]
            ),
        ),
    ),
    CommandCase("mset", cmd(b"MSET", key, value, key)),
    CommandCase(
        "msetnx",
        cmd(
            b"MSETNX",
            st.lists(st.tuples(key, value), min_size=1, max_size=3).map(
                lambda ps: [x for p in ps for x in p]
            ),
        ),
    ),
    CommandCase("incr", cmd(b"INCR", key)),
    CommandCase("decr", cmd(b"DECR", key)),
    CommandCase("incrby", cmd(b"INCRBY", key, integer_text)),
    CommandCase("decrby", cmd(b"DECRBY", key, integer_text)),
    CommandCase("incrbyfloat", cmd(b"INCRBYFLOAT", key, float_text)),
    CommandCase("append", cmd(b"APPEND", key, small_text)),
    CommandCase("strlen", cmd(b"STRLEN", key)),
    CommandCase("getrange", cmd(b"GETRANGE", key, index_text, index_text)),
    CommandCase(
        "setrange",
        cmd(b"SETRANGE", key, st.sampled_from([b"0", b"1", b"5", b"-1", b"x"]), small_text),
    ),
    CommandCase("setbit", cmd(b"SETBIT", key, bit_offset, st.sampled_from([b"0", b"1", b"2"]))),
    CommandCase("getbit", cmd(b"GETBIT", key, bit_offset)),
    CommandCase("bitcount", cmd(b"BITCOUNT", key)),
    CommandCase("bitcount", cmd(b"BITCOUNT", key, index_text, index_text, bit_unit)),
    CommandCase("bitcount", cmd(b"BITCOUNT", key, count_text)),
    CommandCase("lcs", cmd(b"LCS", key, key, lcs_options)),
]

# DELEX is a Redis 8.4 command; the 7.0 server here does not have it (unit tests cover it).
# LEASE.GET/LEASE.SET are slotraft's own (issue 27): no Redis has them (tests/unit/
# test_leases.py, tests/cluster/test_leases.py).
NOT_IN_REDIS_7 = {"delex", "lease.get", "lease.set"}
