"""Lua scripts: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT LOAD | EXISTS | FLUSH | KILL, and
Redis 7.0's functions: FCALL, FCALL_RO and FUNCTION (the libraries: node.engine.functions).

A script is part of a shard's log entry and runs on every replica (Lua 5.1 through lupa,
the version Redis embeds), so its run must be a function of the entry and the replicated
state alone, and it must end, in bounded time and memory, in the same reply on every
replica: an entry that stops or kills a replica does so again at every replay. Each run
gets a fresh Lua runtime with the sandbox of lua_prelude.lua (see there), a budget of
instructions (`script_max_instructions`, which also pays for commands and library calls)
and a memory limit (`script_max_memory`); past either the script fails with an error.
The script cache is
replicated state (SCRIPT LOAD goes through the log and into snapshots); scripts cached by
EVAL are dropped oldest first past `MAX_EVAL_SCRIPTS`, as Redis 7.4 does.

Keys, as in Redis 7.0 Cluster, where a node is a shard here: the keys of one command must
share a slot, which must belong to this shard (`Engine.owns_slot`). A script with a
`#!lua` shebang (and a function) must moreover keep to one slot, that of its declared keys
or else of the first key it touches, unless it declares the flag allow-cross-slot-keys; a
script without a shebang may touch the keys of every slot of its shard (Redis 7.0 lets it,
for scripts written before the flags). The flags (node.engine.functions): no-writes makes
the run read-only; allow-oom lets it write over maxmemory (without it, a flagged script
that may write is refused when the shard is over maxmemory at its start, and a script
without a shebang has its commands refused, before its first write, if it was); no-cluster
is refused (this is a cluster); allow-stale changes nothing (a replica never serves stale
data). `redis.setresp(3)` makes commands answer the script in RESP3 forms.
"""

from __future__ import annotations

import hashlib
import logging
import random
import struct
from collections.abc import Callable
from importlib import resources
from typing import Any, cast

from lupa import lua51

from node.engine import functions as function_flags
from node.engine.blocking import WouldBlock
from node.engine.functions import FunctionError, FunctionLibraries, RegisteredFunction
from node.engine.script_host import ScriptHost
from proto import resp
from proto.acl import User
from proto.acl_check import Reason as Denied
from proto.acl_check import caller_from_rules, check
from proto.commands import (
    COMMANDS,
    SHARD_COMMANDS,
    CommandSpec,
    Flag,
    Reason,
    Unresolved,
    lookup,
)
from proto.databases import select_index
from proto.errors import OOM
from proto.slots import key_slot

FUNCTION_SUBCOMMANDS = frozenset(
    {"load", "delete", "flush", "list", "dump", "restore", "stats", "kill", "help"}
)
SCRIPT_COMMANDS = frozenset(
    {
        "eval",
        "evalsha",
        "eval_ro",
        "evalsha_ro",
        "fcall",
        "fcall_ro",
        "script|load",
        "script|exists",
        "script|flush",
        "script|kill",
        *(f"function|{name}" for name in FUNCTION_SUBCOMMANDS),
    }
)
MAX_EVAL_SCRIPTS = 500
HOOK_EVERY = 1000  # Lua instructions between two checks of a run's budget
# A run's budget (EngineConfig.script_max_instructions) counts Lua instructions; work done
# outside Lua's VM is charged in instructions too, by what it costs here (measured with
# `python -m slotraft.benchmarks.script_limits`): a fixed cost per redis.call/pcall, a cost
# per element of a reply (into Lua and out of the script's result), one unit per
# BYTES_PER_UNIT bytes that C library code copies or scans, PARSE_UNITS_PER_BYTE per byte
# of source compiled, and one per ALLOCATED_BYTES_PER_UNIT bytes the script allocates.
CALL_UNITS = 150
ELEMENT_UNITS = 10
BYTES_PER_UNIT = 8
PARSE_UNITS_PER_BYTE = 1
ERROR_UNITS = 40  # an error caught by pcall
ALLOCATED_BYTES_PER_UNIT = 1  # bytes a script allocates (the collector is off while it runs)

