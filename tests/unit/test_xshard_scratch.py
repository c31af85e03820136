"""The coordinator's scratch engine (node/xshard/scratch.py) gives, for keys spread over
four shards, the replies and final values one engine gives with all the keys: the multi-key
commands of issue 28, an EXEC body (with WATCH) and a script. Values carry their TTLs."""

from __future__ import annotations

import random

import pytest

from node.engine.digest import digests
from node.engine.engine import Engine
from node.xshard.scratch import Program, ScratchExecutor, read_value, write_value
from proto.resp import Reply, encode
from proto.slots import key_slot
from proto.xshard_messages import Executed, Value

NOW = 1_700_000_000_000
SHARDS = 4  # the smallest count that puts every pair of keys below on two shards

SETUP = [
    [b"SET", b"a", b"1"],
    [b"PEXPIRE", b"a", b"50000"],
    [b"SET", b"b", b"10"],
    [b"SADD", b"s1", b"x", b"y", b"z"],
    [b"SADD", b"s2", b"y", b"z", b"w"],
    [b"ZADD", b"z1", b"1", b"m", b"2", b"n", b"3", b"o"],
    [b"ZADD", b"z2", b"5", b"n", b"6", b"p"],
    [b"RPUSH", b"l1", b"p", b"q", b"r"],
    [b"RPUSH", b"l2", b"s"],
]

CASES: list[tuple[list[list[bytes]], list[bytes]]] = [
    ([[b"RENAME", b"a", b"c"]], [b"a", b"c"]),
    ([[b"RENAME", b"a", b"b"]], [b"a", b"b"]),
    ([[b"RENAMENX", b"a", b"b"]], [b"a", b"b"]),
    ([[b"SMOVE", b"s1", b"s2", b"x"]], [b"s1", b"s2"]),
    ([[b"SINTERSTORE", b"d", b"s1", b"s2"]], [b"d", b"s1", b"s2"]),
    ([[b"SUNION", b"s1", b"s2"]], [b"s1", b"s2"]),
    ([[b"SDIFFSTORE", b"d", b"s1", b"s2"]], [b"d", b"s1", b"s2"]),
    ([[b"SINTERCARD", b"2", b"s1", b"s2"]], [b"s1", b"s2"]),
    ([[b"ZINTERSTORE", b"d", b"2", b"z1", b"z2", b"WEIGHTS", b"1", b"2"]], [b"d", b"z1", b"z2"]),
    ([[b"ZUNION", b"2", b"z1", b"z2", b"WITHSCORES"]], [b"z1", b"z2"]),
    ([[b"ZDIFFSTORE", b"d", b"2", b"z1", b"z2"]], [b"d", b"z1", b"z2"]),
    ([[b"ZINTERCARD", b"2", b"z1", b"z2"]], [b"z1", b"z2"]),
    ([[b"ZRANGESTORE", b"d", b"z1", b"0", b"-1"]], [b"d", b"z1"]),
    ([[b"LMOVE", b"l1", b"l2", b"LEFT", b"RIGHT"]], [b"l1", b"l2"]),
    ([[b"RPOPLPUSH", b"l1", b"l2"]], [b"l1", b"l2"]),
    ([[b"LMPOP", b"2", b"l0", b"l1", b"LEFT", b"COUNT", b"2"]], [b"l0", b"l1"]),
    ([[b"ZMPOP", b"2", b"z0", b"z1", b"MIN"]], [b"z0", b"z1"]),
    ([[b"MSETNX", b"c", b"x", b"e", b"y"]], [b"c", b"e"]),
    ([[b"MSETNX", b"c", b"x", b"b", b"y"]], [b"c", b"b"]),
    ([[b"COPY", b"a", b"c"]], [b"a", b"c"]),
    ([[b"COPY", b"a", b"b"]], [b"a", b"b"]),
    ([[b"COPY", b"a", b"b", b"REPLACE"]], [b"a", b"b"]),
    ([[b"SMOVE", b"s1", b"a", b"x"]], [b"s1", b"a"]),  # WRONGTYPE, nothing written
    (
        [[b"INCRBY", b"b", b"5"], [b"DECRBY", b"a", b"5"], [b"LPUSH", b"b", b"x"], [b"GET", b"a"]],
        [b"a", b"b"],
    ),
    (
        [
            [
                b"EVAL",
                b"redis.call('SET', KEYS[2], redis.call('GET', KEYS[1])) "
                b"return redis.call('INCR', KEYS[2])",
                b"2",
                b"a",
                b"c",
            ]
        ],
        [b"a", b"c"],
    ),
]


