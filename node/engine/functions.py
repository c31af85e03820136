"""Redis 7.0's functions: FUNCTION LOAD | DELETE | FLUSH | LIST | DUMP | RESTORE | STATS |
KILL | HELP, and the script flags that functions and `#!lua` scripts declare.

The libraries are replicated state: the commands that change them go through the log of
every shard (the router fans them out) and snapshots carry them (`to_bytes`). A library
keeps its code and what its code registered (names, descriptions, flags), found by
running the code once at FUNCTION LOAD (or RESTORE) in the sandbox; FCALL runs the code
again in the fresh runtime of its run, then the function (node.engine.scripting).

Libraries are listed and dumped in the order of their names (Redis's order is its hash
table's, which nobody can rely on): every shard then answers the same bytes, which is how
the router checks that the shards agree. Function names are case-insensitive, library
names are not, as in Redis.

A function runs inside a log entry and cannot be stopped midway: FUNCTION KILL answers
NOTBUSY and FUNCTION STATS reports no running script, as Redis does when nothing runs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from node.engine import function_dump
from proto import glob, resp
from proto.splitargs import split_args

# Script flags (Redis's scripts_flags_def, in its order: FUNCTION LIST shows them so).
NO_WRITES = 1
ALLOW_OOM = 2
ALLOW_STALE = 4
NO_CLUSTER = 8
ALLOW_CROSS_SLOT = 16
EVAL_COMPAT_MODE = 1 << 16  # an EVAL script without a shebang (Redis 6's rules)
FLAG_NAMES: tuple[tuple[int, bytes], ...] = (
    (NO_WRITES, b"no-writes"),
    (ALLOW_OOM, b"allow-oom"),
    (ALLOW_STALE, b"allow-stale"),
    (NO_CLUSTER, b"no-cluster"),
    (ALLOW_CROSS_SLOT, b"allow-cross-slot-keys"),
)
_FLAG_BY_NAME = {name: bit for bit, name in FLAG_NAMES}

BAD_NAME = (
    b"ERR Library names can only contain letters, numbers, or underscores(_) and must be at "
    b"least one character long"
)
NOTBUSY = b"NOTBUSY No scripts in execution right now."
ENGINE = b"LUA"

HELP = [
    b"FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"LOAD [REPLACE] <FUNCTION CODE>",
    b"    Create a new library with the given library name and code.",
    b"DELETE <LIBRARY NAME>",
    b"    Delete the given library.",
    b"LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    b"    Return general information on all the libraries:",
    b"    * Library name",
    b"    * The engine used to run the Library",
    b"    * Library description",
    b"    * Functions list",
    b"    * Library code (if WITHCODE is given)",
    b"    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    b"STATS",
    b"    Return information about the current function running:",
    b"    * Function name",
    b"    * Command used to run the function",
    b"    * Duration in MS that the function is running",
    b"    If no function is running, return nil",
    b"    In addition, returns a list of available engines.",
    b"KILL",
    b"    Kill the current running function.",
    b"FLUSH [ASYNC|SYNC]",
    b"    Delete all the libraries.",
    b"    When called without the optional mode argument, the behavior is determined by the",
    b"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    b"    * ASYNC: Asynchronously flush the libraries.",
    b"    * SYNC: Synchronously flush the libraries.",
    b"DUMP",
    b"    Return a serialized payload representing the current libraries, can be restored "
    b"using FUNCTION RESTORE command",
    b"RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    b"    Restore the libraries represented by the given payload, it is possible to give a "
    b"restore policy to",
    b"    control how to handle existing libraries (default APPEND):",
    b"    * FLUSH: delete all existing libraries.",
    b"    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    b"    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
    b"replace the old",
    b"      libraries with the new libraries (notice that even on this option there is a "
    b"chance of failure",
    b"      in case of functions name collision with another library).",
    b"HELP",
    b"    Prints this help.",
]


class FunctionError(Exception):
    """A FUNCTION command failed: `reply` is the error to answer."""

    def __init__(self, reply: bytes) -> None:
        super().__init__(reply.decode("utf-8", "replace"))
        self.reply = resp.Error(reply)


@dataclass(frozen=True, slots=True)
class RegisteredFunction:
    name: bytes
    description: bytes | None
    flags: int


@dataclass(frozen=True, slots=True)
class Library:
    name: bytes
    code: bytes  # as given to FUNCTION LOAD, shebang included
    functions: tuple[RegisteredFunction, ...]

    @property
    def body(self) -> bytes:
        """The code without the shebang line (its line feed kept: line numbers stay)."""
        return self.code[_c_string(self.code).index(b"\n") :]


# ---------------------------------------------------------------------- shebangs


def _c_string(data: bytes) -> bytes:
    end = data.find(b"\0")
    return data if end < 0 else data[:end]


def script_flags(body: bytes) -> tuple[int, int]:
    """An EVAL script's flags and the length of its shebang line (evalExtractShebangFlags):
    EVAL_COMPAT_MODE without one. Raises FunctionError with Redis's message."""
    if not body.startswith(b"#!"):
        return EVAL_COMPAT_MODE, 0
    end = _c_string(body).find(b"\n")
    if end < 0:
        raise FunctionError(b"ERR Invalid script shebang")
    parts = split_args(body[:end])
    if not parts:
        raise FunctionError(b"ERR Invalid engine in script shebang")
    if parts[0] != b"#!lua":
        raise FunctionError(b"ERR Unexpected engine in script shebang: " + _c_string(parts[0]))
    flags = 0
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise FunctionError(b"ERR Unknown lua shebang option: " + _c_string(part))
        for name in part[6:].split(b",") if part[6:] else ():  # sdssplitlen: none in ""
            bit = _FLAG_BY_NAME.get(name)
            if bit is None:
                raise FunctionError(b"ERR Unexpected flag in script shebang: " + _c_string(name))
            flags |= bit
    return flags, end


