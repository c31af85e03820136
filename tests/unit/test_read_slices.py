"""Reads are served in slices of the event loop: once they have taken READ_SLICE_S of a
loop turn, the rest wait for a later turn, so that the ticks, heartbeats and Raft messages
that came meanwhile run in between. A request of many commands may pause between two of
its commands. Every read still gets the reply it would have had, in order. The clock is
the test's (each look at it advances it), so nothing here depends on the machine's speed."""

from __future__ import annotations

import asyncio

from node import replica as replica_module
from node.replica import ShardReplica
from node.shard_state import ShardState
from proto import resp
from proto import slotraft_pb2 as pb
from proto.kv_commands import set_commands
from proto.topology import ShardPlacement
from tests.raft.harness import Cluster

NOW = 1_700_000_000_000


class SteppingClock:
    """Each reading advances the time by `step` seconds."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step
        self.readings = 0

    def __call__(self) -> float:
        self.now += self.step
        self.readings += 1
        return self.now


def leader_replica(clock: SteppingClock) -> ShardReplica:
    cluster = Cluster()
    cluster.elect(1)
    replica = ShardReplica(
        1, ShardPlacement(0, ((0, 16383),), (1, 2, 3)), cluster.nodes[1], ShardState(), 0
    )
    replica.clock = clock
    engine = replica.state.engine
    for n in range(50):
        engine.execute([b"SET", b"k%d" % n, b"v%d" % n], NOW, replica.rng)
    return replica


def read_request(ident: int, commands: list[list[bytes]], follower: bool) -> pb.KvRequest:
    request = pb.KvRequest(
        id=ident,
        kind=pb.COMMANDS,
        read_only=True,
        consistency=pb.FOLLOWER if follower else pb.LINEARIZABLE,
    )
    set_commands(request, commands)
    return request


def expected(commands: list[list[bytes]]) -> list[bytes]:
    return [resp.encode(b"v" + args[1][1:]) for args in commands]


def test_reads_past_the_slice_wait_for_later_turns_and_all_are_answered_in_order():
    # Each command looks at the clock about once: 1 ms a look, 5 ms a slice.
    clock = SteppingClock(0.001)
    replica = leader_replica(clock)
    requests = [
        read_request(n, [[b"GET", b"k%d" % (n * 3 + i)] for i in range(3)], follower=False)
        for n in range(10)
    ]

    async def scenario() -> tuple[list[pb.KvReply], list[str]]:
        loop = asyncio.get_running_loop()
        events: list[str] = []
        futures = [loop.create_future() for _ in requests]
        replica.reads_waiting_apply.append((0, list(zip(requests, futures, strict=True))))
        for future in futures:
            future.add_done_callback(lambda f: events.append("read"))
        replica._serve_applied_reads()
        served_at_once = sum(future.done() for future in futures)
        events.append(f"first turn served {served_at_once}")
        # What a tick or an incoming heartbeat would be: a callback of the next turn.
        loop.call_soon(events.append, "tick")
        replies = await asyncio.wait_for(asyncio.gather(*futures), 5)
        return replies, events

    replies, events = asyncio.run(scenario())
    for request, reply in zip(requests, replies, strict=True):
        assert reply.id == request.id
        assert list(reply.replies) == expected(
            [list(request.args[i : i + 2]) for i in range(0, len(request.args), 2)]
        )
    first = next(event for event in events if event.startswith("first turn"))
    assert first != "first turn served 10"  # the slice ended before all were served
    assert events.index("tick") < len(events) - 1  # the tick ran before the last read


def test_one_request_of_many_commands_pauses_between_them():
    clock = SteppingClock(0.002)
    replica = leader_replica(clock)
    commands = [[b"GET", b"k%d" % n] for n in range(40)]
    request = read_request(1, commands, follower=False)

    async def scenario() -> tuple[pb.KvReply, int]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        replica.reads_waiting_apply.append((0, [(request, future)]))
        replica._serve_applied_reads()
        done_at_once = future.done()
        partial = len(replica.runnable_reads[0].replies) if replica.runnable_reads else 40
        assert not done_at_once
        return await asyncio.wait_for(future, 5), partial

    reply, partial = asyncio.run(scenario())
    assert 0 < partial < 40
    assert list(reply.replies) == expected(commands)


def test_follower_reads_are_served_in_slices_too():
    clock = SteppingClock(0.001)
    replica = leader_replica(clock)
    requests = [read_request(n, [[b"GET", b"k%d" % n]], follower=True) for n in range(30)]

    async def scenario() -> list[pb.KvReply]:
        futures = [replica.submit(request) for request in requests]
        assert not any(future.done() for future in futures)  # not inside the frame's turn
        return await asyncio.wait_for(asyncio.gather(*futures), 5)

    replies = asyncio.run(scenario())
    assert [list(reply.replies) for reply in replies] == [
        expected([[b"GET", b"k%d" % n]]) for n in range(30)
    ]
    assert clock.readings > 0


def test_a_slow_single_command_still_makes_progress():
    """Each slice runs at least one command, however slow the clock says it was."""
    clock = SteppingClock(replica_module.READ_SLICE_S * 10)
    replica = leader_replica(clock)
    requests = [read_request(n, [[b"GET", b"k%d" % n]], follower=True) for n in range(5)]

    async def scenario() -> list[pb.KvReply]:
        futures = [replica.submit(request) for request in requests]
        return await asyncio.wait_for(asyncio.gather(*futures), 5)

    assert len(asyncio.run(scenario())) == 5


def test_after_a_slice_that_overran_the_reads_pause_for_as_long():
    """A command may take longer than a slice (up to max-command-work): the reads then
    leave the loop alone for as long as they overran, even when new Ready cycles come
    (ticks, heartbeats and applying entries may need several loop turns)."""
    step = replica_module.READ_SLICE_S * 4
    clock = SteppingClock(step)
    replica = leader_replica(clock)
    requests = [read_request(n, [[b"GET", b"k%d" % n]], follower=False) for n in range(3)]

    async def scenario() -> list[pb.KvReply]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in requests]
        replica.reads_waiting_apply.append((0, list(zip(requests, futures, strict=True))))
        replica._serve_applied_reads()
        assert [future.done() for future in futures] == [True, False, False]
        assert replica.reads_resume_scheduled
        replica._serve_applied_reads()  # another Ready cycle during the pause
        assert [future.done() for future in futures] == [True, False, False]
        return await asyncio.wait_for(asyncio.gather(*futures), 5)

    replies = asyncio.run(scenario())
    assert [reply.id for reply in replies] == [0, 1, 2]
