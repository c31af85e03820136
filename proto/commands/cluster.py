"""The cluster, replication and persistence commands the router answers itself
(Route.ROUTER): CLUSTER and ASKING (router/cluster_commands.py), WAITAOF, ROLE, SAVE,
BGSAVE, BGREWRITEAOF and LASTSAVE (router/replication_commands.py; WAIT is in
connection.py). Flags, arities, groups and ACL categories as Redis 7.0's COMMAND INFO and
COMMAND DOCS give them (WAITAOF as Redis 7.2's).

CLUSTER has the subcommands a cluster client reads; the ones that change a Redis Cluster's
configuration (MEET, ADDSLOTS, SETSLOT, FAILOVER, ...) have no meaning here: the slot map
is the nodes' metadata group's, and the routers are found as router/router_registry.py
says.
"""

from __future__ import annotations

from proto.commands.builder import ADMIN, FAST, LOADING, NO_FLAGS, NOSCRIPT, STALE, command
from proto.commands.spec import CommandSpec, Flag, Route

_SLOW = ("@slow",)
_SLOW_ADMIN = ("@admin", "@slow", "@dangerous")
_FAST_ADMIN = ("@admin", "@fast", "@dangerous")


def _local(
    name: str,
    arity: int,
    flags: Flag,
    summary: str,
    categories: tuple[str, ...],
    *,
    group: str,
    since: str = "1.0.0",
    complexity: str = "O(1)",
    subcommands: list[CommandSpec] | None = None,
) -> CommandSpec:
    return command(
        name,
        arity,
        flags,
        group=group,
        summary=summary,
        since=since,
        complexity=complexity,
        route=Route.ROUTER,
        acl_categories=categories,
        subcommands=subcommands,
    )


def _cluster(
    name: str,
    arity: int,
    summary: str,
    *,
    flags: Flag = STALE,
    categories: tuple[str, ...] = _SLOW,
    since: str = "3.0.0",
    complexity: str = "O(1)",
) -> CommandSpec:
    return _local(
        f"cluster|{name}",
        arity,
        flags,
        summary,
        categories,
        group="cluster",
        since=since,
        complexity=complexity,
    )


COMMANDS = [
    _local(
        "cluster",
        -2,
        NO_FLAGS,
        "A container for cluster commands: the routers presented as the cluster.",
        _SLOW,
        group="cluster",
        since="3.0.0",
        complexity="Depends on subcommand.",
        subcommands=[
            _cluster(
                "slots",
                2,
                "The routers, each the master of a contiguous part of the slots (any router "
                "serves every slot).",
                complexity="O(N) where N is the total number of routers",
            ),
            _cluster(
                "shards",
                2,
                "The routers as shards, each owning a contiguous part of the slots.",
                since="7.0.0",
                complexity="O(N) where N is the total number of routers",
            ),
            _cluster(
                "nodes",
                2,
                "The routers in CLUSTER NODES format.",
                complexity="O(N) where N is the total number of routers",
            ),
            _cluster("info", 2, "The cluster's state, as the router sees it."),
            _cluster("myid", 2, "This router's node id."),
            _cluster(
                "keyslot",
                3,
                "The hash slot of a key.",
                complexity="O(N) where N is the number of bytes in the key",
            ),
            _cluster(
                "countkeysinslot",
                3,
                "The number of keys in a hash slot, counted by its shard's leader.",
                complexity="O(N) where N is the number of keys of the slot's shard",
            ),
            _cluster(
                "getkeysinslot",
                4,
                "Key names in a hash slot, listed by its shard's leader.",
                complexity="O(N) where N is the number of keys of the slot's shard",
            ),
            _cluster(
                "replicas",
                3,
                "The replicas of a router (it has none).",
                flags=ADMIN | STALE,
                categories=_SLOW_ADMIN,
                since="5.0.0",
            ),
            _cluster(
                "slaves",
                3,
                "The replicas of a router (it has none).",
                flags=ADMIN | STALE,
                categories=_SLOW_ADMIN,
            ),
            _cluster("help", 2, "Help for CLUSTER.", flags=LOADING | STALE, since="5.0.0"),
        ],
    ),
    _local(
        "asking",
        1,
        FAST,
        "Accepted for cluster clients after an -ASK redirect (routers never send one).",
        ("@fast", "@connection"),
        group="cluster",
        since="3.0.0",
    ),
    _local(
        "waitaof",
        4,
        NOSCRIPT,
        "Waits until the connection's writes are fsynced on the shard leader and held by "
        "the given number of followers.",
        ("@slow", "@connection"),
        group="generic",
        since="7.2.0",
    ),
    _local(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        "The router as a master, with the nodes as its replicas and their Raft log offsets.",
        _FAST_ADMIN,
        group="server",
        since="2.8.12",
    ),
    _local(
        "save",
        1,
        ADMIN | NOSCRIPT | Flag.NO_MULTI,
        "Snapshots every shard replica on every node, and waits for them.",
        _SLOW_ADMIN,
        group="server",
        complexity="O(N) where N is the total number of keys in all databases",
    ),
    _local(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT,
        "Snapshots every shard replica on every node, in the background.",
        _SLOW_ADMIN,
        group="server",
    ),
    _local(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT,
        "Compacts the nodes' write-ahead logs: snapshots, then drops the segments they cover.",
        _SLOW_ADMIN,
        group="server",
    ),
    _local(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        "When every node last completed a save (Unix time).",
        _FAST_ADMIN,
        group="server",
    ),
]
