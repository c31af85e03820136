"""Router-local replies byte for byte against a real redis-server 7.0 where they should be
the same: PING, ECHO, inline parsing, protocol errors, unknown commands and arity, SELECT 0,
CLIENT names, CLIENT REPLY, MULTI/EXEC errors, AUTH and HELLO."""

from __future__ import annotations

import re
import socket

import pytest

from tests.router.support import RouterThread, pack
from tests.support.processes import redis_server

SENTINEL = pack(b"ECHO", b"--end--")
SENTINEL_REPLY = b"$7\r\n--end--\r\n"
BROKEN = b"<broken>"


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data` then a sentinel; what came back before the sentinel's reply, plus
    '<closed>' if the server closed the connection. A stream that ends broken gets no
    sentinel (it would only extend the broken request): it is read to the close."""
    broken = data.endswith(BROKEN)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data[: -len(BROKEN)] if broken else data + SENTINEL)
        received = b""
        while not received.endswith(SENTINEL_REPLY):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return received + b"<closed>"
            received += chunk
        return received[: -len(SENTINEL_REPLY)]


def normalize(reply: bytes) -> bytes:
    return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:ID\r\n", reply)


@pytest.fixture(scope="module")
def router_port():
    with RouterThread(shards=3) as thread:
        yield thread.port


@pytest.fixture(scope="module")
def secured():
    with (
        redis_server("--requirepass", "pw") as redis_port,
        RouterThread(shards=3, requirepass=b"pw") as router,
    ):
        yield redis_port, router.port


def long_arguments() -> bytes:
    return pack(b"NOSUCH", *[b"x" * 50] * 5)


CASES = {
    "ping": pack(b"PING") + pack(b"PING", b"hi") + pack(b"PING", b"a", b"b"),
    "echo": pack(b"ECHO", b"\x00\xff bin") + pack(b"ECHO") + pack(b"ECHO", b"a", b"b"),
    "inline": b'ECHO "a b" \r\nPING\n  \r\n\r\nECHO "\\x41\\n"\r\nECHO \'it\\\'s\'\r\n',
    "empty multibulk": b"*0\r\n*-1\r\n" + pack(b"PING"),
    "unknown command": pack(b"NOSUCH", b"a", b"b") + long_arguments() + pack(b"nosuch"),
    "select": pack(b"SELECT", b"0") + pack(b"SELECT", b"x") + pack(b"SELECT", b"0", b"1"),
    "client names": pack(b"CLIENT", b"GETNAME")
    + pack(b"CLIENT", b"SETNAME", b"router-test")
    + pack(b"CLIENT", b"GETNAME")
    + pack(b"CLIENT", b"SETNAME", b"has space")
    + pack(b"CLIENT", b"SETNAME", b"")
    + pack(b"CLIENT", b"GETNAME")
    + pack(b"CLIENT", b"SETNAME")
    + pack(b"CLIENT", b"NOSUCH")
    + pack(b"CLIENT"),
    "client reply": pack(b"CLIENT", b"REPLY", b"OFF")
    + pack(b"PING")
    + pack(b"CLIENT", b"REPLY", b"ON")
    + pack(b"PING")
    + pack(b"CLIENT", b"REPLY", b"SKIP")
    + pack(b"ECHO", b"no")
    + pack(b"ECHO", b"yes")
    + pack(b"CLIENT", b"REPLY", b"MAYBE"),
    "multi errors": pack(b"EXEC")
    + pack(b"DISCARD")
    + pack(b"MULTI")
    + pack(b"MULTI")
    + pack(b"WATCH", b"k")
    + pack(b"PING")
    + pack(b"ECHO", b"e")
    + pack(b"EXEC")
    + pack(b"MULTI")
    + pack(b"NOSUCH")
    + pack(b"PING")
    + pack(b"EXEC")
    + pack(b"MULTI")
    + pack(b"ECHO")
    + pack(b"EXEC")
    + pack(b"MULTI")
    + pack(b"EXEC")
    + pack(b"MULTI")
    + pack(b"PING")
    + pack(b"DISCARD")
    + pack(b"UNWATCH")
    + pack(b"WATCH"),
    "auth without password": pack(b"AUTH", b"x")
    + pack(b"AUTH", b"default", b"x")
    + pack(b"AUTH", b"nobody", b"x")
    + pack(b"AUTH", b"a", b"b", b"c")
    + pack(b"AUTH"),
    "hello": pack(b"HELLO", b"4")
    + pack(b"HELLO", b"x")
    + pack(b"HELLO", b"3", b"FOO")
    + pack(b"HELLO", b"3", b"AUTH", b"default")
    + pack(b"HELLO", b"2", b"SETNAME", b"a b")
    + pack(b"HELLO", b"3", b"SETNAME", b"named")
    + pack(b"CLIENT", b"GETNAME")
    + pack(b"PING")
    + pack(b"HELLO", b"2"),
    "wait and time errors": pack(b"WAIT", b"0", b"0")
    + pack(b"WAIT", b"x", b"0")
    + pack(b"WAIT", b"0", b"-1")
    + pack(b"WAIT", b"0", b"x")
    + pack(b"TIME", b"x"),
    "config get": pack(b"CONFIG", b"GET", b"maxmemory")
    + pack(b"CONFIG", b"GET", b"maxmemory-policy")
    + pack(b"CONFIG", b"GET", b"no-such-parameter")
    + pack(b"CONFIG", b"GET"),
    "command getkeys": pack(b"COMMAND", b"GETKEYS", b"MSET", b"a", b"1", b"b", b"2")
    + pack(b"COMMAND", b"GETKEYS", b"NOSUCH", b"a")
    + pack(b"COMMAND", b"GETKEYS", b"PING", b"x")
    + pack(b"COMMAND", b"GETKEYS", b"GET", b"a", b"b")
    + pack(b"COMMAND", b"GETKEYS", b"GET")
    + pack(b"COMMAND", b"NOSUCH"),
    "command info": pack(b"COMMAND", b"INFO", b"get", b"nosuch", b"echo", b"select"),
    "quit": pack(b"PING") + pack(b"QUIT") + pack(b"PING"),
    "reset": pack(b"CLIENT", b"SETNAME", b"x") + pack(b"RESET") + pack(b"CLIENT", b"GETNAME"),
    "bad multibulk": pack(b"PING") + b"*x\r\n" + BROKEN,
    "bad bulk": pack(b"PING") + b"*1\r\n$-3\r\n" + BROKEN,
    "bulk too long": b"*1\r\n$536870913\r\n" + BROKEN,
    "expected dollar": b"*2\r\n$4\r\nECHO\r\n:1\r\n" + BROKEN,
    "unbalanced quotes": b'PING\r\nECHO "abc\r\n' + BROKEN,
    "quote then letter": b'ECHO "a"b\r\n' + BROKEN,
    "too big inline": b"x" * 70000 + BROKEN,
    "too big multibulk count": b"*" + b"1" * 70000 + BROKEN,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_reply_as_redis(redis_port, router_port, name):
    data = CASES[name]
    expected = normalize(exchange(redis_port, data))
    assert normalize(exchange(router_port, data)) == expected


SECURED_CASES = {
    "noauth": pack(b"PING")
    + pack(b"GET", b"k")
    + pack(b"CLIENT", b"ID")
    + pack(b"NOSUCH")
    + pack(b"GET")
    + pack(b"HELLO", b"3")
    + pack(b"HELLO")
    + pack(b"AUTH", b"wrong")
    + pack(b"AUTH", b"pw")
    + pack(b"AUTH", b"wrong")
    + pack(b"GET", b"k"),
    "hello auth": pack(b"HELLO", b"2", b"AUTH", b"default", b"bad")
    + pack(b"HELLO", b"2", b"AUTH", b"other", b"pw")
    + pack(b"HELLO", b"2", b"AUTH", b"default", b"pw", b"SETNAME", b"me")
    + pack(b"CLIENT", b"GETNAME"),
    "unauthenticated multibulk": pack(*[b"x"] * 11) + BROKEN,
    "unauthenticated bulk": b"*1\r\n$16385\r\n" + BROKEN,
    "limits lifted by auth": pack(b"AUTH", b"pw") + pack(b"ECHO", b"x" * 20000),
    "reset logs out": pack(b"AUTH", b"pw") + pack(b"RESET") + pack(b"GET", b"k"),
    "quit before auth": pack(b"QUIT"),
}


@pytest.mark.parametrize("name", sorted(SECURED_CASES))
def test_same_reply_as_redis_with_a_password(secured, name):
    redis_port, router_port = secured
    data = SECURED_CASES[name]
    if not data.endswith(BROKEN):
        data += pack(b"AUTH", b"pw")  # the sentinel ECHO needs an authenticated session
    expected = normalize(exchange(redis_port, data))
    assert normalize(exchange(router_port, data)) == expected
