"""Differential cases for the generic key-space commands.

Two things cannot be compared reply for reply and are handled here:

- SCAN: cursors are implementation-specific, so the comparable form is a complete
  iteration. With at most a handful of keys (common.KEYS) and a COUNT of at least 10, one
  call from cursor 0 visits everything on both sides (Redis keeps scanning buckets until
  the cursor wraps to 0 or COUNT keys are collected), so the case `scan` compares that
  call's cursor and key set exactly. Pages from other cursors or smaller COUNTs are only
  compared for their errors (`scan` with `any_page`); tests/unit/test_keys.py iterates page
  by page against Redis with many keys.
- Clocks: the engine and redis read the wall clock independently, so relative expiries
  differ by a fraction of a millisecond. GT/LT are therefore generated with absolute times
  only (a repeated relative EXPIRE k 100 GT would be decided by which side saw the clock
  tick), and remaining times are compared with a tolerance.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from proto.rdb import values as rdb
from tests.differential.common import (
    CommandCase,
    cmd,
    count_text,
    key,
    keys,
    options,
    small_text,
)
from tests.differential.harness import close_to, normalize_unordered

# EXPIRE/PEXPIRE: relative times; *AT: absolute ones, far from now on either side.
seconds = st.sampled_from(
    [
        b"100",
        b"3000",
        b"0",
        b"-1",
        b"x",
        b"1.5",
        b"",
        b"9223372036854775",  # converts to ms, but overflows once now is added
        b"9223372036854776",  # overflows the conversion to ms
        b"-9223372036854775",
        b"-9223372036854776",
    ]
)
milliseconds = st.sampled_from(
    [b"100000", b"5000000", b"0", b"-5", b"x", b"9223372036854775807", b"-9223372036854775808"]
)
unix_seconds = st.sampled_from(
    [b"4102444800", b"4102444900", b"1000", b"0", b"-1", b"9223372036854775", b"9223372036854776"]
)
unix_ms = st.sampled_from(
    [b"4102444800000", b"4102444900000", b"1000", b"0", b"9223372036854775807", b"y"]
)
# Errors (incompatible or unknown flags) are decided before the clock is read.
flag_errors = st.sampled_from(
    [[b"NX", b"XX"], [b"nx", b"GT"], [b"LT", b"NX"], [b"GT", b"LT"], [b"FOO"], [b"XX", b"bar"]]
)
relative_flags = st.one_of(options([b"NX"], [b"XX"], [b"nx"]), flag_errors)
absolute_flags = st.one_of(options([b"NX"], [b"XX"], [b"GT"], [b"LT"], [b"gt"]), flag_errors)

copy_database = st.sampled_from([b"0", b"1", b"15", b"16", b"-1", b"x", b"99999999999", b"00"])
copy_options = options([b"REPLACE"], [b"replace"], cmd(b"DB", copy_database), [b"BAD"])
copy_trailing_db = st.sampled_from([[], [b"DB"], [b"REPLACE", b"DB"]])

# Glob patterns over the key names k1 k2 k3 {t}a {t}b: the named ones hit Redis's edge
# cases (unterminated sets, escapes, ranges given backwards, '-' and ']' in odd places).
pattern = st.one_of(
    st.sampled_from(
        [
            b"*",
            b"**",
            b"",
            b"k*",
            b"k?",
            b"k[12]",
            b"k[^1]",
            b"k[3-1]",
            b"{t}*",
            b"\\{t}?",
            b"*a",
            b"*[ab]",
            b"[",
            b"[^",
            b"k[1-",
            b"k[",
            b"[]k]*",
            b"[k-]?",
            b"k\\",
            b"*\\",
            b"?*?",
            b"{t}[a-]",
            b"[\\k]?",
        ]
    ),
    st.lists(st.sampled_from(list(b"k123{}tab*?[]^-\\")), max_size=6).map(bytes),
)
type_filter = st.sampled_from([b"string", b"STRING", b"hash", b"list", b"set", b"zset", b"none"])
big_count = st.sampled_from([b"10", b"100", b"1000"])
complete_scan_options = options(cmd(b"MATCH", pattern), cmd(b"TYPE", type_filter))
cursor = st.sampled_from(
    [b"0", b"1", b"7", b"-1", b"", b"+0", b"x", b" 0", b"0x", b"18446744073709551616", b"1\x00z"]
)
any_scan_options = options(
    cmd(b"MATCH", pattern),
    cmd(b"TYPE", type_filter),
    cmd(b"COUNT", st.sampled_from([b"1", b"2", b"0", b"-1", b"x", b"10"])),
    [b"NOPE"],
    [b"COUNT"],
    [b"MATCH"],
)

# Values whose OBJECT ENCODING differs: int / embstr (<= 44 bytes) / raw. ("-0" is not an
# integer to Redis: embstr, and INCR refuses it.)
encoded_value = st.sampled_from(
    [
        b"1",
        b"-1",
        b"0",
        b"-0",
        b"01",
        b"+1",
        b" 1",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"9223372036854775808",
        b"12345678901234567890",
        b"1.5",
        b"",
        b"x" * 44,
        b"x" * 45,
        b"7" * 44,
    ]
)


def normalize_complete_scan(reply: Any) -> Any:
    """One SCAN call that must have visited everything: cursor 0 and the key set."""
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):
        return ("scan", reply[0], normalize_unordered(reply[1]))
    return reply


def normalize_any_page(reply: Any) -> Any:
    """A page from an arbitrary cursor: only its shape and its errors are comparable."""
    if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], list):
        return ("page", reply[0].isdigit(), all(isinstance(k, bytes) for k in reply[1]))
    return reply


def normalize_encoding(reply: Any) -> Any:
    """OBJECT ENCODING with "int" and "embstr" folded together: INCRBYFLOAT stores an
    unencoded string in Redis ("embstr" even for "3"), which the engine's plain bytes
    cannot tell from a SET "3" ("int"). tests/unit/test_keys.py checks the int/embstr
    choice exactly, against Redis, for values stored by SET."""
    return b"int|embstr" if reply in (b"int", b"embstr") else reply


def normalize_count(reply: Any) -> Any:
    """OBJECT IDLETIME (seconds: the two clocks differ) and REFCOUNT (a string INCRBYFLOAT
    made is unshared in Redis, as `normalize_encoding` says): an integer, nil or the same
    error. tests/differential/test_object_differential.py compares them exactly."""
    return "count" if type(reply) is int else reply


def normalize_random_key(reply: Any) -> Any:
    """Both sides hold the same keys; which one is drawn is random."""
    return ("a key",) if isinstance(reply, bytes) else reply


def normalize_memory_usage(reply: Any) -> Any:
    """MEMORY USAGE counts bytes its own way (the engine's estimate, the same on every
    replica, not jemalloc's): an integer, nil for a missing key, or the same error."""
    return "bytes" if type(reply) is int else reply


def normalize_dump(reply: Any) -> Any:
    """DUMP payloads compare byte for byte, except a hashtable set or hash: Redis lists
    its members in its salted hash table's order, so those compare by content."""
    if isinstance(reply, bytes) and reply[:1] in (b"\x02", b"\x04"):
        decoded = rdb.read_payload(reply)
        return ("unordered", decoded.rdb_type, sorted(decoded.items))
    return reply


def _payloads() -> list[bytes]:
    """RESTORE payloads: one of each type and encoding, and damaged ones (each kind of
    damage Redis tells apart: the footer, the CRC, the data behind a good CRC)."""
    good = [
        rdb.encode_string_value(b"hello"),
        rdb.encode_string_value(b"12"),
        rdb.encode_string_value(b"ab" * 40),
        rdb.encode_list_value([b"a", b"1", b"x" * 70]),
        rdb.encode_set_value([b"3", b"-1", b"70000"], as_intset=True),
        rdb.encode_set_value([b"a", b"b"], as_intset=False),
        rdb.encode_hash_value([(b"f", b"v"), (b"g", b"1")], as_listpack=True),
        rdb.encode_hash_value([(b"f", b"v")], as_listpack=False),
        rdb.encode_zset_listpack([(b"a", b"1"), (b"b", b"2.5")]),
        rdb.encode_zset_skiplist([(b"a", -1.0), (b"b", 2.5)]),
    ]
    payloads = [rdb.wrap_payload(body) for body in good]
    hello = payloads[0]
    payloads += [
        b"",
        b"\x00\x05hello",
        hello[:-1] + bytes([hello[-1] ^ 1]),  # CRC wrong
        rdb.wrap_payload(good[0], version=11),  # RDB version newer than 7.0's
        rdb.wrap_payload(good[0], version=9),
        rdb.wrap_payload(b"\x00\x09hello"),  # string shorter than announced
        rdb.wrap_payload(b"\x0f\x00"),  # a stream type
        rdb.wrap_payload(b"\x08\x00"),  # no such type
        rdb.wrap_payload(b"\x02\x02\x01a\x01a"),  # duplicate set member
        rdb.wrap_payload(b"\x03\x01\x01a\xfd"),  # NaN score
        rdb.wrap_payload(b"\x01\x00"),  # empty list
    ]
    return payloads


restore_ttl = st.sampled_from([b"0", b"100000", b"-1", b"x", b"4102444800000", b"1000"])
restore_options = options(
    [b"REPLACE"],
    [b"absttl"],
    cmd(b"IDLETIME", st.sampled_from([b"10", b"-1", b"x", b"0"])),
    cmd(b"FREQ", st.sampled_from([b"5", b"256", b"-1", b"x", b"255"])),
    [b"BAD"],
    [b"IDLETIME"],
)

# SORT: numeric sorts break ties on the elements' bytes, so they compare exactly, STORE
# included. ALPHA and BY nosort leave ties to the container's own order (a hashtable
# set's is Redis's hash table's): those compare as unordered and never STORE or LIMIT.
sort_limit = cmd(b"LIMIT", st.sampled_from([b"0", b"1", b"-1", b"5", b"x"]), count_text)
sort_order = st.sampled_from([[b"ASC"], [b"DESC"], [b"desc"]])
numeric_sort_options = options(sort_order, sort_limit, cmd(b"STORE", key), [b"GET", b"#"])
unordered_sort_options = options(sort_order, [b"GET", b"#"], [b"BY", b"nosort"], [b"ALPHA"])

seconds_left = close_to(2)
milliseconds_left = close_to(2000)

CASES = [
    # Values to act on: strings of each encoding, raw strings made by APPEND.
    CommandCase("set", cmd(b"SET", key, encoded_value)),
    CommandCase("append", cmd(b"APPEND", key, small_text)),
    CommandCase("set", cmd(b"SET", key, small_text, b"PX", b"100000")),
    CommandCase("del", cmd(b"DEL", keys)),
    CommandCase("unlink", cmd(b"UNLINK", keys)),
    CommandCase("exists", cmd(b"EXISTS", keys)),
    CommandCase("touch", cmd(b"TOUCH", keys)),
    CommandCase("type", cmd(b"TYPE", key)),
    CommandCase("expire", cmd(b"EXPIRE", key, seconds, relative_flags)),
    CommandCase("pexpire", cmd(b"PEXPIRE", key, milliseconds, relative_flags)),
    CommandCase("expireat", cmd(b"EXPIREAT", key, unix_seconds, absolute_flags)),
    CommandCase("pexpireat", cmd(b"PEXPIREAT", key, unix_ms, absolute_flags)),
    CommandCase("ttl", cmd(b"TTL", key), seconds_left),
    CommandCase("pttl", cmd(b"PTTL", key), milliseconds_left),
    CommandCase("expiretime", cmd(b"EXPIRETIME", key), seconds_left),
    CommandCase("pexpiretime", cmd(b"PEXPIRETIME", key), milliseconds_left),
    CommandCase("persist", cmd(b"PERSIST", key)),
    CommandCase("rename", cmd(b"RENAME", key, key)),
    CommandCase("renamenx", cmd(b"RENAMENX", key, key)),
    CommandCase("copy", cmd(b"COPY", key, key, copy_options, copy_trailing_db)),
    CommandCase("move", cmd(b"MOVE", key, copy_database)),
    CommandCase("dump", cmd(b"DUMP", key), normalize_dump),
    CommandCase(
        "restore",
        cmd(b"RESTORE", key, restore_ttl, st.sampled_from(_payloads()), restore_options),
    ),
    CommandCase("sort", cmd(b"SORT", key, numeric_sort_options)),
    CommandCase("sort_ro", cmd(b"SORT_RO", key, numeric_sort_options)),
    CommandCase("sort", cmd(b"SORT", key, unordered_sort_options), normalize_unordered),
    CommandCase("sort_ro", cmd(b"SORT_RO", key, unordered_sort_options), normalize_unordered),
    CommandCase("randomkey", st.just([b"RANDOMKEY"]), normalize_random_key),
    CommandCase("keys", cmd(b"KEYS", pattern), normalize_unordered),
    CommandCase(
        "scan",
        cmd(b"SCAN", b"0", complete_scan_options, st.one_of(st.just([]), cmd(b"COUNT", big_count))),
        normalize_complete_scan,
    ),
    CommandCase("scan", cmd(b"SCAN", cursor, any_scan_options), normalize_any_page),
    CommandCase("dbsize", st.just([b"DBSIZE"])),
    CommandCase(
        "flushdb",
        cmd(b"FLUSHDB", st.sampled_from([[], [b"ASYNC"], [b"sync"], [b"LATER"], [b"SYNC", b"X"]])),
    ),
    CommandCase(
        "flushall",
        cmd(b"FLUSHALL", st.sampled_from([[], [b"async"], [b"SYNC"], [b"NOW"]])),
    ),
    CommandCase("object|encoding", cmd(b"OBJECT", b"ENCODING", key), normalize_encoding),
    CommandCase("object|encoding", cmd(b"object", b"encoding", key, key)),
    CommandCase("object|help", cmd(b"OBJECT", st.sampled_from([b"HELP", b"help"]))),
    CommandCase("object|freq", cmd(b"OBJECT", b"FREQ", key)),
    CommandCase("object|idletime", cmd(b"OBJECT", b"IDLETIME", key), normalize_count),
    CommandCase("object|refcount", cmd(b"OBJECT", b"refcount", key), normalize_count),
    CommandCase(
        "object|help",
        cmd(b"OBJECT", st.sampled_from([[b"HELP", b"x"], [b"NOPE"], [b"NOPE", b"k1"], []])),
    ),
    CommandCase(
        "memory|usage",
        cmd(
            b"MEMORY",
            b"USAGE",
            key,
            st.sampled_from(
                [
                    [],
                    [b"SAMPLES", b"0"],
                    [b"samples", b"5"],
                    [b"SAMPLES", b"-1"],
                    [b"SAMPLES", b"x"],
                    [b"SAMPLES"],
                    [b"foo"],
                    [b"SAMPLES", b"1", b"SAMPLES", b"2"],
                ]
            ),
        ),
        normalize_memory_usage,
    ),
]
