"""The command table (proto/commands/index.py): every command slotraft knows, by
lower-case name, and the lookups built from it."""

from __future__ import annotations

from proto.commands.index import (
    COMMANDS,
    SHARD_COMMANDS,
    SINGLE_KEY,
    TABLE,
    CommandIndex,
    Reason,
    Unresolved,
    lookup,
    may_block,
    resolve,
    timeout_in_milliseconds,
    timeout_index,
    timeout_reply,
)
from proto.commands.spec import Blocking, CommandSpec, Flag, Merge, Route

__all__ = [
    "COMMANDS",
    "SHARD_COMMANDS",
    "SINGLE_KEY",
    "TABLE",
    "Blocking",
    "CommandIndex",
    "CommandSpec",
    "Flag",
    "Merge",
    "Reason",
    "Route",
    "Unresolved",
    "lookup",
    "may_block",
    "resolve",
    "timeout_in_milliseconds",
    "timeout_index",
    "timeout_reply",
]
