"""The compose target: the docker-compose cluster of deploy/docker-compose.yml (services
node1..nodeN, and the routers: router1, router2 and any extra-router containers, whose
published ports `docker inspect` tells). The routers' password is the one given, else env
SLOTRAFT_PASSWORD, else the one in the .env file beside the compose file, where
deploy/init-env.sh puts it; the nodes' cluster secret stays in the containers (`docker exec
... slotraft ctl` finds it in their environment).

Faults are docker commands on the project's node containers: `docker kill`, `docker start`,
`docker stop`, `docker pause`/`unpause`, and `docker network disconnect`/`connect` to
isolate nodes (which also cuts them off from the routers; single links cannot be cut). A
lost disk is a killed container whose data volume a throwaway container of the same image
empties. Leaders come from the routers' `INFO cluster`.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from chaos.keys import parse_slot_ranges, shard_tags
from chaos.targets.base import Target, votes_held

DEFAULT_COMPOSE_FILE = Path("deploy/docker-compose.yml")
DATA_DIR = "/data"  # where deploy/docker-compose.yml mounts each node's volume
ROUTER_PORT = "6379/tcp"  # the routers' port inside their containers


@functools.cache
def compose_command() -> tuple[str, ...]:
    """`docker compose` (v2) when the plugin exists, else `docker-compose` (v1)."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return ("docker", "compose")
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    raise RuntimeError("neither `docker compose` nor `docker-compose` is installed")


def password_for(compose_file: Path) -> str | None:
    """SLOTRAFT_PASSWORD from the environment, else from the .env file compose reads."""
    if os.environ.get("SLOTRAFT_PASSWORD"):
        return os.environ["SLOTRAFT_PASSWORD"]
    try:
        lines = (compose_file.parent / ".env").read_text().splitlines()
    except OSError:
        return None
    values = [
        line.split("=", 1)[1].strip() for line in lines if line.startswith("SLOTRAFT_PASSWORD=")
    ]
    value = values[-1] if values else ""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]  # compose takes KEY="value" for value
    return value or None


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


