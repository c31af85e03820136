"""README.md's "docker compose" section, run as written, end to end.

The commands are read from the section's code block, so the test fails when the README
names one port or service and Docker publishes another. They run as a person would run
them: one after the other in bash, in the repository's root, with a terminal on standard
input (docker-compose v1's `exec` wants one) and the variables each exports carried to the
next. The only changes are the ones the README documents: with compose v1, `docker compose`
becomes `docker-compose` and `--wait` goes; without a registry, the base image is built and
SLOTRAFT_BASE_IMAGE set. COMPOSE_PROJECT_NAME, in the environment, keeps the test's
containers, volumes and network apart from anyone else's. Every command is checked for what
the README says it does; a command the test does not know how to check fails it.

Between the README's commands: a shard leader's container is killed while writes go on and
nothing acknowledged is lost; a node whose volume was emptied rejoins and counts again;
`down` and the README's `up` again keep the data; `down -v` leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from chaos.targets.compose import ComposeTarget

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
ENV_FILE = ROOT / "deploy" / ".env"
IMAGE = "slotraft:local"
LOCAL_BASE = "slotraft-base:bookworm"
PUBLIC_BASE = "python:3.11-slim"
FIXED_SERVICES = ("node1", "node2", "node3", "router1", "router2")
SECRET_KEYS = ("SLOTRAFT_CLUSTER_SECRET", "SLOTRAFT_CLUSTER_ID", "SLOTRAFT_PASSWORD")
SERVICE_AND_HEALTH = (
    '{{index .Config.Labels "com.docker.compose.service"}} '
    "{{if .State.Health}}{{.State.Health.Status}}{{end}}"
)
V1_NOTE = "replace `docker compose` by `docker-compose` and drop `--wait`"
# What a person's shell would pass on to docker; nothing of slotraft's (SLOTRAFT_PORT_1 in
# the test's own environment would move the ports the README names).
PASSED_ON = (
    "PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR", "DOCKER_HOST",
    "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
)  # fmt: skip

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]


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


def compose_program() -> list[str]:
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


def image_id(name: str) -> str:
    return run(["docker", "image", "inspect", "-f", "{{.Id}}", name], check=False).stdout.strip()


# ---------------------------------------------------------------------- the README


@dataclass
class ReadmeSection:
    commands: list[str]  # the code block's lines, comments included, as written
    prose: str  # the rest of the section, its whitespace collapsed


def readme_compose_section() -> ReadmeSection:
    text = README.read_text()
    section = re.search(r"^## docker compose\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, "README.md has no '## docker compose' section"
    block = re.search(r"```sh\n(.*?)```", section.group(1), re.S)
    assert block, "the README's docker compose section has no ```sh block"
    commands = [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    prose = section.group(1).replace(block.group(0), " ")
    return ReadmeSection(commands, " ".join(prose.split()))


def comment_of(command: str) -> str:
    return command.split(" #", 1)[1].strip() if " #" in command else ""


def compose_args(command: str) -> list[str] | None:
    """What follows `docker compose -f deploy/docker-compose.yml`, or None for another
    command."""
    match = re.match(r"docker compose -f deploy/docker-compose\.yml (.*)", command)
    return match.group(1).split(" #", 1)[0].split() if match else None


def ports_named(section: ReadmeSection) -> list[int]:
    return [int(port) for port in re.findall(r"redis-cli -p (\d+)", "\n".join(section.commands))]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Shell:
    """A person's shell session: every command runs in bash in the repository's root with a
    terminal on standard input; what it exports carries to the next command."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryDirectory() as scratch:
            exported = Path(scratch) / "env"
            script = f"set -o pipefail\n{command}\nstatus=$?\nenv -0 >{exported}\nexit $status\n"
            terminal, stdin = os.openpty()
            try:
                bash = ["bash", "-c", script]
                done = run(bash, timeout=timeout, check=False, stdin=stdin, env=self.env)
            finally:
                os.close(stdin)
                os.close(terminal)
            if exported.exists():
                pairs = (item.split("=", 1) for item in exported.read_text().split("\0"))
                self.env = {
                    name: value
                    for name, value in (pair for pair in pairs if len(pair) == 2)
                    if name not in ("_", "SHLVL", "PWD", "OLDPWD")
                }
        done.stdout = done.stdout.replace("\r\n", "\n")
        return done


