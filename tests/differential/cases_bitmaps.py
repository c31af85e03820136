"""Differential cases for BITOP, BITPOS, BITFIELD, BITFIELD_RO and SUBSTR."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.differential.common import CommandCase, cmd, index_text, key, keys, options

bit_operation = st.sampled_from([b"AND", b"or", b"XOR", b"NOT", b"nand"])
bit_unit = st.sampled_from([[], [b"BYTE"], [b"BIT"], [b"bit"], [b"WORD"]])
position = st.one_of(st.integers(-30, 30).map(lambda n: b"%d" % n), st.sampled_from([b"x", b"1.5"]))
field_type = st.sampled_from(
    [
        b"u1",
        b"u3",
        b"u8",
        b"i8",
        b"i5",
        b"u16",
        b"i16",
        b"i32",
        b"u63",
        b"i64",
        b"u64",
        b"i0",
        b"U8",
        b"x8",
        b"i65",
        b"u",
    ]
)
field_offset = st.one_of(
    st.integers(0, 40).map(lambda n: b"%d" % n),
    st.integers(0, 5).map(lambda n: b"#%d" % n),
    st.sampled_from([b"-1", b"#-1", b"x", b"#", b"4294967296"]),
)
field_number = st.one_of(
    st.integers(-300, 300).map(lambda n: b"%d" % n),
    st.sampled_from([b"9223372036854775807", b"-9223372036854775808", b"4294967296", b"x", b"1.0"]),
)
overflow = cmd(b"OVERFLOW", st.sampled_from([b"WRAP", b"sat", b"FAIL", b"bogus"]))
get_op = cmd(b"GET", field_type, field_offset)
write_op = st.one_of(
    cmd(b"SET", field_type, field_offset, field_number),
    cmd(b"INCRBY", field_type, field_offset, field_number),
)
bitfield_ops = options(get_op, write_op, overflow, [b"GET"], [b"nosuch"], [b"OVERFLOW"])

CASES = [
    CommandCase("bitop", cmd(b"BITOP", bit_operation, key, keys)),
    CommandCase("bitpos", cmd(b"BITPOS", key, st.sampled_from([b"0", b"1", b"2", b"x"]))),
    CommandCase(
        "bitpos",
        cmd(b"BITPOS", key, st.sampled_from([b"0", b"1"]), position, position, bit_unit),
    ),
    CommandCase("bitpos", cmd(b"BITPOS", key, st.sampled_from([b"0", b"1"]), position)),
    CommandCase("bitfield", cmd(b"BITFIELD", key, bitfield_ops)),
    CommandCase("bitfield", cmd(b"BITFIELD", key, overflow, write_op, write_op)),
    CommandCase("bitfield_ro", cmd(b"BITFIELD_RO", key, options(get_op, write_op, [b"GET"]))),
    CommandCase("substr", cmd(b"SUBSTR", key, index_text, index_text)),
]
