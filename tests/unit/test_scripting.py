"""Lua scripts in the engine: the sandbox, the limits that keep replicas alive, the slot
rules, the replicated script cache. Replies that Redis also gives are compared with a
real redis-server in tests/differential/test_scripting_differential.py."""

from __future__ import annotations

import random
import struct

import pytest

from node import entry_codec
from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.engine.scripting import MAX_EVAL_SCRIPTS, sha1_hex
from node.shard_state import ShardState
from proto import resp
from proto.slots import key_slot

NOW = 1_700_000_000_000


def run(engine: Engine, *args: bytes | str, now: int = NOW) -> resp.Reply:
    encoded = [arg.encode() if isinstance(arg, str) else arg for arg in args]
    return engine.execute(encoded, now, random.Random(7))


def run_ro(engine: Engine, *args: bytes | str) -> resp.Reply:
    encoded = [arg.encode() if isinstance(arg, str) else arg for arg in args]
    return engine.execute_readonly(encoded, NOW, random.Random(7))


@pytest.fixture
def engine() -> Engine:
    return Engine()


def test_a_script_writes_and_reads_through_redis_call(engine):
    assert run(engine, "eval", "return redis.call('incrby', KEYS[1], ARGV[1])", "1", "n", "5") == 5
    assert run(engine, "eval", "return redis.call('get', KEYS[1])", "1", "n") == b"5"
    assert engine.changed_keys == []
    both = "redis.call('set', KEYS[1], 'a'); redis.call('set', KEYS[2], 'b')"
    run(engine, "eval", both, "2", "{x}1", "{x}2")
    assert engine.changed_keys == [b"{x}1", b"{x}2"]


def test_the_lock_release_script_of_redis_py(engine):
    release = (
        "local token = redis.call('get', KEYS[1]) "
        "if not token or token ~= ARGV[1] then return 0 end "
        "redis.call('del', KEYS[1]) return 1"
    )
    run(engine, "set", "lock", "mine")
    assert run(engine, "eval", release, "1", "lock", "theirs") == 0
    assert run(engine, "get", "lock") == b"mine"
    assert run(engine, "eval", release, "1", "lock", "mine") == 1
    assert run(engine, "get", "lock") is None


@pytest.mark.parametrize(
    "name",
    ["os", "io", "debug", "package", "require", "dofile", "loadfile", "print", "python",
     "collectgarbage", "coroutine", "setfenv", "getfenv", "newproxy"],
)  # fmt: skip
def test_the_sandbox_hides_what_would_differ_between_replicas_or_escape(engine, name):
    reply = run(engine, "eval", f"return type({name})", "0")
    assert type(reply) is resp.Error
    assert f"nonexistent global variable '{name}'".encode() in reply  # type: ignore[comparison-overlap]


def test_loadstring_runs_in_the_sandbox_too(engine):
    reply = run(engine, "eval", "return loadstring('return os')()", "0")
    assert b"nonexistent global variable 'os'" in reply


def test_globals_and_libraries_are_read_only_and_nothing_outlives_a_run(engine):
    assert b"Attempt to modify a readonly table" in run(engine, "eval", "x = 1", "0")
    assert b"Attempt to modify a readonly table" in run(engine, "eval", "string.x = 1", "0")
    assert run(engine, "eval", "rawset(_G, 'x', 1) return x", "0") == 1
    assert b"nonexistent global variable 'x'" in run(engine, "eval", "return x", "0")
    assert run(engine, "eval", "return getmetatable('')", "0") is None


def test_tostring_shows_no_address(engine):
    assert run(engine, "eval", "return tostring({})", "0") == b"table"


def test_math_random_starts_from_the_same_state_in_every_run(engine):
    script = "return {math.random(1000), math.random(1000)}"
    first = run(engine, "eval", script, "0")
    assert run(Engine(), "eval", script, "0") == first == run(engine, "eval", script, "0")
    assert first[0] != first[1]