# ---------------------------------------------------------------------- the run


@dataclass
class Readme:
    """The README's compose section being run on one compose project."""

    section: ReadmeSection
    program: list[str]
    project: str
    shell: Shell
    remaining: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # command as written -> stdout
    password: str | None = None
    router_ports: dict[str, int] = field(default_factory=dict)  # router1 -> 6379 ...
    routers_before: dict[str, list[str]] = field(default_factory=dict)  # before a --scale

    # -------------------------------------------------------------- commands

    def adapted(self, command: str) -> str:
        if self.program == ["docker", "compose"]:
            return command
        assert V1_NOTE in self.section.prose, (
            f"the test adapts the README's commands for compose v1, but the README no longer "
            f"says so ({V1_NOTE!r})"
        )
        return re.sub(r" --wait\b", "", command.replace("docker compose ", "docker-compose "))

    def run_next(self) -> None:
        command = self.remaining.pop(0)
        if "--scale" in command:
            self.routers_before = {s: self.container_ids(s) for s in ("router1", "router2")}
        slow = command.startswith("deploy/build") or "--build" in command
        done = self.shell(self.adapted(command), timeout=1200 if slow else 300)
        assert done.returncode == 0, (
            f"README command failed (exit {done.returncode}): {command}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        self.outputs[command] = done.stdout
        self.check(command, done.stdout)

    def run_until(self, stop: str) -> None:
        """Runs the README's commands up to the first one that contains `stop`."""
        assert any(stop in command for command in self.remaining), (
            f"no README command left contains {stop!r}: {self.remaining}"
        )
        while stop not in self.remaining[0]:
            self.run_next()

    def up_command(self) -> str:
        return next(c for c in self.section.commands if (compose_args(c) or [""])[0] == "up")

    # -------------------------------------------------------------- checks

    def check(self, command: str, output: str) -> None:
        """What the README says the command does, it did."""
        args = compose_args(command)
        if command.startswith("deploy/build-wheels.sh"):
            assert any((ROOT / "deploy" / "wheels").glob("slotraft-*.whl"))
        elif command.startswith("deploy/init-env.sh"):
            assert ENV_FILE.stat().st_mode & 0o777 == 0o600
            values = env_file_values()
            assert all(values.get(key) for key in SECRET_KEYS), sorted(values)
            self.password = values["SLOTRAFT_PASSWORD"]
        elif command.startswith("export "):
            name = command.split()[1].split("=", 1)[0]
            assert self.shell.env.get(name), f"{command} exported nothing"
            if name == "REDISCLI_AUTH":
                assert self.shell.env[name] == self.password
        elif command.startswith("redis-cli "):
            self.check_redis_cli(command, output)
        elif args is None:
            pytest.fail(f"the test does not know how to check this README command: {command}")
        elif args[0] == "up":
            scale = re.search(r"--scale extra-router=(\d+)", command)
            self.check_up(int(scale.group(1)) if scale else 0)
        elif args[0] == "ps":
            for service in FIXED_SERVICES:
                assert service in output, f"`ps` does not show {service}:\n{output}"
        elif args[:2] == ["exec", "node1"] and args[-1] == "status":
            assert "shard 0" in output and "unreachable" not in output, output
            assert all(f"node {node}" in output for node in (1, 2, 3)), output
        elif args[0] == "port":
            self.check_port(args, output)
        elif args == ["down"]:
            assert self.containers() == [], "`down` left containers"
            assert len(self.volumes()) == 3, "`down` must keep the nodes' volumes"
        elif args == ["down", "-v"]:
            assert self.containers() == [], "`down -v` left containers"
            assert self.volumes() == [], "`down -v` left volumes"
            assert self.networks() == [], "`down -v` left networks"
        else:
            pytest.fail(f"the test does not know how to check this README command: {command}")

    def check_redis_cli(self, command: str, output: str) -> None:
        match = re.match(r"redis-cli -p (\d+)", command)
        assert match, command
        port = int(match.group(1))
        if command.split(" #", 1)[0].split()[3:] == ["PING"]:
            assert output.strip() == "PONG", f"{command}: {output!r}"
        router = re.fullmatch(r"router (\d+)", comment_of(command))
        assert router, f"{command}: the comment should say which router (router N)"
        service = f"router{router.group(1)}"
        assert self.published(service) == ("127.0.0.1", port), (
            f"the README says {service} is on {port}; Docker published it on "
            f"{self.published(service)}"
        )
        self.router_ports[service] = port

    def check_up(self, extra_routers: int) -> None:
        self.wait_healthy(extra_routers)
        for service, port in self.router_ports.items():
            assert self.published(service) == ("127.0.0.1", port), f"{service} moved"
        if extra_routers:
            for service, ids in self.routers_before.items():
                assert self.container_ids(service) == ids, f"scaling recreated {service}"

    def check_port(self, args: list[str], output: str) -> None:
        index = int(args[args.index("--index") + 1]) if "--index" in args else 1
        service = args[-2]
        host, port = output.strip().rsplit(":", 1)
        assert host == "127.0.0.1", f"{service} published on {host}, the README says 127.0.0.1"
        ports = self.extra_router_ports()
        assert int(port) in ports and len(set(ports)) == len(ports) >= index, ports
        assert not set(ports) & set(self.router_ports.values())
        with redis.Redis(port=int(port), password=self.password, socket_timeout=30) as client:
            assert client.ping()
            assert client.get("compose:greeting") == b"hello"

    # -------------------------------------------------------------- docker

    def compose(self, *args: str, timeout: float = 300) -> str:
        command = [*self.program, "-f", str(COMPOSE_FILE), *args]
        done = run(command, timeout=timeout, check=False, env=self.shell.env)
        if done.returncode != 0:
            raise RuntimeError(f"compose {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def published(self, service: str, index: int = 1) -> tuple[str, int]:
        host, port = (
            self.compose("port", "--index", str(index), service, "6379").strip().rsplit(":", 1)
        )
        return host, int(port)

    def _labelled(self, kind: str, *extra: str) -> list[str]:
        label = f"label=com.docker.compose.project={self.project}"
        command = ["docker", kind, "ls", "-q", "--filter", label, *extra]
        return run(command).stdout.split()

    def containers(self) -> list[str]:
        return self._labelled("container", "--all")

    def volumes(self) -> list[str]:
        return self._labelled("volume")

    def networks(self) -> list[str]:
        return self._labelled("network")

    def container_ids(self, service: str) -> list[str]:
        return sorted(self.compose("ps", "-q", service).split())

    def container(self, service: str) -> str:
        ids = self.container_ids(service)
        assert len(ids) == 1, f"{service}: {ids}"
        return ids[0]

    def extra_router_ports(self) -> list[int]:
        ports = []
        for ident in self.container_ids("extra-router"):
            shown = run(["docker", "inspect", "-f", "{{json .NetworkSettings.Ports}}", ident])
            ports.append(int(json.loads(shown.stdout)["6379/tcp"][0]["HostPort"]))
        return ports

    def wait_healthy(self, extra_routers: int = 0, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        expected = {**dict.fromkeys(FIXED_SERVICES, 1), "extra-router": extra_routers}
        states: dict[str, list[str]] = {}
        while time.monotonic() < deadline:
            states = {}
            for ident in self.containers():
                inspect = ["docker", "inspect", "-f", SERVICE_AND_HEALTH, ident]
                shown = run(inspect, check=False).stdout.split()
                if shown:
                    states.setdefault(shown[0], []).append(shown[1] if len(shown) > 1 else "?")
            counts = {service: len(states.get(service, [])) for service in expected}
            healthy = all(s == "healthy" for found in states.values() for s in found)
            if counts == expected and healthy:
                return
            time.sleep(1)
        raise TimeoutError(
            f"not {expected} healthy after {timeout}s: {states}\n"
            + self.compose("logs", "--tail", "30")
        )

    def status(self) -> list[dict]:
        for service in ("node1", "node2", "node3", "router1"):
            ids = self.container_ids(service)
            if not ids:
                continue
            ctl = ["slotraft", "ctl", "--data-dir", "/etc/slotraft", "status", "--json"]
            result = run(["docker", "exec", ids[0], *ctl], check=False, timeout=60)
            if result.returncode == 0:
                return json.loads(result.stdout)
        raise RuntimeError("no container could run `slotraft ctl status`")

    def client(self, router: str = "router1") -> redis.Redis:
        return redis.Redis(
            port=self.router_ports[router], password=self.password, socket_timeout=30
        )


def env_file_values() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_FILE.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def refuse_a_foreign_env_file() -> None:
    """A deploy/.env the test did not write is used as the README's commands would use it,
    unless it moves what the README names."""
    if ENV_FILE.exists():
        foreign = sorted(set(env_file_values()) - set(SECRET_KEYS))
        if foreign:
            pytest.fail(
                f"{ENV_FILE} sets {', '.join(foreign)}, which would move the ports or names "
                "the README's compose section promises; move the file away to run this test"
            )


@pytest.fixture(scope="module")
def readme():
    if not docker_answers():
        pytest.skip("no Docker engine answers (`docker info` failed)")
    section = readme_compose_section()
    taken = [port for port in ports_named(section) if not port_is_free(port)]
    if taken:
        pytest.fail(
            f"port(s) {taken}, which the README's docker compose section names, are in use on "
            "this machine; the test runs the README as written, on its ports: free them"
        )
    refuse_a_foreign_env_file()
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    env["COMPOSE_PROJECT_NAME"] = f"slotraft-test-{uuid.uuid4().hex[:8]}"
    base = base_image()
    if base != PUBLIC_BASE:
        assert f"SLOTRAFT_BASE_IMAGE={base}" in section.prose, "the README says how"
        env["SLOTRAFT_BASE_IMAGE"] = base
    cluster = Readme(section, compose_program(), env["COMPOSE_PROJECT_NAME"], Shell(env))
    cluster.remaining = list(section.commands)
    wrote_env_file = not ENV_FILE.exists()
    old_image = image_id(IMAGE)
    started = time.monotonic()
    try:
        cluster.run_until("--scale")
        print(f"README bring-up took {time.monotonic() - started:.1f}s")
        yield cluster
    finally:
        if cluster.containers() or cluster.volumes() or cluster.networks():
            try:
                cluster.compose("down", "-v", "--remove-orphans", "-t", "5")
            except RuntimeError as error:
                print(error)
        # What the base file does not name (the scale override's nodes and volumes).
        for container in cluster.containers():
            run(["docker", "rm", "-f", container], check=False)
        for volume in cluster.volumes():
            run(["docker", "volume", "rm", volume], check=False)
        if wrote_env_file:
            ENV_FILE.unlink(missing_ok=True)
        if old_image and image_id(IMAGE) != old_image:  # the old build, untagged now
            run(["docker", "image", "rm", old_image], check=False)


def test_readme_brings_the_cluster_up_on_the_ports_it_names(readme):
    """Every command up to the scaling ran as written, and each router is where the README
    says, on 127.0.0.1."""
    ran = readme.section.commands[: len(readme.section.commands) - len(readme.remaining)]
    assert [command for command in ran if command.startswith("redis-cli")]
    assert set(readme.router_ports) == {"router1", "router2"}
    assert set(readme.router_ports.values()) == set(ports_named(readme.section))
    for service, port in readme.router_ports.items():
        assert readme.published(service) == ("127.0.0.1", port)
        with readme.client(service) as client:
            assert client.ping()
        with (
            redis.Redis(port=port, socket_timeout=30) as anonymous,
            pytest.raises(redis.AuthenticationError),
        ):
            anonymous.get("anything")


def leader_of(readme: Readme, shard: int) -> int:
    for answer in readme.status():
        for info in answer["local"]:
            if info["id"] == shard and int(info["leader"]) == int(answer["node"]):
                return int(answer["node"])
    return 0


def test_compose_cluster_survives_a_killed_leader(readme):
    started = time.monotonic()
    first, second = readme.client("router1"), readme.client("router2")
    assert first.set("compose:greeting", "hello")
    assert second.get("compose:greeting") == b"hello"
    assert second.incr("compose:n") == 1 and first.incr("compose:n") == 2

    counter = b"compose:counter"
    acked: dict[bytes, bytes] = {}
    incr = {"acked": 0, "attempted": 0}
    stop = threading.Event()

    def write() -> None:
        client = readme.client("router1")
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
    leader = leader_of(readme, shard)
    assert leader, "shard 0 has a leader"
    victim = readme.container(f"node{leader}")
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
        answers = readme.status()
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
    readme.wait_healthy()
    print(
        f"killed-leader scenario took {time.monotonic() - started:.1f}s "
        f"({len(keys)} acknowledged writes checked)"
    )


def test_compose_node_that_lost_its_volume_rejoins_and_counts_again(readme):
    """chaos's compose target empties a node's data volume (the lose-disk fault). The node
    comes back under its id with no data, holds its votes until it has caught up, and then
    counts as a copy: with another node killed, the shards still commit through it. The
    target finds the routers' password in deploy/.env, as `slotraft chaos` would."""
    started = time.monotonic()
    target = ComposeTarget(COMPOSE_FILE, project=readme.project)
    assert target.password == readme.password
    target.start()  # finds the running cluster
    assert sorted(target.ports) == sorted(readme.router_ports.values())
    assert target.rejoining_nodes() == []

    def incarnation(node: int) -> int:
        shown = run(["docker", "exec", target.containers[node], "cat", "/data/identity.json"])
        return json.loads(shown.stdout)["incarnation"]

    client = readme.client("router1")
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
    readme.wait_healthy()
    print(f"lost-volume scenario took {time.monotonic() - started:.1f}s")


APT_FAILED = ("Unable to locate package", "Failed to fetch", "Temporary failure resolving")
SCRAPED = {f"{service}:9100" for service in FIXED_SERVICES}


SCALE_FILE = ROOT / "deploy" / "docker-compose.scale.yml"


def scale_header_commands() -> list[str]:
    """The commands the scale override's header gives, as written (continuations joined)."""
    lines: list[str] = []
    for line in SCALE_FILE.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line[1:].strip()
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1].rstrip() + " " + text
        elif text.startswith("docker compose"):
            lines.append(text)
    return lines


def slot_map_of(readme: Readme) -> dict:
    return max((a["slotMap"] for a in readme.status()), key=lambda m: int(m["epoch"]))


def test_scale_override_grows_to_five_nodes_and_a_removed_node_retires(readme):
    """deploy/docker-compose.scale.yml's header, run as written: node4 and node5 start and
    join, `slotraft ctl` in node1's container adds them and rebalances (every node then holds
    replicas); remove-node 5 and 4 take the cluster back to three nodes, each removed node
    retires (it exits and refuses to start again), and no write is lost meanwhile."""
    commands = scale_header_commands()
    assert len(commands) == 5, commands  # up, two add-node, rebalance, the removal's rm
    with readme.client() as client:
        client.set("compose:before-scale", "kept")
    for command in commands[:4]:
        done = readme.shell(readme.adapted(command), timeout=600)
        assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    slot_map = slot_map_of(readme)
    holding: dict[int, int] = {int(n["id"]): 0 for n in slot_map["nodes"]}
    for shard in slot_map["shards"]:
        for replica in shard["replicas"]:
            holding[int(replica)] += 1
    assert sorted(holding) == [1, 2, 3, 4, 5] and min(holding.values()) >= 1, holding
    with readme.client() as client:
        client.set("compose:five-nodes", "yes")
    node1 = readme.container("node1")
    for node in (5, 4):
        ctl = ["slotraft", "ctl", "--node", "node1:7000", "remove-node", str(node)]
        removed = run(["docker", "exec", node1, *ctl], timeout=600, check=False)
        assert removed.returncode == 0, f"{removed.stdout}\n{removed.stderr}"
        assert f"node {node} (node{node}:7000) stopped for good" in removed.stdout, removed.stdout
    # Docker starts a retired node again (restart: unless-stopped): it refuses at once.
    deadline = time.monotonic() + 120
    logs = ""
    while time.monotonic() < deadline and "not starting" not in logs:
        time.sleep(2)
        (node5,) = readme._labelled(
            "container", "--all", "--filter", "label=com.docker.compose.service=node5"
        )
        shown = run(["docker", "logs", node5], check=False)
        logs = shown.stdout + shown.stderr
    assert "was removed from the cluster" in logs and "not starting" in logs, logs[-2000:]
    rm = readme.adapted(commands[4]).replace("node5", "node4 node5")
    done = readme.shell(rm, timeout=300)
    assert done.returncode == 0, f"{rm}:\n{done.stdout}\n{done.stderr}"
    for volume in ("node4-data", "node5-data"):
        run(["docker", "volume", "rm", f"{readme.project}_{volume}"], check=False)
    slot_map = slot_map_of(readme)
    assert sorted(int(n["id"]) for n in slot_map["nodes"]) == [1, 2, 3]
    with readme.client() as client:
        assert client.get("compose:before-scale") == b"kept"
        assert client.get("compose:five-nodes") == b"yes"


def test_monitoring_profile_scrapes_every_node_and_router(readme):
    """The `monitoring` profile's Prometheus, built from Debian's package, has every node
    and router as a target and all of them up (/api/v1/targets), and it evaluates every
    expression of the Grafana dashboard. Skipped when apt cannot install the package."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**readme.shell.env, "SLOTRAFT_PROMETHEUS_PORT": str(port)}
    compose = [*readme.program, "-f", str(COMPOSE_FILE), "--profile", "monitoring"]
    built = run([*compose, "build", "prometheus"], timeout=1200, check=False, env=env)
    if built.returncode != 0 and any(text in built.stdout + built.stderr for text in APT_FAILED):
        pytest.skip(f"apt cannot install Debian's prometheus package:\n{built.stderr[-2000:]}")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        run([*compose, "up", "-d", "--no-deps", "prometheus"], timeout=300, env=env)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{api}/targets", timeout=10) as answer:
                    targets = json.load(answer)["data"]["activeTargets"]
            except OSError:
                targets = []
            health = {t["labels"]["instance"]: t["health"] for t in targets}
            if set(health) >= SCRAPED and set(health.values()) == {"up"}:
                break
            assert time.monotonic() < deadline, f"targets not all up: {health}"
            time.sleep(2)
        dashboard = json.loads((ROOT / "deploy/grafana/slotraft-dashboard.json").read_text())
        for target in (t for panel in dashboard["panels"] for t in panel["targets"]):
            query = urllib.parse.urlencode({"query": target["expr"]})
            with urllib.request.urlopen(f"{api}/query?{query}", timeout=10) as answer:
                assert json.load(answer)["status"] == "success", target["expr"]
    finally:
        run([*compose, "rm", "-s", "-f", "prometheus"], timeout=120, check=False, env=env)


def test_readme_scaling_and_down_as_written(readme):
    """The rest of the README's commands: more routers on ports `port --index` tells while
    router 1 and 2 stay put, `down` removes them all and keeps the data, which the README's
    `up` brings back (without the extra routers), and `down -v` leaves nothing."""
    started = time.monotonic()
    with readme.client() as client:
        client.set("compose:greeting", "hello")
        client.set("compose:kept", "across down and up")
    while readme.remaining:
        command = readme.remaining[0]
        readme.run_next()
        if compose_args(command) == ["down"]:
            # Data survives `down` (volumes kept) and the README's `up` again.
            up = readme.up_command()
            readme.remaining.insert(0, up)
            readme.run_next()
            assert readme.container_ids("extra-router") == []
            with readme.client("router2") as client:
                assert client.get("compose:kept") == b"across down and up"
            assert readme.remaining and (compose_args(readme.remaining[0]) or [""])[0] == "down"
    assert {"--scale", "port", "down"} <= {
        word for command in readme.outputs for word in (compose_args(command) or [])
    }
    print(f"scaling and down took {time.monotonic() - started:.1f}s")
