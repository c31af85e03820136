"""Functions (FUNCTION, FCALL) and the Lua libraries inside the engine: replicated state
that snapshots carry, the same on every replica, bounded by the script limits. What Redis
defines is compared with a real redis-server in
tests/differential/test_functions_differential.py and test_scripting_differential.py."""

from __future__ import annotations

import logging
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node import entry_codec
from node.engine import function_dump
from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.shard_state import ShardState
from proto import resp

NOW = 1_700_000_000_000

LIBRARY = b"""#!lua name=counter
local function bump(keys, args)
  return redis.call('incrby', keys[1], args[1] or 1)
end
redis.register_function('bump', bump)
redis.register_function{function_name = 'peek', description = 'reads the counter',
  callback = function(keys) return redis.call('get', keys[1]) end, flags = {'no-writes'}}
redis.register_function('encode', function(keys, args)
  local t = {}
  for i = 1, #args, 2 do t[args[i]] = tonumber(args[i + 1]) or args[i + 1] end
  return cjson.encode(t)
end)
"""


def run(engine: Engine, *args: bytes | str) -> resp.Reply:
    encoded = [arg.encode() if isinstance(arg, str) else arg for arg in args]
    return engine.execute(encoded, NOW, random.Random(7))


def is_error(reply: resp.Reply, text: bytes) -> bool:
    return type(reply) is resp.Error and text in reply  # type: ignore[comparison-overlap]


@pytest.fixture
def engine() -> Engine:
    engine = Engine()
    assert run(engine, "function", "load", LIBRARY) == b"counter"
    return engine


def _entry(*commands: list[bytes]) -> bytes:
    request = entry_codec.Request(0, 0, 0, entry_codec.COMMANDS, False, list(commands), [])
    return entry_codec.encode(entry_codec.ShardEntry(NOW, 1, [request], [], []))


# ------------------------------------------------------------------ the libraries as state


def test_fcall_runs_the_registered_functions(engine):
    assert run(engine, "fcall", "bump", "1", "c") == 1
    assert run(engine, "FCALL", "BUMP", "1", "c", "5") == 6
    assert run(engine, "fcall_ro", "peek", "1", "c") == b"6"
    assert is_error(run(engine, "fcall_ro", "bump", "1", "c"), b"write flag using *_ro")
    # FCALL_RO on the read path (a lease or follower read), not through the log
    assert engine.execute_readonly([b"fcall_ro", b"peek", b"1", b"c"], NOW, random.Random(1)) == (
        b"6"
    )
    assert run(engine, "fcall", "encode", "0", "b", "2", "a", "x") == b'{"a":"x","b":2}'


def test_libraries_travel_in_shard_snapshots_and_older_snapshots_still_restore():
    state = ShardState()
    state.apply(_entry([b"FUNCTION", b"LOAD", LIBRARY], [b"FCALL", b"bump", b"1", b"k"]))
    restored = ShardState()
    restored.restore(state.snapshot())
    assert run(restored.engine, "fcall", "bump", "1", "k") == 2
    assert run(restored.engine, "function", "list") == run(state.engine, "function", "list")
    assert restored.digest() != ShardState().digest()
    # SRSHARD2 (before functions): engine, sessions, scripts, no libraries
    current = state.snapshot()
    _, clock, engine_size, session_size, script_size, _ = struct.unpack_from(">8sqQQQQ", current)
    body = current[struct.calcsize(">8sqQQQQ") :][: engine_size + session_size + script_size]
    older = struct.pack(">8sqQQQ", b"SRSHARD2", clock, engine_size, session_size, script_size)
    restored = ShardState()
    restored.engine.scripting.functions.restore(state.engine.scripting.functions.to_bytes())
    restored.restore(older + body)
    assert run(restored.engine, "function", "list") == []
    assert run(restored.engine, "get", "k") == b"1"
    with pytest.raises(ValueError):
        ShardState().restore(current[:-3])


def test_the_digest_covers_the_libraries():
    first, second = ShardState(), ShardState()
    first.apply(_entry([b"FUNCTION", b"LOAD", LIBRARY]))
    assert first.digest() != second.digest()
    second.apply(_entry([b"FUNCTION", b"LOAD", LIBRARY]))
    assert first.digest() == second.digest()


def test_list_and_dump_are_in_name_order_whatever_the_load_order():
    libraries = [
        b"#!lua name=%s\nredis.register_function('f%s', function() return 1 end)" % (n, n)
        for n in (b"b", b"a", b"c")
    ]
    first, second = Engine(), Engine()
    for code in libraries:
        run(first, "function", "load", code)
    for code in reversed(libraries):
        run(second, "function", "load", code)
    assert run(first, "function", "list") == run(second, "function", "list")
    assert run(first, "function", "dump") == run(second, "function", "dump")
    assert [entry[1] for entry in run(first, "function", "list")] == [b"a", b"b", b"c"]


