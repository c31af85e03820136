"""may_serve: which changed keys are worth running a parked blocking command again."""

from __future__ import annotations

import random

import pytest

from node.engine.blocking import may_serve
from node.engine.engine import Engine


@pytest.fixture
def engine() -> Engine:
    engine = Engine()
    for args in (
        [b"RPUSH", b"list", b"a"],
        [b"ZADD", b"zset", b"1", b"m"],
        [b"SET", b"string", b"x"],
    ):
        engine.execute(args, 0, random.Random(0))
    return engine


@pytest.mark.parametrize(
    ("command", "keys", "expected"),
    [
        (b"BLPOP", [b"list"], True),
        (b"brpop", [b"string", b"list"], True),
        (b"BLPOP", [b"string"], False),
        (b"BLPOP", [b"zset", b"missing"], False),
        (b"BLMOVE", [b"list"], True),
        (b"BRPOPLPUSH", [b"string"], False),
        (b"BLMPOP", [b"list"], True),
        (b"BZPOPMIN", [b"zset"], True),
        (b"BZPOPMAX", [b"list"], False),
        (b"BZMPOP", [b"string", b"zset"], True),
        (b"BZMPOP", [b"missing"], False),
    ],
)
def test_only_a_key_of_the_popped_type_serves(engine, command, keys, expected):
    assert may_serve(engine.db, [command], keys) is expected


def test_other_commands_always_run_again(engine):
    assert may_serve(engine.db, [b"XREAD"], [b"string"])


def test_it_reads_without_counting(engine):
    hits, misses = engine.db.keyspace_hits, engine.db.keyspace_misses
    may_serve(engine.db, [b"BLPOP"], [b"list", b"missing"])
    assert (engine.db.keyspace_hits, engine.db.keyspace_misses) == (hits, misses)
