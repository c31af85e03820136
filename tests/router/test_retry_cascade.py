"""A read that no node answers in time is not re-sent to every node in turn: it may be the
read itself that holds each node's event loop, stops its heartbeats and gets the next node
elected, which would then get the same read (the security review saw one slow read re-sent
until the 15 s budget ran out, stalling a new leader each time). After READ_TIMEOUT_NODES
nodes timed out it fails; a write is still retried (it must complete, and its retry is
deduplicated by its sequence number, not executed again)."""

from __future__ import annotations

import asyncio

import pytest

from router import retry
from router.backend import BackendError
from tests.router.test_node_link import AnsweringNode, backend_with, ok


@pytest.fixture(autouse=True)
def short_attempts(monkeypatch):
    monkeypatch.setattr(retry, "ATTEMPT_TIMEOUT_S", 0.2)


def test_a_read_that_times_out_on_two_nodes_is_not_sent_to_a_third():
    async def scenario() -> None:
        nodes = {node_id: AnsweringNode(lambda r: None) for node_id in (1, 2, 3)}
        backend = await backend_with(nodes, leader=1)
        backend.caller.retry_budget = 3.0
        with pytest.raises(BackendError, match="did not answer this read in time"):
            await asyncio.wait_for(backend.execute(0, [[b"ZRANDMEMBER", b"z", b"-5"]], False), 10)
        assert sum(len(node.requests) for node in nodes.values()) == 2
        assert {node_id for node_id, node in nodes.items() if node.requests} == {1, 2}
        await backend.close()
        for node in nodes.values():
            await node.close()

    asyncio.run(scenario())


def test_a_read_that_times_out_once_is_still_answered_by_the_next_leader():
    async def scenario() -> None:
        silent, leader = AnsweringNode(lambda r: None), AnsweringNode(ok)
        backend = await backend_with({1: silent, 2: leader}, leader=1)
        replies = await asyncio.wait_for(backend.execute(0, [[b"GET", b"k"]], False), 10)
        assert replies == [b"+OK\r\n"]
        await backend.close()
        for node in (silent, leader):
            await node.close()

    asyncio.run(scenario())


def test_a_write_is_still_retried_after_timeouts_until_the_budget():
    async def scenario() -> None:
        nodes = {node_id: AnsweringNode(lambda r: None) for node_id in (1, 2, 3)}
        backend = await backend_with(nodes, leader=1)
        backend.caller.retry_budget = 1.0
        with pytest.raises(BackendError, match="CLUSTERDOWN"):
            await asyncio.wait_for(backend.execute(0, [[b"SET", b"k", b"v"]], False), 10)
        assert sum(len(node.requests) for node in nodes.values()) > 2
        await backend.close()
        for node in nodes.values():
            await node.close()

    asyncio.run(scenario())


def test_a_read_is_not_sent_again_to_the_node_that_did_not_answer_it_in_time():
    """The leader is slow, not gone: the followers keep naming it. The read is not piled
    onto it again: the client gets an error at once, not when the budget runs out."""

    async def scenario() -> None:
        from proto import slotraft_pb2 as pb

        def not_leader(request: pb.KvRequest) -> pb.KvReply:
            return pb.KvReply(id=request.id, status=pb.NOT_LEADER, leader_node=1)

        slow = AnsweringNode(lambda r: None)
        followers = {2: AnsweringNode(not_leader), 3: AnsweringNode(not_leader)}
        backend = await backend_with({1: slow, **followers}, leader=1)
        with pytest.raises(BackendError, match="its leader, node 1, did not answer this read"):
            await asyncio.wait_for(backend.execute(0, [[b"LRANGE", b"l", b"0", b"-1"]], False), 5)
        assert len(slow.requests) == 1
        assert sum(len(node.requests) for node in followers.values()) == 1
        await backend.close()
        for node in (slow, *followers.values()):
            await node.close()

    asyncio.run(scenario())
