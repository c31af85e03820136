"""MEMORY STATS, DOCTOR, MALLOC-STATS, PURGE and HELP, answered by the router from the
shards' engines and the nodes' reports; MEMORY USAGE runs on its key's shard
(node/engine/t_keys.py).

The engines count memory by estimate (the same on every replica, what maxmemory compares:
node/engine/keyspace.py), not by asking an allocator: "allocated" is that estimate, the
resident sizes are the node processes' own."""

from __future__ import annotations

import asyncio

from proto.resp import OK, Double, Map, Reply, Verbatim
from router.connection import ClientState
from router.context import RouterContext
from router.info import Facts, shard_infos
from router.local_commands import answers, help_lines


async def _facts(ctx: RouterContext) -> Facts:
    shards, nodes = await asyncio.gather(shard_infos(ctx), ctx.backend.node_reports())
    return Facts(shards, nodes, [])


@answers("memory|stats", waits=True)
async def memory_stats(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    facts = await _facts(ctx)
    used = facts.total("used_memory")
    keys = facts.total("keys")
    peak = ctx.peak_used_memory = max(
        ctx.peak_used_memory, used, sum(node.peak_used_memory for node in facts.nodes)
    )
    rss = sum(node.rss_bytes for node in facts.nodes)
    clients = sum(h.buffered + h.output_buffered for h in ctx.clients.values())
    scripts = facts.total("script_bytes")
    key_overhead = facts.total("overhead_bytes")
    overhead = key_overhead + clients + scripts
    dataset = max(used - key_overhead, 0)
    fragmentation = rss / used if used else 0.0
    return Map(
        [
            b"peak.allocated",
            peak,
            b"total.allocated",
            used,
            b"startup.allocated",
            0,
            b"replication.backlog",
            0,
            b"clients.slaves",
            0,
            b"clients.normal",
            clients,
            b"cluster.links",
            0,
            b"aof.buffer",
            0,
            b"lua.caches",
            scripts,
            b"functions.caches",
            0,
            b"db.0",
            Map(
                [
                    b"overhead.hashtable.main",
                    key_overhead,
                    b"overhead.hashtable.expires",
                    0,  # counted in the main figure
                    b"overhead.hashtable.slot-to-keys",
                    0,
                ]
            ),
            b"overhead.total",
            overhead,
            b"keys.count",
            keys,
            b"keys.bytes-per-key",
            used // keys if keys else 0,
            b"dataset.bytes",
            dataset,
            b"dataset.percentage",
            Double(dataset / used * 100 if used else 0.0),
            b"peak.percentage",
            Double(used / peak * 100 if peak else 100.0),
            b"allocator.allocated",
            used,
            b"allocator.active",
            used,
            b"allocator.resident",
            rss,
            b"allocator-fragmentation.ratio",
            Double(1.0),
            b"allocator-fragmentation.bytes",
            0,
            b"allocator-rss.ratio",
            Double(fragmentation),
            b"allocator-rss.bytes",
            rss - used,
            b"rss-overhead.ratio",
            Double(1.0),
            b"rss-overhead.bytes",
            0,
            b"fragmentation",
            Double(fragmentation),
            b"fragmentation.bytes",
            rss - used,
        ]
    )


@answers("memory|doctor", waits=True)
async def memory_doctor(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return Verbatim(doctor_report(ctx, await _facts(ctx)).encode())


def doctor_report(ctx: RouterContext, facts: Facts) -> str:
    used = facts.total("used_memory")
    if used < 5 * 1024 * 1024:
        return (
            "This cluster is empty or holds very little data (under 5 MB over its shards): "
            "there is nothing to diagnose yet.\n"
        )
    _, settings = ctx.backend.cluster_settings()
    maxmemory = int(settings["maxmemory"])
    problems = []
    per_shard = [
        (shard, int(info.get("used_memory", 0)))
        for shard, info in enumerate(facts.shards)
        if isinstance(info, dict)
    ]
    if maxmemory:
        for shard, shard_used in per_shard:
            if shard_used > maxmemory * 0.9:
                problems.append(
                    f"Shard {shard} holds {shard_used} bytes, over 90% of maxmemory "
                    f"({maxmemory} bytes per shard): under {settings['maxmemory-policy']} it "
                    "will evict or refuse writes."
                )
    if per_shard:
        average = used / len(per_shard)
        for shard, shard_used in per_shard:
            if average and shard_used > 2 * average:
                problems.append(
                    f"Shard {shard} holds {shard_used} bytes, more than twice the average "
                    f"({int(average)}): its keys (or hash tags) are not spread evenly."
                )
    peak = max(ctx.peak_used_memory, sum(node.peak_used_memory for node in facts.nodes))
    if peak > used * 1.5:
        problems.append(
            f"The peak ({peak} bytes) is over one and a half times the current use ({used} "
            "bytes): the nodes' processes may hold memory freed since."
        )
    rss = sum(node.rss_bytes for node in facts.nodes)
    if rss and rss > used * 1.4 and rss - used > 10 * 1024 * 1024:
        problems.append(
            f"The nodes' processes hold {rss} bytes for {used} bytes of data: the engines "
            "estimate memory, and Python's objects cost more than the estimate counts."
        )
    clients = sum(h.buffered + h.output_buffered for h in ctx.clients.values())
    if clients > 200 * 1024 * 1024 / 2:
        problems.append(
            f"This router's client buffers hold {clients} bytes: some clients send big "
            "pipelines or read slowly (CLIENT LIST shows them)."
        )
    if not problems:
        return "No memory problem was found on this cluster's shards.\n"
    return "Memory problems found:\n\n" + "\n".join(f" * {p}" for p in problems) + "\n"


@answers("memory|malloc-stats")
def memory_malloc_stats(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return Verbatim(
        b"Stats not supported for the current allocator: the nodes run Python's own "
        b"(pymalloc); MEMORY STATS shows what the engines hold.\n"
    )


@answers("memory|purge")
def memory_purge(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    # Redis's answer with an allocator that has nothing to purge (not jemalloc).
    return OK


MEMORY_HELP = [
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
]


@answers("memory|help")
def memory_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(MEMORY_HELP)
