"""What a stranger gets from a node port (node/listener.py): the server's nonce and then a
closed connection, whatever it sends; a bounded number of connections in the handshake, each
closed after a timeout; a memory bound before anything is authenticated. (Findings 4 and 6
of the hardening issue: a Kv frame sent straight to a node port ran commands, and a frame
header declaring 1 GiB made a node buffer what followed.)"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from node import listener as listener_module
from node.listener import NodeListener
from node.transport import RaftTransport
from proto import framing
from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from proto.handshake import (
    CHANNEL_KV,
    CHANNEL_RAFT,
    NONCE_BYTES,
    PREAMBLE_HANDSHAKE,
    ROLE_ROUTER,
    Refused,
)
from slotraft.local_cluster import free_port
from tests.support.auth import credentials, listen, node_credentials


class Recorder(asyncio.Protocol):
    """A channel's protocol that records whether anything reached it."""

    reached: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        Recorder.reached.append(data)


def kv_frame() -> bytes:
    request = pb.KvRequest(id=1, shard=0, kind=pb.COMMANDS, args=[b"SET", b"k", b"v"])
    request.arg_counts.append(3)
    payload = pb.KvBatch(requests=[request]).SerializeToString()
    return len(payload).to_bytes(4, "big") + payload


async def read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), 5)


@pytest.mark.parametrize(
    "what",
    [
        "old-kv-preamble",  # what used to run commands
        "http2",  # plain gRPC
        "huge-frame-header",  # 1 GiB declared
        "wrong-proof",  # the handshake's opening, then a made-up proof
    ],
)
def test_a_stranger_gets_the_nonce_at_most_and_reaches_nothing(what):
    async def scenario() -> None:
        Recorder.reached = []
        server, address = await listen({CHANNEL_KV: Recorder})
        reader, writer = await asyncio.open_connection(*address.split(":"))
        if what == "old-kv-preamble":
            writer.write(b"SRF1KV" + kv_frame())
        elif what == "http2":
            writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        elif what == "huge-frame-header":
            writer.write((1 << 30).to_bytes(4, "big") + bytes(1 << 20))
        else:
            writer.write(PREAMBLE_HANDSHAKE + bytes(NONCE_BYTES))
            nonce = await asyncio.wait_for(reader.readexactly(NONCE_BYTES), 5)
            assert len(nonce) == NONCE_BYTES
            writer.write(bytes(32) + (2).to_bytes(2, "big") + b"\x08\x01" + CHANNEL_KV)
            writer.write(kv_frame())
        try:
            said = await read_all(reader)
        except ConnectionError:  # reset: closed with nothing said
            said = b""
        assert said == b""
        assert Recorder.reached == []
        writer.close()
        await server.stop()

    asyncio.run(scenario())


def test_a_silent_connection_is_closed_after_the_handshake_timeout(monkeypatch):
    monkeypatch.setattr(listener_module, "HANDSHAKE_TIMEOUT_S", 0.2)

    async def scenario() -> None:
        server, address = await listen({})
        reader, writer = await asyncio.open_connection(*address.split(":"))
        writer.write(PREAMBLE_HANDSHAKE[:3])  # and then nothing
        assert await read_all(reader) == b""
        assert server.refusals.total == 1
        writer.close()
        await server.stop()

    asyncio.run(scenario())


def test_connections_in_the_handshake_are_bounded(monkeypatch):
    monkeypatch.setattr(listener_module, "MAX_HANDSHAKING", 3)

    async def scenario() -> None:
        server, address = await listen({})
        waiting = [await asyncio.open_connection(*address.split(":")) for _ in range(3)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection(*address.split(":"))
        assert await read_all(reader) == b""  # the fourth is closed at once
        assert len(server.handshaking) == 3
        for _, other in [*waiting, (reader, writer)]:
            other.close()
        await server.stop()

    asyncio.run(scenario())


def test_a_peer_with_the_secret_reaches_its_channel_and_one_without_does_not():
    async def scenario() -> None:
        frames: list[bytes] = []
        server, address = await listen({CHANNEL_KV: lambda: framing.FrameProtocol(frames.append)})
        stream = await framing.connect(
            address, CHANNEL_KV, lambda _: None, credentials=credentials()
        )
        stream.send(b"hello")
        for _ in range(100):
            if frames:
                break
            await asyncio.sleep(0.02)
        assert frames == [b"hello"]
        stream.abort()
        with pytest.raises(Exception, match=r"closed during the handshake"):
            await framing.connect(
                address,
                CHANNEL_KV,
                lambda _: None,
                credentials=credentials(secret=b"someone else's secret, guessed"),
            )
        await server.stop()

    asyncio.run(scenario())


def test_plain_grpc_to_a_node_port_fails():
    async def scenario() -> None:
        server, address = await listen({})
        async with grpc.aio.insecure_channel(address) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await pb_grpc.AdminStub(channel).Status(pb.StatusRequest(), timeout=2)
        await server.stop()

    asyncio.run(scenario())


def test_the_raft_channel_takes_nodes_only_and_each_speaks_for_itself_only():
    async def scenario() -> None:
        received: list[tuple] = []
        transport = RaftTransport(
            1,
            {1: "127.0.0.1:1", 2: "127.0.0.1:2"},
            lambda h, m: received.append((h, m)),
            lambda _: None,
            node_credentials(1),
        )
        me = node_credentials(1)
        listener = NodeListener({CHANNEL_RAFT: transport.accept}, "/nonexistent", me.key, me.me)
        address = f"127.0.0.1:{free_port()}"
        await listener.start(address)
        with pytest.raises(Refused, match="a router may not open the Raft channel"):
            await framing.connect(
                address, CHANNEL_RAFT, lambda _: None, credentials=credentials(role=ROLE_ROUTER)
            )
        closed = asyncio.Event()
        liar = await framing.connect(
            address,
            CHANNEL_RAFT,
            lambda _: None,
            lambda _: closed.set(),
            credentials=node_credentials(2),
        )
        liar.send(pb.RaftBatch(from_node=3).SerializeToString())
        await asyncio.wait_for(closed.wait(), 5)
        honest = await framing.connect(
            address, CHANNEL_RAFT, lambda _: None, credentials=node_credentials(2)
        )
        honest.send(pb.RaftBatch(from_node=2).SerializeToString())
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        assert [header.from_node for header, _ in received] == [2]
        honest.abort()
        await listener.stop()

    asyncio.run(scenario())
