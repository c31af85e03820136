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

The libraries (cjson, cmsgpack, struct, bit) are ours, in Lua; meant to differ there: the
order of an object's keys in cjson.encode and of a map's entries in cmsgpack.pack (sorted
here; Redis's is its hash table's, which here would differ between replicas), cjson's
configuration lasting for a run only (Redis's outlives the script), and the most values
one call returns (Lua's unpack returns 7997, Redis's C code pushes up to 7999).
"""

from __future__ import annotations

import hashlib
import time

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


# The libraries Redis embeds (cjson, cmsgpack, struct, bit): encode/decode round trips,
# number formatting, errors and edge cases. JSON objects and msgpack maps with several
# keys are written in a sorted order here (Redis's follows its hash table, which differs
# between replicas here): those are compared after decoding (`_decoded`).
LIBRARY_SCRIPTS: list[str] = [
    # cjson.encode
    "return cjson.encode({1, 2, nil, 4})",
    "return cjson.encode({[1] = 1, [20] = 2})",
    "return cjson.encode({[1] = 1, [3] = 3})",
    "return cjson.encode({[1] = 1, [11] = 3})",
    "return cjson.encode({a = 'x/y\"z\\\\', b = '\\1\\31\\127\\128\\255'})",
    "return cjson.encode({0.1, -0.0, 1e15, 1e16, 123456789012345678, 1/3, 2^53, -1e-300})",
    "return cjson.encode(12345678901234567)",
    "return cjson.encode(1/0)",
    "return cjson.encode(-1/0)",
    "return cjson.encode(0/0)",
    "return cjson.encode({[1.5] = 1})",
    "return cjson.encode({[true] = 1})",
    "return cjson.encode({[{}] = 1})",
    "return cjson.encode(cjson.null)",
    "return cjson.encode({cjson.null, false, true})",
    "return cjson.encode()",
    "return cjson.encode(1, 2)",
    "return cjson.encode({})",
    "return cjson.encode({{}, {{}}})",
    "return cjson.encode(redis.call)",
    "return cjson.encode({1, 2, x = 3})",
    "local t = {} t[1] = t return cjson.encode(t)",
    "local t = {} for i = 1, 1000 do t = {t} end return #cjson.encode(t)",
    "local t = {} for i = 1, 999 do t = {t} end return #cjson.encode(t)",
    "cjson.encode_max_depth(3) return cjson.encode({{{1}}})",
    "cjson.encode_max_depth(3) return cjson.encode({{{{1}}}})",
    "cjson.encode_number_precision(3) return cjson.encode({3.14159, 12345})",
    "cjson.encode_invalid_numbers(true) return cjson.encode({1/0, -1/0})",
    "cjson.encode_invalid_numbers('null') return cjson.encode({1/0, 0/0})",
    "cjson.encode_sparse_array(true) return cjson.encode({[1] = 1, [20] = 2})",
    "cjson.encode_sparse_array(false, 0) return cjson.encode({[1] = 1, [20] = 2})",
    "return {cjson.encode_sparse_array(true, 3, 5)}",
    "return cjson.encode_max_depth(0)",
    "return cjson.encode_max_depth('x')",
    "return cjson.encode_max_depth(1, 2)",
    "return cjson.encode_number_precision(15)",
    "return cjson.encode_keep_buffer('maybe')",
    "return cjson.encode_invalid_numbers('null')",
    "return {cjson.encode_max_depth(), cjson.decode_max_depth(), cjson.encode_number_precision()}",
    "return {cjson.encode_keep_buffer(), cjson.decode_invalid_numbers(), "
    "cjson.encode_sparse_array()}",
    "return {cjson._NAME, cjson._VERSION, tostring(cjson.null), type(cjson.null)}",
    "local c = cjson.new() c.encode_max_depth(2) "
    "return {c.encode_max_depth(), cjson.encode_max_depth()}",
    "cjson.foo = 1",
    # cjson.decode
    "return cjson.decode('[1,null,3]')",
    'return cjson.decode(\'{"a":[1,2,{"b":null}],"c":"\\\\u00e9\\\\ud83d\\\\ude00"}\')',
    "return cjson.decode('  nan')",
    "return tostring(cjson.decode('-nan'))",
    "return {cjson.decode('0x10'), cjson.decode('-0x1p4'), cjson.decode('1e2'), "
    "cjson.decode('+5')}",
    "return {tostring(cjson.decode('Infinity')), tostring(cjson.decode('-inf'))}",
    "return cjson.decode('[1,2')",
    "return cjson.decode('\"abc')",
    "return cjson.decode('\"a\\\\qb\"')",
    "return cjson.decode('\"\\\\ud800\"')",
    "return cjson.decode('\"\\\\udc00\\\\ud800\"')",
    "return cjson.decode('\"\\\\u12\"')",
    "return cjson.decode('{\"a\":1,}')",
    "return cjson.decode('{\"a\" 1}')",
    "return cjson.decode('{1:2}')",
    "return cjson.decode('[1 2]')",
    "return cjson.decode('tru')",
    "return cjson.decode('nul')",
    "return cjson.decode('[1]x')",
    "return cjson.decode('[1]\\0x')",
    "return cjson.decode('\\0[1]')",
    "return cjson.decode('')",
    "return cjson.decode('  ')",
    "return cjson.decode('-')",
    "return cjson.decode('01')",
    "return cjson.decode('1.5e')",
    "return tostring(cjson.decode('1e400'))",
    "return cjson.decode(string.rep('[', 1001))",
    "return #cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000))",
    "return cjson.decode(12)",
    "return cjson.decode({})",
    "return cjson.decode()",
    "return cjson.decode('1', 2)",
    "return cjson.decode('\"a\\tb\"')",
    "cjson.decode_invalid_numbers(false) return cjson.decode('0x10')",
    "cjson.decode_invalid_numbers(false) return cjson.decode('NaN')",
    "cjson.decode_invalid_numbers(false) return cjson.decode('-01')",
    "cjson.decode_max_depth(2) return cjson.decode('[[1]]')",
    "cjson.decode_max_depth(2) return cjson.decode('[[[1]]]')",
    "return cjson.decode(cjson.encode({1, 'two', {3, {four = 4}}, true}))",
    'return cjson.decode(\'{"a":1,"a":2}\').a',
    "return cjson.decode('[\"\\\\/\\\\b\\\\f\\\\n\\\\r\\\\t\"]')",
    # cmsgpack
    "return cmsgpack.pack(1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, -128, -129, -32768,"
    " -32769, 2^32-1, 2^32, -2^31, -2^31-1, 2^53, -2^63, 2^63, 2^64)",
    "return cmsgpack.pack(1.5, 0.1, 1/0, -1/0, 0/0, -0.0, 1e300, 1e-45, 3.4028234663852886e38)",
    "return cmsgpack.pack('', 'abc', string.rep('x', 31), string.rep('x', 32), "
    "string.rep('y', 256),"
    " string.rep('z', 65536), true, false, nil)",
    "return cmsgpack.pack({}, {1, 2, 3}, {a = 1}, {1, nil, 3}, {[0] = 1}, {[2] = 1}, "
    "{x = {y = {}}})",
    "local t = {} for i = 1, 20 do t = {t} end return cmsgpack.pack(t)",
    "local t = {} for i = 1, 16 do t[i] = i end return cmsgpack.pack(t)",
    "local t = {} for i = 1, 20000 do t[i] = i % 3 end return #cmsgpack.pack(t)",
    "return cmsgpack.pack()",
    "return cmsgpack.pack(redis.call, cjson.null)",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1, 2}, {a = 1}, true, 1.5, -1, 2^40, -2^40))}",
    "return {cmsgpack.unpack('\\193')}",
    "return {cmsgpack.unpack('\\205\\1')}",
    "return {cmsgpack.unpack('')}",
    "return {cmsgpack.unpack(12)}",
    "return {cmsgpack.unpack({})}",
    "return {cmsgpack.unpack()}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3))}",
    "return {cmsgpack.unpack('\\129\\192\\1')}",
    "return {cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')}",
    "return tostring(cmsgpack.unpack('\\203\\255\\248\\0\\0\\0\\0\\0\\0'))",
    "return {cmsgpack.unpack('\\202\\63\\192\\0\\0\\203\\63\\185\\153\\153\\153\\153\\153\\154')}",
    "return #{cmsgpack.unpack(string.rep('\\1', 7997))}",
    "return #{cmsgpack.unpack(string.rep('\\1', 8000))}",
    "return #{cmsgpack.unpack(string.rep('\\145', 3999) .. '\\1')}",
    "return #{cmsgpack.unpack(string.rep('\\145', 4000) .. '\\1')}",
    "return {cmsgpack.unpack('\\221\\255\\255\\255\\255')}",
    "return {cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, cmsgpack._DESCRIPTION}",
    # struct
    "return {struct.pack('>i', 1), struct.pack('<h', -2), struct.pack('b', 300), "
    "struct.pack('l', -1), struct.pack('I3', 70000), struct.pack('>L', 1), struct.pack('T', 5)}",
    "return {struct.pack('f', 1.5), struct.pack('d', -0.1), struct.pack('>d', 1/0), "
    "struct.pack('f', 0/0), struct.pack('f', 1e40), struct.pack('f', 1e-40), "
    "struct.pack('d', 5e-324), struct.pack('f', 0.1)}",
    "return {struct.unpack('f', struct.pack('f', 0.1))}",
    "return {struct.unpack('>i4 <h B d', struct.pack('>i4 <h B d', -5, 300, 255, 2.5))}",
    "return {struct.pack('s', 'ab'), struct.pack('c3', 'abcd'), struct.pack('c0', 'xyz'), "
    "struct.pack('!4 b i', 1, 2), struct.pack('x'), struct.pack('i2', 1.9)}",
    "return struct.pack('c5', 'ab')",
    "return struct.pack('y')",
    "return struct.pack('i40', 1)",
    "return struct.pack('i', 'x')",
    "return struct.pack('i')",
    "return struct.pack()",
    "return struct.pack('!3 i', 1)",
    "return {struct.size('!8 b d'), struct.size('i2 c3 h'), struct.size('>!4 h i')}",
    "return struct.size('s')",
    "return struct.size('c0')",
    "return struct.size('q')",
    "return {struct.unpack('s', 'abc')}",
    "return {struct.unpack('s', 'ab\\0cd')}",
    "return {struct.unpack('b c0', string.char(3) .. 'abcdef')}",
    "return {struct.unpack('c0', 'a')}",
    "return {struct.unpack('i', 'ab')}",
    "return {struct.unpack('i', 'abcd', 0)}",
    "return {struct.unpack('i', 'abcdxyzw', 5)}",
    "return {struct.unpack('i12', string.rep('\\255', 12))}",
    "return {struct.unpack('I9', string.rep('\\255', 9))}",
    "return {struct.unpack('L', string.rep('\\255', 8))}",
    "return {struct.pack('i12', -1)}",
    "return {struct.pack('L', 2^64), struct.pack('L', -2^64), struct.pack('l', 1/0)}",
    "return tostring(struct.unpack('d', struct.pack('d', 0/0)))",
    "return tostring(struct.unpack('d', struct.pack('d', -(0/0))))",
    "return {struct.unpack('>H', '\\1\\2')}",
    "return #{struct.unpack(string.rep('b', 7995), string.rep('\\1', 7995))}",
    # bit
    "return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(-1, 5), bit.bnot(0), "
    "bit.tobit(2^32 + 5), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5), bit.tobit(2^53), "
    "bit.tobit(1e300), bit.tobit(-2^40 - 3)}",
    "return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), "
    "bit.rol(0x12345678, 12), bit.ror(0x12345678, 12), bit.bswap(0x12345678), "
    "bit.lshift(1, 33), bit.rol(5, 0), bit.ror(5, 32), bit.arshift(0x7fffffff, 31)}",
    "return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2), bit.tohex(1, 0), "
    "bit.tohex(1, 20), bit.tobit('10'), bit.tobit(' 0x10 '), bit.band(0/0, 1), bit.tobit(1/0)}",
    "return {bit.tobit(2^51), bit.tobit(-2^51), bit.tobit(2^52 + 0.5), "
    "bit.tobit(4503599627370497.5), bit.tobit(-6755399441055744), bit.tobit(2^63)}",
    "return bit.band(1, {}, 2)",
    "return bit.band()",
    "return bit.tohex(1, nil)",
    "return bit.tobit('x')",
    "return bit.lshift(1)",
    "bit.band = nil",
    # the libraries are read-only, listable, and named in errors at the script's line
    "local t = {} for k in pairs(bit) do t[#t + 1] = k end table.sort(t) return t",
    "local t = {} for k in pairs(struct) do t[#t + 1] = k end table.sort(t) return t",
    "\n\nreturn cjson.decode('[')",
    "local ok, e = pcall(cjson.decode, '[') return e",
    "local ok, e = pcall(struct.pack, 'y') return e",
]


def _decoded(reply):
    """Compare JSON text (and msgpack bytes) with several object keys by content."""
    import json

    if isinstance(reply, bytes) and reply[:1] == b"{":
        try:
            return ("json", json.loads(reply))
        except ValueError:
            return reply
    return reply


# Redis's cjson configuration outlives a script; ours lasts for the run (it must not differ
# between replicas that ran different scripts): Redis's is put back after each script.
_CJSON_DEFAULTS = (
    b"cjson.encode_max_depth(1000) cjson.decode_max_depth(1000) "
    b"cjson.encode_number_precision(14) cjson.encode_invalid_numbers(false) "
    b"cjson.decode_invalid_numbers(true) cjson.encode_sparse_array(false, 2, 10) "
    b"cjson.encode_keep_buffer(true)"
)


def test_library_scripts_reply_as_redis_does(diff):
    for script in LIBRARY_SCRIPTS:
        diff.check([b"EVAL", script.encode(), b"0"], _decoded)
        diff.redis.call([b"EVAL", _CJSON_DEFAULTS, b"0"])


def test_library_round_trips_reply_as_redis_does(diff):
    values = [
        "{1, 2, 3}",
        "{'a', {'b', {'c'}}, 1.25, -7, true, false}",
        "{x = 1}",
        "{[1] = 'one', [2] = {y = {z = 'deep'}}}",
        "{1e100, -1e-100, 0.5, 2^31, -2^31, 2^53 - 1}",
        "{string.char(0, 10, 13, 34, 92, 127, 200)}",
    ]
    for value in values:
        for script in (
            f"return cjson.encode(cjson.decode(cjson.encode({value})))",
            f"return cmsgpack.unpack(cmsgpack.pack({value}))",
            f"return {{cmsgpack.unpack(cmsgpack.pack({value}, {value}))}}",
            f"return cmsgpack.pack(cmsgpack.unpack(cmsgpack.pack({value})))",
        ):
            diff.check([b"EVAL", script.encode(), b"0"], _decoded)


REDIS_API_SCRIPTS: list[str] = [
    "return redis.error_reply('Oops')",
    "return redis.error_reply('-MY code')",
    "return redis.error_reply('\\r\\nx\\r\\n')",
    "return redis.error_reply(1)",
    "return redis.error_reply()",
    "return redis.status_reply({})",
    "return redis.status_reply('a', 'b')",
    "return redis.sha1hex()",
    "return redis.sha1hex(12)",
    "return redis.setresp()",
    "return redis.setresp(4)",
    "return redis.setresp('3')",
    "redis.setresp(3) return redis.call('hgetall', 'nohash')",
    "redis.setresp(3) return {redis.call('get', 'nokey'), 1}",
    "redis.setresp(3) return {true, false}",
    "redis.setresp(3) return true",
    # (a bare RESP3 false is not checked: the harness's hiredis loop reads it as "no reply")
    "redis.setresp(3) return {false}",
    "redis.setresp(3) redis.call('hset', 'h', 'f', 'v') return redis.call('hgetall', 'h')",
    "redis.setresp(3) redis.call('zadd', 'z', 1.5, 'm') "
    "return {redis.call('zscore', 'z', 'm'), redis.call('zrange', 'z', 0, -1, 'withscores')}",
    "redis.setresp(3) local r = redis.call('zscore', 'z', 'm') return r.double",
    "redis.setresp(3) redis.call('sadd', 's', 'x') return redis.call('smembers', 's')",
    "redis.setresp(3) return redis.call('exists', 'h') == 1",
    "redis.setresp(3) local r = redis.call('hgetall', 'h') return r.map.f",
    "return redis.set_repl()",
    "return redis.set_repl(4)",
    "return redis.set_repl(redis.REPL_NONE)",
    "return redis.log()",
    "return redis.log('x', 'y')",
    "return redis.log(9, 'y')",
    "return redis.log(redis.LOG_DEBUG, 'x', 1, {}, nil, 'y')",
    "return redis.acl_check_cmd('get', 'k')",
    "return redis.acl_check_cmd('nosuch')",
    "return redis.acl_check_cmd()",
    "return redis.acl_check_cmd({})",
    "return {redis.breakpoint(), redis.debug('x'), redis.replicate_commands()}",
    "return {redis.REDIS_VERSION_NUM, type(redis.REDIS_VERSION)}",
    "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
    "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, "
    "redis.REPL_ALL}",
    "return pcall(redis.setresp, 4)",
    "local ok, e = pcall(redis.log) return e",
]


def test_the_redis_library_replies_as_redis_does(diff, redis_port):
    for script in REDIS_API_SCRIPTS:
        diff.check([b"EVAL", script.encode(), b"0"])
    # RESP3 clients get RESP3 types from scripts that return them.
    diff3 = Differential(redis_port, resp3=True)
    try:
        for script in REDIS_API_SCRIPTS:
            diff3.check([b"EVAL", script.encode(), b"0"])
    finally:
        diff3.close()


@pytest.fixture(scope="module")
def cluster_redis_port():
    """A cluster-mode redis-server serving every slot: the flags that only mean something
    in a cluster (no-cluster, allow-cross-slot-keys) are checked against it."""
    import shutil
    import tempfile

    from tests.differential.harness import RawRedis
    from tests.support.processes import redis_server

    directory = tempfile.mkdtemp(prefix="slotraft-cluster-redis-")
    try:
        with redis_server(
            "--cluster-enabled", "yes", "--cluster-config-file", f"{directory}/nodes.conf"
        ) as port:
            connection = RawRedis(port)
            connection.call([b"CLUSTER", b"ADDSLOTSRANGE", b"0", b"16383"])
            deadline = time.monotonic() + 30
            while b"cluster_state:ok" not in connection.call([b"CLUSTER", b"INFO"]):
                assert time.monotonic() < deadline, "the cluster-mode server never got ready"
                time.sleep(0.05)
            connection.close()
            yield port
    finally:
        shutil.rmtree(directory, ignore_errors=True)


CLUSTER_SCRIPTS: list[tuple[str, list[str]]] = [
    ("#!lua flags=no-cluster\nreturn 1", []),
    ("#!lua\nreturn redis.call('set', 'a', 1) and redis.call('set', 'b', 1)", []),
    ("return redis.call('set', 'a', 1) and redis.call('set', 'b', 1)", []),
    ("#!lua flags=allow-cross-slot-keys\nreturn redis.call('set', 'a', 1) and "
     "redis.call('set', 'b', 1)", []),
    ("#!lua\nreturn redis.call('set', 'a', 1)", ["1", "b"]),
    ("return redis.call('set', 'a', 1)", ["1", "b"]),
    ("return redis.call('mset', 'a', 1, 'b', 2)", []),
    ("#!lua flags=allow-cross-slot-keys\nreturn redis.call('mset', 'a', 1, 'b', 2)", []),
    ("return 1", ["2", "a", "b"]),
    ("#!lua flags=allow-cross-slot-keys\nreturn 1", ["2", "a", "b"]),
    ("#!lua\nreturn redis.call('get', '{a}x')", ["1", "{a}y"]),
]  # fmt: skip


def test_cluster_flags_behave_as_in_redis_cluster(cluster_redis_port):
    diff = Differential(cluster_redis_port, resp3=False)
    try:
        for script, rest in CLUSTER_SCRIPTS:
            diff.check([b"EVAL", script.encode(), *(part.encode() for part in rest or ["0"])])
        library = (
            b"#!lua name=cl\nredis.register_function{function_name='nc', "
            b"callback=function() return 1 end, flags={'no-cluster'}}\n"
            b"redis.register_function('two', function() "
            b"return redis.call('set', 'a', 1) and redis.call('set', 'b', 1) end)\n"
            b"redis.register_function{function_name='cross', callback=function() "
            b"return redis.call('set', 'a', 1) and redis.call('set', 'b', 1) end, "
            b"flags={'allow-cross-slot-keys'}}"
        )
        diff.check([b"FUNCTION", b"FLUSH"])
        diff.check([b"FUNCTION", b"LOAD", library])
        for name in (b"nc", b"two", b"cross"):
            diff.check([b"FCALL", name, b"0"])
        diff.check([b"FUNCTION", b"FLUSH"])
    finally:
        diff.close()
