"""Hostile scripts: whatever a script does, every replica answers the same error or reply,
in bounded time and memory, and the engine goes on. A script is replayed from the shard's
log on every replica and at every restart, so one that escapes these limits kills its
shard for good. What Redis also defines is compared with a real redis-server in
tests/differential/test_scripting_differential.py."""

from __future__ import annotations

import random

import pytest

from node.engine.engine import Engine
from proto import resp

NOW = 1_700_000_000_000


def run(engine: Engine, *args: bytes | str) -> resp.Reply:
    encoded = [arg.encode() if isinstance(arg, str) else arg for arg in args]
    return engine.execute(encoded, NOW, random.Random(7))


def evaluate(engine: Engine, script: str | bytes, *rest: str) -> resp.Reply:
    return run(engine, "eval", script, *(rest or ("0",)))


def is_error(reply: resp.Reply, text: bytes) -> bool:
    return type(reply) is resp.Error and text in reply


@pytest.fixture
def engine() -> Engine:
    return Engine()


def assert_alive(engine: Engine) -> None:
    assert evaluate(engine, "return redis.call('incr', KEYS[1])", "1", "alive") >= 1


# ------------------------------------------------------------------ finding 1


def test_a_table_that_contains_itself_is_cut_at_redis_depth(engine):
    reply = evaluate(engine, "local t = {} t[1] = t return t")
    depth = 0
    while type(reply) is list:
        assert len(reply) == 1
        reply, depth = reply[0], depth + 1
    assert reply == resp.Error(b"ERR reached lua stack limit")
    assert depth == 7995  # what redis-server 7.0 answers
    assert_alive(engine)


# ------------------------------------------------------------------ finding 2


@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize(
    "script, expected",
    [
        ("return setmetatable({}, {__index=function() while true do end end})", []),
        ("return setmetatable({}, {__index=function() return string.rep('x', 150000000) end})",
         []),
        ("return setmetatable({}, {__len=function() while true do end end})", []),
        ("return {1, setmetatable({}, {__index=function() while true do end end})}", [1, []]),
        ("return setmetatable({ok='fine'}, {__index=function() while true do end end})",
         resp.Simple(b"fine")),
    ],
)  # fmt: skip
def test_reply_conversion_runs_no_metamethod(engine, script, expected):
    # Redis reads a reply with raw access: the metamethods never run.
    assert evaluate(engine, script) == expected
    assert_alive(engine)


@pytest.mark.timeout(60, method="thread")
def test_an_error_object_with_metamethods_stays_inside_the_limits(engine):
    loop = "error(setmetatable({}, {__index=function() while true do end end}))"
    assert is_error(evaluate(engine, loop), b"instruction budget")
    big = "error(setmetatable({}, {__index=function() return string.rep('x', 150000000) end}))"
    assert is_error(evaluate(engine, big), b"not enough memory")
    assert_alive(engine)


# ------------------------------------------------------------------ finding 3

_DUMP = "string.dump(function() return 1 end)"
_REFUSED = b"1: unexpected symbol near 'char(27)'"


@pytest.mark.parametrize(
    "script, chunk",
    [
        (f"return {{type(loadstring({_DUMP})), select(2, loadstring({_DUMP}))}}",
         b'[string "\x1bLuaQ"]:'),
        (f"return {{type(loadstring({_DUMP}, '=mine')), select(2, loadstring({_DUMP}, '=mine'))}}",
         b"mine:"),
        (f"local s = {_DUMP} local i = 0 "
         "local f, e = load(function() i = i + 1 return s:sub(i, i) end) return {type(f), e}",
         b"(load):"),
        (f"local s = {_DUMP} local done = false "
         "local f, e = load(function() if done then return nil end done = true return s end) "
         "return {type(f), e}",
         b"(load):"),
    ],
)  # fmt: skip
def test_bytecode_is_refused_by_loadstring_and_load(engine, script, chunk):
    assert evaluate(engine, script) == [b"nil", chunk + _REFUSED]


def test_bytecode_is_refused_as_a_script_body(engine):
    body = b"\x1bLuaQ\x00\x01\x04\x08\x04\x08\x00"
    expected = b"ERR Error compiling script (new function): user_script:" + _REFUSED
    assert run(engine, "eval", body, "0") == resp.Error(expected)
    assert run(engine, "script", "load", body) == resp.Error(expected)
    assert_alive(engine)
