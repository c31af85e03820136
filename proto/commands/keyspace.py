"""Generic key-space commands (Redis's db.c, expire.c and OBJECT from object.c)."""

from __future__ import annotations

from proto.commands.builder import F, M, R, W, X, command
from proto.commands.spec import CommandSpec, Flag, Route

_G = "generic"
_N = "O(N)"


def _expire(name: str, summary: str, since: str) -> CommandSpec:
    return command(name, -3, W | F, (1, 1, 1), group=_G, summary=summary, since=since)


def _ttl(name: str, summary: str, since: str) -> CommandSpec:
    return command(name, 2, R | F, (1, 1, 1), group=_G, summary=summary, since=since)


COMMANDS = [
    command(
        "del",
        -2,
        W,
        (1, -1, 1),
        group=_G,
        summary="Deletes one or more keys.",
        complexity=_N,
        route=Route.SPLIT,
    ),
    command(
        "unlink",
        -2,
        W | F,
        (1, -1, 1),
        group=_G,
        summary="Deletes one or more keys (the memory is reclaimed in the background).",
        since="4.0.0",
        complexity=_N,
        route=Route.SPLIT,
    ),
    command(
        "exists",
        -2,
        R | F,
        (1, -1, 1),
        group=_G,
        summary="Counts how many of the given keys exist.",
        complexity=_N,
        route=Route.SPLIT,
    ),
    command(
        "touch",
        -2,
        R | F,
        (1, -1, 1),
        group=_G,
        summary="Counts how many of the given keys exist, updating their last access time.",
        since="3.2.1",
        complexity=_N,
        route=Route.SPLIT,
    ),
    command("type", 2, R | F, (1, 1, 1), group=_G, summary="The type of a key's value."),
    _expire("expire", "Sets a key's time to live in seconds.", "1.0.0"),
    _expire("pexpire", "Sets a key's time to live in milliseconds.", "2.6.0"),
    _expire("expireat", "Sets a key's expiry to a Unix time in seconds.", "1.2.0"),
    _expire("pexpireat", "Sets a key's expiry to a Unix time in milliseconds.", "2.6.0"),
    _ttl("ttl", "A key's time to live in seconds.", "1.0.0"),
    _ttl("pttl", "A key's time to live in milliseconds.", "2.6.0"),
    _ttl("expiretime", "A key's expiry as a Unix time in seconds.", "7.0.0"),
    _ttl("pexpiretime", "A key's expiry as a Unix time in milliseconds.", "7.0.0"),
    command(
        "persist", 2, W | F, (1, 1, 1), group=_G, summary="Removes a key's expiry.", since="2.2.0"
    ),
    command("rename", 3, W, (1, 2, 1), group=_G, summary="Renames a key, replacing the target."),
    command(
        "renamenx",
        3,
        W | F,
        (1, 2, 1),
        group=_G,
        summary="Renames a key only if the new name does not exist.",
    ),
    command(
        "copy",
        -3,
        W | M,
        (1, 2, 1),
        group=_G,
        summary="Copies a key's value (and expiry) to another key.",
        since="6.2.0",
        complexity=_N,
    ),
    command(
        "randomkey",
        1,
        R | X,
        group=_G,
        summary="A random key name.",
        route=Route.ALL_SHARDS,
    ),
    command(
        "keys",
        2,
        R,
        group=_G,
        summary="All key names that match a glob pattern.",
        complexity=_N,
        route=Route.ALL_SHARDS,
    ),
    command(
        "scan",
        -2,
        R,
        group=_G,
        summary="Iterates over the key names with a cursor.",
        since="2.8.0",
        complexity="O(1) per call, O(N) for a complete iteration",
        route=Route.ALL_SHARDS,
    ),
    command(
        "dbsize",
        1,
        R | F,
        group="server",
        summary="The number of keys in the database.",
        route=Route.ALL_SHARDS,
    ),
    command(
        "flushdb",
        -1,
        W,
        group="server",
        summary="Removes every key of the database (ASYNC and SYNC are accepted).",
        complexity=_N,
        route=Route.ALL_SHARDS,
    ),
    command(
        "flushall",
        -1,
        W,
        group="server",
        summary="Removes every key of every database (ASYNC and SYNC are accepted).",
        complexity=_N,
        route=Route.ALL_SHARDS,
    ),
    command(
        "object",
        -2,
        R,
        group=_G,
        summary="A container for commands that inspect the internals of a key's value.",
        since="2.2.3",
        subcommands=[
            command(
                "object|encoding",
                3,
                R,
                (2, 2, 1),
                group=_G,
                summary="The internal encoding of a key's value.",
                since="2.2.3",
            ),
            command(
                "object|help",
                2,
                R | Flag.LOADING | Flag.STALE,
                group=_G,
                summary="Describes the OBJECT subcommands.",
                since="6.2.0",
            ),
        ],
    ),
]
