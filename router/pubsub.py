"""The router's side of pub/sub: its connections' subscriptions (the commands on them are
router/pubsub_commands.py's).

`PubSubRegistry` is the router's own set: channel -> connections, pattern -> connections,
with Redis's confirmation frames and message fan-out. The backend keeps the nodes informed
of it and delivers into it the messages published through any router (for the cluster:
router/pubsub_streams.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from proto.glob import Matcher, compile_pattern, stringmatch
from proto.internal_channels import is_internal
from proto.resp import Push, Reply, encode


class Frame:
    """A message for subscribers, encoded at most once per protocol however many
    connections receive it."""

    __slots__ = ("_resp2", "_resp3", "reply")

    def __init__(self, reply: Push) -> None:
        self.reply = reply
        self._resp2: bytes | None = None
        self._resp3: bytes | None = None

    def encoded(self, resp3: bool) -> bytes:
        if resp3:
            if self._resp3 is None:
                self._resp3 = encode(self.reply, True)
            return self._resp3
        if self._resp2 is None:
            self._resp2 = encode(self.reply, False)
        return self._resp2


class SubscriptionState(Protocol):
    """A connection's own record of its subscriptions (router.connection's ClientState),
    kept by the registry: the channels, patterns and shard channels in the order
    subscribed, and whether there is any (pub/sub mode)."""

    id: int
    channels: dict[bytes, None]
    patterns: dict[bytes, None]
    shard_channels: dict[bytes, None]
    subscribed: bool


class Subscriber(Protocol):
    """A connection as the registry sees it."""

    @property
    def client(self) -> SubscriptionState: ...

    def deliver(self, frame: Frame) -> None: ...


class _Pattern:
    __slots__ = ("matches", "subscribers")

    def __init__(self, pattern: bytes) -> None:
        self.matches: Matcher = compile_pattern(pattern)
        self.subscribers: dict[int, Subscriber] = {}


class PubSubRegistry:
    """The subscriptions of one router's connections. Every change bumps `version` and
    calls the listeners (the node streams, which send the new set)."""

    def __init__(self) -> None:
        self.channels: dict[bytes, dict[int, Subscriber]] = {}  # by client id
        self.patterns: dict[bytes, _Pattern] = {}
        self.shard_channels: dict[bytes, dict[int, Subscriber]] = {}  # SSUBSCRIBE's
        self.version = 1
        self.listeners: list[Callable[[], None]] = []
        # The router's own subscriptions to internal channels (proto/internal_channels.py):
        # their messages go to these handlers, never to a client.
        self.internal: dict[bytes, Callable[[bytes], None]] = {}

    # ------------------------------------------------------------------ internal channels

    def listen(self, channel: bytes, handler: Callable[[bytes], None]) -> None:
        """Have the router itself receive the messages of an internal channel."""
        self.internal[channel] = handler
        self._changed()

    def unlisten(self, channel: bytes) -> None:
        if self.internal.pop(channel, None) is not None:
            self._changed()

    # ------------------------------------------------------------------ commands

    def subscribe(self, subscriber: Subscriber, channels: list[bytes]) -> list[Reply]:
        client = subscriber.client
        frames: list[Reply] = []
        changed = False
        for channel in channels:
            if channel not in client.channels:
                client.channels[channel] = None
                self.channels.setdefault(channel, {})[client.id] = subscriber
                changed = True
            frames.append(Push([b"subscribe", channel, _count(client)]))
        self._after(client, changed)
        return frames

    def psubscribe(self, subscriber: Subscriber, patterns: list[bytes]) -> list[Reply]:
        client = subscriber.client
        frames: list[Reply] = []
        changed = False
        for pattern in patterns:
            if pattern not in client.patterns:
                client.patterns[pattern] = None
                entry = self.patterns.get(pattern)
                if entry is None:
                    entry = self.patterns[pattern] = _Pattern(pattern)
                entry.subscribers[client.id] = subscriber
                changed = True
            frames.append(Push([b"psubscribe", pattern, _count(client)]))
        self._after(client, changed)
        return frames

    def unsubscribe(self, subscriber: Subscriber, channels: list[bytes]) -> list[Reply]:
        """UNSUBSCRIBE the channels given, or all of them; one frame per channel named
        or left (one with a null channel when there was none)."""
        client = subscriber.client
        names = channels or list(client.channels)
        frames: list[Reply] = []
        changed = False
        for channel in names:
            if channel in client.channels:
                del client.channels[channel]
                self._forget_channel(channel, client.id)
                changed = True
            frames.append(Push([b"unsubscribe", channel, _count(client)]))
        if not names:
            frames.append(Push([b"unsubscribe", None, _count(client)]))
        self._after(client, changed)
        return frames

    def punsubscribe(self, subscriber: Subscriber, patterns: list[bytes]) -> list[Reply]:
        client = subscriber.client
        names = patterns or list(client.patterns)
        frames: list[Reply] = []
        changed = False
        for pattern in names:
            if pattern in client.patterns:
                del client.patterns[pattern]
                self._forget_pattern(pattern, client.id)
                changed = True
            frames.append(Push([b"punsubscribe", pattern, _count(client)]))
        if not names:
            frames.append(Push([b"punsubscribe", None, _count(client)]))
        self._after(client, changed)
        return frames

    def ssubscribe(self, subscriber: Subscriber, channels: list[bytes]) -> list[Reply]:
        """SSUBSCRIBE (the channels share a slot: the router checked); the count in the
        frames is the shard channels' alone, as Redis's."""
        client = subscriber.client
        frames: list[Reply] = []
        changed = False
        for channel in channels:
            if channel not in client.shard_channels:
                client.shard_channels[channel] = None
                self.shard_channels.setdefault(channel, {})[client.id] = subscriber
                changed = True
            frames.append(Push([b"ssubscribe", channel, len(client.shard_channels)]))
        self._after(client, changed)
        return frames

    def sunsubscribe(self, subscriber: Subscriber, channels: list[bytes]) -> list[Reply]:
        client = subscriber.client
        names = channels or list(client.shard_channels)
        frames: list[Reply] = []
        changed = False
        for channel in names:
            if channel in client.shard_channels:
                del client.shard_channels[channel]
                _forget(self.shard_channels, channel, client.id)
                changed = True
            frames.append(Push([b"sunsubscribe", channel, len(client.shard_channels)]))
        if not names:
            frames.append(Push([b"sunsubscribe", None, 0]))
        self._after(client, changed)
        return frames

    def drop(self, client: SubscriptionState) -> None:
        """Forget every subscription of a connection (RESET, close), without frames."""
        if not client.subscribed:
            return
        for channel in client.channels:
            self._forget_channel(channel, client.id)
        for pattern in client.patterns:
            self._forget_pattern(pattern, client.id)
        for channel in client.shard_channels:
            _forget(self.shard_channels, channel, client.id)
        client.channels.clear()
        client.patterns.clear()
        client.shard_channels.clear()
        self._after(client, True)

    # ------------------------------------------------------------------ messages

    def deliver(self, channel: bytes, message: bytes, sharded: bool = False) -> int:
        """Send a published message to this router's subscribers; how many got it. An
        internal channel's goes to the router's own handler, never to a client; an
        SPUBLISH's to the shard channel's subscribers only, as "smessage"."""
        if is_internal(channel):
            handler = self.internal.get(channel)
            if handler is None:
                return 0
            handler(message)
            return 1
        if sharded:
            shard_subscribers = self.shard_channels.get(channel)
            if not shard_subscribers:
                return 0
            frame = Frame(Push([b"smessage", channel, message]))
            for subscriber in list(shard_subscribers.values()):
                subscriber.deliver(frame)
            return len(shard_subscribers)
        receivers = 0
        subscribers = self.channels.get(channel)
        if subscribers:
            receivers += len(subscribers)
            frame = Frame(Push([b"message", channel, message]))
            for subscriber in list(subscribers.values()):
                subscriber.deliver(frame)
        for pattern, entry in list(self.patterns.items()):
            if entry.matches(channel):
                receivers += len(entry.subscribers)
                frame = Frame(Push([b"pmessage", pattern, channel, message]))
                for subscriber in list(entry.subscribers.values()):
                    subscriber.deliver(frame)
        return receivers

    # ------------------------------------------------------------------ what the nodes see

    def channel_counts(self) -> tuple[list[bytes], list[int]]:
        """What the nodes hold: the clients' channels (but for internal names, inert for
        clients) and the router's internal ones, once each."""
        channels = [c for c in self.channels if not is_internal(c)] + list(self.internal)
        counts = [len(self.channels[c]) for c in channels[: len(channels) - len(self.internal)]]
        return channels, counts + [1] * len(self.internal)

    def pattern_counts(self) -> tuple[list[bytes], list[int]]:
        return list(self.patterns), [len(entry.subscribers) for entry in self.patterns.values()]

    def shard_channel_counts(self) -> tuple[list[bytes], list[int]]:
        return list(self.shard_channels), [len(c) for c in self.shard_channels.values()]

    def active_channels(self, pattern: bytes | None, sharded: bool = False) -> list[bytes]:
        held = self.shard_channels if sharded else self.channels
        return [
            c for c in held if not is_internal(c) and (pattern is None or stringmatch(pattern, c))
        ]

    def numsub(self, channels: list[bytes], sharded: bool = False) -> list[int]:
        held = self.shard_channels if sharded else self.channels
        return [len(held.get(channel, ())) for channel in channels]

    def numpat(self) -> int:
        return len(self.patterns)

    # ------------------------------------------------------------------ internals

    def _forget_channel(self, channel: bytes, client_id: int) -> None:
        _forget(self.channels, channel, client_id)

    def _forget_pattern(self, pattern: bytes, client_id: int) -> None:
        entry = self.patterns[pattern]
        del entry.subscribers[client_id]
        if not entry.subscribers:
            del self.patterns[pattern]

    def _after(self, client: SubscriptionState, changed: bool) -> None:
        client.subscribed = bool(client.channels or client.patterns or client.shard_channels)
        if changed:
            self._changed()

    def _changed(self) -> None:
        self.version += 1
        for listener in self.listeners:
            listener()


def _forget(held: dict[bytes, dict[int, Subscriber]], channel: bytes, client_id: int) -> None:
    clients = held[channel]
    del clients[client_id]
    if not clients:
        del held[channel]


def _count(client: SubscriptionState) -> int:
    return len(client.channels) + len(client.patterns)
