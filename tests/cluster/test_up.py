"""`slotraft up`, the README's run command: it prints where to connect once the cluster
serves, records its processes in cluster.json, stops them all on Ctrl-C, and started again
on the same data directory recovers the data."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from slotraft.local_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]


def start_up(data_dir: Path, port: int) -> subprocess.Popen:
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
        text=True,
    )


def read_until(process: subprocess.Popen, text: str, timeout: float = 90) -> str:
    """stdout up to and including the first line containing `text`."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not selector.select(timeout=1):
            continue
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no {text!r} from slotraft up; it printed:\n{''.join(seen)}")


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

        assert stop(process, signal.SIGINT) == 0
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in pids), "Ctrl-C left processes running"

        process = start_up(data_dir, port)
        output = read_until(process, "slotraft is serving")
        assert "recovering the cluster" in output
        client = redis.Redis(port=port, socket_timeout=30)
        assert [client.get(f"up:{index}") for index in range(50)] == [
            str(index).encode() for index in range(50)
        ]
        assert stop(process, signal.SIGTERM) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in pids + [p["pid"] for p in _state(data_dir)]:
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)


def _state(data_dir: Path) -> list[dict]:
    try:
        return json.loads((data_dir / "cluster.json").read_text())["processes"]
    except (OSError, ValueError, KeyError):
        return []
