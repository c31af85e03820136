"""Engine settings (a subset of redis.conf), the same on every replica of a shard.

A node starts its engines with the settings of its flags and `--config` file; CONFIG SET
changes them through the metadata group, and each shard applies the change at one position
of its own log (node/shard_state.py), so that every replica of a shard changes at the same
point. `configure` is that change: the start-up values, then the replicated ones."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from proto.redis_config import ENGINE_PARAMETERS, ConfigError, lookup

log = logging.getLogger("slotraft.engine")

EVICTION_POLICIES = (
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)


@dataclass(slots=True)
class EngineConfig:
    maxmemory: int = 0  # bytes; 0 means no limit
    maxmemory_policy: str = "noeviction"
    maxmemory_samples: int = 5
    lfu_log_factor: int = 10
    lfu_decay_time: int = 1
    proto_max_bulk_len: int = 512 * 1024 * 1024
    # Largest negative count of SRANDMEMBER/HRANDFIELD/ZRANDMEMBER (draws with repetition).
    max_random_draws: int = 1_000_000
    # The most work one command (or one MULTI/EXEC) may do, in elements: every argument and
    # every element it returns, stores, removes or walks through (node.engine.work). A
    # node runs its Raft heartbeats on the loop that executes commands: at this default
    # the heaviest command allowed takes about 0.15 s of CPU on this project's 2-core test
    # machine, while a ZRANGE of 100,000 members still fits. Past it: an error, nothing
    # changed.
    max_command_work: int = 110_000
    # A Lua script runs on every replica of its shard and stops their apply loops (and so
    # Raft's heartbeats) while it runs: past this budget it fails (Redis would only start
    # answering BUSY). The budget counts Lua instructions, and charges in the same units
    # what runs outside Lua's VM: each redis.call, reply elements, bytes allocated, copied
    # or parsed (node/engine/scripting.py). The worst scripts it allows take about 0.1 s
    # on a loaded 2-core machine (python -m slotraft.benchmarks.script_limits).
    script_max_instructions: int = 5_000_000
    # Bytes of one run's Lua heap (each run has a runtime of its own).
    script_max_memory: int = 64 * 1024 * 1024
    # Thresholds that decide OBJECT ENCODING, as in Redis 7.0's defaults (redis-server's
    # own: its sample redis.conf says 128 hash entries, the server without it 512).
    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    set_max_intset_entries: int = 512
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    # Where a stream's blocks end, as Redis's listpack nodes (node/engine/stream_value.py).
    stream_node_max_entries: int = 100
    stream_node_max_bytes: int = 4096
    # Stored and replicated (so CONFIG SET and GET behave as Redis's): in Redis 7.0 they
    # shape a list's quicklist nodes, never what a command answers, and OBJECT ENCODING of
    # a list is always quicklist.
    list_max_listpack_size: int = -2
    list_compress_depth: int = 0
    # The longest sparse HyperLogLog (header included) before it becomes dense.
    hll_sparse_max_bytes: int = 3000
    # Which keyspace events the leaders publish (node/notifications.py).
    notify_keyspace_events: str = ""

    def __post_init__(self) -> None:
        if self.maxmemory_policy not in EVICTION_POLICIES:
            raise ValueError(
                f"maxmemory-policy must be one of {', '.join(EVICTION_POLICIES)}, "
                f"not {self.maxmemory_policy!r}"
            )
        if self.maxmemory < 0:
            raise ValueError("maxmemory must be >= 0")
        if self.max_command_work < 1:
            raise ValueError("max-command-work must be >= 1")


# Redis's parameter name -> the EngineConfig field it sets (ENGINE_PARAMETERS).
FIELD_OF = {name: name.replace("-", "_") for name in ENGINE_PARAMETERS}
assert set(FIELD_OF.values()) <= {item.name for item in fields(EngineConfig)}


def engine_value(name: str, canonical: str) -> Any:
    """A canonical value (proto.redis_config) as the EngineConfig field holds it."""
    if name in ("maxmemory-policy", "notify-keyspace-events"):
        return canonical
    return int(canonical)


def canonical_value(config: EngineConfig, name: str) -> str:
    """A field's value as CONFIG GET shows it."""
    return str(getattr(config, FIELD_OF[name]))


def configure(config: EngineConfig, base: EngineConfig, overrides: dict[str, str]) -> None:
    """Set `config` in place (containers hold it) to `base` with `overrides` (Redis's
    names, canonical values) on top. Total, as it runs when a log entry applies: an
    override that is not a valid engine setting is skipped with a warning, the same on
    every replica."""
    for item in fields(EngineConfig):
        setattr(config, item.name, getattr(base, item.name))
    for name, value in sorted(overrides.items()):
        parameter = lookup(name)
        if name not in FIELD_OF or parameter is None or parameter.name != name:
            log.warning("engine setting %r ignored: not one", name)
            continue
        try:
            shown = parameter.parse(value, parameter.default)
        except ConfigError as error:
            log.warning("engine setting %s %r ignored: %s", name, value, error)
            continue
        setattr(config, FIELD_OF[name], engine_value(name, shown))
