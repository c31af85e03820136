"""The node's side of pub/sub: every router's subscription set, one stream per router.

Each router keeps a Kv.Subscribe stream open to this node and sends its whole set on it
(channels and patterns, with how many of its clients hold each) whenever the set changes;
each set is acknowledged by its version. A PUBLISH from any router lands on one node: the
hub queues the message once on every stream whose set matches the channel, by name or by
pattern, and answers with the number of subscribed clients, the sum of the routers'
counts; each router fans the message out to its own clients. A router sends each PUBLISH
to every node it reaches (router/pubsub_streams.py), so a router whose stream to this node
is down still gets the message through another node; the message's id (origin, seq)
lets it keep one copy. A stream that falls too far behind is closed (the router opens a
new one), as Redis disconnects a subscriber past its output buffer limit.

Losses are counted, not silent: when a router's stream ends, the hub keeps its last set
for a while (an `_Absent` router) and notes the ids of the messages that matched it; when
the router's next stream arrives the acknowledgement of its first set carries them (a
`Gap`), and the router counts those that did not reach it through another node. The hub
also answers PUBSUB CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS and SHARDNUMSUB from all the
sets it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
# How long a router whose stream ended is remembered (its reconnection pauses are at most
# a second: a router gone longer is gone), how many such routers and message ids per
# router: a gap report stays small, anything beyond is counted as overflow.
ABSENT_TTL_S = 120.0
MAX_ABSENT_ROUTERS = 256
MAX_GAP_IDS = 4096
# Messages sent on a stream shortly before it broke may not have reached the router
# (in the sockets' buffers): the ids of those sent in the last RECENT_S are reported too,
# and the router counts those it did not get.
RECENT_S = 5.0


class RouterSet:
    """One router's subscription set as this node last received it."""

    __slots__ = ("channels", "patterns", "router", "shard_channels", "version")

    def __init__(self) -> None:
        self.router = 0
        self.version = 0
        self.channels: dict[bytes, int] = {}  # channel -> the router's subscribed clients
        self.patterns: dict[bytes, tuple[int, Matcher]] = {}
        self.shard_channels: dict[bytes, int] = {}  # SSUBSCRIBE's, by the same counts

    def replace(self, message: pb.Subscription) -> None:
        """Take the set in `message`; matchers of patterns already held are kept."""
        self.router = message.router
        self.version = message.version
        self.channels = dict(zip(message.channels, message.channel_counts, strict=True))
        self.shard_channels = dict(
            zip(message.shard_channels, message.shard_channel_counts, strict=True)
        )
        previous = self.patterns
        patterns: dict[bytes, tuple[int, Matcher]] = {}
        for pattern, count in zip(message.patterns, message.pattern_counts, strict=True):
            held = previous.get(pattern)
            patterns[pattern] = (count, held[1] if held else compile_pattern(pattern))
        self.patterns = patterns

    def receivers(self, channel: bytes, sharded: bool = False) -> int:
        """The router's clients that receive a message on `channel` (a client subscribed
        to the channel and to a matching pattern counts twice, as it gets it twice); an
        SPUBLISH reaches the shard channel's subscribers only."""
        if sharded:
            return self.shard_channels.get(channel, 0)
        total = self.channels.get(channel, 0)
        if is_internal(channel):  # the routers' own: no client pattern receives them
            return total
        for count, matches in self.patterns.values():
            if matches(channel):
                total += count
        return total


class _Absent:
    """A router whose stream ended: its last set, and the messages it missed since."""

    __slots__ = ("gap", "set", "since")

    def __init__(self, held: RouterSet, since: float) -> None:
        self.set = held
        self.since = since
        self.gap = pb.Gap()

    def missed(self, origin: int, seq: int) -> None:
        gap = self.gap
        if not origin:
            gap.unidentified += 1
        elif len(gap.origins) < MAX_GAP_IDS:
            gap.origins.append(origin)
            gap.seqs.append(seq)
        else:
            gap.overflow += 1


class _Stream:
    """One router's stream: its set and the deliveries waiting to be sent."""

    __slots__ = ("closed", "queue", "queued_bytes", "ready", "recent", "retired", "set")

    def __init__(self) -> None:
        self.set = RouterSet()
        # (origin, seq, when) of the messages with an id sent lately
        self.recent: deque[tuple[int, int, float]] = deque(maxlen=MAX_GAP_IDS)
        self.queue: deque[pb.Delivery] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()
        self.closed = False
        self.retired = False  # replaced by a newer stream of its router: nothing missed

    def push(self, delivery: pb.Delivery, size: int = 0) -> None:
        self.queue.append(delivery)
        self.queued_bytes += size
        self.ready.set()

    def in_flight(self) -> list[tuple[int, int]]:
        """The ids of the messages sent in the last RECENT_S: maybe not received."""
        since = time.monotonic() - RECENT_S
        return [(origin, seq) for origin, seq, when in self.recent if when >= since]

    def close(self) -> list[pb.Delivery]:
        """Close the stream; the messages it had not sent yet."""
        self.closed = True
        unsent = [d for d in self.queue if not d.acked and not d.HasField("answer")]
        self.queue.clear()
        self.queued_bytes = 0
        self.ready.set()
        return unsent


