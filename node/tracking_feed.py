"""Client tracking's node side: after each entry a shard leader applies, the keys it
changed go to the routers on the internal INVALIDATE channel (proto/internal_channels.py),
only while some router listens there (a router does while one of its clients tracks).
Each router invalidates them for its tracking clients (router/tracking.py), whichever
router's client wrote them. Kept apart from the keyspace notifications published after
the same entries.

NOLOOP: a request carries its writer (KvRequest.writer) when its client tracks with
NOLOOP. The leader keeps the keys of such a request apart when it applies an entry it
proposed, and publishes those changed only by that writer as its own; routers leave the
writer out of their invalidations. The writer is not in the log: a new leader applying
its predecessor's entries publishes their keys as nobody's (the writer is then told of
its own write: a cache miss, never a stale read).

Delivery is at most once, as for pub/sub: a leader that fails after applying an entry
and before publishing loses that entry's invalidations; a new leader publishes again for
the entries it applies.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from node.pubsub import PubSubHub
from proto.internal_channels import INVALIDATE, pack_invalidation

# Keys per message: a FLUSHALL of a large shard goes out in several.
KEYS_PER_MESSAGE = 1024


def invalidation_publisher(hub: PubSubHub) -> Callable[[Collection[bytes], int], None]:
    """What a leader replica calls with the keys an applied entry changed and the client
    that changed them all (a NOLOOP tracker's CLIENT ID; 0: others, or unknown)."""

    def publish(keys: Collection[bytes], writer: int = 0) -> None:
        if not keys or not hub.has_receivers(INVALIDATE):
            return
        ordered = sorted(keys)
        for start in range(0, len(ordered), KEYS_PER_MESSAGE):
            hub.publish(
                INVALIDATE, pack_invalidation(writer, ordered[start : start + KEYS_PER_MESSAGE])
            )

    return publish
