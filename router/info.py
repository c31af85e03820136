"""INFO: every section of Redis 7.0 with its field names, for the cluster as one server.

Where each number comes from:

- server, clients, cpu, stats, commandstats, errorstats, latencystats: this router (its
  process, connections and counters; a command's time is end to end at the router);
- memory and keyspace: the shards' engines added up (Backend.info), and the nodes'
  processes (their reports: resident memory, peaks);
- persistence: the nodes' WAL and snapshots (every write is appended to the WAL and
  fsynced before it is acknowledged: aof_enabled:1; rdb_* fields count snapshots);
- replication: the shards' Raft groups as their leaders see them (followers, match
  indexes; the offsets are log indexes added up over the shards);
- cluster: slotraft's own lines per shard (chaos/targets/compose.py reads them).

A field Redis has that means nothing here (forks, copy-on-write, active defrag, client
tracking) is shown with Redis's value for "none of that happened"."""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import resource
import sys
import time
from typing import Any

from proto import slotraft_pb2 as pb
from proto.databases import DATABASES
from proto.slots import SLOT_COUNT
from router.acl_state import acl_denied_lines
from router.context import RouterContext
from router.latency import percentile_us
from router.metrics import UNKNOWN_COMMAND

# Redis 7.0's sections, in its order; DEFAULT without commandstats and latencystats.
ALL_SECTIONS = (
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
)
DEFAULT_SECTIONS = tuple(s for s in ALL_SECTIONS if s not in ("commandstats", "latencystats"))
_TITLES = {"cpu": "CPU"}
_NEEDS_SHARDS = frozenset({"memory", "stats", "cluster", "keyspace"})
_NEEDS_NODES = frozenset({"memory", "persistence", "replication"})


def human(size: float) -> str:
    """Redis's bytesToHuman."""
    for unit, scale in (("P", 1 << 50), ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20)):
        if size >= scale:
            return f"{size / scale:.2f}{unit}"
    if size >= 1024:
        return f"{size / 1024:.2f}K"
    return f"{int(size)}B"


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


class Facts:
    """What the sections are made of: the shards' counters and the nodes' reports."""

    def __init__(self, shards: list, nodes: list[pb.NodeReport], pubsub: list[str]) -> None:
        self.shards = shards
        self.nodes = nodes
        self.pubsub = pubsub  # pubsub_channels and pubsub_patterns over every router

    def total(self, name: str) -> int:
        return sum(int(info.get(name, 0)) for info in self.shards if isinstance(info, dict))

    def leaders(self) -> list[pb.ReplicaReport]:
        """Each shard's report by its leader (one per shard that has one)."""
        found: dict[int, pb.ReplicaReport] = {}
        for node in self.nodes:
            for replica in node.replicas:
                if replica.role == "leader":
                    known = found.get(replica.shard)
                    if known is None or replica.term > known.term:
                        found[replica.shard] = replica
        return [found[shard] for shard in sorted(found)]


# ---------------------------------------------------------------------- sections


def _server(ctx: RouterContext, facts: Facts) -> list[str]:
    uptime = int(time.monotonic() - ctx.started)
    uname = platform.uname()
    compiler = platform.python_compiler().split()
    config_file = ctx.config.config_file
    return [
        f"redis_version:{ctx.config.redis_version}",
        "redis_git_sha1:00000000",
        "redis_git_dirty:0",
        f"redis_build_id:{hashlib.sha1(sys.version.encode()).hexdigest()[:16]}",
        "redis_mode:standalone",
        f"os:{uname.system} {uname.release} {uname.machine}",
        f"arch_bits:{64 if sys.maxsize > 2**32 else 32}",
        "monotonic_clock:POSIX clock_gettime",
        f"multiplexing_api:{'epoll' if sys.platform.startswith('linux') else 'kqueue'}",
        "atomicvar_api:none",
        f"gcc_version:{compiler[1] if len(compiler) > 1 else '0.0.0'}",
        f"process_id:{os.getpid()}",
        "process_supervised:no",
        f"run_id:{ctx.run_id}",
        f"tcp_port:{ctx.port}",
        f"server_time_usec:{time.time_ns() // 1000}",
        f"uptime_in_seconds:{uptime}",
        f"uptime_in_days:{uptime // 86400}",
        "hz:10",
        "configured_hz:10",
        f"lru_clock:{int(time.time()) & ((1 << 24) - 1)}",
        f"executable:{os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ''}",
        f"config_file:{config_file.resolve() if config_file is not None else ''}",
        "io_threads_active:0",
        "slotraft_role:router",
    ]


