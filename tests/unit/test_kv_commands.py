"""The flat command lists of a KvRequest (proto/kv_commands.py), and what a node's Kv stream
(node/kv_stream.py) answers to requests it cannot serve."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from node.kv_stream import KvConnection
from proto import slotraft_pb2 as pb
from proto.kv_commands import commands_of, set_commands, well_formed


def test_commands_survive_the_flat_encoding():
    commands = [[b"SET", b"k", b""], [b"PING"], [b"MSET", b"a", b"1", b"b", b"2"]]
    request = pb.KvRequest()
    set_commands(request, commands)
    wire = pb.KvRequest.FromString(request.SerializeToString())
    assert well_formed(wire)
    assert commands_of(wire) == commands
    single = pb.KvRequest()
    set_commands(single, [[b"GET", b"x"]])
    assert commands_of(single) == [[b"GET", b"x"]]


def test_counts_that_do_not_cover_the_arguments_are_malformed():
    assert not well_formed(pb.KvRequest(args=[b"GET", b"k"], arg_counts=[1]))
    assert not well_formed(pb.KvRequest(args=[b"GET"], arg_counts=[2]))
    assert not well_formed(pb.KvRequest(args=[b"GET"], arg_counts=[0, 1]))  # a nameless one
    assert well_formed(pb.KvRequest())  # no commands at all (e.g. DIGESTS of no keys)


def test_the_node_answers_unknown_shards_and_malformed_requests_and_keeps_the_stream():
    async def scenario() -> None:
        woken = []
        host = SimpleNamespace(shards={}, wake=lambda: woken.append(1))
        replica = SimpleNamespace(submit=lambda request: None)
        host.shards[1] = replica
        connection = KvConnection(host)  # type: ignore[arg-type]
        sent: list[bytes] = []
        connection.stream.send = sent.append  # type: ignore[method-assign, assignment]
        batch = pb.KvBatch(
            requests=[
                pb.KvRequest(id=1, shard=9, args=[b"GET", b"k"], arg_counts=[2]),
                pb.KvRequest(id=2, shard=1, args=[b"GET", b"k"], arg_counts=[5]),
            ]
        )
        connection._receive(batch.SerializeToString())
        await asyncio.sleep(0)  # replies of one loop turn go in one frame
        (frame,) = sent
        replies = pb.KvReplyBatch.FromString(frame).replies
        assert [(r.id, r.status) for r in replies] == [(1, pb.UNKNOWN_SHARD), (2, pb.REJECTED)]
        assert "malformed" in replies[1].error
        assert woken

    asyncio.run(scenario())
