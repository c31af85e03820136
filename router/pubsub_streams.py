"""The cluster backend's pub/sub part: the streams that keep every node informed of this
router's subscriptions (router/pubsub.py's registry) and bring back the messages.

`NodeStreams` keeps one Kv.Subscribe stream open to every node, sends the whole set on it
whenever it changes (changes made while a send is under way are sent together) and at
every (re)connection, and takes the messages the nodes send, fanned out by the registry,
patterns included.

No silent loss: a PUBLISH goes to every node this router reaches (an SPUBLISH to every
node of the channel's shard), each with the message's id (this router's id and a
sequence number); every node passes it to the routers whose set matches, and a router
keeps the first copy of each id. A subscription is confirmed once every reachable node
holds it and at least one does (a node that answers late is not waited for again until
it catches up), so a message published through any router after the confirmation
reaches the subscriber while one node that both routers reach holds the set. When a
stream breaks it is reopened with the whole set; the node then reports the ids of the
messages it had for this router meanwhile, and those that did not come through another
node are counted (`PubSubCounters.possibly_lost`, INFO's pubsub section).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from router.backend import BackendError
from router.pubsub import PubSubRegistry

log = logging.getLogger("slotraft.router.pubsub")

SYNC_TIMEOUT_S = 2.0  # longest wait for every reachable node to hold a changed set
SYNC_ONE_NODE_S = 10.0  # longest wait for at least one node to hold it
QUERY_TIMEOUT_S = 3.0  # one try of a PUBSUB question at one node
PUBLISH_TIMEOUT_S = 3.0
RECONNECT_PAUSE_S = 0.1  # first pause before reopening a stream; doubles up to a second
RECONNECT_PAUSE_MAX_S = 1.0
FAILED_NODE_PAUSE_S = 1.0  # PUBLISH skips a node this long after it was unreachable
# Once one node took a message, how long PUBLISH waits for the others' counts (a slow
# node still passes the message on; it is just not counted in the reply).
PUBLISH_GRACE_S = 0.2
# A node whose hub started less than this ago may not hold every router's set yet: when
# the nodes that took a message miss a router seen lately, it is sent again (same id)
# every PUBLISH_RESEND_PAUSE_S for up to PUBLISH_RESEND_S. Routers seen holding a set in
# the last KNOWN_ROUTER_S count as live.
YOUNG_HUB_MS = 10_000
PUBLISH_RESEND_S = 2.0
PUBLISH_RESEND_PAUSE_S = 0.1
KNOWN_ROUTER_S = 30.0
# Message ids remembered to drop the copies that come through the other nodes; a copy
# comes within moments of the first, far fewer messages than this apart.
SEEN_CAPACITY = 1 << 16


class Link(Protocol):
    """What the node streams need of a node link (router.node_link.NodeLink)."""

    kv: pb_grpc.KvStub


class StreamState(enum.Enum):
    DOWN = "down"  # failed; reopened after a pause
    CONNECTING = "connecting"  # opened, no set acknowledged yet
    UP = "up"  # the node acknowledged a set on this stream


class _QueryFailed(Exception):
    pass


@dataclass
class PubSubCounters:
    """What the streams saw, for INFO (all since the router started)."""

    stream_breaks: int = 0  # a stream that had been up ended
    gaps: int = 0  # reopened streams whose node had messages for this router meanwhile
    possibly_lost: int = 0  # of those, the messages that came through no other node
    duplicates: int = 0  # copies dropped (the same message through several nodes)
    unconfirmed: int = 0  # PUBLISH that reached no node holding some live router's set
    # Every node this router reaches went down, and the first to come back could not say
    # what it had had for this router (it restarted): what was in flight then may be lost,
    # in a number nobody knows.
    unaccounted_outages: int = 0

    def info_lines(self) -> list[str]:
        return [
            f"pubsub_stream_breaks:{self.stream_breaks}",
            f"pubsub_stream_gaps:{self.gaps}",
            f"pubsub_possibly_lost_messages:{self.possibly_lost}",
            f"pubsub_duplicates_dropped:{self.duplicates}",
            f"pubsub_publish_routers_unreached:{self.unconfirmed}",
            f"pubsub_unaccounted_outages:{self.unaccounted_outages}",
        ]


@dataclass
class _Round:
    """What one sending of a PUBLISH to the nodes learnt."""

    took: bool = False  # a node took it
    young: bool = False  # a node that took it restarted a moment ago
    holders: set[int] = field(default_factory=set)  # routers whose set those nodes hold

    def add(self, other: _Round) -> None:
        self.took |= other.took
        self.young |= other.young
        self.holders |= other.holders


class _NodeStream:
    """This router's stream to one node."""

    def __init__(self, node_id: int, on_change: Callable[[], None]) -> None:
        self.node_id = node_id
        self.on_change = on_change
        self.state = StreamState.CONNECTING
        self.sent = 0  # version of the last set sent on the current call
        self.generation = 0  # of the current call: its request generator's token
        self.acked = 0  # version of the last set the node acknowledged on it
        self.lagging = False  # missed a sync: not waited for until it acknowledges again
        self.wakeup = asyncio.Event()  # something to send
        self.changed = asyncio.Event()  # replaced at each state or acknowledgement change
        self.outbox: list[pb.PubSubQuery] = []
        self.answers: dict[int, asyncio.Future[pb.PubSubAnswer]] = {}
        self.task: asyncio.Task | None = None

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()
        self.on_change()

    def fail_queries(self) -> None:
        self.outbox.clear()
        answers, self.answers = self.answers, {}
        for future in answers.values():
            if not future.done():
                future.set_exception(_QueryFailed(f"node {self.node_id}: stream ended"))


