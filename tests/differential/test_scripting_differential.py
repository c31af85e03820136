"""Lua scripts, engine vs. real redis-server: the same replies.

Two parts: scripts that exercise the conversions and errors of the redis library one by
one, and every command case of the other differential tests run through a script
(`redis.pcall(unpack(ARGV))`), so that each command's reply is checked after its trip into
Lua and back. Left out here, because they are meant to differ: math.random (Redis's
generator state outlives a run, ours is reset), TIME (ours is the entry's), the server
version, and what the sandbox removes beyond Redis's own (collectgarbage, coroutine).
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto.commands import Flag, resolve
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


@pytest.fixture
def diff(redis_port):
    diff = Differential(redis_port, resp3=False)
    yield diff
    diff.close()


def test_scripts_reply_as_redis_does(diff):
    for script, rest in SCRIPTS:
        diff.check([b"EVAL", script.encode(), *(part.encode() for part in rest or ["0"])])


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
    spec = resolve(args)
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
