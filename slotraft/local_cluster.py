"""A cluster of local processes on loopback: the nodes and routers of `slotraft up`, also
used by the integration tests and the chaos runner to kill, pause and restart them."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc

from node.datadir import DirectoryLock
from proto import slotraft_pb2 as pb
from proto.credentials import SECRET_FILE_ENV, SECRET_FILE_NAME, create_secret_file
from proto.slots import key_slot
from proto.topology import ClusterDescription, NodeAddress, place_shards
from slotraft.admin_client import AdminClient, tool_credentials
from slotraft.certs import make_certificates, tls_of_dir

CLUSTER_FILE = "cluster.toml"
PASSWORD_ENV = "SLOTRAFT_PASSWORD"
ROUTER_PORTS_FILE = "router-ports"
ROUTER_TLS_PORTS_FILE = "router-tls-ports"
TLS_DIR = "tls"  # the CA and certificates of a cluster started with TLS (slotraft/certs.py)


def new_cluster_id() -> str:
    return f"slotraft-{uuid.uuid4().hex[:12]}"


_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


# FIRST-LAST: the ports free_port may hand out, for several processes that pick ports at
# once (the test suite's workers each get their own range: tests/conftest.py).
FREE_PORTS_ENV = "SLOTRAFT_FREE_PORTS"


def free_port_range() -> range:
    """Where free_port looks: FREE_PORTS_ENV's range, else the 20,000 ports below the
    kernel's ephemeral range."""
    first, _, last = os.environ.get(FREE_PORTS_ENV, "").partition("-")
    if first.isdigit() and last.isdigit() and 1024 <= int(first) <= int(last) <= 65535:
        return range(int(first), int(last) + 1)
    low, _ = _ephemeral_range()
    return range(max(1024, low - 20000), low)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now and stays free until a process of ours binds it: below the
    kernel's ephemeral range, so no outgoing connection (the nodes' gRPC clients start
    before the routers bind) can take it meanwhile, and never the same twice in a process
    (nor in two processes given disjoint ranges, FREE_PORTS_ENV)."""
    candidates = list(free_port_range())
    random.shuffle(candidates)
    for port in candidates:
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:  # below the range everything is taken: ask the OS
        sock.bind((host, 0))
        return sock.getsockname()[1]


def write_cluster_file(path: Path, description: ClusterDescription) -> None:
    lines = [
        "# The cluster description; every node reads it at start.",
        f'cluster_id = "{description.cluster_id}"',
        f"shards = {description.shards}",
        f"replicas = {description.replicas}",
        "",
    ]
    for node in description.nodes:
        lines += ["[[node]]", f"id = {node.id}", f'address = "{node.raft_address}"', ""]
    path.write_text("\n".join(lines))


@dataclass
class Process:
    role: str  # "node" or "router"
    id: int
    port: int
    command: list[str]
    log: Path
    popen: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the environment
    metrics: str = ""  # HOST:PORT of its Prometheus metrics ("": none)
    tls_port: int = 0  # a router's TLS port for clients (0: none)

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None


@dataclass
class LocalCluster:
    data_dir: Path
    nodes: int = 3
    shards: int = 3
    replicas: int = 3
    routers: int = 1
    host: str = "127.0.0.1"
    router_port: int = 0  # 0: free ports from the OS
    requirepass: str | None = None
    node_args: list[str] = field(default_factory=list)
    router_args: list[str] = field(default_factory=list)
    # Per node id: the address it binds and is known by (default `host`), and a command
    # prefix for its process (e.g. `ip netns exec NS`, which execs: the pid stays the node's).
    node_hosts: dict[int, str] = field(default_factory=dict)
    node_prefixes: dict[int, list[str]] = field(default_factory=dict)
    metrics: bool = True  # each process serves Prometheus metrics on a free port of its host
    # Mutual TLS between all processes and a TLS port on each router, with a CA and
    # certificates made in <data-dir>/tls (kept once made: a data directory that has them
    # runs with TLS). tls_port: the first router's TLS port (0: free ports).
    tls: bool = False
    tls_port: int = 0
    processes: list[Process] = field(default_factory=list)
    description: ClusterDescription | None = None
    lock: DirectoryLock | None = None
    _admin: AdminClient | None = None

    def claim(self) -> None:
        """Lock the data directory for this cluster (DirectoryInUse if another `slotraft up`
        or test holds it); held until `stop`."""
        if self.lock is None:
            self.lock = DirectoryLock(self.data_dir, "slotraft up").acquire()

    @property
    def secret_file(self) -> Path:
        return self.data_dir / SECRET_FILE_NAME

    def prepare(self) -> ClusterDescription:
        """Create (or reuse, on restart) the cluster file, the secret and the process table."""
        self.claim()
        (self.data_dir / "logs").mkdir(exist_ok=True)
        if not self.secret_file.exists():
            create_secret_file(self.secret_file)
        cluster_file = self.data_dir / CLUSTER_FILE
        if cluster_file.exists():
            description = ClusterDescription.from_toml(cluster_file)
            if not description.cluster_id:  # written before clusters had ids
                description = replace(description, cluster_id=new_cluster_id())
                write_cluster_file(cluster_file, description)
        else:
            description = ClusterDescription(
                nodes=tuple(
                    NodeAddress(
                        id=i + 1,
                        # A node host may be another namespace's address, not bindable
                        # here; a port free on `host` is as good as any there.
                        raft_address=f"{self.node_hosts.get(i + 1, self.host)}:"
                        f"{free_port(self.host)}",
                    )
                    for i in range(self.nodes)
                ),
                shards=self.shards,
                replicas=self.replicas,
                cluster_id=new_cluster_id(),
            )
            write_cluster_file(cluster_file, description)
        self.description = description
        node_tls, router_tls = self._tls_arguments()
        python = [sys.executable, "-m", "slotraft.cli"]
        # Secrets travel in the environment (readable by this user only), never on a command
        # line (readable by every local user in /proc/PID/cmdline).
        secret_env = {SECRET_FILE_ENV: str(self.secret_file.resolve())}
        self.processes = []
        for node in description.nodes:
            host, _, port_text = node.raft_address.rpartition(":")
            metrics = self._metrics_address(host)
            command = [
                *self.node_prefixes.get(node.id, []),
                *python,
                "node",
                "--id",
                str(node.id),
                "--cluster",
                str(cluster_file),
                "--data-dir",
                str(self.node_dir(node.id)),
                *(["--metrics", metrics] if metrics else []),
                *node_tls,
                *self.node_args,
            ]
            self.processes.append(
                Process(
                    "node",
                    node.id,
                    int(port_text),
                    command,
                    self.data_dir / "logs" / f"node-{node.id}.log",
                    env=secret_env,
                    metrics=metrics,
                )
            )
        seeds = ",".join(node.raft_address for node in description.nodes)
        ports_file = self.data_dir / ROUTER_PORTS_FILE
        if ports_file.exists():
            ports = [int(p) for p in ports_file.read_text().split()]
        elif self.router_port:
            ports = [self.router_port + i for i in range(self.routers)]
        else:
            ports = [free_port(self.host) for _ in range(self.routers)]
        ports_file.write_text(" ".join(map(str, ports)))
        tls_ports = self._router_tls_ports(len(ports))
        for index, port in enumerate(ports):
            metrics = self._metrics_address(self.host)
            command = [
                *python,
                "router",
                "--host",
                self.host,
                "--port",
                str(port),
                "--nodes",
                seeds,
                *(["--metrics", metrics] if metrics else []),
                *router_tls,
                *(["--tls-port", str(tls_ports[index])] if tls_ports else []),
                *self.router_args,
            ]
            self.processes.append(
                Process(
                    "router",
                    index + 1,
                    port,
                    command,
                    self.data_dir / "logs" / f"router-{index + 1}.log",
                    env={**secret_env, PASSWORD_ENV: self.requirepass or ""},
                    metrics=metrics,
                    tls_port=tls_ports[index] if tls_ports else 0,
                )
            )
        return description

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / TLS_DIR

    def _tls_arguments(self) -> tuple[list[str], list[str]]:
        """The nodes' and the routers' TLS flags: the cluster's links in mutual TLS with
        <data-dir>/tls's CA, each router serving clients over TLS with its server
        certificate. Empty without TLS."""
        self.tls = self.tls or (self.tls_dir / "ca.crt").exists()
        if not self.tls:
            return [], []
        names = {self.host, "localhost", "127.0.0.1", *self.node_hosts.values()}
        paths = make_certificates(self.tls_dir, tuple(sorted(names)))
        ca = ["--tls-ca-cert-file", str(paths.ca.resolve())]
        node = [
            "--tls-cert-file",
            str(paths.cert("node")),
            "--tls-key-file",
            str(paths.key("node")),
        ]
        router = [
            "--tls-cluster",
            "yes",
            "--tls-client-cert-file",
            str(paths.cert("node")),
            "--tls-client-key-file",
            str(paths.key("node")),
            "--tls-cert-file",
            str(paths.cert("server")),
            "--tls-key-file",
            str(paths.key("server")),
            *ca,
        ]
        return ["--tls-cluster", "yes", *node, *ca], router

    def _router_tls_ports(self, count: int) -> list[int]:
        """Each router's TLS port (none without TLS): those of the last run, else from
        `tls_port` on, else free ones."""
        path = self.data_dir / ROUTER_TLS_PORTS_FILE
        if not (self.tls or self.tls_port):
            return []
        if path.exists():
            ports = [int(p) for p in path.read_text().split()]
            if len(ports) == count and not self.tls_port:
                return ports
        if self.tls_port:
            ports = [self.tls_port + i for i in range(count)]
        else:
            ports = [free_port(self.host) for _ in range(count)]
        path.write_text(" ".join(map(str, ports)))
        return ports

    @property
    def router_tls_ports(self) -> list[int]:
        return [p.tls_port for p in self.processes if p.role == "router"]

    def add_joining_node(self, node_id: int, port: int = 0) -> Process:
        """A process for a new node (`slotraft node --join`) on `port` (0: a free one), not
        started; `slotraft ctl add-node --id N --address HOST:PORT` then adds it."""
        assert self.description is not None
        port = port or free_port(self.host)
        address = f"{self.host}:{port}"
        command = [
            sys.executable,
            "-m",
            "slotraft.cli",
            "node",
            "--join",
            "--id",
            str(node_id),
            "--address",
            address,
            "--cluster",
            str(self.data_dir / CLUSTER_FILE),
            "--data-dir",
            str(self.node_dir(node_id)),
            *self.node_args,
            *self._tls_arguments()[0],
        ]
        process = Process(
            "node",
            node_id,
            port,
            command,
            self.data_dir / "logs" / f"node-{node_id}.log",
            env={SECRET_FILE_ENV: str(self.secret_file.resolve())},
        )
        self.processes.append(process)
        return process

    def _metrics_address(self, host: str) -> str:
        """Where a process on `host` serves its metrics: a port free now ("" with metrics
        off). A node host may be another namespace's address: a port free on `host` is as
        good as any there."""
        if not self.metrics:
            return ""
        port = free_port(self.host)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    # ------------------------------------------------------------------ processes

    def start(self) -> None:
        self.claim()
        if not self.processes:
            self.prepare()
        for process in self.processes:
            self.start_process(process)

    def start_process(self, process: Process) -> None:
        if process.running:
            return
        handle = open(process.log, "ab")  # noqa: SIM115 (the child keeps it open)
        env = dict(os.environ, PYTHONUNBUFFERED="1", **process.env)
        process.popen = subprocess.Popen(
            process.command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        handle.close()

    def node_dir(self, node_id: int) -> Path:
        """Node `node_id`'s data directory."""
        return self.data_dir / f"node-{node_id}"

    def node(self, node_id: int) -> Process:
        return next(p for p in self.processes if p.role == "node" and p.id == node_id)

    def router(self, index: int = 1) -> Process:
        return next(p for p in self.processes if p.role == "router" and p.id == index)

    @property
    def router_ports(self) -> list[int]:
        return [p.port for p in self.processes if p.role == "router"]

    def signal(self, process: Process, signum: int) -> None:
        if process.running:
            assert process.popen is not None
            os.kill(process.popen.pid, signum)

    def kill(self, process: Process) -> None:
        """SIGKILL: no chance to flush or say goodbye."""
        if process.running:
            assert process.popen is not None
            process.popen.kill()
            process.popen.wait()

    def pause(self, process: Process) -> None:
        self.signal(process, signal.SIGSTOP)

    def resume(self, process: Process) -> None:
        self.signal(process, signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        for process in self.processes:
            self.resume(process)
            self.signal(process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            if process.popen is None:
                continue
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        self.close_admin()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def crashed(self) -> list[Process]:
        return [p for p in self.processes if p.popen is not None and p.popen.poll() is not None]

    # ------------------------------------------------------------------ readiness and status

    def probe_keys(self) -> list[bytes]:
        """One key per shard (by slot), to check that every shard serves."""
        assert self.description is not None
        keys = []
        for placement in place_shards(self.description):
            first, last = placement.slots[0]
            for n in range(100_000):
                key = b"slotraft:probe:%d" % n
                if first <= key_slot(key) <= last:
                    keys.append(key)
                    break
        return keys

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        """Until every router answers a write and a read on every shard."""
        import redis

        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        keys = self.probe_keys()
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.popen is not None and process.popen.poll() is not None:
                    raise RuntimeError(
                        f"{process.role} {process.id} exited with "
                        f"{process.popen.returncode}; see {process.log}"
                    )
            try:
                for port in self.router_ports:
                    with redis.Redis(
                        host=self.host, port=port, password=self.requirepass, socket_timeout=5
                    ) as client:
                        for key in keys:
                            client.set(key, b"1", px=5000)
                            client.get(key)
                return
            except Exception as error:  # any failure means: not serving yet
                last_error = error
                time.sleep(0.2)
        raise TimeoutError(f"the cluster did not serve within {timeout}s: {last_error}")

    def status(self, timeout: float = 2.0) -> list[pb.ClusterStatus]:
        answers = []
        admin = self.admin()
        for process in self.processes:
            if process.role != "node" or not process.running:
                continue
            with contextlib.suppress(grpc.RpcError):
                address = f"{self.node_hosts.get(process.id, self.host)}:{process.port}"
                answers.append(admin.call(address, "Status", pb.StatusRequest(), timeout))
        return answers

    def admin(self) -> AdminClient:
        """A client of the nodes' Admin service with this cluster's secret."""
        if self._admin is None:
            cluster_id = self.description.cluster_id if self.description is not None else ""
            self._admin = AdminClient(
                tool_credentials(
                    self.secret_file, cluster_id=cluster_id, tls=tls_of_dir(self.tls_dir)
                )
            )
        return self._admin

    def close_admin(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def wait_until_caught_up(self, timeout: float = 60.0) -> None:
        """Until every running node answers and each of its replicas has applied what its
        shard's leader has committed (with no writes going on: the leader's commit moves)."""
        deadline = time.monotonic() + timeout
        while True:
            answers = self.status()
            running = sum(1 for p in self.processes if p.role == "node" and p.running)
            commits = {
                info.id: info.commit
                for answer in answers
                for info in answer.local
                if info.leader == answer.node
            }
            replicas = [info for answer in answers for info in answer.local]
            if (
                len(answers) == running
                and replicas
                and all(info.applied >= commits.get(info.id, 1 << 62) for info in replicas)
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the nodes did not catch up within {timeout}s")
            time.sleep(0.1)

    def leader_of(self, shard: int) -> int:
        """The node that says it leads the shard (0 if none does)."""
        for answer in self.status():
            for info in answer.local:
                if info.id == shard and info.leader == answer.node:
                    return answer.node
        return 0

    def shard_of(self, key: bytes) -> int:
        assert self.description is not None
        slot = key_slot(key)
        for placement in place_shards(self.description):
            if any(first <= slot <= last for first, last in placement.slots):
                return placement.id
        raise KeyError(key)
