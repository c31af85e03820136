"""Lua scripts, engine vs. real redis-server: the same replies.

Two parts: scripts that exercise the conversions and errors of the redis library one by
one, and every command case of the other differential tests run through a script
(`redis.pcall(unpack(ARGV))`), so that each command's reply is checked after its trip into
Lua and back. Left out here, because they are meant to differ: math.random (Redis's
generator state outlives a run, ours is reset), TIME (ours is the entry's), the server
version, what the sandbox removes beyond Redis's own (collectgarbage, coroutine, newproxy,
getfenv/setfenv), and what must not differ between replicas: the order of pairs/next
(sorted here: in Lua it depends on addresses), tostring of tables (no address), tail calls
(plain calls here, so deep tail recursion overflows), replies nested deeper than
REPLY_SLOTS, and the limits themselves (tests/unit/test_script_limits.py).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine.scripting import REPLY_SLOTS
from proto.commands import CommandSpec, Flag, Reason, Unresolved, lookup, resolve
from proto.slots import key_slot
from tests.differential.harness import Differential
from tests.differential.test_differential import CASES, EXAMPLES

SCRIPTS: list[tuple[str, list[str]]] = [
    ("return redis.error_reply('My Error')", []),
    ("return redis.error_reply('-X y')", []),
    ("return {err='My Error'}", []),
    ("return {err='-X y'}", []),
    ("return {err=42}", []),
    ("return redis.status_reply('FINE')", []),
    ("return {ok='-FINE'}", []),
    ("return 3.9", []),
    ("return -3.9", []),
    ("return -0.5", []),
    ("return 1e100", []),
    ("return {1, 2, nil, 4}", []),
    ("return {1, 'a', {ok='x'}, {err='e'}, {1, {2, {3}}}}", []),
    ("return true", []),
    ("return false", []),
    ("return {false, true}", []),
    ("return nil", []),
    ("return KEYS", ["2", "{k}1", "{k}2", "a1", "a2"]),
    ("return ARGV", ["0", "a", "", "c"]),
    ("KEYS[1] = 'x'; return KEYS[1]", ["1", "k"]),
    ("return redis.call('set', KEYS[1], ARGV[1])", ["1", "s", "x"]),
    ("return redis.call('incr', KEYS[1])", ["1", "s"]),
    ("return redis.pcall('incr', KEYS[1])", ["1", "s"]),
    ("local r = redis.pcall('incr', KEYS[1]); return r['err']", ["1", "s"]),
    ("return redis.call('set', KEYS[1], 1.5)", ["1", "n"]),
    ("return redis.call('get', KEYS[1])", ["1", "n"]),
    ("return redis.call('set', KEYS[1], 10000000000000000)", ["1", "n"]),
    ("return redis.call('get', KEYS[1])", ["1", "n"]),
    ("return redis.call('set', KEYS[1], 1e100)", ["1", "n"]),
    ("return redis.call('get', KEYS[1])", ["1", "n"]),
    ("return redis.call('get', 'nokey')", []),
    ("return type(redis.call('get', 'nokey'))", []),
    ("return redis.call('hgetall', 'nohash')", []),
    (
        "redis.call('zadd', KEYS[1], 1.5, 'a', 2, 'b'); "
        "return redis.call('zrange', KEYS[1], 0, -1, 'withscores')",
        ["1", "z"],
    ),
    ("return redis.call('zscore', KEYS[1], 'a')", ["1", "z"]),
    ("return redis.call('zincrby', KEYS[1], 0.1, 'a')", ["1", "z"]),
    ("redis.call('hset', KEYS[1], 'f', 'v'); return redis.call('hgetall', KEYS[1])", ["1", "h"]),
    ("return redis.call('nosuch')", []),
    ("return redis.pcall('nosuch')", []),
    ("return redis.call()", []),
    ("return redis.call('get')", []),
    ("return redis.call('get', {})", []),
    ("return redis.call('blpop', 'l', 0)", []),
    ("return redis.call('eval', 'return 1', 0)", []),
    ("return redis.call('multi')", []),
    ("return redis.call('ping')", []),
    ("return redis.call('echo', 'hi')", []),
    ("return redis.sha1hex('')", []),
    ("return redis.sha1hex('abc')", []),
    ("return redis.setresp(2)", []),
    ("return redis.set_repl(redis.REPL_ALL)", []),
    ("return redis.replicate_commands()", []),
    ("return redis.log(redis.LOG_WARNING, 'hi')", []),
    ("return foo", []),
    ("foo = 1", []),
    ("string.foo = 1", []),
    ("return x(", []),
    ("error('boom')", []),
    ("error({err='CUSTOM boom'})", []),
    ("error({err='boom'})", []),
    ("error(42)", []),
    ("\nlocal a = 1\nreturn redis.call('incr', KEYS[1])", ["1", "s"]),
    (
        "for _, name in ipairs({'os', 'io', 'debug', 'print', 'dofile', 'require'}) do "
        "local ok, e = pcall(function() return _G[name] end) if ok then return name end end",
        [],
    ),
    ("return {type(loadstring), type(unpack), _VERSION}", []),
    ("return {string.format('%5.2f', 3.14159), ('x'):rep(3), table.concat({1, 2}, '-')}", []),
    ("return {math.floor(3.7), math.max(1, 5), tonumber('12'), tostring(12)}", []),
    ("return 1", ["-1"]),
    ("return 1", ["2", "a"]),
    ("return 1", ["x"]),
]

# What a hostile script may try that Redis defines: replies read with raw access (no
# metamethod runs), the other reply types, numbers as command arguments, error objects,
# library edge cases. (Our limits have no counterpart in Redis: tests/unit/test_script_limits.py.)
HOSTILE_SCRIPTS: list[tuple[str, list[str]]] = [
    ("return setmetatable({}, {__index = function(t, k) return 'x' end})", []),
    ("return setmetatable({ok = 'fine'}, {__index = function(t, k) return 'x' end})", []),
    ("return {1, setmetatable({}, {__index = function() return 'x' end}), 3}", []),
    ("return {double = 3.14}", []),
    ("return {double = -0.5}", []),
    ("return {double = 'x'}", []),
    ("return {big_number = '123'}", []),
    ("return {map = {a = 1}}", []),
    ("return {set = {a = true}}", []),
    ("return {verbatim_string = {format = 'txt', string = 'hi'}}", []),
    ("return {1, {2, {map = {a = {set = {x = true}}}}}}", []),
    ("return {ok = 1}", []),
    ("return {err = 'x', ok = 'y'}", []),
    ("return {ok = 'a\r\nb'}", []),
    ("return {1, 2, 3, nil, 5}", []),
    ("return {2^63, -2^63, 1e300, -1e300, 0.5, -0.5, 1e15 + 0.5}", []),
    ("return redis.call('set', KEYS[1], 0.1)", ["1", "n"]),
    ("return redis.call('get', KEYS[1])", ["1", "n"]),
    ("return redis.call('set', KEYS[1], 1e17)", ["1", "n"]),
    ("return redis.call('get', KEYS[1])", ["1", "n"]),
    ("return redis.call('set', KEYS[1], 1/0)", ["1", "n"]),
    ("return redis.call('get', KEYS[1])", ["1", "n"]),
    ("return redis.call('set', KEYS[1], -1/3)", ["1", "n"]),
    ("return redis.call('get', KEYS[1])", ["1", "n"]),
    ("return type(redis.call)", []),
    ("return redis.call('get', setmetatable({}, {__tostring = function() return 'k' end}))", []),
    ("error({err = 42})", []),
    ("error(setmetatable({}, {__index = function(t, k) return 'X' .. k end}))", []),
    ("error(setmetatable({}, {__index = function(t, k) return 7 end}))", []),
    ("error(nil)", []),
    ("error(true)", []),
    ("error('x', 0)", []),
    ("error('x', 2)", []),
    ("local function f() error('deep') end\nlocal function g() f() end\ng()", []),
    ("\n\nreturn redis.call('incr', KEYS[1])", ["1", "s"]),
    ("local ok, e = pcall(redis.call, 'incr', KEYS[1]) return e", ["1", "s"]),
    ("return {pcall(error, {err = 'mine'})}", []),
    ("return string.rep('', 10)", []),
    ("return {pcall(string.rep, 'x', -1)}", []),
    ("return {tonumber('0x10'), tonumber('  12  '), tonumber('1e1'), tonumber('z', 36)}", []),
    ("return tonumber('10', 99)", []),
    ("return unpack({}, 1, 1e8)", []),
    ("return {unpack({1, 2, 3}, 2)}", []),
    ("return string.format('%d', 2^63)", []),
    ("return string.format('%5.1f|%-5s|%q', 3.14159, 'ab', 'a\\0b')", []),
    ("return ({1, 2, 3}).x", []),
    ("return #KEYS", []),
    ("return string.rep('ab', 3, 'x')", []),
    ("return {string.find('hello world', 'o w')}", []),
    ("return {string.find('hello', 'l+')}", []),
    ("return {string.match('key=value', '(%w+)=(%w+)')}", []),
    ("return string.gsub('hello world', '(%w+)', '<%1>')", []),
    ("return {string.gsub('abc', '%w', '%2')}", []),
    ("return string.find('a', '(')", []),
    ("return string.find('a', '[a')", []),
    ("return string.find('a', '%')", []),
    (
        "local t = {} for w in string.gmatch('one two three', '%a+') do t[#t + 1] = w end return t",
        [],
    ),
    ("return table.concat({1, 2, 3}, ', ', 2, 3)", []),
    ("return table.concat({1, {}, 3})", []),
    ("local t = {3, 1, 2} table.sort(t) return t", []),
    ("local t = {3, 1, 2} table.sort(t, function(a, b) return a > b end) return t", []),
    ("local t = {1, 2, 3} table.insert(t, 1, 0) table.remove(t) return t", []),
    ("return table.maxn({1, 2, [10] = 3})", []),
    ("return {pairs()}", []),
    ("return {next({}, 'nokey')}", []),
    ("return select('#', unpack({1, 2, 3}))", []),
    ("local t = setmetatable({}, {__index = function(t, k) return k .. '!' end}) return t.x", []),
    (
        "local mt = {__add = function(a, b) return 42 end} "
        "return setmetatable({}, mt) + setmetatable({}, mt)",
        [],
    ),
    ("local function f(n) if n == 0 then return 'done' end return f(n - 1) end return f(100)", []),
    ("return {xpcall(function() error('x') end, function(e) return 'handled: ' .. e end)}", []),
    ("return {math.floor(-3.5), math.max(1, 2, 3), math.huge > 1, math.fmod(7, 3)}", []),
    ("math.randomseed('x')", []),
    ("return math.random('a')", []),
    ("return math.random(3, 1)", []),
]


@pytest.fixture
def diff(redis_port):
    diff = Differential(redis_port, resp3=False)
    yield diff
    diff.close()


def test_scripts_reply_as_redis_does(diff):
    for script, rest in SCRIPTS:
        diff.check([b"EVAL", script.encode(), *(part.encode() for part in rest or ["0"])])


def test_hostile_scripts_reply_as_redis_does(diff):
    for script, rest in HOSTILE_SCRIPTS:
        diff.check([b"EVAL", script.encode(), *(part.encode() for part in rest or ["0"])])


def test_replies_nested_deep_convert_as_in_redis(diff):
    # Redis answers "reached lua stack limit" past 7995 nested arrays; we cut earlier, with
    # the same text (REPLY_SLOTS, tests/unit/test_script_limits.py): compared below it.
    for script in [
        f"local t = {{}} for i = 1, {REPLY_SLOTS - 2} do t = {{t}} end return t",
        "local t = {} for i = 1, 60 do t = {map = {k = t}} end return t",
        "local t = {} for i = 1, 60 do t = {set = {[i] = true}, t} end return t",
        "local t = {1} for i = 1, 100 do t = {t, 'x', {ok = 'y'}} end return t",
    ]:
        diff.check([b"EVAL", script.encode(), b"0"])


def test_bytecode_is_refused_as_redis_refuses_it(diff):
    dump = "string.dump(function() return 1 end)"
    for script in [
        f"return {{type(loadstring({dump})), select(2, loadstring({dump}))}}",
        f"return select(2, loadstring({dump}, '=named'))",
        f"return select(2, loadstring({dump}, '@file'))",
        "return select(2, loadstring('\\27Lua'))",
        f"local s = {dump} local i = 0 "
        "return {select(2, load(function() i = i + 1 return s:sub(i, i) end))}",
        "return {select(2, load(function() return {} end))}",
        "return {load(function() return nil end)}",
    ]:
        diff.check([b"EVAL", script.encode(), b"0"])
    body = b"\x1bLuaQ\x00\x01\x04\x08\x04\x08\x00"
    diff.check([b"EVAL", body, b"0"])
    diff.check([b"SCRIPT", b"LOAD", body])
    diff.check([b"EVAL", b"\x1b", b"0"])


def test_script_cache_commands_reply_as_redis_does(diff):
    diff.check([b"SCRIPT", b"FLUSH"])
    sha = diff.check([b"SCRIPT", b"LOAD", b"return ARGV[1]"])
    diff.check([b"EVALSHA", sha, b"0", b"hello"])
    diff.check([b"EVALSHA", sha.upper(), b"0", b"hello"])
    diff.check([b"EVALSHA_RO", sha, b"0", b"ro"])
    diff.check([b"EVAL_RO", b"return redis.call('get', KEYS[1])", b"1", b"missing"])
    diff.check([b"SCRIPT", b"EXISTS", sha, b"f" * 40])
    diff.check([b"EVALSHA", b"f" * 40, b"0"])
    diff.check([b"SCRIPT", b"LOAD", b"return ("])
    diff.check([b"SCRIPT", b"FLUSH", b"ASYNC"])
    diff.check([b"SCRIPT", b"FLUSH", b"SOMETIMES"])
    diff.check([b"SCRIPT", b"EXISTS", sha])
    diff.check([b"EVAL", b"return 'cached'", b"0"])
    diff.check([b"SCRIPT", b"EXISTS", b"%s" % _sha(b"return 'cached'")])


def _sha(body: bytes) -> bytes:
    return hashlib.sha1(body).hexdigest().encode()


def _scriptable(case_and_args) -> bool:
    """A command a script can run the same way in both: no random effect, keys in one slot."""
    case, args = case_and_args
    resolved = resolve(args)
    spec: CommandSpec | None
    if isinstance(resolved, Unresolved):  # a wrong argument count still makes a case
        spec = lookup(args[0]) if resolved.reason is Reason.WRONG_ARITY else None
    else:
        spec = resolved
    if case.resync_keys or spec is None or spec.flags & Flag.RANDOM:
        return False
    return len({key_slot(key) for key in spec.keys(args)}) <= 1


@settings(
    max_examples=max(EXAMPLES // 2, 50),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sequence=st.lists(
        st.one_of(*[st.tuples(st.just(case), case.strategy) for case in CASES]).filter(_scriptable),
        min_size=1,
        max_size=20,
    )
)
def test_every_command_replies_through_a_script_as_in_redis(redis_port, sequence):
    diff = Differential(redis_port, resp3=False)
    try:
        for case, args in sequence:
            script = [b"EVAL", b"return redis.pcall(unpack(ARGV))", b"0", *args]
            diff.check(script, case.normalize)
    finally:
        diff.close()