def library_metadata(code: bytes) -> tuple[bytes, bytes]:
    """(engine, library name) of a library's shebang (functionExtractLibMetaData)."""
    if not code.startswith(b"#!"):
        raise FunctionError(b"ERR Missing library metadata")
    end = _c_string(code).find(b"\n")
    if end < 0:
        raise FunctionError(b"ERR Invalid library metadata")
    parts = split_args(code[:end])
    if not parts:
        raise FunctionError(b"ERR Invalid library metadata")
    engine, name = parts[0][2:], None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise FunctionError(
                    b"ERR Invalid metadata value, name argument was given multiple times"
                )
            name = part[5:]
            continue
        raise FunctionError(b"ERR Invalid metadata value given: " + _c_string(part))
    if name is None:
        raise FunctionError(b"ERR Library name was not given")
    return engine, name


def valid_name(name: bytes) -> bool:
    return bool(name) and all(byte in _NAME_BYTES for byte in name)


_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


# ---------------------------------------------------------------------- the libraries

# Runs a library's code for its registrations: (code without shebang, budget) -> (the
# registered functions, what is left of the budget), or raises FunctionError ("Error
# compiling/registering ...").
Loader = Callable[[bytes, int], tuple[tuple[RegisteredFunction, ...], int]]


class FunctionLibraries:
    """One shard replica's libraries."""

    def __init__(self) -> None:
        self.libraries: dict[bytes, Library] = {}
        # lower-case function name -> (library, function): FCALL's lookup
        self.functions: dict[bytes, tuple[Library, RegisteredFunction]] = {}

    def lookup(self, name: bytes) -> tuple[Library, RegisteredFunction] | None:
        return self.functions.get(name.lower())

    # ------------------------------------------------------------------ commands

    def execute(
        self, subcommand: str, args: list[bytes], loader: Loader, budget: int
    ) -> resp.Reply:
        try:
            if subcommand == "load":
                return self._load(args, loader, budget)
            if subcommand == "delete":
                return self._delete(args[2])
            if subcommand == "flush":
                return self._flush(args)
            if subcommand == "list":
                return self._list(args)
            if subcommand == "dump":
                return self.dump()
            if subcommand == "restore":
                return self._restore(args, loader, budget)
            if subcommand == "stats":
                return self._stats()
            if subcommand == "kill":
                return resp.Error(NOTBUSY)
            if subcommand == "help":
                return [resp.Simple(line) for line in HELP]
        except FunctionError as error:
            return error.reply
        raise ValueError(f"FUNCTION {subcommand} is not a function command")

    def _load(self, args: list[bytes], loader: Loader, budget: int) -> resp.Reply:
        replace = False
        position = 2
        while position < len(args) - 1:
            option = args[position]
            position += 1
            if option.lower() == b"replace":
                replace = True
                continue
            raise FunctionError(b"ERR Unknown option given: " + _c_string(option))
        if position >= len(args):
            raise FunctionError(b"ERR Function code is missing")
        library = self.create(args[position], replace, self.libraries, loader, budget)[0]
        self._link_replacing(library)
        return library.name

    def create(
        self,
        code: bytes,
        replace: bool,
        existing: dict[bytes, Library],
        loader: Loader,
        budget: int,
    ) -> tuple[Library, int]:
        """A library made of `code` (functionsCreateWithLibraryCtx) checked against the
        libraries `existing`, and what its loading left of `budget`."""
        engine, name = library_metadata(code)
        if not valid_name(name):
            raise FunctionError(BAD_NAME)
        if engine.lower() != b"lua":
            raise FunctionError(b"ERR Engine '%s' not found" % engine)
        old = existing.get(name)
        if old is not None and not replace:
            raise FunctionError(b"ERR Library '%s' already exists" % name)
        library = Library(name, code, ())
        functions, budget = loader(library.body, budget)
        if not functions:
            raise FunctionError(b"ERR No functions registered")
        library = Library(name, code, functions)
        taken = {
            function.name.lower()
            for other in existing.values()
            if other.name != name
            for function in other.functions
        }
        for function in functions:
            if function.name.lower() in taken:
                raise FunctionError(b"ERR Function %s already exists" % function.name)
        return library, budget

    def _link_replacing(self, library: Library) -> None:
        old = self.libraries.pop(library.name, None)
        if old is not None:
            self._unlink_functions(old)
        self._link(library)

    def _link(self, library: Library) -> None:
        self.libraries[library.name] = library
        for function in library.functions:
            # Two names of one library that differ only in case: Redis keeps the first.
            self.functions.setdefault(function.name.lower(), (library, function))

    def _unlink_functions(self, library: Library) -> None:
        for function in library.functions:
            entry = self.functions.get(function.name.lower())
            if entry is not None and entry[0] is library:
                del self.functions[function.name.lower()]

    def _delete(self, name: bytes) -> resp.Reply:
        library = self.libraries.pop(name, None)
        if library is None:
            raise FunctionError(b"ERR Library not found")
        self._unlink_functions(library)
        return resp.OK

    def _flush(self, args: list[bytes]) -> resp.Reply:
        if len(args) > 3:
            raise FunctionError(_syntax_error(args))
        if len(args) == 3 and args[2].lower() not in (b"sync", b"async"):
            raise FunctionError(b"ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        self.flush()
        return resp.OK

    def flush(self) -> None:
        self.libraries.clear()
        self.functions.clear()

    def _list(self, args: list[bytes]) -> resp.Reply:
        with_code = False
        pattern: bytes | None = None
        position = 2
        while position < len(args):
            argument = args[position]
            if not with_code and argument.lower() == b"withcode":
                with_code = True
            elif pattern is None and argument.lower() == b"libraryname":
                if position >= len(args) - 1:
                    raise FunctionError(b"ERR library name argument was not given")
                position += 1
                pattern = args[position]
            else:
                raise FunctionError(b"ERR Unknown argument " + _c_string(argument))
            position += 1
        reply: list[resp.Reply] = []
        for library in self.sorted_libraries():
            if pattern is not None and not glob.stringmatch(pattern, library.name, nocase=True):
                continue
            functions = [
                resp.Map(
                    [
                        b"name",
                        function.name,
                        b"description",
                        function.description,
                        b"flags",
                        resp.SetReply(
                            resp.Simple(name) for bit, name in FLAG_NAMES if function.flags & bit
                        ),
                    ]
                )
                for function in library.functions
            ]
            entry = [b"library_name", library.name, b"engine", ENGINE, b"functions", functions]
            if with_code:
                entry += [b"library_code", library.code]
            reply.append(resp.Map(entry))
        return reply

    def sorted_libraries(self) -> list[Library]:
        return [self.libraries[name] for name in sorted(self.libraries)]

    def dump(self) -> bytes:
        return function_dump.dump_payload([library.code for library in self.sorted_libraries()])

    def _restore(self, args: list[bytes], loader: Loader, budget: int) -> resp.Reply:
        if len(args) > 4:
            raise FunctionError(_syntax_error(args))
        policy = b"append"
        if len(args) == 4:
            policy = args[3].lower()
            if policy not in (b"append", b"replace", b"flush"):
                raise FunctionError(
                    b"ERR Wrong restore policy given, value should be either FLUSH, APPEND or "
                    b"REPLACE."
                )
        payload = args[2]
        if not function_dump.verify_payload(payload):
            raise FunctionError(b"ERR DUMP payload version or checksum are wrong")
        try:
            # A library longer than the budget's worth of parsing cannot compile anyway.
            codes = function_dump.read_payload(payload, max_string=budget + 1)
        except function_dump.PayloadError as error:
            raise FunctionError(b"ERR " + str(error).encode()) from None
        # The libraries of the payload among themselves, as Redis loads them into a
        # context of their own; one budget for all of their loading.
        restored: dict[bytes, Library] = {}
        for code in codes:
            library, budget = self.create(code, False, restored, loader, budget)
            restored[library.name] = library
        if policy == b"flush":
            self.flush()
        else:
            self._join(restored, replace=policy == b"replace")
        for name in sorted(restored):
            self._link(restored[name])
        return resp.OK

    def _join(self, restored: dict[bytes, Library], replace: bool) -> None:
        """libraryJoin's checks: nothing changes unless all of them pass."""
        replaced = set()
        for name in sorted(restored):
            if name in self.libraries:
                if not replace:
                    raise FunctionError(b"ERR Library %s already exists" % name)
                replaced.add(name)
        taken = {
            lowered: function
            for lowered, (library, function) in self.functions.items()
            if library.name not in replaced
        }
        for name in sorted(restored):
            for function in restored[name].functions:
                if function.name.lower() in taken:
                    raise FunctionError(b"ERR Function %s already exists" % function.name)
        for name in sorted(replaced):
            self._unlink_functions(self.libraries.pop(name))

    def _stats(self) -> resp.Reply:
        functions = sum(len(library.functions) for library in self.libraries.values())
        counts = resp.Map([b"libraries_count", len(self.libraries), b"functions_count", functions])
        return resp.Map([b"running_script", None, b"engines", resp.Map([ENGINE, counts])])

    # ------------------------------------------------------------------ snapshots

    def to_bytes(self) -> bytes:
        """Per library (by name): its code, then per function its name, description (a
        flag byte, then the text) and flags."""
        parts = [struct.pack(">I", len(self.libraries))]
        for library in self.sorted_libraries():
            parts.append(_field(library.code))
            parts.append(struct.pack(">I", len(library.functions)))
            for function in library.functions:
                parts.append(_field(function.name))
                if function.description is None:
                    parts.append(b"\0")
                else:
                    parts.append(b"\1" + _field(function.description))
                parts.append(struct.pack(">I", function.flags))
        return b"".join(parts)

    def restore(self, data: bytes) -> None:
        reader = _FieldReader(data)
        libraries: list[Library] = []
        try:
            for _ in range(reader.number()):
                code = reader.field()
                functions = []
                for _ in range(reader.number()):
                    name = reader.field()
                    description = reader.field() if reader.take(1) == b"\1" else None
                    functions.append(RegisteredFunction(name, description, reader.number()))
                _, name = library_metadata(code)
                libraries.append(Library(name, code, tuple(functions)))
        except (struct.error, FunctionError) as error:
            raise ValueError(f"function libraries are malformed: {error}") from None
        if reader.position != len(data):
            raise ValueError("function libraries have trailing bytes")
        self.flush()
        for library in libraries:
            self._link(library)


def _syntax_error(args: list[bytes]) -> bytes:
    return b"ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP." % (
        _c_string(args[1])[:128],
        args[0].upper(),
    )


def _field(data: bytes) -> bytes:
    return struct.pack(">Q", len(data)) + data


class _FieldReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def take(self, count: int) -> bytes:
        if count > len(self.data) - self.position:
            raise struct.error("truncated")
        piece = self.data[self.position : self.position + count]
        self.position += count
        return bytes(piece)

    def number(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def field(self) -> bytes:
        return self.take(int.from_bytes(self.take(8), "big"))
