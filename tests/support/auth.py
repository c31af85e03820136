"""Credentials and listeners for tests that speak to node ports."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

from node.listener import NodeListener
from proto import slotraft_pb2 as pb
from proto.credentials import Credentials
from proto.handshake import ROLE_NODE, ROLE_TOOL, Peer
from slotraft.local_cluster import free_port

TEST_SECRET = b"a test cluster secret, the same for every test"
TEST_CLUSTER = "test-cluster"


def credentials(
    node_id: int = 0,
    role: str = ROLE_TOOL,
    cluster_id: str = TEST_CLUSTER,
    secret: bytes = TEST_SECRET,
    shards: int = 0,
    replicas: int = 0,
    slots: int = 0,
) -> Credentials:
    return Credentials.from_secret(secret, Peer(cluster_id, node_id, role, shards, replicas, slots))


def node_credentials(node_id: int, **options: object) -> Credentials:
    return credentials(node_id, ROLE_NODE, **options)  # type: ignore[arg-type]


async def listen(
    handlers: dict[bytes, Callable[[], asyncio.Protocol]],
    node_id: int = 1,
    grpc_socket: str | None = None,
    address: str | None = None,
    secret: bytes = TEST_SECRET,
    nodes: frozenset[int] = frozenset(),
) -> tuple[NodeListener, str]:
    """A node listener on a free loopback port (or `address`) with the test secret."""
    me = node_credentials(node_id, secret=secret)
    if grpc_socket is None:  # no gRPC server behind it: relays fail and close
        grpc_socket = str(Path(tempfile.gettempdir()) / "slotraft-test-no-such.sock")
    # The tests' factories take no Hello.
    factories = {channel: _ignoring_hello(factory) for channel, factory in handlers.items()}
    listener = NodeListener(factories, grpc_socket, me.key, me.me, nodes)
    address = address or f"127.0.0.1:{free_port()}"
    await listener.start(address)
    return listener, address


def _ignoring_hello(
    factory: Callable[[], asyncio.Protocol],
) -> Callable[[pb.Hello], asyncio.Protocol]:
    return lambda _hello: factory()
