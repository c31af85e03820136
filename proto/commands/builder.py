"""Constructors for the command table files, and the flags by name."""

from __future__ import annotations

from proto.commands.spec import Blocking, CommandSpec, Flag, KeysFunction, Merge, Route

WRITE = Flag.WRITE
READONLY = Flag.READONLY
DENYOOM = Flag.DENYOOM
FAST = Flag.FAST
RANDOM = Flag.RANDOM
ADMIN = Flag.ADMIN
NOSCRIPT = Flag.NOSCRIPT
LOADING = Flag.LOADING
STALE = Flag.STALE
PUBSUB = Flag.PUBSUB
NO_AUTH = Flag.NO_AUTH
NO_FLAGS = Flag(0)

# The data types whose commands have an ACL category of their own, and its name.
_TYPE_CATEGORIES = {
    "string": "@string",
    "list": "@list",
    "set": "@set",
    "sorted-set": "@sortedset",
    "bitmap": "@bitmap",
    "hash": "@hash",
    "stream": "@stream",
    "generic": "@keyspace",
    "connection": "@connection",
}


def command(
    name: str,
    arity: int,
    flags: Flag,
    keys: tuple[int, int, int] = (0, 0, 0),
    *,
    group: str,
    summary: str,
    since: str = "1.0.0",
    complexity: str = "O(1)",
    keys_function: KeysFunction | None = None,
    route: Route = Route.KEYED,
    merge: Merge | None = None,
    blocking: Blocking | None = None,
    acl_categories: tuple[str, ...] | None = None,
    subcommands: list[CommandSpec] | None = None,
) -> CommandSpec:
    """A command's spec. A keyless command without a route runs on any shard; `blocking`
    makes it BLOCKING; its ACL categories, unless given, follow from its flags and group
    as Redis's do."""
    first, last, step = keys
    if route is Route.KEYED and first == 0 and keys_function is None:
        route = Route.ANY_SHARD
    if blocking is not None:
        flags |= Flag.BLOCKING
    return CommandSpec(
        name=name,
        arity=arity,
        flags=flags,
        group=group,
        summary=summary,
        since=since,
        complexity=complexity,
        first_key=first,
        last_key=last,
        key_step=step,
        keys_function=keys_function,
        route=route,
        subcommands={sub.name.split("|", 1)[1]: sub for sub in subcommands or []},
        acl_categories=(
            acl_categories if acl_categories is not None else _categories(flags, group)
        ),
        merge=merge,
        blocking=blocking,
    )


def _categories(flags: Flag, group: str) -> tuple[str, ...]:
    """The ACL categories Redis gives a command of these flags and group."""
    categories: list[str] = []
    if flags & Flag.WRITE:
        categories.append("@write")
    if flags & Flag.READONLY:
        categories.append("@read")
    if group in _TYPE_CATEGORIES:
        categories.append(_TYPE_CATEGORIES[group])
    if flags & Flag.ADMIN:
        categories.extend(("@admin", "@dangerous"))
    categories.append("@fast" if flags & Flag.FAST else "@slow")
    if flags & Flag.BLOCKING:
        categories.append("@blocking")
    return tuple(categories)
