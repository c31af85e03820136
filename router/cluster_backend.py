"""The Backend that talks gRPC to the nodes of a cluster.

The slot map comes from any node (and is watched for changes). Each shard's leader is
cached, corrected by not-leader replies, and found again by trying the shard's replicas.
Every write carries this router's client id and a per-shard sequence number; a request
that timed out or met a leader change is retried with the same (client id, sequence), so
the shard applies it at most once. When no leader answers for a while, the client gets a
-CLUSTERDOWN error, never a guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import grpc

from proto import framing
from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from proto.commands import TABLE, Flag, resolve
from proto.credentials import Credentials
from proto.handshake import CHANNEL_KV, HandshakeError
from proto.kv_commands import set_commands
from proto.relay import GrpcDialer
from proto.running_loop import running_loop
from proto.slots import SLOT_COUNT
from router.backend import BackendError, Watch
from router.coalescing import MergeKey, RequestCoalescer
from router.metrics import ShardEvents
from router.pubsub import NodeStreams, PubSubRegistry

log = logging.getLogger("slotraft.router.cluster")

GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 1 << 30),
    ("grpc.max_receive_message_length", 1 << 30),
    ("grpc.keepalive_time_ms", 2000),
    ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
ATTEMPT_TIMEOUT_S = 3.0  # one try at one node
RETRY_BUDGET_S = 15.0  # all tries of one request
RETRY_PAUSE_S = 0.02  # first pause between tries; doubles up to RETRY_PAUSE_MAX_S
RETRY_PAUSE_MAX_S = 0.1  # a new leader is used within 0.1 s of its election
# A read that got no answer in time from this many nodes is not sent again: it may be the
# read itself that holds each node's event loop (and stops its heartbeats, so that the
# next node is elected and gets the same read), and a read has no effect to complete.
# Nor is a read sent again to a node that did not answer it in time: that node may still
# be working on it (or on what delays it), and a copy would only add to its work. If the
# other replicas still name that node as their leader, it is busy, not gone: the read
# fails at once rather than when the retry budget runs out.
READ_TIMEOUT_NODES = 2
# Where blocking commands keep their timeout argument (seconds): index from the start.
_TIMEOUT_FIRST = {b"blmpop", b"bzmpop"}


AnswerCallback = Callable[["pb.KvReply | None", str], None]
NO_ANSWER_IN_TIME = "did not answer"  # how a timed-out attempt's problem reads
CredentialSource = Callable[[], Credentials]


def _ignore_frame(_frame: bytes) -> None:
    pass


class FirstAttempt(NamedTuple):
    """How the first try of a request (made by `_start`) went, for the retry loop."""

    node: int
    reply: pb.KvReply | None  # None: no answer, `problem` says why
    problem: str
    started: float  # time.monotonic() when it was sent


class AttemptFailed(Exception):
    """One try did not get an answer from a leader (transport error, timeout, no leader)."""


class NodeLink:
    """One node: a framed Kv stream (proto/framing.py) with the requests of one event-loop
    turn in one frame and replies matched by id, and a gRPC channel for Admin and pub/sub.
    Both pass the node handshake (proto/handshake.py) with `credentials`; the gRPC channel
    through `dialer`."""

    def __init__(
        self, node_id: int, address: str, credentials: CredentialSource, dialer: GrpcDialer
    ) -> None:
        self.node_id = node_id
        self.address = address
        self.credentials = credentials
        self.refusal = ""  # the last handshake failure, logged once until it changes
        self.channel = grpc.aio.insecure_channel(
            dialer.target(address, node_id), options=GRPC_OPTIONS
        )
        self.kv = pb_grpc.KvStub(self.channel)
        self.admin = pb_grpc.AdminStub(self.channel)
        # Requests sent or about to be on `stream`, by id: who to tell about the answer.
        self.pending: dict[int, AnswerCallback] = {}
        self.outgoing: list[pb.KvRequest] = []
        self.ids = itertools.count(1)
        self.stream: framing.FrameProtocol | None = None
        self.connecting: asyncio.Task | None = None
        self.flush_scheduled = False

    def send(self, request: pb.KvRequest, timeout: float | None = None) -> asyncio.Future:
        """The future of the node's reply; it fails with AttemptFailed when the stream does
        or no reply came within `timeout` seconds."""
        future: asyncio.Future = self.loop.create_future()
        self.submit(request, lambda reply, problem: _settle(future, reply, problem), timeout)
        return future

    def submit(
        self, request: pb.KvRequest, answer: AnswerCallback, timeout: float | None = None
    ) -> None:
        """Queue a request; `answer(reply, "")` runs when it comes, or `answer(None, why)`
        when the stream fails or `timeout` passes first (then a late reply is dropped).
        Called from the reply's frame: no event-loop turn."""
        request.id = next(self.ids)
        loop = self.loop
        if timeout is not None:
            # A plain timer, not asyncio.wait_for: this runs once per request.
            timer = loop.call_later(timeout, self._time_out, request.id, timeout)
            answer = _cancelling(timer, answer)
        self.pending[request.id] = answer
        self.outgoing.append(request)
        stream = self.stream
        if stream is not None and not stream.closed:
            if not self.flush_scheduled:
                self.flush_scheduled = True
                loop.call_soon(self.flush)
        elif self.connecting is None or self.connecting.done():
            self.connecting = loop.create_task(self._connect())

    loop = running_loop

    def _time_out(self, request_id: int, timeout: float) -> None:
        answer = self.pending.pop(request_id, None)
        if answer is not None:
            answer(None, f"node {self.node_id} {NO_ANSWER_IN_TIME} in {timeout:.1f}s")

    def flush(self) -> None:
        """Write the queued requests in one frame (scheduled once per turn by `submit`;
        the backend calls it at once after a turn's merged requests)."""
        self.flush_scheduled = False
        stream = self.stream
        if self.outgoing and stream is not None and not stream.closed:
            batch, self.outgoing = self.outgoing, []
            stream.send(pb.KvBatch(requests=batch).SerializeToString())

    async def _connect(self) -> None:
        stream: framing.FrameProtocol | None = None

        def lost(reason: Exception | None) -> None:
            if stream is not None and stream is self.stream:
                self.stream = None
                log.info("stream to node %d (%s) ended: %s", self.node_id, self.address, reason)
                self._fail_all()

        try:
            stream, _ = await framing.open_channel(
                self.address,
                self.credentials(),
                CHANNEL_KV,
                framing.FrameProtocol(self._receive, lost),
                self.node_id,
                ATTEMPT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as error:
            log.debug("node %d (%s) unreachable: %s", self.node_id, self.address, error)
            self._fail_all()
            return
        except HandshakeError as error:
            if str(error) != self.refusal:
                self.refusal = str(error)
                log.warning("link to node %d (%s): %s", self.node_id, self.address, error)
            self._fail_all()
            return
        self.refusal = ""
        self.stream = stream
        self.flush()

    def _receive(self, frame: bytes) -> None:
        pending = self.pending
        for reply in pb.KvReplyBatch.FromString(frame).replies:
            answer = pending.pop(reply.id, None)
            if answer is not None:
                answer(reply, "")

    def _fail_all(self) -> None:
        failed, self.pending = self.pending, {}
        self.outgoing = []
        problem = f"node {self.node_id} unreachable"
        for answer in failed.values():
            answer(None, problem)

    async def close(self) -> None:
        if self.connecting is not None:
            self.connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.connecting
        if self.stream is not None:
            self.stream.abort()
            self.stream = None
        self._fail_all()
        await self.channel.close()


@dataclass(slots=True)
class ShardRoute:
    id: int
    replicas: list[int]
    leader: int = 0
    next_sequence: int = 1
    outstanding: set[int] = field(default_factory=set)

    def acked(self) -> int:
        return min(self.outstanding) if self.outstanding else self.next_sequence


class ClusterBackend:
    def __init__(
        self, seeds: list[str], credentials: Credentials, retry_budget: float = RETRY_BUDGET_S
    ) -> None:
        if not seeds:
            raise ValueError("at least one node address is needed")
        self.seeds = seeds
        # Without a configured cluster id the router takes the first node's and then holds
        # every other node to it (proto/handshake.py refuses a node of another cluster).
        self.credentials = credentials
        self.dialer = GrpcDialer(lambda: self.credentials)
        self.retry_budget = retry_budget
        self.client_id = random.getrandbits(63) | 1
        self.links: dict[int, NodeLink] = {}
        self.shards: dict[int, ShardRoute] = {}
        self.slot_table: list[int] = [0] * SLOT_COUNT
        self.epoch = -1
        self.watch_task: asyncio.Task | None = None
        self.rng = random.Random()
        self.pubsub = PubSubRegistry()
        self.pubsub_streams = NodeStreams(self.pubsub, self.links, self.client_id)
        self.retries: set[asyncio.Task] = set()  # retry loops of first attempts that failed
        self.coalescer = RequestCoalescer(self._start_merged, self._write_links)
        self.events = ShardEvents()  # leader changes, retries, give-ups: logged and counted

    loop = running_loop

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
        await self.pubsub_streams.close()
        for task in list(self.retries):
            task.cancel()
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
        self, shard: int, commands: list[list[bytes]], resp3: bool, follower_read: bool = False
    ) -> Awaitable[list[bytes]]:
        """The commands leave at the end of this event-loop turn, in one request with those
        of every other connection for the same shard (router/coalescing.py); the awaitable
        gives their replies. A blocking command travels alone."""
        read_only = all(_is_read_only(args) for args in commands)
        consistency = pb.FOLLOWER if follower_read and read_only else pb.LINEARIZABLE
        blocking = len(commands) == 1 and _is_blocking(commands[0])
        if shard in self.shards and not blocking:
            return self.coalescer.add(MergeKey(shard, resp3, read_only, consistency), commands)
        request = pb.KvRequest(
            shard=shard,
            kind=pb.COMMANDS,
            resp3=resp3,
            read_only=read_only,
            consistency=consistency,
        )
        set_commands(request, commands)
        return _replies_of(self._call(shard, request, blocking))  # unknown shards: says why

    def _write_links(self) -> None:
        """The turn's merged requests leave now, not one loop turn later."""
        for link in self.links.values():
            link.flush()

    def _start_merged(self, key: MergeKey, request: pb.KvRequest) -> asyncio.Future[list[bytes]]:
        return self._start(self.shards[key.shard], request)

    def _start(self, route: ShardRoute, request: pb.KvRequest) -> asyncio.Future[list[bytes]]:
        """The first attempt, with callbacks instead of a coroutine; anything but an OK
        reply hands over to the retry loop (`_retry`) in a task."""
        result: asyncio.Future[list[bytes]] = self.loop.create_future()
        result.add_done_callback(_retrieve)
        is_write = not request.read_only
        if is_write:
            self._sequence(route, request)
        node = self._pick(route, request, 0)
        started = time.monotonic()
        link = self.links.get(node)
        if link is None:
            problem = f"node {node} is not in the slot map"
            self._continue(route, request, result, FirstAttempt(node, None, problem, started))
            return result

        def answered(reply: pb.KvReply | None, problem: str) -> None:
            if reply is not None and reply.status == pb.OK:
                _note_leader(route, request, node, self.events)
                if is_write:
                    route.outstanding.discard(request.sequence)
                if not result.done():
                    result.set_result(list(reply.replies))
                return
            self._continue(route, request, result, FirstAttempt(node, reply, problem, started))

        link.submit(request, answered, ATTEMPT_TIMEOUT_S)
        return result

    def _continue(
        self,
        route: ShardRoute,
        request: pb.KvRequest,
        result: asyncio.Future[list[bytes]],
        first: FirstAttempt,
    ) -> None:
        async def retry() -> None:
            try:
                reply = await self._retry(route, request, False, first)
            except asyncio.CancelledError:
                result.cancel()
                raise
            except Exception as error:
                if not result.done():
                    result.set_exception(error)
            else:
                if not result.done():
                    result.set_result(list(reply.replies))
            finally:
                if request.sequence:
                    route.outstanding.discard(request.sequence)

        task = asyncio.get_running_loop().create_task(retry())
        self.retries.add(task)
        task.add_done_callback(self.retries.discard)

    async def transaction(
        self, shard: int, commands: list[list[bytes]], resp3: bool, watches: list[Watch]
    ) -> bytes:
        request = pb.KvRequest(
            shard=shard,
            kind=pb.TRANSACTION,
            resp3=resp3,
            watches=[pb.Watch(key=w.key, digest=w.digest) for w in watches],
        )
        set_commands(request, commands)
        reply = await self._call(shard, request)
        return reply.replies[0]

    async def digests(self, shard: int, keys: list[bytes]) -> list[bytes]:
        request = pb.KvRequest(shard=shard, kind=pb.DIGESTS, read_only=True)
        set_commands(request, [keys])
        reply = await self._call(shard, request)
        return list(reply.replies)

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

    # ------------------------------------------------------------------ calls and retries

    async def _call(self, shard: int, request: pb.KvRequest, blocking: bool = False) -> pb.KvReply:
        route = self.shards.get(shard)
        if route is None:
            raise BackendError(b"CLUSTERDOWN The cluster is down: unknown shard %d" % shard)
        is_write = not request.read_only
        if is_write:
            self._sequence(route, request)
        try:
            return await self._retry(route, request, blocking)
        finally:
            if is_write:
                route.outstanding.discard(request.sequence)

    def _sequence(self, route: ShardRoute, request: pb.KvRequest) -> None:
        request.client_id = self.client_id
        request.sequence = route.next_sequence
        route.next_sequence += 1
        route.outstanding.add(request.sequence)
        request.acked = route.acked()

    async def _retry(
        self,
        route: ShardRoute,
        request: pb.KvRequest,
        blocking: bool,
        first: FirstAttempt | None = None,
    ) -> pb.KvReply:
        """Try the cached leader, follow not-leader hints, else go round the replicas;
        pause between tries so that an election in progress is waited out, not hammered.
        `first`: the outcome of a first attempt already made (by `_start`)."""
        started = first.started if first is not None else time.monotonic()
        block_timeout = _blocking_timeout(request.args) if blocking else None
        deadline = started + self.retry_budget + (block_timeout or 0)
        rotation = 0
        attempts = 0
        pause = RETRY_PAUSE_S
        last_problem = "no leader"
        timed_out: set[int] = set()  # nodes that did not answer this request in time
        while True:
            if first is not None:
                node, reply = first.node, first.reply
                if reply is None:
                    last_problem = first.problem
                first = None
                attempts = 1
            else:
                if request.sequence:
                    request.acked = route.acked()
                node = self._pick(route, request, rotation)
                if node in timed_out:
                    others = [replica for replica in route.replicas if replica not in timed_out]
                    if others:
                        node = others[rotation % len(others)]
                attempt_timeout: float | None = ATTEMPT_TIMEOUT_S
                if blocking:
                    remaining = None
                    if block_timeout:
                        remaining = max(0.001, block_timeout - (time.monotonic() - started))
                        if attempts:  # a retry blocks only for what is left of the timeout
                            _set_blocking_timeout(request.args, remaining)
                    attempt_timeout = None if remaining is None else remaining + ATTEMPT_TIMEOUT_S
                attempts += 1
                try:
                    reply = await self._attempt(node, request, attempt_timeout, attempts == 1)
                except AttemptFailed as problem:
                    last_problem = str(problem)
                    reply = None
            if reply is None and NO_ANSWER_IN_TIME in last_problem and request.read_only:
                timed_out.add(node)
                if len(timed_out) >= READ_TIMEOUT_NODES:
                    self.events.gave_up(route.id, f"{len(timed_out)} nodes did not answer a read")
                    raise BackendError(
                        b"CLUSTERDOWN The cluster is down: shard %d: %d nodes did not answer "
                        b"this read in time; not retried, as a read that slow would hold up "
                        b"every node it is sent to" % (route.id, len(timed_out))
                    )
            if reply is not None and reply.status == pb.OK:
                _note_leader(route, request, node, self.events)
                return reply
            if reply is not None and reply.status == pb.REJECTED:
                raise BackendError(reply.error.encode() or b"ERR request rejected")
            hint = 0
            if reply is not None:
                last_problem = f"node {node}: {pb.ReplyStatus.Name(reply.status)}"
                if reply.status == pb.NOT_LEADER and reply.leader_node != node:
                    hint = reply.leader_node
            log.debug("shard %d: node %d: %s (hint %d)", route.id, node, last_problem, hint)
            if hint in timed_out:
                self.events.gave_up(route.id, f"its leader, node {hint}, did not answer a read")
                raise BackendError(
                    b"CLUSTERDOWN The cluster is down: shard %d: its leader, node %d, did not "
                    b"answer this read in time; not sent to it again, as it may still be "
                    b"working on it" % (route.id, hint)
                )
            if hint:
                route.leader = hint
            else:
                if route.leader == node:
                    route.leader = 0
                rotation += 1
            if time.monotonic() > deadline:
                self.events.gave_up(route.id, f"no leader served it in time ({last_problem})")
                raise BackendError(
                    b"CLUSTERDOWN The cluster is down: shard %d has no leader that answers "
                    b"(%s)" % (route.id, last_problem.encode())
                )
            self.events.retry(route.id, last_problem, hint)
            # A fresh hint is followed at once, but never twice in a row without a pause:
            # two replicas may each name the other while an election settles.
            if not hint or attempts % 2 == 0:
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_PAUSE_MAX_S)

    def _pick(self, route: ShardRoute, request: pb.KvRequest, rotation: int) -> int:
        if request.consistency == pb.FOLLOWER:
            return route.replicas[
                (rotation + self.rng.randrange(len(route.replicas))) % len(route.replicas)
            ]
        if route.leader:
            return route.leader
        return route.replicas[rotation % len(route.replicas)]

    async def _attempt(
        self, node: int, request: pb.KvRequest, timeout: float | None, first: bool
    ) -> pb.KvReply:
        link = self.links.get(node)
        if link is None:
            raise AttemptFailed(f"node {node} is not in the slot map")
        attempt = request
        if not first:
            # An earlier attempt may still sit in a stream's queue: a retry is a new message.
            attempt = pb.KvRequest()
            attempt.CopyFrom(request)
        return await link.send(attempt, timeout)

    # ------------------------------------------------------------------ pub/sub

    async def publish(self, channel: bytes, message: bytes, sender: int) -> int:
        return await self.pubsub_streams.publish(channel, message, sender)

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


