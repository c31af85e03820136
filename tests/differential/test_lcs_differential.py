"""LCS against redis-server on strings long and alike enough for many matches and ties:
the common subsequence Redis picks (its table walk breaks ties one way), the match ranges
in the order it lists them, MINMATCHLEN and WITHMATCHLEN, in RESP2 and RESP3."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.differential.harness import Differential

text = st.one_of(
    st.binary(min_size=0, max_size=120).map(lambda b: bytes(c % 4 + 97 for c in b)),
    st.text("ab c\x00", max_size=60).map(lambda t: t.encode()),
    st.binary(max_size=40),
)
option_sets = st.sampled_from(
    [
        [],
        [b"LEN"],
        [b"IDX"],
        [b"IDX", b"WITHMATCHLEN"],
        [b"IDX", b"MINMATCHLEN", b"2"],
        [b"IDX", b"MINMATCHLEN", b"4", b"WITHMATCHLEN"],
        [b"WITHMATCHLEN", b"MINMATCHLEN", b"3", b"IDX"],
        [b"MINMATCHLEN", b"2"],
    ]
)


@pytest.mark.parametrize("resp3", [False, True])
def test_lcs_matches_redis(redis_port, resp3):
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(first=text, second=text, options=option_sets, missing=st.sampled_from([0, 1, 2]))
    def run(first, second, options, missing):
        diff = Differential(redis_port, resp3=resp3)
        try:
            if missing != 1:
                diff.check([b"SET", b"{lcs}1", first])
            if missing != 2:
                diff.check([b"SET", b"{lcs}2", second])
            diff.check([b"LCS", b"{lcs}1", b"{lcs}2", *options])
            diff.check([b"LCS", b"{lcs}2", b"{lcs}1", *options])
        finally:
            diff.close()

    run()


def test_lcs_errors_match_redis(redis_port):
    diff = Differential(redis_port)
    try:
        diff.check([b"SET", b"s", b"abc"])
        diff.check([b"RPUSH", b"l", b"x"])
        for args in (
            [b"LCS", b"s", b"l"],
            [b"LCS", b"l", b"s", b"BOGUS"],
            [b"LCS", b"s", b"s", b"LEN", b"IDX"],
            [b"LCS", b"s", b"s", b"MINMATCHLEN"],
            [b"LCS", b"s", b"s", b"MINMATCHLEN", b"x", b"LEN", b"IDX"],
            [b"LCS", b"s", b"s", b"LEN", b"IDX", b"BOGUS"],
            [b"LCS", b"s"],
            [b"LCS", b"s", b"absent", b"IDX"],
        ):
            diff.check(args)
    finally:
        diff.close()
