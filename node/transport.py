"""The Raft transport between nodes: one long-lived framed TCP stream per ordered node pair.

Each frame is a RaftBatch (proto/slotraft.proto) carrying messages of many groups; what the
Ready cycles queued while the previous write waited for the socket goes out as one batch.
Raft tolerates loss, so a peer that is down or slow costs at most a bounded queue: when it
is full the oldest batches go, and the groups are told the peer is unreachable (they then
probe it gently).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from google.protobuf.message import DecodeError

from node.raft import messages as m
from node.raft.validate import Rejection, RejectionLog, check_batch
from node.raft_wire import add_to_batch, from_wire
from proto import framing
from proto import slotraft_pb2 as pb
from proto.credentials import Credentials
from proto.handshake import CHANNEL_RAFT, HandshakeError

log = logging.getLogger("slotraft.transport")

MAX_QUEUED_BATCHES = 256
RECONNECT_DELAY_S = 0.2
REJECTION_LOG_S = 10.0  # a dropped batch is logged once per sender and reason in this time
# The gRPC server (Admin, Kv pub/sub) must accept the clients' keepalive pings (else
# GOAWAY too_many_pings).
SERVER_OPTIONS = [
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
]


class BatchHeader(NamedTuple):
    """Who sent a batch and what it says of itself and of us (node/identity.py)."""

    from_node: int
    incarnation: int  # 0: a sender that predates incarnations
    state: int  # proto IdentityState
    about_receiver: int  # the incarnation the sender has on record for us; 0: none


BatchHandler = Callable[[BatchHeader, list[m.Message]], None]
UnreachableHandler = Callable[[int], None]
# peer id -> (our incarnation, our IdentityState, our record of the peer's incarnation)
HeaderSource = Callable[[int], tuple[int, int, int]]


def _no_identity(_peer: int) -> tuple[int, int, int]:
    return 0, 0, 0


class PeerLink:
    """The sending side of the stream to one peer. A batch is written at once when the
    connection can take it; otherwise it waits in a bounded queue."""

    def __init__(
        self,
        node_id: int,
        peer_id: int,
        address: str,
        on_unreachable: UnreachableHandler,
        credentials: Credentials,
        header: HeaderSource = _no_identity,
    ) -> None:
        self.node_id = node_id
        self.peer_id = peer_id
        self.address = address
        self.on_unreachable = on_unreachable
        self.credentials = credentials
        self.header = header
        self.refusal = ""  # the last handshake failure, logged once until it changes
        self.queue: deque[list[m.Message]] = deque()
        self.wakeup = asyncio.Event()
        self.stream: framing.FrameProtocol | None = None
        self.task: asyncio.Task | None = None

    @property
    def connected(self) -> bool:
        return self.stream is not None and not self.stream.closed

    def send(self, messages: list[m.Message]) -> None:
        stream = self.stream
        if not self.queue and stream is not None and not stream.closed and stream.writable.is_set():
            stream.send(self._encode([messages]))
            return
        if len(self.queue) >= MAX_QUEUED_BATCHES:
            self.queue.popleft()
            self.on_unreachable(self.peer_id)
        self.queue.append(messages)
        self.wakeup.set()

    def announce(self) -> None:
        """Send our header now, in an empty batch (when connected and writable)."""
        stream = self.stream
        if stream is not None and not stream.closed and stream.writable.is_set():
            stream.send(self._encode(()))

    def _encode(self, batches: list[list[m.Message]] | deque[list[m.Message]] | tuple[()]) -> bytes:
        incarnation, state, about_peer = self.header(self.peer_id)
        wire = pb.RaftBatch(
            from_node=self.node_id,
            from_incarnation=incarnation,
            from_state=state,  # type: ignore[arg-type]
            to_incarnation=about_peer,
        )
        for batch in batches:
            for message in batch:
                add_to_batch(wire, message)
        return wire.SerializeToString()

    async def run(self) -> None:
        while True:
            lost = asyncio.Event()
            try:
                stream = await framing.connect(
                    self.address,
                    CHANNEL_RAFT,
                    _ignore,
                    _setter(lost),
                    credentials=self.credentials,
                    expect_node=self.peer_id,
                )
            except (OSError, TimeoutError):
                stream = None
            except HandshakeError as error:
                stream = None
                if str(error) != self.refusal:
                    self.refusal = str(error)
                    log.warning("link to node %d (%s): %s", self.peer_id, self.address, error)
            if stream is not None:
                if self.refusal:
                    log.info("link to node %d (%s) accepted", self.peer_id, self.address)
                    self.refusal = ""
                self.stream = stream
                # The first batch says who we are and what we know of the peer, even with
                # no Raft message to carry: a new node learns from it whether it lost data.
                stream.send(self._encode(()))
                try:
                    await self._drain_queue(stream, lost)
                finally:
                    self.stream = None
                    stream.abort()
                log.info("stream to node %d (%s) broke", self.peer_id, self.address)
            # Batches queued while the stream was down are stale: Raft resends what matters.
            self.queue.clear()
            self.on_unreachable(self.peer_id)
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _drain_queue(self, stream: framing.FrameProtocol, lost: asyncio.Event) -> None:
        """Write what queued up while the connection was busy, until it is lost."""
        lost_wait = asyncio.ensure_future(lost.wait())
        try:
            while not lost.is_set():
                if self.queue and stream.writable.is_set():
                    queued, self.queue = self.queue, deque()
                    stream.send(self._encode(queued))
                    continue
                self.wakeup.clear()
                waits = {lost_wait, asyncio.ensure_future(self.wakeup.wait())}
                if not stream.writable.is_set():
                    waits.add(asyncio.ensure_future(stream.writable.wait()))
                _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    if task is not lost_wait:
                        task.cancel()
        finally:
            lost_wait.cancel()


def _is_address(text: str) -> bool:
    """A HOST:PORT a node could listen on (what a Hello says is checked before use)."""
    host, _, port = text.rpartition(":")
    return 0 < len(text) <= 300 and bool(host) and port.isdigit() and 0 < int(port) < 65536


def _ignore(_frame: bytes) -> None:
    pass


def _setter(event: asyncio.Event) -> Callable[[Exception | None], None]:
    return lambda _reason: event.set()


class RaftTransport:
    def __init__(
        self,
        node_id: int,
        peers: dict[int, str],
        on_batch: BatchHandler,
        on_unreachable: UnreachableHandler,
        credentials: Credentials,
        header: HeaderSource = _no_identity,
    ) -> None:
        self.node_id = node_id
        self.on_batch = on_batch
        self._link_args = (on_unreachable, credentials, header)
        self.links = {
            peer_id: PeerLink(node_id, peer_id, address, on_unreachable, credentials, header)
            for peer_id, address in peers.items()
            if peer_id != node_id
        }
        self.started = False
        # Fault injection for tests and chaos: peers whose traffic is dropped both ways.
        self.blocked_peers: set[int] = set()
        self.incoming: set[framing.FrameProtocol] = set()
        self.rejections = RejectionLog(REJECTION_LOG_S)
        self.rejected_batches = 0
        # A joining node (node --join) knows only the nodes of its cluster file; the metadata
        # group that would tell it the others may be led by one it does not know. Until the
        # map names them, a node that proved the secret and says where it listens is a peer.
        self.learn_peers = False

    def start(self) -> None:
        self.started = True
        for link in self.links.values():
            link.task = asyncio.get_running_loop().create_task(link.run())

    def add_peer(self, peer_id: int, address: str) -> None:
        """A node added to the cluster (node/elastic.py): a stream to it from now on."""
        if peer_id == self.node_id or peer_id in self.links:
            return
        link = PeerLink(self.node_id, peer_id, address, *self._link_args)
        self.links[peer_id] = link
        if self.started:
            link.task = asyncio.get_running_loop().create_task(link.run())

    async def stop(self) -> None:
        for link in self.links.values():
            if link.task is not None:
                link.task.cancel()
        for link in self.links.values():
            if link.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await link.task
        for stream in list(self.incoming):
            stream.abort()

    def send(self, outbox: dict[int, list[m.Message]]) -> None:
        for peer_id, messages in outbox.items():
            link = self.links.get(peer_id)
            if link is None or not messages or peer_id in self.blocked_peers:
                continue
            link.send(messages)

    def announce(self) -> None:
        """Tell every connected peer our header now (our identity state changed)."""
        for peer_id, link in self.links.items():
            if peer_id not in self.blocked_peers:
                link.announce()

    def accept(self, hello: pb.Hello) -> framing.FrameProtocol:
        """The protocol for the incoming stream of the node `hello` proved to be (node/
        listener.py hands it over after the handshake)."""
        peer = hello.node_id
        if self.learn_peers and peer not in self.links and _is_address(hello.address):
            log.info("learned node %d at %s from its link", peer, hello.address)
            self.add_peer(peer, hello.address)
        stream = framing.FrameProtocol(
            lambda frame: self._receive(frame, peer), lambda _: self.incoming.discard(stream)
        )
        self.incoming.add(stream)
        return stream

    def _receive(self, frame: bytes, peer: int) -> None:
        """One frame of `peer` (the node its connection proved to be): decoded, checked
        (node.raft.validate) and handed to `on_batch`, or dropped whole with a rate-limited
        warning. A frame in the name of another node closes the connection (raising does);
        nothing else a peer sends can stop the node or end the connection."""
        try:
            batch = pb.RaftBatch.FromString(frame)
        except DecodeError as error:
            self._drop(peer, Rejection("undecodable frame", str(error)))
            return
        sender = batch.from_node
        if sender != peer:
            raise framing.FrameError(f"node {peer} sent a batch in the name of node {sender}")
        if sender in self.blocked_peers:
            return
        if sender not in self.links:
            self._drop(sender, Rejection("unknown sender", f"node {sender} is not a peer"))
            return
        try:
            messages = [from_wire(wire) for wire in batch.messages]
        except ValueError as error:
            self._drop(sender, Rejection("undecodable message", str(error)))
            return
        rejection = check_batch(messages, sender, self.node_id)
        if rejection is not None:
            self._drop(sender, rejection)
            return
        header = BatchHeader(sender, batch.from_incarnation, batch.from_state, batch.to_incarnation)
        try:
            self.on_batch(header, messages)
        except Exception as error:
            # A bug, not the peer's doing (the batch passed validation): say so loudly, but
            # the other peers' traffic must go on.
            if self.rejections.admit(sender, "stepping failed", time.monotonic()) is not None:
                log.error(
                    "stepping a batch of %d messages from node %d failed: %r",
                    len(messages),
                    sender,
                    error,
                    exc_info=True,
                )

    def _drop(self, sender: int, rejection: Rejection) -> None:
        self.rejected_batches += 1
        left_out = self.rejections.admit(sender, rejection.reason, time.monotonic())
        if left_out is not None:
            log.warning(
                "dropped a Raft batch from node %d: %s%s",
                sender,
                rejection,
                f" ({left_out} more like it not logged)" if left_out else "",
            )
