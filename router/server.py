"""The router's asyncio server: one Session per client connection."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import time
from typing import cast

from proto.errors import DENIED_PROTECTED_MODE, MAX_CLIENTS
from router import client_ops, cron, tls
from router.backend import Backend
from router.config import RouterConfig
from router.connection import ClientState
from router.context import RouterContext
from router.replication_commands import stop_background_saves
from router.replies import error
from router.router_registry import default_announce
from router.session import Session

log = logging.getLogger("slotraft.router")

# A client on the TLS port has this long to complete the TLS handshake.
TLS_HANDSHAKE_TIMEOUT_S = 10.0


class RouterProtocol(asyncio.Protocol):
    __slots__ = ("ctx", "session")

    def __init__(self, ctx: RouterContext) -> None:
        self.ctx = ctx
        self.session: Session | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream server's protocol is given a Transport; asyncio types the parameter as
        # the base class of all transports.
        stream = cast(asyncio.Transport, transport)
        ctx = self.ctx
        if len(ctx.clients) >= ctx.config.max_clients:
            ctx.stats.rejected_connections += 1
            stream.write(error(MAX_CLIENTS))
            stream.close()
            return
        peer = stream.get_extra_info("peername")
        if ctx.config.protected_mode and not ctx.requires_auth and not _is_loopback(peer):
            ctx.stats.rejected_connections += 1
            stream.write(error(DENIED_PROTECTED_MODE))
            stream.close()
            return
        ctx.stats.connections_received += 1
        now = time.monotonic()
        sock = stream.get_extra_info("socket")
        client = ClientState(
            id=ctx.next_client_id(),
            addr=_address(peer),
            laddr=_address(stream.get_extra_info("sockname")),
            fd=sock.fileno() if sock is not None else -1,
            created=now,
            last_interaction=now,
            authenticated=not ctx.requires_auth,
        )
        self.session = Session(ctx, client, stream)
        ctx.clients[client.id] = self.session

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.feed(data)

    def eof_received(self) -> bool:
        # Keep the transport open to answer the commands already received; the session
        # closes it when done.
        if self.session is not None:
            self.session.eof_received()
        return True

    def pause_writing(self) -> None:
        if self.session is not None:
            self.session.pause_writing()

    def resume_writing(self) -> None:
        if self.session is not None:
            self.session.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        session = self.session
        if session is not None:
            session.connection_lost()
            self.ctx.clients.pop(session.client.id, None)
            self.session = None


def _is_loopback(peer: object) -> bool:
    """A TCP peer on the loopback interface, or a Unix socket peer (as Redis counts it)."""
    if not (isinstance(peer, tuple) and peer and isinstance(peer[0], str)):
        return True  # Unix sockets: no address
    try:
        address = ipaddress.ip_address(peer[0].split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _address(name: object) -> str:
    if isinstance(name, tuple) and len(name) >= 2:
        host = name[0]
        return f"[{host}]:{name[1]}" if ":" in host else f"{host}:{name[1]}"
    return str(name or "")


class RouterServer:
    """Listens on config.host:config.port (0 picks a free port) and serves clients."""

    def __init__(
        self, config: RouterConfig, backend: Backend, rng: random.Random | None = None
    ) -> None:
        self.ctx = RouterContext(config, backend, rng)
        self._server: asyncio.base_events.Server | None = None
        self._tls_server: asyncio.base_events.Server | None = None
        self._cron: asyncio.Task | None = None
        self._join: asyncio.Task | None = None  # a CLIENT PAUSE under way elsewhere

    @property
    def port(self) -> int:
        return self.ctx.port

    async def start(self) -> int:
        """Start listening; returns the port."""
        loop = asyncio.get_running_loop()
        config = self.ctx.config
        self._server = await loop.create_server(
            lambda: RouterProtocol(self.ctx),
            config.host,
            config.port,
            backlog=4096,
            reuse_address=True,
        )
        self.ctx.port = self._server.sockets[0].getsockname()[1]
        await self._start_tls(loop)
        self._cron = loop.create_task(cron.run(self.ctx), name="router-cron")
        self.ctx.bus.start()  # the other routers' CLIENT requests, MONITOR notices
        self._join = loop.create_task(client_ops.join_pause(self.ctx), name="join-pause")
        log.info("router listening on %s:%d", config.host, self.ctx.port)
        announce = config.announce or default_announce(config.host, self.ctx.port)
        if announce is None:
            log.warning(
                "listening on a wildcard address without --announce: the other routers will "
                "not list this one in CLUSTER SLOTS"
            )
        else:
            self.ctx.announce = announce
            self.ctx.backend.announce(announce, tls.announced_tls_port(self.ctx.config))
        return self.ctx.port

    async def _start_tls(self, loop: asyncio.AbstractEventLoop) -> None:
        """Redis's tls-port: the same service over TLS. A client that does not complete a
        TLS handshake (plaintext RESP, a certificate the CA did not sign when
        tls-auth-clients is yes) is disconnected before it has a session."""
        context = tls.client_context(self.ctx.config)
        if context is None:
            return
        config = self.ctx.config
        self._tls_server = await loop.create_server(
            lambda: RouterProtocol(self.ctx),
            config.host,
            tls.tls_port(config),
            backlog=4096,
            reuse_address=True,
            ssl=context,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S,
        )
        log.info("router listening for TLS on %s:%d", config.host, tls.tls_port(config))

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening and close every client connection."""
        await stop_background_saves(self.ctx)
        if self._join is not None:
            self._join.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._join
        if self._cron is not None:
            self._cron.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cron
            self._cron = None
        if self._server is not None:
            self._server.close()
        if self._tls_server is not None:
            self._tls_server.close()
            self._tls_server = None
        for handle in list(self.ctx.clients.values()):
            handle.kill()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        # Let the transports deliver their connection_lost callbacks.
        for _ in range(3):
            await asyncio.sleep(0)
