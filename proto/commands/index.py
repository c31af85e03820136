"""The command table, and the one way to find a command in it.

TABLE holds every command slotraft knows (each group module's COMMANDS). A CommandIndex
is the view of one component: COMMANDS, every command (the router answers or forwards
them all), and SHARD_COMMANDS, those a shard's engine runs (any route but the router's).
`resolve` turns a request's arguments into the spec that governs them (a container's
subcommand: OBJECT ENCODING, CLIENT SETNAME, ...) or into why there is none, with Redis's
error text. The engine, the router's session and its backends all resolve through here;
nothing else builds lookups from the table.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from proto.commands import (
    bitmaps,
    cluster,
    connection,
    geo,
    hashes,
    hll,
    keyspace,
    leases,
    lists,
    pubsub,
    scripting,
    server,
    sets,
    sortedsets,
    streams,
    strings,
)
from proto.commands.spec import CommandSpec, Route
from proto.errors import unknown_command, unknown_subcommand, wrong_arity
from proto.resp import Reply

TABLE: dict[str, CommandSpec] = {}
for _group in (
    keyspace,
    strings,
    bitmaps,
    hll,
    hashes,
    lists,
    sets,
    sortedsets,
    streams,
    geo,
    scripting,
    connection,
    pubsub,
    server,
    cluster,
    leases,
):
    for _spec in _group.COMMANDS:
        if _spec.name in TABLE:
            raise RuntimeError(f"command {_spec.name!r} declared twice")
        TABLE[_spec.name] = _spec


class Reason(enum.Enum):
    UNKNOWN_COMMAND = "unknown command"
    UNKNOWN_SUBCOMMAND = "unknown subcommand"
    WRONG_ARITY = "wrong number of arguments"


@dataclass(frozen=True, slots=True)
class Unresolved:
    """Why a request names no command this index knows; `text` is Redis's error reply
    (without '-')."""

    reason: Reason
    text: bytes


def _spellings(name: str) -> tuple[bytes, bytes]:
    return name.encode(), name.upper().encode()


class CommandIndex:
    """The commands of the table that `runs_here` accepts (and, of a container, the
    subcommands it accepts), found by name in any letter case."""

    def __init__(
        self, specs: Iterable[CommandSpec], runs_here: Callable[[CommandSpec], bool]
    ) -> None:
        self.specs: dict[str, CommandSpec] = {}
        self._subcommands: dict[str, dict[str, CommandSpec]] = {}
        for spec in specs:
            subcommands = {n: sub for n, sub in spec.subcommands.items() if runs_here(sub)}
            if subcommands or (not spec.subcommands and runs_here(spec)):
                self.specs[spec.name] = spec
            if subcommands:
                self._subcommands[spec.name] = subcommands
        # The usual spellings, lower and upper case: one dict lookup on the hot paths.
        self.by_spelling: dict[bytes, CommandSpec] = {
            spelling: spec for spec in self.specs.values() for spelling in _spellings(spec.name)
        }
        # Those without subcommands: their spec is the one that governs the request.
        self._plain: dict[bytes, CommandSpec] = {
            spelling: spec
            for spelling, spec in self.by_spelling.items()
            if spec.name not in self._subcommands
        }

    def lookup(self, name: bytes) -> CommandSpec | None:
        """The command (a container for OBJECT, CLIENT, ...) of that name."""
        spec = self.by_spelling.get(name)
        if spec is None:
            spec = self.specs.get(name.decode("utf-8", "replace").lower())
        return spec

    def subcommand(self, container: CommandSpec, name: bytes) -> CommandSpec | None:
        subcommands = self._subcommands.get(container.name)
        if subcommands is None:
            return None
        return subcommands.get(name.decode("utf-8", "replace").lower())

    def resolve(self, args: list[bytes]) -> CommandSpec | Unresolved:
        """The spec that governs `args` (args[0] is the command name), its arity checked,
        or why there is none, checked in Redis's order: the command, the subcommand of a
        container, the number of arguments. A container named alone is checked against
        its own arity (COMMAND alone is a command; OBJECT alone has too few arguments)."""
        if not args:
            return Unresolved(Reason.UNKNOWN_COMMAND, unknown_command([b""]))
        spec = self._plain.get(args[0])
        if spec is None:
            spec = self.lookup(args[0])
            if spec is None:
                return Unresolved(Reason.UNKNOWN_COMMAND, unknown_command(args))
            if spec.name in self._subcommands and len(args) >= 2:
                sub = self.subcommand(spec, args[1])
                if sub is None:
                    text = unknown_subcommand(spec.name, args[1])
                    return Unresolved(Reason.UNKNOWN_SUBCOMMAND, text)
                spec = sub
        arity = spec.arity
        argc = len(args)
        if argc == arity or (arity < 0 and argc >= -arity):
            return spec
        return Unresolved(Reason.WRONG_ARITY, wrong_arity(spec.name))


COMMANDS = CommandIndex(TABLE.values(), lambda spec: True)
SHARD_COMMANDS = CommandIndex(TABLE.values(), lambda spec: spec.route is not Route.ROUTER)

lookup = COMMANDS.lookup
resolve = COMMANDS.resolve

# Commands whose one key is args[1] and that the router forwards as they are, to that
# key's shard (GET, SET, INCR, HSET, LPUSH, ...: most traffic), by their usual spellings.
SINGLE_KEY: dict[bytes, CommandSpec] = {
    spelling: spec
    for spelling, spec in COMMANDS.by_spelling.items()
    if spec.route is Route.KEYED
    and not spec.subcommands
    and spec.keys_function is None
    and spec.first_key == 1
    and spec.last_key == 1
    and not spec.is_blocking
}


def timeout_reply(args: list[bytes]) -> Reply:
    """What the blocking command in `args` answers once it blocked and its timeout passed
    (where it may not block, its spec's `blocking.reply_if_cannot_block`)."""
    spec = lookup(bytes(args[0]))
    if spec is None or spec.blocking is None:
        raise ValueError(f"{bytes(args[0])!r} is not a blocking command")
    return spec.blocking.reply_on_timeout


def timeout_index(args: list[bytes]) -> int:
    """Where the blocking command in `args` has its timeout argument; IndexError when it
    has none (XREAD without BLOCK)."""
    spec = lookup(bytes(args[0]))
    if spec is None or spec.blocking is None:
        raise ValueError(f"{bytes(args[0])!r} is not a blocking command")
    position = spec.blocking.timeout_position(list(args))
    if position is None:
        raise IndexError("no timeout argument")
    return position


def may_block(spec: CommandSpec, args: list[bytes]) -> bool:
    """Whether this call of a command may block: a blocking command, and for those whose
    timeout is an option (XREAD's BLOCK), only when it is given."""
    blocking = spec.blocking
    if blocking is None:
        return False
    return blocking.find_timeout is None or blocking.find_timeout(list(args)) is not None


def timeout_in_milliseconds(args: list[bytes]) -> bool:
    """Whether the blocking command in `args` counts its timeout in milliseconds."""
    spec = lookup(bytes(args[0]))
    return spec is not None and spec.blocking is not None and spec.blocking.milliseconds
