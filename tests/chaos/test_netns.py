"""The local target's namespace network (`--network netns`): namespaces reach each other
and the root namespace over the bridge; a cut drops one direction only; partitions can put
the root namespace (the routers) on one side; nothing is left behind, not even by a run
that died; and a chaos run with partitions and kills in that mode finds no anomaly."""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos import cli
from chaos.checkers.result import VALID
from chaos.netns import ROOT, NamespaceNetwork, cleanup_stale, links, namespaces, run
from chaos.targets.local import LocalTarget
from proto.topology import ClusterDescription
from tests.chaos.test_chaos_run import ROOT as REPOSITORY
from tests.chaos.test_chaos_run import chaos, explain, results

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("iptables") is None,
    reason="needs root and the `ip` and `iptables` commands (it creates network namespaces, "
    "a bridge and iptables rules)",
)

PORT = 7000  # every namespace is new: any port is free in it

# TCP echo and UDP sink on one port; prints every datagram it receives.
SERVER = r"""
import socket, sys, threading
address = (sys.argv[1], int(sys.argv[2]))
tcp = socket.create_server(address)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(address)
def echo(conn):
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)
def accept():
    while True:
        threading.Thread(target=echo, args=(tcp.accept()[0],), daemon=True).start()
threading.Thread(target=accept, daemon=True).start()
print("ready", flush=True)
while True:
    print(udp.recvfrom(4096)[0].decode(), flush=True)
"""

TCP_CLIENT = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.0) as s:
        s.sendall(b"ping")
        sys.exit(0 if s.recv(4) == b"ping" else 1)
except OSError:
    sys.exit(1)
"""

UDP_SEND = r"""
import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
    sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
