"""Hypothesis strategies for a shard's log entries as a hostile client could shape them.

Commands: the differential suite's per-command strategies (mostly valid arguments, so that
they reach deep into the commands) mixed with token soups (any implemented command name in
any case, with random, often invalid arguments: boundary numbers, options in the wrong
place, binary junk). Scripts: small Lua programs built from fragments that call commands,
return every reply type, raise errors in every form, loop, and probe the sandbox.
Entries: batches of requests (plain, transactions with WATCH digests, blocking commands
alone), session ids and sequences that repeat and go stale, expiry and eviction keys, and
malformed entries (random bytes, truncated encodings, fields of the wrong type or range).

Numbers stay below what makes a command allocate hundreds of megabytes (SETRANGE/SETBIT
offsets): the heavy-work limits are another layer's concern, not apply's totality.
"""

from __future__ import annotations

import importlib
import marshal
import pkgutil
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

import tests.differential as differential
from node import entry_codec
from node.entry_codec import Request, ShardEntry
from proto.commands import SHARD_COMMANDS, Route
from tests.differential.common import KEYS, float_text, integer_text, small_text

_CASE_MODULES = [
    importlib.import_module(f"{differential.__name__}.{info.name}")
    for info in pkgutil.iter_modules(differential.__path__)
    if info.name.startswith("cases_")
]
DIFFERENTIAL_COMMANDS = st.one_of(
    *[case.strategy for module in _CASE_MODULES for case in module.CASES]
)


def _command_names() -> list[bytes]:
    """The commands a shard's engine runs (proto.commands.SHARD_COMMANDS)."""
    names: list[bytes] = []
    for spec in SHARD_COMMANDS.specs.values():
        if spec.subcommands:
            for sub in spec.subcommands.values():
                if sub.route is not Route.ROUTER:
                    names.append(sub.name.replace("|", " ").encode())
        else:
            names.append(spec.name.encode())
    return sorted(names)


COMMAND_NAMES = _command_names()

OPTION_WORDS = [
    b"EX",
    b"PX",
    b"EXAT",
    b"PXAT",
    b"NX",
    b"XX",
    b"GT",
    b"LT",
    b"CH",
    b"INCR",
    b"GET",
    b"KEEPTTL",
    b"PERSIST",
    b"IFEQ",
    b"WITHSCORES",
    b"WITHSCORE",
    b"LIMIT",
    b"BYSCORE",
    b"BYLEX",
    b"REV",
    b"COUNT",
    b"MATCH",
    b"TYPE",
    b"LEFT",
    b"RIGHT",
    b"BEFORE",
    b"AFTER",
    b"RANK",
    b"MAXLEN",
    b"AGGREGATE",
    b"WEIGHTS",
    b"SUM",
    b"MIN",
    b"MAX",
    b"WITHVALUES",
    b"REPLACE",
    b"DB",
    b"BIT",
    b"BYTE",
    b"FIELDS",
    b"ASYNC",
    b"SYNC",
    b"STORE",
    b"ALPHA",
    b"DESC",
    b"ASC",
    b"BY",
    b"-",
    b"+",
    b"(a",
    b"[a",
    b"(1",
    b"-inf",
    b"+inf",
    b"*",
    b"",
]
BOUNDARY_NUMBERS = [
    b"0",
    b"1",
    b"-1",
    b"2",
    b"3",
    b"-2",
    b"10",
    b"100",
    b"-100",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"4611686018427387904",
    b"-4611686018427387904",
    b"1e308",
    b"1e309",
    b"-1e309",
    b"2.5e-324",
    b"1.7976931348623157e308",
    b"0.0",
    b"-0",
    b"-0.0",
    b"nan",
    b"NaN",
    b"inf",
    b"-inf",
    b"+inf",
    b"Infinity",
    b"0x7f",
    b"1_000",
    b"1e2",
    b" 5",
    b"5 ",
    b"\x00",
    b"1.",
    b".5",
    b"--1",
    b"+-1",
    b"0b1",
    b"1e-5",
]
keys = st.sampled_from(KEYS)
token = st.one_of(
    keys,
    keys,
    small_text,
    integer_text,
    float_text,
    st.sampled_from(OPTION_WORDS),
    st.sampled_from(BOUNDARY_NUMBERS),
    st.binary(max_size=12),
)


