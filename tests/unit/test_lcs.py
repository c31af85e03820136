"""LCS in the engine: the length and the subsequence against a plain dynamic programme
(on strings longer than the differential test's), each string as the table's rows, and
its work bounded by max-command-work like every command."""

from __future__ import annotations

import random

import pytest

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.engine.t_string import LCS_CELLS_PER_ELEMENT, LCS_ROW_WORK
from proto.resp import Error, Map


def plain_lcs_length(a: bytes, b: bytes) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[-1]))
        previous = current
    return previous[-1]


def is_subsequence(small: bytes, big: bytes) -> bool:
    position = 0
    for byte in small:
        position = big.find(bytes([byte]), position)
        if position < 0:
            return False
        position += 1
    return True


def engine_with(a: bytes, b: bytes, **config) -> Engine:
    engine = Engine(EngineConfig(**config))
    engine.execute([b"SET", b"a", a], 0, random.Random(0))
    engine.execute([b"SET", b"b", b], 0, random.Random(0))
    return engine


@pytest.mark.parametrize("seed", range(6))
def test_lcs_is_a_longest_common_subsequence(seed):
    rng = random.Random(seed)
    a = bytes(rng.choice(b"abc") for _ in range(rng.randrange(0, 300)))
    b = bytes(rng.choice(b"abcd") for _ in range(rng.randrange(0, 900)))
    engine = engine_with(a, b)
    expected = plain_lcs_length(a, b)
    for first, second in ((b"a", b"b"), (b"b", b"a")):
        common = engine.execute([b"LCS", first, second], 0, random.Random(0))
        assert len(common) == expected
        assert is_subsequence(common, a) and is_subsequence(common, b)
        assert engine.execute([b"LCS", first, second, b"LEN"], 0, random.Random(0)) == expected
        runs = engine.execute([b"LCS", first, second, b"IDX", b"WITHMATCHLEN"], 0, random.Random(0))
        assert isinstance(runs, Map) and runs[3] == expected
        assert sum(run[2] for run in runs[1]) == expected  # the runs cover the subsequence


def test_lcs_work_is_bounded_by_max_command_work():
    a, b = b"x" * 300, b"y" * 1000
    cells = 301 * 1001
    work = cells // LCS_CELLS_PER_ELEMENT + 300 * LCS_ROW_WORK + 1300 + 2  # + its 2 arguments
    enough = engine_with(a, b, max_command_work=work)
    assert enough.execute([b"LCS", b"a", b"b"], 0, random.Random(0)) == b""
    short = engine_with(a, b, max_command_work=work - 1)
    refused = short.execute([b"LCS", b"a", b"b"], 0, random.Random(0))
    assert isinstance(refused, Error) and b"max-command-work" in refused  # type: ignore[comparison-overlap]
    # LEN does not walk back through the table: it does less.
    assert short.execute([b"LCS", b"a", b"b", b"LEN"], 0, random.Random(0)) == 0


def test_lcs_refuses_a_table_past_proto_max_bulk_len_as_redis_does():
    engine = engine_with(b"a" * 100, b"b" * 100, proto_max_bulk_len=4 * 101 * 101 - 1)
    reply = engine.execute([b"LCS", b"a", b"b"], 0, random.Random(0))
    assert reply == Error(
        b"ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    )
