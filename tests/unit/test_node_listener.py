"""The node's one port (node/listener.py) with the Raft transport (node/transport.py) over
loopback: framed Raft batches reach the peer, a restarted peer is reconnected to, blocked
peers are dropped, gRPC calls are relayed to the node's private gRPC server, and a
connection that speaks neither is closed."""

from __future__ import annotations

import asyncio
import shutil
import tempfile

import grpc
import pytest

from node.listener import NodeListener
from node.raft.messages import Heartbeat
from node.transport import RECONNECT_DELAY_S, BatchHeader, RaftTransport
from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from proto.handshake import CHANNEL_RAFT
from proto.relay import GrpcDialer
from slotraft.local_cluster import free_port
from tests.support.auth import credentials, listen, node_credentials


class HealthOnly(pb_grpc.AdminServicer):
    async def Health(self, request, context):
        return pb.HealthReply(serving=True, detail="relayed")


async def until(check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


class Peer:
    """A node's transport behind its own listener, as node/main.py wires them."""

    def __init__(self, node_id: int, addresses: dict[int, str]) -> None:
        self.received: list[tuple[int, list]] = []
        self.unreachable: list[int] = []
        self.address = addresses[node_id]
        self.node_id = node_id
        self.transport = RaftTransport(
            node_id,
            addresses,
            self._received,
            self.unreachable.append,
            node_credentials(node_id),
        )
        self.listener: NodeListener | None = None

    def _received(self, header: BatchHeader, messages: list) -> None:
        if messages:  # not the empty batch each stream starts with
            self.received.append((header.from_node, messages))

    async def listen(self) -> None:
        self.listener, _ = await listen(
            {CHANNEL_RAFT: lambda: self.transport.accept(pb.Hello(node_id=3 - self.node_id))},
            self.node_id,
            address=self.address,
        )

    async def close_listener(self) -> None:
        assert self.listener is not None
        await self.listener.stop()
        for stream in list(self.transport.incoming):
            stream.abort()


def heartbeat(src: int, dst: int, term: int) -> Heartbeat:
    return Heartbeat(group=3, src=src, dst=dst, term=term, commit=0, stamp=9)


def test_raft_batches_reach_the_peer_and_a_restarted_peer_is_reached_again():
    async def scenario() -> None:
        addresses = {1: f"127.0.0.1:{free_port()}", 2: f"127.0.0.1:{free_port()}"}
        one, two = Peer(1, addresses), Peer(2, addresses)
        await one.listen()
        await two.listen()
        one.transport.start()
        two.transport.start()
        await until(lambda: one.transport.links[2].connected)
        one.transport.send({2: [heartbeat(1, 2, 5)]})
        await until(lambda: two.received)
        assert two.received == [(1, [heartbeat(1, 2, 5)])]

        await two.close_listener()  # the peer goes away...
        await until(lambda: not one.transport.links[2].connected)
        assert 2 in one.unreachable
        # Sent meanwhile: queued (bounded), delivered on reconnection or dropped.
        one.transport.send({2: [heartbeat(1, 2, 6)]})
        await two.listen()  # ...and comes back on the same address
        await until(lambda: one.transport.links[2].connected, timeout=5 + RECONNECT_DELAY_S)
        one.transport.send({2: [heartbeat(1, 2, 7)]})
        await until(lambda: two.received[-1] == (1, [heartbeat(1, 2, 7)]))
        assert {m.term for _, batch in two.received for m in batch} <= {5, 6, 7}

        two.transport.blocked_peers.add(1)  # fault injection: dropped on arrival
        count = len(two.received)
        one.transport.send({2: [heartbeat(1, 2, 8)]})
        await asyncio.sleep(0.2)
        assert len(two.received) == count

        for peer in (one, two):
            await peer.transport.stop()
            await peer.close_listener()

    asyncio.run(scenario())


def test_grpc_calls_that_passed_the_handshake_are_relayed_and_strangers_are_closed():
    async def scenario() -> None:
        server = grpc.aio.server()
        pb_grpc.add_AdminServicer_to_server(HealthOnly(), server)
        directory = tempfile.mkdtemp(prefix="slotraft-test-")
        socket_path = f"{directory}/grpc.sock"
        assert server.add_insecure_port(f"unix:{socket_path}")
        await server.start()
        listener, address = await listen({}, grpc_socket=socket_path)
        dialer = GrpcDialer(credentials)
        async with grpc.aio.insecure_channel(dialer.target(address)) as channel:
            reply = await pb_grpc.AdminStub(channel).Health(pb.HealthRequest(), timeout=5)
        assert reply.detail == "relayed"

        # Plain gRPC (HTTP/2) without the handshake: closed, nothing said.
        async with grpc.aio.insecure_channel(address) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await pb_grpc.AdminStub(channel).Health(pb.HealthRequest(), timeout=2)
        reader, writer = await asyncio.open_connection(*address.split(":"))
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        # Without the secret: the dialer of another cluster gets no answer.
        strangers = GrpcDialer(lambda: credentials(secret=b"another cluster's secret!"))
        async with grpc.aio.insecure_channel(strangers.target(address)) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await pb_grpc.AdminStub(channel).Health(pb.HealthRequest(), timeout=2)
        await dialer.close()
        await strangers.close()
        await listener.stop()
        await server.stop(None)
        shutil.rmtree(directory)

    asyncio.run(scenario())


def test_a_relay_to_a_grpc_server_that_is_gone_closes_the_client():
    async def scenario() -> None:
        listener, address = await listen({})  # nothing listens on the gRPC socket
        dialer = GrpcDialer(credentials)
        async with grpc.aio.insecure_channel(dialer.target(address)) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await pb_grpc.AdminStub(channel).Health(pb.HealthRequest(), timeout=2)
        await dialer.close()
        await listener.stop()

    asyncio.run(scenario())


def test_a_joining_node_learns_an_unknown_peer_from_its_hello_and_others_do_not():
    """A joining node knows only its cluster file's nodes; one added since (say node 4,
    leading the metadata group) must still reach it: the address its Hello gives becomes
    a link. A node that is not joining keeps to its map."""
    joining = RaftTransport(6, {6: "127.0.0.1:1"}, lambda *_: None, lambda _: None, None)  # type: ignore[arg-type]
    joining.learn_peers = True
    joining.accept(pb.Hello(node_id=4, address="127.0.0.1:7004"))
    assert joining.links[4].address == "127.0.0.1:7004"
    joining.accept(pb.Hello(node_id=5, address="no port"))
    joining.accept(pb.Hello(node_id=7))
    assert sorted(joining.links) == [4]
    settled = RaftTransport(6, {6: "127.0.0.1:1"}, lambda *_: None, lambda _: None, None)  # type: ignore[arg-type]
    settled.accept(pb.Hello(node_id=4, address="127.0.0.1:7004"))
    assert not settled.links
