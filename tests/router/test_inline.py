"""Inline commands split as Redis's sdssplitargs does (checked against redis-server 7.0 in
test_differential_local.py)."""

from __future__ import annotations

import pytest

from router.inline import split_inline


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"SET a b", [b"SET", b"a", b"b"]),
        (b"  SET   a\tb  ", [b"SET", b"a", b"b"]),
        (b"", []),
        (b"   ", []),
        (b'ECHO "a b"', [b"ECHO", b"a b"]),
        (b'ECHO "\\x41\\n\\t\\"q"', [b"ECHO", b'A\n\t"q']),
        (b'ECHO "\\x4"', [b"ECHO", b"x4"]),
        (b"ECHO 'it\\'s'", [b"ECHO", b"it's"]),
        (b"ECHO 'a\\nb'", [b"ECHO", b"a\\nb"]),
        (b'ECHO "" x', [b"ECHO", b"x"]),
        (b'ab"c d"', [b"abc d"]),
        (b"a\x0bb c", [b"a\x0bb", b"c"]),
        (b"\x0ba", [b"a"]),
        (b"a\x00b c", [b"a"]),
        (b'"a"\x0b', [b"a"]),
    ],
)
def test_split(line, expected):
    assert split_inline(line) == expected


@pytest.mark.parametrize(
    "line", [b'ECHO "abc', b'ECHO "a"b', b"ECHO 'a'b", b"ECHO 'abc", b'ab"c d"e', b'"a\x00"']
)
def test_unbalanced(line):
    assert split_inline(line) is None
