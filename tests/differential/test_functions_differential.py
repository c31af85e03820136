"""Functions (FUNCTION, FCALL, FCALL_RO) and script flags, engine vs. real redis-server 7.0:
the same replies, byte for byte, in RESP2 and RESP3.

Meant to differ, so compared differently or left out: the order of FUNCTION LIST (Redis's
is its hash table's; ours is by library name: compared as sets), which of several errors
of one register_function table Redis reports first (its table order), FUNCTION DUMP of a
library whose code LZF would shrink (Redis compresses it, we do not: the payloads are
checked by restoring them both ways instead), FUNCTION LOAD's timeout (ours is the
instruction budget: the same message), and the flags that only mean something in a cluster
(tests/differential/test_scripting_differential.py runs those against a cluster-mode
server).
"""

from __future__ import annotations

from typing import Any

import pytest

from node.engine.function_dump import crc64, encode_length
from tests.differential.harness import Differential

LIB = (
    b"#!lua name=lib1\nredis.register_function('f1', function(keys, args) return {keys, args} end)"
)


def _code(name: str, body: str) -> bytes:
    return f"#!lua name={name}\n{body}".encode()


def _library_set(reply: Any) -> Any:
    """FUNCTION LIST in any order of libraries, and of functions within a library."""
    if not isinstance(reply, list):
        return reply
    libraries = []
    for library in reply:
        if isinstance(library, dict):  # RESP3
            library = dict(library)
            library[b"functions"] = sorted(repr(item) for item in library[b"functions"])
        else:
            library = list(library)
            at = library.index(b"functions") + 1
            library[at] = sorted(repr(item) for item in library[at])
        libraries.append(repr(library))
    return sorted(libraries)


@pytest.fixture(params=[False, True], ids=["resp2", "resp3"])
def diff(redis_port, request):
    diff = Differential(redis_port, resp3=request.param)
    diff.check([b"FUNCTION", b"FLUSH"])
    yield diff
    diff.redis.call([b"FUNCTION", b"FLUSH"])
    diff.close()


LOAD_ERRORS = [
    "lua name=x\nfoo",
    "#!lua name=x",
    "#!lua\nfoo",
    "#!lua name=x name=y\nfoo",
    "#!lua name=x foo=y\nfoo",
    "#!lua name=x-y\nfoo",
    "#!lua name=\nfoo",
    "#!js name=x\nfoo",
    "#! lua name=x5\nfoo",
    '#!lua name="x 6"\nfoo',
    '#!lua name=x7 "unbalanced\nfoo',
    "#!\nfoo",
    "#!   \nfoo",
    "#!lua name=l2\nlocal x = string.rep('a', 2)",
    "#!lua name=l2\nreturn 1",
    "#!lua name=l2\nreturn 1 +",
    "#!lua name=l2\nerror('boom')",
    "#!lua name=l2\nredis.call('ping')",
    "#!lua name=l4\nredis.register_function('x', function() end) redis.setresp(3)",
    "#!lua name=l4\nredis.register_function('x', function() end) local t = redis.foo",
    "#!lua name=l4\nredis.register_function('x', function() end) redis.foo = 1",
    "#!lua name=l4\nredis.register_function('x', function() end) foo = 1",
    "#!lua name=l4\nlocal function f() end redis.register_function('x', f) return _G",
    "#!lua name=l6\nlocal x = redis.log()",
    "#!lua name=l6\nlocal x = redis.log('a', 'b')",
    "#!lua name=l6\nlocal x = redis.log(7, 'b')",
    "#!lua name=l3\nredis.register_function{function_name='c', callback=function() end, "
    "flags={'bad'}}",
    "#!lua name=l3\nredis.register_function{function_name='c', callback=function() end, "
    "flags='no-writes'}",
    "#!lua name=l3\nredis.register_function{function_name='c', callback=function() end, flags={1}}",
    "#!lua name=l3\nredis.register_function{function_name='c', callback=function() end, "
    "flags={{}}}",
    "#!lua name=l3\nredis.register_function{function_name='c', callback=function() end, foo=1}",
    "#!lua name=l3\nredis.register_function{function_name='c'}",
    "#!lua name=l3\nredis.register_function{callback=function() end}",
    "#!lua name=l3\nredis.register_function{function_name={}, callback=function() end}",
    "#!lua name=l3\nredis.register_function{function_name='c', callback=function() end, "
    "description={}}",
    "#!lua name=l3\nredis.register_function{function_name='c', callback=1}",
    "#!lua name=l3\nredis.register_function{[1]='c'}",
    "#!lua name=l3\nredis.register_function('c')",
    "#!lua name=l3\nredis.register_function('c', 1)",
    "#!lua name=l3\nredis.register_function({}, function() end)",
    "#!lua name=l3\nredis.register_function()",
    "#!lua name=l3\nredis.register_function('a', function() end, 3)",
    "#!lua name=l3\nredis.register_function('c-d', function() end)",
    "#!lua name=l3\nredis.register_function('', function() end)",
    "#!lua name=l3\nredis.register_function('c', function() end) "
    "redis.register_function('c', function() end)",
]


