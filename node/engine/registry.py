"""Maps command names of the table (proto.commands) to the functions that execute them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.engine.keyspace import Keyspace

Implementation = Callable[[Keyspace, list[bytes]], Any]

IMPLEMENTATIONS: dict[str, Implementation] = {}


def command(*names: str) -> Callable[[Implementation], Implementation]:
    """Register a function as the implementation of the named commands ('object|encoding'
    for a subcommand)."""

    def register(function: Implementation) -> Implementation:
        for name in names:
            if name in IMPLEMENTATIONS:
                raise RuntimeError(f"command {name!r} implemented twice")
            IMPLEMENTATIONS[name] = function
        return function

    return register
