"""Length-prefixed frames (proto/framing.py): split and merged reads, keepalives, limits,
and a real loopback connection that notices a silent peer."""

from __future__ import annotations

import asyncio

import pytest

from proto import framing
from proto.handshake import CHANNEL_KV
from tests.support.auth import credentials, listen

TOOL = credentials()


class FakeTransport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.aborted = False

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.written += data

    def writelines(self, parts) -> None:
        for part in parts:
            self.written += part

    def abort(self) -> None:
        self.aborted = True


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def attached(frames: list[bytes], closes: list) -> tuple[framing.FrameProtocol, FakeTransport]:
    protocol = framing.FrameProtocol(frames.append, closes.append)
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport


def test_frames_split_across_reads_and_merged_in_one_read_come_out_whole():
    async def scenario() -> None:
        frames: list[bytes] = []
        protocol, _ = attached(frames, [])
        stream = frame(b"first") + frame(b"") + frame(b"x" * 70_000) + frame(b"last")
        for byte in stream[:9]:  # one byte at a time
            protocol.data_received(bytes([byte]))
        protocol.data_received(stream[9:])
        assert frames == [b"first", b"x" * 70_000, b"last"]  # the empty frame is a keepalive
        assert protocol.buffer == bytearray()

    asyncio.run(scenario())


def test_send_writes_length_and_payload():
    async def scenario() -> None:
        protocol = framing.FrameProtocol(lambda _: None)
        transport = FakeTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.send(b"abc")
        assert bytes(transport.written) == frame(b"abc")
        protocol.abort()
        protocol.send(b"dropped")  # after close: nothing, no error
        assert bytes(transport.written) == frame(b"abc")

    asyncio.run(scenario())


def test_a_frame_over_the_limit_closes_the_connection_before_its_body_arrives():
    async def scenario() -> None:
        frames: list[bytes] = []
        closes: list = []
        protocol, transport = attached(frames, closes)
        protocol.data_received((framing.MAX_FRAME_BYTES + 1).to_bytes(4, "big"))
        assert transport.aborted and protocol.closed
        assert isinstance(closes[0], framing.FrameError)
        protocol.data_received(frame(b"after"))  # ignored: the connection is gone
        assert frames == []

    asyncio.run(scenario())


def test_a_handler_that_fails_closes_only_its_connection():
    async def scenario() -> None:
        closes: list = []

        def handler(payload: bytes) -> None:
            raise ValueError("not a message")

        protocol = framing.FrameProtocol(handler, closes.append)
        transport = FakeTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(frame(b"garbage"))
        assert transport.aborted
        assert isinstance(closes[0], ValueError)
        assert len(closes) == 1
        protocol.connection_lost(None)  # the transport's own report comes later: no second
        assert len(closes) == 1

    asyncio.run(scenario())


def test_over_loopback_frames_flow_both_ways_and_a_silent_peer_is_dropped(monkeypatch):
    monkeypatch.setattr(framing, "KEEPALIVE_S", 0.05)
    monkeypatch.setattr(framing, "KEEPALIVE_TIMEOUT_S", 0.3)

    async def scenario() -> None:
        server_frames: list[bytes] = []
        accepted: list[framing.FrameProtocol] = []

        def accept() -> framing.FrameProtocol:
            protocol = framing.FrameProtocol(server_frames.append)
            accepted.append(protocol)
            return protocol

        server, address = await listen({CHANNEL_KV: accept})
        client_frames: list[bytes] = []
        lost = asyncio.Event()
        client = await framing.connect(
            address, CHANNEL_KV, client_frames.append, lambda _: lost.set(), credentials=TOOL
        )
        client.send(b"ping")
        while not server_frames:
            await asyncio.sleep(0.01)
        accepted[0].send(b"pong")
        while not client_frames:
            await asyncio.sleep(0.01)
        assert server_frames == [b"ping"] and client_frames == [b"pong"]
        # Keepalives hold an idle connection open past the timeout...
        await asyncio.sleep(0.6)
        assert not client.closed and not lost.is_set()
        # ...and a peer that stops answering (here: a server that never speaks) is dropped.
        silent, silent_address = await listen({CHANNEL_KV: asyncio.Protocol})
        gone = asyncio.Event()
        quiet = await framing.connect(
            silent_address, CHANNEL_KV, lambda _: None, lambda _: gone.set(), credentials=TOOL
        )
        await asyncio.wait_for(gone.wait(), 5)
        assert quiet.closed
        client.abort()
        await server.stop()
        await silent.stop()

    asyncio.run(scenario())


def test_connect_to_a_closed_port_raises():
    async def scenario() -> None:
        probe = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        with pytest.raises(OSError):
            await framing.connect(f"127.0.0.1:{port}", CHANNEL_KV, lambda _: None, credentials=TOOL)

    asyncio.run(scenario())
