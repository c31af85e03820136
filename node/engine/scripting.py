"""Lua scripts: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD | EXISTS | FLUSH.

A script is part of a shard's log entry and runs on every replica (Lua 5.1 through lupa,
the version Redis embeds), so its run must be a function of the entry and the replicated
state alone. The sandbox (lua_prelude.lua) gives each run fresh globals, a `math.random`
reset before the run, no addresses, memory counters or coroutines, and a budget of
instructions: a script that loops forever would stop every replica of its shard, so it
fails with an error after `script_max_instructions` instead. The script cache is
replicated state (SCRIPT LOAD goes through the log and into snapshots); scripts cached by
EVAL are dropped oldest first past `MAX_EVAL_SCRIPTS`, as Redis 7.4 does.

Keys: as in Redis Cluster, every key a script touches must hash to the slot of its
declared keys; a script without declared keys takes the slot of the first key it touches,
which must belong to this shard (`Engine.owns_slot`).
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from lupa import lua51

from node.engine.blocking import WouldBlock, timeout_reply
from proto import resp
from proto.commands import CommandSpec, Flag, lookup
from proto.slots import key_slot

if TYPE_CHECKING:
    from node.engine.engine import Engine

SCRIPT_COMMANDS = frozenset(
    {"eval", "evalsha", "eval_ro", "evalsha_ro", "script|load", "script|exists", "script|flush"}
)
MAX_EVAL_SCRIPTS = 500
HOOK_EVERY = 1000  # Lua instructions between two checks of a run's budget

NOSCRIPT = b"NOSCRIPT No matching script. Please use EVAL."
_NOT_ALLOWED = b"ERR This Redis command is not allowed from script"
_UNKNOWN = b"ERR Unknown Redis command called from script"
_ARITY = b"ERR Wrong number of args calling Redis command from script"
_NO_ARGS = b"ERR Please specify at least one argument for this redis lib call"
_BAD_ARG = b"ERR Lua redis lib command arguments must be strings or integers"
_WRITE_IN_RO = b"ERR Write commands are not allowed from read-only scripts."
_CROSS_SLOT = b"ERR Script attempted to access keys that do not hash to the same slot"
_NON_LOCAL = b"ERR Script attempted to access a non local key in a cluster node"
_CROSSSLOT_DECLARED = b"CROSSSLOT Keys in request don't hash to the same slot"
_INT64_MIN = -(1 << 63)
# Commands a script may call that the engine does not run itself.
_LOCAL_COMMANDS = frozenset({"ping", "echo", "time"})


class _Rand48:
    """Redis's script PRNG (rand48), so `math.random` gives Redis's sequence."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.seed(0)

    def seed(self, value: int) -> None:
        self.state = (((int(value) & 0xFFFFFFFF) << 16) | 0x330E) & 0xFFFFFFFFFFFF

    def draw(self) -> float:
        self.state = (0x5DEECE66D * self.state + 0xB) & 0xFFFFFFFFFFFF
        value = self.state >> 17
        return (value % 0x7FFFFFFF) / 0x7FFFFFFF


def sha1_hex(body: bytes) -> bytes:
    return hashlib.sha1(body).hexdigest().encode()


def _format_number(value: float) -> bytes:
    """A Lua number as an argument of redis.call, as Redis writes it (shortest form)."""
    if value == int(value) and abs(value) < 1e21:
        return b"%d" % int(value)
    return repr(value).encode()


class ScriptError(Exception):
    """A script did not compile: `reply` is the error to answer."""

    def __init__(self, reply: resp.Error) -> None:
        super().__init__(reply.decode("utf-8", "replace"))
        self.reply = reply


class _CallFailed(Exception):
    """redis.call got an error reply: raised into the script as Redis raises it."""

    def __init__(self, table: Any) -> None:
        super().__init__("redis.call failed")
        self.table = table


