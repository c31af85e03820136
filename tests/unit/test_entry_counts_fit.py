"""entry_codec.counts_fit (the guard against marshal bodies claiming huge counts) gives
the answer of a plain reading of its rule on real entries, mutated entries and random
bytes: every replica must decide the same for the same bytes, whatever the version."""

from __future__ import annotations

import marshal
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import entry_codec
from node.entry_codec import Request, ShardEntry, counts_fit

_FIXED = {ord("i"): 4, ord("r"): 4, ord("T"): 0, ord("F"): 0, ord("N"): 0}


def reference(body: bytes) -> bool:
    """The rule, read plainly: one level of pending counts per open list or tuple."""
    end = len(body)
    position = 0
    pending = [1]
    while pending:
        if not pending[-1]:
            pending.pop()
            continue
        pending[-1] -= 1
        if position >= end:
            return False
        code = body[position] & 0x7F
        position += 1
        if code in _FIXED:
            position += _FIXED[code]
            continue
        if code == 0x29:
            if position >= end:
                return False
            pending.append(body[position])
            position += 1
            continue
        count = int.from_bytes(body[position : position + 4], "little", signed=True)
        position += 4
        left = end - position
        if code == 0x73:
            if not 0 <= count <= left:
                return False
            position += count
        elif code == 0x6C:
            if abs(count) * 2 > left:
                return False
            position += abs(count) * 2
        elif code in (0x5B, 0x28):
            if not 0 <= count <= left:
                return False
            pending.append(count)
        else:
            return False
    return True


def entry_body(rng: random.Random) -> bytes:
    requests = [
        Request(
            rng.getrandbits(64),
            rng.getrandbits(40),
            rng.getrandbits(20),
            rng.choice([0, 1]),
            rng.random() < 0.5,
            [
                [b"SET", b"key:%012d" % rng.randrange(10**6), b"x" * rng.randrange(300)]
                for _ in range(rng.randrange(1, 40))
            ],
            [(b"w", b"1")] if rng.random() < 0.2 else [],
        )
        for _ in range(rng.randrange(1, 5))
    ]
    entry = ShardEntry(rng.getrandbits(41), rng.getrandbits(64), requests, [b"e"], [])
    return entry_codec.encode(entry)[1:]


def test_real_and_mutated_entries() -> None:
    rng = random.Random(5)
    for _ in range(120):
        body = entry_body(rng)
        assert counts_fit(body) and reference(body)
        mutated = bytearray(body)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        cut = bytes(mutated[: rng.randrange(len(mutated) + 1)])
        assert counts_fit(bytes(mutated)) == reference(bytes(mutated))
        assert counts_fit(cut) == reference(cut)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes(body: bytes) -> None:
    assert counts_fit(body) == reference(body)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.binary(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple),
        max_leaves=20,
    )
)
def test_marshalled_values(value: Any) -> None:
    body = marshal.dumps(value, 4)
    assert counts_fit(body) == reference(body)


def _request(commands: Any) -> tuple:
    return (1, 2, 3, 0, False, commands, [])


def test_request_shapes_checked_in_every_argument() -> None:
    """_well_formed refuses any command that is not a list of bytes, wherever it sits."""
    good = [[b"SET", b"k", b"v"], [b"GET", b"k"], []]
    assert entry_codec._well_formed(_request(good))
    assert entry_codec._well_formed(_request([]))
    assert not entry_codec._well_formed(_request([[b"GET", bytearray(b"k")]]))
    for bad in (
        [[b"SET", b"k", "v"]],
        [[b"GET", b"k"], (b"GET", b"k")],
        [[b"GET", b"k"], [b"GET", 5]],
        [b"GET"],
        [[b"GET", [b"k"]]],
    ):
        assert not entry_codec._well_formed(_request(bad)), bad
        body: tuple = (7, 8, [_request(bad)], [], [])
        with pytest.raises(entry_codec.EntryFormatError):
            entry_codec.decode(bytes((entry_codec.ENTRY_VERSION,)) + marshal.dumps(body, 4))
