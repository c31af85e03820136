"""The node's gRPC services for routers and operators: Kv (pub/sub; commands travel on the
framed stream of node/kv_stream.py), Admin (status, slot map, leader transfer, health,
stats, the routers' addresses, WAIT's replication counts, the keys of a slot, snapshots on
request). Thin: they hand requests to the replicas and shape what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import grpc

from node.host import NodeHost
from node.metadata import ClusterMap
from node.raft import RaftError, Role
from node.replica import ShardReplica
from node.retire import write_marker
from node.slot_service import SlotService
from node.unblock import unblock
from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from proto.internal_channels import NODE_UNBLOCK
from proto.slots import SLOT_COUNT, key_slot

log = logging.getLogger("slotraft.services")

# Routers announce their addresses every second (router/router_registry.py); one not heard
# of for its TTL is forgotten. Bounds on what one announcement may ask for, and on the
# table (a misconfigured fleet must not grow it without end).
ROUTER_TTL_MS_MIN = 1_000
ROUTER_TTL_MS_MAX = 60_000
MAX_ROUTERS = 1_024
# WaitReplicated answers after at most this long, whatever the request says: a router
# waiting longer asks again (and meanwhile sees a leader change).
MAX_REPLICATION_WAIT_MS = 10_000
# SlotKeys looks at every key of the shard: in slices of this long, with a turn of the
# event loop (ticks, heartbeats, the Ready cycle) between them.
SLOT_KEYS_SLICE_S = 0.005

ROLE_NAMES = {
    Role.LEADER: "leader",
    Role.FOLLOWER: "follower",
    Role.CANDIDATE: "candidate",
    Role.PRE_CANDIDATE: "pre-candidate",
}


class KvService(pb_grpc.KvServicer):
    def __init__(self, host: NodeHost) -> None:
        self.host = host

    async def Publish(
        self, request: pb.PublishRequest, context: grpc.aio.ServicerContext
    ) -> pb.PublishReply:
        hub = getattr(self.host, "pubsub", None)
        if hub is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "pub/sub is not enabled")
        if request.channel == NODE_UNBLOCK:  # addressed to this node (node/unblock.py)
            return pb.PublishReply(receivers=unblock(self.host.shards, request.message))
        reached = hub.publish_each(
            request.channel, request.message, request.origin, request.seq, request.sharded
        )
        return pb.PublishReply(
            receivers=sum(reached.values()),
            routers=list(reached),
            router_receivers=list(reached.values()),
            holders=hub.holders(),
            hub_age_ms=hub.age_ms(),
        )

    async def Subscribe(
        self, request_iterator: AsyncIterator[pb.Subscription], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.Delivery]:
        hub = getattr(self.host, "pubsub", None)
        if hub is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "pub/sub is not enabled")
        async for delivery in hub.subscribe(request_iterator):
            yield delivery


def shard_info(host: NodeHost, replica: ShardReplica) -> pb.ShardInfo:
    status = replica.raft.status()
    info = pb.ShardInfo(
        id=replica.placement.id,
        group=replica.group,
        slots=[pb.SlotRange(first=a, last=b) for a, b in replica.placement.slots],
        replicas=list(replica.placement.replicas),
        leader=status.leader,
        term=status.term,
        commit=status.commit,
        applied=replica.applied,
        last_index=status.last_index,
        keys=replica.state.engine.key_count(),
        used_memory=replica.state.engine.used_memory(),
    )
    failure = host.failed_groups.get(replica.group)
    if failure is not None:
        info.failed_index = failure.index
        info.failure = failure.error
    for node in replica.placement.replicas:
        if node == host.node_id:
            role = "failed" if failure is not None else ROLE_NAMES[status.role]
            match = status.last_index
        else:
            peer = status.peers.get(node)
            role = "follower" if peer is not None else ""
            match = peer.match if peer is not None else 0
        info.replica_status.append(pb.ReplicaInfo(node=node, role=role, match=match))
    return info


def slot_map_message(host: NodeHost, cluster: ClusterMap) -> pb.SlotMap:
    connected = set()
    if host.transport is not None:
        connected = {peer for peer, link in host.transport.links.items() if link.connected}
    connected.add(host.node_id)
    message = pb.SlotMap(epoch=cluster.epoch)
    for node_id, address in sorted(cluster.nodes.items()):
        message.nodes.append(
            pb.NodeInfo(id=node_id, address=address, reachable=node_id in connected)
        )
    for placement in cluster.shards:
        info = pb.ShardInfo(
            id=placement.id,
            group=placement.group,
            slots=[pb.SlotRange(first=a, last=b) for a, b in placement.slots],
            replicas=list(placement.replicas),
        )
        replica = host.shards.get(placement.id)
        if replica is not None:
            info.leader = replica.raft.leader
            info.term = replica.raft.term
        message.shards.append(info)
    return message


def followers_holding(replica: ShardReplica, index: int) -> int:
    """On a leader: the followers whose match index is at least `index` (they hold the log
    up to there, durably: a follower acknowledges after its fsync)."""
    me = replica.node_id
    return sum(
        1
        for node, peer in replica.raft.status().peers.items()
        if node != me and peer.match >= index
    )


class AdminService(pb_grpc.AdminServicer):
    def __init__(self, host: NodeHost) -> None:
        self.host = host
        self.map_changed = asyncio.Event()
        assert host.metadata is not None
        host.metadata.state.listeners.append(lambda _map: self.map_changed.set())
        # The routers' public addresses: when each expires (time.monotonic()), its TLS port.
        self.routers: dict[str, tuple[float, int]] = {}
        self.slot_service = SlotService(host)  # slot moves (node/slot_service.py)

    async def Status(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClusterStatus:
        host = self.host
        return pb.ClusterStatus(
            node=host.node_id,
            slot_map=slot_map_message(host, host.cluster_map),
            local=[
                shard_info(host, replica)
                for replica in (*host.shards.values(), *host.failed_replicas.values())
            ],
            version="0.1.0",
            uptime_seconds=time.time() - host.started,
            identity=host.lost_disk.state,
            last_save=host.last_save,
        )

    async def ChangeMembership(
        self, request: pb.MembershipChangeRequest, context: grpc.aio.ServicerContext
    ) -> pb.MembershipChangeReply:
        return await self.host.elastic.change(request)

    async def MembershipProgress(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.MembershipProgressReply:
        return self.host.elastic.progress()

    async def GetSlotMap(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.SlotMap:
        return slot_map_message(self.host, self.host.cluster_map)

    async def WatchSlotMap(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.SlotMap]:
        last_epoch = -1
        while True:
            current = self.host.cluster_map
            if current.epoch != last_epoch:
                last_epoch = current.epoch
                yield slot_map_message(self.host, current)
            self.map_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.map_changed.wait(), timeout=5)

    async def TransferLeader(
        self, request: pb.TransferLeaderRequest, context: grpc.aio.ServicerContext
    ) -> pb.TransferLeaderReply:
        replica = self.host.shards.get(request.shard)
        if replica is None:
            return pb.TransferLeaderReply(
                ok=False, error=f"no replica of shard {request.shard} here"
            )
        try:
            replica.raft.transfer_leader(request.to_node)
        except RaftError as error:
            return pb.TransferLeaderReply(ok=False, error=str(error))
        self.host.last_transfer[replica.group] = float("inf")  # an operator's choice stays
        self.host.wake()
        return pb.TransferLeaderReply(ok=True)

    async def Health(
        self, request: pb.HealthRequest, context: grpc.aio.ServicerContext
    ) -> pb.HealthReply:
        host = self.host
        if not host.running:
            return pb.HealthReply(serving=False, detail="the node is stopping or failed")
        leaderless = [shard for shard, r in host.shards.items() if r.raft.leader == 0]
        problems = [f"no leader known for shards {leaderless}"] if leaderless else []
        problems += [
            f"replica of shard {shard} failed at entry {host.failed_groups[r.group].index}"
            for shard, r in sorted(host.failed_replicas.items())
        ]
        return pb.HealthReply(serving=True, detail="; ".join(problems) or "ok")

    async def Retire(
        self, request: pb.RetireRequest, context: grpc.aio.ServicerContext
    ) -> pb.RetireReply:
        """The operator's tool says this node left the cluster (node/retire.py)."""
        host = self.host
        if request.node != host.node_id:
            return pb.RetireReply(error=f"this is node {host.node_id}, not {request.node}")
        # Its own view of the groups may be stale (a removed member may never apply its own
        # removal): the caller checked the cluster's map. A leader, though, is not removed.
        leading = sorted(shard for shard, replica in host.shards.items() if replica.is_leader)
        if leading:
            listed = ", ".join(map(str, leading))
            return pb.RetireReply(error=f"node {host.node_id} leads shards {listed}")
        write_marker(host.data_dir, host.node_id, request.epoch)
        log.warning(
            "node %d was removed from the cluster (map epoch %d): stopping for good",
            host.node_id,
            request.epoch,
        )
        host.retired.set()
        return pb.RetireReply(ok=True)

    async def ReleaseVotes(
        self, request: pb.ReleaseVotesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseVotesReply:
        return pb.ReleaseVotesReply(previous=self.host.lost_disk.release_by_operator())

    async def Stats(
        self, request: pb.ShardStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ShardStats:
        replica = self.host.shards.get(request.shard)
        if replica is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no replica of shard {request.shard}")
        values = {key: int(value) for key, value in replica.state.engine.stats().items()}
        counters = replica.counters
        values.update(
            proposals=counters.proposals,
            requests=counters.requests,
            reads=counters.reads,
            snapshots=counters.snapshots,
            blocked_clients=len(replica.waiters),
            raft_term=replica.raft.term,
            raft_commit=replica.raft.status().commit,
            raft_applied=replica.applied,
        )
        return pb.ShardStats(values=values)

    async def AnnounceRouter(
        self, request: pb.RouterAnnouncement, context: grpc.aio.ServicerContext
    ) -> pb.RouterList:
        now = time.monotonic()
        for address, (expires, _) in list(self.routers.items()):
            if expires <= now:
                del self.routers[address]
        address = request.address
        if address and (address in self.routers or len(self.routers) < MAX_ROUTERS):
            ttl = min(max(request.ttl_ms, ROUTER_TTL_MS_MIN), ROUTER_TTL_MS_MAX)
            tls_port = request.tls_port if request.tls_port <= 0xFFFF else 0
            self.routers[address] = (now + ttl / 1000, tls_port)
        listed = sorted(self.routers)
        return pb.RouterList(
            addresses=listed, tls_ports=[self.routers[address][1] for address in listed]
        )

    async def WaitReplicated(
        self, request: pb.ReplicationWaitRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReplicationWaitReply:
        host = self.host
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(request.timeout_ms, MAX_REPLICATION_WAIT_MS) / 1000
        while True:
            replica = host.shards.get(request.shard)
            if replica is None:
                await context.abort(
                    grpc.StatusCode.NOT_FOUND, f"no replica of shard {request.shard}"
                )
            if not replica.is_leader:
                return pb.ReplicationWaitReply(leader=False, leader_node=replica.raft.leader)
            holding = followers_holding(replica, request.index)
            remaining = deadline - loop.time()
            if holding >= request.replicas or remaining <= 0:
                return pb.ReplicationWaitReply(
                    leader=True, leader_node=host.node_id, holding=holding
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(host.next_cycle(), remaining)

    async def SlotKeys(
        self, request: pb.SlotKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.SlotKeysReply:
        """The keys of one slot as the leader has applied them (expired keys not yet
        removed included, as Redis counts them), in slices between which the loop runs."""
        replica = self.host.shards.get(request.shard)
        if replica is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no replica of shard {request.shard}")
        if request.slot >= SLOT_COUNT:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"no slot {request.slot}")
        if not replica.is_leader:
            return pb.SlotKeysReply(leader=False, leader_node=replica.raft.leader)
        # Database 0's keys now (as a cluster node's: CLUSTER commands know no other
        # database); the loop may change them.
        keys = list(replica.state.engine.databases.database(0).data)
        slot, wanted = request.slot, request.count
        total = 0
        listed: list[bytes] = []
        deadline = time.perf_counter() + SLOT_KEYS_SLICE_S
        for position, key in enumerate(keys):
            if key_slot(key) == slot:
                total += 1
                if len(listed) < wanted:
                    listed.append(key)
            if position % 1024 == 1023 and time.perf_counter() >= deadline:
                await asyncio.sleep(0)
                deadline = time.perf_counter() + SLOT_KEYS_SLICE_S
        return pb.SlotKeysReply(
            leader=True, leader_node=self.host.node_id, total=total, keys=listed
        )

    async def Save(
        self, request: pb.SaveRequest, context: grpc.aio.ServicerContext
    ) -> pb.SaveReply:
        return pb.SaveReply(last_save=await self.host.request_save())

    async def SlotMove(
        self, request: pb.SlotMoveRequest, context: grpc.aio.ServicerContext
    ) -> pb.SlotMoveReply:
        return await self.slot_service.move(request)

    async def SlotExport(
        self, request: pb.SlotExportRequest, context: grpc.aio.ServicerContext
    ) -> pb.SlotExportReply:
        return await self.slot_service.export(request)