def test_a_script_that_never_ends_fails_after_its_budget(engine):
    engine.config.script_max_instructions = 200_000
    for script in (
        "while true do end",
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
    ):
        reply = run(engine, "eval", script, "0")
        assert type(reply) is resp.Error and b"instruction budget" in reply, script  # type: ignore[comparison-overlap]
    assert run(engine, "eval", "return 1", "0") == 1


@pytest.mark.parametrize(
    "script",
    [
        "local t = {} for i = 1, 1e8 do t[i] = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxx' .. i end",
        "return string.rep('x', 1e9)",
        "local s = 'x' for i = 1, 40 do s = s .. s end return #s",
    ],
)
def test_a_script_that_takes_too_much_memory_fails_and_the_next_one_runs(script):
    # A budget large enough that the memory limit is what stops them.
    config = EngineConfig(script_max_memory=16 * 1024 * 1024, script_max_instructions=10**9)
    engine = Engine(config)
    reply = run(engine, "eval", script, "0")
    assert type(reply) is resp.Error and b"not enough memory" in reply  # type: ignore[comparison-overlap]
    # Each run has a runtime of its own: nothing is left of the one that failed.
    big = "local t = {} for i = 1, 20000 do t[i] = i end return t"
    for _ in range(3):
        assert len(run(engine, "eval", big, "0")) == 20000


def test_a_flagged_script_keeps_to_the_slot_of_its_declared_keys(engine):
    shebang = "#!lua\n"
    assert run(engine, "eval", shebang + "return redis.call('set', '{a}2', 1)", "1", "{a}1") == (
        resp.OK
    )
    reply = run(engine, "eval", shebang + "return redis.call('set', 'b', 1)", "1", "{a}1")
    assert b"do not hash to the same slot" in reply
    reply = run(engine, "eval", "return 1", "2", "a", "b")
    assert reply.startswith(b"CROSSSLOT")
    # Redis 7.0: without a shebang, or with allow-cross-slot-keys, any slot of the shard
    assert run(engine, "eval", "return redis.call('set', 'b', 1)", "1", "{a}1") == resp.OK
    flagged = "#!lua flags=allow-cross-slot-keys\nreturn redis.call('set', 'b', 1)"
    assert run(engine, "eval", flagged, "1", "{a}1") == resp.OK
    # but one command's keys must share a slot, as Redis Cluster's routing wants
    reply = run(engine, "eval", "return redis.call('mset', 'a', 1, 'b', 2)", "0")
    assert b"non local key" in reply


def test_without_declared_keys_the_first_key_fixes_the_slot_and_must_be_local(engine):
    script = "#!lua\nredis.call('set', 'a', 1) return redis.call('set', 'b', 1)"
    reply = run(engine, "eval", script, "0")
    assert b"do not hash to the same slot" in reply
    assert run(engine, "get", "a") == b"1"  # as in Redis, what ran before the error stays
    engine.owns_slot = lambda slot: slot == key_slot(b"mine")
    assert run(engine, "eval", "return redis.call('set', 'mine', 1)", "0") == resp.OK
    reply = run(engine, "eval", "return redis.call('get', 'other')", "0")
    assert b"non local key" in reply
    assert b"non local key" in run(engine, "eval", "return 1", "1", "other")


def test_time_in_a_script_is_the_entry_time(engine):
    assert run(engine, "eval", "return redis.call('time')", "0", now=12_345) == [b"12", b"345000"]


def test_read_only_scripts_cannot_write_and_do_not_fill_the_cache(engine):
    reply = run_ro(engine, "eval_ro", "return redis.call('set', 'k', 1)", "0")
    assert b"Write commands are not allowed from read-only scripts" in reply
    run(engine, "set", "k", "v")
    assert run_ro(engine, "eval_ro", "return redis.call('get', KEYS[1])", "1", "k") == b"v"
    assert engine.scripting.bodies == {}
    assert run_ro(engine, "eval", "return 1", "0").startswith(b"READONLY")


