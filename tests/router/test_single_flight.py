"""router/single_flight.py: identical concurrent reads merged, never across a write of
their key, a consistency mode or a protocol version; merge counts."""

from __future__ import annotations

import asyncio

import pytest

from proto import slotraft_pb2 as pb
from router.single_flight import SingleFlight

LEADER = pb.LINEARIZABLE


class FakeShard:
    """The backend: every send is one request whose reply the test releases."""

    def __init__(self) -> None:
        self.sent: list[list[list[bytes]]] = []
        self.pending: list[asyncio.Future[list[bytes]]] = []

    def sender(self, commands: list[list[bytes]]):
        def send() -> asyncio.Future[list[bytes]]:
            self.sent.append(commands)
            future = asyncio.get_running_loop().create_future()
            self.pending.append(future)
            return future

        return send

    def answer(self, index: int, replies: list[bytes]) -> None:
        self.pending[index].set_result(replies)


def run(coroutine):
    return asyncio.run(coroutine)


def read(flight: SingleFlight, shard: FakeShard, *args: bytes, resp3=False, mode=LEADER):
    commands = [list(args)]
    return flight.execute(0, commands, resp3, True, mode, shard.sender(commands))


def write(flight: SingleFlight, shard: FakeShard, *commands: list[bytes]):
    return flight.execute(0, list(commands), False, False, LEADER, shard.sender(list(commands)))


def test_identical_reads_make_one_backend_read_and_all_get_the_reply():
    async def scenario():
        flight, shard = SingleFlight(), FakeShard()
        callers = [read(flight, shard, b"GET", b"hot") for _ in range(100)]
        other = read(flight, shard, b"GET", b"cold")
        assert len(shard.sent) == 2
        shard.answer(0, [b"$1\r\nv\r\n"])
        shard.answer(1, [b"$-1\r\n"])
        assert await asyncio.gather(*callers) == [[b"$1\r\nv\r\n"]] * 100
        assert await other == [b"$-1\r\n"]
        stats = flight.stats
        assert (stats.reads, stats.sent, stats.merged) == (101, 2, 99)
        # Landed: the next read goes to the backend again.
        later = read(flight, shard, b"GET", b"hot")
        assert len(shard.sent) == 3
        shard.answer(2, [b"$1\r\nw\r\n"])
        assert await later == [b"$1\r\nw\r\n"]

    run(scenario())


def test_no_merge_across_a_write_of_the_key():
    async def scenario():
        flight, shard = SingleFlight(), FakeShard()
        before = read(flight, shard, b"GET", b"k")  # request 0
        stored = write(flight, shard, [b"SET", b"k", b"new"])  # request 1
        # While the write is pending, reads of k go alone ...
        during = read(flight, shard, b"GET", b"k")  # request 2
        assert len(shard.sent) == 3
        shard.answer(1, [b"+OK\r\n"])
        await stored
        # ... and after it was acknowledged, a read must not join one sent before it.
        after = read(flight, shard, b"GET", b"k")  # request 3
        assert len(shard.sent) == 4
        joined = read(flight, shard, b"GET", b"k")  # joins request 3, which left after
        assert len(shard.sent) == 4
        for index, value in ((0, b"old"), (2, b"new"), (3, b"new")):
            shard.answer(index, [value])
        assert await before == [b"old"]
        assert await during == [b"new"]
        assert await after == [b"new"] and await joined == [b"new"]
        assert flight.stats.not_merged_after_write == 1
        assert flight.stats.merged == 1

    run(scenario())


def test_a_write_of_another_key_does_not_stop_merging():
    async def scenario():
        flight, shard = SingleFlight(), FakeShard()
        first = read(flight, shard, b"GET", b"k")
        write(flight, shard, [b"SET", b"other", b"1"])
        second = read(flight, shard, b"GET", b"k")
        assert len(shard.sent) == 2  # the read and the write
        shard.answer(0, [b"v"])
        assert await first == await second == [b"v"]

    run(scenario())


@pytest.mark.parametrize(
    "unknown_keys", [[b"FLUSHALL"], [b"EVAL", b"return 1", b"0"], [b"NOSUCHCOMMAND"]]
)
def test_a_write_of_unknown_keys_closes_the_whole_shard(unknown_keys):
    async def scenario():
        flight, shard = SingleFlight(), FakeShard()
        read(flight, shard, b"GET", b"k")
        write(flight, shard, unknown_keys)
        read(flight, shard, b"GET", b"k")
        assert len(shard.sent) == 3

    run(scenario())


def test_no_merge_across_consistency_modes_protocols_or_arguments():
    async def scenario():
        flight, shard = SingleFlight(), FakeShard()
        read(flight, shard, b"GET", b"k")
        read(flight, shard, b"GET", b"k", mode=pb.FOLLOWER)
        read(flight, shard, b"GET", b"k", resp3=True)
        read(flight, shard, b"STRLEN", b"k")
        read(flight, shard, b"HGET", b"k", b"f")
        read(flight, shard, b"HGET", b"k", b"g")
        assert len(shard.sent) == 6 and flight.stats.merged == 0

    run(scenario())


def test_what_is_never_merged():
    async def scenario():
        flight, shard = SingleFlight(), FakeShard()
        for _ in range(2):
            read(flight, shard, b"SRANDMEMBER", b"s")  # a random reply
            read(flight, shard, b"DBSIZE")  # keyless
            commands = [[b"GET", b"a"], [b"GET", b"b"]]  # a connection's batch
            flight.execute(0, commands, False, True, LEADER, shard.sender(commands))
        assert len(shard.sent) == 6 and flight.stats.merged == 0

    run(scenario())


def test_a_caller_going_away_does_not_cancel_the_others():
    async def scenario():
        flight, shard = SingleFlight(), FakeShard()
        first = read(flight, shard, b"GET", b"k")
        second = read(flight, shard, b"GET", b"k")
        first.cancel()
        shard.answer(0, [b"v"])
        assert await second == [b"v"]

    run(scenario())


def test_a_failure_reaches_every_caller():
    async def scenario():
        flight, shard = SingleFlight(), FakeShard()
        callers = [read(flight, shard, b"GET", b"k") for _ in range(3)]
        shard.pending[0].set_exception(RuntimeError("shard down"))
        results = await asyncio.gather(*callers, return_exceptions=True)
        assert all(isinstance(result, RuntimeError) for result in results)

    run(scenario())
