"""The command table: every command slotraft knows, by lower-case name."""

from __future__ import annotations

from proto.commands import (
    connection,
    hashes,
    keyspace,
    lists,
    pubsub,
    scripting,
    server,
    sets,
    sortedsets,
    strings,
)
from proto.commands.spec import Blocking, CommandSpec, Flag, Merge, Route

__all__ = ["TABLE", "Blocking", "CommandSpec", "Flag", "Merge", "Route", "lookup", "resolve"]

TABLE: dict[str, CommandSpec] = {}
for _group in (
    keyspace,
    strings,
    hashes,
    lists,
    sets,
    sortedsets,
    scripting,
    connection,
    pubsub,
    server,
):
    for _spec in _group.COMMANDS:
        if _spec.name in TABLE:
            raise RuntimeError(f"command {_spec.name!r} declared twice")
        TABLE[_spec.name] = _spec

# Exact-bytes cache so the hot path does one dict lookup for the usual spellings.
_BY_BYTES: dict[bytes, CommandSpec] = {}
for _name, _spec in TABLE.items():
    _BY_BYTES[_name.encode()] = _spec
    _BY_BYTES[_name.upper().encode()] = _spec


def lookup(name: bytes) -> CommandSpec | None:
    spec = _BY_BYTES.get(name)
    if spec is None:
        spec = TABLE.get(name.decode("utf-8", "replace").lower())
    return spec


def resolve(args: list[bytes]) -> CommandSpec | None:
    """The spec that governs `args`: the subcommand's for container commands (OBJECT
    ENCODING, CLIENT SETNAME, ...), None when the command or subcommand is unknown."""
    spec = lookup(args[0])
    if spec is None or not spec.subcommands:
        return spec
    if len(args) < 2:
        return spec
    return spec.subcommands.get(args[1].decode("utf-8", "replace").lower())