def _note_leader(route: ShardRoute, request: pb.KvRequest, node: int, events: ShardEvents) -> None:
    """An OK answer: for linearizable requests only a leader gives one."""
    if request.consistency == pb.LINEARIZABLE:
        route.leader = node
        events.confirm_leader(route.id, node)


def _cancelling(timer: asyncio.TimerHandle, answer: AnswerCallback) -> AnswerCallback:
    def answered(reply: pb.KvReply | None, problem: str) -> None:
        timer.cancel()
        answer(reply, problem)

    return answered


def _settle(future: asyncio.Future, reply: pb.KvReply | None, problem: str) -> None:
    if future.done():
        return
    if reply is None:
        future.set_exception(AttemptFailed(problem))
    else:
        future.set_result(reply)


def _retrieve(future: asyncio.Future) -> None:
    # A client that went away leaves its result unread: that is not an error to log.
    if not future.cancelled():
        future.exception()


async def _replies_of(call: Awaitable[pb.KvReply]) -> list[bytes]:
    return list((await call).replies)


def _names_flagged(flag: Flag) -> frozenset[str]:
    # Tested per command on the hot path: a set of names is much cheaper than Flag's `&`.
    specs = [
        *TABLE.values(),
        *(sub for spec in TABLE.values() for sub in spec.subcommands.values()),
    ]
    return frozenset(spec.name for spec in specs if spec.flags & flag)


