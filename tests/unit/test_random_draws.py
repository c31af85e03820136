"""A negative count of SRANDMEMBER, HRANDFIELD or ZRANDMEMBER draws that many elements with
repetition, however small the collection. Past `max_random_draws` the engine refuses with
an error instead of building the reply (Redis would try, and a node would run out of
memory); below it the draws are as Redis's."""

from __future__ import annotations

import random

import pytest

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from proto.resp import Error

NOW = 1_700_000_000_000
COMMANDS = [
    (b"SADD", b"s", b"a", b"b"),
    (b"HSET", b"h", b"f", b"v"),
    (b"ZADD", b"z", b"1", b"m"),
]


def engine(limit: int) -> Engine:
    engine = Engine(EngineConfig(max_random_draws=limit))
    for command in COMMANDS:
        engine.execute(list(command), NOW, random.Random(1))
    return engine


@pytest.mark.parametrize(
    "command",
    [
        [b"SRANDMEMBER", b"s", b"-11"],
        [b"HRANDFIELD", b"h", b"-11"],
        [b"HRANDFIELD", b"h", b"-11", b"WITHVALUES"],
        [b"ZRANDMEMBER", b"z", b"-11"],
        [b"ZRANDMEMBER", b"z", b"-11", b"WITHSCORES"],
    ],
)
def test_draws_past_the_limit_are_refused_and_up_to_it_answered(command):
    reply = engine(10).execute(command, NOW, random.Random(2))
    assert isinstance(reply, Error)
    # (mypy takes `in` on a bytes subclass such as Error for a test of one byte)
    assert b"max-random-draws" in reply  # type: ignore[comparison-overlap]
    command[2] = b"-10"
    reply = engine(10).execute(command, NOW, random.Random(2))
    assert not isinstance(reply, Error)
    assert len(reply) in (10, 20)  # 20 with values or scores


def test_a_missing_key_and_positive_counts_are_not_limited():
    small = engine(1)
    assert small.execute([b"SRANDMEMBER", b"nope", b"-5"], NOW, random.Random(3)) == []
    assert len(small.execute([b"SRANDMEMBER", b"s", b"100"], NOW, random.Random(3))) == 2


def test_an_entrys_lazily_seeded_source_draws_what_random_with_its_seed_draws():
    """Replicas must draw the same values: the lazily seeded source of an entry gives the
    sequence of random.Random(seed), through every method the engine uses and more."""
    from node.shard_state import EntryRandom

    for seed in (0, 7, 2**64 - 1):
        expected, lazy = random.Random(seed), EntryRandom(seed)
        assert [lazy.randrange(1000) for _ in range(100)] == [
            expected.randrange(1000) for _ in range(100)
        ]
        assert lazy.sample(range(500), 20) == expected.sample(range(500), 20)
        assert lazy.random() == expected.random()
        assert lazy.choice("abcdefgh") == expected.choice("abcdefgh")
        assert lazy.getrandbits(64) == expected.getrandbits(64)
    with pytest.raises(TypeError):
        EntryRandom(1).seed(2)


def test_srandmember_through_an_entry_draws_as_with_a_seeded_random():
    from node.shard_state import EntryRandom

    results = []
    for source in (random.Random(42), EntryRandom(42)):
        eng = engine(1000)
        results.append(eng.execute([b"SRANDMEMBER", b"s", b"-8"], NOW, source))
    assert results[0] == results[1]
