"""Streams in the engine, where the differential tests cannot go: snapshots of streams
with groups and pending entries, `*` IDs when the log's clock goes backwards, the work
bound of reads, blocking reads (WouldBlock, `$` resolved at the first application), the
memory accounting and the keyspace events."""

from __future__ import annotations

import random
from typing import Any

import pytest

from node import entry_codec
from node.engine.blocking import WouldBlock
from node.engine.config import EngineConfig
from node.engine.digest import digest
from node.engine.engine import Engine
from node.engine.keyspace import value_size
from node.engine.snapshot import dump, load
from node.engine.stream_value import StreamValue
from node.entry_codec import Request, ShardEntry
from node.shard_state import ShardState
from proto import resp


def run(engine: Engine, *args: bytes | str, now: int = 1_000) -> Any:
    parts = [arg.encode() if isinstance(arg, str) else arg for arg in args]
    return engine.execute(parts, now, random.Random(0))


def populated() -> Engine:
    engine = Engine()
    for number in range(1, 260):
        run(engine, "XADD", "s", f"{number}-0", "f", f"v{number}", "g", "w" * (number % 5))
    run(engine, "XDEL", "s", "3-0", "120-0")
    run(engine, "XGROUP", "CREATE", "s", "g1", "0")
    run(engine, "XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD", "7")
    run(engine, "XREADGROUP", "GROUP", "g1", "alice", "COUNT", "5", "STREAMS", "s", ">", now=2_000)
    run(engine, "XREADGROUP", "GROUP", "g1", "bob", "COUNT", "3", "STREAMS", "s", ">", now=3_000)
    run(engine, "XCLAIM", "s", "g1", "carol", "0", "2-0", "RETRYCOUNT", "9", now=4_000)
    run(engine, "XGROUP", "CREATECONSUMER", "s", "g2", "idle", now=5_000)
    run(engine, "XSETID", "s", "900-0", "ENTRIESADDED", "400", "MAXDELETEDID", "150-0")
    return engine


def test_snapshot_round_trip_keeps_entries_groups_and_pending_entries():
    engine = populated()
    db = engine.db
    restored = load(dump(db))
    original = db.data[b"s"]
    copy = restored.data[b"s"]
    assert isinstance(copy, StreamValue)
    assert copy.snapshot_items() == original.snapshot_items()
    assert restored.used_memory == db.used_memory
    assert digest(restored, b"s") == digest(db, b"s")
    # The restored replica answers as the original does, times included.
    replica = Engine()
    replica.db = restored
    for args in (
        ["XINFO", "STREAM", "s", "FULL", "COUNT", "0"],
        ["XPENDING", "s", "g1", "-", "+", "100"],
        ["XINFO", "CONSUMERS", "s", "g2"],
        ["XRANGE", "s", "100", "130"],
        ["XINFO", "GROUPS", "s"],
    ):
        assert run(replica, *args, now=9_000) == run(engine, *args, now=9_000)
    # And both go on identically.
    for target in (engine, replica):
        run(target, "XADD", "s", "MAXLEN", "~", "50", "*", "f", "v", now=10_000)
        run(target, "XAUTOCLAIM", "s", "g1", "dave", "0", "0", "COUNT", "3", now=11_000)
    assert engine.db.data[b"s"].snapshot_items() == replica.db.data[b"s"].snapshot_items()


def test_copy_is_deep():
    engine = populated()
    run(engine, "COPY", "s", "t")
    run(engine, "XACK", "s", "g1", "1-0")
    run(engine, "XADD", "s", "*", "f", "v")
    assert run(engine, "XLEN", "t") == 257
    assert run(engine, "XPENDING", "t", "g1")[0] == 8


def test_auto_ids_stay_monotonic_when_the_clock_goes_backwards():
    engine = Engine()
    assert run(engine, "XADD", "s", "*", "f", "v", now=5_000) == b"5000-0"
    assert run(engine, "XADD", "s", "*", "f", "v", now=5_000) == b"5000-1"
    # A new leader whose clock is behind: same ms, next sequence.
    assert run(engine, "XADD", "s", "*", "f", "v", now=4_000) == b"5000-2"
    assert run(engine, "XADD", "s", "*", "f", "v", now=6_000) == b"6000-0"
    assert run(engine, "XADD", "s", "4000-*", "f", "v", now=7_000) == resp.Error(
        b"ERR The ID specified in XADD is equal or smaller than the target stream top item"
    )
    assert run(engine, "XADD", "s", "6000-*", "f", "v") == b"6000-1"
    ids = [entry[0] for entry in run(engine, "XRANGE", "s", "-", "+")]
    assert ids == sorted(ids, key=lambda text: tuple(map(int, text.split(b"-"))))


