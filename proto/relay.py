"""Byte relays for gRPC over the node handshake.

gRPC cannot run our handshake (proto/handshake.py) itself, so its connections are relayed
at both ends. At the node, node/listener.py relays a connection that passed the handshake
on the gRPC channel to the node's gRPC server, which listens on a Unix socket. At the
caller, `GrpcDialer` gives gRPC a Unix socket per node address, in a directory only this
user can enter, and relays each connection made to it over a new connection that passed
the handshake. Only the handshake's key and Hello cross the network in the clear; the
relays add no framing of their own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import cast

from proto import framing
from proto.credentials import Credentials
from proto.handshake import CHANNEL_GRPC, HandshakeError

log = logging.getLogger("slotraft.relay")

# A relay reads no more from one side while this much waits to be written to the other.
RELAY_HIGH_WATER = 4 * 1024 * 1024


class Relay(asyncio.Protocol):
    """One side of a relayed connection: bytes from `peer` are written here. Bytes that
    arrive before the other side is connected wait in `pending` (reading pauses past
    RELAY_HIGH_WATER)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: Relay | None = None
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but the same interface.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=RELAY_HIGH_WATER)
        if self.pending:
            transport.writelines(self.pending)
            self.pending = []
            self.pending_bytes = 0
            peer = self.peer
            if peer is not None and peer.transport is not None:
                peer.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None:
            return
        if peer.transport is None:
            peer.pending.append(data)
            peer.pending_bytes += len(data)
            if peer.pending_bytes > RELAY_HIGH_WATER and self.transport is not None:
                self.transport.pause_reading()
        else:
            peer.transport.write(data)

    def eof_received(self) -> bool:
        peer = self.peer
        if peer is not None and peer.transport is not None and peer.transport.can_write_eof():
            peer.transport.write_eof()
            # A TLS transport closes at the end of its stream whatever is returned (and
            # asyncio warns when asked to stay open); the peer side then closes with it.
            return self.transport is not None and not _is_tls(self.transport)
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

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _is_tls(transport: asyncio.BaseTransport) -> bool:
    return transport.get_extra_info("sslcontext") is not None


def relay_pair() -> tuple[Relay, Relay]:
    one, other = Relay(), Relay()
    one.peer, other.peer = other, one
    return one, other


class GrpcDialer:
    """gRPC targets for nodes, through the handshake. `target(address)` gives the
    `unix:` address of a local socket relayed to that node; gRPC channels use it as they
    would the node's address. Runs on the event loop that calls `target`; `close` removes
    the sockets. `credentials` is called for each new connection (a router learns its
    cluster id from the first node it reaches)."""

    def __init__(self, credentials: Callable[[], Credentials]) -> None:
        self.credentials = credentials
        self.directory: Path | None = None
        self.servers: dict[tuple[str, int], asyncio.Server] = {}
        self.paths: dict[tuple[str, int], str] = {}
        self.tasks: set[asyncio.Task] = set()

    def target(self, address: str, expect_node: int = 0) -> str:
        """Call on the dialer's event loop. The socket is bound and listening when this
        returns (connections wait in its backlog until the loop accepts them)."""
        key = (address, expect_node)
        path = self.paths.get(key)
        if path is None:
            if self.directory is None:
                # mkdtemp makes it 0700: no other user can connect to the sockets.
                self.directory = Path(tempfile.mkdtemp(prefix="slotraft-grpc-"))
            path = str(self.directory / f"{len(self.paths)}.sock")
            listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listening.bind(path)
            listening.listen(128)
            listening.setblocking(False)
            loop = asyncio.get_running_loop()
            self.paths[key] = path
            self._track(loop.create_task(self._serve(listening, address, expect_node, key)))
        return f"unix:{path}"

    async def _serve(
        self, listening: socket.socket, address: str, expect_node: int, key: tuple[str, int]
    ) -> None:
        loop = asyncio.get_running_loop()
        self.servers[key] = await loop.create_unix_server(
            lambda: self._accepted(address, expect_node), sock=listening
        )

    def _track(self, task: asyncio.Task) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _accepted(self, address: str, expect_node: int) -> Relay:
        local, upstream = relay_pair()
        loop = asyncio.get_running_loop()

        async def open_upstream() -> None:
            try:
                await framing.open_channel(
                    address, self.credentials(), CHANNEL_GRPC, upstream, expect_node
                )
            except (OSError, TimeoutError, HandshakeError) as error:
                if isinstance(error, HandshakeError):
                    log.warning("gRPC link to %s refused: %s", address, error)
                local.abort()

        self._track(loop.create_task(open_upstream()))
        return local

    async def close(self) -> None:
        for server in self.servers.values():
            server.close()
        for task in list(self.tasks):
            task.cancel()
        self.servers.clear()
        self.paths.clear()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


class ThreadedGrpcDialer:
    """A GrpcDialer on an event loop of its own thread, for synchronous gRPC callers
    (`slotraft ctl`, tests): `target(address)` blocks until the socket exists."""

    def __init__(self, credentials: Credentials) -> None:
        self.loop = asyncio.new_event_loop()
        self.dialer = GrpcDialer(lambda: credentials)
        self.thread = threading.Thread(target=self._run, name="grpc-dialer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def target(self, address: str, expect_node: int = 0, timeout: float = 10.0) -> str:
        async def on_loop() -> str:
            return self.dialer.target(address, expect_node)

        return asyncio.run_coroutine_threadsafe(on_loop(), self.loop).result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self.dialer.close(), self.loop)
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            future.result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()

    def __enter__(self) -> ThreadedGrpcDialer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
