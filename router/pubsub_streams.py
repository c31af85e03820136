"""The cluster backend's pub/sub part: the streams that keep every node informed of this
router's subscriptions (router/pubsub.py's registry) and bring back the messages.

`NodeStreams` keeps one Kv.Subscribe stream open to every node, sends the whole set on it
whenever it changes (changes made while a send is under way are sent together) and at
every (re)connection, and takes the messages the nodes send: each message reaches this
router once, through the node it was published on, and is fanned out by the registry,
patterns included.

A subscription is confirmed once every node that is reachable holds it (or a short while
has passed: a node that answers late is not waited for again until it catches up), so a
message published through any router after the confirmation reaches the subscriber.
Delivery is at most once, as in Redis: a message published through a node whose stream
to this router is down is lost for this router's subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import grpc

from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from router.backend import BackendError
from router.pubsub import PubSubRegistry

log = logging.getLogger("slotraft.router.pubsub")

SYNC_TIMEOUT_S = 2.0  # longest wait for the nodes to hold a changed set
QUERY_TIMEOUT_S = 3.0  # one try of a PUBSUB question at one node
PUBLISH_TIMEOUT_S = 3.0
RECONNECT_PAUSE_S = 0.1  # first pause before reopening a stream; doubles up to a second
RECONNECT_PAUSE_MAX_S = 1.0
FAILED_NODE_PAUSE_S = 1.0  # PUBLISH tries other nodes first for this long after a failure


class Link(Protocol):
    """What the node streams need of a node link (router.node_link.NodeLink)."""

    kv: pb_grpc.KvStub


class StreamState(enum.Enum):
    DOWN = "down"  # failed; reopened after a pause
    CONNECTING = "connecting"  # opened, no set acknowledged yet
    UP = "up"  # the node acknowledged a set on this stream


class _QueryFailed(Exception):
    pass


class _NodeStream:
    """This router's stream to one node."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.state = StreamState.CONNECTING
        self.sent = 0  # version of the last set sent on the current call
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
        self.failed_until: dict[int, float] = {}  # node -> monotonic time (PUBLISH)
        self.closed = False
        registry.listeners.append(self._changed)

    # ------------------------------------------------------------------ Backend parts

    async def sync(self) -> None:
        """Return once every reachable node holds the registry's current set, or after
        SYNC_TIMEOUT_S (the late nodes are then not waited for until they catch up)."""
        self._ensure_streams()
        target = self.registry.version
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SYNC_TIMEOUT_S
        for stream in list(self.streams.values()):
            while (
                stream.acked < target
                and stream.state is not StreamState.DOWN
                and not stream.lagging
            ):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    log.warning("node %d is slow to take subscriptions", stream.node_id)
                    stream.lagging = True
                    break
                changed = stream.changed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)

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

    async def publish(self, channel: bytes, message: bytes, sender: int) -> int:
        """PUBLISH through one node. A sender's messages go through the same node while it
        answers, so that subscribers get them in the order they were published; the
        senders of a router are spread over the nodes. A node that cannot be reached is
        skipped for a while; one that times out is not retried (the message may have gone
        out: at most once)."""
        nodes = sorted(self.links)
        if not nodes:
            raise BackendError(b"CLUSTERDOWN The cluster is down: no node is known")
        start = sender % len(nodes)
        ring = nodes[start:] + nodes[:start]
        now = time.monotonic()
        ring.sort(key=lambda node: self.failed_until.get(node, 0.0) > now)
        request = pb.PublishRequest(channel=channel, message=message)
        problem = "no node"
        for node in ring:
            link = self.links.get(node)
            if link is None:
                continue
            try:
                reply = await link.kv.Publish(request, timeout=PUBLISH_TIMEOUT_S)
            except grpc.aio.AioRpcError as error:
                problem = f"node {node}: {error.code().name}"
                if error.code() is not grpc.StatusCode.UNAVAILABLE:
                    break
                self.failed_until[node] = time.monotonic() + FAILED_NODE_PAUSE_S
                continue
            self.failed_until.pop(node, None)
            return reply.receivers
        raise BackendError(
            b"CLUSTERDOWN The cluster is down: PUBLISH failed (%s)" % problem.encode()
        )

    async def close(self) -> None:
        self.closed = True
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
                stream = self.streams[node_id] = _NodeStream(node_id)
                stream.task = asyncio.get_running_loop().create_task(self._run(stream))

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
            link = self.links.get(stream.node_id)
            if link is None:  # the node left the slot map
                self.streams.pop(stream.node_id, None)
                return
            stream.state = StreamState.CONNECTING
            stream.sent = stream.acked = 0
            stream.notify()
            call = link.kv.Subscribe(self._requests(stream))
            try:
                async for delivery in call:
                    if delivery.acked:
                        self._acknowledged(stream, delivery.acked)
                        pause = RECONNECT_PAUSE_S
                    elif delivery.HasField("answer"):
                        future = stream.answers.pop(delivery.answer.id, None)
                        if future is not None and not future.done():
                            future.set_result(delivery.answer)
                    else:
                        self.registry.deliver(delivery.channel, delivery.message)
                log.info("node %d ended the subscription stream", stream.node_id)
            except grpc.aio.AioRpcError as error:
                log.info("subscription stream to node %d: %s", stream.node_id, error.code().name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("subscription stream to node %d failed", stream.node_id)
            finally:
                call.cancel()
                stream.state = StreamState.DOWN
                stream.fail_queries()
                stream.notify()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_PAUSE_MAX_S)

    def _acknowledged(self, stream: _NodeStream, version: int) -> None:
        stream.acked = max(stream.acked, version)
        stream.state = StreamState.UP
        if stream.acked >= self.registry.version:
            stream.lagging = False
        stream.notify()

    async def _requests(self, stream: _NodeStream) -> AsyncIterator[pb.Subscription]:
        """The stream's messages: the current set at once, then queries and new sets."""
        registry = self.registry
        while True:
            stream.wakeup.clear()
            while stream.outbox:
                yield pb.Subscription(query=stream.outbox.pop(0))
            version = registry.version
            if version != stream.sent:
                stream.sent = version
                channels, channel_counts = registry.channel_counts()
                patterns, pattern_counts = registry.pattern_counts()
                yield pb.Subscription(
                    channels=channels,
                    channel_counts=channel_counts,
                    patterns=patterns,
                    pattern_counts=pattern_counts,
                    router=self.router_id,
                    version=version,
                )
            if not stream.outbox and registry.version == stream.sent:
                await stream.wakeup.wait()
