"""Compact constructors for the command table files."""

from __future__ import annotations

from proto.commands.spec import CommandSpec, Flag, KeysFunction, Route

W = Flag.WRITE
R = Flag.READONLY
M = Flag.DENYOOM
F = Flag.FAST
B = Flag.BLOCKING
X = Flag.RANDOM
A = Flag.ADMIN


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
    subcommands: list[CommandSpec] | None = None,
) -> CommandSpec:
    first, last, step = keys
    if route is Route.KEYED and first == 0 and keys_function is None:
        route = Route.ANY_SHARD
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
    )
