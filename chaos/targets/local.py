"""The local target: a cluster of processes (`LocalCluster`, as `slotraft up` starts it)
whose links can be cut, in one of two network modes:

- "proxy": everything on loopback, every node-to-node link through a proxy of the chaos
  process (`chaos/proxy.py`); routers reach the nodes directly. Needs no privileges.
- "netns": every node in a network namespace of its own behind a bridge
  (`chaos/netns.py`), links cut by iptables inside those namespaces; routers stay in the
  root namespace, so a partition separates them from nodes too. Needs root.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
from pathlib import Path

from chaos.netns import ROOT, NamespaceNetwork, cleanup_stale
from chaos.proxy import ProxyNetwork
from chaos.targets.base import Link, Target, votes_held
from proto.topology import place_shards
from slotraft.ctl_slots import SlotMover
from slotraft.local_cluster import LocalCluster

UNSAFE_WIPE = "wipe-data-on-start"
# The phrase `slotraft node --unsafe` insists on (see `slotraft node --help`).
UNSAFE_CONFIRM = "I accept losing acknowledged writes"
_CONFIRM_VARIABLE = "SLOTRAFT_UNSAFE_CONFIRM"
NETWORK_MODES = ("proxy", "netns")


DUPLICATE_TIMEOUT_S = 20.0


class LocalTarget(Target):
    name = "local"
    one_way_links = True
    lost_disks = True
    duplicates = True
    slot_moves = True

    def __init__(
        self,
        data_dir: Path,
        routers: int = 2,
        retry_seconds: float = 8.0,
        unsafe: str | None = None,
        host: str = "127.0.0.1",
        network: str = "proxy",
        wal_segment_mb: int | None = None,
    ) -> None:
        if network not in NETWORK_MODES:
            raise ValueError(f"network mode {network!r} is not one of {NETWORK_MODES}")
        self.network_mode = network
        self.data_dir = data_dir
        self.unsafe = unsafe
        self.host = host
        node_args = ["--unsafe", unsafe] if unsafe else []
        if wal_segment_mb is not None:
            node_args += ["--wal-segment-mb", str(wal_segment_mb)]
        self.cluster = LocalCluster(
            data_dir=data_dir,
            routers=routers,
            host=host,
            node_args=node_args,
            router_args=["--retry-seconds", str(retry_seconds)],
        )
        self.network: ProxyNetwork | None = None  # proxy mode
        self.namespaces: NamespaceNetwork | None = None  # netns mode
        self.stopped_by_us: set[int] = set()  # nodes down on purpose
        self.exits: list[str] = []  # nodes that died by themselves, seen before a restart
        self._saved_confirm: str | None = None

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        self.prepare()
        if self.unsafe:
            self._saved_confirm = os.environ.get(_CONFIRM_VARIABLE)
            os.environ[_CONFIRM_VARIABLE] = UNSAFE_CONFIRM
        self.cluster.start()
        self.wait_until_serving(90)

    def prepare(self) -> None:
        """The cluster's files and command lines, and its network: in proxy mode a proxy
        per ordered node pair (each node's `--peer` flags point at its outgoing proxies), in
        netns mode the namespaces the nodes will run in."""
        if self.network_mode == "netns":
            self._prepare_namespaces()
            return
        description = self.cluster.prepare()
        self.network = ProxyNetwork(self.host)
        addresses = {node.id: node.raft_address for node in description.nodes}
        for process in self.cluster.processes:
            if process.role != "node":
                continue
            for peer, address in addresses.items():
                if peer == process.id:
                    continue
                host, port = address.rsplit(":", 1)
                proxy_port = self.network.add((process.id, peer), (host, int(port)))
                process.command += ["--peer", f"{peer}={self.host}:{proxy_port}"]

    def _prepare_namespaces(self) -> None:
        cleanup_stale()  # of runs that crashed before closing theirs
        self.namespaces = NamespaceNetwork(range(1, self.cluster.nodes + 1))
        self.namespaces.create()
        for node in self.namespaces.nodes:
            self.cluster.node_hosts[node] = self.namespaces.address(node)
            self.cluster.node_prefixes[node] = self.namespaces.exec_prefix(node)
        description = self.cluster.prepare()
        wrong = [
            node.raft_address
            for node in description.nodes
            if node.raft_address.rsplit(":", 1)[0] != self.cluster.node_hosts.get(node.id)
        ]
        if wrong:
            # A cluster file kept from an earlier run names that run's addresses.
            raise RuntimeError(
                f"the cluster file in {self.data_dir} names addresses {wrong} outside this "
                f"run's namespaces ({self.namespaces.subnet}); use a new --data-dir"
            )

    def close(self) -> None:
        try:
            if self.network is not None:
                self.network.heal()
            self.cluster.stop()
        finally:
            if self.network is not None:
                self.network.close()
            if self.unsafe:
                if self._saved_confirm is None:
                    os.environ.pop(_CONFIRM_VARIABLE, None)
                else:
                    os.environ[_CONFIRM_VARIABLE] = self._saved_confirm
            if self.namespaces is not None:
                self.namespaces.close()  # last: it raises when something could not go

    def wait_until_serving(self, timeout: float) -> None:
        self.cluster.wait_until_serving(timeout)

    # ------------------------------------------------------------------ topology

    def routers(self) -> list[tuple[str, int]]:
        return [(self.host, port) for port in self.cluster.router_ports]

    def nodes(self) -> list[int]:
        return [p.id for p in self.cluster.processes if p.role == "node"]

    def shards(self) -> list[int]:
        assert self.cluster.description is not None
        return list(range(self.cluster.description.shards))

    def slot_ranges(self) -> list[tuple[int, int]]:
        assert self.cluster.description is not None
        placements = sorted(place_shards(self.cluster.description), key=lambda p: p.id)
        return [placement.slots[0] for placement in placements]

    def leader_of(self, shard: int) -> int:
        return self.cluster.leader_of(shard)

    def slot_mover(self) -> SlotMover:
        assert self.cluster.description is not None
        addresses = [node.raft_address for node in self.cluster.description.nodes]
        return SlotMover(self.cluster.admin(), addresses, 3.0, io.StringIO())

    # ------------------------------------------------------------------ faults

    def kill(self, node: int) -> None:
        self._note_exit(node)
        self.stopped_by_us.add(node)
        self.cluster.kill(self.cluster.node(node))

    def start_node(self, node: int) -> None:
        self._note_exit(node)
        self.cluster.start_process(self.cluster.node(node))
        self.stopped_by_us.discard(node)

    def _note_exit(self, node: int) -> None:
        process = self.cluster.node(node)
        if node in self.stopped_by_us or process.popen is None:
            return
        status = process.popen.poll()
        if status is not None:
            self.exits.append(
                f"node {node} exited by itself with status {status} (log: {process.log})"
            )

    def lose_disk(self, node: int) -> None:
        self.kill(node)
        shutil.rmtree(self._node_dir(node), ignore_errors=True)

    def rejoining_nodes(self) -> list[int]:
        return [node for node in self.nodes() if votes_held(self._identity_text(node))]

    def start_duplicate(self, node: int) -> tuple[bool, str]:
        process = self.cluster.node(node)
        duplicate = subprocess.Popen(
            process.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(os.environ, **process.env),
        )
        try:
            output, _ = duplicate.communicate(timeout=DUPLICATE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            duplicate.kill()
            output, _ = duplicate.communicate()
            return False, f"still running after {DUPLICATE_TIMEOUT_S:.0f} s (killed)"
        text = output.decode("utf-8", "replace").strip()
        return duplicate.returncode != 0 and "in use" in text, text

    def _identity_text(self, node: int) -> str | None:
        try:
            return (self._node_dir(node) / "identity.json").read_text()
        except OSError:
            return None

    def _node_dir(self, node: int) -> Path:
        return self.data_dir / f"node-{node}"

    def stop_node(self, node: int) -> None:
        process = self.cluster.node(node)
        if not process.running or process.popen is None:
            return
        self.stopped_by_us.add(node)
        self.cluster.resume(process)
        process.popen.send_signal(signal.SIGTERM)
        try:
            process.popen.wait(15)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()

    def pause(self, node: int) -> None:
        self.cluster.pause(self.cluster.node(node))

    def resume(self, node: int) -> None:
        self.cluster.resume(self.cluster.node(node))

    def partition(self, groups: list[set[int]]) -> None:
        if self.namespaces is not None:
            # The routers (root namespace) stay with the largest group, the side a client
            # would most likely still reach: isolating a leader cuts it off from them too.
            sides = [set(group) for group in groups]
            if sides:
                max(sides, key=len).add(ROOT)
            self.namespaces.partition(sides)
            return
        group_of = {node: index for index, group in enumerate(groups) for node in group}
        nodes = self.nodes()
        self.cut(
            {
                (a, b)
                for a in nodes
                for b in nodes
                if a != b and group_of.get(a, -1 - a) != group_of.get(b, -1 - b)
            }
        )

    def cut(self, links: set[Link]) -> None:
        if self.namespaces is not None:
            self.namespaces.cut(links)
            return
        assert self.network is not None
        self.network.cut(links)

    def heal_network(self) -> None:
        if self.network is not None:
            self.network.heal()
        if self.namespaces is not None:
            self.namespaces.heal()

    def heal_all(self) -> None:
        self.heal_network()
        for process in self.cluster.processes:
            if process.role == "node":
                self.cluster.resume(process)
                if not process.running:
                    self.start_node(process.id)

    def unexpected_exits(self) -> list[str]:
        exits = list(self.exits)
        for process in self.cluster.crashed():
            if process.role == "node" and process.id in self.stopped_by_us:
                continue
            assert process.popen is not None
            exits.append(
                f"{process.role} {process.id} exited by itself with status "
                f"{process.popen.returncode} (log: {process.log})"
            )
        return exits

    def describe(self) -> dict[str, object]:
        return {
            "target": self.name,
            "data_dir": str(self.data_dir),
            "routers": [f"{h}:{p}" for h, p in self.routers()],
            "unsafe": self.unsafe,
            "network": self.network_mode,
            **({"namespaces": self.namespaces.describe()} if self.namespaces is not None else {}),
        }
