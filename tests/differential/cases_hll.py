"""Differential cases for the HyperLogLog commands: sequences that mix PFADD, PFCOUNT,
PFMERGE and PFDEBUG with GET (the representation byte for byte) and SET of crafted
payloads, valid and corrupted."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.differential.common import CommandCase, cmd, key, keys

element = st.one_of(
    st.integers(0, 3000).map(lambda n: b"e%d" % n),
    st.binary(max_size=20),
)
elements = st.lists(element, max_size=30)


def _sparse_op() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.integers(0, 63).map(lambda n: bytes([n])),  # ZERO
        st.integers(0, 0x3FFF).map(lambda n: bytes([0x40 | n >> 8, n & 0xFF])),  # XZERO
        st.integers(0x80, 0xFF).map(lambda n: bytes([n])),  # VAL
    )


def _header(encoding: int, card: bytes) -> bytes:
    return b"HYLL" + bytes([encoding, 0, 0, 0]) + card


card = st.sampled_from([bytes(8), bytes(7) + b"\x80", b"\x05" + bytes(7)])
# Sparse payloads: registers adding up to 16384 (valid), or random opcodes (corrupted).
valid_sparse = st.builds(
    lambda c, n: (
        _header(1, c)
        + bytes([0x40 | (n - 1) >> 8, (n - 1) & 0xFF])
        + b"\x80"
        + (bytes([0x40 | (16383 - n - 1) >> 8, (16383 - n - 1) & 0xFF]) if n < 16383 else b"")
    ),
    card,
    st.integers(1, 16383),
)
random_sparse = st.builds(
    lambda c, ops: _header(1, c) + b"".join(ops), card, st.lists(_sparse_op(), max_size=6)
)
dense = st.builds(
    lambda c, fill: _header(0, c) + bytes([fill]) * 12288,
    card,
    st.sampled_from([0, 0x41, 0xFF]),
)
broken = st.sampled_from(
    [b"HYLL", b"HYLL\x02" + bytes(11), b"HYLX\x01" + bytes(13), _header(0, bytes(8)) + b"\x00"]
)
payload = st.one_of(valid_sparse, random_sparse, dense, broken)

# PFSELFTEST takes Redis about a second: tests/differential/test_hll_differential.py has it.
COVERED_ELSEWHERE = {"pfselftest"}

CASES = [
    CommandCase("pfadd", cmd(b"PFADD", key, elements)),
    CommandCase("pfcount", cmd(b"PFCOUNT", keys)),
    CommandCase("pfmerge", cmd(b"PFMERGE", key, keys)),
    CommandCase("pfmerge", cmd(b"PFMERGE", key)),
    CommandCase(
        "pfdebug",
        cmd(
            b"PFDEBUG",
            st.sampled_from([b"ENCODING", b"decode", b"TODENSE", b"GETREG", b"nosuch"]),
            key,
        ),
    ),
    CommandCase("get", cmd(b"GET", key)),
    CommandCase("set", cmd(b"SET", key, payload)),
]