class PubSubHub:
    def __init__(self, max_queued_bytes: int = MAX_QUEUED_BYTES) -> None:
        self.max_queued_bytes = max_queued_bytes
        self.streams: set[_Stream] = set()
        self.absent: dict[int, _Absent] = {}  # router id -> its set while it has no stream
        self.started = time.monotonic()

    def holders(self) -> list[int]:
        """The routers whose set this hub holds (a stream with a set)."""
        return sorted({s.set.router for s in self.streams if not s.closed and s.set.version})

    def age_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def publish(
        self, channel: bytes, message: bytes, origin: int = 0, seq: int = 0, sharded: bool = False
    ) -> int:
        """Queue the message for every router with a matching subscription; the number
        of clients that receive it. (Keyspace notifications come this way, without an
        id: `origin` 0.)"""
        return sum(self.publish_each(channel, message, origin, seq, sharded).values())

    def publish_each(
        self, channel: bytes, message: bytes, origin: int = 0, seq: int = 0, sharded: bool = False
    ) -> dict[int, int]:
        """`publish`, the clients reached per router id."""
        reached: dict[int, int] = {}
        delivery: pb.Delivery | None = None
        size = len(channel) + len(message) + _DELIVERY_OVERHEAD
        for stream in list(self.streams):
            count = stream.set.receivers(channel, sharded)
            if not count or stream.closed:
                continue
            if stream.queued_bytes + size > self.max_queued_bytes:
                log.warning(
                    "router %x falls behind (%d bytes queued): closing its stream",
                    stream.set.router,
                    stream.queued_bytes,
                )
                self._ended(stream, stream.close())
                continue
            if delivery is None:
                delivery = pb.Delivery(
                    channel=channel, message=message, origin=origin, seq=seq, sharded=sharded
                )
            stream.push(delivery, size)
            router = stream.set.router
            reached[router] = reached.get(router, 0) + count
        if self.absent:
            self._note_absent(channel, origin, seq, sharded)
        return reached

    def _note_absent(self, channel: bytes, origin: int, seq: int, sharded: bool) -> None:
        deadline = time.monotonic() - ABSENT_TTL_S
        for router, absent in list(self.absent.items()):
            if absent.since < deadline:
                del self.absent[router]
            elif absent.set.receivers(channel, sharded):
                absent.missed(origin, seq)

    def _ended(self, stream: _Stream, unsent: list[pb.Delivery]) -> None:
        """A router's stream ended (not replaced by a newer one): remember its set to
        count what it misses, starting with what the stream had not sent."""
        router = stream.set.router
        if stream.retired or not router or stream.set.version == 0:
            return
        if router not in self.absent and len(self.absent) >= MAX_ABSENT_ROUTERS:
            del self.absent[min(self.absent, key=lambda r: self.absent[r].since)]
        absent = self.absent[router] = _Absent(stream.set, time.monotonic())
        for origin, seq in stream.in_flight():
            absent.missed(origin, seq)
        for delivery in unsent:
            absent.missed(delivery.origin, delivery.seq)

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
        elif query.kind == pb.PubSubQuery.SHARDCHANNELS:
            active = {channel for held in sets for channel in held.shard_channels}
            if query.HasField("pattern"):
                active = {channel for channel in active if stringmatch(query.pattern, channel)}
            answer.channels.extend(sorted(active))
        elif query.kind == pb.PubSubQuery.NUMSUB:
            answer.counts.extend(
                sum(held.channels.get(channel, 0) for held in sets) for channel in query.channels
            )
        elif query.kind == pb.PubSubQuery.SHARDNUMSUB:
            answer.counts.extend(
                sum(held.shard_channels.get(channel, 0) for held in sets)
                for channel in query.channels
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
        reader.add_done_callback(lambda _: self._reader_done(stream))
        try:
            while True:
                while stream.queue:
                    delivery = stream.queue.popleft()
                    if not delivery.acked and not delivery.HasField("answer"):
                        stream.queued_bytes -= (
                            len(delivery.channel) + len(delivery.message) + _DELIVERY_OVERHEAD
                        )
                        if delivery.origin:
                            stream.recent.append((delivery.origin, delivery.seq, time.monotonic()))
                    yield delivery
                if stream.closed:
                    return
                stream.ready.clear()
                if not stream.queue and not stream.closed:
                    await stream.ready.wait()
        finally:
            self.streams.discard(stream)
            if not stream.closed:  # the router went away: what it was not sent is missed
                self._ended(stream, stream.close())
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    def _reader_done(self, stream: _Stream) -> None:
        if not stream.closed:
            self._ended(stream, stream.close())

    async def _read(self, stream: _Stream, requests: AsyncIterator[pb.Subscription]) -> None:
        try:
            async for request in requests:
                if request.HasField("query"):
                    stream.push(pb.Delivery(answer=self.answer(request.query)))
                    continue
                first = stream.set.version == 0
                stream.set.replace(request)
                self._retire_older(stream)
                ack = pb.Delivery(acked=request.version)
                absent = self.absent.pop(stream.set.router, None) if first else None
                if absent is not None:
                    ack.gap.CopyFrom(absent.gap)
                stream.push(ack)
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
                other.retired = True
                unsent = other.close()
                in_flight = other.in_flight()
                # Recorded even when nothing may be lost: the new stream's acknowledgement
                # then carries an empty gap, which tells the router this hub knew its old
                # stream (a restarted hub would not: router/pubsub_streams.py).
                absent = self.absent.setdefault(router, _Absent(other.set, time.monotonic()))
                for origin, seq in in_flight:  # maybe lost with the old stream
                    absent.missed(origin, seq)
                for delivery in unsent:
                    absent.missed(delivery.origin, delivery.seq)