class Scripting:
    """One shard replica's script cache and Lua runtime."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # sha1 hex -> body; insertion order is load order. The EVAL-cached ones are also
        # in `evaluated` (oldest first) and may be dropped; SCRIPT LOAD's never are.
        self.bodies: dict[bytes, bytes] = {}
        self.evaluated: dict[bytes, None] = {}
        self._compiled: dict[bytes, Any] = {}
        self._runtime: Any = None
        self._compile: Callable[[bytes], Any] | None = None
        self._run: Callable[..., Any] | None = None
        self._sweep: Callable[[], Any] | None = None
        self._rand = _Rand48()
        # Per run: the clock, random source, mode and slot of the running script.
        self._now_ms = 0
        self._rng: random.Random | None = None
        self._read_only = False
        self._slot: int | None = None
        self._changed: list[bytes] = []

    # ------------------------------------------------------------------ commands

    def execute(
        self, name: str, args: list[bytes], now_ms: int, rng: random.Random, read_only: bool
    ) -> resp.Reply:
        if name in ("eval", "eval_ro"):
            return self._evaluate(args[1], args, now_ms, rng, read_only, cache=not read_only)
        if name in ("evalsha", "evalsha_ro"):
            sha = args[1].lower()
            body = self.bodies.get(sha)
            if body is None:
                return resp.Error(NOSCRIPT)
            return self._evaluate(body, args, now_ms, rng, read_only, cache=False, sha=sha)
        if name == "script|load":
            return self.load(args[2])
        if name == "script|exists":
            return [1 if sha.lower() in self.bodies else 0 for sha in args[2:]]
        if name == "script|flush":
            if len(args) > 3 or (len(args) == 3 and args[2].upper() not in (b"SYNC", b"ASYNC")):
                return resp.Error(b"ERR SCRIPT FLUSH only support SYNC|ASYNC option")
            self.flush()
            return resp.OK
        raise ValueError(f"{name} is not a scripting command")

    def load(self, body: bytes) -> resp.Reply:
        sha = sha1_hex(body)
        try:
            self._function(sha, body)
        except ScriptError as error:
            return error.reply
        self.evaluated.pop(sha, None)  # loaded explicitly: kept
        self.bodies[sha] = body
        return sha

    def flush(self) -> None:
        self.bodies.clear()
        self.evaluated.clear()
        self._compiled.clear()

    # ------------------------------------------------------------------ snapshots

    def to_bytes(self) -> bytes:
        """The cache, oldest first: per script a flag (1: cached by EVAL), the body."""
        parts = [struct.pack(">Q", len(self.bodies))]
        for sha, body in self.bodies.items():
            parts.append(struct.pack(">BQ", 1 if sha in self.evaluated else 0, len(body)))
            parts.append(body)
        return b"".join(parts)

    def restore(self, data: bytes) -> None:
        bodies: dict[bytes, bytes] = {}
        evaluated: dict[bytes, None] = {}
        try:
            (count,) = struct.unpack_from(">Q", data)
            offset = 8
            for _ in range(count):
                flag, size = struct.unpack_from(">BQ", data, offset)
                offset += 9
                body = bytes(data[offset : offset + size])
                if len(body) != size:
                    raise ValueError("truncated script")
                offset += size
                sha = sha1_hex(body)
                bodies[sha] = body
                if flag:
                    evaluated[sha] = None
        except struct.error as error:
            raise ValueError(f"script cache is truncated: {error}") from None
        if offset != len(data):
            raise ValueError("script cache has trailing bytes")
        self.flush()
        self.bodies, self.evaluated = bodies, evaluated

    # ------------------------------------------------------------------ running

    def _evaluate(
        self,
        body: bytes,
        args: list[bytes],
        now_ms: int,
        rng: random.Random,
        read_only: bool,
        cache: bool,
        sha: bytes | None = None,
    ) -> resp.Reply:
        try:
            numkeys = int(args[2])
        except ValueError:
            return resp.Error(b"ERR value is not an integer or out of range")
        if numkeys < 0:
            return resp.Error(b"ERR Number of keys can't be negative")
        if numkeys > len(args) - 3:
            return resp.Error(b"ERR Number of keys can't be greater than number of args")
        keys = args[3 : 3 + numkeys]
        slot = key_slot(keys[0]) if keys else None
        if any(key_slot(key) != slot for key in keys[1:]):
            return resp.Error(_CROSSSLOT_DECLARED)
        if slot is not None and not self.engine.owns_slot(slot):
            return resp.Error(_NON_LOCAL)
        sha = sha or sha1_hex(body)
        try:
            function = self._function(sha, body)
        except ScriptError as error:
            return error.reply
        if cache and sha not in self.bodies:
            self.bodies[sha] = body
            self.evaluated[sha] = None
            if len(self.evaluated) > MAX_EVAL_SCRIPTS:
                oldest = next(iter(self.evaluated))
                del self.evaluated[oldest]
                del self.bodies[oldest]
                self._compiled.pop(oldest, None)
        self._now_ms, self._rng, self._read_only, self._slot = now_ms, rng, read_only, slot
        self._changed = []
        self._rand.seed(0)
        runtime = self._runtime
        config = self.engine.config
        budget = max(config.script_max_instructions // HOOK_EVERY, 1)
        key_table = runtime.table_from(keys)
        argv_table = runtime.table_from(args[3 + numkeys :])
        # Lua 5.1 has no emergency collection, and an allocation that fails outside a
        # protected call aborts the process: the limit holds only while the script runs
        # (redis.call lifts it while it builds a reply).
        runtime.set_max_memory(config.script_max_memory)
        try:
            ok, result = _two(self._run(function, key_table, argv_table, budget))  # type: ignore[misc]
        finally:
            runtime.set_max_memory(0)
            self._rng = None
        reply = self._to_reply(result) if ok else self._failure(result, sha)
        if runtime.get_memory_used() > config.script_max_memory // 2:
            self._sweep()  # type: ignore[misc]
        self.engine.db.changed = self._changed
        return reply

    def _function(self, sha: bytes, body: bytes) -> Any:
        function = self._compiled.get(sha)
        if function is None:
            self._start()
            function, problem = _two(self._compile(body))  # type: ignore[misc]
            if function is None:
                message = problem or b"unknown error"
                raise ScriptError(
                    resp.Error(b"ERR Error compiling script (new function): %s" % message)
                )
            self._compiled[sha] = function
        return function

    def _start(self) -> None:
        """The Lua runtime, made when a replica first needs it (most never do)."""
        if self._runtime is not None:
            return
        runtime = lua51.LuaRuntime(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            max_memory=0,  # set for each run, see _evaluate
            attribute_filter=_no_attributes,
        )
        prelude = resources.files("node.engine").joinpath("lua_prelude.lua").read_bytes()
        loader = runtime.eval("function(code) return assert(loadstring(code, '=prelude')) end")
        self._compile, self._run, self._sweep = loader(prelude)(
            self._dispatch,
            self._redis_call,
            _unwrap,
            sha1_hex,
            self._rand.draw,
            self._rand.seed,
            HOOK_EVERY,
        )
        self._runtime = runtime

    # ------------------------------------------------------------------ redis.call

    def _redis_call(self, *arguments: Any) -> Any:
        reply, failed = self._dispatch(*arguments)
        if failed:
            raise _CallFailed(reply)
        return reply

    def _dispatch(self, *arguments: Any) -> tuple[Any, bool]:
        """redis.pcall: (the reply as a Lua value, whether it is an error)."""
        runtime = self._runtime
        runtime.set_max_memory(0)  # the reply's tables are built outside Lua's protection
        try:
            return self._dispatch_unlimited(arguments)
        finally:
            runtime.set_max_memory(self.engine.config.script_max_memory)

    def _dispatch_unlimited(self, arguments: tuple[Any, ...]) -> tuple[Any, bool]:
        if not arguments:
            return self._lua_error(_NO_ARGS), True
        args: list[bytes] = []
        for argument in arguments:
            kind = type(argument)
            if kind is bytes:
                args.append(argument)
            elif kind is int:
                args.append(b"%d" % argument)
            elif kind is float:
                args.append(_format_number(argument))
            else:
                return self._lua_error(_BAD_ARG), True
        reply = self._call(args)
        if type(reply) is resp.Error:
            return self._lua_error(reply), True
        return self._to_lua(reply), False

    def _call(self, args: list[bytes]) -> resp.Reply:
        engine = self.engine
        spec = engine.resolve(args)
        if type(spec) is resp.Error:
            if spec.startswith(b"ERR wrong number of arguments"):
                return resp.Error(_ARITY)
            return self._local_command(args)
        assert isinstance(spec, CommandSpec)
        flags = int(spec.flags)
        if flags & _NOSCRIPT_FLAG:
            return resp.Error(_NOT_ALLOWED)
        if self._read_only and flags & _WRITE_FLAG:
            return resp.Error(_WRITE_IN_RO)
        for key in spec.keys(args):
            slot = key_slot(key)
            if self._slot is None:
                if not engine.owns_slot(slot):
                    return resp.Error(_NON_LOCAL)
                self._slot = slot
            elif slot != self._slot:
                return resp.Error(_CROSS_SLOT)
        rng = self._rng
        assert rng is not None
        if self._read_only:
            reply = engine.execute_readonly_resolved(spec, args, self._now_ms, rng)
        else:
            reply = engine.execute_resolved(spec, args, self._now_ms, rng)
            self._changed.extend(engine.db.changed)
        if type(reply) is WouldBlock:  # blocking forms that scripts may call never block
            return timeout_reply(args)
        return reply

    def _local_command(self, args: list[bytes]) -> resp.Reply:
        """PING, ECHO and TIME, which routers answer for clients; anything else unknown."""
        spec = lookup(args[0])
        if spec is None:
            return resp.Error(_UNKNOWN)
        if spec.name not in _LOCAL_COMMANDS or int(spec.flags) & _NOSCRIPT_FLAG:
            return resp.Error(_NOT_ALLOWED)
        if not spec.arity_ok(len(args)) or (spec.name == "ping" and len(args) > 2):
            return resp.Error(_ARITY)
        if spec.name == "ping":
            return args[1] if len(args) == 2 else resp.PONG
        if spec.name == "echo":
            return args[1]
        now = self._now_ms  # the entry's time: the same on every replica
        return [b"%d" % (now // 1000), b"%d" % (now % 1000 * 1000)]

    # ------------------------------------------------------------------ conversions

    def _lua_error(self, message: bytes) -> Any:
        return self._runtime.table_from({b"err": bytes(message)})

    def _to_lua(self, reply: resp.Reply) -> Any:
        """A command's reply as Redis hands it to a script (its RESP2 form)."""
        kind = type(reply)
        if kind is bytes or kind is int:
            return reply
        if reply is None or kind is resp.NullArray:
            return False
        if kind is resp.Simple:
            return self._runtime.table_from({b"ok": bytes(reply)})
        if kind is resp.Error:
            return self._lua_error(reply)
        if kind is resp.Double:
            return resp.format_double(reply)
        if kind is resp.Bool:
            return 1 if reply.value else 0
        if isinstance(reply, (bytes, bytearray)):
            return bytes(reply)
        if isinstance(reply, list):
            return self._runtime.table_from([self._to_lua(item) for item in reply])
        raise TypeError(f"no Lua form for a {kind.__name__} reply")

    def _to_reply(self, value: Any) -> resp.Reply:
        """A script's return value as Redis converts it."""
        kind = type(value)
        if kind is bytes:
            return value
        if kind is int or kind is float:
            if value != value or not _INT64_MIN <= value < -_INT64_MIN:
                return _INT64_MIN  # what Redis's C cast gives
            return int(value)
        if kind is bool:
            return 1 if value else None
        if value is None:
            return None
        if lua51.lua_type(value) == "table":
            error = value[b"err"]
            if type(error) is bytes:
                return resp.Error(error)
            status = value[b"ok"]
            if type(status) is bytes:
                return resp.Simple(status)
            items = []
            index = 1
            while True:
                item = value[index]
                if item is None:
                    return items
                items.append(self._to_reply(item))
                index += 1
        return None  # functions and other values: a null, as in Redis

    def _failure(self, located: Any, sha: bytes) -> resp.Error:
        """The error reply of a failed run: the error, the script and the line."""
        if lua51.lua_type(located) == "table":
            problem, line = located[1], located[2]
        else:  # out of memory: Lua does not call the handler that locates errors
            problem, line = located, -1
        if lua51.lua_type(problem) == "table" and type(problem[b"err"]) is bytes:
            message = problem[b"err"]
        elif type(problem) is bytes:
            message = b"ERR " + problem
        elif problem is None:
            message = b"ERR unknown error"
        else:
            message = b"ERR " + _format_number(problem) if type(problem) in (int, float) else b"ERR"
        if line is not None and line >= 0:
            return resp.Error(b"%s script: %s, on @user_script:%d." % (message, sha, line))
        return resp.Error(b"%s script: %s" % (message, sha))


def _unwrap(problem: Any) -> Any:
    """What a script sees of an error: a failed redis.call's {err=...} table."""
    return problem.table if isinstance(problem, _CallFailed) else problem


def _two(values: Any) -> tuple[Any, Any]:
    """The first two results of a Lua call (lupa returns a lone result as itself)."""
    if type(values) is tuple:
        return values[0], values[1] if len(values) > 1 else None
    return values, None


def _no_attributes(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("scripts cannot reach Python attributes")


_NOSCRIPT_FLAG = int(Flag.NOSCRIPT)
_WRITE_FLAG = int(Flag.WRITE)
