"""The link proxies: forward while healed; a cut closes established connections and
blackholes new ones; healing closes the blackholed ones and forwards again."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from chaos.proxy import ProxyNetwork


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def network() -> Iterator[ProxyNetwork]:
    proxies = ProxyNetwork()
    yield proxies
    proxies.close()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(5)
    return sock


def echo(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    received = b""
    while len(received) < len(data):
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_forwards_then_cut_closes_and_blackholes_then_heal_restores(echo_port, network):
    port = network.add((1, 2), ("127.0.0.1", echo_port))
    established = connect(port)
    assert echo(established, b"hello") == b"hello"

    network.cut([(1, 2)])
    assert network.cut_links() == {(1, 2)}
    assert closed_by_peer(established)

    blackholed = connect(port)  # accepted, but nothing goes through
    blackholed.sendall(b"anyone there?")
    blackholed.settimeout(0.5)
    with pytest.raises(TimeoutError):
        blackholed.recv(1)

    network.heal()
    assert network.cut_links() == set()
    blackholed.settimeout(5)
    assert closed_by_peer(blackholed)
    again = connect(port)
    assert echo(again, b"back") == b"back"
    for sock in (established, blackholed, again):
        sock.close()


def test_cutting_one_direction_leaves_the_other(echo_port, network):
    forward = network.add((1, 2), ("127.0.0.1", echo_port))
    backward = network.add((2, 1), ("127.0.0.1", echo_port))
    network.cut([(1, 2)])
    sock = connect(backward)
    assert echo(sock, b"still up") == b"still up"
    sock.close()
    assert network.cut_links() == {(1, 2)}
    assert forward != backward


def test_upstream_down_closes_the_connection(network):
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        dead_port = placeholder.getsockname()[1]
    port = network.add((1, 3), ("127.0.0.1", dead_port))
    sock = connect(port)
    assert closed_by_peer(sock)
    sock.close()