NOSCRIPT = b"NOSCRIPT No matching script. Please use EVAL."
_NOT_ALLOWED = b"ERR This Redis command is not allowed from script"
_UNKNOWN = b"ERR Unknown Redis command called from script"
_ARITY = b"ERR Wrong number of args calling Redis command from script"
_WRITE_IN_RO = b"ERR Write commands are not allowed from read-only scripts."
# scriptVerifyACL's texts, by what the user may not do.
_ACL_DENIED = {
    Denied.COMMAND: b"ERR The user executing the script can't run this command or subcommand",
    Denied.KEY: b"ERR The user executing the script can't access at least one of the keys "
    b"mentioned in the command arguments",
    Denied.CHANNEL: b"ERR The user executing the script can't publish to the channel "
    b"mentioned in the command",
}
# A user whose rules cannot be read may run nothing (the same on every replica).
_NOBODY = User(name=b"", enabled=True)
_CALLERS_KEPT = 64  # parsed callers' rules kept between runs
MAX_DENIALS_KEPT = 64  # refusals reported per command (a script may loop on pcall)
_CROSS_SLOT = b"ERR Script attempted to access keys that do not hash to the same slot"
_NON_LOCAL = b"ERR Script attempted to access a non local key in a cluster node"
_CROSSSLOT_DECLARED = b"CROSSSLOT Keys in request don't hash to the same slot"
_NO_MEMORY = b"ERR not enough memory"
_NO_CLUSTER = b"ERR Can not run script on cluster, 'no-cluster' flag is set."
_WRITE_FLAG_RO = b"ERR Can not execute a script with write flag using *_ro command."
_OOM_AT_START = (
    b"OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'"
)
_FUNCTION_NOT_FOUND = b"ERR Function not found"
_LOAD_TIMEOUT = b"ERR FUNCTION LOAD timeout"
_INTERNAL_ERROR = b"ERR the script's runtime failed"
_COMPILE_ERROR = b"ERR Error compiling script (new function): "
_LUA_BYTES_PER_ELEMENT = 64  # what a reply element takes in Lua beyond its bytes, at most
_TOO_LONG = b"script exceeded its instruction budget"
_BUDGET = b"ERR " + _TOO_LONG
# redis.log: lines a run may write (it runs on every replica, and again at every replay),
# and the bytes kept of each.
LOG_LINES_PER_RUN = 8
LOG_LINE_BYTES = 1024
_LOG_LEVELS = (logging.DEBUG, logging.DEBUG, logging.INFO, logging.WARNING)
script_log = logging.getLogger("slotraft.script")
_MAX_CHUNKS = 1000  # compiled scripts kept by a replica
# How deep a script's reply may nest: Redis answers "reached lua stack limit" for a value
# past 7996 slots of its Lua stack (7995 nested arrays; the prelude counts slots as Redis
# does). Our replies are encoded during apply by proto.resp.encode, which recurses once per
# level within Python's recursion limit (1000), so the same error comes here past 256
# slots (255 nested arrays), on every replica alike. 7996 once the encoder iterates.
REPLY_SLOTS = 256
# Commands a script may call that the engine does not run itself.
# Commands whose BLOCK option Redis refuses in scripts (LEASE.GET BLOCK answers WAIT).
_BLOCK_OPTION_REFUSED = frozenset(("xread", "xreadgroup"))
_LOCAL_COMMANDS = frozenset({"ping", "echo", "time", "select"})


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


class ScriptError(Exception):
    """A script did not compile: `reply` is the error to answer, `message` what the
    compiler said."""

    def __init__(self, reply: resp.Error, message: bytes = b"") -> None:
        super().__init__(reply.decode("utf-8", "replace"))
        self.reply = reply
        self.message = message


def _script_flags(body: bytes) -> tuple[int, int]:
    try:
        return function_flags.script_flags(body)
    except FunctionError as error:
        raise ScriptError(error.reply) from None


