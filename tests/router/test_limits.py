"""The limits operators expect, on a real router process and real sockets: maxclients fitted
to the open-files limit, idle `timeout`, client-output-buffer-limit (a slow pub/sub reader
is disconnected and logged, at the hard limit and after the soft limit's seconds), and
client-query-buffer-limit."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from router.open_files import MIN_RESERVED_FDS, Fitted, TooFewFiles, fit_max_clients
from slotraft.local_cluster import free_port
from tests.support.processes import stop_process, wait_for_port


@contextlib.contextmanager
def router_process(
    tmp_path: Path,
    conf: str = "",
    preexec: Callable[[], None] | None = None,
    prefix: tuple[str, ...] = (),
) -> Iterator[tuple[int, Path]]:
    """`slotraft router --local-shards 1` with a --config file; yields its port and log."""
    port = free_port()
    config = tmp_path / "router.conf"
    config.write_text(conf)
    log = tmp_path / "router.log"
    arguments = ["--local-shards", "1", "--port", str(port), "--config", str(config)]
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "slotraft.cli", "router", *arguments],
            stdout=handle,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )
    try:
        wait_for_port(port, 30, process)
        yield port, log
    finally:
        stop_process(process)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the peer closes `sock` within `seconds` (whatever it sends is read)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(1 << 20):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


# ---------------------------------------------------------------------- maxclients


def fake_limits(soft: int, hard: int, may_raise_hard: bool):
    state = {"limits": (soft, hard)}

    def get() -> tuple[int, int]:
        return state["limits"]

    def set_(limits: tuple[int, int]) -> None:
        new_soft, new_hard = limits
        if new_hard > state["limits"][1] and not may_raise_hard:
            raise PermissionError("Operation not permitted")
        state["limits"] = (new_soft, new_hard)

    return get, set_, state


def test_maxclients_fits_the_open_files_limit() -> None:
    get, set_, state = fake_limits(1024, 4096, may_raise_hard=False)
    assert fit_max_clients(1000, get, set_) == Fitted(1000, 1032)  # the soft limit raised
    assert state["limits"] == (1032, 4096)
    get, set_, state = fake_limits(1024, 1024, may_raise_hard=False)
    fitted = fit_max_clients(10000, get, set_)
    assert (fitted.max_clients, fitted.open_files) == (1024 - MIN_RESERVED_FDS, 1024)
    assert "maxclients has been reduced to 992" in fitted.warnings[-1]
    assert "Operation not permitted" in fitted.warnings[1]
    get, set_, state = fake_limits(1024, 1024, may_raise_hard=True)  # root
    assert fit_max_clients(10000, get, set_) == Fitted(10000, 10032)
    get, set_, _ = fake_limits(20, 20, may_raise_hard=False)
    with pytest.raises(TooFewFiles, match="ulimit -n"):
        fit_max_clients(10000, get, set_)


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))


def test_a_router_under_a_low_open_files_limit_lowers_maxclients(tmp_path: Path) -> None:
    # Root may raise its hard limit, as Redis does: take that right away from the router.
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv to drop CAP_SYS_RESOURCE")
        prefix = ("setpriv", "--bounding-set", "-sys_resource", "--inh-caps", "-sys_resource")
    with (
        router_process(tmp_path, preexec=_low_file_limit, prefix=prefix) as (port, log),
        redis.Redis(port=port) as client,
    ):
        assert client.config_get("maxclients") == {"maxclients": "68"}
        assert client.info("clients")["maxclients"] == 68
        # More than the limit allows is refused, as Redis's CONFIG SET.
        with pytest.raises(redis.ResponseError, match="try with 68"):
            client.config_set("maxclients", 200)
        assert client.config_set("maxclients", 50)
    assert "maxclients has been reduced to 68" in log.read_text()


# ---------------------------------------------------------------------- one router


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    conf = "timeout 1\nclient-output-buffer-limit pubsub 1mb 0 0\n"
    conf += "client-query-buffer-limit 1mb\n"
    with router_process(tmp_path_factory.mktemp("router"), conf) as running:
        yield running


def connect(port: int, receive_buffer: int = 0) -> socket.socket:
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    return sock


def test_an_idle_client_is_closed_but_not_a_subscriber(router) -> None:
    port, log = router
    with connect(port) as idle, connect(port) as subscriber:
        idle.sendall(b"PING\r\n")
        subscriber.sendall(b"SUBSCRIBE news\r\n")
        assert idle.recv(100) == b"+PONG\r\n"
        assert subscriber.recv(100).startswith(b"*3\r\n$9\r\nsubscribe")
        assert closed_within(idle, 5)
        assert not closed_within(subscriber, 0.5)
        subscriber.sendall(b"PING\r\n")  # a subscriber's PING is still answered
        assert subscriber.recv(100).startswith(b"*2\r\n$4\r\npong")
    with redis.Redis(port=port) as client:
        assert client.config_get("timeout") == {"timeout": "1"}
    assert "idle for more than 1 s: closed" in log.read_text()


def flood(port: int, channel: bytes, seconds: float, stop: Callable[[], bool]) -> None:
    """PUBLISH 64 kB messages on `channel` until `stop()` or `seconds` pass."""
    message = b"x" * 65536
    with redis.Redis(port=port, socket_timeout=10) as publisher:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not stop():
            pipe = publisher.pipeline(transaction=False)
            for _ in range(16):
                pipe.publish(channel, message)
            pipe.execute()


def test_a_slow_subscriber_is_closed_at_the_hard_limit(router) -> None:
    port, log = router
    with connect(port, receive_buffer=4096) as reader:
        reader.sendall(b"SUBSCRIBE firehose\r\n")
        time.sleep(0.2)
        with redis.Redis(port=port) as client:

            def gone() -> bool:
                return client.pubsub_numsub("firehose") == [(b"firehose", 0)]

            flood(port, b"firehose", 20, gone)
            assert gone()
    assert "does not read fast enough: closed" in log.read_text()
    assert "pubsub hard limit of 1048576 bytes" in log.read_text()


def test_a_slow_subscriber_is_closed_after_the_soft_limit_seconds(router) -> None:
    port, log = router
    with redis.Redis(port=port) as client:
        assert client.config_set("client-output-buffer-limit", "pubsub 0 256kb 1")
        try:
            with connect(port, receive_buffer=4096) as reader:
                reader.sendall(b"SUBSCRIBE drizzle\r\n")
                time.sleep(0.2)

                def gone() -> bool:
                    return client.pubsub_numsub("drizzle") == [(b"drizzle", 0)]

                started = time.monotonic()
                flood(port, b"drizzle", 20, gone)
                assert gone()
                assert time.monotonic() - started > 1  # not before its seconds passed
        finally:
            client.config_set("client-output-buffer-limit", "pubsub 1mb 0 0")
    assert "stayed over the pubsub soft limit for 1 s" in log.read_text()


def test_a_query_past_the_buffer_limit_closes_the_connection(router) -> None:
    port, log = router
    with connect(port) as sock:
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(20):
                sock.sendall(b"v" * 65536)  # 1.3 MB of a 2 MB argument: over 1 MB
        assert closed_within(sock, 5)
    with redis.Redis(port=port) as client:  # the others are served
        assert client.config_get("client-query-buffer-limit") == {
            "client-query-buffer-limit": "1048576"
        }
        assert client.set("k", "small")
    assert "reached the query buffer limit of 1048576 bytes: closed" in log.read_text()


def test_a_normal_client_that_does_not_read_its_replies_is_closed(router) -> None:
    port, log = router
    with redis.Redis(port=port) as client:
        client.set("big", b"v" * 262144)
        assert client.config_set("client-output-buffer-limit", "normal 1mb 0 0")
        try:
            with connect(port, receive_buffer=4096) as greedy:
                # 64 MB of replies asked for, none read.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    for _ in range(16):
                        greedy.sendall(b"GET big\r\n" * 16)
                        time.sleep(0.05)
                deadline = time.monotonic() + 10
                while b"normal hard limit" not in log.read_bytes():
                    assert time.monotonic() < deadline, "the greedy client was not closed"
                    time.sleep(0.1)
        finally:
            client.config_set("client-output-buffer-limit", "normal 0 0 0")
        assert client.ping()  # the others are served
    assert "its unsent replies passed the normal hard limit of 1048576 bytes" in log.read_text()
