"""Pub/sub channels the routers and nodes use among themselves (never a client's).

Their names start with INTERNAL_PREFIX (a NUL byte first, which no client library puts in
a channel name by accident). The routers carry their cross-router traffic on them
(router/router_bus.py: CLIENT LIST/KILL/PAUSE/UNBLOCK requests, the MONITOR feed) and the
shard leaders the keys each applied write changed (client tracking). A client's
subscription to such a name is inert: messages on them are handled by the router and
never delivered to a client, and patterns never match them (here nor on the nodes).
"""

from __future__ import annotations

INTERNAL_PREFIX = b"\x00slotraft:"
CONTROL = INTERNAL_PREFIX + b"control"  # requests to every router
MONITOR = INTERNAL_PREFIX + b"monitor"  # MONITOR lines, while some router has a monitor
# Keys changed by applied writes, with the client that changed them (tracking; see
# pack_invalidation).
INVALIDATE = INTERNAL_PREFIX + b"invalidate"
# Published to a node (Kv.Publish), not through it: CLIENT UNBLOCK of a parked command.
NODE_UNBLOCK = INTERNAL_PREFIX + b"unblock"


def is_internal(channel: bytes) -> bool:
    return channel.startswith(INTERNAL_PREFIX)


def reply_channel(router_tag: int) -> bytes:
    """Where a router gets the answers to its requests."""
    return INTERNAL_PREFIX + b"reply:%d" % router_tag


def pack(items: list[bytes]) -> bytes:
    """A list of byte strings as one message: each as '<length>:<bytes>'."""
    return b"".join(b"%d:%s" % (len(item), item) for item in items)


def unpack(data: bytes) -> list[bytes] | None:
    """pack's inverse; None if `data` is not a packed list."""
    items = []
    position = 0
    while position < len(data):
        colon = data.find(b":", position)
        if colon < 0 or not data[position:colon].isdigit():
            return None
        start = colon + 1
        end = start + int(data[position:colon])
        if end > len(data):
            return None
        items.append(data[start:end])
        position = end
    return items


def pack_invalidation(writer: int, keys: list[bytes]) -> bytes:
    """An INVALIDATE message: keys changed by the client `writer` (its CLIENT ID, given
    only for a client tracking with NOLOOP, which is not told of its own writes), or by
    others or unknown clients (0)."""
    return pack([b"%d" % writer, *keys])


def unpack_invalidation(data: bytes) -> tuple[int, list[bytes]] | None:
    """pack_invalidation's inverse; None if `data` is not such a message."""
    items = unpack(data)
    if not items or not items[0].isdigit() or len(items[0]) > 20:
        return None
    return int(items[0]), items[1:]
