"""The cluster-wide settings as a router sees them, through the nodes' Config service:
watched (as the slot map is), changed through the metadata group (CONFIG SET), and the
nodes' reports for INFO.

CONFIG SET answers once the metadata group applied the change and every shard adopted it
(each shard's leader proposes the engine settings into the shard's own log): a write sent
after the answer applies under the new settings (the first write after
`CONFIG SET notify-keyspace-events KEA` notifies)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from proto.acl import AclError
from proto.acl_table import AclTable, encode_change
from proto.redis_config import CLUSTER_PARAMETERS, defaults
from router.backend import BackendError
from router.node_link import NodeLink

log = logging.getLogger("slotraft.router.config")

SET_BUDGET_S = 15.0  # a CONFIG SET looks for the metadata group's leader this long
# ... and then waits this long for every shard to adopt it (a shard's leader proposes the
# settings as soon as its node applied the metadata entry, again every 5 s, and after an
# election): well beyond an election and a retry.
ADOPT_BUDGET_S = 12.0
NOT_LEADER = "not the leader"


class ClusterSettings:
    def __init__(
        self, links: dict[int, NodeLink], shard_ids: Callable[[], Iterable[int]] = tuple
    ) -> None:
        self.links = links
        self.shard_ids = shard_ids  # the shards a CONFIG SET waits for (those with slots)
        self.version = -1
        self.values = defaults(CLUSTER_PARAMETERS)
        self.leader = 0  # the metadata group's leader, as last named by a node
        self.task: asyncio.Task | None = None
        self.acl = AclTable()  # the ACL users, as the metadata group applied them
        self.acl_listeners: list[Callable[[], None]] = []
        # Told the database map and pending SWAPDB (ConfigValues.databases) as they come.
        self.on_databases: Callable[[str], None] | None = None

    def install(self, message: pb.ConfigValues) -> None:
        if message.databases and self.on_databases is not None:
            self.on_databases(message.databases)
        if message.acl and message.acl_version > self.acl.version:
            self.acl = AclTable.from_json(json.loads(message.acl))
            for listener in list(self.acl_listeners):
                listener()
        if message.version < self.version:
            return
        self.version = message.version
        values = defaults(CLUSTER_PARAMETERS)
        values.update({k: v for k, v in message.values.items() if k in CLUSTER_PARAMETERS})
        self.values = values

    async def start(self, timeout: float = 2.0) -> None:
        """Read the settings from a node (nodes without the Config service leave Redis's
        defaults), then watch them."""
        for link in list(self.links.values()):
            try:
                stream = pb_grpc.ConfigStub(link.channel).Watch(pb.StatusRequest())
                first = await asyncio.wait_for(stream.read(), timeout)
                stream.cancel()
            except (grpc.aio.AioRpcError, TimeoutError):
                continue
            if isinstance(first, pb.ConfigValues):
                self.install(first)
                break
        self.task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            for link in list(self.links.values()):
                try:
                    async for values in pb_grpc.ConfigStub(link.channel).Watch(pb.StatusRequest()):
                        self.install(values)
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.5)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def set(self, settings: dict[str, str]) -> None:
        reply = await self.propose(pb.ConfigSetRequest(values=settings), b"CONFIG SET")
        if not reply.ok:
            # Refused (the router checks values first, so a node's refusal means it
            # disagrees) or not applied in time.
            raise BackendError(b"ERR CONFIG SET failed: " + reply.error.encode())
        await self.await_adoption(reply.applied.version)

    async def change_acl(self, change: dict[str, Any]) -> int:
        """Replicate an ACL change (proto/acl_table.py); what it answers (DELUSER's
        count). AclError if the metadata group's table refuses it."""
        request = pb.ConfigSetRequest(acl_change=encode_change(change))
        reply = await self.propose(request, b"ACL change")
        if reply.acl_refused:
            raise AclError(reply.error.encode("latin-1"))
        if not reply.ok:
            raise BackendError(b"ERR ACL change failed: " + reply.error.encode())
        return reply.acl_result

    async def propose(self, request: pb.ConfigSetRequest, what: bytes) -> pb.ConfigSetReply:
        """Send a change to the metadata group's leader (following the nodes' hints):
        its reply once applied there, or refused; BackendError if no leader took it."""
        deadline = time.monotonic() + SET_BUDGET_S
        problem = "no node answered"
        while time.monotonic() < deadline:
            order = sorted(self.links, key=lambda node: node != self.leader)
            for node in order:
                link = self.links.get(node)
                if link is None:
                    continue
                try:
                    reply = await pb_grpc.ConfigStub(link.channel).Set(request, timeout=8)
                except grpc.aio.AioRpcError as error:
                    problem = f"node {node}: {error.code().name}"
                    continue
                if reply.ok:
                    self.leader = node
                    self.install(reply.applied)
                    return reply
                if reply.error != NOT_LEADER:
                    return reply
                problem = "the metadata group has no leader"
                if reply.leader and reply.leader != node:
                    self.leader = reply.leader
                    break
            await asyncio.sleep(0.1)
        raise BackendError(
            b"CLUSTERDOWN " + what + b" not applied: " + problem.encode("utf-8", "replace")
        )

    async def await_adoption(self, version: int, budget: float | None = None) -> None:
        """Return once every shard has applied the settings of metadata version `version`
        (or a later one) on some replica; BackendError after `budget` seconds
        (ADOPT_BUDGET_S)."""
        deadline = time.monotonic() + (ADOPT_BUDGET_S if budget is None else budget)
        pause = 0.01
        while True:
            missing = set(self.shard_ids()) - await self._adopted(version)
            if not missing:
                return
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)
        names = ", ".join(str(shard) for shard in sorted(missing))
        raise BackendError(
            b"CLUSTERDOWN CONFIG SET applied, but shards %s have not adopted it yet "
            b"(they will once they have a leader)" % names.encode()
        )

    async def _adopted(self, version: int) -> frozenset[int]:
        """The shards some node says adopted settings version `version` or later."""

        async def ask(link: NodeLink) -> pb.SettingsAdoption | None:
            try:
                return await pb_grpc.ConfigStub(link.channel).Adoption(
                    pb.StatusRequest(), timeout=1.0
                )
            except grpc.aio.AioRpcError:
                return None

        answers = await asyncio.gather(*(ask(link) for link in list(self.links.values())))
        return frozenset(
            shard
            for answer in answers
            if answer is not None and answer.version >= version
            for shard in answer.shards
        )

    async def reports(self, timeout: float = 2.0) -> list[pb.NodeReport]:
        async def ask(link: NodeLink) -> pb.NodeReport | None:
            try:
                return await pb_grpc.ConfigStub(link.channel).Report(
                    pb.StatusRequest(), timeout=timeout
                )
            except grpc.aio.AioRpcError:
                return None

        answers = await asyncio.gather(*(ask(link) for link in list(self.links.values())))
        return [answer for answer in answers if answer is not None]
