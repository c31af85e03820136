"""A raw RESP3 connection for tests that must see push messages where they arrive
(client tracking's invalidations), against a router or a redis-server alike."""

from __future__ import annotations

import socket
import time
from typing import Any

import hiredis


def is_invalidation(reply: Any) -> bool:
    return isinstance(reply, list) and bool(reply) and reply[0] == b"invalidate"


class Resp3Connection:
    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = hiredis.Reader()
        self.pushes: list[Any] = []  # invalidations received, in order, until taken
        assert b"server" in self.call("HELLO", "3")  # a map

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Resp3Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read(self) -> Any:
        while (reply := self.reader.gets()) is False:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.reader.feed(data)
        return reply

    def call(self, *args: str | bytes) -> Any:
        """The command's reply; invalidations before it go to `pushes`."""
        parts = [arg.encode() if isinstance(arg, str) else arg for arg in args]
        self.sock.sendall(
            b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        )
        while True:
            reply = self._read()
            if not is_invalidation(reply):
                return reply
            self.pushes.append(reply)

    def take_pushes(self, settle: float = 0.0) -> list[Any]:
        """The invalidations received so far (after a PING's round trip, and `settle`
        seconds more for those that travel through other processes)."""
        if settle:
            time.sleep(settle)
        assert self.call("PING") == b"PONG"
        taken, self.pushes = self.pushes, []
        return taken
