"""The node's side of pub/sub: every router's subscription set, one stream per router.

Each router keeps a Kv.Subscribe stream open to this node and sends its whole set on it
(channels and patterns, with how many of its clients hold each) whenever the set changes;
each set is acknowledged by its version. A PUBLISH from any router lands on one node: the
hub queues the message once on every stream whose set matches the channel, by name or by
pattern, and answers with the number of subscribed clients, the sum of the routers'
counts; each router fans the message out to its own clients. Delivery is at most once, as
in Redis: a router whose stream is down misses what is published meanwhile, and a stream
that falls too far behind is closed (the router opens a new one), as Redis disconnects a
subscriber past its output buffer limit. The hub also answers PUBSUB CHANNELS, NUMSUB and
NUMPAT from all the sets it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator

from proto import slotraft_pb2 as pb
from proto.glob import Matcher, compile_pattern, stringmatch
from proto.internal_channels import is_internal

log = logging.getLogger("slotraft.pubsub")

# Bytes of messages queued for one router before its stream is closed (Redis closes a
# subscriber at 32 MB of output buffer).
MAX_QUEUED_BYTES = 32 << 20
_DELIVERY_OVERHEAD = 16  # protobuf framing per message, roughly


class RouterSet:
    """One router's subscription set as this node last received it."""

    __slots__ = ("channels", "patterns", "router", "version")

    def __init__(self) -> None:
        self.router = 0
        self.version = 0
        self.channels: dict[bytes, int] = {}  # channel -> the router's subscribed clients
        self.patterns: dict[bytes, tuple[int, Matcher]] = {}

    def replace(self, message: pb.Subscription) -> None:
        """Take the set in `message`; matchers of patterns already held are kept."""
        self.router = message.router
        self.version = message.version
        self.channels = dict(zip(message.channels, message.channel_counts, strict=True))
        previous = self.patterns
        patterns: dict[bytes, tuple[int, Matcher]] = {}
        for pattern, count in zip(message.patterns, message.pattern_counts, strict=True):
            held = previous.get(pattern)
            patterns[pattern] = (count, held[1] if held else compile_pattern(pattern))
        self.patterns = patterns

    def receivers(self, channel: bytes) -> int:
        """The router's clients that receive a message on `channel` (a client subscribed
        to the channel and to a matching pattern counts twice, as it gets it twice)."""
        total = self.channels.get(channel, 0)
        if is_internal(channel):  # the routers' own: no client pattern receives them
            return total
        for count, matches in self.patterns.values():
            if matches(channel):
                total += count
        return total


class _Stream:
    """One router's stream: its set and the deliveries waiting to be sent."""

    __slots__ = ("closed", "queue", "queued_bytes", "ready", "set")

    def __init__(self) -> None:
        self.set = RouterSet()
        self.queue: deque[pb.Delivery] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()
        self.closed = False

    def push(self, delivery: pb.Delivery, size: int = 0) -> None:
        self.queue.append(delivery)
        self.queued_bytes += size
        self.ready.set()

    def close(self) -> None:
        self.closed = True
        self.queue.clear()
        self.queued_bytes = 0
        self.ready.set()


class PubSubHub:
    def __init__(self, max_queued_bytes: int = MAX_QUEUED_BYTES) -> None:
        self.max_queued_bytes = max_queued_bytes
        self.streams: set[_Stream] = set()

    def publish(self, channel: bytes, message: bytes) -> int:
        """Queue the message for every router with a matching subscription; the number
        of clients that receive it."""
        receivers = 0
        delivery: pb.Delivery | None = None
        size = len(channel) + len(message) + _DELIVERY_OVERHEAD
        for stream in list(self.streams):
            count = stream.set.receivers(channel)
            if not count or stream.closed:
                continue
            if stream.queued_bytes + size > self.max_queued_bytes:
                log.warning(
                    "router %x falls behind (%d bytes queued): closing its stream",
                    stream.set.router,
                    stream.queued_bytes,
                )
                stream.close()
                continue
            if delivery is None:
                delivery = pb.Delivery(channel=channel, message=message)
            stream.push(delivery, size)
            receivers += count
        return receivers

    def has_receivers(self, channel: bytes) -> bool:
        """Whether some router holds a subscription to `channel` (by name)."""
        return any(channel in stream.set.channels for stream in self.streams if not stream.closed)

    def answer(self, query: pb.PubSubQuery) -> pb.PubSubAnswer:
        """PUBSUB CHANNELS / NUMSUB / NUMPAT over every router's set."""
        sets = [stream.set for stream in self.streams if not stream.closed]
        answer = pb.PubSubAnswer(id=query.id)
        if query.kind == pb.PubSubQuery.CHANNELS:
            active = {
                channel for held in sets for channel in held.channels if not is_internal(channel)
            }
            if query.HasField("pattern"):
                active = {channel for channel in active if stringmatch(query.pattern, channel)}
            answer.channels.extend(sorted(active))
        elif query.kind == pb.PubSubQuery.NUMSUB:
            answer.counts.extend(
                sum(held.channels.get(channel, 0) for held in sets) for channel in query.channels
            )
        else:
            answer.counts.append(len({pattern for held in sets for pattern in held.patterns}))
        return answer

    async def subscribe(
        self, requests: AsyncIterator[pb.Subscription]
    ) -> AsyncGenerator[pb.Delivery, None]:
        """Serve one router's stream until it ends (or is closed by the hub)."""
        stream = _Stream()
        self.streams.add(stream)
        reader = asyncio.get_running_loop().create_task(self._read(stream, requests))
        reader.add_done_callback(lambda _: stream.close())
        try:
            while True:
                while stream.queue:
                    delivery = stream.queue.popleft()
                    if not delivery.acked and not delivery.HasField("answer"):
                        stream.queued_bytes -= (
                            len(delivery.channel) + len(delivery.message) + _DELIVERY_OVERHEAD
                        )
                    yield delivery
                if stream.closed:
                    return
                stream.ready.clear()
                if not stream.queue and not stream.closed:
                    await stream.ready.wait()
        finally:
            self.streams.discard(stream)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self, stream: _Stream, requests: AsyncIterator[pb.Subscription]) -> None:
        try:
            async for request in requests:
                if request.HasField("query"):
                    stream.push(pb.Delivery(answer=self.answer(request.query)))
                    continue
                stream.set.replace(request)
                self._retire_older(stream)
                stream.push(pb.Delivery(acked=request.version))
        except asyncio.CancelledError:
            raise
        except Exception as problem:  # the router went away mid-stream, or sent nonsense
            log.info("a router's subscription stream ended: %r", problem)

    def _retire_older(self, stream: _Stream) -> None:
        """A router that reconnects while its old stream lingers here would be counted
        (and sent every message) twice: the newer stream replaces the older."""
        router = stream.set.router
        if not router:
            return
        for other in list(self.streams):
            if other is not stream and other.set.router == router and not other.closed:
                other.close()
