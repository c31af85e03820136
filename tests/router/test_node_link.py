"""The router's stream to a node: when a call fails, gRPC may still pull from that call's
request iterator; the retired iterator must take nothing, or a request would be lost and
its client would wait for the attempt timeout (seen as 3 s failovers)."""

from __future__ import annotations

import asyncio

import pytest

from proto import slotraft_pb2 as pb
from router.cluster_backend import NodeLink


async def _link() -> NodeLink:
    link = NodeLink(1, "127.0.0.1:1")
    link.call_number = 1
    return link


def test_a_retired_iterator_takes_no_queued_request():
    async def scenario() -> None:
        link = await _link()
        retired = link._batches(1)
        link.call_number = 2  # its call failed; the next call will send what is queued
        link.outgoing.append(pb.KvRequest(id=7))
        with pytest.raises(StopAsyncIteration):
            await retired.__anext__()
        assert [r.id for r in link.outgoing] == [7]
        await link.channel.close()

    asyncio.run(scenario())


def test_a_waiting_retired_iterator_ends_when_woken_and_the_current_one_sends():
    async def scenario() -> None:
        link = await _link()
        retired = link._batches(1)
        waiting = asyncio.ensure_future(retired.__anext__())
        await asyncio.sleep(0)  # it waits for requests
        link.call_number = 2
        current = link._batches(2)
        link.outgoing.append(pb.KvRequest(id=9))
        link.wakeup.set()
        with pytest.raises(StopAsyncIteration):
            await waiting
        batch = await asyncio.wait_for(current.__anext__(), 1)
        assert [r.id for r in batch.requests] == [9]
        await link.channel.close()

    asyncio.run(scenario())
