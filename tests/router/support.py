"""Helpers for the router tests: a session driven in-process over a fake transport, and
a router server running in a background thread for real clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Self

import hiredis
import uvloop

from router.config import RouterConfig
from router.connection import ClientState
from router.context import RouterContext
from router.server import RouterServer
from router.session import Session
from slotraft.local_backend import LocalBackend


def pack(*args: bytes | str | int) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def parse_replies(data: bytes) -> list[Any]:
    reader = hiredis.Reader()
    reader.feed(data)
    out = []
    while (reply := reader.gets()) is not False:
        out.append(reply)
    return out


class FakeTransport:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False
        self.reading_paused = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.data += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False


class Client:
    """One in-process connection to a router context: send bytes, get the reply bytes."""

    def __init__(self, ctx: RouterContext) -> None:
        self.ctx = ctx
        self.transport = FakeTransport()
        state = ClientState(
            id=ctx.next_client_id(),
            addr=f"127.0.0.1:{40000 + len(ctx.clients)}",
            laddr="127.0.0.1:6379",
            fd=-1,
            created=0.0,
            authenticated=not ctx.requires_auth,
        )
        self.session = Session(ctx, state, self.transport)
        ctx.clients[state.id] = self.session
        self._read = 0

    async def raw(self, data: bytes, settle: float = 5.0) -> bytes:
        """Send bytes; wait until the session has nothing left to do; the bytes written."""
        self.session.feed(data)
        async with asyncio.timeout(settle):
            while self.session.running:
                await asyncio.sleep(0)
        out = bytes(self.transport.data[self._read :])
        self._read = len(self.transport.data)
        return out

    async def call(self, *args: bytes | str | int) -> Any:
        (reply,) = parse_replies(await self.raw(pack(*args)))
        return reply

    async def pipeline(self, *commands: tuple) -> list[Any]:
        return parse_replies(await self.raw(b"".join(pack(*c) for c in commands)))

    def close(self) -> None:
        self.session.connection_lost()
        self.ctx.clients.pop(self.session.client.id, None)


def context(shards: int = 3, **config: Any) -> tuple[RouterContext, LocalBackend]:
    backend = LocalBackend(shards)
    return RouterContext(RouterConfig(port=0, **config), backend), backend


class RouterThread:
    """A router server on a free port, its uvloop event loop in a thread (as in production),
    for clients running in the test's thread."""

    def __init__(self, shards: int = 3, **config: Any) -> None:
        self.backend = LocalBackend(shards)
        self.server = RouterServer(RouterConfig(port=0, **config), self.backend)
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        self.port = self.run(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def run(self, coroutine: Coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    @property
    def ctx(self) -> RouterContext:
        return self.server.ctx
