"""The router's link to one node: a framed Kv stream (proto/framing.py) for requests, and
a gRPC channel for Admin calls and pub/sub.

Requests of one event-loop turn leave in one frame; replies are matched to them by id. A
link knows nothing of shards or leaders: one request, one node, one answer or a failure
(router/retry.py decides what to do next).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable

import grpc

from proto import framing
from proto import slotraft_pb2 as pb
from proto import slotraft_pb2_grpc as pb_grpc
from proto.credentials import Credentials
from proto.handshake import CHANNEL_KV, HandshakeError
from proto.relay import GrpcDialer
from proto.running_loop import running_loop

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
CONNECT_TIMEOUT_S = 3.0  # opening the stream, handshake included

AnswerCallback = Callable[["pb.KvReply | None", str], None]
NO_ANSWER_IN_TIME = "did not answer"  # how a timed-out attempt's problem reads
CredentialSource = Callable[[], Credentials]


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
                CONNECT_TIMEOUT_S,
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