def _clients(ctx: RouterContext, facts: Facts) -> list[str]:
    handles = list(ctx.clients.values())
    blocked = ctx.blocked_clients()
    return [
        f"connected_clients:{len(handles)}",
        "cluster_connections:0",
        f"maxclients:{ctx.config.max_clients}",
        f"client_recent_max_input_buffer:{max((h.buffered for h in handles), default=0)}",
        f"client_recent_max_output_buffer:{max((h.output_buffered for h in handles), default=0)}",
        f"blocked_clients:{blocked}",
        f"tracking_clients:{len(ctx.tracking.tracking)}",
        f"clients_in_timeout_table:{blocked}",
    ]


def _memory(ctx: RouterContext, facts: Facts) -> list[str]:
    used = facts.total("used_memory")
    # The nodes sample their peaks; this router keeps the highest it has seen.
    ctx.peak_used_memory = peak = max(
        ctx.peak_used_memory, used, sum(node.peak_used_memory for node in facts.nodes)
    )
    rss = sum(node.rss_bytes for node in facts.nodes) + _own_rss()
    overhead = facts.total("overhead_bytes")
    dataset = max(used - overhead, 0)
    _, settings = ctx.backend.cluster_settings()
    maxmemory = int(settings["maxmemory"])
    clients = sum(h.buffered + h.output_buffered for h in ctx.clients.values())
    scripts = facts.total("script_bytes")
    system = _system_memory()
    ratio = rss / used if used else 0.0
    return [
        f"used_memory:{used}",
        f"used_memory_human:{human(used)}",
        f"used_memory_rss:{rss}",
        f"used_memory_rss_human:{human(rss)}",
        f"used_memory_peak:{peak}",
        f"used_memory_peak_human:{human(peak)}",
        f"used_memory_peak_perc:{(used / peak * 100 if peak else 100):.2f}%",
        f"used_memory_overhead:{overhead}",
        "used_memory_startup:0",
        f"used_memory_dataset:{dataset}",
        f"used_memory_dataset_perc:{(dataset / used * 100 if used else 0):.2f}%",
        f"allocator_allocated:{used}",
        f"allocator_active:{used}",
        f"allocator_resident:{rss}",
        f"total_system_memory:{system}",
        f"total_system_memory_human:{human(system)}",
        "used_memory_lua:0",
        "used_memory_vm_eval:0",
        "used_memory_lua_human:0B",
        f"used_memory_scripts_eval:{scripts}",
        f"number_of_cached_scripts:{facts.total('cached_scripts')}",
        f"number_of_functions:{facts.total('functions')}",
        f"number_of_libraries:{facts.total('libraries')}",
        "used_memory_vm_functions:0",
        "used_memory_vm_total:0",
        "used_memory_vm_total_human:0B",
        "used_memory_functions:0",
        f"used_memory_scripts:{scripts}",
        f"used_memory_scripts_human:{human(scripts)}",
        f"maxmemory:{maxmemory}",
        f"maxmemory_human:{human(maxmemory)}",
        f"maxmemory_policy:{settings['maxmemory-policy']}",
        "allocator_frag_ratio:1.00",
        "allocator_frag_bytes:0",
        f"allocator_rss_ratio:{ratio:.2f}",
        f"allocator_rss_bytes:{rss - used}",
        "rss_overhead_ratio:1.00",
        "rss_overhead_bytes:0",
        f"mem_fragmentation_ratio:{ratio:.2f}",
        f"mem_fragmentation_bytes:{rss - used}",
        "mem_not_counted_for_evict:0",
        "mem_replication_backlog:0",
        "mem_total_replication_buffers:0",
        "mem_clients_slaves:0",
        f"mem_clients_normal:{clients}",
        "mem_cluster_links:0",
        "mem_aof_buffer:0",
        "mem_allocator:pymalloc",
        "active_defrag_running:0",
        "lazyfree_pending_objects:0",
        "lazyfreed_objects:0",
    ]