def _spelling(name: bytes, style: int) -> list[bytes]:
    spelled = (name, name.upper(), name.title())[style]
    return spelled.split(b" ")


token_soup = st.builds(
    lambda name, style, args: [*_spelling(name, style), *args],
    st.sampled_from(COMMAND_NAMES),
    st.integers(0, 2),
    st.lists(token, max_size=9),
)
unknown_command = st.lists(st.binary(max_size=10), min_size=0, max_size=3)


def rarely(draw: Callable[[st.SearchStrategy[int]], int], one_in: int) -> bool:
    """True about once in `one_in` draws. Hypothesis favours the bounds of a range, so the
    rare outcome is a value from its middle."""
    return draw(st.integers(0, one_in - 1)) == one_in // 2


# ------------------------------------------------------------------ scripts

LUA_STRINGS = ["'k1'", "'k2'", "KEYS[1]", "KEYS[2]", "ARGV[1]", "'1'", "'x'", "''", "'1.5'", "'-1'"]
LUA_NUMBERS = [
    "0",
    "1",
    "-1",
    "1.5",
    "3.99",
    "1e20",
    "-1e308",
    "2^53",
    "2^63",
    "0/0",
    "1/0",
    "-1/0",
]
LUA_VALUE_LITERALS = [
    "{1, 'a', {2, 3}, nil, 4}",
    "{1, 2, 3.5, true, false}",
    "{err='E custom'}",
    "{ok='FINE'}",
    "{err=1}",
    "{ok={}}",
    "{}",
    "true",
    "false",
    "nil",
    "redis.error_reply('MY error')",
    "redis.error_reply('')",
    "redis.status_reply('OK')",
    "redis.sha1hex('x')",
    "redis.sha1hex()",
    "cjson.encode({1, 2, {a=1}})",
    "cjson.decode('[1, 2')",
    "cjson.decode('{\"a\": [1, 2, null]}')",
    "cmsgpack.pack({1, 2, 3})",
    "cmsgpack.unpack('\\147\\1\\2')",
    "bit.band(7, 3)",
    "bit.tohex(65535)",
    "struct.pack('>I', 5)",
    "string.rep('ab', 5)",
    "string.format('%d %s %q', 1, 'a', 'b')",
    "tostring({})",
    "tostring(print)",
    "math.random()",
    "math.random(10)",
    "math.huge",
    "#KEYS + #ARGV",
    "redis.setresp(3)",
    "redis.setresp(5)",
    "redis.log(redis.LOG_WARNING, 'x')",
    "pcall(redis.call, 'GET')",
    "select('#', redis.call('PING'))",
    "loadstring('return 1')",
    "getmetatable('')",
    "rawget(_G, 'redis')",
    "collectgarbage('count')",
    "os.time()",
    "os.clock()",
    "unpack({1, 2, 3})",
    "next({})",
    "string.char(0, 255)",
    "table.concat({'a', 'b'}, ',')",
    "coroutine",
    "debug",
    "newproxy",
    "gcinfo()",
    "redis.breakpoint()",
    "redis.replicate_commands()",
    "redis.set_repl(redis.REPL_ALL)",
]
LUA_STATEMENTS = [
    "error('boom')",
    "error({err='ERR table error'})",
    "error()",
    "error(nil)",
    "error(42)",
    "error({})",
    "assert(false, 'no')",
    "for i = 1, 1000 do redis.call('INCR', KEYS[1] or 'k1') end",
    "local t = {} for i = 1, 200 do t[i] = i end",
    "x = 1",
    "rawset(_G, 'y', 1)",
    "setmetatable(_G, nil)",
    "_G.redis = nil",
    "redis.call = nil",
    "KEYS = nil",
    "local s = string.rep('x', 100000)",
    "local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end f(100)",
    "local function f(n) return n == 0 and 0 or 1 + f(n - 1) end f(1000000)",
    "math.randomseed(1)",
    "redis.setresp(3)",
]
_lua_strings = st.sampled_from(LUA_STRINGS)
_lua_numbers = st.sampled_from(LUA_NUMBERS)
_lua_args = st.lists(
    st.one_of(_lua_strings, _lua_numbers, st.sampled_from(["nil", "{}"])), max_size=4
)
_lua_name = st.one_of(
    st.sampled_from(COMMAND_NAMES).map(lambda n: "'" + n.decode().split(" ")[0] + "'"),
    st.sampled_from(["'EVAL'", "'nosuch'", "''", "1", "nil", "'ping'", "'time'", "'echo'"]),
)


