"""Calls to nodes' Admin service from synchronous code (`slotraft ctl`, `slotraft up`, the
tests), through the node handshake (proto/relay.py ThreadedGrpcDialer)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import grpc

from proto import slotraft_pb2_grpc as pb_grpc
from proto.credentials import (
    CLUSTER_ID_ENV,
    SECRET_ENV,
    SECRET_FILE_ENV,
    SECRET_FILE_NAME,
    Credentials,
    load_secret,
)
from proto.handshake import ROLE_TOOL, Peer
from proto.relay import ThreadedGrpcDialer


def tool_credentials(
    secret_file: Path | None = None,
    data_dir: Path | None = None,
    cluster_id: str = "",
    tls: ssl.SSLContext | None = None,
) -> Credentials:
    """A tool's credentials: the secret from `secret_file`, else the environment, else the
    file `slotraft up` keeps in `data_dir` (raises proto.credentials.SecretError); `tls`:
    the context of a cluster in mutual TLS (proto/tls.py)."""
    if secret_file is None and not (os.environ.get(SECRET_FILE_ENV) or os.environ.get(SECRET_ENV)):
        candidate = data_dir / SECRET_FILE_NAME if data_dir is not None else None
        if candidate is not None and candidate.exists():
            secret_file = candidate
    secret = load_secret(secret_file)
    cluster_id = cluster_id or os.environ.get(CLUSTER_ID_ENV, "").strip()
    return Credentials.from_secret(secret, Peer(cluster_id, role=ROLE_TOOL), tls)


class AdminClient:
    """Admin calls to any node; one relay socket and gRPC channel per node address."""

    def __init__(self, credentials: Credentials) -> None:
        self.dialer = ThreadedGrpcDialer(credentials)
        self.channels: dict[str, grpc.Channel] = {}

    def channel(self, address: str) -> grpc.Channel:
        """The gRPC channel to the node at `address` (Admin, or Kv for pub/sub)."""
        channel = self.channels.get(address)
        if channel is None:
            channel = self.channels[address] = grpc.insecure_channel(self.dialer.target(address))
        return channel

    def stub(self, address: str) -> pb_grpc.AdminStub:
        return pb_grpc.AdminStub(self.channel(address))

    def call(self, address: str, method: str, request: object, timeout: float) -> Any:
        """One call (raises grpc.RpcError)."""
        return getattr(self.stub(address), method)(request, timeout=timeout)

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
        self.channels.clear()
        self.dialer.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
