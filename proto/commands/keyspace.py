"""Generic key-space commands (Redis's db.c, expire.c and OBJECT from object.c)."""

from __future__ import annotations

from proto.commands.builder import DENYOOM, FAST, RANDOM, READONLY, WRITE, command
from proto.commands.spec import CommandSpec, Flag, Merge, Route

# SORT's options that take arguments, and how many (sortGetKeys skips them).
_SORT_SKIP = {b"limit": 2, b"get": 1, b"by": 1}


def sort_keys(args: list[bytes]) -> list[int]:
    """sortGetKeys: the sorted key, then the last STORE's destination."""
    positions = [1] if len(args) > 1 else []
    store = None
    index = 2
    while index < len(args):
        option = args[index].lower()
        if option in _SORT_SKIP:
            index += _SORT_SKIP[option]
        elif option == b"store" and index + 1 < len(args):
            store = index + 1
        index += 1
    if store is not None:
        positions.append(store)
    return positions


def sort_ro_keys(args: list[bytes]) -> list[int]:
    """SORT_RO's key: the sorted one (its patterns' keys are not known in advance, so
    Redis flags it movablekeys as SORT)."""
    return [1] if len(args) > 1 else []


GROUP = "generic"
LINEAR = "O(N)"


def _expire(name: str, summary: str, since: str) -> CommandSpec:
    return command(name, -3, WRITE | FAST, (1, 1, 1), group=GROUP, summary=summary, since=since)


def _ttl(name: str, summary: str, since: str) -> CommandSpec:
    return command(name, 2, READONLY | FAST, (1, 1, 1), group=GROUP, summary=summary, since=since)


