"""Length-prefixed protobuf frames over a plain TCP stream: the hot paths between routers
and nodes (Kv) and between nodes (Raft).

Those two carry the messages of proto/slotraft.proto, but not through gRPC: grpc.aio
hands every stream event from its own threads to the event loop, and those thread hops
and context switches were the largest single cost of a node (measured on the 2-core CI
machine). Here a frame is a 4-byte big-endian length and the serialized message. The
connection opens with the handshake of proto/handshake.py, which proves the cluster secret
and names the channel; node/listener.py is the other end.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from typing import TypeVar, cast

from proto.credentials import Credentials
from proto.handshake import HANDSHAKE_TIMEOUT_S, ClientHandshake, HandshakeError
from proto.slotraft_pb2 import Hello

log = logging.getLogger("slotraft.framing")

# A frame may carry a whole proto-max-bulk-len value (512 MiB) with its request around it.
# The length is checked before anything is buffered for it; only peers that passed the
# handshake get this far.
MAX_FRAME_BYTES = (512 << 20) + (64 << 20)
# A connection whose buffer grew past this gives the memory back to the OS when it shrinks
# again (glibc keeps freed arenas otherwise: a peer that sent one huge frame would leave the
# process that much larger for good).
_TRIM_AFTER_BYTES = 16 << 20
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
    ) -> None:
        self.on_frame = on_frame
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.peak_buffer = 0
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
        if self.peak_buffer > _TRIM_AFTER_BYTES:
            self.buffer = bytearray()
            release_memory()
        self.writable.set()
        if self.on_close is not None:
            self.on_close(reason)


_P = TypeVar("_P", bound=asyncio.Protocol)


class _Handshaking(asyncio.Protocol):
    """A client connection until the node has answered the handshake."""

    def __init__(self, handshake: ClientHandshake) -> None:
        self.handshake = handshake
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[Hello] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.write(self.handshake.start())

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        try:
            answer = self.handshake.feed(data)
        except HandshakeError as error:
            self.done.set_exception(error)
            assert self.transport is not None
            self.transport.abort()
            return
        if isinstance(answer, Hello):
            assert self.transport is not None
            self.transport.pause_reading()  # the channel's protocol resumes it
            self.done.set_result(answer)
        elif answer:
            assert self.transport is not None
            self.transport.write(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"closed during the handshake: {exc}"))


async def open_channel(
    address: str,
    credentials: Credentials,
    channel: bytes,
    protocol: _P,
    expect_node: int = 0,
    timeout: float = HANDSHAKE_TIMEOUT_S,
) -> tuple[_P, Hello]:
    """Connect to the node at host:port, prove the cluster secret, open `channel` and hand
    the connection to `protocol`. Raises OSError/TimeoutError when unreachable, and
    HandshakeError (or its subclass Refused, which says what differs) when the node does
    not prove the secret or the two ends disagree."""
    host, _, port = address.rpartition(":")
    loop = asyncio.get_running_loop()
    handshake = ClientHandshake(credentials.key, credentials.me, channel, expect_node)
    transport, gate = await asyncio.wait_for(
        loop.create_connection(
            lambda: _Handshaking(handshake),
            host.strip("[]"),
            int(port),
            ssl=credentials.tls,
            # Names are not checked (proto/tls.py); OpenSSL still wants one for SNI.
            server_hostname="" if credentials.tls is not None else None,
            ssl_handshake_timeout=timeout if credentials.tls is not None else None,
        ),
        timeout,
    )
    try:
        hello = await asyncio.wait_for(asyncio.shield(gate.done), timeout)
    except BaseException:
        transport.abort()
        raise
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if handshake.rest:
        protocol.data_received(handshake.rest)
    transport.resume_reading()
    return protocol, hello


async def connect(
    address: str,
    channel: bytes,
    on_frame: Callable[[bytes], None],
    on_close: Callable[[Exception | None], None] | None = None,
    *,
    credentials: Credentials,
    expect_node: int = 0,
    timeout: float = 2.0,
) -> FrameProtocol:
    """Open a framed `channel` to the node at host:port (see `open_channel`)."""
    protocol, _ = await open_channel(
        address, credentials, channel, FrameProtocol(on_frame, on_close), expect_node, timeout
    )
    return protocol


def _malloc_trim() -> Callable[[], None]:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return lambda: None
    return lambda: trim(0)


release_memory = _malloc_trim()