"""

# A run whose owner dies without closing: makes a network, leaves a process in it.
ORPHAN = r"""
import subprocess, sys, time
from chaos.netns import NamespaceNetwork
network = NamespaceNetwork([1, 2])
network.create()
sleeper = subprocess.Popen([*network.exec_prefix(1), "sleep", "120"], start_new_session=True)
print(network.run_name, sleeper.pid, flush=True)
time.sleep(120)
"""


def leftovers(run_name: str) -> list[str]:
    found = [f"namespace {n}" for n in namespaces() if n.startswith(run_name)]
    found += [f"link {n}" for n in links() if n.startswith(run_name)]
    found += [rule for rule in run(["iptables", "-S", "FORWARD"]).splitlines() if run_name in rule]
    return found


class Server:
    """SERVER in a node's namespace; its output lines in a queue."""

    def __init__(self, network: NamespaceNetwork, node: int) -> None:
        address = network.address(node)
        self.popen = subprocess.Popen(
            [*network.exec_prefix(node), sys.executable, "-c", SERVER, address, str(PORT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.lines.get(timeout=10) == "ready"

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.strip())

    def received(self, word: str, timeout: float) -> bool:
        with contextlib.suppress(queue.Empty):
            while True:
                if self.lines.get(timeout=timeout) == word:
                    return True
        return False

    def stop(self) -> None:
        self.popen.kill()
        self.popen.wait()


@pytest.fixture
def network() -> Iterator[NamespaceNetwork]:
    network = NamespaceNetwork([1, 2, 3])
    try:
        network.create()
        yield network
    finally:
        network.close()
    assert leftovers(network.run_name) == []


@pytest.fixture
def servers(network: NamespaceNetwork) -> Iterator[dict[int, Server]]:
    started: dict[int, Server] = {}
    try:
        for node in (1, 2):
            started[node] = Server(network, node)
        yield started
    finally:
        for server in started.values():
            server.stop()


def tcp_ok(network: NamespaceNetwork, source: int, destination: int) -> bool:
    """Whether an echo from `source` (a node, or ROOT: this process) to a server works."""
    host = network.address(destination)
    if source == ROOT:
        try:
            with socket.create_connection((host, PORT), timeout=1.0) as sock:
                sock.sendall(b"ping")
                return sock.recv(4) == b"ping"
        except OSError:
            return False
    command = [*network.exec_prefix(source), sys.executable, "-c", TCP_CLIENT, host, str(PORT)]
    return subprocess.run(command, timeout=10).returncode == 0


def udp_send(network: NamespaceNetwork, source: int, destination: int, word: str) -> None:
    host = network.address(destination)
    command = [*network.exec_prefix(source), sys.executable, "-c", UDP_SEND, host, str(PORT)]
    subprocess.run([*command, word], check=True, timeout=10)


@needs_root
def test_namespaces_reach_each_other_and_the_root_and_cuts_drop_one_direction(network, servers):
    pids = run(["ip", "netns", "pids", network.namespace(2)]).split()
    assert str(servers[2].popen.pid) in pids  # `ip netns exec` execs: signals reach the server
    assert all(tcp_ok(network, source, 2) for source in (ROOT, 1, 3))

    network.cut({(1, 2)})
    assert not tcp_ok(network, 1, 2)
    assert tcp_ok(network, 3, 2) and tcp_ok(network, ROOT, 2)
    udp_send(network, 2, 1, "two-to-one")
    assert servers[1].received("two-to-one", timeout=5)  # the other direction still works
    udp_send(network, 1, 2, "one-to-two")
    assert not servers[2].received("one-to-two", timeout=1)

    network.heal()
    assert network.cut_links == set()
    assert tcp_ok(network, 1, 2)

    network.cut_host(2)
    assert not tcp_ok(network, ROOT, 2)
    assert tcp_ok(network, 1, 2) and tcp_ok(network, ROOT, 1)
    network.heal()

    network.partition([{1, ROOT}, {2, 3}])
    assert tcp_ok(network, ROOT, 1) and tcp_ok(network, 3, 2)
    assert not tcp_ok(network, ROOT, 2) and not tcp_ok(network, 2, 1)
    network.heal()
    assert all(tcp_ok(network, source, 2) for source in (ROOT, 1, 3))


@needs_root
def test_cleanup_stale_removes_what_a_dead_run_left_and_spares_live_runs():
    live = NamespaceNetwork([1, 2])
    orphan = subprocess.Popen(
        [sys.executable, "-c", ORPHAN], cwd=REPOSITORY, stdout=subprocess.PIPE, text=True
    )
    try:
        live.create()
        assert orphan.stdout is not None
        run_name, sleeper = orphan.stdout.readline().split()
        orphan.kill()
        orphan.wait()
        assert len(leftovers(run_name)) == 6  # 2 namespaces, 2 veths, bridge, FORWARD rule
        assert str(sleeper) in run(["ip", "netns", "pids", f"{run_name}-n1"]).split()

        removed = cleanup_stale()
        assert f"namespace {run_name}-n1" in removed
        assert leftovers(run_name) == []
        with pytest.raises(ProcessLookupError):
            for _ in range(50):  # killed; gone once reaped by init
                os.kill(int(sleeper), 0)
                time.sleep(0.1)
        assert len(leftovers(live.run_name)) == 6
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
        live.close()
        cleanup_stale()
    assert leftovers(live.run_name) == []


@needs_root
def test_local_target_in_netns_mode_runs_nodes_in_namespaces_and_routers_with_the_majority(
    tmp_path,
):
    target = LocalTarget(tmp_path, network="netns")
    try:
        target.prepare()
        network = target.namespaces
        assert network is not None and target.network is None
        assert target.cluster.description is not None
        for node in target.cluster.description.nodes:
            assert node.raft_address.rsplit(":", 1)[0] == network.address(node.id)
        for process in target.cluster.processes:
            if process.role == "node":
                assert process.command[:4] == network.exec_prefix(process.id)
                assert "--peer" not in process.command
            else:
                assert process.command[0] == sys.executable
        target.partition([{1}, {2, 3}])
        assert network.cut_links == {(1, 2), (2, 1), (1, 3), (3, 1), (1, ROOT), (ROOT, 1)}
        target.heal_network()
        target.cut({(2, 3)})
        assert network.cut_links == {(2, 3)}
        assert target.describe()["network"] == "netns"
    finally:
        target.close()
    assert target.namespaces is not None and leftovers(target.namespaces.run_name) == []


def test_netns_mode_is_refused_for_the_compose_target(tmp_path):
    command = [sys.executable, "-m", "slotraft.cli", "chaos", "--target", "compose"]
    refused = subprocess.run(
        [*command, "--network", "netns", "--report-dir", str(tmp_path)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "local target only" in refused.stderr


def test_netns_mode_is_refused_without_root(monkeypatch):
    monkeypatch.setattr(cli.os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit, match="needs root"):
        cli.refuse_netns(argparse.Namespace(target="local", network="netns"))


def kill_processes_of_run(data_dir: Path) -> None:
    """SIGKILL what a chaos run left running when the run itself was killed (a timeout):
    its nodes name the data directory on their command line, its routers the nodes'
    addresses, which are unique to the run (random ports)."""
    markers = [str(data_dir).encode()]
    with contextlib.suppress(OSError, ValueError):
        nodes = ClusterDescription.from_toml(data_dir / "cluster.toml").nodes
        markers += [node.raft_address.encode() for node in nodes]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            command_line = (entry / "cmdline").read_bytes()
            if any(marker in command_line for marker in markers):
                os.kill(int(entry.name), signal.SIGKILL)


@needs_root
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_chaos_run_with_namespace_partitions_and_kills_has_no_anomalies(tmp_path):
    report_dir = tmp_path / "netns"
    try:
        outcome = chaos(
            report_dir,
            "--network",
            "netns",
            "--time",
            "30",
            "--nemesis",
            "partition-halves,partition-leader,partition-one-way,kill",
            "--seed",
            "12",  # by the nemesis's choices: kill, partition-leader, -one-way, -halves, ...
            "--fault-seconds",
            "2-5",
            "--quiet-seconds",
            "1-3",
            timeout=200,
        )
        assert outcome.returncode == 0, explain(outcome)
        document = results(report_dir)
        assert document["verdict"] == VALID
        assert document["target"]["network"] == "netns"
        faults = [f for f in document["faults"] if f["f"] != "recovery"]
        kinds = {f["f"] for f in faults}
        assert len(kinds) >= 3 and any(kind.startswith("partition") for kind in kinds), faults
        assert all("healed" in f["result"] for f in faults), faults
        assert leftovers(document["target"]["namespaces"]["bridge"]) == []
    finally:
        kill_processes_of_run(report_dir / "cluster")
        cleanup_stale()
