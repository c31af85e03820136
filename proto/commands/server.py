"""Server commands the router answers itself (Route.ROUTER): COMMAND (rendered from this
table), CONFIG (a read-only view), INFO (the shards' numbers added up), TIME."""

from __future__ import annotations

from dataclasses import replace

from proto.commands.builder import A, F, command
from proto.commands.spec import CommandSpec, Flag, Route

_S = "server"
_L = Flag.LOADING | Flag.STALE
_NOSCRIPT = Flag.NOSCRIPT
_SLOW_CONNECTION = ("@slow", "@connection")
_ADMIN = ("@admin", "@slow", "@dangerous")


def _local(
    name: str,
    arity: int,
    flags: Flag,
    summary: str,
    categories: tuple[str, ...],
    *,
    since: str = "1.0.0",
    complexity: str = "O(1)",
    subcommands: list[CommandSpec] | None = None,
) -> CommandSpec:
    spec = command(
        name,
        arity,
        flags,
        group=_S,
        summary=summary,
        since=since,
        complexity=complexity,
        route=Route.ROUTER,
        subcommands=subcommands,
    )
    return replace(spec, acl_categories=categories)


COMMANDS = [
    _local(
        "command",
        -1,
        _L,
        "Details about all commands.",
        _SLOW_CONNECTION,
        since="2.8.13",
        complexity="O(N) where N is the total number of commands",
        subcommands=[
            _local("command|count", 2, _L, "The number of commands.", _SLOW_CONNECTION),
            _local(
                "command|info",
                -2,
                _L,
                "Details about commands.",
                _SLOW_CONNECTION,
                since="2.8.13",
                complexity="O(N) where N is the number of commands to look up",
            ),
            _local(
                "command|docs",
                -2,
                _L,
                "Documentary information about commands.",
                _SLOW_CONNECTION,
                since="7.0.0",
                complexity="O(N) where N is the number of commands to look up",
            ),
            _local(
                "command|list",
                -2,
                _L,
                "The command names, optionally filtered.",
                _SLOW_CONNECTION,
                since="7.0.0",
                complexity="O(N) where N is the total number of commands",
            ),
            _local(
                "command|getkeys",
                -4,
                _L,
                "Extracts the key names from an arbitrary command.",
                _SLOW_CONNECTION,
                since="2.8.13",
                complexity="O(N) where N is the number of arguments to the command",
            ),
            _local("command|help", 2, _L, "Help for COMMAND.", _SLOW_CONNECTION, since="5.0.0"),
        ],
    ),
    _local(
        "config",
        -2,
        Flag(0),
        "A container for server configuration commands.",
        ("@slow",),
        since="2.0.0",
        complexity="Depends on subcommand.",
        subcommands=[
            _local(
                "config|get",
                -3,
                A | _NOSCRIPT | _L,
                "The effective values of configuration parameters.",
                _ADMIN,
                since="2.0.0",
                complexity="O(N) when N is the number of configuration parameters provided",
            ),
            _local(
                "config|set",
                -4,
                A | _NOSCRIPT | _L,
                "Refused: the router's configuration is read-only at run time.",
                _ADMIN,
                since="2.0.0",
            ),
            _local(
                "config|rewrite",
                2,
                A | _NOSCRIPT | _L,
                "Refused: the router's configuration is read-only at run time.",
                _ADMIN,
                since="2.8.0",
            ),
            _local(
                "config|resetstat",
                2,
                A | _NOSCRIPT | _L,
                "Resets the router's statistics.",
                _ADMIN,
                since="2.0.0",
            ),
            _local("config|help", 2, _L, "Help for CONFIG.", ("@slow",), since="5.0.0"),
        ],
    ),
    _local(
        "info",
        -1,
        _L,
        "Information and statistics about the router and the shards.",
        ("@slow", "@dangerous"),
        complexity="O(1)",
    ),
    _local("time", 1, _L | F, "The router's wall-clock time.", ("@fast",), since="2.6.0"),
]