def test_script_load_exists_evalsha_and_flush(engine):
    sha = run(engine, "script", "load", "return ARGV[1]")
    assert sha == sha1_hex(b"return ARGV[1]")
    assert run(engine, "evalsha", sha, "0", "hi") == b"hi"
    assert run(engine, "evalsha", sha.upper(), "0", "hi") == b"hi"
    assert run(engine, "script", "exists", sha, "0" * 40) == [1, 0]
    assert run_ro(engine, "evalsha_ro", sha, "0", "ro") == b"ro"
    assert run(engine, "script", "flush") == resp.OK
    assert run(engine, "evalsha", sha, "0").startswith(b"NOSCRIPT")
    assert run(engine, "script", "load", "return (").startswith(b"ERR Error compiling script")
    assert run(engine, "script", "exists", sha1_hex(b"return (")) == [0]


def test_scripts_cached_by_eval_are_dropped_oldest_first_but_loaded_ones_stay(engine):
    loaded = run(engine, "script", "load", "return 'kept'")
    for number in range(MAX_EVAL_SCRIPTS + 10):
        assert run(engine, "eval", f"return {number}", "0") == number
    oldest, newest = sha1_hex(b"return 0"), sha1_hex(b"return %d" % (MAX_EVAL_SCRIPTS + 9))
    assert run(engine, "script", "exists", oldest, newest, loaded) == [0, 1, 1]


def test_the_script_cache_travels_in_shard_snapshots():
    state = ShardState()
    entry = entry_codec.encode(
        entry_codec.ShardEntry(
            NOW,
            1,
            [
                entry_codec.Request(
                    0, 0, 0, entry_codec.COMMANDS, False,
                    [[b"SCRIPT", b"LOAD", b"return 'loaded'"], [b"EVAL", b"return 'eval'", b"0"]],
                    [],
                )
            ],
            [],
            [],
        )
    )  # fmt: skip
    state.apply(entry)
    restored = ShardState()
    restored.restore(state.snapshot())
    engine = restored.engine
    assert run(engine, "evalsha", sha1_hex(b"return 'loaded'"), "0") == b"loaded"
    assert run(engine, "evalsha", sha1_hex(b"return 'eval'"), "0") == b"eval"
    assert engine.scripting.evaluated == {sha1_hex(b"return 'eval'"): None}


def test_a_snapshot_from_before_scripting_still_restores():
    state = ShardState()
    run(state.engine, "set", "k", "v")
    current = state.snapshot()
    # The first layout: no script section and the old magic.
    _, clock, engine_size, session_size, _, _ = struct.unpack_from(">8sqQQQQ", current)
    body = current[struct.calcsize(">8sqQQQQ") :][: engine_size + session_size]
    old = struct.pack(">8sqQQ", b"SRSHARD1", clock, engine_size, session_size) + body
    restored = ShardState()
    restored.restore(old)
    assert run(restored.engine, "get", "k") == b"v"


def test_two_replicas_running_the_same_scripts_reach_the_same_state():
    scripts = [
        ("for i = 1, 50 do redis.call('rpush', KEYS[1], math.random(100)) end", "1", "l"),
        ("local t = {} for k, v in pairs({a = 1, b = 2, c = 3}) do t[#t + 1] = k end "
         "redis.call('set', KEYS[1], table.concat(t, ','))", "1", "order"),
        ("redis.call('zadd', KEYS[1], 1.5, 'a', 2.5, 'b') "
         "return redis.call('zrange', KEYS[1], 0, -1, 'withscores')", "1", "z"),
    ]  # fmt: skip
    first, second = Engine(), Engine()
    for script, *rest in scripts:
        assert run(first, "eval", script, *rest) == run(second, "eval", script, *rest)
    assert first.snapshot() == second.snapshot()
