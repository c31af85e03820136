"""The Raft transport between nodes: one long-lived gRPC stream per ordered node pair.

Each send carries a batch of messages of many groups; what the Ready cycles queued while the
previous send was in flight goes out as one batch (a stream write costs far more than a
message). Raft tolerates loss, so a peer that is down or slow costs at most a bounded
queue: when it is full the oldest batches go, and the groups are told the peer is
unreachable (they then probe it gently).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

import grpc

from node.raft import messages as m
from node.raft_wire import from_wire, to_wire
from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc

log = logging.getLogger("slotraft.transport")

MAX_QUEUED_BATCHES = 256
RECONNECT_DELAY_S = 0.2
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 2000),
    ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]

# The server side must accept the clients' keepalive pings (else GOAWAY too_many_pings).
SERVER_OPTIONS = [
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
]

BatchHandler = Callable[[int, list[m.Message]], None]
UnreachableHandler = Callable[[int], None]


class PeerLink:
    """The sending side of the stream to one peer."""

    def __init__(
        self, node_id: int, peer_id: int, address: str, on_unreachable: UnreachableHandler
    ) -> None:
        self.node_id = node_id
        self.peer_id = peer_id
        self.address = address
        self.on_unreachable = on_unreachable
        self.queue: deque[list[m.Message]] = deque()
        self.wakeup = asyncio.Event()
        self.connected = False
        self.task: asyncio.Task | None = None
        self.channel: grpc.aio.Channel | None = None

    def send(self, messages: list[m.Message]) -> None:
        if len(self.queue) >= MAX_QUEUED_BATCHES:
            self.queue.popleft()
            self.on_unreachable(self.peer_id)
        self.queue.append(messages)
        self.wakeup.set()

    async def _outgoing(self) -> AsyncIterator[pb.RaftBatch]:
        while True:
            if self.queue:
                queued, self.queue = self.queue, deque()
                yield pb.RaftBatch(
                    from_node=self.node_id,
                    messages=[to_wire(message) for batch in queued for message in batch],
                )
                continue
            self.wakeup.clear()
            await self.wakeup.wait()

    async def run(self) -> None:
        while True:
            self.channel = grpc.aio.insecure_channel(self.address, options=GRPC_OPTIONS)
            try:
                stub = pb_grpc.RaftStub(self.channel)
                call = stub.Stream(self._outgoing())
                self.connected = True
                await call
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as error:
                if self.connected:
                    log.info(
                        "stream to node %d (%s) broke: %s",
                        self.peer_id,
                        self.address,
                        error.code().name,
                    )
            finally:
                self.connected = False
                await self.channel.close()
            # Batches queued while the stream was down are stale: Raft resends what matters.
            self.queue.clear()
            self.on_unreachable(self.peer_id)
            await asyncio.sleep(RECONNECT_DELAY_S)


class RaftTransport(pb_grpc.RaftServicer):
    def __init__(
        self,
        node_id: int,
        peers: dict[int, str],
        on_batch: BatchHandler,
        on_unreachable: UnreachableHandler,
    ) -> None:
        self.node_id = node_id
        self.on_batch = on_batch
        self.links = {
            peer_id: PeerLink(node_id, peer_id, address, on_unreachable)
            for peer_id, address in peers.items()
            if peer_id != node_id
        }
        # Fault injection for tests and chaos: peers whose traffic is dropped both ways.
        self.blocked_peers: set[int] = set()

    def start(self) -> None:
        for link in self.links.values():
            link.task = asyncio.get_running_loop().create_task(link.run())

    async def stop(self) -> None:
        for link in self.links.values():
            if link.task is not None:
                link.task.cancel()
        for link in self.links.values():
            if link.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await link.task

    def send(self, outbox: dict[int, list[m.Message]]) -> None:
        for peer_id, messages in outbox.items():
            link = self.links.get(peer_id)
            if link is None or not messages or peer_id in self.blocked_peers:
                continue
            link.send(messages)

    async def Stream(
        self, request_iterator: AsyncIterator[pb.RaftBatch], context: grpc.aio.ServicerContext
    ) -> pb.RaftAck:
        received = 0
        async for batch in request_iterator:
            received += 1
            if batch.from_node in self.blocked_peers:
                continue
            try:
                messages = [from_wire(wire) for wire in batch.messages]
            except ValueError as error:
                log.warning("bad batch from node %d: %s", batch.from_node, error)
                continue
            self.on_batch(batch.from_node, messages)
        return pb.RaftAck(received=received)