def test_dump_restores_on_another_replica(engine):
    run(engine, "function", "load", b"#!lua name=z\nredis.register_function('zz', load)")
    payload = run(engine, "function", "dump")
    assert function_dump.verify_payload(payload)
    other = Engine()
    assert run(other, "function", "restore", payload) == resp.OK
    assert run(other, "function", "list", "withcode") == run(engine, "function", "list", "withcode")
    assert is_error(run(other, "function", "restore", payload), b"Library counter already exists")
    assert run(other, "function", "restore", payload, "replace") == resp.OK


def test_kill_and_stats_say_nothing_runs(engine):
    # A function runs inside one log entry: nothing is ever running between commands.
    assert run(engine, "function", "kill") == resp.Error(
        b"NOTBUSY No scripts in execution right now."
    )
    assert run(engine, "script", "kill") == resp.Error(
        b"NOTBUSY No scripts in execution right now."
    )
    stats = run(engine, "function", "stats")
    assert stats[:2] == [b"running_script", None]
    assert stats[3] == [b"LUA", [b"libraries_count", 1, b"functions_count", 3]]


# ------------------------------------------------------------------ determinism


def test_two_replicas_with_different_histories_encode_the_same_bytes():
    # A table that once held a table key: in Lua its string keys may then sit in an order
    # that depends on that key's address, which differs by replica. Encoders go in sorted
    # order instead.
    script = (
        "local t = {} local k = {} t[k] = 1 for i = 1, 40 do t['key' .. i] = i end t[k] = nil "
        "return {cjson.encode(t), cmsgpack.pack(t)}"
    )
    replies = set()
    for seed in range(4):
        engine = Engine()
        for _ in range(seed):  # a different heap layout in each
            run(engine, "eval", "local t = {} for i = 1, 1000 do t[i] = {} end return 1", "0")
        reply = run(engine, "eval", script, "0")
        replies.add(tuple(reply))
    assert len(replies) == 1
    encoded = next(iter(replies))[0]
    assert encoded.startswith(b'{"key1":1,"key10":10,')


def test_libraries_load_only_in_runs_that_name_them(monkeypatch):
    engine = Engine()
    loaded: list[bytes] = []
    original = engine.scripting._library_source

    def counting(name: bytes) -> bytes:
        loaded.append(name)
        return original(name)

    monkeypatch.setattr(engine.scripting, "_library_source", counting)
    assert run(engine, "eval", "return 1", "0") == 1
    assert loaded == []
    assert run(engine, "eval", "return bit.band(6, 3) + bit.bor(1, 2)", "0") == 5
    assert loaded == [b"bit"]  # once per run, however often named


def test_redis_log_writes_a_bounded_number_of_lines(engine, caplog):
    caplog.set_level(logging.DEBUG, logger="slotraft.script")
    script = "for i = 1, 100 do redis.log(redis.LOG_WARNING, 'line', i) end return 1"
    assert run(engine, "eval", script, "0") == 1
    lines = [record.getMessage() for record in caplog.records]
    assert lines[:2] == ["line 1", "line 2"]
    assert len(lines) == 8


# ------------------------------------------------------------------ limits


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize(
    "script",
    [
        "while true do cjson.encode({1, 2, {a = 'b'}}) end",
        'while true do cjson.decode(\'[1, 2, {"a": "b"}]\') end',
        "while true do cmsgpack.unpack(cmsgpack.pack({1, 2, 'x'})) end",
        "while true do struct.pack('>i4d', 1, 2) end",
        "local x = 0 while true do x = bit.bxor(x, 1) end",
        "local s = string.rep('[', 900) while true do pcall(cjson.decode, s) end",
        "local s = string.rep('\\145', 3000) .. '\\1' while true do cmsgpack.unpack(s) end",
        "local t = {} for i = 1, 1000000 do t[i] = i end return cjson.encode(t)",
        "local s = string.rep('1,', 1000000) return #cjson.decode('[' .. s .. '1]')",
    ],
)
def test_library_work_is_charged_to_the_budget(engine, script):
    assert is_error(run(engine, "eval", script, "0"), b"instruction budget")
    assert run(engine, "fcall", "bump", "1", "alive") >= 1