def _persistence(ctx: RouterContext, facts: Facts) -> list[str]:
    nodes = facts.nodes
    leaders = facts.leaders()
    last_save = max((node.last_snapshot_time for node in nodes), default=0.0)
    if not last_save:  # as Redis at start: the time it started
        last_save = time.time() - (time.monotonic() - ctx.started)
    healthy = all(node.wal_ok for node in nodes)
    return [
        "loading:0",
        "async_loading:0",
        "current_cow_peak:0",
        "current_cow_size:0",
        "current_cow_size_age:0",
        "current_fork_perc:0.00",
        "current_save_keys_processed:0",
        "current_save_keys_total:0",
        f"rdb_changes_since_last_save:{sum(r.entries_since_snapshot for r in leaders)}",
        "rdb_bgsave_in_progress:0",
        f"rdb_last_save_time:{int(last_save)}",
        "rdb_last_bgsave_status:ok",
        "rdb_last_bgsave_time_sec:-1",
        "rdb_current_bgsave_time_sec:-1",
        f"rdb_saves:{sum(node.snapshots_taken for node in nodes)}",
        "rdb_last_cow_size:0",
        "rdb_last_load_keys_expired:0",
        "rdb_last_load_keys_loaded:0",
        # 0 when nothing persists: in-process engines, or no node answered.
        f"aof_enabled:{1 if nodes else 0}",
        "aof_rewrite_in_progress:0",
        "aof_rewrite_scheduled:0",
        "aof_last_rewrite_time_sec:-1",
        "aof_current_rewrite_time_sec:-1",
        "aof_last_bgrewrite_status:ok",
        "aof_rewrites:0",
        "aof_rewrites_consecutive_failures:0",
        f"aof_last_write_status:{'ok' if healthy else 'err'}",
        "aof_last_cow_size:0",
        "module_fork_in_progress:0",
        "module_fork_last_cow_size:0",
        f"aof_current_size:{sum(node.wal_bytes for node in nodes)}",
        "aof_buffer_length:0",
        "aof_pending_bio_fsync:0",
        "aof_delayed_fsync:0",
        f"slotraft_wal_segments:{sum(node.wal_segments for node in nodes)}",
        f"slotraft_nodes_reporting:{len(nodes)}",
    ]


def _stats(ctx: RouterContext, facts: Facts) -> list[str]:
    stats = ctx.stats
    rates = ctx.rates
    errors = sum(ctx.error_codes().values())
    return [
        f"total_connections_received:{stats.connections_received}",
        f"total_commands_processed:{stats.commands_processed}",
        f"instantaneous_ops_per_sec:{int(rates.commands.per_second)}",
        f"total_net_input_bytes:{stats.net_input_bytes}",
        f"total_net_output_bytes:{stats.net_output_bytes}",
        "total_net_repl_input_bytes:0",
        "total_net_repl_output_bytes:0",
        f"instantaneous_input_kbps:{rates.input_bytes.per_second / 1024:.2f}",
        f"instantaneous_output_kbps:{rates.output_bytes.per_second / 1024:.2f}",
        "instantaneous_input_repl_kbps:0.00",
        "instantaneous_output_repl_kbps:0.00",
        f"rejected_connections:{stats.rejected_connections}",
        "sync_full:0",
        "sync_partial_ok:0",
        "sync_partial_err:0",
        f"expired_keys:{facts.total('expired_keys')}",
        "expired_stale_perc:0.00",
        "expired_time_cap_reached_count:0",
        "expire_cycle_cpu_milliseconds:0",
        f"evicted_keys:{facts.total('evicted_keys')}",
        "evicted_clients:0",
        "total_eviction_exceeded_time:0",
        "current_eviction_exceeded_time:0",
        f"keyspace_hits:{facts.total('keyspace_hits')}",
        f"keyspace_misses:{facts.total('keyspace_misses')}",
        *facts.pubsub,
        "latest_fork_usec:0",
        "total_forks:0",
        "migrate_cached_sockets:0",
        "slave_expires_tracked_keys:0",
        "active_defrag_hits:0",
        "active_defrag_misses:0",
        "active_defrag_key_hits:0",
        "active_defrag_key_misses:0",
        "total_active_defrag_time:0",
        "current_active_defrag_time:0",
        f"tracking_total_keys:{len(ctx.tracking.keys)}",
        f"tracking_total_items:{ctx.tracking.total_items}",
        f"tracking_total_prefixes:{len(ctx.tracking.prefixes)}",
        "unexpected_error_replies:0",
        f"total_error_replies:{errors}",
        "dump_payload_sanitizations:0",
        f"total_reads_processed:{stats.reads_processed}",
        f"total_writes_processed:{stats.writes_processed}",
        "io_threaded_reads_processed:0",
        "io_threaded_writes_processed:0",
        "reply_buffer_shrinks:0",
        "reply_buffer_expands:0",
        f"protocol_errors:{stats.protocol_errors}",
        # Redis 7.2's ACL counters (7.0 has none): this router's denials and failed AUTHs.
        *acl_denied_lines(ctx.acl.denied),
        # Beyond Redis's: the node streams' breaks and the messages possibly lost then.
        *ctx.backend.pubsub_info(),
    ]


