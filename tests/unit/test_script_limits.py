"""Hostile scripts: whatever a script does, every replica answers the same error or reply,
in bounded time and memory, and the engine goes on. A script is replayed from the shard's
log on every replica and at every restart, so one that escapes these limits kills its
shard for good. What Redis also defines is compared with a real redis-server in
tests/differential/test_scripting_differential.py."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.engine.scripting import REPLY_SLOTS
from proto import resp

NOW = 1_700_000_000_000


def run(engine: Engine, *args: bytes | str) -> resp.Reply:
    encoded = [arg.encode() if isinstance(arg, str) else arg for arg in args]
    return engine.execute(encoded, NOW, random.Random(7))


def evaluate(engine: Engine, script: str | bytes, *rest: str) -> resp.Reply:
    return run(engine, "eval", script, *(rest or ("0",)))


def is_error(reply: resp.Reply, text: bytes) -> bool:
    # mypy misreads `in` on Error, a bytes subclass.
    return type(reply) is resp.Error and text in reply  # type: ignore[comparison-overlap]


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
    # Redis 7.0 cuts at 7995 levels; our encoder recurses per level (see REPLY_SLOTS)
    assert depth == REPLY_SLOTS - 1
    assert len(resp.encode(evaluate(engine, "local t = {} t[1] = t return {t, t}"))) > 0
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
    engine.config.script_max_instructions = 10**9  # so that memory is the limit reached
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


# ------------------------------------------------------------------ beyond the findings

LOOP_OF = "local i = 0 while true do i = i + 1 {} end"


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize(
    "script, text",
    [
        # time: every kind of work is charged, none escapes the budget
        ("while true do end", b"instruction budget"),
        ("while true do pcall(function() while true do end end) end", b"instruction budget"),
        ("while true do xpcall(function() error('x') end, function() while true do end end) end",
         b"instruction budget"),
        ("while true do redis.call('GET', 'k') end", b"instruction budget"),
        ("while true do redis.pcall('NOSUCH') end", b"instruction budget"),
        ("while true do pcall(error, 'x') end", b"instruction budget"),
        ("local s = string.rep('x', 1000000) while true do local u = s:upper() end",
         b"instruction budget"),
        ("local s = string.rep('x', 100000) while true do local t = s .. math.random() end",
         b"instruction budget"),
        ("local t = {} for i = 1, 100000 do t[i] = i end while true do table.insert(t, 1, 0) end",
         b"instruction budget"),
        ("local t = {} for i = 1, 10000 do t[i] = 'x' end while true do table.concat(t) end",
         b"instruction budget"),
        ("return table.concat({}, '', 1, 2^31)", b"instruction budget"),
        ("local t = {} for i = 1, 10000 do t['k' .. i] = i end "
         "while true do for k in pairs(t) do end end", b"instruction budget"),
        ("local s = string.rep('x', 1000000) while true do redis.sha1hex(s) end",
         b"instruction budget"),
        ("local src = string.rep('local a = 1 ', 10000) while true do loadstring(src) end",
         b"instruction budget"),
        ("local s = string.rep('a', 3000) return s:find('a*a*a*b')", b"instruction budget"),
        ("local s = string.rep('a', 3000) return s:find('[%%]*a*a*a*b')", b"instruction budget"),
        ("local s = string.rep('a', 100000) return s:find(string.rep('a', 5000) .. 'b', 1, true)",
         b"instruction budget"),
        ("while true do local f = load(function() return nil end) end", b"instruction budget"),
        # memory: bounded, and the engine goes on
        ("local t = {} local i = 0 while true do i = i + 1 t[i] = {} end",
         b"instruction budget"),
        ("return string.rep('x', 2^30)", b"instruction budget"),
        ("local s = 'x' for i = 1, 40 do s = s .. s end return #s", b"not enough memory"),
        # the C stack: Lua recursion, metamethods, patterns
        ("local function f() return 1 + f() end return f()", b"stack overflow"),
        ("local t = setmetatable({}, {}) getmetatable(t).__index = function(t, k) return t[k] end "
         "return t.x", b"C stack overflow"),
        ("local function f() return pcall(f) end return f()", b""),
        ("return string.find(string.rep('a', 200000), string.rep('a?', 200000))",
         b"pattern too complex"),
        ("return string.gsub('x', string.rep('(', 150) .. 'x' .. string.rep(')', 150), '')",
         b"pattern too complex"),
        # nondeterministic order: iteration over table keys whose order is their address
        ("local t = {[{}] = 1, a = 2} for k in pairs(t) do end",
         b"iterate over a table with a table key"),
        ("local t = {[type] = 1} return next(t)", b"iterate over a table with a function key"),
        ("return {map = {[{}] = 1}}", b"iterate over a table with a table key"),
    ],
)  # fmt: skip
def test_hostile_scripts_fail_with_an_error_and_the_engine_goes_on(engine, script, text):
    reply = evaluate(engine, script)
    if text:
        assert is_error(reply, text), reply
    else:  # no error required, only an end
        assert reply is not None or reply is None
    assert_alive(engine)


def test_a_budget_error_cannot_be_caught(engine):
    script = "local ok = pcall(function() while true do end end) return redis.call('SET', 'x', 1)"
    assert is_error(evaluate(engine, script), b"instruction budget")
    assert run(engine, "get", "x") is None


@pytest.mark.parametrize(
    "script, expected",
    [
        ("return string.rep('', 2^31 - 1)", b""),
        ("return string.rep('x', -1)", b""),
        ("return ('ab'):rep(3)", b"ababab"),
        ("return rawget(_G, 'newproxy') == nil and rawget(_G, 'collectgarbage') == nil", 1),
        ("return getmetatable('')", None),
        ("return type(getmetatable(redis.call))", b"nil"),
        ("return tostring(setmetatable({}, {__tostring = function() error('x') end}))", b"table"),
        ("local t = {} for k, v in pairs({c = 3, a = 1, b = 2, [2] = 'x', [1] = 'y'}) do "
         "t[#t + 1] = k end return t", [1, 2, b"a", b"b", b"c"]),
        ("local t = {x = 1, y = 2, z = 3} local k = next(t) t[k] = nil return {k, next(t, k)}",
         [b"x", b"y", 2]),
        ("local t = {} for k in pairs({[true] = 1, [false] = 2, [1.5] = 3}) do t[#t + 1] = "
         "tostring(k) end return t", [b"1.5", b"false", b"true"]),
        ("local t = {} table.foreach({b = 1, a = 2}, function(k) t[#t + 1] = k end) return t",
         [b"a", b"b"]),
        ("return table.maxn({1, 2, [10] = 3})", 10),
        ("local n = 0 for i = 1, 100 do local ok = pcall(error, {}) if not ok then n = n + 1 end "
         "end return n", 100),
        ("return {pcall(error, setmetatable({}, {__index = function() while true do end end}))}",
         None),
    ],
)  # fmt: skip
def test_the_sandbox_answers_these_deterministically(engine, script, expected):
    reply = evaluate(engine, script)
    if expected is None and script.startswith("return {pcall(error"):
        # pcall reads an error table's err as Redis does, with its __index: under the budget
        assert is_error(reply, b"instruction budget")
    else:
        assert reply == expected


def test_the_error_handler_and_error_objects_run_under_the_limits(engine):
    cases = {
        "error(setmetatable({}, {__index = function(t, k) return 'X' .. k end}))": b"Xerr script",
        "error(setmetatable({}, {__index = function(t, k) error('inner') end}))": b"ERR",
        "error(setmetatable({}, {__newindex = function() while true do end end}))": b"budget",
        "error(setmetatable({}, {__tostring = function() error('x') end}))": b"ERR unknown error",
        "error({err = setmetatable({}, {__tostring = function() return 'no' end})})":
            b"ERR unknown error",
    }  # fmt: skip
    for script, text in cases.items():
        assert is_error(evaluate(engine, script), text), script
    assert_alive(engine)


def test_loadstring_and_load_compile_in_the_sandbox_and_keep_the_line(engine):
    script = 'local f = loadstring(\'return redis.call("incr", "s")\') return f()'
    run(engine, "set", "s", "x")
    reply = evaluate(engine, script)
    assert is_error(reply, b"ERR value is not an integer or out of range script: ")
    # Redis names a loaded chunk by its source, as getinfo does
    assert reply.endswith(b'on return redis.call("incr", "s"):1.')
    reply = evaluate(engine, "\n\nreturn redis.call('incr', 's')")
    assert reply.endswith(b"on @user_script:3.")


def test_a_deep_tail_recursion_is_a_deep_recursion(engine):
    # Tail calls are plain calls here (see without_tail_calls): Redis would run this.
    script = "local function f(n) if n == 0 then return 0 end return f(n - 1) end return f(1e5)"
    assert is_error(evaluate(engine, script), b"stack overflow")
    script = "local function f(n) if n == 0 then return 0 end return f(n - 1) end return f(1000)"
    assert evaluate(engine, script) == 0


def test_a_reply_too_large_for_the_memory_limit_is_an_error(engine):
    engine.config.script_max_memory = 1 << 20
    run(engine, "set", "big", b"x" * 2_000_000)
    reply = evaluate(engine, "return redis.call('GET', 'big')")
    assert is_error(reply, b"ERR not enough memory script: ")
    assert evaluate(engine, "return redis.pcall('GET', 'big')['err']") == b"ERR not enough memory"
    assert_alive(engine)


# ------------------------------------------------------------------ determinism

# Scripts whose outcome depends on the memory limit, the collector, table-key order,
# errors and the budget: replayed on every replica, they must give the same replies and
# leave the same state. Small limits, so that they are reached.
DETERMINISM_CONFIG: dict[str, Any] = {
    "script_max_memory": 2 * 1024 * 1024,
    "script_max_instructions": 20_000_000,
}
DETERMINISM_SCRIPTS: list[tuple[str, ...]] = [
    # where the memory limit stops a script, and what it does after (the collector runs
    # again once the hook has seen a quarter of the limit allocated)
    ("local n = 0 local ok, e = pcall(function() local t = {} while true do n = n + 1 "
     "t[n] = string.rep('x', 50) .. n end end) for i = 1, 3000 do end "
     "redis.call('SET', KEYS[1], n) return {n, e}", "1", "{d}mem"),
    ("local t = {} for i = 1, 1e7 do t[i] = i end", "0"),
    # weak tables empty when the collector runs, which it does at the same points
    ("local w = setmetatable({}, {__mode = 'v'}) w[1] = {} local seen = {} "
     "for i = 1, 40000 do local x = {i} if w[1] == nil and not seen[1] then seen[1] = i end end "
     "redis.call('SET', KEYS[1], seen[1] or -1) return seen[1]", "1", "{d}weak"),
    # table-key order: sorted, whatever keys the table had before
    ("local t = {} local k = {} t[k] = 1 for i = 1, 50 do t['k' .. i] = i end t[k] = nil "
     "local order = {} for key in pairs(t) do order[#order + 1] = key end "
     "redis.call('RPUSH', KEYS[1], unpack(order)) return next(t)", "1", "{d}order"),
    ("return {map = {b = 1, a = 2, [3] = 'x'}, set = {}}", "0"),
    ("local t = {[{}] = 1} for k in pairs(t) do redis.call('INCR', KEYS[1]) end", "1", "{d}n"),
    # the budget stops a script between its writes at the same point
    ("local i = 0 while true do i = i + 1 redis.call('INCR', KEYS[1]) end", "1", "{d}budget"),
    ("for i = 1, 100 do redis.call('RPUSH', KEYS[1], math.random(1000)) end "
     "return redis.call('LRANGE', KEYS[1], 0, 4)", "1", "{d}random"),
    ("error(setmetatable({}, {__index = function(t, k) return 'X' .. k end}))", "0"),
    ("local t = {} t[1] = t return t", "0"),
    ("return string.rep('x', 1e9)", "0"),
    ("local s = string.rep('a', 2000) return s:find('a*a*b')", "0"),
    ("return {tostring(0/0), tostring(1/0), tostring(-0), 2^63, -2^63, 0/0, 1e15 + 0.5}", "0"),
    ("local f = loadstring('return ' .. string.rep('(', 300) .. '1' .. string.rep(')', 300)) "
     "return type(f)", "0"),
]  # fmt: skip


def replay(engine: Engine | None = None) -> list[str]:
    """The replies (RESP3 bytes, hex) of DETERMINISM_SCRIPTS and the state they leave."""
    engine = engine or Engine(EngineConfig(**DETERMINISM_CONFIG))
    replies = [
        resp.encode(evaluate(engine, *case), resp3=True).hex() for case in DETERMINISM_SCRIPTS
    ]
    return [*replies, hashlib.sha256(engine.snapshot()).hexdigest()]


def test_hostile_scripts_give_the_same_replies_and_state_on_two_replicas():
    # One replica with a history (other scripts, a bigger heap in its process); the other
    # a fresh process, as a replica restarted from its log.
    warm = Engine(EngineConfig(**DETERMINISM_CONFIG))
    for number in range(50):
        evaluate(warm, f"local t = {{}} for i = 1, {number * 100} do t[i] = 'v' .. i end return #t")
    here = replay(warm)
    code = (
        "import json; from tests.unit.test_script_limits import replay; print(json.dumps(replay()))"
    )
    there = json.loads(
        subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).resolve().parents[2],
        ).stdout
    )
    assert here == there
    assert here == replay()  # and again in this process, on a fresh engine


# ------------------------------------------------------------------ fuzzing

_LEAVES = [
    "local _ = 1",
    "while true do end",
    "error('e')",
    "error({err = 'E'})",
    "error(setmetatable({}, {__index = function() while true do end end}))",
    "local s = string.rep('x', 100000) s = s .. s",
    "redis.call('INCR', 'fuzz')",
    "redis.pcall('NOSUCH')",
    "redis.call({})",
    "return setmetatable({}, {__index = function() while true do end end})",
    "return {map = {a = {set = {b = true}}}}",
    "local t = {} t[1] = t return t",
    "string.find(string.rep('a', 500), 'a*a*b')",
    "string.gsub('abc', '%w', function(c) error(c) end)",
    "table.sort({3, 1, 2}, function(a, b) error('cmp') end)",
    "loadstring(string.dump(function() end))",
    "load(function() error('reader') end)",
    "for k in pairs({[{}] = 1}) do end",
    "local x = #string.rep('ab', 1e6)",
    "local t = {} for i = 1, 1e6 do t[i] = {} end",
    "math.randomseed('x')",
    "return unpack({}, 1, 1e6)",
    "return tostring(setmetatable({}, {__tostring = function() error('t') end}))",
    # the libraries Redis embeds
    "local t = {} local k = {} t[k] = 1 for i = 1, 30 do t['k' .. i] = i end t[k] = nil "
    "redis.call('SET', 'fuzz:json', cjson.encode(t))",
    "redis.call('SET', 'fuzz:pack', cmsgpack.pack({a = 1, [2] = {b = true}, [{}] = 'x'}))",
    "cjson.decode(string.rep('[', 999))",
    "cjson.encode_max_depth(100000) local t = {} for i = 1, 9000 do t = {t} end cjson.encode(t)",
    "cmsgpack.unpack(string.rep('\\145', 5000))",
    "cmsgpack.unpack(string.rep('\\1', 9000))",
    "struct.unpack(string.rep('i', 3000), string.rep('x', 12000))",
    "local x = 0 for i = 1, 1e6 do x = bit.bxor(x, i) end",
    "return cjson.decode(cjson.encode({cjson.null, 1/3, 'x'}))",
    "redis.setresp(3) return redis.call('HGETALL', 'fuzz')",
]
_WRAPPERS = [
    "pcall(function() BODY end)",
    "xpcall(function() BODY end, function(e) BODY end)",
    "local ok, e = pcall(function() BODY end) if not ok then error(e) end",
    "setmetatable({}, {__index = function() BODY end}).key = 1",
    "local _ = setmetatable({}, {__index = function() BODY end}).key",
    "for i = 1, 3 do BODY end",
    "local f = loadstring([==[BODY]==]) if f then f() end",
    "local function f() BODY end f()",
]


def _scripts() -> st.SearchStrategy[str]:
    leaves = st.sampled_from(_LEAVES)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(lambda wrapper, body: wrapper.replace("BODY", body),
                      st.sampled_from(_WRAPPERS), inner),
            st.builds(lambda a, b: a + "\n" + b, inner, inner),
        ),
        max_leaves=6,
    )  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=_scripts())
def test_no_script_escapes_the_engine(script):
    config = EngineConfig(script_max_instructions=300_000, script_max_memory=4 * 1024 * 1024)
    first, second = Engine(config), Engine(config)
    reply = evaluate(first, script)
    resp.encode(reply)  # whatever it is, it can be sent
    assert reply == evaluate(second, script)
    assert first.snapshot() == second.snapshot()
    assert_alive(first)
