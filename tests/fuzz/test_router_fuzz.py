"""Fuzzing RESP into a real router server (over an in-process backend): random and mutated
frames, inline commands, huge and negative lengths, nested arrays, RESP3 types, partial
frames and pipelines, sent in random chunks. After each case:

- nothing raised out of the router's event loop and nothing was logged as a router bug;
- the connection got a whole number of well-formed replies, and a protocol error, if any,
  is the last of them (the router closes the connection after it);
- the router closed the connection once the client finished sending (no hang);
- a fresh connection still works.

FUZZ_EXAMPLES (env) sets the number of cases (a CI budget by default).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.resp import MalformedReply, array, client_stream, read_frames
from tests.router.support import RouterThread

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
CLOSE_TIMEOUT_S = 20.0


class _Problems(logging.Handler):
    """Errors the router logs (a caught router bug is still a bug) and what reaches the
    event loop's exception handler."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(f"{record.name}: {record.getMessage()}")

    def loop_exception(self, loop: object, context: dict) -> None:
        self.seen.append(f"event loop: {context.get('message')} {context.get('exception')!r}")


class _WatchedRouter(RouterThread):
    problems: _Problems  # set by the fixture once the loop runs


@pytest.fixture(scope="module")
def router():
    problems = _Problems()
    logger = logging.getLogger("slotraft")
    logger.addHandler(problems)
    try:
        with _WatchedRouter(shards=3) as thread:
            thread.loop.call_soon_threadsafe(
                thread.loop.set_exception_handler, problems.loop_exception
            )
            thread.problems = problems
            yield thread
    finally:
        logger.removeHandler(problems)


def _exchange(port: int, chunks: list[bytes]) -> bytes:
    """Send the chunks, say that nothing more comes, and read until the router closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLOSE_TIMEOUT_S) as sock:
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the router closed after a protocol error: what it said is read below
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                # The router closed with unread input (what followed a protocol error): the
                # reset may discard the replies not yet read.
                break
            except TimeoutError:
                raise AssertionError(
                    f"the router neither answered nor closed within {CLOSE_TIMEOUT_S} s"
                ) from None
            if not data:
                break
            received += data
            if time.monotonic() > deadline:
                raise AssertionError("the router keeps sending")
        return bytes(received)


def _fresh_connection_works(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=CLOSE_TIMEOUT_S) as sock:
        sock.sendall(array([b"PING"]) + array([b"SET", b"fresh", b"1"]) + array([b"GET", b"fresh"]))
        expected = b"+PONG\r\n+OK\r\n$1\r\n1\r\n"
        received = b""
        while len(received) < len(expected):
            data = sock.recv(4096)
            assert data, f"a fresh connection was closed: {received!r}"
            received += data
        assert received == expected


def check_case(router: _WatchedRouter, chunks: list[bytes]) -> None:
    received = _exchange(router.port, chunks)
    frames = read_frames(received)
    for number, frame in enumerate(frames):
        if frame.startswith(b"-ERR Protocol error"):
            assert number == len(frames) - 1, f"replies after a protocol error: {frames}"
    _fresh_connection_works(router.port)
    assert not router.problems.seen, router.problems.seen


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(chunks=client_stream())
def test_random_resp_into_the_router(router, chunks):
    check_case(router, chunks)


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        (b"*abc\r\nPING\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b"PING\r\n*1\r\n$-5\r\n", b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n_\r\n", b"-ERR Protocol error: expected '$', got '_'\r\n"),
        (b"*1\r\n$4\r\nPING", b""),  # a partial frame, then the client's end
    ],
)
def test_known_cases(router, sent, answer):
    assert _exchange(router.port, [sent]) == answer
    check_case(router, [sent])


@pytest.mark.parametrize(
    "stream",
    [b"+OK", b"$3\r\nab\r\n", b"*2\r\n:1\r\n", b"-ERR a\nb\r\n", b"?x\r\n", b"#y\r\n"],
)
def test_the_reply_reader_refuses_malformed_streams(stream):
    with pytest.raises(MalformedReply):
        read_frames(stream)
