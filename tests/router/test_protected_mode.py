"""Protected mode (router/server.py), as Redis's: without a password a router serves only
clients on the loopback interface; a password, or `--protected-mode no`, opens it."""

from __future__ import annotations

import pytest

from proto.errors import DENIED_PROTECTED_MODE
from router.config import RouterConfig
from router.context import RouterContext
from router.server import RouterProtocol
from slotraft.local_backend import LocalBackend


class Transport:
    def __init__(self, peer: object) -> None:
        self.peer = peer
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str) -> object:
        return {"peername": self.peer, "sockname": ("127.0.0.1", 6379)}.get(name)

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def set_write_buffer_limits(self, high: int) -> None:
        pass


def connect(peer: object, **config: object) -> Transport:
    ctx = RouterContext(RouterConfig(**config), LocalBackend(1))  # type: ignore[arg-type]
    transport = Transport(peer)
    RouterProtocol(ctx).connection_made(transport)  # type: ignore[arg-type]
    return transport


@pytest.mark.parametrize(
    "peer",
    [
        ("10.1.2.3", 5000),
        ("172.17.0.1", 5000),
        ("::ffff:192.168.0.9", 1, 0, 0),
        ("fe80::1%eth0", 1, 0, 0),
    ],
)
def test_a_remote_client_of_a_router_without_password_is_denied_and_closed(peer):
    transport = connect(peer)
    assert transport.written == b"-" + DENIED_PROTECTED_MODE + b"\r\n"
    assert transport.closed


@pytest.mark.parametrize(
    "peer",
    [("127.0.0.1", 5000), ("127.8.9.1", 1), ("::1", 1, 0, 0), ("::ffff:127.0.0.1", 1, 0, 0), None],
)
def test_loopback_and_unix_socket_clients_are_served(peer):
    transport = connect(peer)
    assert transport.written == b"" and not transport.closed


def test_a_password_or_protected_mode_off_serves_remote_clients():
    assert not connect(("10.1.2.3", 5000), requirepass=b"pw").closed
    assert not connect(("10.1.2.3", 5000), protected_mode=False).closed
