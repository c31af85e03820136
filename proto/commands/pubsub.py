"""Pub/sub commands: answered by the router (Route.ROUTER), which keeps its connections'
subscriptions and reaches the other routers' subscribers through the nodes.

Flags, arities, key positions and categories as Redis 7.0's COMMAND INFO reports them.
Sharded pub/sub as in Redis Cluster: a shard channel is a key (the channels of one
SSUBSCRIBE share a slot, CROSSSLOT otherwise) and its messages pass through the nodes of
its slot's shard only.
"""

from __future__ import annotations

from proto.commands.builder import FAST, LOADING, NOSCRIPT, PUBSUB, STALE, command
from proto.commands.spec import CommandSpec, Flag, Route

GROUP = "pubsub"
_SLOW_CATEGORIES = ("@pubsub", "@slow")


def _local(
    name: str,
    arity: int,
    flags: Flag,
    summary: str,
    categories: tuple[str, ...],
    *,
    since: str = "2.0.0",
    complexity: str = "O(1)",
    subcommands: list[CommandSpec] | None = None,
    keys: tuple[int, int, int] = (0, 0, 0),
) -> CommandSpec:
    return command(
        name,
        arity,
        flags,
        keys,
        group=GROUP,
        summary=summary,
        since=since,
        complexity=complexity,
        route=Route.ROUTER,
        acl_categories=categories,
        subcommands=subcommands,
    )


COMMANDS = [
    _local(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        "Listens for messages published to channels.",
        _SLOW_CATEGORIES,
        complexity="O(N) where N is the number of channels to subscribe to.",
    ),
    _local(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        "Stops listening to messages posted to channels (all of them without arguments).",
        _SLOW_CATEGORIES,
        complexity="O(N) where N is the number of clients already subscribed to a channel.",
    ),
    _local(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        "Listens for messages published to channels that match patterns.",
        _SLOW_CATEGORIES,
        complexity="O(N) where N is the number of patterns to subscribe to.",
    ),
    _local(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        "Stops listening to messages published to channels that match patterns.",
        _SLOW_CATEGORIES,
        complexity="O(N+M) where N is the number of patterns the client is already "
        "subscribed and M is the number of total patterns subscribed in the system.",
    ),
    _local(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST,
        "Posts a message to a channel, through any router to the subscribers of every router.",
        ("@pubsub", "@fast"),
        complexity="O(N+M) where N is the number of clients subscribed to the receiving "
        "channel and M is the total number of subscribed patterns (by any client).",
    ),
    _local(
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        "Listens for messages published to shard channels (of one slot).",
        _SLOW_CATEGORIES,
        since="7.0.0",
        complexity="O(N) where N is the number of shard channels to subscribe to.",
        keys=(1, -1, 1),
    ),
    _local(
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        "Stops listening to messages posted to shard channels (all of them without arguments).",
        _SLOW_CATEGORIES,
        since="7.0.0",
        complexity="O(N) where N is the number of clients already subscribed to a shard channel.",
        keys=(1, -1, 1),
    ),
    _local(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST,
        "Posts a message to a shard channel, through the nodes of its slot's shard.",
        ("@pubsub", "@fast"),
        since="7.0.0",
        complexity="O(N) where N is the number of clients subscribed to the receiving shard "
        "channel.",
        keys=(1, 1, 1),
    ),
    _local(
        "pubsub",
        -2,
        Flag(0),
        "A container for Pub/Sub commands.",
        ("@slow",),
        since="2.8.0",
        complexity="Depends on subcommand.",
        subcommands=[
            _local(
                "pubsub|channels",
                -2,
                PUBSUB | LOADING | STALE,
                "Returns the active channels (of every router).",
                _SLOW_CATEGORIES,
                since="2.8.0",
                complexity="O(N) where N is the number of active channels, and assuming "
                "constant time pattern matching (relatively short channels and patterns)",
            ),
            _local(
                "pubsub|numsub",
                -2,
                PUBSUB | LOADING | STALE,
                "Returns a count of subscribers to channels (over every router).",
                _SLOW_CATEGORIES,
                since="2.8.0",
                complexity="O(N) for the NUMSUB subcommand, where N is the number of "
                "requested channels",
            ),
            _local(
                "pubsub|numpat",
                2,
                PUBSUB | LOADING | STALE,
                "Returns a count of unique pattern subscriptions (over every router).",
                _SLOW_CATEGORIES,
                since="2.8.0",
            ),
            _local(
                "pubsub|shardchannels",
                -2,
                PUBSUB | LOADING | STALE,
                "Returns the active shard channels (of every router).",
                _SLOW_CATEGORIES,
                since="7.0.0",
                complexity="O(N) where N is the number of active shard channels, and "
                "assuming constant time pattern matching (relatively short shard channels).",
            ),
            _local(
                "pubsub|shardnumsub",
                -2,
                PUBSUB | LOADING | STALE,
                "Returns the count of subscribers of shard channels (over every router).",
                _SLOW_CATEGORIES,
                since="7.0.0",
                complexity="O(N) for the SHARDNUMSUB subcommand, where N is the number of "
                "requested shard channels",
            ),
            _local(
                "pubsub|help",
                2,
                LOADING | STALE,
                "Returns helpful text about the different subcommands.",
                ("@slow",),
                since="6.2.0",
            ),
        ],
    ),
]