def test_function_load_errors_are_redis_errors(diff):
    for code in LOAD_ERRORS:
        diff.check([b"FUNCTION", b"LOAD", code.encode()])
    diff.check([b"FUNCTION", b"LOAD", b"REPLACE"])
    diff.check([b"FUNCTION", b"LOAD", b"FOO", b"#!lua name=x\n"])
    diff.check([b"FUNCTION", b"LOAD"])
    diff.check([b"FUNCTION", b"LIST"])


def test_load_replace_list_delete_and_stats(diff):
    diff.check([b"FUNCTION", b"LOAD", LIB])
    diff.check([b"FUNCTION", b"LOAD", LIB])
    diff.check(
        [b"FUNCTION", b"LOAD", _code("lib2", "redis.register_function('f1', function() end)")]
    )
    diff.check(
        [b"FUNCTION", b"LOAD", _code("lib2", "redis.register_function('F1', function() end)")]
    )
    diff.check([b"FUNCTION", b"LOAD", b"replace", b"REPLACE", LIB])
    named = (
        "redis.register_function{function_name='a', callback=function() return 1 end, "
        "flags={'no-writes', 'allow-oom'}, description='desc a'}"
    )
    diff.check([b"FUNCTION", b"LOAD", _code("l1", named)])
    every_flag = (
        "redis.register_function{function_name='b', callback=function() return 1 end, "
        "flags={'NO-WRITES', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys', 'allow-oom'}}"
    )
    diff.check([b"FUNCTION", b"LOAD", _code("l2", every_flag)])
    diff.check([b"FUNCTION", b"LOAD", _code("l3", "redis.register_function(12, function() end)")])
    two_cases = (
        "redis.register_function('c', function() end) redis.register_function('C', function() end)"
    )
    diff.check([b"FUNCTION", b"LOAD", _code("l5", two_cases)])
    diff.check([b"FUNCTION", b"LOAD", _code("L5", "redis.register_function('C', function() end)")])
    diff.check(
        [b"FUNCTION", b"LOAD", b"#!LUA NAME=l6\nredis.register_function('g6', function() end)"]
    )
    for listing in (
        [b"FUNCTION", b"LIST"],
        [b"FUNCTION", b"LIST", b"WITHCODE"],
        [b"FUNCTION", b"LIST", b"WITHCODE", b"LIBRARYNAME", b"l1"],
        [b"FUNCTION", b"LIST", b"libraryname", b"L*", b"withcode"],
        [b"FUNCTION", b"LIST", b"LIBRARYNAME", b"nothing*"],
    ):
        diff.check(listing, _library_set)
    for bad in (
        [b"FUNCTION", b"LIST", b"LIBRARYNAME"],
        [b"FUNCTION", b"LIST", b"WITHCODE", b"WITHCODE"],
        [b"FUNCTION", b"LIST", b"LIBRARYNAME", b"a", b"LIBRARYNAME", b"b"],
        [b"FUNCTION", b"LIST", b"FOO"],
    ):
        diff.check(bad)
    diff.check([b"FUNCTION", b"STATS"])
    diff.check([b"FUNCTION", b"KILL"])
    diff.check([b"SCRIPT", b"KILL"])
    diff.check([b"FUNCTION", b"DELETE", b"nope"])
    diff.check([b"FUNCTION", b"DELETE", b"L1"])
    diff.check([b"FUNCTION", b"DELETE", b"l1"])
    diff.check([b"FCALL", b"a", b"0"])
    diff.check([b"FUNCTION", b"STATS"])
    for bad in (
        [b"FUNCTION", b"DELETE"],
        [b"FUNCTION", b"DELETE", b"a", b"b"],
        [b"FUNCTION", b"FLUSH", b"foo"],
        [b"FUNCTION", b"FLUSH", b"a", b"b"],
        [b"FUNCTION", b"STATS", b"x"],
        [b"FUNCTION", b"KILL", b"x"],
        [b"FUNCTION", b"NOPE"],
        [b"FUNCTION"],
        [b"FUNCTION", b"HELP"],
        [b"FUNCTION", b"RESTORE", b"xx", b"FLUSH", b"x"],
    ):
        diff.check(bad)
    diff.check([b"FUNCTION", b"FLUSH", b"ASYNC"])
    diff.check([b"FUNCTION", b"STATS"])
    diff.check([b"FUNCTION", b"LIST"])