class NodeStreams:
    """One Kv.Subscribe stream per node of the slot map (`links`, kept up to date by the
    cluster backend), opened when first needed and reopened when it fails."""

    def __init__(self, registry: PubSubRegistry, links: Mapping[int, Link], router_id: int):
        self.registry = registry
        self.links = links
        self.router_id = router_id
        self.streams: dict[int, _NodeStream] = {}
        self.query_ids = itertools.count(1)
        # Message ids: unique across this router's restarts, as the wall clock moves on.
        self.seqs = itertools.count(time.time_ns())
        self.seen: OrderedDict[tuple[int, int], None] = OrderedDict()
        self.counters = PubSubCounters()
        # Since a stream that had been up broke leaving none up: no node may pass on the
        # messages in flight (see _back_from_outage).
        self.outage = False
        self.known_routers: dict[int, float] = {}  # router -> when a node last held its set
        self.failed_until: dict[int, float] = {}  # node -> monotonic time (PUBLISH)
        self.any_change = asyncio.Event()  # replaced whenever a stream's state changes
        self.background: set[asyncio.Future] = set()  # PUBLISH calls past their grace
        self.closed = False
        registry.listeners.append(self._changed)

    # ------------------------------------------------------------------ Backend parts

    async def sync(self) -> None:
        """Return once every reachable node holds the registry's current set and at least
        one does, or after SYNC_TIMEOUT_S for the first and SYNC_ONE_NODE_S for the
        second (a late node is then not waited for until it catches up)."""
        self._ensure_streams()
        target = self.registry.version
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            streams = list(self.streams.values())
            held = any(s.acked >= target for s in streams)
            waiting = [
                s
                for s in streams
                if s.acked < target and s.state is not StreamState.DOWN and not s.lagging
            ]
            now = loop.time()
            if not waiting and held:
                return
            if waiting and now - start >= SYNC_TIMEOUT_S:
                for stream in waiting:
                    log.warning("node %d is slow to take subscriptions", stream.node_id)
                    stream.lagging = True
                continue
            if now - start >= SYNC_ONE_NODE_S:
                log.warning("no node took this router's subscriptions yet")
                return
            limit = SYNC_TIMEOUT_S if waiting else SYNC_ONE_NODE_S
            changed = self.any_change
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), start + limit - now)

    async def query(self, query: pb.PubSubQuery) -> pb.PubSubAnswer:
        """Ask one node (it holds every router's set), another if it fails."""
        self._ensure_streams()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + QUERY_TIMEOUT_S
        tried: set[int] = set()
        while True:
            stream = self._query_target(tried)
            if stream is None:
                pending = [
                    s
                    for s in self.streams.values()
                    if s.state is StreamState.CONNECTING and s.node_id not in tried
                ]
                remaining = deadline - loop.time()
                if not pending or remaining <= 0:
                    raise BackendError(b"CLUSTERDOWN The cluster is down: no node answers PUBSUB")
                waits = [asyncio.ensure_future(s.changed.wait()) for s in pending]
                await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                for wait in waits:
                    wait.cancel()
                continue
            tried.add(stream.node_id)
            query.id = next(self.query_ids)
            future: asyncio.Future[pb.PubSubAnswer] = loop.create_future()
            stream.answers[query.id] = future
            stream.outbox.append(query)
            stream.wakeup.set()
            try:
                return await asyncio.wait_for(future, QUERY_TIMEOUT_S)
            except (TimeoutError, _QueryFailed) as problem:
                stream.answers.pop(query.id, None)
                log.info("PUBSUB query at node %d failed: %r", stream.node_id, problem)

    async def publish(
        self,
        channel: bytes,
        message: bytes,
        sender: int = 0,
        nodes: Iterable[int] | None = None,
        sharded: bool = False,
    ) -> int:
        """PUBLISH (SPUBLISH: `sharded`, to the shard's `nodes`); the clients reached, each
        router's counted once. It goes through one node, the sender's (so that a sender's
        messages keep their order), when that node holds the set of every router seen
        lately; otherwise through every node too (same id: each router keeps one copy),
        and again for a while if a node that just restarted took it and some router's
        set is still nowhere. A node unreachable or timing out a moment ago, or whose
        stream is down, is skipped (unless every node is); a node that took the message
        is not asked again unless it is resent."""
        targets = [n for n in (sorted(self.links) if nodes is None else nodes) if n in self.links]
        if not targets:
            raise BackendError(b"CLUSTERDOWN The cluster is down: no node is known")
        # Not a node that failed a moment ago or whose stream is down (a paused node
        # would hold every PUBLISH for the grace): its subscribers' routers reach others.
        now = time.monotonic()
        targets = [n for n in targets if self._usable(n, now)] or targets
        start = sender % len(targets)
        ring = targets[start:] + targets[:start]
        request = pb.PublishRequest(
            channel=channel,
            message=message,
            origin=self.router_id,
            seq=next(self.seqs),
            sharded=sharded,
        )
        reached: dict[int, int] = {}
        seen = _Round()  # over every sending of this message
        failure: BackendError | None = None
        asked: set[int] = set()
        batch = ring[:1] if self.known_routers else ring  # none known: learn from all
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PUBLISH_RESEND_S
        while True:
            try:
                seen.add(await self._publish_round(request, batch, reached))
            except BackendError as error:
                failure = error
            asked.update(batch)
            missing = self._missing_holders(seen.holders) if seen.took else set()
            if seen.took and not missing:
                break
            rest = [n for n in ring if n not in asked]
            if rest:  # the other nodes too
                batch = rest
                continue
            if not seen.took:
                assert failure is not None
                raise failure
            if not seen.young or loop.time() >= deadline:
                # No node that took it holds those routers' sets: they reach no node now
                # (their streams' gaps count what they miss), or they are gone. Either
                # way they are forgotten until a node holds their set again (else every
                # PUBLISH would go through every node while they are away).
                if seen.young:
                    self.counters.unconfirmed += 1
                    log.warning(
                        "PUBLISH reached no node holding the subscriptions of router(s) %s",
                        ", ".join(f"{r:x}" for r in sorted(missing)),
                    )
                for router in missing:
                    self.known_routers.pop(router, None)
                break
            # A node that just restarted took it without some router's set: send the same
            # message (same id: delivered once) again once the sets had time to come.
            await asyncio.sleep(PUBLISH_RESEND_PAUSE_S)
            batch = ring
        return sum(reached.values())

    async def _publish_round(
        self, request: pb.PublishRequest, targets: list[int], reached: dict[int, int]
    ) -> _Round:
        """Send the message to `targets`; wait for every answer or PUBLISH_GRACE_S after the
        first; `reached` takes each router's largest count."""
        round_ = _Round()
        if len(targets) == 1 and targets[0] in self.links:  # the usual case: no task
            node = targets[0]
            try:
                reply = await self.links[node].kv.Publish(request, timeout=PUBLISH_TIMEOUT_S)
            except grpc.aio.AioRpcError as error:
                self._failed(node, error)
                raise BackendError(
                    b"CLUSTERDOWN The cluster is down: PUBLISH failed (node %d: %s)"
                    % (node, error.code().name.encode())
                ) from None
            self._took(node, reply, round_, reached)
            return round_
        calls = {
            asyncio.ensure_future(self.links[n].kv.Publish(request, timeout=PUBLISH_TIMEOUT_S)): n
            for n in targets
            if n in self.links
        }
        problem = "no node"
        loop = asyncio.get_running_loop()
        grace_end: float | None = None
        pending: set[asyncio.Future] = set(calls)
        while pending:
            timeout = None if grace_end is None else max(0.0, grace_end - loop.time())
            done, pending = await asyncio.wait(
                pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                break
            for call in done:
                node = calls[call]
                try:
                    reply = call.result()
                except grpc.aio.AioRpcError as error:
                    problem = f"node {node}: {error.code().name}"
                    self._failed(node, error)
                    continue
                self._took(node, reply, round_, reached)
            if round_.took and grace_end is None:
                grace_end = loop.time() + PUBLISH_GRACE_S
        for call in pending:  # still passing the message on: let it finish
            self.background.add(call)
            call.add_done_callback(functools.partial(self._background_done, calls[call]))
        if not round_.took:
            raise BackendError(
                b"CLUSTERDOWN The cluster is down: PUBLISH failed (%s)" % problem.encode()
            )
        return round_

    def _took(
        self, node: int, reply: pb.PublishReply, round_: _Round, reached: dict[int, int]
    ) -> None:
        round_.took = True
        self.failed_until.pop(node, None)
        for router, count in _per_router(reply):
            reached[router] = max(reached.get(router, 0), count)
        round_.holders.update(reply.holders)
        if reply.hub_age_ms < YOUNG_HUB_MS:
            round_.young = True

    def _missing_holders(self, holders: set[int]) -> set[int]:
        """Routers seen holding a set lately that none of `holders` is."""
        now = time.monotonic()
        for router in holders:
            self.known_routers[router] = now
        for router, seen in list(self.known_routers.items()):
            if now - seen > KNOWN_ROUTER_S:
                del self.known_routers[router]
        return set(self.known_routers) - holders

    def _background_done(self, node: int, call: asyncio.Future) -> None:
        self.background.discard(call)
        if not call.cancelled():
            error = call.exception()
            if isinstance(error, grpc.aio.AioRpcError):
                self._failed(node, error)

    def _usable(self, node: int, now: float) -> bool:
        stream = self.streams.get(node)
        down = stream is not None and stream.state is StreamState.DOWN
        return not down and self.failed_until.get(node, 0.0) <= now

    def _failed(self, node: int, error: grpc.aio.AioRpcError) -> None:
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            self.failed_until[node] = time.monotonic() + FAILED_NODE_PAUSE_S

    async def close(self) -> None:
        self.closed = True
        for call in list(self.background):
            call.cancel()
        tasks = [stream.task for stream in self.streams.values() if stream.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------------ streams

    def _changed(self) -> None:
        self._ensure_streams()
        for stream in self.streams.values():
            stream.wakeup.set()

    def _ensure_streams(self) -> None:
        if self.closed:
            return
        for node_id in self.links:
            if node_id not in self.streams:
                stream = self.streams[node_id] = _NodeStream(node_id, self._stream_changed)
                stream.task = asyncio.get_running_loop().create_task(self._run(stream))

    def _stream_changed(self) -> None:
        self.any_change.set()
        self.any_change = asyncio.Event()

    def _query_target(self, tried: set[int]) -> _NodeStream | None:
        """An untried node that holds this router's set, else any untried one that is up."""
        up = [
            s for s in self.streams.values() if s.state is StreamState.UP and s.node_id not in tried
        ]
        current = [s for s in up if s.acked == self.registry.version]
        candidates = current or up
        return candidates[0] if candidates else None

    async def _run(self, stream: _NodeStream) -> None:
        pause = RECONNECT_PAUSE_S
        while not self.closed:
            was_up = False
            link = self.links.get(stream.node_id)
            if link is None:  # the node left the slot map
                self.streams.pop(stream.node_id, None)
                return
            stream.state = StreamState.CONNECTING
            stream.sent = stream.acked = 0
            stream.notify()
            stream.generation += 1
            call = link.kv.Subscribe(self._requests(stream, stream.generation))
            try:
                async for delivery in call:
                    if delivery.acked:
                        if delivery.HasField("gap"):
                            self._count_gap(stream.node_id, delivery.gap)
                        if self.outage and stream.state is not StreamState.UP:
                            self._back_from_outage(stream.node_id, delivery)
                        self._acknowledged(stream, delivery.acked)
                        was_up = True
                        pause = RECONNECT_PAUSE_S
                    elif delivery.HasField("answer"):
                        future = stream.answers.pop(delivery.answer.id, None)
                        if future is not None and not future.done():
                            future.set_result(delivery.answer)
                    else:
                        self._deliver(delivery)
                log.info("node %d ended the subscription stream", stream.node_id)
            except grpc.aio.AioRpcError as error:
                log.info("subscription stream to node %d: %s", stream.node_id, error.code().name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("subscription stream to node %d failed", stream.node_id)
            finally:
                call.cancel()
                stream.generation += 1  # its generator, if it lingers, ends when woken
                stream.wakeup.set()
                if was_up:
                    self.counters.stream_breaks += 1
                stream.state = StreamState.DOWN
                if was_up and not any(s.state is StreamState.UP for s in self.streams.values()):
                    self.outage = True
                stream.fail_queries()
                stream.notify()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_PAUSE_MAX_S)

    def _deliver(self, delivery: pb.Delivery) -> None:
        """A message, unless its copy through another node came first."""
        if delivery.origin:
            key = (delivery.origin, delivery.seq)
            if key in self.seen:
                self.counters.duplicates += 1
                return
            self.seen[key] = None
            if len(self.seen) > SEEN_CAPACITY:
                self.seen.popitem(last=False)
        self.registry.deliver(delivery.channel, delivery.message, delivery.sharded)

    def _count_gap(self, node_id: int, gap: pb.Gap) -> None:
        """The messages a node had for this router while its stream was down: lost unless
        they came through another node (their ids were seen)."""
        missed = [key for key in zip(gap.origins, gap.seqs, strict=True) if key not in self.seen]
        lost = len(missed) + gap.unidentified + gap.overflow
        self.counters.gaps += 1
        if lost:
            self.counters.possibly_lost += lost
            log.warning(
                "node %d had %d messages for this router while its stream was down: "
                "%d came through no other node (possibly lost)",
                node_id,
                len(gap.origins) + gap.unidentified + gap.overflow,
                lost,
            )

    def _back_from_outage(self, node_id: int, ack: pb.Delivery) -> None:
        """The first stream up again after every stream was down. A node that kept its
        hub reports what it had for this router meanwhile, the messages then in flight
        included (a gap, counted in possibly_lost); one that restarted cannot (no gap):
        what every node had in flight when they went down may be lost, uncounted. That
        outage is counted, so that the loss is not silent."""
        self.outage = False
        if not ack.HasField("gap"):
            self.counters.unaccounted_outages += 1
            log.warning(
                "every node this router reaches went down, and node %d came back without "
                "a report of what it had for this router (it restarted): messages in "
                "flight then may be lost, their number unknown",
                node_id,
            )

    def _acknowledged(self, stream: _NodeStream, version: int) -> None:
        stream.acked = max(stream.acked, version)
        stream.state = StreamState.UP
        if stream.acked >= self.registry.version:
            stream.lagging = False
        stream.notify()

    async def _requests(
        self, stream: _NodeStream, generation: int
    ) -> AsyncIterator[pb.Subscription]:
        """The messages of one call on the stream: the current set at once, then queries
        and new sets. It ends once a newer call replaced its own: a generator of a call
        that ended may linger (gRPC does not always close it), and must neither take the
        queries nor mark the current set as sent (the new call would never send it)."""
        registry = self.registry
        while stream.generation == generation:
            stream.wakeup.clear()
            if stream.outbox:
                yield pb.Subscription(query=stream.outbox.pop(0))
                continue
            version = registry.version
            if version != stream.sent:
                stream.sent = version
                channels, channel_counts = registry.channel_counts()
                patterns, pattern_counts = registry.pattern_counts()
                shard_channels, shard_channel_counts = registry.shard_channel_counts()
                yield pb.Subscription(
                    channels=channels,
                    channel_counts=channel_counts,
                    patterns=patterns,
                    pattern_counts=pattern_counts,
                    shard_channels=shard_channels,
                    shard_channel_counts=shard_channel_counts,
                    router=self.router_id,
                    version=version,
                )
                continue
            await stream.wakeup.wait()


def _per_router(reply: pb.PublishReply) -> list[tuple[int, int]]:
    """A node's count per router (a node without them: its total, as one router)."""
    if reply.routers:
        return list(zip(reply.routers, reply.router_receivers, strict=True))
    return [(0, reply.receivers)] if reply.receivers else []
