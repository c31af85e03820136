"""Pub/sub commands the router answers itself: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE,
PUNSUBSCRIBE, SSUBSCRIBE, SUNSUBSCRIBE change this router's registry (router/pubsub.py)
and are confirmed once the nodes hold the change; PUBLISH, SPUBLISH and PUBSUB CHANNELS /
NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB ask the backend, which reaches every
router's subscribers. Shard channels are keys, as in Redis Cluster: the channels of one
SSUBSCRIBE or SUNSUBSCRIBE must share a slot."""

from __future__ import annotations

from collections.abc import Callable

from proto import errors
from proto.internal_channels import is_internal
from proto.resp import Error, Reply, encode_many
from proto.slots import key_slot
from router import replies
from router.backend import BackendError
from router.connection import ClientState
from router.context import RouterContext
from router.local_commands import Connection, answers, answers_with, help_lines
from router.pubsub import PubSubRegistry, Subscriber

PUBSUB_HELP = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
]


def context_error(name: str) -> bytes:
    """The refusal of a command a RESP2 connection with subscriptions may not run."""
    return (
        b"ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
        b"RESET are allowed in this context" % name.encode()
    )


Change = Callable[[PubSubRegistry, Subscriber, list[bytes]], list[Reply]]


def _subscription_change(
    change: Change, keyed: bool = False
) -> Callable[[Connection, list[bytes]], object]:
    async def run(connection: Connection, args: list[bytes]) -> bytes:
        if keyed and len({key_slot(channel) for channel in args[1:]}) > 1:
            return replies.error(errors.CROSSSLOT)
        registry = connection.ctx.backend.pubsub
        version = registry.version
        frames = change(registry, connection, args[1:])
        if registry.version == version:
            return encode_many(frames, connection.client.resp3)
        # Confirmed once the nodes hold the change: a message published anywhere after the
        # confirmation then reaches this connection.
        return await connection.confirmed(frames)

    return run


# Subscription confirmations are pushes: sent even under CLIENT REPLY OFF.
for _name, _change, _keyed in (
    ("subscribe", PubSubRegistry.subscribe, False),
    ("unsubscribe", PubSubRegistry.unsubscribe, False),
    ("psubscribe", PubSubRegistry.psubscribe, False),
    ("punsubscribe", PubSubRegistry.punsubscribe, False),
    ("ssubscribe", PubSubRegistry.ssubscribe, True),
    ("sunsubscribe", PubSubRegistry.sunsubscribe, True),
):
    answers_with(_name, replies_when_off=True, allowed_when_subscribed=True)(
        _subscription_change(_change, _keyed)  # type: ignore[arg-type]
    )


@answers("publish", waits=True)
async def publish(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if is_internal(args[1]):  # the routers' own channels: no client receives on them
        return 0
    try:
        return await ctx.backend.publish(args[1], args[2], client.id)
    except BackendError as failure:
        return Error(failure.reply)


@answers("spublish", waits=True)
async def spublish(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    try:
        return await ctx.backend.spublish(args[1], args[2], client.id)
    except BackendError as failure:
        return Error(failure.reply)


def _too_many(args: list[bytes]) -> Error:
    return Error(
        b"ERR unknown subcommand or wrong number of arguments for '%s'. Try PUBSUB HELP."
        % args[1][:128]
    )


@answers("pubsub|channels", waits=True)
async def pubsub_channels(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) > 3:
        return _too_many(args)
    try:
        return await ctx.backend.pubsub_channels(args[2] if len(args) == 3 else None)
    except BackendError as failure:
        return Error(failure.reply)


@answers("pubsub|shardchannels", waits=True)
async def pubsub_shardchannels(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) > 3:
        return _too_many(args)
    try:
        return await ctx.backend.pubsub_shardchannels(args[2] if len(args) == 3 else None)
    except BackendError as failure:
        return Error(failure.reply)


@answers("pubsub|numsub", waits=True)
async def pubsub_numsub(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    channels = args[2:]
    try:
        counts = await ctx.backend.pubsub_numsub(channels)
    except BackendError as failure:
        return Error(failure.reply)
    counts = [0 if is_internal(c) else n for c, n in zip(channels, counts, strict=True)]
    return [item for pair in zip(channels, counts, strict=True) for item in pair]


@answers("pubsub|shardnumsub", waits=True)
async def pubsub_shardnumsub(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    channels = args[2:]
    try:
        counts = await ctx.backend.pubsub_shardnumsub(channels)
    except BackendError as failure:
        return Error(failure.reply)
    return [item for pair in zip(channels, counts, strict=True) for item in pair]


@answers("pubsub|numpat", waits=True)
async def pubsub_numpat(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    try:
        return await ctx.backend.pubsub_numpat()
    except BackendError as failure:
        return Error(failure.reply)


@answers("pubsub|help")
def pubsub_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(PUBSUB_HELP)