class Scripting:
    """One shard replica's script cache, function libraries and their runs (each in a fresh
    Lua runtime)."""

    def __init__(self, engine: ScriptHost) -> None:
        self.engine = engine
        # sha1 hex -> body; insertion order is load order. The EVAL-cached ones are also
        # in `evaluated` (oldest first) and may be dropped; SCRIPT LOAD's never are.
        self.bodies: dict[bytes, bytes] = {}
        self.evaluated: dict[bytes, None] = {}
        self.functions = FunctionLibraries()
        # sha1 hex -> the compiled chunk (a cache of this process only, see _chunk).
        self._chunks: dict[bytes, bytes] = {}
        self._runtime: Any = None  # the running script's, only while it runs
        self._rand = _Rand48()
        # Per run: the clock, random source, mode, slot and flags of the running script.
        self._now_ms = 0
        self._rng: random.Random | None = None
        self._read_only = False
        self._slot: int | None = None
        self._changed: list[bytes] = []
        self._cross_slot = True  # keys of several slots (of this shard) allowed
        self._allow_oom = False
        self._oom_at_start = False  # over maxmemory when the run started
        self._dirty = False  # a write command ran
        self._log_lines = 0
        self._last_units = 0  # the budget units the last run spent
        # The running request's KvRequest.caller (set by whoever runs it: the apply loop,
        # a read): a restricted user's rules, b"" for an unrestricted one.
        self.caller = b""
        self._user: User | None = None  # the run's restricted user
        self._callers: dict[bytes, User] = {}
        # What scripts were refused since the apply loop last took them (reason, object):
        # reported to the caller's router for its ACL LOG.
        self.denials: list[tuple[int, bytes]] = []

    # ------------------------------------------------------------------ commands

    def execute(
        self, name: str, args: list[bytes], now_ms: int, rng: random.Random, read_only: bool
    ) -> resp.Reply:
        # The _ro forms are read-only on either path (the log's or a read's).
        if name in ("eval", "eval_ro"):
            ro = read_only or name == "eval_ro"
            return self._evaluate(args[1], args, now_ms, rng, ro, cache=not read_only)
        if name in ("evalsha", "evalsha_ro"):
            sha = args[1].lower()
            body = self.bodies.get(sha)
            if body is None:
                return resp.Error(NOSCRIPT)
            ro = read_only or name == "evalsha_ro"
            return self._evaluate(body, args, now_ms, rng, ro, cache=False, sha=sha)
        if name in ("fcall", "fcall_ro"):
            return self._fcall(args, now_ms, rng, ro=name == "fcall_ro", read_only=read_only)
        if name.startswith("function|"):
            budget = self.engine.config.script_max_instructions
            return self.functions.execute(name[9:], args, self._load_library, budget)
        if name == "script|load":
            return self.load(args[2])
        if name == "script|exists":
            return [1 if sha.lower() in self.bodies else 0 for sha in args[2:]]
        if name == "script|flush":
            if len(args) > 3 or (len(args) == 3 and args[2].upper() not in (b"SYNC", b"ASYNC")):
                return resp.Error(b"ERR SCRIPT FLUSH only support SYNC|ASYNC option")
            self.flush()
            return resp.OK
        if name == "script|kill":
            return resp.Error(function_flags.NOTBUSY)
        raise ValueError(f"{name} is not a scripting command")

    def load(self, body: bytes) -> resp.Reply:
        sha = sha1_hex(body)
        try:
            self._script_chunk(sha, body)
        except ScriptError as error:
            return error.reply
        self.evaluated.pop(sha, None)  # loaded explicitly: kept
        self.bodies[sha] = body
        return sha

    def flush(self) -> None:
        self.bodies.clear()
        self.evaluated.clear()
        self._chunks.clear()

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

    def _keys(self, args: list[bytes]) -> tuple[list[bytes], int | None] | resp.Error:
        """The declared keys of EVAL or FCALL and their slot, or the error (numkeys was
        checked)."""
        keys = args[3 : 3 + int(args[2])]
        slot = key_slot(keys[0]) if keys else None
        if any(key_slot(key) != slot for key in keys[1:]):
            return resp.Error(_CROSSSLOT_DECLARED)
        if slot is not None and not self.engine.owns_slot(slot):
            return resp.Error(_NON_LOCAL)
        return keys, slot

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
        declared = self._keys(args)
        if type(declared) is resp.Error:
            return declared
        keys, slot = cast(tuple[list[bytes], int | None], declared)
        sha = sha or sha1_hex(body)
        try:
            flags, _ = _script_flags(body)
            chunk = self._script_chunk(sha, body)
        except ScriptError as error:
            return error.reply
        if cache and sha not in self.bodies:
            self.bodies[sha] = body
            self.evaluated[sha] = None
            if len(self.evaluated) > MAX_EVAL_SCRIPTS:
                oldest = next(iter(self.evaluated))
                del self.evaluated[oldest]
                del self.bodies[oldest]
        refusal = self._prepare(flags, ro=read_only, now_ms=now_ms, rng=rng, slot=slot)
        if refusal is not None:
            return refusal
        outcome = self._run(b"eval", chunk, keys, args[3 + numkeys :], _parse_units(body))
        return self._outcome(outcome, sha)

    def _fcall(
        self, args: list[bytes], now_ms: int, rng: random.Random, ro: bool, read_only: bool
    ) -> resp.Reply:
        found = self.functions.lookup(args[1])
        if found is None:
            return resp.Error(_FUNCTION_NOT_FOUND)
        library, function = found
        try:
            numkeys = int(args[2])
        except ValueError:
            return resp.Error(b"ERR Bad number of keys provided")
        if numkeys > len(args) - 3:
            return resp.Error(b"ERR Number of keys can't be greater than number of args")
        if numkeys < 0:
            return resp.Error(b"ERR Number of keys can't be negative")
        declared = self._keys(args)
        if type(declared) is resp.Error:
            return declared
        keys, slot = cast(tuple[list[bytes], int | None], declared)
        body = library.body
        try:
            chunk = self._library_chunk(body)
        except ScriptError as error:
            return error.reply
        refusal = self._prepare(
            function.flags, ro=ro or read_only, now_ms=now_ms, rng=rng, slot=slot
        )
        if refusal is not None:
            return refusal
        outcome = self._run(
            b"function", chunk, keys, args[3 + numkeys :], _parse_units(body), function.name
        )
        return self._outcome(outcome, function.name)

    def _prepare(
        self, flags: int, ro: bool, now_ms: int, rng: random.Random, slot: int | None
    ) -> resp.Reply | None:
        """scriptPrepareForRun: the refusal of a run by its flags, else None with the run's
        state set up."""
        compat = bool(flags & function_flags.EVAL_COMPAT_MODE)
        no_writes = not compat and bool(flags & function_flags.NO_WRITES)
        allow_oom = not compat and bool(flags & function_flags.ALLOW_OOM)
        engine = self.engine
        over_memory = bool(engine.config.maxmemory) and engine.out_of_memory()
        if not compat:
            if flags & function_flags.NO_CLUSTER:
                return resp.Error(_NO_CLUSTER)
            if not no_writes and ro:
                return resp.Error(_WRITE_FLAG_RO)
            if over_memory and not (allow_oom or no_writes):
                return resp.Error(_OOM_AT_START)
        self._now_ms, self._rng, self._slot = now_ms, rng, slot
        self._read_only = ro or no_writes
        self._cross_slot = compat or bool(flags & function_flags.ALLOW_CROSS_SLOT)
        self._allow_oom = allow_oom
        self._oom_at_start = over_memory
        self._dirty = False
        self._changed = []
        self._log_lines = 0
        self._rand.seed(0)
        self._user = self._caller_user(self.caller) if self.caller else None
        return None

    def _caller_user(self, rules: bytes) -> User:
        user = self._callers.get(rules)
        if user is None:
            if len(self._callers) >= _CALLERS_KEPT:
                self._callers.clear()
            user = self._callers[rules] = caller_from_rules(rules) or _NOBODY
        return user

    def _acl_refusal(self, spec: CommandSpec, args: list[bytes]) -> resp.Error | None:
        """scriptVerifyACL: the error if the user who runs the script may not run this."""
        if self._user is None:
            return None
        denial = check(self._user, spec, args)
        if denial is None:
            return None
        if len(self.denials) < MAX_DENIALS_KEPT:
            self.denials.append((int(denial.reason), denial.object))
        return resp.Error(_ACL_DENIED[denial.reason])

    def _run(
        self,
        mode: bytes,
        chunk: bytes,
        keys: list[bytes],
        argv: list[bytes],
        parse_units: int,
        function_name: bytes | None = None,
        budget: int | None = None,
    ) -> tuple[Any, Any, Any, Any]:
        """One run in a fresh runtime (see `run` in the prelude): (status, message, source,
        line)."""
        if budget is None:
            budget = self.engine.config.script_max_instructions
        selected = self.engine.db  # a script's SELECT is its own (Redis 7.0)
        try:
            runtime, run, _ = self._start()
            key_table = runtime.table_from(keys)
            argv_table = runtime.table_from(argv)
            outcome = run(mode, chunk, key_table, argv_table, budget, parse_units, function_name)
        except lua51.LuaError:
            # The prelude catches everything a script can raise; should something still
            # escape, it is an error reply, as on every replica, not a dead apply loop.
            outcome = (b"error", _INTERNAL_ERROR)
        finally:
            self._runtime = None  # the runtime goes with its run: nothing outlives it
            self._rng = None
            self.engine.db = selected
        self.engine.db.changed = self._changed
        status, message, source, line, units_left = _five(outcome)
        self._last_units = budget - (units_left if units_left is not None else 0)
        return status, message, source, line

    @staticmethod
    def _outcome(outcome: tuple[Any, Any, Any, Any], name: bytes) -> resp.Reply:
        status, message, source, line = outcome
        if status == b"ok":
            return _parse_reply(message)
        if source is not None and line is not None:
            return resp.Error(b"%s script: %s, on %s:%s." % (message, name, source, line))
        return resp.Error(b"%s script: %s" % (message, name))

    def _load_library(self, body: bytes, budget: int) -> tuple[tuple[RegisteredFunction, ...], int]:
        """The functions a library's code registers (FUNCTION LOAD and RESTORE), and what
        is left of `budget`; raises FunctionError with Redis's message."""
        try:
            chunk = self._library_chunk(body, budget)
        except ScriptError as error:
            raise FunctionError(b"ERR Error compiling function: " + error.message) from None
        saved = (self._rng, self._read_only, self._slot, self._changed)
        self._read_only, self._changed, self._log_lines = True, [], 0
        self._rng = random.Random(0)  # nothing at load time draws from it
        outcome = self._run(b"load", chunk, [], [], _parse_units(body), budget=budget)
        self._rng, self._read_only, self._slot, self._changed = saved
        status, message, _, _ = outcome
        if status != b"ok":
            if message in (_BUDGET, _TOO_LONG):
                message = _LOAD_TIMEOUT
            raise FunctionError(b"ERR Error registering functions: " + message)
        registered = tuple(
            RegisteredFunction(name, description, flags)
            for name, description, flags in _parse_reply(message)
        )
        # What the load cost, as the prelude counted it: one budget for a whole RESTORE.
        return registered, max(budget - self._last_units, 0)

    def _script_chunk(self, sha: bytes, body: bytes) -> bytes:
        """An EVAL script compiled (its shebang line left out, its line feed kept)."""
        chunk = self._chunks.get(sha)
        if chunk is not None:
            return chunk
        _, shebang = _script_flags(body)
        return self._chunk(sha, body[shebang:], b"@user_script")

    def _library_chunk(self, body: bytes, budget: int | None = None) -> bytes:
        return self._chunk(sha1_hex(b"@user_function\n" + body), body, b"@user_function", budget)

    def _chunk(self, key: bytes, body: bytes, chunkname: bytes, budget: int | None = None) -> bytes:
        """The code compiled, without tail calls, as bytecode. It is compiled in a runtime
        of its own, so that each run starts from the same state whether or not this
        replica had the chunk cached (its memory limit must fail at the same point)."""
        chunk = self._chunks.get(key)
        if chunk is not None:
            return chunk
        if budget is None:
            budget = self.engine.config.script_max_instructions
        if _parse_units(body) > budget:
            raise ScriptError(resp.Error(_COMPILE_ERROR + _TOO_LONG), _TOO_LONG)
        try:
            _, _, check = self._start()
            status, result = _two(check(body, budget, chunkname))
        except lua51.LuaError:  # as in _evaluate: never expected, an error reply if it comes
            status, result = b"compile", b"unknown error"
        finally:
            self._runtime = None
        if status != b"ok":
            raise ScriptError(resp.Error(_COMPILE_ERROR + result), result)
        self._chunks[key] = result
        if len(self._chunks) > _MAX_CHUNKS:
            del self._chunks[next(iter(self._chunks))]
        return result

    def _start(self) -> tuple[Any, Callable[..., Any], Callable[..., Any]]:
        """A fresh Lua runtime with the sandbox loaded: (runtime, run, check)."""
        runtime = lua51.LuaRuntime(
            encoding=None,
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            max_memory=0,  # the prelude turns the limit on and off (limit_on)
            attribute_filter=_no_attributes,
        )
        self._runtime = runtime
        loader = runtime.globals().loadstring
        run, check = loader(_prelude_chunk(), b"=prelude")(
            self._dispatch,
            self._limit_on,
            self._limit_off,
            self._patch_chunk,
            self._sha1hex,
            self._rand.draw,
            self._rand.seed,
            self._log_line,
            self._command_allowed,
            self._library_source,
            HOOK_EVERY,
            BYTES_PER_UNIT,
            ELEMENT_UNITS,
            PARSE_UNITS_PER_BYTE,
            ERROR_UNITS,
            ALLOCATED_BYTES_PER_UNIT,
            self.engine.config.script_max_memory,
            REPLY_SLOTS,
        )
        return runtime, run, check

    # ------------------------------------------------------------------ called from Lua

    # Lua 5.1 aborts the process when an allocation fails outside a protected call, and an
    # allocation failing while Lua runs a Python function would unwind through Python's
    # frames. So the memory limit is on only while Lua code runs: each Python function
    # that hands Lua something to allocate (a reply, a string) first lifts it, after
    # checking the size where a script chooses it, and the Lua code that called it puts
    # it back (limit_on).

    def _limit_on(self) -> None:
        self._runtime.set_max_memory(self.engine.config.script_max_memory)

    def _limit_off(self) -> None:
        self._runtime.set_max_memory(0)

    def _sha1hex(self, text: bytes) -> bytes:
        self._runtime.set_max_memory(0)
        return sha1_hex(text)

    def _patch_chunk(self, chunk: bytes) -> bytes:
        self._runtime.set_max_memory(0)
        return without_tail_calls(chunk)

    def _log_line(self, level: float, text: bytes) -> None:
        """redis.log (the prelude checked the level and charged the text)."""
        self._runtime.set_max_memory(0)
        if self._log_lines >= LOG_LINES_PER_RUN:
            return
        self._log_lines += 1
        if len(text) > LOG_LINE_BYTES:
            text = text[:LOG_LINE_BYTES] + b"..."
        script_log.log(_LOG_LEVELS[int(level)], "%s", text.decode("utf-8", "replace"))

    def _command_allowed(self, *args: bytes) -> bool | None:
        """redis.acl_check_cmd: whether the user running the script may run `args`, None
        if no such command exists."""
        self._runtime.set_max_memory(0)
        spec = COMMANDS.lookup(args[0])
        if spec is None:
            return None
        if len(args) >= 2:
            spec = COMMANDS.subcommand(spec, args[1]) or spec
        if self._user is None:
            return True
        if not spec.arity_ok(len(args)):  # its keys cannot be found: the command decides
            return any(
                selector.allows_command(spec, list(args))
                for selector in self._user.selectors_in_order()
            )
        return check(self._user, spec, list(args)) is None

    def _library_source(self, name: bytes) -> bytes:
        self._runtime.set_max_memory(0)
        return _library_chunk(name.decode())

    def _dispatch(self, resp_version: float, *args: bytes) -> tuple[Any, bool, int]:
        """redis.call and redis.pcall, given strings only (the prelude formats numbers and
        refuses other arguments): (the reply as a Lua value in RESP2 or RESP3 form,
        whether it is an error, the budget units it costs)."""
        runtime = self._runtime
        runtime.set_max_memory(0)
        units = CALL_UNITS + sum(map(len, args)) // BYTES_PER_UNIT
        reply = self._call(list(args))
        if type(reply) is resp.Error:
            return self._lua_error(reply), True, units
        elements, size = _measure(reply)
        units += elements * ELEMENT_UNITS + size // BYTES_PER_UNIT
        needed = size + elements * _LUA_BYTES_PER_ELEMENT
        if runtime.get_memory_used() + needed > self.engine.config.script_max_memory:
            return self._lua_error(_NO_MEMORY), True, units
        if resp_version == 3:
            return self._to_lua3(reply), False, units
        return self._to_lua(reply), False, units

    def _call(self, args: list[bytes]) -> resp.Reply:
        engine = self.engine
        spec = SHARD_COMMANDS.resolve(args)
        if type(spec) is Unresolved:
            if spec.reason is Reason.WRONG_ARITY:
                return resp.Error(_ARITY)
            return self._local_command(args)
        assert isinstance(spec, CommandSpec)
        flags = int(spec.flags)
        if flags & _NOSCRIPT_FLAG:
            return resp.Error(_NOT_ALLOWED)
        refusal = self._acl_refusal(spec, args)
        if refusal is not None:
            return refusal
        if self._read_only and flags & _WRITE_FLAG:
            return resp.Error(_WRITE_IN_RO)
        # scriptVerifyOOM: before the first write, as the shard stood at the run's start
        oom_checked = self._oom_at_start and not self._allow_oom and not self._dirty
        if oom_checked and flags & _DENYOOM_FLAG:
            return resp.Error(OOM)
        if flags & _WRITE_FLAG:
            self._dirty = True
        keys = spec.keys(args)
        if keys:
            slot = key_slot(keys[0])
            for key in keys[1:]:
                if key_slot(key) != slot:  # Redis Cluster would redirect such a command
                    return resp.Error(_NON_LOCAL)
            if not engine.owns_slot(slot):
                return resp.Error(_NON_LOCAL)
            if not self._cross_slot:
                if self._slot is None:
                    self._slot = slot
                elif slot != self._slot:
                    return resp.Error(_CROSS_SLOT)
        rng = self._rng
        assert rng is not None
        if spec.name in _BLOCK_OPTION_REFUSED and spec.blocking is not None:
            find_timeout = spec.blocking.find_timeout
            if find_timeout is not None and find_timeout(args) is not None:
                # XREAD/XREADGROUP BLOCK: Redis refuses the option itself in scripts.
                return resp.Error(
                    b"ERR %s command is not allowed with BLOCK option from scripts" % args[0]
                )
        engine.db.in_script = True  # commands that act differently for scripts (SORT)
        try:
            if self._read_only:
                reply = engine.execute_readonly_resolved(spec, args, self._now_ms, rng)
            else:
                reply = engine.execute_resolved(spec, args, self._now_ms, rng, check_oom=False)
                self._changed.extend(engine.db.changed)
        finally:
            engine.db.in_script = False
        if type(reply) is WouldBlock:  # blocking forms that scripts may call never block
            return spec.blocking.reply_if_cannot_block  # type: ignore[union-attr]
        return reply

    def _local_command(self, args: list[bytes]) -> resp.Reply:
        """PING, ECHO and TIME, which routers answer for clients; anything else unknown."""
        spec = lookup(args[0])
        if spec is None:
            return resp.Error(_UNKNOWN)
        if int(spec.flags) & _NOSCRIPT_FLAG:
            return resp.Error(_NOT_ALLOWED)
        if spec.name not in _LOCAL_COMMANDS:
            # Allowed to scripts in Redis (PUBLISH) but not run here: the user's rules first.
            refusal = self._acl_refusal(spec, args) if spec.arity_ok(len(args)) else None
            return refusal or resp.Error(_NOT_ALLOWED)
        if not spec.arity_ok(len(args)) or (spec.name == "ping" and len(args) > 2):
            return resp.Error(_ARITY)
        refusal = self._acl_refusal(spec, args)
        if refusal is not None:
            return refusal
        if spec.name == "ping":
            return args[1] if len(args) == 2 else resp.PONG
        if spec.name == "echo":
            return args[1]
        if spec.name == "select":
            return self._select(args[1])
        now = self._now_ms  # the entry's time: the same on every replica
        return [b"%d" % (now // 1000), b"%d" % (now % 1000 * 1000)]

    def _select(self, arg: bytes) -> resp.Reply:
        """SELECT from a script: the rest of the script acts on that database."""
        index = select_index(arg)
        if type(index) is bytes:
            return resp.Error(index)
        assert type(index) is int
        engine = self.engine
        if engine.databases.is_fenced(index):
            # A swap of it is in progress; a writing script waits before it runs (node/
            # shard_state.py), a read may meet it.
            return resp.Error(b"TRYAGAIN the database is being swapped; try again")
        changed = engine.db.changed
        db = engine.select_for_read(index) if self._read_only else engine.select(index)
        db.changed = changed
        return resp.OK

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
        if kind is resp.KeyedArrays:  # XREAD: [[key, entries], ...] in RESP2
            return self._runtime.table_from(
                [
                    self._runtime.table_from([self._to_lua(reply[i]), self._to_lua(reply[i + 1])])
                    for i in range(0, len(reply) - 1, 2)
                ]
            )
        if isinstance(reply, list):
            return self._runtime.table_from([self._to_lua(item) for item in reply])
        raise TypeError(f"no Lua form for a {kind.__name__} reply")

    def _to_lua3(self, reply: resp.Reply) -> Any:
        """A command's reply as Redis 7.0 hands it to a script after redis.setresp(3):
        null is nil, and maps, sets, doubles, booleans and verbatim strings are kept."""
        kind = type(reply)
        if kind is bytes or kind is int:
            return reply
        if reply is None or kind is resp.NullArray:
            return None
        table = self._runtime.table_from
        if kind is resp.Simple:
            return table({b"ok": bytes(reply)})
        if kind is resp.Error:
            return self._lua_error(reply)
        if kind is resp.Double or kind is resp.DoubleText:
            return table({b"double": float(reply)})
        if kind is resp.Bool:
            return bool(reply.value)
        if kind is resp.Verbatim:
            return table({b"verbatim_string": table({b"format": b"txt", b"string": bytes(reply)})})
        if kind is resp.Map or kind is resp.KeyedArrays:
            entries = self._runtime.table()
            for index in range(0, len(reply) - 1, 2):
                key = self._to_lua3(reply[index])
                if key is not None:
                    entries[key] = self._to_lua3(reply[index + 1])
            return table({b"map": entries})
        if kind is resp.SetReply:
            members = self._runtime.table()
            for item in reply:
                member = self._to_lua3(item)
                if member is not None:
                    members[member] = True
            return table({b"set": members})
        if kind is resp.Pairs:
            pairs = [
                table([self._to_lua3(reply[index]), self._to_lua3(reply[index + 1])])
                for index in range(0, len(reply) - 1, 2)
            ]
            return table(pairs)
        if isinstance(reply, (bytes, bytearray)):
            return bytes(reply)
        if isinstance(reply, list):
            return table([self._to_lua3(item) for item in reply])
        raise TypeError(f"no Lua form for a {kind.__name__} reply")


def _measure(reply: resp.Reply) -> tuple[int, int]:
    """(elements, bytes) of a reply: what converting it for Lua costs."""
    if type(reply) is bytes:
        return 1, len(reply)
    elements, size = 0, 0
    pending = [reply]
    while pending:
        item = pending.pop()
        elements += 1
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, (bytes, bytearray)):
            size += len(item)
    return elements, size


def _parse_units(body: bytes) -> int:
    return len(body) * PARSE_UNITS_PER_BYTE


_TEXT_REPLIES: dict[int, Callable[[bytes], Any]] = {
    ord("$"): bytes,
    ord("+"): resp.Simple,
    ord("-"): resp.Error,
    ord("("): bytes,
    ord("="): lambda text: resp.Verbatim(text[3:]) if text[:3] == b"txt" else bytes(text[3:]),
}
_CONTAINERS: dict[int, tuple[Callable[[], list[Any]], int]] = {
    ord("*"): (list, 1),
    ord("%"): (resp.Map, 2),
    ord("~"): (resp.SetReply, 1),
}
_INTEGER, _DOUBLE, _NULL, _BOOLEAN = ord(":"), ord(","), ord("_"), ord("#")


def _parse_reply(data: bytes) -> resp.Reply:
    """The reply tokens the prelude made of a script's result (see reply_string there),
    without recursion: a reply may nest thousands of levels deep."""
    top: list[Any] = []
    current, remaining = top, 1
    parents: list[tuple[list[Any], int]] = []
    position = 0
    while remaining:
        tag = data[position]
        value: Any
        if tag in _TEXT_REPLIES:
            colon = data.index(b":", position)
            start = colon + 1
            end = start + int(data[position + 1 : colon])
            value = _TEXT_REPLIES[tag](data[start:end])
            position = end
        elif tag == _NULL:
            value = None
            position += 1
        else:
            semicolon = data.index(b";", position)
            field = data[position + 1 : semicolon]
            position = semicolon + 1
            if tag == _INTEGER:
                value = int(field)
            elif tag == _BOOLEAN:
                value = resp.Bool(field == b"1")
            elif tag == _DOUBLE:
                value = resp.Double(float(field))
            else:
                make, per_entry = _CONTAINERS[tag]
                value = make()
                count = int(field) * per_entry
                if count:
                    current.append(value)
                    parents.append((current, remaining - 1))
                    current, remaining = value, count
                    continue
        current.append(value)
        remaining -= 1
        while not remaining and parents:
            current, remaining = parents.pop()
    return top[0]


# Lua 5.1's bytecode as string.dump writes it on this platform (lundump.c): the header, then
# per function: source, 2 ints, 4 bytes, code, constants, nested functions, debug info.
_CHUNK_HEADER = b"\x1bLuaQ\x00\x01\x04\x08\x04\x08\x00"
_OP_CALL, _OP_TAILCALL, _OP_SETLIST = 28, 29, 34


def without_tail_calls(chunk: bytes) -> bytes:
    """The chunk with each TAILCALL made a CALL (the RETURN after it returns its results
    alike); a tail call drops its caller's frame, and with it the line of the error."""
    if not chunk.startswith(_CHUNK_HEADER):
        raise ValueError("not a Lua 5.1 chunk of this platform")
    code = bytearray(chunk)
    _patch_function(code, len(_CHUNK_HEADER))
    return bytes(code)


def without_debug_info(chunk: bytes) -> bytes:
    """The chunk without line numbers, local and upvalue names (sources kept): loading
    bytecode costs by its size, and the prelude and the libraries are loaded by every run
    that uses them. Their own error positions go; positions in scripts stay."""
    if not chunk.startswith(_CHUNK_HEADER):
        raise ValueError("not a Lua 5.1 chunk of this platform")
    out = bytearray(_CHUNK_HEADER)
    _strip_function(chunk, len(_CHUNK_HEADER), out)
    return bytes(out)


def _strip_function(code: bytes, position: int, out: bytearray) -> int:
    def integer(at: int) -> int:
        return int.from_bytes(code[at : at + 4], "little")

    def skip_string(at: int) -> int:
        return at + 8 + int.from_bytes(code[at : at + 8], "little")

    start = position
    position = skip_string(position) + 12  # source; line defined, last line; 4 bytes
    position += 4 + 4 * integer(position)  # code
    count = integer(position)
    position += 4
    for _ in range(count):  # constants
        kind = code[position]
        position += 1
        if kind == 1:
            position += 1
        elif kind == 3:
            position += 8
        elif kind == 4:
            position = skip_string(position)
    count = integer(position)  # nested functions
    out += code[start : position + 4]
    position += 4
    for _ in range(count):
        position = _strip_function(code, position, out)
    position += 4 + 4 * integer(position)  # line info
    count = integer(position)  # local variables
    position += 4
    for _ in range(count):
        position = skip_string(position) + 8
    count = integer(position)  # upvalue names
    position += 4
    for _ in range(count):
        position = skip_string(position)
    out += bytes(12)  # no line info, local or upvalue names
    return position


def _patch_function(code: bytearray, position: int) -> int:
    def integer(at: int) -> int:
        return int.from_bytes(code[at : at + 4], "little")

    def skip_string(at: int) -> int:
        return at + 8 + int.from_bytes(code[at : at + 8], "little")

    position = skip_string(position) + 12  # source; line defined, last line; 4 bytes
    count = integer(position)
    position += 4
    index = 0
    while index < count:
        at = position + 4 * index
        instruction = integer(at)
        operation = instruction & 0x3F
        if operation == _OP_TAILCALL:
            code[at] = (code[at] & 0xC0) | _OP_CALL
        elif operation == _OP_SETLIST and (instruction >> 14) & 0x1FF == 0:
            index += 1  # the next word is SETLIST's count, not an instruction
        index += 1
    position += 4 * count
    count = integer(position)
    position += 4
    for _ in range(count):  # constants
        kind = code[position]
        position += 1
        if kind == 1:
            position += 1
        elif kind == 3:
            position += 8
        elif kind == 4:
            position = skip_string(position)
    count = integer(position)
    position += 4
    for _ in range(count):
        position = _patch_function(code, position)
    count = integer(position)  # line info
    position += 4 + 4 * count
    count = integer(position)  # local variables
    position += 4
    for _ in range(count):
        position = skip_string(position) + 8
    count = integer(position)  # upvalue names
    position += 4
    for _ in range(count):
        position = skip_string(position)
    return position


_PRELUDE: list[bytes] = []
_LIBRARIES: dict[str, bytes] = {}
LIBRARY_NAMES = ("bit", "cjson", "cmsgpack", "struct")


def _compile_file(name: str) -> bytes:
    """A Lua file of this package as bytecode (the prelude and the libraries are trusted
    code: their bytecode is loaded as is)."""
    source = resources.files("node.engine").joinpath(name).read_bytes()
    compiler = lua51.LuaRuntime(encoding=None, register_eval=False, register_builtins=False)
    dump = compiler.eval(
        "function(code) return string.dump(assert(loadstring(code, '=prelude'))) end"
    )
    return without_debug_info(dump(source))


def _library_chunk(name: str) -> bytes:
    """A library's bytecode (lua_<name>.lua), compiled once per process."""
    chunk = _LIBRARIES.get(name)
    if chunk is None:
        if name not in LIBRARY_NAMES:
            raise ValueError(f"no Lua library {name!r}")
        chunk = _LIBRARIES[name] = _compile_file(f"lua_{name}.lua")
    return chunk


def _prelude_chunk() -> bytes:
    """The prelude as bytecode, compiled once per process: loading it is what each run's
    fresh runtime costs."""
    if not _PRELUDE:
        _PRELUDE.append(_compile_file("lua_prelude.lua"))
    return _PRELUDE[0]


def _five(values: Any) -> tuple[Any, Any, Any, Any, Any]:
    """The first five results of a Lua call, missing ones None."""
    if type(values) is not tuple:
        values = (values,)
    return (*values, None, None, None, None, None)[:5]


def _two(values: Any) -> tuple[Any, Any]:
    """The first two results of a Lua call (lupa returns a lone result as itself)."""
    if type(values) is tuple:
        return values[0], values[1] if len(values) > 1 else None
    return values, None


def _no_attributes(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("scripts cannot reach Python attributes")


_NOSCRIPT_FLAG = int(Flag.NOSCRIPT)
_WRITE_FLAG = int(Flag.WRITE)
_DENYOOM_FLAG = int(Flag.DENYOOM)
