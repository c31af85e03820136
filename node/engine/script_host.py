"""The engine as a script's run sees it (node.engine.engine.Engine): what node.engine.scripting
needs of it, so that scripting does not import the engine that holds it."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from node.engine.config import EngineConfig
from node.engine.databases import Databases
from node.engine.keyspace import Keyspace
from proto.commands import CommandSpec
from proto.resp import Reply


class ScriptHost(Protocol):
    config: EngineConfig
    db: Keyspace  # its `changed`: the keys the last command modified
    databases: Databases  # SELECT's databases (a script's SELECT)
    owns_slot: Callable[[int], bool]  # whether a hash slot belongs to this shard

    def execute_resolved(
        self,
        spec: CommandSpec,
        args: list[bytes],
        now_ms: int,
        rng: random.Random,
        check_oom: bool = True,
    ) -> Reply: ...

    def out_of_memory(self) -> bool: ...

    def select(self, index: int) -> Keyspace: ...

    def select_for_read(self, index: int) -> Keyspace: ...

    def execute_readonly_resolved(
        self, spec: CommandSpec, args: list[bytes], now_ms: int, rng: random.Random
    ) -> Reply: ...
