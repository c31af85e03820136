"""A full disk: a node that cannot write its log exits instead of acknowledging what it
could not make durable; `slotraft up` keeps starting it again, and once there is room the
cluster serves again with every acknowledged write. The cluster's directory is a small
tmpfs mounted for the test (root only), later grown with `mount -o remount`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
import redis

from slotraft.local_cluster import free_port
from tests.cluster.test_up import alive, read_until, start_up, stop, up_state

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("mount") is None,
        reason="needs root and mount(8) for a small tmpfs",
    ),
]


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


def test_a_full_disk_loses_no_acknowledged_write_and_the_cluster_recovers(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk))
    data_dir = disk / "data"
    process = None
    try:
        port = free_port()
        process = start_up(data_dir, port)
        read_until(process, "slotraft is serving")
        client = redis.Redis(port=port, socket_timeout=60)
        acked: dict[bytes, bytes] = {}
        for index in range(10_000):
            key, value = b"full:%d" % index, b"%d:" % index + b"x" * 10_000
            try:
                client.set(key, value)
            except redis.RedisError:
                break
            acked[key] = value
        else:
            pytest.fail("24 MB took 100 MB of writes without filling up")
        assert len(acked) > 100
        output = read_until(process, "exited with code 1")
        assert "starting it again" in output

        mount("-o", "remount,size=512m", str(disk))
        keys = list(acked)
        deadline = time.monotonic() + 180
        while True:
            try:
                values = client.mget(keys)
                break
            except redis.RedisError:
                assert time.monotonic() < deadline, "the cluster did not serve again"
                time.sleep(1)
        assert values == [acked[key] for key in keys]
        assert client.set(b"full:after", b"room again")
        assert stop(process, signal.SIGTERM) == 0
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        for entry in up_state(data_dir):
            if entry["pid"] and alive(entry["pid"]):
                os.kill(entry["pid"], signal.SIGKILL)
        subprocess.run(["umount", "-l", str(disk)], check=False, capture_output=True)
