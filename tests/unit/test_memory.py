"""Memory accounting: after any sequence of commands, `used_memory` equals a recomputation
from scratch, and a snapshot round trip keeps it."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine.engine import Engine
from node.engine.keyspace import EXPIRE_OVERHEAD, value_size
from node.engine.registry import IMPLEMENTATIONS
from node.engine.snapshot import load

KEYS = [b"a", b"b", b"c", b"{t}d"]
key = st.sampled_from(KEYS)
text = st.sampled_from([b"", b"x", b"hello", b"12", b"-7", b"3.5", b"v" * 70, b"w" * 300])
member = st.one_of(
    st.sampled_from([b"m1", b"m2", b"m3", b"m" * 80]),
    st.integers(-3, 30).map(lambda n: b"%d" % n),
)
number = st.integers(-5, 5).map(lambda n: b"%d" % n)
score = st.sampled_from([b"0", b"1", b"-2.5", b"1e3", b"inf", b"-inf"])
millis = st.integers(1, 5000).map(lambda n: b"%d" % n)
# Adds enough elements at once to cross the listpack/intset size limits.
many = st.integers(1, 700).map(lambda n: [b"%d" % index for index in range(n)])


def _cmd(*parts: st.SearchStrategy) -> st.SearchStrategy:
    return st.tuples(*parts).map(lambda items: [part for item in items for part in _flat(item)])


def _flat(item: bytes | list[bytes]) -> list[bytes]:
    return list(item) if isinstance(item, list) else [item]


def _lit(*words: bytes) -> st.SearchStrategy:
    return st.just(list(words))


# Each label starts with the name of the command it generates.
COMMANDS = {
    "set": _cmd(_lit(b"SET"), key, text),
    "set px": _cmd(_lit(b"SET"), key, text, _lit(b"PX"), millis),
    "set keepttl": _cmd(_lit(b"SET"), key, text, _lit(b"KEEPTTL")),
    "append": _cmd(_lit(b"APPEND"), key, text),
    "setrange": _cmd(_lit(b"SETRANGE"), key, st.sampled_from([b"0", b"3", b"100"]), text),
    "incrby": _cmd(_lit(b"INCRBY"), key, number),
    "incrbyfloat": _cmd(_lit(b"INCRBYFLOAT"), key, score),
    "setbit": _cmd(_lit(b"SETBIT"), key, st.sampled_from([b"0", b"7", b"1000"]), _lit(b"1")),
    "getdel": _cmd(_lit(b"GETDEL"), key),
    "getex": _cmd(_lit(b"GETEX"), key, _lit(b"PX"), millis),
    "mset": _cmd(_lit(b"MSET"), key, text, key, text),
    "del": _cmd(_lit(b"DEL"), key, key),
    "pexpire": _cmd(_lit(b"PEXPIRE"), key, millis),
    "persist": _cmd(_lit(b"PERSIST"), key),
    "rename": _cmd(_lit(b"RENAME"), key, key),
    "copy": _cmd(_lit(b"COPY"), key, key, _lit(b"REPLACE")),
    "hset": _cmd(_lit(b"HSET"), key, member, text, member, text),
    "hset many": _cmd(_lit(b"HSET"), key, many.map(lambda ms: [p for m in ms for p in (m, m)])),
    "hdel": _cmd(_lit(b"HDEL"), key, member, member),
    "hincrby": _cmd(_lit(b"HINCRBY"), key, member, number),
    "hincrbyfloat": _cmd(_lit(b"HINCRBYFLOAT"), key, member, score),
    "hsetnx": _cmd(_lit(b"HSETNX"), key, member, text),
    "rpush": _cmd(_lit(b"RPUSH"), key, text, member),
    "lpush many": _cmd(_lit(b"LPUSH"), key, many),
    "lpop": _cmd(_lit(b"LPOP"), key, st.sampled_from([b"1", b"3", b"500"])),
    "rpop": _cmd(_lit(b"RPOP"), key),
    "lset": _cmd(_lit(b"LSET"), key, st.sampled_from([b"0", b"-1"]), text),
    "lrem": _cmd(_lit(b"LREM"), key, st.sampled_from([b"0", b"1", b"-2"]), text),
    "ltrim": _cmd(
        _lit(b"LTRIM"), key, st.sampled_from([b"0", b"1"]), st.sampled_from([b"-1", b"2"])
    ),
    "linsert": _cmd(_lit(b"LINSERT"), key, _lit(b"BEFORE"), text, member),
    "lmove": _cmd(_lit(b"LMOVE"), key, key, _lit(b"LEFT", b"RIGHT")),
    "sadd": _cmd(_lit(b"SADD"), key, member, member),
    "sadd many": _cmd(_lit(b"SADD"), key, many),
    "srem": _cmd(_lit(b"SREM"), key, member, member),
    "spop": _cmd(_lit(b"SPOP"), key, st.sampled_from([b"1", b"2", b"600"])),
    "smove": _cmd(_lit(b"SMOVE"), key, key, member),
    "sinterstore": _cmd(_lit(b"SINTERSTORE"), key, key, key),
    "sunionstore": _cmd(_lit(b"SUNIONSTORE"), key, key, key),
    "zadd": _cmd(_lit(b"ZADD"), key, score, member, score, member),
    "zadd many": _cmd(_lit(b"ZADD"), key, many.map(lambda ms: [p for m in ms for p in (m, m)])),
    "zincrby": _cmd(_lit(b"ZINCRBY"), key, score, member),
    "zrem": _cmd(_lit(b"ZREM"), key, member, member),
    "zpopmin": _cmd(_lit(b"ZPOPMIN"), key, st.sampled_from([b"1", b"300"])),
    "zremrangebyrank": _cmd(_lit(b"ZREMRANGEBYRANK"), key, _lit(b"0", b"1")),
    "zunionstore": _cmd(_lit(b"ZUNIONSTORE"), key, _lit(b"2"), key, key),
    "xadd": _cmd(_lit(b"XADD"), key, _lit(b"*"), member, text),
    "xadd many": _cmd(
        _lit(b"XADD"), key, _lit(b"*"), many.map(lambda ms: [p for m in ms[:50] for p in (m, m)])
    ),
    "xadd trim": _cmd(_lit(b"XADD"), key, _lit(b"MAXLEN", b"~", b"3", b"*"), member, text),
    "xtrim": _cmd(_lit(b"XTRIM"), key, _lit(b"MAXLEN"), st.sampled_from([b"0", b"1", b"5"])),
    "xdel": _cmd(_lit(b"XDEL"), key, st.sampled_from([b"1000000-0", b"1000001-0", b"0-1"])),
    "xgroup|create": _cmd(_lit(b"XGROUP", b"CREATE"), key, member, _lit(b"0", b"MKSTREAM")),
    "xreadgroup": _cmd(
        _lit(b"XREADGROUP", b"GROUP"), member, member, _lit(b"STREAMS"), key, _lit(b">")
    ),
    "xack": _cmd(_lit(b"XACK"), key, member, _lit(b"1000000-0")),
    "xautoclaim": _cmd(_lit(b"XAUTOCLAIM"), key, member, member, _lit(b"0", b"0")),
    "xgroup|delconsumer": _cmd(_lit(b"XGROUP", b"DELCONSUMER"), key, member, member),
    "xgroup|destroy": _cmd(_lit(b"XGROUP", b"DESTROY"), key, member),
}
step = st.tuples(
    st.sampled_from(sorted(COMMANDS)).flatmap(COMMANDS.__getitem__), st.integers(0, 3000)
)
programs = st.lists(step, min_size=1, max_size=40)


def recomputed(engine: Engine) -> int:
    db = engine.db
    values = sum(value_size(name, value) for name, value in db.data.items())
    return values + EXPIRE_OVERHEAD * len(db.expires)


def check_accounting(engine: Engine) -> None:
    db = engine.db
    assert db.expires.keys() <= db.data.keys()
    expected = recomputed(engine)
    assert db.used_memory == expected
    db.rebuild_indexes()
    assert db.used_memory == expected


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(programs, st.integers(0, 2**32))
def test_used_memory_matches_a_recomputation_after_any_commands(program, seed):
    engine = Engine()
    rng = random.Random(seed)
    now = 1_000_000
    for args, elapsed in program:
        now += elapsed
        engine.execute(args, now, rng)
        check_accounting(engine)
        if elapsed % 7 == 0:
            # What the leader's active expiry would propose.
            engine.apply_expire(engine.expired_candidates(now), now)
            check_accounting(engine)
    restored = load(engine.snapshot(), engine.config)
    assert restored.used_memory == engine.db.used_memory
    assert restored.data.keys() == engine.db.data.keys()


def test_every_command_exercised_here_is_implemented():
    """The test above must reach every type; an unknown command would only reply with
    an error and leave the accounting untested."""
    names = {label.split()[0] for label in COMMANDS}
    assert sorted(names - IMPLEMENTATIONS.keys()) == []