COMMANDS = [
    command(
        "del",
        -2,
        WRITE,
        (1, -1, 1),
        group=GROUP,
        summary="Deletes one or more keys.",
        complexity=LINEAR,
        route=Route.SPLIT,
        merge=Merge.SUM,
    ),
    command(
        "unlink",
        -2,
        WRITE | FAST,
        (1, -1, 1),
        group=GROUP,
        summary="Deletes one or more keys (the memory is reclaimed in the background).",
        since="4.0.0",
        complexity=LINEAR,
        route=Route.SPLIT,
        merge=Merge.SUM,
    ),
    command(
        "exists",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        group=GROUP,
        summary="Counts how many of the given keys exist.",
        complexity=LINEAR,
        route=Route.SPLIT,
        merge=Merge.SUM,
    ),
    command(
        "touch",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        group=GROUP,
        summary="Counts how many of the given keys exist, updating their last access time.",
        since="3.2.1",
        complexity=LINEAR,
        route=Route.SPLIT,
        merge=Merge.SUM,
    ),
    command(
        "type", 2, READONLY | FAST, (1, 1, 1), group=GROUP, summary="The type of a key's value."
    ),
    _expire("expire", "Sets a key's time to live in seconds.", "1.0.0"),
    _expire("pexpire", "Sets a key's time to live in milliseconds.", "2.6.0"),
    _expire("expireat", "Sets a key's expiry to a Unix time in seconds.", "1.2.0"),
    _expire("pexpireat", "Sets a key's expiry to a Unix time in milliseconds.", "2.6.0"),
    _ttl("ttl", "A key's time to live in seconds.", "1.0.0"),
    _ttl("pttl", "A key's time to live in milliseconds.", "2.6.0"),
    _ttl("expiretime", "A key's expiry as a Unix time in seconds.", "7.0.0"),
    _ttl("pexpiretime", "A key's expiry as a Unix time in milliseconds.", "7.0.0"),
    command(
        "persist",
        2,
        WRITE | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Removes a key's expiry.",
        since="2.2.0",
    ),
    command(
        "rename", 3, WRITE, (1, 2, 1), group=GROUP, summary="Renames a key, replacing the target."
    ),
    command(
        "renamenx",
        3,
        WRITE | FAST,
        (1, 2, 1),
        group=GROUP,
        summary="Renames a key only if the new name does not exist.",
    ),
    command(
        "copy",
        -3,
        WRITE | DENYOOM,
        (1, 2, 1),
        group=GROUP,
        summary="Copies a key's value (and expiry) to another key.",
        since="6.2.0",
        complexity=LINEAR,
    ),
    command(
        "dump",
        2,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        summary="Returns a serialized representation of the value stored at a key.",
        since="2.6.0",
        complexity="O(1) to access the key and additional O(N*M) to serialize it, where N "
        "is the number of Redis objects composing the value and M their average size. For "
        "small string values the time complexity is thus O(1)+O(1*M) where M is small, so "
        "simply O(1).",
    ),
    command(
        "restore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        group=GROUP,
        acl_categories=("@keyspace", "@write", "@slow", "@dangerous"),
        summary="Creates a key from the serialized representation of a value.",
        since="2.6.0",
        complexity="O(1) to create the new key and additional O(N*M) to reconstruct the "
        "serialized value, where N is the number of Redis objects composing the value and "
        "M their average size. For small string values the time complexity is thus "
        "O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the "
        "complexity is O(N*M*log(N)) because inserting values into sorted sets is "
        "O(log(N)).",
    ),
    command(
        "sort",
        -2,
        WRITE | DENYOOM,
        (1, 1, 1),
        group=GROUP,
        acl_categories=("@write", "@set", "@sortedset", "@list", "@slow", "@dangerous"),
        summary="Sorts the elements in a list, a set, or a sorted set, optionally storing "
        "the result.",
        complexity="O(N+M*log(M)) where N is the number of elements in the list or set to "
        "sort, and M the number of returned elements. When the elements are not sorted, "
        "complexity is O(N).",
        keys_function=sort_keys,
    ),
    command(
        "sort_ro",
        -2,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        acl_categories=("@read", "@set", "@sortedset", "@list", "@slow", "@dangerous"),
        summary="Returns the sorted elements of a list, a set, or a sorted set.",
        since="7.0.0",
        complexity="O(N+M*log(M)) where N is the number of elements in the list or set to "
        "sort, and M the number of returned elements. When the elements are not sorted, "
        "complexity is O(N).",
        keys_function=sort_ro_keys,
    ),
    command(
        "randomkey",
        1,
        READONLY | RANDOM,
        group=GROUP,
        summary="A random key name.",
        route=Route.ALL_SHARDS,
        merge=Merge.RANDOM_KEY,
    ),
    command(
        "keys",
        2,
        READONLY,
        group=GROUP,
        acl_categories=("@keyspace", "@read", "@slow", "@dangerous"),
        summary="All key names that match a glob pattern.",
        complexity=LINEAR,
        route=Route.ALL_SHARDS,
        merge=Merge.CONCAT,
    ),
    command(
        "scan",
        -2,
        READONLY,
        group=GROUP,
        summary="Iterates over the key names with a cursor.",
        since="2.8.0",
        complexity="O(1) per call, O(N) for a complete iteration",
        route=Route.ALL_SHARDS,
        merge=Merge.SCAN,
    ),
    command(
        "dbsize",
        1,
        READONLY | FAST,
        group="server",
        acl_categories=("@keyspace", "@read", "@fast"),
        summary="The number of keys in the database.",
        route=Route.ALL_SHARDS,
        merge=Merge.SUM,
    ),
    command(
        "move",
        3,
        WRITE | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Moves a key to another database (of the same shard: a key's slot is its own).",
    ),
    command(
        "swapdb",
        3,
        WRITE | FAST,
        group="server",
        acl_categories=("@keyspace", "@write", "@fast", "@dangerous"),
        summary="Swaps two databases, atomically for every client on every router.",
        since="4.0.0",
        complexity=(
            "O(N) where N is the count of clients watching or blocking on keys from both databases."
        ),
        route=Route.ROUTER,
    ),
    command(
        "flushdb",
        -1,
        WRITE,
        group="server",
        acl_categories=("@keyspace", "@write", "@slow", "@dangerous"),
        summary="Removes every key of the database (ASYNC and SYNC are accepted).",
        complexity=LINEAR,
        route=Route.ALL_SHARDS,
        merge=Merge.ALL_OK,
    ),
    command(
        "flushall",
        -1,
        WRITE,
        group="server",
        acl_categories=("@keyspace", "@write", "@slow", "@dangerous"),
        summary="Removes every key of every database (ASYNC and SYNC are accepted).",
        complexity=LINEAR,
        route=Route.ALL_SHARDS,
        merge=Merge.ALL_OK,
    ),
    command(
        "object",
        -2,
        READONLY,
        group=GROUP,
        acl_categories=("@slow",),
        summary="A container for commands that inspect the internals of a key's value.",
        since="2.2.3",
        subcommands=[
            command(
                "object|encoding",
                3,
                READONLY,
                (2, 2, 1),
                group=GROUP,
                summary="The internal encoding of a key's value.",
                since="2.2.3",
            ),
            command(
                "object|freq",
                3,
                READONLY,
                (2, 2, 1),
                group=GROUP,
                summary="The logarithmic access frequency counter of a key's value.",
                since="4.0.0",
            ),
            command(
                "object|idletime",
                3,
                READONLY,
                (2, 2, 1),
                group=GROUP,
                summary="The time since the last access to a key's value.",
                since="2.2.3",
            ),
            command(
                "object|refcount",
                3,
                READONLY,
                (2, 2, 1),
                group=GROUP,
                summary="The reference count of a key's value.",
                since="2.2.3",
            ),
            command(
                "object|help",
                2,
                READONLY | Flag.LOADING | Flag.STALE,
                group=GROUP,
                acl_categories=("@keyspace", "@slow"),
                summary="Describes the OBJECT subcommands.",
                since="6.2.0",
            ),
        ],
    ),
]
