"""The node's one port: framed Raft and Kv streams, and gRPC for everything else.

Every node is known by one address (the cluster description's `raft_address`). The hot
streams (Raft between nodes, Kv from routers) are framed protobuf over TCP
(proto/framing.py); Admin, pub/sub and operator tools speak gRPC. A connection says which
it is in its first bytes: a framing preamble, or HTTP/2's preface, in which case its bytes
are relayed to the node's gRPC server on a private loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import cast

from proto import framing

log = logging.getLogger("slotraft.listener")

FrameHandlerFactory = Callable[[], framing.FrameProtocol]
# A connection that has not said what it is within this time is closed.
IDENTIFY_TIMEOUT_S = 10.0
# A relay reads no more from one side while this much waits to be written to the other.
RELAY_HIGH_WATER = 4 * 1024 * 1024


class _Relay(asyncio.Protocol):
    """One direction-pair of a relayed connection: bytes from `peer` are written here."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Relay | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but the same interface.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=RELAY_HIGH_WATER)
        if self.pending:
            transport.writelines(self.pending)
            self.pending = []

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None:
            return
        if peer.transport is None:
            peer.pending.append(data)
        else:
            peer.transport.write(data)

    def eof_received(self) -> bool:
        peer = self.peer
        if peer is not None and peer.transport is not None and peer.transport.can_write_eof():
            peer.transport.write_eof()
            return True
        return False

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        peer, self.peer = self.peer, None
        if peer is not None:
            peer.peer = None
            if peer.transport is not None:
                peer.transport.close()


class _Sniffer(asyncio.Protocol):
    """Reads a connection's first bytes, then hands the connection to the protocol they name."""

    def __init__(self, listener: NodeListener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but the same interface.
        self.transport = cast(asyncio.Transport, transport)
        self.timer = asyncio.get_running_loop().call_later(IDENTIFY_TIMEOUT_S, self._silent)

    def _silent(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.head += data
        if len(self.head) < framing.PREAMBLE_LENGTH:
            return
        transport = self.transport
        assert transport is not None
        if self.timer is not None:
            self.timer.cancel()
        preamble, rest = self.head[: framing.PREAMBLE_LENGTH], self.head[framing.PREAMBLE_LENGTH :]
        factory = self.listener.handlers.get(preamble)
        if factory is not None:
            self._hand_over(factory(), rest)
        elif preamble.startswith(framing.HTTP2_PREFACE_START):
            self._relay_to_grpc(self.head)
        else:
            log.warning("closing a connection that speaks neither gRPC nor slotraft framing")
            transport.abort()

    def _hand_over(self, protocol: asyncio.Protocol, rest: bytes) -> None:
        transport = self.transport
        assert transport is not None
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if rest:
            protocol.data_received(rest)

    def _relay_to_grpc(self, head: bytes) -> None:
        client_side = _Relay()
        server_side = _Relay()
        client_side.peer, server_side.peer = server_side, client_side
        server_side.pending.append(head)
        self._hand_over(client_side, b"")
        loop = asyncio.get_running_loop()

        async def open_upstream() -> None:
            try:
                await loop.create_connection(
                    lambda: server_side, "127.0.0.1", self.listener.grpc_port
                )
            except OSError:
                if client_side.transport is not None:
                    client_side.transport.abort()

        self.listener.track(loop.create_task(open_upstream()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.timer is not None:
            self.timer.cancel()


class NodeListener:
    """Accepts on the node's address; `handlers` maps a framing preamble to a factory of the
    protocol that serves that channel."""

    def __init__(self, handlers: dict[bytes, FrameHandlerFactory], grpc_port: int) -> None:
        self.handlers = handlers
        self.grpc_port = grpc_port
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task] = set()

    def track(self, task: asyncio.Task) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def start(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.server = await asyncio.get_running_loop().create_server(
            lambda: _Sniffer(self), host.strip("[]"), int(port), reuse_address=True
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)
        for task in list(self.tasks):
            task.cancel()
