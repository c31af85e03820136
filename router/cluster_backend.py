"""The Backend that talks to the nodes of a cluster.

The slot map comes from any node (and is watched for changes); it names the nodes, each
reached through a NodeLink (router/node_link.py), and each shard's replicas. A request
goes to its shard's leader through the ShardCaller (router/retry.py), which retries it
across leader changes at most once in effect; the requests of one event-loop turn for a
shard leave together (router/coalescing.py). Pub/sub reaches the other routers through
every node's subscription stream (router/pubsub_streams.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from proto import framing
from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from proto.acl_table import AclTable
from proto.commands import COMMANDS, CommandSpec, may_block, resolve
from proto.credentials import Credentials
from proto.handshake import CHANNEL_KV, HandshakeError
from proto.internal_channels import NODE_UNBLOCK, pack
from proto.kv_commands import set_commands
from proto.relay import GrpcDialer
from proto.slots import SLOT_COUNT, key_slot
from router.backend import (
    BackendError,
    Replication,
    ScriptCaller,
    Watch,
    WriteMarks,
    note_write,
)
from router.cluster_admin import ClusterAdmin
from router.cluster_settings import ClusterSettings
from router.coalescing import MergeKey, RequestCoalescer
from router.db_swap_driver import DbSwapDriver
from router.moving_slots import MOVE_WAIT_BUDGET_S, MOVING_REPLY, command_slot, follow_moves
from router.node_link import GRPC_OPTIONS, NodeLink
from router.pubsub import PubSubRegistry
from router.pubsub_streams import NodeStreams
from router.retry import RETRY_BUDGET_S, ShardCaller, ShardRoute
from router.router_registry import RouterRegistry
from router.single_flight import SingleFlight

log = logging.getLogger("slotraft.router.cluster")
ROUTER_TAGS = 1 << 30
ADMIN_TIMEOUT_S = 2.0
_BY_SPELLING = COMMANDS.by_spelling  # tested per command on the hot path


def _ignore_frame(_frame: bytes) -> None:
    pass


class ClusterBackend:
    def __init__(
        self,
        seeds: list[str],
        credentials: Credentials,
        retry_budget: float = RETRY_BUDGET_S,
        single_flight: bool = False,
    ) -> None:
        if not seeds:
            raise ValueError("at least one node address is needed")
        self.seeds = seeds
        # Without a configured cluster id the router takes the first node's and then holds
        # every other node to it (proto/handshake.py refuses a node of another cluster).
        self.credentials = credentials
        self.dialer = GrpcDialer(lambda: self.credentials)
        self.client_id = random.getrandbits(63) | 1
        # This router's part of the client id space (docs/ARCHITECTURE.md, client ids).
        self.router_tag = random.randrange(1, ROUTER_TAGS)
        # The blocking commands under way, by the task awaiting them (CLIENT UNBLOCK).
        self.blocking_calls: dict[asyncio.Task, tuple[int, pb.KvRequest]] = {}
        self.links: dict[int, NodeLink] = {}
        self.shards: dict[int, ShardRoute] = {}
        self.slot_table: list[int] = [0] * SLOT_COUNT
        self.epoch = -1
        self.watch_task: asyncio.Task | None = None
        self.caller = ShardCaller(self.links, self.client_id, retry_budget)
        self.events = self.caller.events  # leader changes, retries, give-ups (metrics, logs)
        self.pubsub = PubSubRegistry()
        self.pubsub_streams = NodeStreams(self.pubsub, self.links, self.client_id)
        self.coalescer = RequestCoalescer(self._start_merged, self._write_links)
        self.registry = RouterRegistry(self.links)  # the other routers' addresses
        self.cluster_admin = ClusterAdmin(self.links, self.shards)  # WAIT, ROLE, SAVE, ...
        # Cluster-wide CONFIG (waiting for the shards that own slots), node reports.
        self.settings = ClusterSettings(self.links, lambda: set(self.slot_table))
        self.db_swaps = DbSwapDriver(self.settings.propose, self.info)
        self.settings.on_databases = self.db_swaps.install
        # Identical concurrent reads of a key merged into one (router/single_flight.py).
        self.single_flight = SingleFlight() if single_flight else None

    # ------------------------------------------------------------------ slot map

    async def start(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for address in self.seeds:
                try:
                    await self._learn_cluster_id(address)
                    async with grpc.aio.insecure_channel(
                        self.dialer.target(address), options=GRPC_OPTIONS
                    ) as ch:
                        slot_map = await pb_grpc.AdminStub(ch).GetSlotMap(
                            pb.StatusRequest(), timeout=2
                        )
                    self._install(slot_map)
                    self.watch_task = asyncio.get_running_loop().create_task(self._watch())
                    self.registry.start()
                    await self.settings.start()
                    self.db_swaps.start()
                    return
                except (grpc.aio.AioRpcError, OSError, TimeoutError, HandshakeError) as error:
                    last_error = error
            await asyncio.sleep(0.3)
        raise RuntimeError(f"no node answered at {', '.join(self.seeds)}: {last_error}")

    async def _learn_cluster_id(self, address: str) -> None:
        """Shake hands with a seed (which proves it knows the secret); without a configured
        cluster id, take its cluster id as ours."""
        protocol, hello = await framing.open_channel(
            address, self.credentials, CHANNEL_KV, framing.FrameProtocol(_ignore_frame)
        )
        protocol.abort()
        if not self.credentials.me.cluster_id:
            self.credentials = self.credentials.for_cluster(hello.cluster_id)
            log.info("cluster id %s (from the node at %s)", hello.cluster_id, address)

    def _install(self, slot_map: pb.SlotMap) -> None:
        if slot_map.epoch < self.epoch:
            return
        self.epoch = slot_map.epoch
        for node in slot_map.nodes:
            link = self.links.get(node.id)
            if link is None or link.address != node.address:
                self.links[node.id] = NodeLink(
                    node.id, node.address, lambda: self.credentials, self.dialer
                )
        table = [-1] * SLOT_COUNT
        for shard in slot_map.shards:
            route = self.shards.get(shard.id)
            if route is None:
                route = self.shards[shard.id] = ShardRoute(shard.id, list(shard.replicas))
            route.replicas = list(shard.replicas)
            if shard.leader:
                route.leader = shard.leader
            elif not route.leader:
                route.leader = shard.replicas[0]
            for slot_range in shard.slots:
                for slot in range(slot_range.first, slot_range.last + 1):
                    table[slot] = shard.id
        if -1 in table:
            log.error(
                "slot map epoch %d leaves slot %d unassigned", slot_map.epoch, table.index(-1)
            )
            return
        self.slot_table = table

    async def _watch(self) -> None:
        while True:
            for link in list(self.links.values()):
                try:
                    async for slot_map in link.admin.WatchSlotMap(pb.StatusRequest()):
                        self._install(slot_map)
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.5)

    async def close(self) -> None:
        if self.watch_task is not None:
            self.watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watch_task
        await self.registry.close()
        await self.db_swaps.close()
        await self.settings.close()
        await self.pubsub_streams.close()
        self.caller.close()
        for link in self.links.values():
            await link.close()
        await self.dialer.close()

    # ------------------------------------------------------------------ Backend

    @property
    def shard_count(self) -> int:
        return len(self.shards)

    def shard_for_slot(self, slot: int) -> int:
        return self.slot_table[slot]

    def execute(
        self,
        shard: int,
        commands: list[list[bytes]],
        resp3: bool,
        follower_read: bool = False,
        marks: WriteMarks | None = None,
        writer: int = 0,
        caller: ScriptCaller | None = None,
        db: int = 0,
    ) -> Awaitable[list[bytes]]:
        """The commands leave at the end of this event-loop turn, in one request with those
        of every other connection for the same shard (router/coalescing.py); the awaitable
        gives their replies. A blocking command travels alone."""
        read_only = all(_is_read_only(args) for args in commands)
        consistency = pb.FOLLOWER if follower_read and read_only else pb.LINEARIZABLE
        if self.single_flight is not None and caller is None and not db:
            # (A restricted user's script is its own: its answer may differ from another's;
            # single flight knows keys, not databases.)
            sent = self.single_flight.execute(
                shard,
                commands,
                resp3,
                read_only,
                consistency,
                lambda: self._send(
                    shard, commands, resp3, read_only, consistency, marks, writer, caller
                ),
            )
        else:
            sent = self._send(
                shard, commands, resp3, read_only, consistency, marks, writer, caller, db
            )
        return self._follow_moves(
            sent, commands, resp3, follower_read, marks, writer, caller, time.monotonic(), db, shard
        )

    async def _follow_moves(
        self,
        sent: Awaitable[list[bytes]],
        commands: list[list[bytes]],
        resp3: bool,
        follower_read: bool,
        marks: WriteMarks | None,
        writer: int,
        caller: ScriptCaller | None,
        started: float,
        db: int,
        home: int,
    ) -> list[bytes]:
        """The replies, those of commands whose slot was moving sent again to the shard
        that serves it now (router/moving_slots.py). The request has left already (a
        merged request's future; a request of its own runs as a task from now on): the
        usual answer costs this coroutine and one check, no future or callback of its own."""
        if not isinstance(sent, asyncio.Future):
            sent = asyncio.ensure_future(sent)
        replies = await sent
        if MOVING_REPLY not in replies:
            return replies

        def again(shard: int, moved: list[list[bytes]]) -> Awaitable[list[bytes]]:
            return self.execute(shard, moved, resp3, follower_read, marks, writer, caller, db)

        return await follow_moves(replies, commands, self.shard_for_slot, again, started, home)

    def _send(
        self,
        shard: int,
        commands: list[list[bytes]],
        resp3: bool,
        read_only: bool,
        consistency: pb.Consistency,
        marks: WriteMarks | None,
        writer: int = 0,
        caller: ScriptCaller | None = None,
        db: int = 0,
    ) -> Awaitable[list[bytes]]:
        blocking = len(commands) == 1 and _is_blocking(commands[0])
        writer = 0 if read_only else writer
        if shard in self.shards and not blocking and caller is None:
            # A NOLOOP writer's commands travel in a request of their own (its writer); a
            # restricted user's scripts alone, their refusals reported to it.
            key = MergeKey(shard, resp3, read_only, consistency, writer, db)
            return self.coalescer.add(key, commands, None if read_only else marks)
        request = pb.KvRequest(
            shard=shard,
            kind=pb.COMMANDS,
            resp3=resp3,
            read_only=read_only,
            consistency=consistency,
            writer=writer,
            caller=caller.rules if caller is not None else b"",
            db=db,
        )
        set_commands(request, commands)
        # Unknown shards: the call says why.
        # The caller's task, taken now: the call may run in a task of its own (slot moves'
        # follow-up), and CLIENT UNBLOCK names the connection's task.
        owner = asyncio.current_task() if blocking else None
        return _replies_of(self._call(shard, request, blocking, owner), shard, marks, caller)

    def _write_links(self) -> None:
        """The turn's merged requests leave now, not one loop turn later."""
        for link in self.links.values():
            link.flush()

    def _start_merged(self, key: MergeKey, request: pb.KvRequest) -> asyncio.Future[pb.KvReply]:
        return self.caller.start(self.shards[key.shard], request)

    async def transaction(
        self,
        shard: int,
        commands: list[list[bytes]],
        resp3: bool,
        watches: list[Watch],
        marks: WriteMarks | None = None,
        writer: int = 0,
        caller: ScriptCaller | None = None,
        db: int = 0,
    ) -> bytes:
        request = pb.KvRequest(
            shard=shard,
            kind=pb.TRANSACTION,
            resp3=resp3,
            watches=[pb.Watch(key=w.key, digest=w.digest) for w in watches],
            writer=writer,
            caller=caller.rules if caller is not None else b"",
            db=db,
        )
        set_commands(request, commands)
        if self.single_flight is not None and not db:
            # EXEC writes its keys: no read of them may be merged across it.
            replies = await self.single_flight.execute(
                shard, commands, resp3, False, pb.LINEARIZABLE, lambda: self._exec(request, caller)
            )
            reply_bytes, log_index = replies
            note_write(marks, shard, int(log_index))
            return reply_bytes
        reply = await self._call(shard, request)
        note_write(marks, shard, reply.log_index)
        if caller is not None:
            report_denials(caller, reply)
        slot = command_slot(commands[0]) if commands else None
        deadline = time.monotonic() + MOVE_WAIT_BUDGET_S
        while reply.replies[0] == MOVING_REPLY:
            # Its slot is moving: again on the shard that serves it (the WATCHed digests,
            # taken on the old shard, may then abort it, as a change would); or its
            # database is being swapped: again on the same shard.
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)
            if slot is not None:
                shard = self.slot_table[slot]
            request.shard = shard
            request.ClearField("sequence")  # a new request of the new shard's session
            reply = await self._call(shard, request)
            note_write(marks, shard, reply.log_index)
            if caller is not None:
                report_denials(caller, reply)
        return reply.replies[0]

    async def _exec(self, request: pb.KvRequest, caller: ScriptCaller | None) -> list[bytes]:
        reply = await self._call(request.shard, request)
        if caller is not None:
            report_denials(caller, reply)
        return [reply.replies[0], b"%d" % reply.log_index]

    async def digests(self, shard: int, keys: list[bytes], db: int = 0) -> list[bytes]:
        request = pb.KvRequest(shard=shard, kind=pb.DIGESTS, read_only=True, db=db)
        set_commands(request, [keys])
        reply = await self._call(shard, request)
        return list(reply.replies)

    async def swap_databases(self, first: int, second: int) -> None:
        await self.db_swaps.swap(first, second)

    async def info(self, shard: int) -> dict[str, Any]:
        route = self.shards[shard]
        candidates = [route.leader, *route.replicas] if route.leader else list(route.replicas)
        for node in candidates:
            link = self.links.get(node)
            if link is None:
                continue
            try:
                stats = await link.admin.Stats(pb.ShardStatsRequest(shard=shard), timeout=2)
            except grpc.aio.AioRpcError:
                continue
            values: dict[str, Any] = dict(stats.values)
            values["leader"] = route.leader
            values["replicas"] = ",".join(map(str, route.replicas))
            return values
        raise BackendError(
            b"CLUSTERDOWN The cluster is down: no replica of shard %d answers" % shard
        )

    # ------------------------------------------------------------------ the cluster's face

    def announce(self, address: str, tls_port: int = 0) -> None:
        self.registry.announce(address, tls_port)

    def routers(self) -> list[str]:
        return self.registry.addresses()

    def router_tls_ports(self) -> dict[str, int]:
        return self.registry.tls_ports()

    async def wait_replicated(self, marks: WriteMarks, replicas: int, timeout: float | None) -> int:
        return await self.cluster_admin.wait_replicated(marks, replicas, timeout)

    async def replication(self) -> Replication:
        return await self.cluster_admin.replication()

    async def save(self) -> float:
        return await self.cluster_admin.save()

    async def last_save(self) -> float:
        return await self.cluster_admin.last_save()

    async def slot_keys(self, slot: int, count: int) -> tuple[int, list[bytes]]:
        return await self.cluster_admin.slot_keys(self.slot_table[slot], slot, count)

    # ------------------------------------------------------------------ configuration

    def cluster_settings(self) -> tuple[int, dict[str, str]]:
        return self.settings.version, self.settings.values

    async def set_cluster_settings(self, settings: dict[str, str]) -> None:
        await self.settings.set(settings)

    async def node_reports(self) -> list[pb.NodeReport]:
        return await self.settings.reports()

    def acl(self) -> AclTable:
        return self.settings.acl

    def on_acl_change(self, listener: Callable[[], None]) -> None:
        self.settings.acl_listeners.append(listener)

    async def change_acl(self, change: dict[str, Any]) -> int:
        return await self.settings.change_acl(change)

    # ------------------------------------------------------------------ calls and retries

    async def _call(
        self,
        shard: int,
        request: pb.KvRequest,
        blocking: bool = False,
        owner: asyncio.Task | None = None,
    ) -> pb.KvReply:
        route = self.shards.get(shard)
        if route is None:
            raise BackendError(b"CLUSTERDOWN The cluster is down: unknown shard %d" % shard)
        if not blocking:
            return await self.caller.call(route, request, blocking)
        task = owner or asyncio.current_task()
        if task is not None:
            self.blocking_calls[task] = (shard, request)  # for CLIENT UNBLOCK
        try:
            return await self.caller.call(route, request, blocking)
        finally:
            if task is not None:
                self.blocking_calls.pop(task, None)

    async def unblock(self, task: asyncio.Task, error: bool) -> bool:
        """Every node is asked (node/unblock.py); the shard's leader answers the parked
        request, which then comes back as its reply."""
        call = self.blocking_calls.get(task)
        if call is None or not call[1].sequence:
            return False
        shard, request = call
        reason = b"error" if error else b"timeout"
        message = pack([b"%d" % shard, b"%d" % self.client_id, b"%d" % request.sequence, reason])
        publish = pb.PublishRequest(channel=NODE_UNBLOCK, message=message)
        answers = await asyncio.gather(
            *(link.kv.Publish(publish, timeout=ADMIN_TIMEOUT_S) for link in self.links.values()),
            return_exceptions=True,
        )
        return any(isinstance(a, pb.PublishReply) and a.receivers for a in answers)

    # ------------------------------------------------------------------ pub/sub

    async def publish(self, channel: bytes, message: bytes, sender: int) -> int:
        return await self.pubsub_streams.publish(channel, message, sender)

    async def spublish(self, channel: bytes, message: bytes, sender: int) -> int:
        shard = self.slot_table[key_slot(channel)]
        route = self.shards.get(shard)
        if shard < 0 or route is None:
            raise BackendError(b"CLUSTERDOWN Hash slot not served")
        nodes = dict.fromkeys([route.leader, *route.replicas] if route.leader else route.replicas)
        return await self.pubsub_streams.publish(channel, message, sender, nodes, sharded=True)

    async def sync_subscriptions(self) -> None:
        await self.pubsub_streams.sync()

    async def pubsub_channels(self, pattern: bytes | None) -> list[bytes]:
        query = pb.PubSubQuery(kind=pb.PubSubQuery.CHANNELS)
        if pattern is not None:
            query.pattern = pattern
        return list((await self.pubsub_streams.query(query)).channels)

    async def pubsub_numsub(self, channels: list[bytes]) -> list[int]:
        query = pb.PubSubQuery(kind=pb.PubSubQuery.NUMSUB, channels=channels)
        return list((await self.pubsub_streams.query(query)).counts)

    async def pubsub_numpat(self) -> int:
        query = pb.PubSubQuery(kind=pb.PubSubQuery.NUMPAT)
        (count,) = (await self.pubsub_streams.query(query)).counts
        return count

    async def pubsub_shardchannels(self, pattern: bytes | None) -> list[bytes]:
        query = pb.PubSubQuery(kind=pb.PubSubQuery.SHARDCHANNELS)
        if pattern is not None:
            query.pattern = pattern
        return list((await self.pubsub_streams.query(query)).channels)

    async def pubsub_shardnumsub(self, channels: list[bytes]) -> list[int]:
        query = pb.PubSubQuery(kind=pb.PubSubQuery.SHARDNUMSUB, channels=channels)
        return list((await self.pubsub_streams.query(query)).counts)

    def pubsub_info(self) -> list[str]:
        return self.pubsub_streams.counters.info_lines()


async def _replies_of(
    call: Awaitable[pb.KvReply],
    shard: int,
    marks: WriteMarks | None,
    caller: ScriptCaller | None = None,
) -> list[bytes]:
    reply = await call
    note_write(marks, shard, reply.log_index)
    if caller is not None:
        report_denials(caller, reply)
    return list(reply.replies)


def report_denials(caller: ScriptCaller, reply: pb.KvReply) -> None:
    """The redis.call the shard refused the caller's scripts, to its ACL LOG."""
    for denial in reply.script_denials:
        caller.refused(denial.reason, denial.object)


def _is_read_only(args: list[bytes]) -> bool:
    spec = _BY_SPELLING.get(args[0])
    if spec is None or spec.subcommands:
        spec = resolve(args)  # type: ignore[assignment]
    # A read that may block (XREAD BLOCK) goes through the log like the other blocking
    # commands: the node parks it there until its keys change.
    return (
        type(spec) is CommandSpec
        and spec.is_read_only
        and not (spec.is_blocking and may_block(spec, args))
    )


def _is_blocking(args: list[bytes]) -> bool:
    spec = resolve(args)
    return type(spec) is CommandSpec and may_block(spec, args)
