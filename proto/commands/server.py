"""Server commands the router answers itself (Route.ROUTER): COMMAND (rendered from this
table), CONFIG (a read-only view), INFO (the shards' numbers added up), TIME."""

from __future__ import annotations

from proto.commands.builder import ADMIN, FAST, LOADING, NOSCRIPT, STALE, command
from proto.commands.spec import CommandSpec, Flag, Route

GROUP = "server"
_SLOW_CONNECTION = ("@slow", "@connection")
_ADMIN_CATEGORIES = ("@admin", "@slow", "@dangerous")


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
    return command(
        name,
        arity,
        flags,
        group=GROUP,
        summary=summary,
        since=since,
        complexity=complexity,
        route=Route.ROUTER,
        acl_categories=categories,
        subcommands=subcommands,
    )


COMMANDS = [
    _local(
        "command",
        -1,
        LOADING | STALE,
        "Details about all commands.",
        _SLOW_CONNECTION,
        since="2.8.13",
        complexity="O(N) where N is the total number of commands",
        subcommands=[
            _local(
                "command|count", 2, LOADING | STALE, "The number of commands.", _SLOW_CONNECTION
            ),
            _local(
                "command|info",
                -2,
                LOADING | STALE,
                "Details about commands.",
                _SLOW_CONNECTION,
                since="2.8.13",
                complexity="O(N) where N is the number of commands to look up",
            ),
            _local(
                "command|docs",
                -2,
                LOADING | STALE,
                "Documentary information about commands.",
                _SLOW_CONNECTION,
                since="7.0.0",
                complexity="O(N) where N is the number of commands to look up",
            ),
            _local(
                "command|list",
                -2,
                LOADING | STALE,
                "The command names, optionally filtered.",
                _SLOW_CONNECTION,
                since="7.0.0",
                complexity="O(N) where N is the total number of commands",
            ),
            _local(
                "command|getkeys",
                -4,
                LOADING | STALE,
                "Extracts the key names from an arbitrary command.",
                _SLOW_CONNECTION,
                since="2.8.13",
                complexity="O(N) where N is the number of arguments to the command",
            ),
            _local(
                "command|help",
                2,
                LOADING | STALE,
                "Help for COMMAND.",
                _SLOW_CONNECTION,
                since="5.0.0",
            ),
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
                ADMIN | NOSCRIPT | LOADING | STALE,
                "The effective values of configuration parameters.",
                _ADMIN_CATEGORIES,
                since="2.0.0",
                complexity="O(N) when N is the number of configuration parameters provided",
            ),
            _local(
                "config|set",
                -4,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Refused: the router's configuration is read-only at run time.",
                _ADMIN_CATEGORIES,
                since="2.0.0",
            ),
            _local(
                "config|rewrite",
                2,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Refused: the router's configuration is read-only at run time.",
                _ADMIN_CATEGORIES,
                since="2.8.0",
            ),
            _local(
                "config|resetstat",
                2,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Resets the router's statistics.",
                _ADMIN_CATEGORIES,
                since="2.0.0",
            ),
            _local(
                "config|help", 2, LOADING | STALE, "Help for CONFIG.", ("@slow",), since="5.0.0"
            ),
        ],
    ),
    _local(
        "info",
        -1,
        LOADING | STALE,
        "Information and statistics about the router and the shards.",
        ("@slow", "@dangerous"),
        complexity="O(1)",
    ),
    _local(
        "time",
        1,
        LOADING | STALE | FAST,
        "The router's wall-clock time.",
        ("@fast",),
        since="2.6.0",
    ),
]
