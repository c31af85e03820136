"""HyperLogLog against redis-server, byte for byte: GET of the value after every command
(the sparse edits in Redis's order, the promotion to dense past hll-sparse-max-bytes or a
register above 32, the cache and its invalid bit), PFMERGE of every mix of encodings,
PFCOUNT of one key and of several, and every error reply, corrupted payloads included."""

from __future__ import annotations

import random

import pytest

from tests.differential.harness import Differential


def _elements(rng: random.Random, count: int) -> list[bytes]:
    # Lengths 0 to 20 reach every tail length of MurmurHash64A.
    return [rng.randbytes(rng.randrange(21)) for _ in range(count)]


@pytest.mark.parametrize("seed", [1, 2])
def test_pfadd_until_dense_is_byte_identical(redis_port, seed):
    rng = random.Random(seed)
    diff = Differential(redis_port)
    try:
        encodings: set[bytes] = set()
        diff.check([b"PFADD", b"h"])
        diff.check([b"GET", b"h"])
        while len(encodings) < 2 or rng.random() < 0.9:
            diff.check([b"PFADD", b"h", *_elements(rng, rng.randrange(1, 60))])
            diff.check([b"GET", b"h"])
            encodings.add(diff.check([b"PFDEBUG", b"ENCODING", b"h"]))
            if rng.random() < 0.3:
                diff.check([b"PFCOUNT", b"h"])
                diff.check([b"GET", b"h"])
                diff.check([b"PFCOUNT", b"h"])
        assert encodings == {b"sparse", b"dense"}
        diff.check([b"PFDEBUG", b"GETREG", b"h"])
    finally:
        diff.close()


@pytest.mark.parametrize("sizes", [(5, 10), (5, 3000), (3000, 5), (3000, 3000), (0, 400)])
def test_pfmerge_of_mixed_encodings(redis_port, sizes):
    rng = random.Random(sum(sizes))
    diff = Differential(redis_port)
    try:
        for key, size in zip((b"{m}a", b"{m}b"), sizes):
            for start in range(0, size, 200):
                diff.check([b"PFADD", key, *_elements(rng, min(200, size - start))])
        diff.check([b"PFADD", b"{m}small", b"x", b"y"])
        diff.check([b"PFMERGE", b"{m}d", b"{m}a", b"{m}b"])
        diff.check([b"GET", b"{m}d"])
        diff.check([b"PFMERGE", b"{m}small", b"{m}a"])
        diff.check([b"GET", b"{m}small"])
        diff.check([b"PFMERGE", b"{m}a", b"{m}b", b"{m}absent"])
        diff.check([b"GET", b"{m}a"])
        diff.check([b"PFCOUNT", b"{m}a", b"{m}b", b"{m}small", b"{m}absent"])
        diff.check([b"PFCOUNT", b"{m}d"])
        diff.check([b"GET", b"{m}d"])
        diff.check([b"PFMERGE", b"{m}new"])
        diff.check([b"GET", b"{m}new"])
    finally:
        diff.close()


def _sparse(ops: bytes, card: bytes = bytes(8)) -> bytes:
    return b"HYLL\x01\x00\x00\x00" + card + ops


CORRUPTED = [
    _sparse(b""),
    _sparse(b"\x7f\xff\x80"),  # 16385 registers
    _sparse(b"\x7f\xfe"),  # 16383 registers
    _sparse(b"\x00" * 10),
    _sparse(b"\x7f"),  # an XZERO cut off by the end
    _sparse(b"\xff" * 4097),  # 32 * 4 * 4097 registers
    b"HYLL\x00\x00\x00\x00" + bytes(8) + bytes(12287),
    b"HYLL\x02" + bytes(20),
    b"HYLL",
    b"hyll" + bytes(20),
]


@pytest.mark.parametrize("payload", CORRUPTED)
def test_corrupted_values_give_redis_errors(redis_port, payload):
    diff = Differential(redis_port)
    try:
        for args in (
            [b"PFCOUNT", b"{c}x"],
            [b"PFADD", b"{c}x", b"a", b"b", b"c", b"d"],
            [b"GET", b"{c}x"],
            [b"PFCOUNT", b"{c}x", b"{c}y"],
            [b"PFMERGE", b"{c}y", b"{c}x"],
            [b"PFMERGE", b"{c}x"],
            [b"PFDEBUG", b"DECODE", b"{c}x"],
            [b"PFDEBUG", b"ENCODING", b"{c}x"],
            [b"PFDEBUG", b"GETREG", b"{c}x"],
            [b"PFDEBUG", b"TODENSE", b"{c}x"],
            [b"GET", b"{c}x"],
        ):
            diff.check([b"SET", b"{c}x", payload])
            diff.check(args)
            diff.check([b"GET", b"{c}x"])
    finally:
        diff.close()


def test_other_errors(redis_port):
    diff = Differential(redis_port)
    try:
        diff.check([b"RPUSH", b"{e}l", b"x"])
        diff.check([b"SET", b"{e}s", b"12345"])
        diff.check([b"PFADD", b"{e}h", b"a"])
        for args in (
            [b"PFADD", b"{e}l", b"a"],
            [b"PFADD", b"{e}s", b"a"],
            [b"PFCOUNT", b"{e}l"],
            [b"PFCOUNT", b"{e}h", b"{e}s"],
            [b"PFMERGE", b"{e}h", b"{e}l"],
            [b"PFMERGE", b"{e}l", b"{e}h"],
            [b"PFDEBUG", b"ENCODING", b"{e}absent"],
            [b"PFDEBUG", b"NOSUCH", b"{e}absent"],
            [b"PFDEBUG", b"NOSUCH", b"{e}h"],
            [b"PFDEBUG", b"DECODE", b"{e}l"],
            [b"PFDEBUG", b"TODENSE", b"{e}h"],
            [b"PFDEBUG", b"TODENSE", b"{e}h"],
            [b"PFDEBUG", b"DECODE", b"{e}h"],
            [b"PFADD"],
            [b"PFDEBUG", b"GETREG"],
            [b"PFSELFTEST", b"x"],
            [b"PFSELFTEST"],
        ):
            diff.check(args)
    finally:
        diff.close()


@pytest.mark.parametrize("max_bytes", [0, 200, 5000])
def test_hll_sparse_max_bytes(redis_port, max_bytes):
    rng = random.Random(max_bytes)
    diff = Differential(redis_port)
    diff.engine.config.hll_sparse_max_bytes = max_bytes
    diff.redis.call([b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"%d" % max_bytes])
    try:
        for _ in range(12):
            diff.check([b"PFADD", b"{s}h", *_elements(rng, 150)])
            diff.check([b"GET", b"{s}h"])
            diff.check([b"PFADD", b"{s}small", *_elements(rng, 3)])
            diff.check([b"PFMERGE", b"{s}m", b"{s}small"])
            diff.check([b"GET", b"{s}m"])
    finally:
        diff.redis.call([b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"3000"])
        diff.close()
