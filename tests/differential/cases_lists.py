"""Differential cases for the list commands.

The blocking forms are generated here only with arguments that Redis refuses before it
could block (a bad timeout, LEFT/RIGHT, numkeys or COUNT): a real server would otherwise
wait on an empty list. Their serving path, a push then the blocking pop on the same key,
runs against Redis in tests/unit/test_lists.py, and WouldBlock is unit-tested there.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.differential.common import CommandCase, cmd, count_text, index_text, key, keys

# Few distinct elements so that LREM, LPOS and LINSERT find repeats; "1" is stored as an
# integer by Redis's listpack, the 70-byte one is a long string.
element = st.sampled_from([b"a", b"b", b"c", b"", b"1", b"01", b"x" * 70])
elements = st.lists(element, min_size=1, max_size=5)
side = st.sampled_from([b"LEFT", b"RIGHT", b"left", b"Right"])
bad_side = st.sampled_from([b"UP", b"", b"LEFTX"])
any_side = st.one_of(side, bad_side)
pop_count = st.one_of(
    count_text, st.sampled_from([b"-9223372036854775808", b"9223372036854775807", b"1.0"])
)
signed_index = st.one_of(
    index_text, st.sampled_from([b"x", b"9223372036854775807", b"-9223372036854775808"])
)
rank = st.one_of(
    st.integers(-4, 4).map(lambda n: b"%d" % n),
    st.sampled_from([b"x", b"-9223372036854775808", b"9223372036854775807"]),
)
lpos_options = st.lists(
    st.one_of(
        cmd(b"RANK", rank),
        cmd(st.sampled_from([b"COUNT", b"count"]), count_text),
        cmd(b"MAXLEN", count_text),
        st.sampled_from([[b"RANK"], [b"BAD", b"1"], [b"COUNT"]]),
    ),
    max_size=3,
).map(lambda groups: [part for group in groups for part in group])
numkeys_and_keys = st.one_of(
    keys.map(lambda ks: [b"%d" % len(ks), *ks]),
    st.tuples(st.sampled_from([b"0", b"-1", b"x", b"3", b"9"]), keys).map(
        lambda nk: [nk[0], *nk[1]]
    ),
)
mpop_count = st.sampled_from([[], [b"COUNT", b"1"], [b"COUNT", b"3"], [b"count", b"100"]])
bad_mpop_count = st.sampled_from(
    [[b"COUNT", b"0"], [b"COUNT", b"-1"], [b"COUNT", b"x"], [b"COUNT"], [b"COUNT", b"1", b"X"]]
)
mpop_tail = st.one_of(
    cmd(side, mpop_count),
    cmd(bad_side, mpop_count),
    cmd(side, bad_mpop_count),
    cmd(side, b"COUNT", b"1", b"COUNT", b"1"),
)
# Timeouts that Redis 7.0 refuses (negative or not a float) whatever the keys hold.
bad_timeout = st.sampled_from([b"-1", b"-2.5", b"x", b"nan", b" 1", b"1 ", b"1x"])
any_timeout = st.one_of(bad_timeout, st.sampled_from([b"0", b"0.5"]))

CASES = [
    CommandCase("lpush", cmd(b"LPUSH", key, elements)),
    CommandCase("rpush", cmd(b"RPUSH", key, elements)),
    CommandCase("lpushx", cmd(b"LPUSHX", key, elements)),
    CommandCase("rpushx", cmd(b"RPUSHX", key, elements)),
    CommandCase("lpop", cmd(b"LPOP", key)),
    CommandCase("lpop", cmd(b"LPOP", key, pop_count)),
    CommandCase("lpop", cmd(b"LPOP", key, b"1", b"2")),
    CommandCase("rpop", cmd(b"RPOP", key)),
    CommandCase("rpop", cmd(b"RPOP", key, pop_count)),
    CommandCase("llen", cmd(b"LLEN", key)),
    CommandCase("lrange", cmd(b"LRANGE", key, signed_index, signed_index)),
    CommandCase("lindex", cmd(b"LINDEX", key, signed_index)),
    CommandCase("lset", cmd(b"LSET", key, signed_index, element)),
    CommandCase("lrem", cmd(b"LREM", key, signed_index, element)),
    CommandCase("ltrim", cmd(b"LTRIM", key, signed_index, signed_index)),
    CommandCase(
        "linsert",
        cmd(
            b"LINSERT",
            key,
            st.sampled_from([b"BEFORE", b"AFTER", b"before", b"after", b"BEHIND"]),
            element,
            element,
        ),
    ),
    CommandCase("lpos", cmd(b"LPOS", key, element, lpos_options)),
    CommandCase("lmove", cmd(b"LMOVE", key, key, any_side, any_side)),
    CommandCase("rpoplpush", cmd(b"RPOPLPUSH", key, key)),
    CommandCase("lmpop", cmd(b"LMPOP", numkeys_and_keys, mpop_tail)),
    CommandCase("lmpop", cmd(b"LMPOP", b"1", key)),
    # Blocking forms: only what Redis refuses before blocking.
    CommandCase("blpop", cmd(b"BLPOP", keys, bad_timeout)),
    CommandCase("brpop", cmd(b"BRPOP", keys, bad_timeout)),
    CommandCase("brpoplpush", cmd(b"BRPOPLPUSH", key, key, bad_timeout)),
    CommandCase("blmove", cmd(b"BLMOVE", key, key, side, side, bad_timeout)),
    CommandCase("blmove", cmd(b"BLMOVE", key, key, bad_side, any_side, any_timeout)),
    CommandCase("blmove", cmd(b"BLMOVE", key, key, side, bad_side, any_timeout)),
    CommandCase("blmpop", cmd(b"BLMPOP", bad_timeout, numkeys_and_keys, mpop_tail)),
    CommandCase(
        "blmpop",
        cmd(
            b"BLMPOP",
            any_timeout,
            st.one_of(
                keys.map(lambda ks: [b"%d" % len(ks), *ks, b"UP"]),
                keys.map(lambda ks: [b"%d" % len(ks), *ks, b"LEFT", b"COUNT", b"0"]),
                keys.map(lambda ks: [b"0", *ks, b"LEFT"]),
                keys.map(lambda ks: [b"%d" % (len(ks) + 2), *ks, b"LEFT"]),
            ),
        ),
    ),
]