FUNCTIONS = """
redis.register_function('echo', function(keys, args) return {keys, args} end)
redis.register_function('ping', function() return redis.call('ping') end)
redis.register_function('fails', function() error('x') end)
redis.register_function('reregister', function()
  return redis.register_function('f5', function() end)
end)
redis.register_function('global', function() return foo end)
redis.register_function('keys', function() return {KEYS, ARGV} end)
redis.register_function('write', function(keys) return redis.call('set', keys[1], 'v') end)
redis.register_function{function_name='read', callback=function(keys)
  return redis.call('get', keys[1]) end, flags={'no-writes'}}
redis.register_function{function_name='sneaky', callback=function(keys)
  return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}
redis.register_function('setglobal', function() x = 1 end)
redis.register_function('missing', function()
  return {redis.breakpoint, redis.debug, redis.replicate_commands, type(redis.set_repl),
    type(redis.acl_check_cmd), type(cjson), type(bit)}
end)
redis.register_function('apis', function()
  local t = {} for k in pairs(redis) do t[#t + 1] = k end table.sort(t) return t
end)
local captured = redis.register_function
redis.register_function('late', function() captured('z', function() end) end)
redis.register_function('resp3', function(keys)
  redis.setresp(3)
  redis.call('hset', keys[1], 'f', 'v')
  return {redis.call('hgetall', keys[1]), true, false, redis.call('get', '{h}nokey'),
    redis.call('zadd', '{h}z', 1.5, 'm'), redis.call('zscore', '{h}z', 'm'),
    redis.call('zrange', '{h}z', 0, -1, 'withscores'), redis.call('exists', '{h}z') == 1,
    redis.call('smembers', '{h}nokey'), redis.call('type', '{h}z'), {false, true}}
end)
"""


def test_fcall_runs_functions_as_redis_does(diff):
    diff.check([b"FUNCTION", b"LOAD", _code("lib", FUNCTIONS)])
    for call in (
        [b"FCALL", b"echo", b"1", b"k", b"a"],
        [b"FCALL", b"ECHO", b"0"],
        [b"FCALL", b"nosuch", b"0"],
        [b"FCALL", b"echo", b"x"],
        [b"FCALL", b"echo", b"-1"],
        [b"FCALL", b"echo", b"3", b"a"],
        [b"FCALL", b"nosuch", b"x"],
        [b"FCALL", b"ping", b"0"],
        [b"FCALL", b"fails", b"0"],
        [b"FCALL", b"reregister", b"0"],
        [b"FCALL", b"global", b"0"],
        [b"FCALL", b"keys", b"0"],
        [b"FCALL", b"write", b"1", b"k"],
        [b"FCALL_RO", b"write", b"1", b"k"],
        [b"FCALL_RO", b"read", b"1", b"k"],
        [b"FCALL", b"read", b"1", b"k"],
        [b"FCALL", b"sneaky", b"1", b"k"],
        [b"FCALL_RO", b"ping", b"0"],
        [b"FCALL", b"setglobal", b"0"],
        [b"FCALL", b"missing", b"0"],
        [b"FCALL", b"apis", b"0"],
        [b"FCALL", b"late", b"0"],
        [b"FCALL", b"resp3", b"1", b"h"],
        [b"FCALL"],
        [b"FCALL", b"echo"],
    ):
        diff.check(call)


def _same_dump(diff: Differential) -> bytes:
    """FUNCTION DUMP on both: the same bytes where Redis did not compress (it compresses
    code that LZF shrinks, which we do not), and each side's payload restores on the other."""
    engine_dump = diff.engine_call([b"FUNCTION", b"DUMP"])
    redis_dump = diff.redis.call([b"FUNCTION", b"DUMP"])
    if len(redis_dump) == len(engine_dump):
        assert redis_dump == engine_dump
    return engine_dump