_READ_ONLY_NAMES = _names_flagged(Flag.READONLY)
_BLOCKING_NAMES = _names_flagged(Flag.BLOCKING)


# Commands without subcommands under their usual spellings: one dict lookup per command.
_READ_ONLY_SPELLINGS: dict[bytes, bool] = {
    spelling: spec.name in _READ_ONLY_NAMES
    for spec in TABLE.values()
    if not spec.subcommands
    for spelling in (spec.name.encode(), spec.name.upper().encode())
}


def _is_read_only(args: list[bytes]) -> bool:
    known = _READ_ONLY_SPELLINGS.get(args[0])
    if known is not None:
        return known
    spec = resolve(args)
    return spec is not None and spec.name in _READ_ONLY_NAMES


def _is_blocking(args: list[bytes]) -> bool:
    spec = resolve(args)
    return spec is not None and spec.name in _BLOCKING_NAMES


def _timeout_index(args: Any) -> int:
    return 1 if bytes(args[0]).lower() in _TIMEOUT_FIRST else len(args) - 1


_PLAIN_NUMBER = re.compile(rb"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?\Z")


def _blocking_timeout(args: Any) -> float | None:
    """A blocking command's timeout in seconds; None for forever, and for anything but a
    plain number (the shard answers those with their error, which needs no retry)."""
    try:
        text = bytes(args[_timeout_index(args)])
    except IndexError:
        return None
    if not _PLAIN_NUMBER.match(text):
        return None
    value = float(text)
    return value if value > 0 else None


def _set_blocking_timeout(args: Any, seconds: float) -> None:
    args[_timeout_index(args)] = b"%.3f" % seconds
