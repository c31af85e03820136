"""TCP proxies that carry node-to-node Raft traffic, one per ordered node pair, so that
links can be cut without root: node A reaches node B only through the proxy "A->B"
(A's `--peer B=HOST:PORT`). Cutting A->B drops what A sends to B (one-way); cutting both
directions is a symmetric partition.

A cut closes the established connections of the link and blackholes new ones: they are
accepted, whatever arrives is discarded, nothing is forwarded, as when packets are
dropped. Healing closes the blackholed connections so that the sender reconnects at once.

The proxies run on their own asyncio event loop in a background thread of the chaos
process; the methods of ProxyNetwork may be called from any other thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

Link = tuple[int, int]  # (from node, to node)
_CHUNK = 1 << 16
T = TypeVar("T")


class LinkProxy:
    def __init__(self, link: Link, upstream: tuple[str, int], record: bool = False) -> None:
        self.link = link
        self.upstream = upstream
        # Every byte forwarded, both ways (tests look for plaintext on the wire).
        self.recorded: bytearray | None = bytearray() if record else None
        self.cut = False
        self.forwarding: set[asyncio.StreamWriter] = set()
        self.blackholed: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self, host: str) -> int:
        self.server = await asyncio.start_server(self._accept, host, 0)
        return self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            await self._blackhole(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()  # the peer is down: the sender sees a refused stream
            return
        if self.cut:  # cut while connecting
            up_writer.transport.abort()
            await self._blackhole(reader, writer)
            return
        self.forwarding |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.forwarding -= {writer, up_writer}
            writer.transport.abort()
            up_writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(_CHUNK):
                if self.recorded is not None:
                    self.recorded += data
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _blackhole(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.blackholed.add(writer)
        try:
            with contextlib.suppress(OSError):
                while await reader.read(_CHUNK):
                    pass
        finally:
            self.blackholed.discard(writer)
            writer.transport.abort()

    def set_cut(self, cut: bool) -> None:
        self.cut = cut
        doomed = self.forwarding if cut else self.blackholed
        for writer in list(doomed):
            writer.transport.abort()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in [*self.forwarding, *self.blackholed]:
            writer.transport.abort()


class ProxyNetwork:
    def __init__(self, host: str = "127.0.0.1", record: bool = False) -> None:
        self.host = host
        self.record = record
        self.proxies: dict[Link, LinkProxy] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxies", daemon=True)
        self.thread.start()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def add(self, link: Link, upstream: tuple[str, int]) -> int:
        """Start the proxy of one link; returns the port the sending node must dial."""
        proxy = LinkProxy(link, upstream, self.record)
        self.proxies[link] = proxy
        return self._run(proxy.start(self.host))

    def cut(self, links: Iterable[Link]) -> None:
        self._set(set(links), True)

    def heal(self, links: Iterable[Link] | None = None) -> None:
        self._set(set(self.proxies) if links is None else set(links), False)

    def _set(self, links: set[Link], cut: bool) -> None:
        async def apply() -> None:
            for link in links:
                self.proxies[link].set_cut(cut)

        self._run(apply())

    def recorded(self) -> bytes:
        """Everything the proxies forwarded so far (with `record`)."""

        async def collect() -> bytes:
            return b"".join(bytes(p.recorded or b"") for p in self.proxies.values())

        return self._run(collect())

    def cut_links(self) -> set[Link]:
        return {link for link, proxy in self.proxies.items() if proxy.cut}

    def close(self) -> None:
        async def close_all() -> None:
            for proxy in self.proxies.values():
                await proxy.close()

        with contextlib.suppress(Exception):
            self._run(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