@pytest.mark.timeout(120, method="thread")
def test_library_memory_counts_against_the_script_memory_limit():
    engine = Engine(EngineConfig(script_max_memory=4 * 1024 * 1024, script_max_instructions=10**9))
    script = "local s = string.rep('x', 100000) local t = {} for i = 1, 100 do t[i] = s end "
    script += "local j = cjson.encode(t) return #cjson.encode({j, j, j, j})"
    assert is_error(run(engine, "eval", script, "0"), b"not enough memory")
    assert run(engine, "eval", "return cjson.encode({1})", "0") == b"[1]"


@pytest.mark.timeout(120, method="thread")
def test_a_library_that_never_ends_loading_is_refused(engine):
    reply = run(engine, "function", "load", b"#!lua name=slow\nwhile true do end")
    assert reply == resp.Error(b"ERR Error registering functions: ERR FUNCTION LOAD timeout")
    forever = (
        b"#!lua name=forever\nredis.register_function('spin', function() while true do end end)"
    )
    assert run(engine, "function", "load", forever) == b"forever"
    assert is_error(run(engine, "fcall", "spin", "0"), b"instruction budget")
    assert run(engine, "fcall", "bump", "1", "alive") >= 1


@pytest.mark.timeout(120, method="thread")
def test_restore_loads_all_its_libraries_within_one_budget():
    # Each library burns about 40% of the budget at load: two fit, three do not.
    engine = Engine()
    heavy = [
        b"#!lua name=h%d\nlocal x = 0 for i = 1, 1000000 do x = x + 1 end "
        b"redis.register_function('h%d', function() return x end)" % (n, n)
        for n in range(3)
    ]
    assert run(engine, "function", "load", heavy[0]) == b"h0"
    payload = function_dump.dump_payload(heavy)
    reply = run(engine, "function", "restore", payload, "flush")
    assert reply == resp.Error(b"ERR Error registering functions: ERR FUNCTION LOAD timeout")
    assert run(engine, "function", "restore", function_dump.dump_payload(heavy[:2]), "flush") == (
        resp.OK
    )
    assert run(engine, "fcall", "h1", "0") == 1_000_000


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=64), opcode=st.sampled_from([0xF5, 0xF6, 0x00]))
def test_restore_of_any_payload_is_an_answer(body, opcode):
    engine = Engine()
    data = bytes([opcode]) + body + b"\n\x00"
    payload = data + function_dump.crc64(data).to_bytes(8, "little")
    reply = run(engine, "function", "restore", payload)
    assert reply == resp.OK or type(reply) is resp.Error
    assert not reply.startswith(b"ERR internal error") if type(reply) is resp.Error else True


def test_lzf_strings_decompress_and_refuse_to_grow_past_their_size():
    # "abcabcabcabc": 3 literals, then a back reference of 9 bytes (7 + 2, the length in
    # a byte of its own) at distance 3 (2 + 1), as an RDB LZF string (0xC3, sizes)
    compressed = bytes([2]) + b"abc" + bytes([7 << 5, 0, 2])
    lzf_string = bytes([0xC3, len(compressed), 12]) + compressed
    payload = bytes([function_dump.OPCODE_FUNCTION2]) + lzf_string + b"\x0a\x00"
    payload += function_dump.crc64(payload).to_bytes(8, "little")
    assert function_dump.read_payload(payload, 12) == [b"abcabcabcabc"]
    with pytest.raises(function_dump.PayloadError):
        function_dump.read_payload(payload, 11)  # longer than allowed
    bad = bytes([0xC3, 2, 3, 1 << 5, 40])  # a reference before the start
    payload = bytes([function_dump.OPCODE_FUNCTION2]) + bad + b"\x0a\x00"
    payload += function_dump.crc64(payload).to_bytes(8, "little")
    with pytest.raises(function_dump.PayloadError):
        function_dump.read_payload(payload, 100)


def test_oom_flags_follow_redis():
    engine = Engine(EngineConfig(maxmemory=1, maxmemory_policy="noeviction"))
    engine.db.used_memory = 10  # over maxmemory
    engine.out_of_memory = lambda: True  # type: ignore[method-assign]
    assert is_error(run(engine, "eval", "#!lua\nreturn 1", "0"), b"allow-oom flag is not set")
    assert run(engine, "eval", "#!lua flags=no-writes\nreturn 1", "0") == 1
    assert run(engine, "eval", "#!lua flags=allow-oom\nreturn redis.call('set', 'k', 1)", "0") == (
        resp.OK
    )
    # without a shebang: refused before the first write, as Redis does
    assert is_error(run(engine, "eval", "return redis.call('set', 'k', 2)", "0"), b"OOM command")
