"""Getting one request answered by a shard: which node to ask, when to try again, and
when to give up.

Each shard's leader is cached (ShardRoute), corrected by not-leader replies, and found
again by trying the shard's replicas. Every write carries this router's client id and a
per-shard sequence number; a request that timed out or met a leader change is retried
with the same (client id, sequence), so the shard applies it at most once. When no leader
answers for a while, the caller gets a -CLUSTERDOWN BackendError, never a guess.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from proto import slotraft_pb2 as pb
from proto.commands import timeout_in_milliseconds, timeout_index
from proto.running_loop import running_loop
from router.backend import BackendError
from router.metrics import ShardEvents
from router.node_link import NO_ANSWER_IN_TIME, AttemptFailed, NodeLink

log = logging.getLogger("slotraft.router.cluster")

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


class FirstAttempt(NamedTuple):
    """How the first try of a request (made by `start`) went, for the retry loop."""

    node: int
    reply: pb.KvReply | None  # None: no answer, `problem` says why
    problem: str
    started: float  # time.monotonic() when it was sent


@dataclass(slots=True)
class ShardRoute:
    """A shard as this router knows it: its replicas, the leader last seen, and its write
    sequence numbers (those not yet answered are `outstanding`)."""

    id: int
    replicas: list[int]
    leader: int = 0
    next_sequence: int = 1
    outstanding: set[int] = field(default_factory=set)

    def acked(self) -> int:
        return min(self.outstanding) if self.outstanding else self.next_sequence


class ShardCaller:
    """Sends requests to the shards' leaders over `links` (kept up to date by the cluster
    backend) and retries them; `retries` holds the retry loops under way."""

    def __init__(
        self,
        links: Mapping[int, NodeLink],
        client_id: int,
        retry_budget: float = RETRY_BUDGET_S,
        events: ShardEvents | None = None,
    ) -> None:
        self.links = links
        self.client_id = client_id
        self.retry_budget = retry_budget
        # Leader changes, retries, give-ups: logged and counted (router/metrics.py).
        self.events = events if events is not None else ShardEvents()
        self.rng = random.Random()
        self.retries: set[asyncio.Task] = set()  # retry loops of first attempts that failed

    loop = running_loop

    def close(self) -> None:
        for task in list(self.retries):
            task.cancel()

    def start(self, route: ShardRoute, request: pb.KvRequest) -> asyncio.Future[pb.KvReply]:
        """The first attempt, with callbacks instead of a coroutine; anything but an OK
        reply hands over to the retry loop (`_retry`) in a task. The future gives the OK
        reply."""
        result: asyncio.Future[pb.KvReply] = self.loop.create_future()
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
                    result.set_result(reply)
                return
            self._continue(route, request, result, FirstAttempt(node, reply, problem, started))

        link.submit(request, answered, ATTEMPT_TIMEOUT_S)
        return result

    def _continue(
        self,
        route: ShardRoute,
        request: pb.KvRequest,
        result: asyncio.Future[pb.KvReply],
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
                    result.set_result(reply)
            finally:
                if request.sequence:
                    route.outstanding.discard(request.sequence)

        task = asyncio.get_running_loop().create_task(retry())
        self.retries.add(task)
        task.add_done_callback(self.retries.discard)

    async def call(
        self, route: ShardRoute, request: pb.KvRequest, blocking: bool = False
    ) -> pb.KvReply:
        """The shard's answer to `request`, retried until `retry_budget` runs out (and a
        blocking command's own timeout); raises BackendError."""
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
                    remaining: float | None = None
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


def _note_leader(route: ShardRoute, request: pb.KvRequest, node: int, events: ShardEvents) -> None:
    """An OK answer: for linearizable requests only a leader gives one."""
    if request.consistency == pb.LINEARIZABLE:
        route.leader = node
        events.confirm_leader(route.id, node)


def _retrieve(future: asyncio.Future) -> None:
    # A client that went away leaves its result unread: that is not an error to log.
    if not future.cancelled():
        future.exception()


_PLAIN_NUMBER = re.compile(rb"[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?\Z")


def _blocking_timeout(args: Any) -> float | None:
    """A blocking command's timeout in seconds; None for forever, and for anything but a
    plain number (the shard answers those with their error, which needs no retry)."""
    try:
        text = bytes(args[timeout_index(args)])
    except IndexError:
        return None
    if not _PLAIN_NUMBER.match(text):
        return None
    value = float(text)
    if timeout_in_milliseconds(args):
        value /= 1000
    return value if value > 0 else None


def _set_blocking_timeout(args: Any, seconds: float) -> None:
    if timeout_in_milliseconds(args):
        args[timeout_index(args)] = b"%d" % max(1, round(seconds * 1000))
    else:
        args[timeout_index(args)] = b"%.3f" % seconds
