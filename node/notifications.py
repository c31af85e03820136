"""Publishing a shard's keyspace notifications (Redis's notify-keyspace-events).

Every replica applies every entry and records its events (Keyspace.notify); only the
shard's leader publishes them, and only for entries of its own term: an entry of an
earlier term may have been applied, and its events published, by the leader that
proposed it, so publishing it again could deliver a change twice (Redis delivers at most
once). The events go through the node's pub/sub hub, which every router holds a stream
to, so that subscribers on any router receive them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from proto.redis_config import notify_flags

# notify_flags bits of "K" (keyspace channel) and "E" (keyevent channel).
_KEYSPACE = notify_flags("K")
_KEYEVENT = notify_flags("E")

# (class letter, event name, key), and the database index when it is not 0.
Event = tuple[Any, ...]
Publish = Callable[[bytes, bytes], object]  # (channel, message), e.g. PubSubHub.publish


def channels_of(
    events: Iterable[Event], setting: str, database: int = 0
) -> list[tuple[bytes, bytes]]:
    """The (channel, message) pairs Redis's notifyKeyspaceEvent publishes for `events` under
    notify-keyspace-events `setting`: the keyspace channel (message: the event) before the
    keyevent channel (message: the key), each when K or E enables it."""
    flags = notify_flags(setting) if setting else 0
    keyspace = flags & _KEYSPACE
    keyevent = flags & _KEYEVENT
    prefix_space = b"__keyspace@%d__:" % database
    prefix_event = b"__keyevent@%d__:" % database
    pairs: list[tuple[bytes, bytes]] = []
    for item in events:
        event, key = item[1], item[2]
        if len(item) > 3:
            space = b"__keyspace@%d__:" % item[3]
            happened = b"__keyevent@%d__:" % item[3]
        else:
            space, happened = prefix_space, prefix_event
        if keyspace:
            pairs.append((space + key, event))
        if keyevent:
            pairs.append((happened + event, key))
    return pairs


def publish_events(publish: Publish, events: Iterable[Event], setting: str) -> None:
    for channel, message in channels_of(events, setting):
        publish(channel, message)
