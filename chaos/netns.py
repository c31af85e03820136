"""Network namespaces for the local target's `--network netns` mode: every node runs in a
namespace of its own, linked to a bridge in the root namespace, so that links are cut by
dropping packets (iptables inside our namespaces) rather than by proxies, and so that a
partition can separate nodes from the routers too. Needs root and `ip`/`iptables`.

Layout of one run (RUN = PREFIX + 4 hex digits, e.g. "srchaos-1a2b"):

- bridge RUN in the root namespace, with the first address of a free private /24
  (10.213.X.1); its alias records the pid of the process that owns the run;
- per node ID: namespace RUN-nID with `lo` up and `eth0` at 10.213.X.(10+ID), the peer of
  the veth RUN-ID that is a port of the bridge;
- in the root namespace one FORWARD rule accepting traffic within the bridge, because
  Docker sets the FORWARD policy to DROP and loads br_netfilter (bridged frames then go
  through iptables). Nothing routes outside the /24: no traffic leaves the machine.

Member ROOT (0) stands for the root namespace, where the routers and the chaos process
run; its address is the bridge's. A cut link (A, B) drops what A sends to B: in B's
namespace INPUT from A's address, or for B = ROOT in A's namespace OUTPUT to the bridge's
address, so that the root namespace's own firewall is never touched beyond one rule.
Packets are DROPped, not rejected: they vanish as in a real partition. A one-way cut
also stalls TCP connections that B opened towards A (A's acknowledgements never arrive).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import shlex
import signal
import subprocess
from collections.abc import Callable, Iterable
from functools import partial

PREFIX = "srchaos-"
ROOT = 0  # the root namespace (routers, chaos process), not a node
Link = tuple[int, int]  # (from, to): traffic in that direction
_SUBNETS = ipaddress.IPv4Network("10.213.0.0/16")
_IFNAMSIZ = 15  # longest interface name Linux accepts
_OWNER = "owner-pid="
_COMMAND_TIMEOUT = 30.0


class NetnsError(RuntimeError):
    """A command that sets up or tears down the namespaces failed."""


def run(command: list[str], timeout: float = _COMMAND_TIMEOUT) -> str:
    """Run a command, return its stdout; NetnsError naming the command when it fails."""
    shown = shlex.join(command)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or error.stdout or "").strip()
        raise NetnsError(f"`{shown}` exited with status {error.returncode}: {detail}") from None
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NetnsError(f"`{shown}` failed: {error}") from None
    return done.stdout


def namespaces() -> list[str]:
    # `ip netns list` prints "NAME" or "NAME (id: N)" per line.
    return [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line.strip()]


def links() -> list[str]:
    names = []
    for line in run(["ip", "-o", "link", "show"]).splitlines():
        # "7: NAME@PEER: <FLAGS> ..." (the @PEER part for veths)
        fields = line.split(":", 2)
        if len(fields) == 3:
            names.append(fields[1].strip().split("@")[0])
    return names


def _owner(bridge: str) -> int | None:
    match = re.search(rf"alias {re.escape(_OWNER)}(\d+)", run(["ip", "link", "show", bridge]))
    return int(match.group(1)) if match else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forward_rule(bridge: str) -> list[str]:
    return ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]


def _delete_forward_rules(bridge: str) -> None:
    # `-D` removes one copy per call; loop in case an interrupted run inserted it twice.
    for _ in range(10):
        try:
            run(["iptables", "-C", *_forward_rule(bridge)])
        except NetnsError:
            return
        run(["iptables", "-D", *_forward_rule(bridge)])


def _kill_processes_in(namespace: str) -> None:
    # Deleting a namespace only removes its name: processes left in it (nodes of a crashed
    # run) would keep it, and its veth, alive and unreachable.
    for pid in run(["ip", "netns", "pids", namespace]).split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def _delete_link(name: str) -> None:
    try:
        run(["ip", "link", "delete", name])
    except NetnsError:
        # Gone meanwhile: a veth goes with its peer, whose namespace may just have died.
        if name in links():
            raise


def cleanup_stale(prefix: str = PREFIX) -> list[str]:
    """Remove what runs with this prefix left behind when their owner died without closing:
    namespaces (and the processes still in them), veths, bridges and FORWARD rules. Runs
    whose owning process is alive are left alone. Returns what was removed."""
    pattern = re.compile(rf"^({re.escape(prefix)}[0-9a-f]{{4}})(?:-.*)?$")
    present = links()
    bridges = {name for name in present if (m := pattern.match(name)) and m.group(1) == name}
    live = {bridge for bridge in bridges if (pid := _owner(bridge)) and _alive(pid)}

    def stale(name: str) -> bool:
        match = pattern.match(name)
        return match is not None and match.group(1) not in live

    removed: list[str] = []
    for namespace in filter(stale, namespaces()):
        _kill_processes_in(namespace)
        run(["ip", "netns", "delete", namespace])
        removed.append(f"namespace {namespace}")
    # Veths before bridges, so that nothing is attached to a bridge when it goes.
    for name in sorted(filter(stale, present), key=lambda name: name in bridges):
        _delete_link(name)
        removed.append(f"link {name}")
    for line in run(["iptables", "-S", "FORWARD"]).splitlines():
        words = line.split()  # -A FORWARD -i BR -o BR -j ACCEPT
        if len(words) == 8 and words[2] == "-i" and words[3] == words[5] and stale(words[3]):
            _delete_forward_rules(words[3])
            removed.append(f"FORWARD rule of {words[3]}")
    return removed


def _free_subnet(start: int) -> ipaddress.IPv4Network:
    """A /24 of 10.213.0.0/16 that no address or route of the machine overlaps."""
    used: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for line in run(["ip", "-4", "-o", "addr", "show"]).splitlines():
        words = line.split()
        if "inet" in words:
            used.append(ipaddress.ip_interface(words[words.index("inet") + 1]).network)
    for line in run(["ip", "-4", "route", "show", "table", "all"]).splitlines():
        # "10.1.0.0/16 dev ...", or with a type first: "local 127.0.0.1 dev lo ..."
        for word in line.split()[:2]:
            with contextlib.suppress(ValueError):
                used.append(ipaddress.ip_network(word, strict=False))
                break
    subnets = list(_SUBNETS.subnets(new_prefix=24))
    for offset in range(len(subnets)):
        subnet = subnets[(start + offset) % len(subnets)]
        # Default routes (/0) overlap everything yet claim nothing.
        if not any(subnet.overlaps(network) for network in used if network.prefixlen > 0):
            return subnet
    raise NetnsError(f"no free /24 left in {_SUBNETS}")


class NamespaceNetwork:
    """The namespaces, veths and bridge of one run, and the packet filters that cut their
    links. `create()` builds them, `close()` removes them; both raise NetnsError."""

    def __init__(self, nodes: Iterable[int], prefix: str = PREFIX) -> None:
        self.nodes = sorted(set(nodes))
        if not self.nodes or min(self.nodes) <= ROOT:
            raise ValueError(f"node ids must be positive, not {self.nodes}")
        self.prefix = prefix
        taken = [*namespaces(), *links()]
        while True:  # 4 hex digits keep the veth names within IFNAMSIZ
            self.run_name = f"{prefix}{secrets.token_hex(2)}"
            if not any(name.startswith(self.run_name) for name in taken):
                break
        too_long = [self.veth(node) for node in self.nodes if len(self.veth(node)) > _IFNAMSIZ]
        if too_long:
            raise ValueError(f"interface names longer than {_IFNAMSIZ} characters: {too_long}")
        self.bridge = self.run_name
        self.subnet: ipaddress.IPv4Network | None = None
        self.cut_links: set[Link] = set()
        # What create() made so far: close() removes exactly that, never a namesake.
        self._namespaces: list[str] = []
        self._veths: list[str] = []
        self._bridge_made = False
        self._rule_made = False

    # ------------------------------------------------------------------ names and addresses

    def namespace(self, node: int) -> str:
        return f"{self.run_name}-n{node}"

    def veth(self, node: int) -> str:
        return f"{self.run_name}-{node}"

    def address(self, member: int) -> str:
        """The IPv4 address of a node, or the bridge's for ROOT."""
        if self.subnet is None:
            raise NetnsError("the network is not created yet")
        if member != ROOT and member not in self.nodes:
            raise KeyError(member)
        return str(self.subnet.network_address + (1 if member == ROOT else 10 + member))

    def exec_prefix(self, node: int) -> list[str]:
        """Prepended to a command to run it in the node's namespace; `ip netns exec` execs
        the command, so its pid is the one Popen returns (signals reach the node itself)."""
        return ["ip", "netns", "exec", self.namespace(node)]

    # ------------------------------------------------------------------ life cycle

    def create(self) -> None:
        try:
            self._create()
        except BaseException:
            with contextlib.suppress(NetnsError):
                self.close()
            raise

    def _create(self) -> None:
        self.subnet = _free_subnet(int(self.run_name[len(self.prefix) :], 16))
        length = self.subnet.prefixlen
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        self._bridge_made = True
        # Whether the run is still alive, for cleanup_stale() of other runs.
        run(["ip", "link", "set", self.bridge, "alias", f"{_OWNER}{os.getpid()}"])
        run(["ip", "addr", "add", f"{self.address(ROOT)}/{length}", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        run(["iptables", "-I", *_forward_rule(self.bridge)])
        self._rule_made = True
        for node in self.nodes:
            namespace, veth = self.namespace(node), self.veth(node)
            run(["ip", "netns", "add", namespace])
            self._namespaces.append(namespace)
            # A node dials its own address too, which goes over `lo`.
            run(["ip", "-n", namespace, "link", "set", "lo", "up"])
            run(["ip", "link", "add", veth, "type", "veth", "peer", "eth0", "netns", namespace])
            self._veths.append(veth)
            run(["ip", "link", "set", veth, "master", self.bridge])
            run(["ip", "link", "set", veth, "up"])
            address = f"{self.address(node)}/{length}"
            run(["ip", "-n", namespace, "addr", "add", address, "dev", "eth0"])
            run(["ip", "-n", namespace, "link", "set", "eth0", "up"])

    def close(self) -> None:
        """Remove everything create() made, each step tried even when another failed; then
        NetnsError listing the failures, if any. Safe to call more than once. Processes
        still running in the namespaces keep them alive: stop the nodes first."""
        errors: list[str] = []

        def attempt(step: Callable[[], object]) -> bool:
            try:
                step()
            except NetnsError as error:
                errors.append(str(error))
                return False
            return True

        for veth in list(self._veths):  # takes its peer in the namespace along
            if attempt(partial(_delete_link, veth)):
                self._veths.remove(veth)
        for namespace in list(self._namespaces):
            if attempt(partial(run, ["ip", "netns", "delete", namespace])):
                self._namespaces.remove(namespace)
        if self._rule_made and attempt(lambda: _delete_forward_rules(self.bridge)):
            self._rule_made = False
        if self._bridge_made and attempt(lambda: _delete_link(self.bridge)):
            self._bridge_made = False
        self.cut_links.clear()
        if errors:
            raise NetnsError("removing the namespace network failed: " + "; ".join(errors))

    def __enter__(self) -> NamespaceNetwork:
        self.create()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ faults

    def cut(self, links: Iterable[Link]) -> None:
        """Drop the packets of these directed links, on top of what is already cut."""
        for source, destination in sorted(set(links) - self.cut_links):
            if source == destination:
                raise ValueError(f"cannot cut a member from itself: {(source, destination)}")
            if destination != ROOT:
                rule = ["INPUT", "-s", self.address(source), "-j", "DROP"]
                run([*self.exec_prefix(destination), "iptables", "-A", *rule])
            else:
                rule = ["OUTPUT", "-d", self.address(ROOT), "-j", "DROP"]
                run([*self.exec_prefix(source), "iptables", "-A", *rule])
            self.cut_links.add((source, destination))

    def cut_host(self, node: int) -> None:
        """Cut a node from the root namespace (the routers) both ways."""
        self.cut({(ROOT, node), (node, ROOT)})

    def partition(self, groups: list[set[int]]) -> None:
        """Members (nodes and ROOT) talk only within their group; those in no group are
        alone."""
        group_of = {member: index for index, group in enumerate(groups) for member in group}
        members = [ROOT, *self.nodes]
        self.cut(
            {
                (a, b)
                for a in members
                for b in members
                if a != b and group_of.get(a, -1 - a) != group_of.get(b, -1 - b)
            }
        )

    def heal(self) -> None:
        # INPUT and OUTPUT are the only chains we add to; flushing the whole filter table
        # of our own namespaces is one command each.
        for namespace in self._namespaces:
            run(["ip", "netns", "exec", namespace, "iptables", "-F"])
        self.cut_links.clear()

    def describe(self) -> dict[str, object]:
        return {
            "bridge": self.bridge,
            "subnet": str(self.subnet),
            "namespaces": {node: self.namespace(node) for node in self.nodes},
        }