async def _pubsub_lines(ctx: RouterContext) -> list[str]:
    """pubsub_channels, pubsub_patterns and pubsubshard_channels over every router ("0"
    when the nodes cannot tell)."""
    backend = ctx.backend
    try:
        channels, patterns, shard_channels = await asyncio.gather(
            backend.pubsub_channels(None),
            backend.pubsub_numpat(),
            backend.pubsub_shardchannels(None),
        )
    except Exception:
        return ["pubsub_channels:0", "pubsub_patterns:0", "pubsubshard_channels:0"]
    return [
        f"pubsub_channels:{len(channels)}",
        f"pubsub_patterns:{patterns}",
        f"pubsubshard_channels:{len(shard_channels)}",
    ]


_FOLLOWER_STATES = {"replicate": "online", "snapshot": "send_bulk", "probe": "wait_bgsave"}


def _replication(ctx: RouterContext, facts: Facts) -> list[str]:
    leaders = facts.leaders()
    addresses = {node.node: node.address for node in facts.nodes}
    lines = ["role:master"]
    followers = []
    for replica in leaders:
        for follower in replica.followers:
            host, _, port = addresses.get(follower.node, "").rpartition(":")
            state = _FOLLOWER_STATES.get(follower.role, follower.role or "online")
            followers.append(
                f"ip={host},port={port or 0},state={state},offset={follower.match},"
                f"shard={replica.shard},node={follower.node}"
            )
    lines.append(f"connected_slaves:{len(followers)}")
    lines += [f"slave{i}:{text}" for i, text in enumerate(followers)]
    offset = sum(replica.commit for replica in leaders)
    members = ",".join(sorted(addresses.values())) or ctx.run_id
    backlog = max((node.wal_bytes for node in facts.nodes), default=0)
    lines += [
        "master_failover_state:no-failover",
        f"master_replid:{hashlib.sha1(members.encode()).hexdigest()}",
        "master_replid2:0000000000000000000000000000000000000000",
        f"master_repl_offset:{offset}",
        "second_repl_offset:-1",
        f"repl_backlog_active:{1 if facts.nodes else 0}",
        f"repl_backlog_size:{backlog}",
        f"repl_backlog_first_byte_offset:{1 if offset else 0}",
        f"repl_backlog_histlen:{offset}",
    ]
    return lines


def _cpu(ctx: RouterContext, facts: Facts) -> list[str]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    thread = resource.getrusage(getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF))
    return [
        f"used_cpu_sys:{own.ru_stime:.6f}",
        f"used_cpu_user:{own.ru_utime:.6f}",
        f"used_cpu_sys_children:{children.ru_stime:.6f}",
        f"used_cpu_user_children:{children.ru_utime:.6f}",
        f"used_cpu_sys_main_thread:{thread.ru_stime:.6f}",
        f"used_cpu_user_main_thread:{thread.ru_utime:.6f}",
        f"slotraft_nodes_cpu_sys:{sum(node.cpu_sys_seconds for node in facts.nodes):.6f}",
        f"slotraft_nodes_cpu_user:{sum(node.cpu_user_seconds for node in facts.nodes):.6f}",
    ]


def _modules(ctx: RouterContext, facts: Facts) -> list[str]:
    return []


def _commandstats(ctx: RouterContext, facts: Facts) -> list[str]:
    lines = []
    for name, stats in sorted(ctx.command_stats().items()):
        if name == UNKNOWN_COMMAND:
            continue
        calls = stats.count
        usec = int(stats.total * 1_000_000)
        failed = stats.errors - stats.rejected
        lines.append(
            f"cmdstat_{name}:calls={calls},usec={usec},usec_per_call={usec / calls:.2f},"
            f"rejected_calls={stats.rejected},failed_calls={failed}"
        )
    return lines


def _errorstats(ctx: RouterContext, facts: Facts) -> list[str]:
    return [
        f"errorstat_{code.decode('latin-1')}:count={count}"
        for code, count in sorted(ctx.error_codes().items())
    ]


