"""INFO: the router's own sections and the shards' numbers added up (Backend.info)."""

from __future__ import annotations

import asyncio
import os
import platform
import time
from typing import Any

from proto.slots import SLOT_COUNT
from router.context import RouterContext

DEFAULT_SECTIONS = ("server", "clients", "memory", "stats", "replication", "cluster", "keyspace")


def _human(size: int) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.2f}{unit}"
    return f"{size}B"


def slot_ranges(ctx: RouterContext) -> dict[int, str]:
    """Each shard's slots as 'first-last' ranges, from the backend's slot map."""
    ranges: dict[int, list[list[int]]] = {}
    shard_for_slot = ctx.backend.shard_for_slot
    for slot in range(SLOT_COUNT):
        shard = shard_for_slot(slot)
        owned = ranges.setdefault(shard, [])
        if owned and owned[-1][1] == slot - 1:
            owned[-1][1] = slot
        else:
            owned.append([slot, slot])
    return {
        shard: " ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)
        for shard, spans in ranges.items()
    }


async def shard_infos(ctx: RouterContext) -> list[dict[str, Any] | BaseException]:
    backend = ctx.backend
    calls = [backend.info(shard) for shard in range(backend.shard_count)]
    return await asyncio.gather(*calls, return_exceptions=True)


def _server(ctx: RouterContext, shards: list) -> list[str]:
    uptime = int(time.monotonic() - ctx.started)
    uname = platform.uname()
    return [
        f"redis_version:{ctx.config.redis_version}",
        "redis_mode:standalone",
        "slotraft_role:router",
        f"os:{uname.system} {uname.release} {uname.machine}",
        "arch_bits:64",
        f"process_id:{os.getpid()}",
        f"run_id:{ctx.run_id}",
        f"tcp_port:{ctx.port}",
        f"server_time_usec:{time.time_ns() // 1000}",
        f"uptime_in_seconds:{uptime}",
        f"uptime_in_days:{uptime // 86400}",
    ]


def _clients(ctx: RouterContext, shards: list) -> list[str]:
    return [
        f"connected_clients:{len(ctx.clients)}",
        f"maxclients:{ctx.config.max_clients}",
        f"blocked_clients:{ctx.blocked_clients()}",
    ]


def _memory(ctx: RouterContext, shards: list) -> list[str]:
    used = _total(shards, "used_memory")
    maxmemory = ctx.config.maxmemory
    return [
        f"used_memory:{used}",
        f"used_memory_human:{_human(used)}",
        f"maxmemory:{maxmemory}",
        f"maxmemory_human:{_human(maxmemory)}",
        f"maxmemory_policy:{ctx.config.maxmemory_policy}",
    ]


def _stats(ctx: RouterContext, shards: list) -> list[str]:
    stats = ctx.stats
    return [
        f"total_connections_received:{stats.connections_received}",
        f"total_commands_processed:{stats.commands_processed}",
        f"total_net_input_bytes:{stats.net_input_bytes}",
        f"total_net_output_bytes:{stats.net_output_bytes}",
        f"rejected_connections:{stats.rejected_connections}",
        f"expired_keys:{_total(shards, 'expired_keys')}",
        f"evicted_keys:{_total(shards, 'evicted_keys')}",
        f"keyspace_hits:{_total(shards, 'keyspace_hits')}",
        f"keyspace_misses:{_total(shards, 'keyspace_misses')}",
        f"protocol_errors:{stats.protocol_errors}",
    ]


async def _pubsub_lines(ctx: RouterContext) -> list[str]:
    """Redis's pubsub_channels and pubsub_patterns, over every router (as PUBSUB CHANNELS
    and NUMPAT); left out when the nodes cannot tell."""
    backend = ctx.backend
    try:
        channels, patterns = await asyncio.gather(
            backend.pubsub_channels(None), backend.pubsub_numpat()
        )
    except Exception:
        return []
    return [f"pubsub_channels:{len(channels)}", f"pubsub_patterns:{patterns}"]


def _replication(ctx: RouterContext, shards: list) -> list[str]:
    return ["role:master", "connected_slaves:0"]


def _cluster(ctx: RouterContext, shards: list) -> list[str]:
    """cluster_enabled:0 for clients (the router routes for them), then one line per
    shard with its slots and whatever the backend reports (leader, term, ...)."""
    lines = ["cluster_enabled:0", f"slotraft_shards:{len(shards)}"]
    ranges = slot_ranges(ctx)
    for shard, info in enumerate(shards):
        fields = [f"slots={ranges.get(shard, '')}"]
        if isinstance(info, BaseException):
            fields.append("status=error")
            fields.append(f"error={str(info).replace(',', ' ').replace(chr(10), ' ')}")
        else:
            fields.append("status=ok")
            fields.extend(f"{name}={_field(value)}" for name, value in info.items())
        lines.append(f"shard{shard}:{','.join(fields)}")
    return lines


def _keyspace(ctx: RouterContext, shards: list) -> list[str]:
    keys = _total(shards, "keys")
    if not keys:
        return []
    return [f"db0:keys={keys},expires={_total(shards, 'expires')},avg_ttl=0"]


def _field(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(item) for item in value)
    return str(value).replace(",", " ").replace("\n", " ")


def _total(shards: list, name: str) -> int:
    return sum(int(info.get(name, 0)) for info in shards if isinstance(info, dict))


_SECTIONS = {
    "server": _server,
    "clients": _clients,
    "memory": _memory,
    "stats": _stats,
    "replication": _replication,
    "cluster": _cluster,
    "keyspace": _keyspace,
}


def wanted_sections(args: list[bytes]) -> list[str]:
    """The sections asked for, in Redis's order whatever the order of the arguments."""
    if not args:
        return list(DEFAULT_SECTIONS)
    names = {arg.decode("utf-8", "replace").lower() for arg in args}
    if names & {"all", "everything", "default"}:
        return list(DEFAULT_SECTIONS)
    return [name for name in DEFAULT_SECTIONS if name in names]


async def render_info(ctx: RouterContext, args: list[bytes]) -> bytes:
    sections = wanted_sections(args)
    needs_shards = any(name in ("memory", "stats", "cluster", "keyspace") for name in sections)
    shards = await shard_infos(ctx) if needs_shards else []
    blocks = []
    for name in sections:
        lines = _SECTIONS[name](ctx, shards)
        if name == "stats":
            lines += await _pubsub_lines(ctx)
        title = "# " + name.capitalize()
        blocks.append("\r\n".join([title, *lines]) + "\r\n")
    return "\r\n".join(blocks).encode()
