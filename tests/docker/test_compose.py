"""The docker-compose cluster, built offline, end to end: both routers serve, a shard
leader's container is killed while writes go on, nothing acknowledged is lost, the restarted
node catches up, the data survives `down` + `up`, and a node whose volume was emptied
rejoins."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis

from chaos.targets.compose import ComposeTarget
from slotraft.local_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
LOCAL_BASE = "slotraft-base:bookworm"
PUBLIC_BASE = "python:3.11-slim"

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def run(command: list[str], timeout: float = 900, check: bool = True, **options):
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=check, cwd=ROOT, **options
    )


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return run(["docker", "info"], timeout=20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def compose_command() -> list[str]:
    if run(["docker", "compose", "version"], check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither `docker compose` nor `docker-compose` is installed")


def base_image() -> str:
    """The public slim image where it can be had; else the local one, built if needed."""
    if run(["docker", "image", "inspect", PUBLIC_BASE], check=False).returncode == 0:
        return PUBLIC_BASE
    if run(["docker", "pull", PUBLIC_BASE], timeout=120, check=False).returncode == 0:
        return PUBLIC_BASE
    run([str(ROOT / "deploy" / "build-base-image.sh"), LOCAL_BASE], timeout=1800)
    return LOCAL_BASE


class Compose:
    def __init__(self) -> None:
        self.command = compose_command()
        self.project = f"slotraft-test-{uuid.uuid4().hex[:8]}"
        self.ports = [free_port(), free_port()]
        self.env = {
            "SLOTRAFT_PORT_1": str(self.ports[0]),
            "SLOTRAFT_PORT_2": str(self.ports[1]),
            "SLOTRAFT_PORT_2_LAST": str(self.ports[1]),
            "SLOTRAFT_BASE_IMAGE": base_image(),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        }

    def __call__(self, *args: str, timeout: float = 900) -> str:
        result = run(
            [*self.command, "-f", str(COMPOSE_FILE), "-p", self.project, *args],
            timeout=timeout,
            check=False,
            env=self.env,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def container(self, service: str) -> str:
        return self("ps", "-q", service).strip()

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        services = ["node1", "node2", "node3", "router1", "router2"]
        states: list[str] = []
        while time.monotonic() < deadline:
            states = []
            for service in services:
                ident = self.container(service)
                inspect = (
                    run(["docker", "inspect", "-f", "{{.State.Health.Status}}", ident], check=False)
                    if ident
                    else None
                )
                states.append(inspect.stdout.strip() if inspect else "missing")
            if all(state == "healthy" for state in states):
                return
            time.sleep(1)
        raise TimeoutError(
            f"not healthy after {timeout}s: {dict(zip(services, states))}\n"
            + self("logs", "--tail", "30")
        )

    def status(self) -> list[dict]:
        nodes = ["--node", "node1:7000", "--node", "node2:7000", "--node", "node3:7000"]
        for service in ("node1", "node2", "node3", "router1"):
            ident = self.container(service)
            if not ident:
                continue
            result = run(
                ["docker", "exec", ident, "slotraft", "ctl", *nodes, "status", "--json"],
                check=False,
                timeout=60,
            )
            if result.returncode == 0:
                return json.loads(result.stdout)
        raise RuntimeError("no container could run `slotraft ctl status`")


def leader_of(compose: Compose, shard: int) -> int:
    for answer in compose.status():
        for info in answer["local"]:
            if info["id"] == shard and int(info["leader"]) == int(answer["node"]):
                return int(answer["node"])
    return 0


@pytest.fixture(scope="module")
def compose():
    if not docker_answers():
        pytest.skip("no Docker engine answers (`docker info` failed)")
    run([str(ROOT / "deploy" / "build-wheels.sh")], timeout=900)
    cluster = Compose()
    started = time.monotonic()
    try:
        cluster("up", "-d", "--build", timeout=1800)
        cluster.wait_healthy()
        print(f"compose cluster healthy after {time.monotonic() - started:.1f}s")
        yield cluster
    finally:
        try:
            cluster("down", "-v", "--remove-orphans", timeout=300)
        except RuntimeError as error:
            print(error)


def test_compose_cluster_survives_a_killed_leader_and_a_restart(compose):
    started = time.monotonic()
    first = redis.Redis(port=compose.ports[0], socket_timeout=30)
    second = redis.Redis(port=compose.ports[1], socket_timeout=30)
    assert first.set("compose:greeting", "hello")
    assert second.get("compose:greeting") == b"hello"
    assert second.incr("compose:n") == 1 and first.incr("compose:n") == 2

    counter = b"compose:counter"
    acked: dict[bytes, bytes] = {}
    incr = {"acked": 0, "attempted": 0}
    stop = threading.Event()

    def write() -> None:
        client = redis.Redis(port=compose.ports[0], socket_timeout=30)
        index = 0
        while not stop.is_set():
            key, value = b"c:%d" % index, b"v%d" % index
            index += 1
            try:
                client.set(key, value)
                acked[key] = value
            except redis.RedisError:
                pass
            incr["attempted"] += 1
            try:
                client.incr(counter)
                incr["acked"] += 1
            except redis.RedisError:
                pass

    shard = 0
    leader = leader_of(compose, shard)
    assert leader, "shard 0 has a leader"
    victim = compose.container(f"node{leader}")
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(2)
    run(["docker", "kill", victim])
    time.sleep(6)
    run(["docker", "start", victim])
    time.sleep(3)
    stop.set()
    writer.join(60)

    keys = list(acked)
    assert keys, "the writer got acknowledgements"
    for index in range(0, len(keys), 500):
        chunk = keys[index : index + 500]
        assert second.mget(chunk) == [acked[key] for key in chunk]
    assert incr["acked"] <= int(second.get(counter)) <= incr["attempted"]

    # The restarted node catches up: its replicas apply everything their leaders committed.
    deadline = time.monotonic() + 60
    while True:
        answers = compose.status()
        commits = {
            info["id"]: int(info["commit"])
            for answer in answers
            for info in answer["local"]
            if int(info["leader"]) == int(answer["node"])
        }
        mine = next((a for a in answers if int(a["node"]) == leader), None)
        if (
            mine is not None
            and commits
            and all(
                int(info["applied"]) >= commits.get(info["id"], 1 << 62) for info in mine["local"]
            )
        ):
            break
        assert time.monotonic() < deadline, f"node {leader} did not catch up: {answers}"
        time.sleep(1)

    # Data survives `down` (volumes kept) and `up` again.
    compose("down", timeout=300)
    compose("up", "-d", timeout=600)
    compose.wait_healthy()
    again = redis.Redis(port=compose.ports[0], socket_timeout=30)
    assert again.get("compose:greeting") == b"hello"
    sample = keys[:: max(1, len(keys) // 200)]
    assert again.mget(sample) == [acked[key] for key in sample]
    print(
        f"compose scenario took {time.monotonic() - started:.1f}s "
        f"({len(keys)} acknowledged writes checked)"
    )


def test_compose_node_that_lost_its_volume_rejoins_and_counts_again(compose, monkeypatch):
    """chaos's compose target empties a node's data volume (the lose-disk fault). The node
    comes back under its id with no data, holds its votes until it has caught up, and then
    counts as a copy: with another node killed, the shards still commit through it."""
    for name, value in compose.env.items():
        if name != "PATH":
            monkeypatch.setenv(name, value)
    started = time.monotonic()
    target = ComposeTarget(COMPOSE_FILE, project=compose.project)
    target.start()  # finds the running cluster
    assert target.rejoining_nodes() == []

    def incarnation(node: int) -> int:
        shown = run(["docker", "exec", target.containers[node], "cat", "/data/identity.json"])
        return json.loads(shown.stdout)["incarnation"]

    client = redis.Redis(port=compose.ports[0], socket_timeout=30)
    written: dict[bytes, bytes] = {}

    def write(prefix: str) -> None:
        batch = {f"lost:{prefix}:{i}".encode(): f"{prefix}{i}".encode() for i in range(300)}
        assert client.mset(batch)
        written.update(batch)

    write("before")
    lost, killed = 3, 1
    old_incarnation = incarnation(lost)
    target.lose_disk(lost)
    write("while-lost")  # two nodes of three still commit
    target.start_node(lost)
    deadline = time.monotonic() + 180
    while target.rejoining_nodes():
        assert time.monotonic() < deadline, f"still rejoining: {target.rejoining_nodes()}"
        time.sleep(1)
    assert incarnation(lost) != old_incarnation, "the node came back with its old directory"

    target.kill(killed)
    try:
        write("after")  # commits need the rejoined node now
        keys = list(written)
        assert client.mget(keys) == [written[key] for key in keys]
    finally:
        target.start_node(killed)
    compose.wait_healthy()
    print(f"lost-volume scenario took {time.monotonic() - started:.1f}s")