def test_a_huge_range_is_bounded_by_the_work_budget():
    engine = Engine(EngineConfig(max_command_work=1_000))
    for number in range(1, 2_001):
        run(engine, "XADD", "s", f"{number}-0", "f", "v")
    reply = run(engine, "XRANGE", "s", "-", "+", "COUNT", "1000000")
    assert isinstance(reply, resp.Error) and b"max-command-work" in bytes(reply)
    assert len(run(engine, "XRANGE", "s", "-", "+", "COUNT", "100")) == 100
    assert isinstance(run(engine, "XREAD", "STREAMS", "s", "0"), resp.Error)


def test_blocking_reads_wait_and_dollar_is_resolved_at_the_first_application():
    engine = Engine()
    run(engine, "XADD", "s", "5-0", "f", "v")
    args = [b"XREAD", b"BLOCK", b"1500", b"STREAMS", b"s", b"t", b"$", b"$"]
    blocked = engine.execute(args, 1_000, random.Random(0))
    assert isinstance(blocked, WouldBlock)
    assert blocked.keys == [b"s", b"t"] and blocked.timeout == 1.5
    # `$` is now the stream's last ID (0-0 for a missing key): a retry after new entries
    # serves them, not what comes after them.
    assert blocked.resolved is not None and blocked.resolved[-2:] == [b"5-0", b"0-0"]
    run(engine, "XADD", "t", "1-0", "a", "b")
    reply = engine.execute(blocked.resolved, 2_000, random.Random(0))
    assert reply == [b"t", [[b"1-0", [b"a", b"b"]]]]
    assert (
        resp.encode(reply, True)
        == b"%1\r\n$1\r\nt\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    )
    run(engine, "XGROUP", "CREATE", "s", "g", "$")
    group_args = [b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"]
    assert isinstance(engine.execute(list(group_args), 3_000, random.Random(0)), WouldBlock)
    run(engine, "XADD", "s", "6-0", "f", "w")
    served = engine.execute(list(group_args), 4_000, random.Random(0))
    assert served == [b"s", [[b"6-0", [b"f", b"w"]]]]
    # Delivered once: the next `>` read has nothing again.
    assert isinstance(engine.execute(list(group_args), 5_000, random.Random(0)), WouldBlock)
    # Inside MULTI a blocking read that finds nothing answers a null array.
    assert engine.execute_transaction([list(group_args)], 6_000, random.Random(0)) == [
        resp.NULL_ARRAY
    ]


def test_times_come_from_the_log_entry():
    engine = Engine()
    run(engine, "XADD", "s", "1-0", "f", "v")
    run(engine, "XGROUP", "CREATE", "s", "g", "0")
    run(engine, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">", now=10_000)
    assert run(engine, "XPENDING", "s", "g", "-", "+", "10", now=12_500) == [
        [b"1-0", b"c", 2_500, 1]
    ]
    assert run(engine, "XINFO", "CONSUMERS", "s", "g", now=13_000) == [
        [b"name", b"c", b"pending", 1, b"idle", 3_000]
    ]
    assert run(engine, "XCLAIM", "s", "g", "d", "2000", "1-0", "JUSTID", now=13_000) == [b"1-0"]
    assert run(engine, "XCLAIM", "s", "g", "e", "2000", "1-0", "JUSTID", now=14_000) == []


@pytest.mark.parametrize("events", ["KEA", "Kt"])
def test_keyspace_events(events):
    engine = Engine(EngineConfig(notify_keyspace_events=events))
    db = engine.db
    run(engine, "XADD", "s", "MAXLEN", "1", "1-0", "f", "v")
    run(engine, "XADD", "s", "MAXLEN", "1", "2-0", "f", "v")
    run(engine, "XDEL", "s", "2-0")
    run(engine, "XGROUP", "CREATE", "s", "g", "0")
    run(engine, "XGROUP", "CREATECONSUMER", "s", "g", "c")
    run(engine, "XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", "0")
    run(engine, "XGROUP", "SETID", "s", "g", "0")
    run(engine, "XGROUP", "DELCONSUMER", "s", "g", "c")
    run(engine, "XGROUP", "DESTROY", "s", "g")
    run(engine, "XSETID", "s", "9-0")
    run(engine, "XTRIM", "s", "MAXLEN", "0")
    assert [event for _kind, event, _key in db.take_events()] == [
        b"xadd",
        b"xadd",
        b"xtrim",
        b"xdel",
        b"xgroup-create",
        b"xgroup-createconsumer",
        b"xgroup-createconsumer",
        b"xgroup-setid",
        b"xgroup-delconsumer",
        b"xgroup-destroy",
        b"xsetid",
    ]


def test_memory_accounting_follows_the_stream():
    engine = populated()
    db = engine.db
    value = db.data[b"s"]
    assert db.used_memory == value_size(b"s", value)
    run(engine, "XTRIM", "s", "MAXLEN", "10")
    run(engine, "XGROUP", "DESTROY", "s", "g1")
    assert db.used_memory == value_size(b"s", value)
    assert value.mem == StreamValue.from_snapshot_items(EngineConfig(), value.snapshot_items()).mem


def _entry(request: Request, time_ms: int) -> bytes:
    return entry_codec.encode(ShardEntry(time_ms, 1, [request], [], []))


def test_dollar_stays_resolved_for_the_retries_of_a_blocked_read_and_in_snapshots():
    """The request as the router sends it again (a wake-up, or after a failover to a
    replica restored from a snapshot): `$` means the last ID at its first application."""
    state = ShardState()
    add = Request(9, 1, 0, 0, False, [[b"XADD", b"s", b"5-0", b"f", b"v"]], [])
    assert state.apply(_entry(add, 1_000)).results[0].replies == [b"$3\r\n5-0\r\n"]
    read = Request(7, 1, 0, 0, False, [[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]], [])
    first = state.apply(_entry(read, 2_000)).results[0]
    assert first.blocked is not None and first.replies is None
    add_more = Request(9, 2, 2, 0, False, [[b"XADD", b"s", b"6-0", b"f", b"w"]], [])
    state.apply(_entry(add_more, 3_000))
    # A replica restored from a snapshot taken now serves the retry the same way.
    restored = ShardState()
    restored.restore(state.snapshot())
    for replica in (state, restored):
        retry = replica.apply(_entry(read, 4_000)).results[0]
        assert retry.replies == [
            resp.encode(resp.KeyedArrays([b"s", [[b"6-0", [b"f", b"w"]]]]), False)
        ]
    # Answered: the session now holds the reply, a further retry gets it as it is.
    again = state.apply(_entry(read, 5_000)).results[0]
    assert again.replies == retry.replies


def test_a_read_refused_for_its_work_changes_nothing():
    engine = Engine(EngineConfig(max_command_work=500))
    for number in range(1, 400):
        run(engine, "XADD", "s", f"{number}-0", "f", "v" * 10)
    run(engine, "XGROUP", "CREATE", "s", "g", "0")
    before = engine.db.data[b"s"].snapshot_items()
    for args in (
        ["XREADGROUP", "GROUP", "g", "new", "STREAMS", "s", ">"],
        ["XREADGROUP", "GROUP", "g", "new", "STREAMS", "s", "s", ">", ">"],
    ):
        reply = run(engine, *args)
        assert isinstance(reply, resp.Error) and b"max-command-work" in bytes(reply), args
        assert engine.db.data[b"s"].snapshot_items() == before
    run(engine, "XREADGROUP", "GROUP", "g", "c", "COUNT", "100", "STREAMS", "s", ">")
    run(engine, "XREADGROUP", "GROUP", "g", "c", "COUNT", "100", "STREAMS", "s", ">")
    before = engine.db.data[b"s"].snapshot_items()
    ids = [f"{number}-0" for number in range(1, 200)]
    for args in (
        ["XCLAIM", "s", "g", "other", "0", *ids, "LASTID", "500-0"],
        ["XAUTOCLAIM", "s", "g", "other", "0", "0", "COUNT", "200"],
    ):
        reply = run(engine, *args)
        assert isinstance(reply, resp.Error) and b"max-command-work" in bytes(reply), args
        assert engine.db.data[b"s"].snapshot_items() == before
    assert run(engine, "XAUTOCLAIM", "s", "g", "other", "0", "0", "COUNT", "5", "JUSTID")[1] == [
        b"1-0",
        b"2-0",
        b"3-0",
        b"4-0",
        b"5-0",
    ]


def test_damaged_stream_pieces_are_refused():
    pieces = populated().db.data[b"s"].snapshot_items()
    for damaged in (pieces[:1], pieces[:-1], [*pieces, b"extra"], [b"short", *pieces[1:]]):
        with pytest.raises(ValueError):
            StreamValue.from_snapshot_items(EngineConfig(), damaged)


def test_long_values_and_many_fields_come_back_as_added():
    engine = Engine()
    fields = [b"f%d" % n for n in range(200)]
    values = [b"v" * (n * 7) for n in range(200)]
    pairs = [part for pair in zip(fields, values) for part in pair]
    run(engine, "XADD", "s", "1-0", *pairs)
    run(engine, "XADD", "s", "2-0", "", b"x" * 70_000)
    assert run(engine, "XRANGE", "s", "-", "+") == [
        [b"1-0", pairs],
        [b"2-0", [b"", b"x" * 70_000]],
    ]


def test_the_router_retries_xread_with_what_is_left_of_its_block_milliseconds():
    from router.retry import _blocking_timeout, _set_blocking_timeout

    args = [b"XREAD", b"COUNT", b"5", b"BLOCK", b"1500", b"STREAMS", b"s", b"$"]
    assert _blocking_timeout(args) == 1.5
    _set_blocking_timeout(args, 0.25)
    assert args == [b"XREAD", b"COUNT", b"5", b"BLOCK", b"250", b"STREAMS", b"s", b"$"]
    group = [b"XREADGROUP", b"GROUP", b"BLOCK", b"c", b"BLOCK", b"0", b"STREAMS", b"s", b">"]
    assert _blocking_timeout(group) is None  # BLOCK 0: forever
    assert _blocking_timeout([b"XREAD", b"STREAMS", b"s", b"0"]) is None  # never blocks
    blpop = [b"BLPOP", b"q", b"2"]
    _set_blocking_timeout(blpop, 0.5)
    assert blpop == [b"BLPOP", b"q", b"0.500"]


def test_a_blocked_group_read_whose_key_or_group_went_answers_as_redis():
    engine = Engine()
    run(engine, "XGROUP", "CREATE", "s", "BLOCK", "$", "MKSTREAM")
    args = [b"XREADGROUP", b"GROUP", b"BLOCK", b"c", b"BLOCK", b"100", b"STREAMS", b"s", b">"]
    blocked = engine.execute(list(args), 1_000, random.Random(0))
    assert isinstance(blocked, WouldBlock) and blocked.resolved is not None
    from proto.commands import timeout_index

    assert timeout_index(blocked.resolved) == 5  # the group named BLOCK is not the option
    assert isinstance(engine.execute(list(blocked.resolved), 2_000, random.Random(0)), WouldBlock)
    run(engine, "XADD", "s", "1-0", "f", "v")
    served = engine.execute(list(blocked.resolved), 3_000, random.Random(0))
    assert served == [b"s", [[b"1-0", [b"f", b"v"]]]]
    run(engine, "XGROUP", "DESTROY", "s", "BLOCK")
    assert engine.execute(list(blocked.resolved), 4_000, random.Random(0)) == resp.Error(
        b"NOGROUP the consumer group this client was blocked on no longer exists"
    )
    run(engine, "DEL", "s")
    assert engine.execute(list(blocked.resolved), 5_000, random.Random(0)) == resp.Error(
        b"UNBLOCKED the stream key no longer exists"
    )
    # The first application still answers the ordinary error.
    assert engine.execute(list(args), 6_000, random.Random(0)) == resp.Error(
        b"NOGROUP No such key 's' or consumer group 'BLOCK' in XREADGROUP with GROUP option"
    )
