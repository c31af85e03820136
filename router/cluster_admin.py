"""What WAIT, ROLE, SAVE/BGSAVE/BGREWRITEAOF/LASTSAVE and CLUSTER COUNTKEYSINSLOT /
GETKEYSINSLOT ask the nodes (Admin calls of node/services.py): a shard's leader where the
answer is its own (how many followers hold a log index, the keys of a slot), found by the
replicas' hints as the data path finds it, or every node (status, snapshots).

None of these goes through the Raft log: a follower's match index is the leader's
knowledge, and the keys of a slot are what the leader has applied.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

import grpc

from proto import slotraft_pb2 as pb
from router.backend import BackendError, ReplicaOffset, Replication, WriteMarks
from router.node_link import NodeLink
from router.retry import RETRY_PAUSE_MAX_S, RETRY_PAUSE_S, ShardRoute
from router.router_registry import split_address

log = logging.getLogger("slotraft.router.cluster")

ADMIN_CALL_TIMEOUT_S = 2.0
# How long one WaitReplicated call may wait on the leader (a longer WAIT asks again, and so
# follows a leader change): below the node's own bound, MAX_REPLICATION_WAIT_MS.
WAIT_CALL_S = 5.0
# A leader is looked for this long at least, even by a WAIT that may not block (in MULTI).
LEADER_SEARCH_MIN_S = 1.0
SLOT_KEYS_SEARCH_S = 5.0
# A node snapshots every replica it hosts, one after the other.
SAVE_TIMEOUT_S = 600.0
_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1


class LeaderReply(Protocol):
    """The replies that say whether their node leads the shard, and whom it knows as leader."""

    @property
    def leader(self) -> bool: ...

    @property
    def leader_node(self) -> int: ...


Reply = TypeVar("Reply", bound=LeaderReply)


def _wait_replicated(
    request: pb.ReplicationWaitRequest, timeout: float, link: NodeLink
) -> Awaitable[pb.ReplicationWaitReply]:
    return link.admin.WaitReplicated(request, timeout=timeout)


class ClusterAdmin:
    def __init__(self, links: Mapping[int, NodeLink], shards: Mapping[int, ShardRoute]) -> None:
        # Both kept up to date by the cluster backend from the slot map.
        self.links = links
        self.shards = shards

    # ------------------------------------------------------------------ a shard's leader

    async def _ask_leader(
        self, shard: int, ask: Callable[[NodeLink], Awaitable[Reply]], deadline: float | None
    ) -> Reply | None:
        """The answer of `shard`'s leader to `ask`: the cached leader first, then the node
        a replica names, else the replicas in turn, pausing as the retry loop does. None
        if no leader answered by `deadline` (None: until one does)."""
        route = self.shards.get(shard)
        if route is None or not route.replicas:
            return None
        candidate = route.leader or route.replicas[0]
        rotation = 0
        pause = RETRY_PAUSE_S
        while True:
            link = self.links.get(candidate)
            reply: Reply | None = None
            if link is not None:
                try:
                    reply = await ask(link)
                except grpc.aio.AioRpcError as error:
                    log.debug("shard %d: node %d: %s", shard, candidate, error.code())
            if reply is not None and reply.leader:
                return reply
            if reply is not None and reply.leader_node and reply.leader_node != candidate:
                candidate = reply.leader_node
            else:
                rotation += 1
                candidate = route.replicas[rotation % len(route.replicas)]
            if deadline is not None and time.monotonic() >= deadline:
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_PAUSE_MAX_S)

    # ------------------------------------------------------------------ WAIT

    async def wait_replicated(self, marks: WriteMarks, replicas: int, timeout: float | None) -> int:
        if not marks:
            return min((len(route.replicas) - 1 for route in self.shards.values()), default=0)
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        counts = await asyncio.gather(
            *(
                self._wait_shard(shard, index, replicas, started, deadline)
                for shard, index in sorted(marks.items())
                if shard in self.shards
            )
        )
        return min(counts, default=0)

    async def _wait_shard(
        self, shard: int, index: int, replicas: int, started: float, deadline: float | None
    ) -> int:
        """How many of `shard`'s followers hold `index`, once `replicas` do or at
        `deadline`; the count its leader last gave (0 if no leader answered)."""
        wanted = min(max(replicas, 0), _UINT32_MAX)
        search_deadline = None if deadline is None else max(deadline, started + LEADER_SEARCH_MIN_S)
        holding = 0
        while True:
            remaining = WAIT_CALL_S if deadline is None else deadline - time.monotonic()
            wait_s = min(max(remaining, 0.0), WAIT_CALL_S)
            request = pb.ReplicationWaitRequest(
                shard=shard, index=index, replicas=wanted, timeout_ms=int(wait_s * 1000)
            )
            ask = functools.partial(_wait_replicated, request, wait_s + ADMIN_CALL_TIMEOUT_S)
            reply = await self._ask_leader(shard, ask, search_deadline)
            if reply is not None:
                holding = reply.holding
            if holding >= replicas or reply is None:
                return holding
            if deadline is not None and time.monotonic() >= deadline:
                return holding

    # ------------------------------------------------------------------ the keys of a slot

    async def slot_keys(self, shard: int, slot: int, count: int) -> tuple[int, list[bytes]]:
        request = pb.SlotKeysRequest(shard=shard, slot=slot, count=min(count, _UINT64_MAX))

        def ask(link: NodeLink) -> Awaitable[pb.SlotKeysReply]:
            # The leader reads every key of the shard (in slices): allow it time.
            return link.admin.SlotKeys(request, timeout=SLOT_KEYS_SEARCH_S * 4)

        reply = await self._ask_leader(shard, ask, time.monotonic() + SLOT_KEYS_SEARCH_S)
        if reply is None:
            raise BackendError(
                b"CLUSTERDOWN The cluster is down: shard %d has no leader that answers" % shard
            )
        return reply.total, list(reply.keys)

    # ------------------------------------------------------------------ every node

    async def _statuses(self) -> list[tuple[NodeLink, pb.ClusterStatus]]:
        """The Status of every node that answers in time."""
        links = list(self.links.values())
        answers = await asyncio.gather(
            *(
                link.admin.Status(pb.StatusRequest(), timeout=ADMIN_CALL_TIMEOUT_S)
                for link in links
            ),
            return_exceptions=True,
        )
        return [
            (link, answer)
            for link, answer in zip(links, answers, strict=True)
            if isinstance(answer, pb.ClusterStatus)
        ]

    async def replication(self) -> Replication:
        statuses = await self._statuses()
        # Per shard, the view of the node that leads it (the highest term if two say so).
        leaders: dict[int, pb.ShardInfo] = {}
        for _, status in statuses:
            for info in status.local:
                if info.leader == status.node and info.term >= leaders.get(info.id, info).term:
                    leaders[info.id] = info
        held = {link.node_id: 0 for link, _ in statuses}
        for info in leaders.values():
            for replica in info.replica_status:
                if replica.node in held:
                    held[replica.node] += replica.match
        replicas = []
        for link, _ in sorted(statuses, key=lambda answered: answered[0].node_id):
            host, port = split_address(link.address)
            replicas.append(ReplicaOffset(host, port, held[link.node_id]))
        return Replication(sum(info.last_index for info in leaders.values()), replicas)

    async def last_save(self) -> float:
        statuses = await self._statuses()
        if not statuses:
            raise BackendError(b"CLUSTERDOWN The cluster is down: no node answers")
        return min(status.last_save for _, status in statuses)

    async def save(self) -> float:
        links = list(self.links.values())
        answers = await asyncio.gather(
            *(link.admin.Save(pb.SaveRequest(), timeout=SAVE_TIMEOUT_S) for link in links),
            return_exceptions=True,
        )
        failed = [
            (link, answer)
            for link, answer in zip(links, answers, strict=True)
            if not isinstance(answer, pb.SaveReply)
        ]
        if failed:
            link, problem = failed[0]
            reason = problem.details() if isinstance(problem, grpc.aio.AioRpcError) else problem
            raise BackendError(
                b"ERR Save failed on node %d (%s): %s"
                % (link.node_id, link.address.encode(), str(reason).encode())
            )
        return max(answer.last_save for answer in answers if isinstance(answer, pb.SaveReply))
