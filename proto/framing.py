"""Length-prefixed protobuf frames over a plain TCP stream: the hot paths between routers
and nodes (Kv) and between nodes (Raft).

Those two carry the messages of proto/slotraft.proto, but not through gRPC: grpc.aio
hands every stream event from its own threads to the event loop, and those thread hops
and context switches were the largest single cost of a node (measured on the 2-core CI
machine). Here a frame is a 4-byte big-endian length and the serialized message; the
connection opens with a 6-byte preamble naming the channel (`PREAMBLE_*`), so that the
node's one port can tell it from gRPC's HTTP/2 preface (node/listener.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

PREAMBLE_LENGTH = 6
PREAMBLE_RAFT = b"SRF1RA"  # node -> node: RaftBatch frames, nothing back
PREAMBLE_KV = b"SRF1KV"  # router -> node: KvBatch frames; node -> router: KvReplyBatch frames
HTTP2_PREFACE_START = b"PRI * "
MAX_FRAME_BYTES = 1 << 30  # what gRPC allowed these messages
_HEADER = 4
_EMPTY_FRAME = bytes(_HEADER)
# Reading pauses while this much written data waits for the peer: a slow reader slows the
# writer instead of growing its memory.
WRITE_HIGH_WATER = 8 * 1024 * 1024
# Each side sends an empty frame every KEEPALIVE_S and gives the connection up when nothing
# arrived for KEEPALIVE_TIMEOUT_S: a peer that is paused, or behind a partition that drops
# packets, is noticed (TCP alone would retransmit into the void for minutes).
KEEPALIVE_S = 0.5
KEEPALIVE_TIMEOUT_S = 2.0


class FrameError(Exception):
    """The peer broke the framing: the connection is closed."""


class FrameProtocol(asyncio.Protocol):
    """One framed connection. `on_frame` gets each frame's payload in order, `on_close`
    the reason once the connection is gone (None for an orderly close)."""

    def __init__(
        self,
        on_frame: Callable[[bytes], None],
        on_close: Callable[[Exception | None], None] | None = None,
        preamble: bytes = b"",
    ) -> None:
        self.on_frame = on_frame
        self.on_close = on_close
        self.preamble = preamble
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.writable = asyncio.Event()
        self.writable.set()
        self.last_received = 0.0
        self.keepalive_timer: asyncio.TimerHandle | None = None
        self.loop: asyncio.AbstractEventLoop  # set by connection_made

    # ------------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but the same interface.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if self.preamble:
            transport.write(self.preamble)
        # Kept: get_running_loop costs a getpid system call on every call.
        self.loop = loop = asyncio.get_running_loop()
        self.last_received = loop.time()
        self.keepalive_timer = loop.call_later(KEEPALIVE_S, self._keepalive)

    def _keepalive(self) -> None:
        if self.closed or self.transport is None:
            return
        loop = self.loop
        if loop.time() - self.last_received > KEEPALIVE_TIMEOUT_S:
            self.abort(TimeoutError(f"nothing received for {KEEPALIVE_TIMEOUT_S:.0f} s"))
            return
        self.transport.write(_EMPTY_FRAME)
        self.keepalive_timer = loop.call_later(KEEPALIVE_S, self._keepalive)

    def data_received(self, data: bytes) -> None:
        self.last_received = self.loop.time()
        buffer = self.buffer
        buffer += data
        offset = 0
        end = len(buffer)
        try:
            while end - offset >= _HEADER:
                size = int.from_bytes(buffer[offset : offset + _HEADER], "big")
                if size > MAX_FRAME_BYTES:
                    raise FrameError(f"frame of {size} bytes is over the limit")
                if end - offset - _HEADER < size:
                    break
                start = offset + _HEADER
                offset = start + size
                if size:  # empty frames are keepalives
                    self.on_frame(bytes(buffer[start:offset]))
                if self.closed:
                    return
        except Exception as error:  # a bad frame or a handler failure ends this connection
            self.abort(error)
            return
        del buffer[:offset]

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc)

    # ------------------------------------------------------------------ use

    def send(self, payload: bytes) -> None:
        if self.transport is None or self.closed:
            return
        self.transport.writelines((len(payload).to_bytes(_HEADER, "big"), payload))

    def _stop_keepalive(self) -> None:
        if self.keepalive_timer is not None:
            self.keepalive_timer.cancel()
            self.keepalive_timer = None

    def abort(self, reason: Exception | None = None) -> None:
        transport = None if self.closed else self.transport
        self._finish(reason)  # first: `on_close` hears this reason, not the transport's
        if transport is not None:
            transport.abort()

    def _finish(self, reason: Exception | None) -> None:
        """The connection is gone: tell `on_close` once."""
        self._stop_keepalive()
        if self.closed:
            return
        self.closed = True
        self.writable.set()
        if self.on_close is not None:
            self.on_close(reason)


async def connect(
    address: str,
    preamble: bytes,
    on_frame: Callable[[bytes], None],
    on_close: Callable[[Exception | None], None] | None = None,
    timeout: float = 2.0,
) -> FrameProtocol:
    """Open a framed connection to host:port and send the channel's preamble."""
    host, _, port = address.rpartition(":")
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(
            lambda: FrameProtocol(on_frame, on_close, preamble), host.strip("[]"), int(port)
        ),
        timeout,
    )
    return protocol