def _call(kind: str, name: str, args: list[str]) -> str:
    return f"redis.{kind}({', '.join([name, *args])})"


_redis_call = st.builds(_call, st.sampled_from(["call", "pcall"]), _lua_name, _lua_args)
_lua_value = st.one_of(
    _redis_call,
    _lua_strings,
    _lua_numbers,
    st.sampled_from(LUA_VALUE_LITERALS),
)
_lua_statement = st.one_of(
    _lua_value.map(lambda v: f"local v = {v}"),
    _redis_call,
    st.sampled_from(LUA_STATEMENTS),
)
# Scripts that run until the instruction budget stops them: a tenth of a second or more
# each, so rare.
BUDGET_EXHAUSTING = [
    "while true do end",
    "local function f() return f() end f()",
    "repeat until false",
]
_budget_exhausting = st.sampled_from(BUDGET_EXHAUSTING)


@st.composite
def _statement(draw: st.DrawFn) -> str:
    if rarely(draw, 60):
        return draw(_budget_exhausting)
    return draw(_lua_statement)


script_body = st.builds(
    lambda statements, final: "\n".join([*statements, f"return {final}"]),
    st.lists(_statement(), max_size=3),
    _lua_value,
) | st.sampled_from(["return", "", "syntax error here", "return 1 +", "\x00", "return ..."])


@st.composite
def eval_command(draw: st.DrawFn) -> list[bytes]:
    body = draw(script_body).encode()
    name = draw(st.sampled_from([b"EVAL"] * 4 + [b"eval", b"EVAL_RO", b"EVALSHA", b"EVALSHA_RO"]))
    if name.startswith(b"EVALSHA"):
        from node.engine.scripting import sha1_hex

        body = draw(st.sampled_from([sha1_hex(body), b"0" * 40, b"x", sha1_hex(b"return 1")]))
    script_keys = draw(st.lists(keys, max_size=2))
    numkeys = b"%d" % len(script_keys)
    if rarely(draw, 8):
        numkeys = draw(st.sampled_from([b"-1", b"x", b"100", b"9223372036854775808"]))
    arguments = draw(st.lists(token, max_size=3))
    return [name, body, numkeys, *script_keys, *arguments]


script_admin = st.one_of(
    script_body.map(lambda body: [b"SCRIPT", b"LOAD", body.encode()]),
    st.just([b"SCRIPT", b"FLUSH"]),
    st.lists(st.sampled_from([b"0" * 40, b"x"]), min_size=1, max_size=2).map(
        lambda shas: [b"SCRIPT", b"EXISTS", *shas]
    ),
    st.lists(token, max_size=3).map(lambda args: [b"SCRIPT", *args]),
)

command = st.one_of(
    DIFFERENTIAL_COMMANDS,
    DIFFERENTIAL_COMMANDS,
    token_soup,
    token_soup,
    eval_command(),
    script_admin,
    unknown_command,
)

BLOCKING = st.sampled_from(
    [
        [b"BLPOP", b"k1", b"0"],
        [b"BRPOP", b"k1", b"k2", b"1"],
        [b"BZPOPMIN", b"k3", b"0.5"],
        [b"BLMOVE", b"k1", b"k2", b"LEFT", b"RIGHT", b"0"],
        [b"BLMPOP", b"0", b"1", b"k1", b"LEFT"],
        [b"BLPOP", b"k1", b"-1"],
        [b"BLPOP", b"k1", b"nan"],
    ]
)

# ------------------------------------------------------------------ entries


