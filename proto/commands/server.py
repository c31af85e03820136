"""Server commands the router answers itself (Route.ROUTER): COMMAND (rendered from this
table), CONFIG, INFO (the router's and the nodes' numbers), TIME, SLOWLOG and LATENCY (the
router's own), MEMORY (the nodes' numbers; MEMORY USAGE runs on the key's shard)."""

from __future__ import annotations

from proto.commands.builder import ADMIN, FAST, LOADING, NOSCRIPT, READONLY, STALE, command
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
                "Sets configuration parameters: cluster-wide ones through the metadata group, "
                "router-local ones on this router, all or none.",
                _ADMIN_CATEGORIES,
                since="2.0.0",
                complexity="O(N) when N is the number of configuration parameters provided",
            ),
            _local(
                "config|rewrite",
                2,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Writes the router's settings to its --config file (cluster-wide settings are "
                "replicated state already).",
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
    _local(
        "slowlog",
        -2,
        Flag(0),
        "A container for slow log commands.",
        ("@slow",),
        since="2.2.12",
        complexity="Depends on subcommand.",
        subcommands=[
            _local(
                "slowlog|get",
                -2,
                ADMIN | LOADING | STALE,
                "The router's slow log entries, timed end to end.",
                _ADMIN_CATEGORIES,
                since="2.2.12",
                complexity="O(N) where N is the number of entries returned",
            ),
            _local(
                "slowlog|len",
                2,
                ADMIN | LOADING | STALE,
                "The number of entries in the router's slow log.",
                _ADMIN_CATEGORIES,
                since="2.2.12",
            ),
            _local(
                "slowlog|reset",
                2,
                ADMIN | LOADING | STALE,
                "Clears the router's slow log.",
                _ADMIN_CATEGORIES,
                since="2.2.12",
                complexity="O(N) where N is the number of entries in the slowlog",
            ),
            _local(
                "slowlog|help", 2, LOADING | STALE, "Help for SLOWLOG.", ("@slow",), since="6.2.0"
            ),
        ],
    ),
    _local(
        "latency",
        -2,
        Flag(0),
        "A container for latency diagnostics commands.",
        ("@slow",),
        since="2.8.13",
        complexity="Depends on subcommand.",
        subcommands=[
            _local(
                "latency|latest",
                2,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "The latest latency samples of every event.",
                _ADMIN_CATEGORIES,
                since="2.8.13",
            ),
            _local(
                "latency|history",
                3,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "An event's latency samples.",
                _ADMIN_CATEGORIES,
                since="2.8.13",
            ),
            _local(
                "latency|reset",
                -2,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Clears the samples of some or all events.",
                _ADMIN_CATEGORIES,
                since="2.8.13",
            ),
            _local(
                "latency|histogram",
                -2,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Each command's cumulative latency distribution at this router.",
                _ADMIN_CATEGORIES,
                since="7.0.0",
                complexity="O(N) where N is the number of commands with latency information "
                "being retrieved.",
            ),
            _local(
                "latency|graph",
                3,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "An ASCII graph of an event's latency samples.",
                _ADMIN_CATEGORIES,
                since="2.8.13",
            ),
            _local(
                "latency|doctor",
                2,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "A human-readable latency analysis report.",
                _ADMIN_CATEGORIES,
                since="2.8.13",
            ),
            _local(
                "latency|help", 2, LOADING | STALE, "Help for LATENCY.", ("@slow",), since="2.8.13"
            ),
        ],
    ),
    # Not a router command as a whole: MEMORY USAGE runs on its key's shard.
    command(
        "memory",
        -2,
        Flag(0),
        group=GROUP,
        summary="A container for memory diagnostics commands.",
        acl_categories=("@slow",),
        since="4.0.0",
        complexity="Depends on subcommand.",
        subcommands=[
            _local(
                "memory|stats",
                2,
                Flag(0),
                "Memory usage details, added up over the shards.",
                ("@slow",),
                since="4.0.0",
            ),
            _local(
                "memory|doctor",
                2,
                Flag(0),
                "A report of memory problems over the shards.",
                ("@slow",),
                since="4.0.0",
            ),
            _local(
                "memory|malloc-stats",
                2,
                Flag(0),
                "The allocator's statistics (the nodes run Python's: none to show).",
                ("@slow",),
                since="4.0.0",
                complexity="Depends on how much memory is allocated, could be slow",
            ),
            _local(
                "memory|purge",
                2,
                Flag(0),
                "Asks the allocator to release memory (nothing to do here).",
                ("@slow",),
                since="4.0.0",
                complexity="Depends on how much memory is allocated, could be slow",
            ),
            _local(
                "memory|help", 2, LOADING | STALE, "Help for MEMORY.", ("@slow",), since="4.0.0"
            ),
            command(
                "memory|usage",
                -3,
                READONLY,
                (2, 2, 1),
                group=GROUP,
                summary="Estimate the memory usage of a key.",
                since="4.0.0",
                complexity="O(N) where N is the number of samples.",
                acl_categories=("@read", "@slow"),
            ),
        ],
    ),
]
