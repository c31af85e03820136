"""CONFIG GET: a read-only view of the settings that matter to clients, with the values
the router actually runs with."""

from __future__ import annotations

from proto.glob import stringmatch
from proto.resp import Map, Reply
from router.context import RouterContext


def parameters(ctx: RouterContext) -> dict[bytes, bytes]:
    config = ctx.config
    limits = config.limits
    return {
        b"maxmemory": b"%d" % config.maxmemory,
        b"maxmemory-policy": config.maxmemory_policy.encode(),
        b"proto-max-bulk-len": b"%d" % limits.max_bulk_len,
        b"client-query-buffer-limit": b"%d" % limits.max_query_buffer,
        b"maxclients": b"%d" % config.max_clients,
        b"databases": b"1",
        b"cluster-enabled": b"no",
        # Durability comes from the Raft log on the nodes, not from RDB/AOF.
        b"save": b"",
        b"appendonly": b"no",
        b"port": b"%d" % ctx.port,
        b"bind": config.host.encode(),
        b"timeout": b"0",
        b"protected-mode": b"yes" if config.protected_mode else b"no",
    }


def config_get(ctx: RouterContext, patterns: list[bytes]) -> Reply:
    """Parameters matching any of the glob patterns (case-insensitive), each once."""
    found: dict[bytes, bytes] = {}
    for name, value in parameters(ctx).items():
        if any(stringmatch(pattern, name, nocase=True) for pattern in patterns):
            found[name] = value
    flat: list[bytes] = []
    for name, value in found.items():
        flat.extend((name, value))
    return Map(flat)
