"""How the routers learn each other's public addresses, for CLUSTER SLOTS and friends.

Every second each router sends its address (`--announce`, else the address it listens on)
to every node it knows (Admin.AnnounceRouter) and gets back the addresses announced to
that node within their time to live (3 s). Its view is the union of the nodes' recent
answers and its own address. Nothing is replicated: a node that restarts has heard from
every live router again a second later, and any one node that answers is enough. A router
that stops (or can no longer reach any node) drops out of every view within about four
seconds: its last announcement expires on the nodes, and each router asks again every
second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

import grpc

from proto import slotraft_pb2 as pb
from router.node_link import NodeLink

log = logging.getLogger("slotraft.router.cluster")

ANNOUNCE_INTERVAL_S = 1.0
ANNOUNCE_TTL_MS = 3_000
# A node's answer counts this long: one that stops answering takes its list with it.
ANSWER_VALID_S = ANNOUNCE_TTL_MS / 1000


def split_address(address: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 host in brackets) as (host, port)."""
    host, _, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def default_announce(host: str, port: int) -> str | None:
    """The address to announce when `--announce` is not given: the one listened on, unless
    it is a wildcard, which tells others nothing."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class RouterRegistry:
    def __init__(self, links: Mapping[int, NodeLink]) -> None:
        self.links = links  # kept up to date by the cluster backend
        self.address: str | None = None  # this router's, once announced
        self.tls_port = 0  # this router's TLS port (0: none)
        # Per node: when it last answered (time.monotonic()) and the routers it listed
        # (address -> TLS port).
        self.answers: dict[int, tuple[float, dict[str, int]]] = {}
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        """Start asking the nodes (announcing once `announce` gives an address)."""
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    def announce(self, address: str, tls_port: int = 0) -> None:
        self.address = address
        self.tls_port = tls_port
        if self.task is not None and not self.task.done():
            # Ask now rather than within the second: a router just started should be
            # listed before its first clients look.
            self.task.cancel()
            self.task = asyncio.get_running_loop().create_task(self._run())

    def addresses(self) -> list[str]:
        return sorted(self.tls_ports())

    def tls_ports(self) -> dict[str, int]:
        """Every router known (as `addresses`) and its TLS port (0: none)."""
        now = time.monotonic()
        known = {
            address: tls_port
            for answered, listed in self.answers.values()
            if now - answered <= ANSWER_VALID_S
            for address, tls_port in listed.items()
        }
        if self.address:
            known[self.address] = self.tls_port
        return known

    async def _run(self) -> None:
        while True:
            await self._round()
            await asyncio.sleep(ANNOUNCE_INTERVAL_S)

    async def _round(self) -> None:
        announcement = pb.RouterAnnouncement(
            address=self.address or "", ttl_ms=ANNOUNCE_TTL_MS, tls_port=self.tls_port
        )
        links = list(self.links.values())
        answers = await asyncio.gather(
            *(self._ask(link, announcement) for link in links), return_exceptions=True
        )
        now = time.monotonic()
        for link, answer in zip(links, answers, strict=True):
            if isinstance(answer, pb.RouterList):
                ports = list(answer.tls_ports)
                ports += [0] * (len(answer.addresses) - len(ports))  # (a node without them)
                self.answers[link.node_id] = (now, dict(zip(answer.addresses, ports)))

    async def _ask(self, link: NodeLink, announcement: pb.RouterAnnouncement) -> pb.RouterList:
        try:
            return await link.admin.AnnounceRouter(announcement, timeout=ANNOUNCE_INTERVAL_S)
        except grpc.aio.AioRpcError as error:
            log.debug("node %d did not take the announcement: %s", link.node_id, error.code())
            raise

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