def _latencystats(ctx: RouterContext, facts: Facts) -> list[str]:
    if not ctx.latency_tracking:
        return []
    lines = []
    for name, stats in sorted(ctx.command_stats().items()):
        if name == UNKNOWN_COMMAND:
            continue
        parts = [f"p{_percentile_name(p)}={percentile_us(stats, p):.3f}" for p in ctx.percentiles]
        lines.append(f"latency_percentiles_usec_{name}:{','.join(parts)}")
    return lines


def _percentile_name(percentile: float) -> str:
    text = f"{percentile:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _cluster(ctx: RouterContext, facts: Facts) -> list[str]:
    """cluster_enabled:0 for clients (the router routes for them), then one line per
    shard with its slots and whatever the backend reports (leader, term, ...)."""
    lines = ["cluster_enabled:0", f"slotraft_shards:{len(facts.shards)}"]
    ranges = slot_ranges(ctx)
    for shard, info in enumerate(facts.shards):
        fields = [f"slots={ranges.get(shard, '')}"]
        if isinstance(info, BaseException):
            fields.append("status=error")
            fields.append(f"error={str(info).replace(',', ' ').replace(chr(10), ' ')}")
        else:
            fields.append("status=ok")
            fields.extend(f"{name}={_field(value)}" for name, value in info.items())
        lines.append(f"shard{shard}:{','.join(fields)}")
    return lines


def _keyspace(ctx: RouterContext, facts: Facts) -> list[str]:
    """A line per database with keys, its counts added up over the shards (each shard's
    Engine.stats: dbN_keys, dbN_expires, dbN_avg_ttl)."""
    lines = []
    for index in range(DATABASES):
        keys = facts.total(f"db{index}_keys")
        if not keys:
            continue
        expires = facts.total(f"db{index}_expires")
        weighted = sum(
            int(info.get(f"db{index}_avg_ttl", 0)) * int(info.get(f"db{index}_expires", 0))
            for info in facts.shards
            if isinstance(info, dict)
        )
        avg_ttl = weighted // expires if expires else 0
        lines.append(f"db{index}:keys={keys},expires={expires},avg_ttl={avg_ttl}")
    return lines


def _field(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(item) for item in value)
    return str(value).replace(",", " ").replace("\n", " ")


def _own_rss() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return 0


_SECTIONS = {
    "server": _server,
    "clients": _clients,
    "memory": _memory,
    "persistence": _persistence,
    "stats": _stats,
    "replication": _replication,
    "cpu": _cpu,
    "modules": _modules,
    "commandstats": _commandstats,
    "errorstats": _errorstats,
    "latencystats": _latencystats,
    "cluster": _cluster,
    "keyspace": _keyspace,
}


def wanted_sections(args: list[bytes]) -> list[str]:
    """The sections asked for, in Redis's order whatever the order of the arguments:
    none or `default` the default ones, `all` and `everything` every one, and any mix of
    those and section names; unknown names add nothing."""
    if not args:
        return list(DEFAULT_SECTIONS)
    names = {arg.decode("utf-8", "replace").lower() for arg in args}
    if names & {"all", "everything"}:
        return list(ALL_SECTIONS)
    if "default" in names:
        names |= set(DEFAULT_SECTIONS)
    return [name for name in ALL_SECTIONS if name in names]


async def render_info(ctx: RouterContext, args: list[bytes]) -> bytes:
    sections = wanted_sections(args)
    wanted = set(sections)
    backend = ctx.backend
    shards_call = shard_infos(ctx) if wanted & _NEEDS_SHARDS else _nothing()
    nodes_call = backend.node_reports() if wanted & _NEEDS_NODES else _no_reports()
    pubsub_call = _pubsub_lines(ctx) if "stats" in wanted else _nothing()
    shards, nodes, pubsub = await asyncio.gather(shards_call, nodes_call, pubsub_call)
    facts = Facts(shards, nodes, pubsub)
    blocks = []
    for name in sections:
        lines = _SECTIONS[name](ctx, facts)
        title = "# " + _TITLES.get(name, name.capitalize())
        blocks.append("\r\n".join([title, *lines]) + "\r\n")
    return "\r\n".join(blocks).encode()


async def _nothing() -> list:
    return []


async def _no_reports() -> list[pb.NodeReport]:
    return []
