"""Start and stop real servers for tests: free loopback ports from the OS, always stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

from slotraft.local_cluster import free_port


def wait_for_port(
    port: int, timeout: float = 10.0, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_process(process: subprocess.Popen, timeout: float = 5.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


@contextlib.contextmanager
def redis_server(*extra: str) -> Iterator[int]:
    """A throw-away redis-server on a free loopback port, without persistence.

    Started again on another port when it exits before listening: in cluster mode it also
    binds port + 10000 (its cluster bus), which lies in the ephemeral range and can be
    taken by an outgoing connection meanwhile."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make test`, which installs it")
    workdir = tempfile.mkdtemp(prefix="slotraft-redis-")
    try:
        for attempt in range(3):
            port = free_port()
            process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    workdir,
                    "--enable-debug-command",
                    "yes",
                    *extra,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=os.setsid,
            )
            try:
                wait_for_port(port, process=process)
            except RuntimeError:
                stop_process(process)
                if attempt == 2:
                    raise
                continue
            try:
                yield port
            finally:
                stop_process(process)
            return
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
