"""The router's Kv stream to a node (router/node_link.py NodeLink) against a fake node
speaking the framing: requests sent before the connection is up go once it is, replies are
matched by id, a lost stream fails exactly the requests it carried (the router retries
them), a node that cannot be reached fails them at once, and one that does not answer in
time fails them when the time is up. Then the cluster backend's
first attempt (sent at once, answered by callback) and its hand-over to the retry loop:
a not-leader hint, a node that never answers, a rejected request."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping

import pytest

from node.listener import NodeListener
from proto import framing
from proto import slotraft_pb2 as pb
from proto.handshake import CHANNEL_KV, ROLE_ROUTER
from proto.relay import GrpcDialer
from router.node_link import AttemptFailed, NodeLink
from tests.support.auth import credentials, listen


class _Router:
    def credentials(self):
        return credentials(role=ROLE_ROUTER)

    def __call__(self):
        return self.credentials()


ROUTER = _Router()


DIALERS: list[GrpcDialer] = []


def dialer() -> GrpcDialer:
    made = GrpcDialer(ROUTER)
    DIALERS.append(made)
    return made


@pytest.fixture(autouse=True)
def _remove_dialer_sockets():
    yield
    while DIALERS:
        directory = DIALERS.pop().directory
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


class FakeNode:
    """Accepts Kv streams; records the requests and answers when told to."""

    def __init__(self) -> None:
        self.requests: list[pb.KvRequest] = []
        self.streams: list[framing.FrameProtocol] = []
        self.listener: NodeListener | None = None

    async def start(self, node_id: int = 1) -> str:
        # Kv streams only: a link that opened another channel would be closed.
        self.listener, address = await listen({CHANNEL_KV: self._accept}, node_id)
        return address

    def _accept(self) -> asyncio.Protocol:
        stream = framing.FrameProtocol(self._receive)
        self.streams.append(stream)
        return stream

    def _receive(self, frame: bytes) -> None:
        self.requests.extend(pb.KvBatch.FromString(frame).requests)

    def answer(self, request_id: int, text: bytes) -> None:
        batch = pb.KvReplyBatch(replies=[pb.KvReply(id=request_id, replies=[text])])
        self.streams[-1].send(batch.SerializeToString())

    async def close(self) -> None:
        assert self.listener is not None
        await self.listener.stop()
        for stream in self.streams:
            stream.abort()


async def until(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_requests_queued_while_connecting_are_sent_in_one_frame_and_answered_by_id():
    async def scenario() -> None:
        node = FakeNode()
        link = NodeLink(1, await node.start(), ROUTER, dialer())
        first = link.send(pb.KvRequest(shard=0))
        second = link.send(pb.KvRequest(shard=1))
        await until(lambda: len(node.requests) == 2)
        assert len(node.streams) == 1
        assert [r.shard for r in node.requests] == [0, 1]
        node.answer(node.requests[1].id, b"+two\r\n")  # out of order is fine
        node.answer(node.requests[0].id, b"+one\r\n")
        assert list((await asyncio.wait_for(first, 5)).replies) == [b"+one\r\n"]
        assert list((await asyncio.wait_for(second, 5)).replies) == [b"+two\r\n"]
        assert link.pending == {}
        await link.close()
        await node.close()

    asyncio.run(scenario())


def test_a_lost_stream_fails_what_it_carried_and_the_next_request_reconnects():
    async def scenario() -> None:
        node = FakeNode()
        link = NodeLink(1, await node.start(), ROUTER, dialer())
        waiting = link.send(pb.KvRequest(shard=0))
        await until(lambda: len(node.requests) == 1)
        node.streams[0].abort()  # the node goes away
        with pytest.raises(AttemptFailed):
            await asyncio.wait_for(waiting, 5)
        retry = link.send(pb.KvRequest(shard=0))
        await until(lambda: len(node.requests) == 2)
        assert len(node.streams) == 2  # a new connection
        node.answer(node.requests[1].id, b"+OK\r\n")
        assert (await asyncio.wait_for(retry, 5)).replies == [b"+OK\r\n"]
        await link.close()
        await node.close()

    asyncio.run(scenario())


def test_a_node_that_cannot_be_reached_fails_the_requests_at_once():
    async def scenario() -> None:
        probe = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        link = NodeLink(1, f"127.0.0.1:{port}", ROUTER, dialer())
        with pytest.raises(AttemptFailed):
            await asyncio.wait_for(link.send(pb.KvRequest(shard=0)), 5)
        assert link.pending == {} and link.outgoing == []
        await link.close()

    asyncio.run(scenario())


def test_a_request_not_answered_in_time_fails_and_its_late_answer_is_dropped():
    async def scenario() -> None:
        node = FakeNode()
        link = NodeLink(1, await node.start(), ROUTER, dialer())
        answers: list = []
        link.submit(pb.KvRequest(shard=0), lambda reply, problem: answers.append(problem), 0.2)
        await until(lambda: len(node.requests) == 1)
        await until(lambda: answers)
        assert answers == ["node 1 did not answer in 0.2s"]
        assert link.pending == {}
        node.answer(node.requests[0].id, b"+late\r\n")  # arrives after the router gave up
        await asyncio.sleep(0.1)
        assert len(answers) == 1  # nobody hears it
        await link.close()
        await node.close()

    asyncio.run(scenario())


class AnsweringNode(FakeNode):
    """A fake node that answers every request at once with `respond(request)`."""

    def __init__(self, respond) -> None:
        super().__init__()
        self.respond = respond

    def _receive(self, frame: bytes) -> None:
        requests = pb.KvBatch.FromString(frame).requests
        self.requests.extend(requests)
        replies = [self.respond(request) for request in requests]
        batch = pb.KvReplyBatch(replies=[r for r in replies if r is not None])
        if batch.replies:
            self.streams[-1].send(batch.SerializeToString())


def ok(request: pb.KvRequest) -> pb.KvReply:
    return pb.KvReply(id=request.id, replies=[b"+OK\r\n"] * len(request.arg_counts))


async def backend_with(nodes: Mapping[int, FakeNode], leader: int):
    from router.cluster_backend import ClusterBackend
    from router.retry import ShardRoute

    backend = ClusterBackend(["unused:1"], ROUTER.credentials())
    for node_id, node in nodes.items():
        backend.links[node_id] = NodeLink(
            node_id, await node.start(node_id), ROUTER, backend.dialer
        )
    backend.shards[0] = ShardRoute(0, sorted(nodes), leader=leader)
    return backend


def test_a_write_is_answered_by_the_first_attempt_and_its_sequence_is_released():
    async def scenario() -> None:
        node = AnsweringNode(ok)
        backend = await backend_with({1: node}, leader=1)
        call = backend.execute(0, [[b"SET", b"a", b"1"], [b"SET", b"b", b"2"]], False)
        assert not isinstance(call, asyncio.Task)  # the request leaves by itself; no task
        assert await asyncio.wait_for(call, 5) == [b"+OK\r\n", b"+OK\r\n"]
        (request,) = node.requests
        assert request.sequence == 1 and request.client_id == backend.client_id
        assert backend.shards[0].outstanding == set()
        assert backend.caller.retries == set()
        await backend.close()
        await node.close()

    asyncio.run(scenario())


def test_a_not_leader_first_answer_is_retried_at_the_hinted_leader_with_the_same_sequence():
    async def scenario() -> None:
        follower = AnsweringNode(lambda r: pb.KvReply(id=r.id, status=pb.NOT_LEADER, leader_node=2))
        leader = AnsweringNode(ok)
        backend = await backend_with({1: follower, 2: leader}, leader=1)
        replies = await asyncio.wait_for(backend.execute(0, [[b"INCR", b"n"]], False), 5)
        assert replies == [b"+OK\r\n"]
        assert [r.sequence for r in follower.requests] == [1]
        assert [r.sequence for r in leader.requests] == [1]  # exactly-once: same sequence
        assert backend.shards[0].leader == 2
        assert backend.shards[0].outstanding == set()
        await backend.close()
        for node in (follower, leader):
            await node.close()

    asyncio.run(scenario())


def test_a_first_attempt_that_is_never_answered_times_out_and_is_retried(monkeypatch):
    from router import retry

    monkeypatch.setattr(retry, "ATTEMPT_TIMEOUT_S", 0.2)

    async def scenario() -> None:
        silent = AnsweringNode(lambda r: None)
        leader = AnsweringNode(ok)
        backend = await backend_with({1: silent, 2: leader}, leader=1)
        replies = await asyncio.wait_for(backend.execute(0, [[b"GET", b"k"]], False), 5)
        assert replies == [b"+OK\r\n"]
        assert len(silent.requests) == 1 and len(leader.requests) == 1
        await backend.close()
        for node in (silent, leader):
            await node.close()

    asyncio.run(scenario())


def test_a_rejected_request_fails_with_the_nodes_error():
    async def scenario() -> None:
        from router.backend import BackendError

        node = AnsweringNode(
            lambda r: pb.KvReply(id=r.id, status=pb.REJECTED, error="ERR refused here")
        )
        backend = await backend_with({1: node}, leader=1)
        with pytest.raises(BackendError, match="refused here"):
            await asyncio.wait_for(backend.execute(0, [[b"SET", b"k", b"v"]], False), 5)
        assert backend.shards[0].outstanding == set()
        await backend.close()
        await node.close()

    asyncio.run(scenario())
