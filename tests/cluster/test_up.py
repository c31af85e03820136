"""`slotraft up`, the README's run command: it prints where to connect once the cluster
serves, records its processes in cluster.json, starts again a process that exits, stops them
all on Ctrl-C, and started again on the same data directory recovers the data."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from slotraft.local_cluster import free_port

pytestmark = pytest.mark.slow  # a real cluster of processes

ROOT = Path(__file__).resolve().parents[2]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_up(data_dir: Path, port: int) -> subprocess.Popen:
    # As from a shell's background job: SIGINT ignored by inheritance (Ctrl-C must still
    # stop `slotraft up`).
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slotraft.cli",
            "up",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_ignore_sigint,
    )


def run_up(data_dir: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "slotraft.cli", "up", "--data-dir", str(data_dir), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def read_until(process: subprocess.Popen, text: str, timeout: float = 90) -> str:
    """stdout up to and including the first line containing `text`. Reads the pipe's bytes
    itself: a buffered reader may hold a line already read from the pipe, which a select()
    on the pipe would never report."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    pending: bytes = getattr(process, "unread", b"")
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            seen.append(line.decode() + "\n")
            if text in seen[-1]:
                process.unread = pending  # type: ignore[attr-defined]
                return "".join(seen)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        readable, _, _ = select.select([fd], [], [], min(1.0, remaining))
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
    raise AssertionError(
        f"no {text!r} from slotraft up (exit code {process.poll()}); it printed:\n{''.join(seen)}"
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(process: subprocess.Popen, signum: int) -> int:
    process.send_signal(signum)
    return process.wait(60)


def test_up_serves_records_its_processes_stops_on_ctrl_c_and_recovers(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    process = start_up(data_dir, port)
    pids: list[int] = []
    try:
        output = read_until(process, "slotraft is serving")
        assert f"-p {port}" in output
        state = json.loads((data_dir / "cluster.json").read_text())
        roles = sorted((p["role"], p["id"]) for p in state["processes"])
        assert roles == [("node", 1), ("node", 2), ("node", 3), ("router", 1)]
        pids = [p["pid"] for p in state["processes"]]
        assert all(alive(pid) for pid in pids)
        client = redis.Redis(port=port, socket_timeout=30)
        for index in range(50):
            assert client.set(f"up:{index}", index)
        status = subprocess.run(
            [sys.executable, "-m", "slotraft.cli", "ctl", "--data-dir", str(data_dir), "status"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert status.returncode == 0, status.stderr
        assert "leader" in status.stdout.lower()

        # A second `slotraft up` on the same directory says so and exits, touching nothing.
        second = run_up(data_dir, "--port", str(free_port()))
        assert second.returncode == 1
        assert f"{data_dir} is in use by another process (pid {process.pid})" in second.stderr
        assert [client.get(f"up:{index}") for index in range(50)] == [
            str(index).encode() for index in range(50)
        ]

        assert stop(process, signal.SIGINT) == 0
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in pids), "Ctrl-C left processes running"

        # Flags the directory cannot honour are refused with what it holds...
        for flag, value in (("--nodes", "5"), ("--shards", "4"), ("--replicas", "1")):
            refused = run_up(data_dir, flag, value)
            assert refused.returncode == 2
            assert f"{flag} {value} (it holds " in refused.stderr
            assert "3 nodes, 3 shards and 3 replicas per shard" in refused.stderr
        # ...and a new router port is honoured (routers hold no data).
        port = free_port()
        process = start_up(data_dir, port)
        output = read_until(process, "slotraft is serving")
        assert "recovering the cluster" in output and f"-p {port}" in output
        client = redis.Redis(port=port, socket_timeout=30)
        assert [client.get(f"up:{index}") for index in range(50)] == [
            str(index).encode() for index in range(50)
        ]
        assert stop(process, signal.SIGTERM) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in pids + [p["pid"] for p in up_state(data_dir)]:
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)


def up_state(data_dir: Path) -> list[dict]:
    try:
        return json.loads((data_dir / "cluster.json").read_text())["processes"]
    except (OSError, ValueError, KeyError):
        return []


def test_up_starts_a_killed_node_again_and_the_cluster_keeps_serving(tmp_path):
    """Killing a node to watch the failover does not stop `slotraft up`: the other nodes
    go on serving, the node is started again (cluster.json gets its new pid), and once it is
    back the cluster survives losing another node."""
    data_dir = tmp_path / "data"
    port = free_port()
    process = start_up(data_dir, port)
    try:
        read_until(process, "slotraft is serving")
        pids = {(p["role"], p["id"]): p["pid"] for p in up_state(data_dir)}
        client = redis.Redis(port=port, socket_timeout=30)
        written = {}

        def write(prefix: str) -> None:
            for index in range(30):
                key = f"restart:{prefix}:{index}"
                assert client.set(key, index)
                written[key] = str(index).encode()

        write("before")
        os.kill(pids[("node", 1)], signal.SIGKILL)
        write("while-down")
        output = read_until(process, "node 1 started again")
        assert "node 1 was killed by SIGKILL; starting it again" in output
        new_pid = {(p["role"], p["id"]): p["pid"] for p in up_state(data_dir)}[("node", 1)]
        assert new_pid != pids[("node", 1)] and alive(new_pid)
        assert process.poll() is None

        # Node 1 must count again: with node 2 gone, every shard commits through it (the
        # router retries for 15 s while node 1 finishes starting and elections run).
        os.kill(pids[("node", 2)], signal.SIGKILL)
        write("after")
        keys = list(written)
        assert client.mget(keys) == [written[key] for key in keys]
        read_until(process, "node 2 started again")
        assert stop(process, signal.SIGTERM) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for entry in up_state(data_dir):
            if entry["pid"] and alive(entry["pid"]):
                os.kill(entry["pid"], signal.SIGKILL)
