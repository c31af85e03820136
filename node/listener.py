"""The node's one port: framed Raft and Kv streams, and gRPC for everything else.

Every node is known by one address (the cluster description's `raft_address`). The hot
streams (Raft between nodes, Kv from routers) are framed protobuf over TCP
(proto/framing.py); Admin, pub/sub and operator tools speak gRPC. Every connection first
passes the handshake of proto/handshake.py (it proves the cluster secret, and names its
channel); a gRPC connection's bytes are then relayed to the node's gRPC server, which
listens on a Unix socket in a directory only the node's user can enter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import cast

from proto.handshake import (
    CHANNEL_GRPC,
    HANDSHAKE_TIMEOUT_S,
    Accepted,
    HandshakeError,
    Peer,
    Refused,
    ServerHandshake,
)
from proto.relay import relay_pair
from proto.slotraft_pb2 import Hello

log = logging.getLogger("slotraft.listener")

# Makes the protocol of an accepted channel, given what the peer proved it is.
ChannelFactory = Callable[[Hello], asyncio.Protocol]
# Connections still in the handshake at once; more are closed at once (each holds at most
# MAX_HANDSHAKE_BYTES until it proves the secret or times out).
MAX_HANDSHAKING = 256


class _Gate(asyncio.Protocol):
    """A new connection until it has passed the handshake; then it is handed to the protocol
    of the channel it named. Before that, nothing but the server's nonce is sent, and
    anything that does not fit closes the connection."""

    def __init__(self, listener: NodeListener) -> None:
        self.listener = listener
        self.handshake = ServerHandshake(listener.key, listener.me, listener.nodes)
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but the same interface.
        self.transport = cast(asyncio.Transport, transport)
        self.peer = _peer_name(transport)
        listener = self.listener
        if len(listener.handshaking) >= MAX_HANDSHAKING:
            listener.refusals.note(self.peer, "too many connections in the handshake")
            self.transport.abort()
            return
        listener.handshaking.add(self)
        self.timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT_S, self._silent)

    def _silent(self) -> None:
        self._reject(f"no handshake within {HANDSHAKE_TIMEOUT_S:.0f} s")

    def _reject(self, reason: str, reply: bytes = b"") -> None:
        self.listener.refusals.note(self.peer, reason)
        self._leave()
        if self.transport is not None:
            if reply:
                self.transport.write(reply)
                self.transport.close()  # after the signed refusal is written
            else:
                self.transport.abort()

    def _leave(self) -> None:
        self.listener.handshaking.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        try:
            outcome = self.handshake.feed(data)
        except Refused as refusal:
            self._reject(f"refused: {refusal}", self.handshake.refusal_reply)
            return
        except HandshakeError as error:
            self._reject(str(error))
            return
        if isinstance(outcome, Accepted):
            self._leave()
            self._open(outcome)
        elif outcome:
            self.transport.write(outcome)

    def _open(self, accepted: Accepted) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(accepted.reply)
        if accepted.channel == CHANNEL_GRPC:
            self._relay_to_grpc(accepted.rest)
            return
        factory = self.listener.handlers.get(accepted.channel)
        if factory is None:
            self._reject(f"channel {accepted.channel!r} is not served here")
            return
        self._hand_over(factory(accepted.hello), accepted.rest)

    def _hand_over(self, protocol: asyncio.Protocol, rest: bytes) -> None:
        transport = self.transport
        assert transport is not None
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if rest:
            protocol.data_received(rest)

    def _relay_to_grpc(self, rest: bytes) -> None:
        client_side, server_side = relay_pair()
        if rest:
            server_side.pending.append(rest)
        self._hand_over(client_side, b"")
        loop = asyncio.get_running_loop()

        async def open_upstream() -> None:
            try:
                await loop.create_unix_connection(lambda: server_side, self.listener.grpc_socket)
            except OSError:
                if client_side.transport is not None:
                    client_side.transport.abort()

        self.listener.track(loop.create_task(open_upstream()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._leave()


def _peer_name(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


class RefusalLog:
    """Refused connections, logged at most once per interval (a flood of bad connections
    must not flood the log) with a count of those not shown."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self.last_logged = -interval_s
        self.unlogged = 0
        self.total = 0

    def note(self, peer: str, reason: str) -> None:
        self.total += 1
        now = time.monotonic()
        if now - self.last_logged < self.interval_s:
            self.unlogged += 1
            return
        more = f" ({self.unlogged} more refused since the last report)" if self.unlogged else ""
        log.warning("refused a connection from %s: %s%s", peer, reason, more)
        self.last_logged = now
        self.unlogged = 0


class NodeListener:
    """Accepts on the node's address; `handlers` maps a channel (proto/handshake.py) to a
    factory of the protocol that serves it; gRPC connections are relayed to the node's gRPC
    server on the Unix socket `grpc_socket`. `key`, `me` and `nodes` are the handshake's:
    the cluster key, what this node says of itself, the node ids of the cluster."""

    def __init__(
        self,
        handlers: dict[bytes, ChannelFactory],
        grpc_socket: str,
        key: bytes,
        me: Peer,
        nodes: frozenset[int] = frozenset(),
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.handlers = handlers
        self.grpc_socket = grpc_socket
        self.key = key
        self.me = me
        self.nodes = nodes
        # Mutual TLS with the cluster CA (proto/tls.py): a connection that does not
        # present a certificate the CA signed never reaches the handshake.
        self.tls = tls
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task] = set()
        self.handshaking: set[_Gate] = set()
        self.refusals = RefusalLog()

    def track(self, task: asyncio.Task) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def start(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.server = await asyncio.get_running_loop().create_server(
            lambda: _Gate(self),
            host.strip("[]"),
            int(port),
            reuse_address=True,
            ssl=self.tls,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S if self.tls is not None else None,
        )

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)
        for task in list(self.tasks):
            task.cancel()
