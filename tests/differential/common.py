"""Building blocks for the command strategies of every data type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

# Few keys, so that commands collide on keys and hit WRONGTYPE and existing values.
KEYS = [b"k1", b"k2", b"k3", b"{t}a", b"{t}b"]
key = st.sampled_from(KEYS)
keys = st.lists(key, min_size=1, max_size=4)
small_text = st.sampled_from([b"", b"a", b"b", b"c", b"hello", b"foo bar", b"\x00\xff", b"x" * 70])
integer_text = st.one_of(
    st.integers(-5, 20).map(lambda n: b"%d" % n),
    st.sampled_from([b"9223372036854775807", b"-9223372036854775808", b"01", b"+1", b" 1", b"1.5"]),
)
float_text = st.one_of(
    st.sampled_from(
        [
            b"0",
            b"1.5",
            b"-2.25",
            b"1e3",
            b"inf",
            b"-inf",
            b"+inf",
            b"nan",
            b"0x10",
            b"3.0e-2",
            b"10.5",
            b"0.1",
            b"abc",
            b" 1",
            b"1 ",
        ]
    ),
    st.floats(-1000, 1000, allow_nan=False).map(lambda f: repr(f).encode()),
)
value = st.one_of(small_text, integer_text, float_text)
index_text = st.integers(-8, 8).map(lambda n: b"%d" % n)
count_text = st.one_of(st.integers(-3, 8).map(lambda n: b"%d" % n), st.just(b"x"))


def cmd(*parts: Any) -> st.SearchStrategy[list[bytes]]:
    """A command strategy from literal bytes and strategies (lists are spliced in)."""
    strategies = [part if isinstance(part, st.SearchStrategy) else st.just(part) for part in parts]

    def flatten(values: tuple) -> list[bytes]:
        out: list[bytes] = []
        for item in values:
            if isinstance(item, list):
                out.extend(item)
            else:
                out.append(item)
        return out

    return st.tuples(*strategies).map(flatten)


def options(*choices: list[bytes] | st.SearchStrategy) -> st.SearchStrategy[list[bytes]]:
    """Zero or more option groups, in any order (also invalid combinations)."""
    groups = [st.just(c) if isinstance(c, list) else c for c in choices]
    return st.lists(st.one_of(*groups), max_size=3).map(lambda gs: [a for g in gs for a in g])


@dataclass(frozen=True)
class CommandCase:
    """How the differential test generates and compares one command."""

    name: str
    strategy: st.SearchStrategy[list[bytes]]
    normalize: Callable[[Any], Any] | None = None
    # For commands whose effect is random (SPOP): bring redis to the engine's state after.
    resync_keys: bool = False