def owner(key: bytes) -> int:
    return key_slot(key) % SHARDS


def run(engine: Engine, args: list[bytes]) -> Reply:
    return engine.execute(args, NOW, random.Random(1))


def standalone() -> Engine:
    engine = Engine()
    for args in SETUP:
        run(engine, args)
    return engine


def sharded() -> list[Engine]:
    engines = [Engine() for _ in range(SHARDS)]
    for args in SETUP:
        run(engines[owner(args[1])], args)
    return engines


def cross_shard(
    engines: list[Engine], program: Program, keys: list[bytes]
) -> tuple[object, dict[bytes, Value]]:
    inputs = {key: read_value(engines[owner(key)], key, NOW) for key in keys}
    result = ScratchExecutor()(program, inputs, NOW)
    assert isinstance(result, Executed)
    for key, value in result.writes.items():
        write_value(engines[owner(key)], key, value, NOW)
    return result.reply, result.writes


def test_the_keys_are_on_several_shards() -> None:
    for _, keys in CASES:
        assert len({owner(key) for key in keys}) > 1, keys


@pytest.mark.parametrize(("commands", "keys"), CASES, ids=lambda case: repr(case)[:40])
def test_as_one_engine(commands: list[list[bytes]], keys: list[bytes]) -> None:
    alone = standalone()
    single = len(commands) == 1
    if single:
        expected = encode(run(alone, commands[0]))
    else:
        expected = encode(alone.execute_transaction(commands, NOW, random.Random(7)) or [])
    engines = sharded()
    program = Program(tuple(tuple(args) for args in commands), single=single, seed=7)
    reply, writes = cross_shard(engines, program, keys)
    assert reply == expected
    for key in keys:
        assert read_value(engines[owner(key)], key, NOW) == read_value(alone, key, NOW), key
    # Only what changed is written: a read-only command writes nothing.
    if commands[0][0] in (b"SUNION", b"SINTERCARD", b"ZUNION", b"ZINTERCARD"):
        assert writes == {}


@pytest.mark.parametrize("touched", [False, True])
def test_watch(touched: bool) -> None:
    engines = sharded()
    db = engines[owner(b"a")].db
    db.now_ms = NOW
    watches = tuple(digests(db, [b"a"]))
    if touched:
        run(engines[owner(b"a")], [b"SET", b"a", b"2"])
    commands = ((b"SET", b"b", b"x"), (b"GET", b"a"))
    program = Program(commands, single=False, watches=watches)
    reply, writes = cross_shard(engines, program, [b"a", b"b"])
    if touched:
        assert reply == b"*-1\r\n" and writes == {}
    else:
        assert reply == b"*2\r\n+OK\r\n$1\r\n1\r\n" and set(writes) == {b"b"}


def test_values_keep_their_expiry_and_expired_ones_are_absent() -> None:
    engine = standalone()
    value = read_value(engine, b"a", NOW)
    other = Engine()
    write_value(other, b"a", value, NOW)
    assert run(other, [b"PEXPIRETIME", b"a"]) == NOW + 50_000
    assert read_value(other, b"a", NOW + 50_000) is None
    write_value(other, b"a", None, NOW)
    assert run(other, [b"EXISTS", b"a"]) == 0
