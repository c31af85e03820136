"""The router merges the commands of one event-loop turn into one request per shard
(router/coalescing.py): each caller gets exactly its own replies in its own order,
requests that must not mix (another shard, RESP3, reads and writes, follower reads) stay
apart, a failure reaches every part, the size bounds split a turn's requests, and through
the cluster backend the merged request carries one sequence number."""

from __future__ import annotations

import asyncio

import pytest

from proto import slotraft_pb2 as pb
from proto.kv_commands import commands_of
from router import coalescing
from router.coalescing import MergeKey, RequestCoalescer
from tests.router.test_node_link import AnsweringNode, backend_with

WRITES = MergeKey(shard=0, resp3=False, read_only=False, consistency=pb.LINEARIZABLE)


class Recorder:
    """A start function that records requests and answers each command with its own text."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.requests: list[tuple[MergeKey, pb.KvRequest]] = []
        self.fail = fail

    def __call__(self, key: MergeKey, request: pb.KvRequest) -> asyncio.Future[pb.KvReply]:
        self.requests.append((key, request))
        future: asyncio.Future[pb.KvReply] = asyncio.get_running_loop().create_future()
        if self.fail is not None:
            future.set_exception(self.fail)
        else:
            replies = [b" ".join(args) for args in commands_of(request)]
            # The n-th request is applied by the entry at 100 + n (reads by none).
            index = 0 if key.read_only else 100 + len(self.requests)
            future.set_result(pb.KvReply(replies=replies, log_index=index))
        return future


def test_commands_of_one_turn_travel_in_one_request_and_each_caller_gets_its_replies():
    async def scenario() -> None:
        start = Recorder()
        turns: list[int] = []
        coalescer = RequestCoalescer(start, sent=lambda: turns.append(len(start.requests)))
        first = coalescer.add(WRITES, [[b"SET", b"a", b"1"], [b"INCR", b"n"]])
        second = coalescer.add(WRITES, [[b"DEL", b"b"]])
        third = coalescer.add(WRITES, [[b"SET", b"c", b"3"], [b"GET", b"c"]])
        assert start.requests == []  # nothing leaves before the end of the turn
        assert await first == [b"SET a 1", b"INCR n"]
        assert await second == [b"DEL b"]
        assert await third == [b"SET c 3", b"GET c"]
        ((key, request),) = start.requests
        assert key == WRITES and request.shard == 0 and request.kind == pb.COMMANDS
        assert list(request.arg_counts) == [3, 2, 2, 3, 2]
        assert turns == [1]  # told once, after the turn's request was started

    asyncio.run(scenario())


def test_requests_that_must_not_mix_stay_apart():
    async def scenario() -> None:
        start = Recorder()
        coalescer = RequestCoalescer(start)
        keys = [
            WRITES,
            WRITES._replace(shard=1),
            WRITES._replace(resp3=True),
            WRITES._replace(read_only=True),
            WRITES._replace(read_only=True, consistency=pb.FOLLOWER),
            WRITES._replace(writer=7),  # a NOLOOP tracking client's writes
        ]
        futures = [coalescer.add(key, [[b"GET", b"k%d" % i]]) for i, key in enumerate(keys)]
        assert [await future for future in futures] == [[b"GET k%d" % i] for i in range(6)]
        assert sorted(key for key, _ in start.requests) == sorted(keys)
        for key, request in start.requests:
            assert key == MergeKey(
                request.shard, request.resp3, request.read_only, request.consistency, request.writer
            )

    asyncio.run(scenario())


def test_a_failure_reaches_every_part_and_a_gone_caller_does_not_disturb_the_others():
    async def scenario() -> None:
        coalescer = RequestCoalescer(Recorder(fail=RuntimeError("shard down")))
        gone = coalescer.add(WRITES, [[b"SET", b"a", b"1"]])
        staying = coalescer.add(WRITES, [[b"SET", b"b", b"2"]])
        gone.cancel()
        with pytest.raises(RuntimeError, match="shard down"):
            await staying

    asyncio.run(scenario())


def test_the_bounds_split_a_turns_commands(monkeypatch):
    monkeypatch.setattr(coalescing, "MAX_MERGED_COMMANDS", 3)
    monkeypatch.setattr(coalescing, "MAX_MERGED_BYTES", 100)

    async def scenario() -> None:
        start = Recorder()
        coalescer = RequestCoalescer(start)
        futures = [coalescer.add(WRITES, [[b"INCR", b"n%d" % i]]) for i in range(7)]
        big = coalescer.add(WRITES, [[b"SET", b"big", b"x" * 500]])
        results = [await future for future in futures]
        assert results == [[b"INCR n%d" % i] for i in range(7)]
        assert (await big)[0].startswith(b"SET big x")
        sizes = [len(request.arg_counts) for _, request in start.requests]
        # 3 + 3 at the command bound; the last INCR leaves without the big one, which would
        # take it past the byte bound, and the big one travels alone.
        assert sizes == [3, 3, 1, 1]

    asyncio.run(scenario())


def test_through_the_backend_a_merged_request_has_one_sequence_and_answers_each_caller():
    def numbered(request: pb.KvRequest) -> pb.KvReply:
        count = len(request.arg_counts)
        return pb.KvReply(id=request.id, replies=[b":%d\r\n" % i for i in range(count)])

    async def scenario() -> None:
        node = AnsweringNode(numbered)
        backend = await backend_with({1: node}, leader=1)
        one = backend.execute(0, [[b"INCR", b"a"], [b"INCR", b"b"]], False)
        two = backend.execute(0, [[b"INCR", b"c"]], False)
        assert await asyncio.wait_for(one, 5) == [b":0\r\n", b":1\r\n"]
        assert await asyncio.wait_for(two, 5) == [b":2\r\n"]
        (request,) = node.requests
        assert request.sequence == 1 and list(request.arg_counts) == [2, 2, 2]
        assert backend.shards[0].outstanding == set()
        await backend.close()
        await node.close()

    asyncio.run(scenario())


def test_one_callers_batch_past_the_bounds_is_cut_into_requests_within_them():
    """A pipeline is not atomic: a client's long batch of large commands travels as several
    requests (each a log entry of bounded size), and the caller gets every reply in order."""

    async def scenario() -> None:
        start = Recorder()
        coalescer = RequestCoalescer(start)
        value = b"x" * (coalescing.MAX_MERGED_BYTES // 3)
        commands = [[b"SET", b"k%d" % i, value] for i in range(7)]
        replies = await coalescer.add(WRITES, commands)
        assert replies == [b" ".join(args) for args in commands]
        sizes = [sum(len(arg) for arg in request.args) for _, request in start.requests]
        assert len(start.requests) == 4 and max(sizes) <= coalescing.MAX_MERGED_BYTES
        huge = [[b"SET", b"big", b"y" * (coalescing.MAX_MERGED_BYTES + 1)]]
        assert await coalescer.add(WRITES, huge) == [b" ".join(huge[0])]  # alone, whole
        failing = RequestCoalescer(Recorder(fail=RuntimeError("node gone")))
        with pytest.raises(RuntimeError, match="node gone"):
            await failing.add(WRITES, commands)

    asyncio.run(scenario())


def test_each_caller_learns_the_log_index_of_the_entry_that_applied_its_writes():
    """WAIT's marks: a merged request's one log index goes to every connection in it, per
    shard and only upwards; reads leave the marks alone."""

    async def scenario() -> None:
        start = Recorder()
        coalescer = RequestCoalescer(start)
        first: dict[int, int] = {}
        second: dict[int, int] = {3: 500}
        reader: dict[int, int] = {}
        one = coalescer.add(WRITES, [[b"SET", b"a", b"1"]], first)
        two = coalescer.add(WRITES, [[b"SET", b"b", b"2"]], second)
        three = coalescer.add(WRITES._replace(shard=1), [[b"INCR", b"n"]], first)
        read = coalescer.add(WRITES._replace(read_only=True), [[b"GET", b"a"]], reader)
        await asyncio.gather(one, two, three, read)
        assert first == {0: 101, 1: 102}
        assert second == {3: 500, 0: 101}
        assert reader == {}
        later = coalescer.add(WRITES, [[b"SET", b"a", b"2"]], first)
        await later
        assert first[0] == 104

    asyncio.run(scenario())


def test_through_the_backend_writes_note_the_index_the_node_gives():
    def applied_at_42(request: pb.KvRequest) -> pb.KvReply:
        count = len(request.arg_counts)
        index = 0 if request.read_only else 42
        return pb.KvReply(id=request.id, replies=[b"+OK\r\n"] * count, log_index=index)

    async def scenario() -> None:
        node = AnsweringNode(applied_at_42)
        backend = await backend_with({1: node}, leader=1)
        marks: dict[int, int] = {}
        await asyncio.wait_for(backend.execute(0, [[b"SET", b"a", b"1"]], False, False, marks), 5)
        assert marks == {0: 42}
        marks.clear()
        await asyncio.wait_for(backend.execute(0, [[b"GET", b"a"]], False, False, marks), 5)
        assert marks == {}
        await asyncio.wait_for(backend.transaction(0, [[b"INCR", b"n"]], False, [], marks), 5)
        assert marks == {0: 42}
        await backend.close()
        await node.close()

    asyncio.run(scenario())
