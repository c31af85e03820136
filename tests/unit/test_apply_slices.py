"""Long entries are applied in slices (node/shard_state.py apply_steps, node/replica.py
apply_pending): the pauses fall between commands, never inside one, a transaction or a
script; where they fall changes nothing in the result, also with reads in between; and the
writes of one cycle are proposed as entries of bounded size."""

from __future__ import annotations

import asyncio
import random

import pytest

from node import entry_codec
from node.raft import EntryType, Ready
from node.raft.types import Entry
from node.replica import MAX_ENTRY_BYTES, Pending, ShardReplica, _entry_batches
from node.shard_state import ShardState
from proto import slotraft_pb2 as pb
from proto.topology import ShardPlacement
from tests.raft.harness import Cluster


def entry(*requests: list[list[bytes]], transaction: int = -1) -> bytes:
    made = [
        entry_codec.Request(
            100 + i,
            i + 1,
            0,
            entry_codec.TRANSACTION if i == transaction else entry_codec.COMMANDS,
            False,
            commands,
            [],
        )
        for i, commands in enumerate(requests)
    ]
    return entry_codec.encode(entry_codec.ShardEntry(1_000, 7, made, [], []))


DATA = entry(
    [[b"SET", b"a", b"1"], [b"INCR", b"a"], [b"ZADD", b"z", b"1", b"m"], [b"SPOP", b"nope"]],
    [[b"MULTI"], [b"INCR", b"a"], [b"INCR", b"a"]][1:],
    [[b"EVAL", b"redis.call('INCR', KEYS[1]) return redis.call('GET', KEYS[1])", b"1", b"a"]],
    [[b"SET", b"k%d" % i, b"v"] for i in range(600)],
    transaction=1,
)


def test_an_entry_applied_step_by_step_with_reads_between_gives_the_same_state_and_replies():
    whole = ShardState()
    expected = whole.apply(DATA)
    stepped = ShardState()
    steps = stepped.apply_steps(DATA)
    count = 0
    rng = random.Random(3)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            outcome = done.value
            break
        count += 1
        # A reader between two steps sees a state between two commands, changes nothing.
        stepped.engine.execute_readonly([b"GET", b"a"], 999_999, rng)
        stepped.engine.execute_readonly([b"DBSIZE"], 999_999, rng)
    assert outcome.results == expected.results
    assert outcome.changed_keys == expected.changed_keys
    assert stepped.digest() == whole.digest()
    # Pauses: after each of the first request's 4 commands and after the request (5), after
    # the transaction and after the script, as wholes (2), after 256 and 512 plain SETs
    # and after their request (3).
    assert count == 5 + 2 + 3


def test_a_replica_out_of_time_applies_one_step_per_call_and_serves_reads_as_it_goes():
    cluster = Cluster()
    cluster.elect(1)
    replica = ShardReplica(
        1, ShardPlacement(0, ((0, 16383),), (1, 2, 3)), cluster.nodes[1], ShardState(), 0
    )
    ready = Ready()
    ready.committed_entries = (
        Entry(1, 1, EntryType.NORMAL, DATA),
        Entry(2, 1, EntryType.NORMAL, b""),
    )
    replica.on_ready(ready)
    assert replica.applied == 0 and len(replica.to_apply) == 2
    calls = 1
    while replica.apply_pending(deadline=0.0):  # always out of time: one step a call
        calls += 1
        assert replica.mid_entry or replica.applied == 1
    assert replica.applied == 2 and not replica.mid_entry
    assert calls == 11 + 1  # the first entry's 10 pauses and its end, then the empty one
    whole = ShardState()
    whole.apply(DATA)
    assert replica.state.digest() == whole.digest()


def pending(size: int) -> Pending:
    request = pb.KvRequest(id=1)
    request.args.append(b"x" * size)
    request.arg_counts.append(1)
    return Pending(request, asyncio.Future(loop=asyncio.new_event_loop()))


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([10, 10, 10], [3]),
        ([MAX_ENTRY_BYTES // 2] * 4, [1, 1, 1, 1]),
        ([MAX_ENTRY_BYTES // 3] * 7, [2, 2, 2, 1]),
        ([MAX_ENTRY_BYTES * 3, 10, 10], [1, 2]),
    ],
)
def test_a_cycles_writes_are_proposed_as_entries_of_bounded_size(sizes, expected):
    batches = _entry_batches([pending(size) for size in sizes])
    assert [len(batch) for batch in batches] == expected
    for batch in batches:
        if len(batch) > 1:
            assert sum(p.request.ByteSize() for p in batch) <= MAX_ENTRY_BYTES
