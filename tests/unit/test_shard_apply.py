"""ShardState.apply's shortcut for plain SET gives what the engine's generic path gives:
the same replies, keyspace, memory accounting and changed keys."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from node import entry_codec
from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.entry_codec import Request, ShardEntry
from node.shard_state import ShardState
from proto import resp

_keys = st.sampled_from([b"a", b"b", b"c", b"{t}d"])
_commands = st.one_of(
    st.tuples(st.sampled_from([b"SET", b"set"]), _keys, st.binary(max_size=8)).map(list),
    st.tuples(st.just(b"SET"), _keys, st.just(b"v"), st.just(b"EX"), st.just(b"100")).map(list),
    st.tuples(st.just(b"EXPIRE"), _keys, st.just(b"50")).map(list),
    st.tuples(st.just(b"INCR"), _keys).map(list),
    st.tuples(st.just(b"LPUSH"), _keys, st.just(b"x")).map(list),
    st.tuples(st.just(b"DEL"), _keys).map(list),
    st.tuples(st.just(b"GET"), _keys).map(list),
    st.just([b"SET", b"a"]),  # wrong arity
)


def _entry(time_ms: int, commands: list[list[bytes]], sequence: int) -> bytes:
    request = Request(7, sequence, sequence, entry_codec.COMMANDS, False, commands, [])
    return entry_codec.encode(ShardEntry(time_ms, 99, [request], [], []))


def _generic(engine: Engine, commands: list[list[bytes]], now: int) -> tuple[list, set]:
    """What the apply loop would do with engine.execute alone."""
    rng = random.Random(99)
    replies, changed = [], set()
    for args in commands:
        engine.db.changed = []  # an error reply leaves the previous command's keys there
        replies.append(resp.encode(engine.execute(args, now, rng)))
        changed.update(engine.changed_keys)
    return replies, changed


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(st.lists(_commands, min_size=1, max_size=6), min_size=1, max_size=4),
)
def test_set_shortcut_matches_the_engine(batches):
    state = ShardState()
    reference = Engine()
    for number, commands in enumerate(batches, start=1):
        now = 1_000_000 + number * 60_000
        outcome = state.apply(_entry(now, commands, number))
        replies, changed = _generic(reference, commands, now)
        assert outcome.results[0].replies == replies
        assert outcome.changed_keys == changed
    assert state.engine.snapshot() == reference.snapshot()
    assert state.engine.db.used_memory == reference.db.used_memory
    assert state.engine.db.dirty == reference.db.dirty
    assert state.engine.db.changed == []


def test_set_shortcut_leaves_no_changed_keys_behind():
    state = ShardState()
    for number in range(1, 50):
        state.apply(_entry(1000 + number, [[b"SET", b"k%d" % number, b"v"]] * 3, number))
    assert state.engine.db.changed == []


def test_set_under_maxmemory_takes_the_checked_path():
    state = ShardState(Engine(EngineConfig(maxmemory=1)))
    outcome = state.apply(_entry(1000, [[b"SET", b"k", b"v" * 100], [b"SET", b"j", b"v"]], 1))
    assert outcome.results[0].replies == [
        resp.encode(resp.OK),
        resp.encode(resp.Error(b"OOM command not allowed when used memory > 'maxmemory'.")),
    ]