class ComposeTarget(Target):
    name = "compose"
    one_way_links = False
    lost_disks = True

    def __init__(
        self,
        compose_file: Path = DEFAULT_COMPOSE_FILE,
        project: str | None = None,
        host: str = "127.0.0.1",
        password: str | None = None,
    ) -> None:
        self.compose_file = compose_file
        self.project = project
        self.host = host
        self.password = password or password_for(compose_file)
        self.ports: list[int] = []  # the routers' published ports
        self.containers: dict[int, str] = {}  # node id -> container id
        self.networks: dict[int, dict[str, list[str]]] = {}  # node -> network -> aliases
        self.paused: set[int] = set()
        self.isolated: set[int] = set()
        self.stopped_by_us: set[int] = set()
        self.restart_counts: dict[int, int] = {}

    def _compose(self, *args: str) -> str:
        command = [*compose_command(), "-f", str(self.compose_file)]
        if self.project:
            command += ["-p", self.project]
        done = subprocess.run([*command, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command + list(args))}: {done.stderr.strip()}")
        return done.stdout.strip()

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Use the running cluster; bring it up (`compose up -d`) when it does not answer."""
        try:
            self._discover()
            running = self._routers_answer() and all(
                self._state(node) == "running" for node in self.containers
            )
        except RuntimeError:
            running = False
        if not running:
            self._compose("up", "-d")
            self._discover()
        self.wait_until_serving(180)

    def _discover(self) -> None:
        services = self._compose("config", "--services").split()
        # router1, router2 first (the target's INFO goes to the first), then extra-router.
        routers = sorted((s for s in services if "router" in s), key=lambda s: (s[0] != "r", s))
        self.ports = [
            self._published_port(container)
            for service in routers
            for container in sorted(self._compose("ps", "-q", service).split())
        ]
        for service in services:
            if service.startswith("node") and service[4:].isdigit():
                container = self._compose("ps", "-q", service)
                if not container:
                    raise RuntimeError(f"service {service} has no container")
                self.containers[int(service[4:])] = container
        for node, container in self.containers.items():
            networks = json.loads(
                docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container)
            )
            self.networks[node] = {
                name: [a for a in (settings.get("Aliases") or []) if a]
                for name, settings in networks.items()
            }
            self.restart_counts[node] = self._restart_count(node)

    def close(self) -> None:
        self.heal_all()

    def _published_port(self, container: str) -> int:
        ports = json.loads(docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", container))
        bindings = (ports or {}).get(ROUTER_PORT) or []
        if not bindings:
            raise RuntimeError(f"router container {container[:12]} publishes no {ROUTER_PORT}")
        return int(bindings[0]["HostPort"])

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(host=self.host, port=port, password=self.password, socket_timeout=5)

    def _routers_answer(self) -> bool:
        try:
            for port in self.ports:
                with self._client(port) as client:
                    client.ping()
        except (redis.RedisError, OSError):
            return False
        return bool(self.ports)

    def wait_until_serving(self, timeout: float) -> None:
        """Until every router answers a write and a read of a key on every shard."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                keys = [f"slotraft:probe:{{{tag}}}" for tag in shard_tags(self.slot_ranges())]
                for port in self.ports:
                    with self._client(port) as client:
                        for key in keys:
                            client.set(key, "1", px=5000)
                            client.get(key)
                return
            except (redis.RedisError, OSError, RuntimeError) as error:
                last = error
                time.sleep(0.5)
        raise TimeoutError(f"the compose cluster did not serve within {timeout}s: {last}")

    # ------------------------------------------------------------------ topology

    def routers(self) -> list[tuple[str, int]]:
        return [(self.host, port) for port in self.ports]

    def nodes(self) -> list[int]:
        return sorted(self.containers)

    def _cluster_info(self) -> dict[str, Any]:
        """redis-py parses `INFO cluster`; a line "shard0:slots=0-5460,leader=1,..." becomes
        {"shard0": {"slots": "0-5460", "leader": 1, ...}}."""
        with self._client(self.ports[0]) as client:
            return dict(client.info("cluster"))

    def shards(self) -> list[int]:
        return list(range(int(self._cluster_info().get("slotraft_shards", 0))))

    def slot_ranges(self) -> list[tuple[int, int]]:
        info = self._cluster_info()
        ranges = []
        for shard in self.shards():
            fields = info.get(f"shard{shard}")
            slots = str(fields.get("slots", "")) if isinstance(fields, dict) else ""
            if not slots:
                raise RuntimeError(f"INFO cluster shows no slots for shard {shard}: {fields!r}")
            ranges.append(parse_slot_ranges(slots)[0])
        return ranges

    def leader_of(self, shard: int) -> int:
        try:
            fields = self._cluster_info().get(f"shard{shard}")
        except (redis.RedisError, OSError):
            return 0
        leader = fields.get("leader") if isinstance(fields, dict) else None
        if isinstance(leader, int) or (isinstance(leader, str) and leader.isdigit()):
            return int(leader)
        return 0

    # ------------------------------------------------------------------ faults

    def kill(self, node: int) -> None:
        self.stopped_by_us.add(node)
        docker("kill", self.containers[node])

    def start_node(self, node: int) -> None:
        docker("start", self.containers[node])
        self.stopped_by_us.discard(node)

    def stop_node(self, node: int) -> None:
        self.stopped_by_us.add(node)
        docker("stop", "-t", "15", self.containers[node])

    def lose_disk(self, node: int) -> None:
        """SIGKILL the container and empty its data volume (the volume itself stays, as a
        replaced disk mounted in the same place would)."""
        container = self.containers[node]
        self.kill(node)
        volume = docker(
            "inspect",
            "-f",
            f'{{{{range .Mounts}}}}{{{{if eq .Destination "{DATA_DIR}"}}}}{{{{.Name}}}}'
            "{{end}}{{end}}",
            container,
        )
        if not volume:
            raise RuntimeError(f"node{node}'s container mounts no volume at {DATA_DIR}")
        image = docker("inspect", "-f", "{{.Image}}", container)
        docker(
            "run", "--rm", "--network", "none", "--entrypoint", "find",
            "-v", f"{volume}:{DATA_DIR}", image, DATA_DIR, "-mindepth", "1", "-delete",
        )  # fmt: skip

    def rejoining_nodes(self) -> list[int]:
        """Nodes whose identity file does not say `verified` (or cannot be read: a stopped
        container, a directory too new to have one)."""
        return [node for node in self.nodes() if votes_held(self._identity_text(node))]

    def _identity_text(self, node: int) -> str | None:
        done = subprocess.run(
            ["docker", "exec", self.containers[node], "cat", f"{DATA_DIR}/identity.json"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout if done.returncode == 0 else None

    def pause(self, node: int) -> None:
        docker("pause", self.containers[node])
        self.paused.add(node)

    def resume(self, node: int) -> None:
        if node in self.paused:
            docker("unpause", self.containers[node])
            self.paused.discard(node)

    def partition(self, groups: list[set[int]]) -> None:
        """Only whole nodes can be cut off: keep the largest group, isolate the others."""
        keep = max(groups, key=len)
        for node in self.nodes():
            if node not in keep and node not in self.isolated:
                for network in self.networks[node]:
                    docker("network", "disconnect", "--force", network, self.containers[node])
                self.isolated.add(node)

    def heal_network(self) -> None:
        for node in sorted(self.isolated):
            for network, aliases in self.networks[node].items():
                alias_args = [arg for alias in aliases for arg in ("--alias", alias)]
                docker("network", "connect", *alias_args, network, self.containers[node])
            self.isolated.discard(node)

    def heal_all(self) -> None:
        self.heal_network()
        for node in sorted(self.paused):
            self.resume(node)
        for node in self.nodes():
            if self._state(node) != "running":
                self.start_node(node)

    def _state(self, node: int) -> str:
        return docker("inspect", "-f", "{{.State.Status}}", self.containers[node])

    def _restart_count(self, node: int) -> int:
        return int(docker("inspect", "-f", "{{.RestartCount}}", self.containers[node]))

    def unexpected_exits(self) -> list[str]:
        exits = []
        for node in self.nodes():
            restarts = self._restart_count(node) - self.restart_counts.get(node, 0)
            if restarts > 0:
                exits.append(f"node{node} crashed and was restarted by docker {restarts} times")
        return exits

    def describe(self) -> dict[str, object]:
        return {
            "target": self.name,
            "compose_file": str(self.compose_file),
            "project": self.project,
            "routers": [f"{h}:{p}" for h, p in self.routers()],
            "containers": self.containers,
        }