def test_dump_and_restore_as_redis_does(diff):
    empty = _same_dump(diff)
    diff.check([b"FUNCTION", b"RESTORE", empty])
    diff.check([b"FUNCTION", b"LOAD", b"#!lua name=u\nredis.register_function('g', load)"])
    diff.check([b"FUNCTION", b"LOAD", LIB])
    payload = _same_dump(diff)
    diff.check([b"FUNCTION", b"RESTORE", payload])
    diff.check([b"FUNCTION", b"RESTORE", payload, b"APPEND"])
    diff.check([b"FUNCTION", b"RESTORE", payload, b"replace"])
    diff.check([b"FUNCTION", b"RESTORE", payload, b"FLUSH"])
    diff.check([b"FUNCTION", b"LIST"], _library_set)
    diff.check(
        [b"FUNCTION", b"LOAD", _code("other", "redis.register_function('f1', function() end)")]
    )
    diff.check([b"FUNCTION", b"DELETE", b"lib1"])
    diff.check(
        [b"FUNCTION", b"LOAD", _code("other", "redis.register_function('f2', function() end)")]
    )
    diff.check(
        [
            b"FUNCTION",
            b"LOAD",
            b"REPLACE",
            _code("other", "redis.register_function('f1', function() end)"),
        ]
    )
    diff.check([b"FUNCTION", b"RESTORE", payload])
    diff.check([b"FUNCTION", b"RESTORE", payload, b"REPLACE"])
    diff.check([b"FUNCTION", b"LIST"], _library_set)
    for bad in (
        b"xx",
        payload[:-1] + bytes([payload[-1] ^ 1]),
        b"\n\x00" + b"\x00" * 8,
        b"\x0b\x00" + b"\x00" * 8,
    ):
        diff.check([b"FUNCTION", b"RESTORE", bad])
    diff.check([b"FUNCTION", b"RESTORE", b"xx", b"FOO"])
    # Payloads made by hand (Redis's checksum on them): what the loop refuses.
    for body in (
        b"\x01",  # not a function's opcode
        b"\xf5\x05abc",  # a string shorter than its length
        b"\xf5\x03abc",  # not a library
        b"\xf5" + encode_length(len(LIB)) + LIB + b"\xf5" + encode_length(len(LIB)) + LIB,
        b"\xf5\xc0\x05",  # an integer-encoded string: "5"
    ):
        crafted = body + b"\n\x00"
        crafted += crc64(crafted).to_bytes(8, "little")
        diff.check([b"FUNCTION", b"RESTORE", crafted, b"FLUSH"])


def test_payloads_move_both_ways_between_redis_and_the_engine(diff):
    # Long, repetitive code: Redis compresses it with LZF in its DUMP.
    body = "\n".join(
        f"redis.register_function('f{i}', function(keys, args) return 'value {i}' end)"
        for i in range(40)
    )
    for name in ("big", "small"):
        code = _code(
            name,
            body.replace("'f", f"'{name}_f")
            if name == "big"
            else "redis.register_function('s', function() return 1 end)",
        )
        diff.check([b"FUNCTION", b"LOAD", code])
    redis_dump = diff.redis.call([b"FUNCTION", b"DUMP"])
    engine_dump = diff.engine_call([b"FUNCTION", b"DUMP"])
    assert b"big_f39" not in redis_dump  # compressed: the engine reads LZF
    for policy in (b"FLUSH",):
        assert diff.engine_call([b"FUNCTION", b"RESTORE", redis_dump, policy]) == b"OK"
        assert diff.redis.call([b"FUNCTION", b"RESTORE", engine_dump, policy]) == b"OK"
    diff.check([b"FUNCTION", b"LIST", b"WITHCODE"], _library_set)
    diff.check([b"FCALL", b"big_f39", b"0"])
    diff.check([b"FCALL", b"s", b"0"])


SHEBANG_SCRIPTS: list[tuple[str, list[str]]] = [
    ("#!lua\nreturn 1", []),
    ("#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", ["1", "k"]),
    ("#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'v')", ["1", "k"]),
    ("#!lua flags=no-writes,allow-oom,allow-stale\nreturn 2", []),
    ("#!lua flags=allow-cross-slot-keys\nreturn 3", []),
    ("#!lua flags=\nreturn 4", []),
    ("#!lua flags=bad\nreturn 1", []),
    ("#!lua flags=NO-WRITES\nreturn 1", []),
    ("#!lua foo=bar\nreturn 1", []),
    ("#!js\nreturn 1", []),
    ("#!LUA\nreturn 1", []),
    ("#!lua", []),
    ("#!\nreturn 1", []),
    ('#!lua "x\nreturn 1', []),
    ("#!lua\nreturn x(", []),
    ("#!lua\n\nerror('on line 3')", []),
    ("#!lua\nreturn {KEYS[1], ARGV[1]}", ["1", "k", "a"]),
]


def test_shebang_scripts_reply_as_redis_does(diff):
    for script, rest in SHEBANG_SCRIPTS:
        diff.check([b"EVAL", script.encode(), *(part.encode() for part in rest or ["0"])])
        diff.check([b"EVAL_RO", script.encode(), *(part.encode() for part in rest or ["0"])])
    sha = diff.check([b"SCRIPT", b"LOAD", b"#!lua flags=no-writes\nreturn 'ro'"])
    diff.check([b"EVALSHA_RO", sha, b"0"])
    diff.check([b"SCRIPT", b"LOAD", b"#!lua flags=nope\nreturn 1"])
    sha = diff.check([b"SCRIPT", b"LOAD", b"#!lua\nreturn redis.call('set', 'k', 1)"])
    diff.check([b"EVALSHA_RO", sha, b"0"])
    diff.check([b"EVALSHA", sha, b"0"])