@st.composite
def request(draw: st.DrawFn, watch_digests: Any) -> Request:
    """A client request; `watch_digests(keys)` gives the current (key, digest) pairs."""
    client_id = draw(st.sampled_from([0, 1, 2, 7, 2**64 - 1]))
    sequence = draw(st.sampled_from([0, 0, 0, 0, 1, 2, 3, 5, 8, 2**64 - 1]))
    acked = draw(st.sampled_from([0, 1, 2, 4, sequence]))
    resp3 = draw(st.booleans())
    shape = draw(st.sampled_from(["commands", "commands", "transaction", "blocking"]))
    if shape == "blocking":
        return Request(
            client_id, sequence, acked, entry_codec.COMMANDS, resp3, [draw(BLOCKING)], []
        )
    commands = draw(st.lists(st.one_of(command, BLOCKING), min_size=0, max_size=6))
    if shape == "commands":
        return Request(client_id, sequence, acked, entry_codec.COMMANDS, resp3, commands, [])
    watched = draw(st.lists(keys, max_size=2, unique=True))
    watches = watch_digests(watched)
    if watches and draw(st.booleans()):
        key, _ = watches[0]
        watches[0] = (key, draw(st.binary(min_size=0, max_size=16)))
    return Request(client_id, sequence, acked, entry_codec.TRANSACTION, resp3, commands, watches)


def _wrong_shapes() -> st.SearchStrategy[Any]:
    """Bodies that marshal encodes but that are not a well-formed entry."""
    good_request: tuple[Any, ...] = (1, 1, 0, 0, False, [[b"SET", b"k1", b"v"]], [])
    bad_requests = st.sampled_from(
        [
            (-1, 1, 0, 0, False, [[b"SET", b"k1", b"v"]], []),
            (2**64, 1, 0, 0, False, [[b"SET", b"k1", b"v"]], []),
            (1, -5, 0, 0, False, [[b"SET", b"k1", b"v"]], []),
            (1, 1, 0, 0, 1, [[b"SET", b"k1", b"v"]], []),
            (1, 1, 0, 0, False, [[b"SET", b"k1", 5]], []),
            (1, 1, 0, 0, False, [[b"SET", "k1", b"v"]], []),
            (1, 1, 0, 0, False, [(b"SET", b"k1", b"v")], []),
            (1, 1, 0, 0, False, [[b"GET", b"k1"]], [(b"k1",)]),
            (1, 1, 0, 1, False, [[b"GET", b"k1"]], [(b"k1", None)]),
            (1, 1, 0, 0, False, [[b"GET", b"k1"]]),
            (1, 1, 0, 0, False, None, []),
            [1, 1, 0, 0, False, [[b"GET", b"k1"]], []],
        ]
    )
    return st.one_of(
        st.tuples(
            st.sampled_from([-1, 2**63, 1.5, None, 1000]),
            st.sampled_from([1, -1, 2**64, "seed"]),
            st.just([good_request]),
            st.sampled_from([[], [b"k1"], [1], None]),
            st.sampled_from([[], [b"k2"], [None]]),
        ),
        st.tuples(
            st.just(1000), st.just(1), st.lists(bad_requests, min_size=1), st.just([]), st.just([])
        ),
        st.sampled_from([(), (1, 2), [1, 2, 3, 4, 5], b"x", None, {1: 2}, (1, 2, 3, 4, 5, 6)]),
    )


malformed_entry = st.one_of(
    st.binary(max_size=40),
    st.binary(max_size=40).map(lambda data: b"\x01" + data),
    _wrong_shapes().map(lambda body: b"\x01" + marshal.dumps(body, 4)),
    st.builds(
        lambda body, cut: (b"\x01" + marshal.dumps(body, 4))[:cut],
        _wrong_shapes(),
        st.integers(1, 30),
    ),
)


@st.composite
def entry(draw: st.DrawFn, time_ms: int, watch_digests: Any) -> bytes:
    """One encoded entry at `time_ms` (or a malformed one)."""
    if rarely(draw, 20):
        return draw(malformed_entry)
    if rarely(draw, 40):
        good = entry_codec.encode(ShardEntry(time_ms, 1, [], [], []))
        return good[: draw(st.integers(0, len(good) - 1))]
    requests = draw(st.lists(request(watch_digests), max_size=4))
    expire_keys = draw(st.lists(keys, max_size=3)) if rarely(draw, 6) else []
    evict_keys = draw(st.lists(keys, max_size=2)) if rarely(draw, 10) else []
    seed = draw(st.sampled_from([0, 1, 42, 2**64 - 1]))
    return entry_codec.encode(ShardEntry(time_ms, seed, requests, expire_keys, evict_keys))
