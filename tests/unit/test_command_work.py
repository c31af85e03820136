"""max-command-work: no single command may hold a node's event loop (and so its Raft
heartbeats) for long. A command past the limit gets an exact error and changes nothing,
the same way on every replica; below it, the reply is what it always was. Random draws
come from the entry's generator alone (two engines with the same seed draw alike), and
the SCAN family is never refused: COUNT is a hint, and a large index is built a budget
at a time on the read path."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import pytest

from node.engine import scan as scan_module
from node.engine.config import EngineConfig
from node.engine.engine import Engine
from node.engine.work import (
    BYTES_PER_ELEMENT,
    COMPARED_PER_ELEMENT,
    RANDOM_ZSET_DRAW,
    ZSET_REORDER,
    distinct_positions,
    random_positions,
)
from node.engine.zset_value import ZSetValue
from proto.resp import Error, Reply

NOW = 1_700_000_000_000
LIMIT = 100
MEMBERS = 500  # every collection of the data set is larger than the limit


def refused(total: int, limit: int = LIMIT) -> Error:
    return Error(
        b"ERR command would handle %d elements, which exceeds max-command-work (%d)"
        % (total, limit)
    )


def loaded(limit: int = LIMIT, seed: int = 1) -> Engine:
    """A zset z (scores 0..), a set s, a hash h, a list l and keys k0.. of MEMBERS each,
    loaded under a generous limit, then run with `limit`."""
    # A hash of MEMBERS fields is a hashtable (a listpack HSCAN returns it whole).
    engine = Engine(EngineConfig(max_command_work=10_000, hash_max_listpack_entries=128))
    rng = random.Random(seed)
    members = [b"m%03d" % i for i in range(MEMBERS)]
    commands = [
        [b"ZADD", b"z", *[x for i, m in enumerate(members) for x in (b"%d" % i, m)]],
        [b"ZADD", b"zlex", *[x for m in members for x in (b"0", m)]],
        [b"SADD", b"s", *members],
        [b"SADD", b"s2", *members[: MEMBERS // 2]],
        [b"HSET", b"h", *[x for m in members for x in (m, b"v" + m)]],
        [b"RPUSH", b"l", *members],
        [b"MSET", *[x for m in members for x in (b"k" + m, b"v")]],
    ]
    for command in commands:
        assert not isinstance(engine.execute(command, NOW, rng), Error)
    engine.config.max_command_work = limit
    return engine


def run(engine: Engine, *args: bytes, seed: int = 2) -> Reply:
    return engine.execute(list(args), NOW, random.Random(seed))


def read(engine: Engine, *args: bytes, seed: int = 2) -> Reply:
    return engine.execute_readonly(list(args), NOW, random.Random(seed))


# ---------------------------------------------------------------------- the finding


def test_the_findings_command_is_refused_at_once_with_the_default_limit():
    """ZRANDMEMBER key -1000000 on a 50,000-member sorted set (inside max-random-draws)
    used to run for seconds; now it is refused, saying which limit, before any draw."""
    engine = Engine()
    engine.execute(
        [b"ZADD", b"z", *[x for i in range(50_000) for x in (b"%d" % i, b"m%d" % i)]],
        NOW,
        random.Random(1),
    )
    limit = EngineConfig().max_command_work
    for withscores in ([], [b"WITHSCORES"]):
        args = [b"ZRANDMEMBER", b"z", b"-1000000", *withscores]
        reply = read(engine, *args)
        draw = RANDOM_ZSET_DRAW + len(withscores)
        assert reply == refused(len(args) - 1 + 1_000_000 * draw, limit)
    # A 100,000-member range still fits the default.
    engine.execute(
        [b"ZADD", b"z", *[x for i in range(50_000, 100_000) for x in (b"%d" % i, b"m%d" % i)]],
        NOW,
        random.Random(1),
    )
    assert len(read(engine, b"ZRANGE", b"z", b"0", b"-1")) == 100_000


# ---------------------------------------------------------------------- every heavy command


# (command, work it would do with the loaded data set); each is refused at LIMIT.
HEAVY_READS = [
    ([b"ZRANGE", b"z", b"0", b"-1"], 3 + MEMBERS),
    ([b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"], 4 + 2 * MEMBERS),
    ([b"ZREVRANGE", b"z", b"0", b"199"], 3 + 200),
    ([b"ZRANGEBYSCORE", b"z", b"-inf", b"+inf"], 3 + MEMBERS),
    ([b"ZRANGEBYSCORE", b"z", b"0", b"+inf", b"WITHSCORES", b"LIMIT", b"10", b"60"], 7 + 120),
    ([b"ZRANGEBYLEX", b"zlex", b"-", b"+"], 3 + MEMBERS),
    ([b"ZRANGEBYLEX", b"zlex", b"-", b"+", b"LIMIT", b"300", b"1"], 6 + 301),
    ([b"ZLEXCOUNT", b"z", b"-", b"+"], 3 + MEMBERS),  # several scores: a walk
    ([b"ZRANDMEMBER", b"z", b"-60"], 2 + 60 * RANDOM_ZSET_DRAW),
    ([b"ZRANDMEMBER", b"z", b"40", b"WITHSCORES"], 3 + 40 * (RANDOM_ZSET_DRAW + 1)),
    ([b"ZRANDMEMBER", b"z", b"1000"], 2 + MEMBERS),  # the whole set
    ([b"ZUNION", b"2", b"z", b"s"], 3 + 2 * MEMBERS),
    ([b"ZINTER", b"2", b"z", b"s2"], 3 + 98),  # the walk stops one past the budget
    ([b"ZDIFF", b"2", b"z", b"s2"], 3 + MEMBERS),
    ([b"SRANDMEMBER", b"s", b"-200"], 2 + 200),
    ([b"SRANDMEMBER", b"s", b"200"], 2 + 200),
    ([b"SMEMBERS", b"s"], 1 + MEMBERS),
    ([b"SINTER", b"s", b"s2"], 2 + 99),
    ([b"SINTERCARD", b"2", b"s", b"s2"], 4 + 97),
    ([b"SUNION", b"s", b"s2"], 2 + MEMBERS + MEMBERS // 2),
    ([b"SDIFF", b"s", b"s2"], 2 + MEMBERS),
    ([b"HGETALL", b"h"], 1 + 2 * MEMBERS),
    ([b"HKEYS", b"h"], 1 + MEMBERS),
    ([b"HVALS", b"h"], 1 + MEMBERS),
    ([b"HRANDFIELD", b"h", b"-60", b"WITHVALUES"], 3 + 120),
    ([b"HRANDFIELD", b"h", b"200"], 2 + 200),
    ([b"LRANGE", b"l", b"0", b"-1"], 3 + MEMBERS),
    ([b"KEYS", b"*"], 1 + 6 + MEMBERS),
    ([b"MGET", *[b"km%03d" % i for i in range(LIMIT + 1)]], LIMIT + 1),
]


@pytest.mark.parametrize(("args", "work"), HEAVY_READS, ids=lambda v: repr(v)[:40])
def test_a_heavy_read_past_the_limit_gets_the_exact_error_on_both_paths(args, work):
    engine = loaded()
    assert read(engine, *args) == refused(work)
    assert run(engine, *args) == refused(work)  # inside a write request or MULTI


def work_of(args: list[bytes], write: bool) -> tuple[object, int, bytes]:
    """The reply, the work and the state after, under a generous limit."""
    engine = loaded(limit=10_000)
    reply = (run if write else read)(engine, *args)
    assert not isinstance(reply, Error)
    return reply, engine.db.work_done, engine.snapshot()


@pytest.mark.parametrize(("args", "work"), HEAVY_READS, ids=lambda v: repr(v)[:40])
def test_a_heavy_read_is_answered_as_before_at_its_work_and_refused_below(args, work):
    expected, needed, _ = work_of(args, write=False)
    assert read(loaded(limit=needed), *args) == expected
    refusal = read(loaded(limit=needed - 1), *args)
    assert isinstance(refusal, Error)
    # (mypy takes `in` on a bytes subclass such as Error for a test of one byte)
    assert b"max-command-work (%d)" % (needed - 1) in refusal  # type: ignore[comparison-overlap]


# (command, work); each is refused at LIMIT and must leave the data as it was.
HEAVY_WRITES = [
    (
        [b"ZADD", b"z", *[x for i in range(40) for x in (b"-1", b"m%03d" % i)]],
        81 + 40 * ZSET_REORDER,
    ),
    ([b"ZREM", b"z", *[b"m%03d" % i for i in range(40)]], 41 + 40 * ZSET_REORDER),
    ([b"ZREMRANGEBYRANK", b"z", b"0", b"199"], 3 + 200),
    ([b"ZREMRANGEBYSCORE", b"z", b"-inf", b"+inf"], 3 + MEMBERS),
    ([b"ZREMRANGEBYLEX", b"zlex", b"-", b"+"], 3 + MEMBERS),
    ([b"ZPOPMIN", b"z", b"60"], 2 + 120),
    ([b"ZMPOP", b"1", b"z", b"MAX", b"COUNT", b"60"], 5 + 120),
    ([b"ZRANGESTORE", b"d", b"z", b"0", b"59"], 4 + 120),
    ([b"ZUNIONSTORE", b"d", b"1", b"z"], 3 + MEMBERS),
    ([b"ZINTERSTORE", b"d", b"2", b"z", b"z"], 4 + 97),
    ([b"SPOP", b"s", b"200"], 2 + 200),
    ([b"SUNIONSTORE", b"d", b"s", b"s2"], 3 + MEMBERS + MEMBERS // 2),
    ([b"SINTERSTORE", b"d", b"s", b"s2"], 3 + 98),
    ([b"SDIFFSTORE", b"d", b"s", b"s2"], 3 + MEMBERS),
    ([b"LPOP", b"l", b"200"], 2 + 200),
    ([b"LMPOP", b"1", b"l", b"LEFT", b"COUNT", b"200"], 5 + 200),
    ([b"LTRIM", b"l", b"0", b"99"], 3 + MEMBERS - 100),
    ([b"COPY", b"z", b"d"], 2 + MEMBERS),
    ([b"MSET", *[x for i in range(60) for x in (b"n%d" % i, b"v")]], 120),
    ([b"DEL", *[b"km%03d" % i for i in range(LIMIT + 1)]], LIMIT + 1),
]


@pytest.mark.parametrize(("args", "work"), HEAVY_WRITES, ids=lambda v: repr(v)[:40])
def test_a_heavy_write_past_the_limit_is_refused_and_changes_nothing(args, work):
    engine = loaded()
    before = engine.snapshot()
    assert run(engine, *args) == refused(work)
    assert engine.snapshot() == before
    assert engine.changed_keys == []


@pytest.mark.parametrize(("args", "work"), HEAVY_WRITES, ids=lambda v: repr(v)[:40])
def test_a_heavy_write_applies_as_before_at_its_work_and_is_refused_below(args, work):
    expected, needed, after = work_of(args, write=True)
    exact = loaded(limit=needed)
    assert run(exact, *args) == expected
    assert exact.snapshot() == after
    short = loaded(limit=needed - 1)
    before = short.snapshot()
    assert isinstance(run(short, *args), Error)
    assert short.snapshot() == before


def test_list_walks_count_one_element_per_comparisons():
    engine = loaded()
    walk = -(-MEMBERS // COMPARED_PER_ELEMENT)
    assert read(engine, b"LPOS", b"l", b"absent") is None
    engine = loaded(limit=2 + walk - 1)
    assert read(engine, b"LPOS", b"l", b"absent") == refused(2 + walk, 2 + walk - 1)
    assert run(engine, b"LREM", b"l", b"0", b"absent") == refused(3 + walk, 2 + walk - 1)
    engine = loaded(limit=3 + walk)
    assert run(engine, b"LREM", b"l", b"0", b"m001") == 1
    assert read(engine, b"LPOS", b"l", b"m499") == MEMBERS - 2


def test_strings_count_one_element_per_bytes_per_element():
    engine = loaded()
    size = 2 * LIMIT * BYTES_PER_ELEMENT
    assert run(engine, b"SETRANGE", b"big", b"%d" % (size - 1), b"x") == refused(
        3 + size // BYTES_PER_ELEMENT
    )
    assert run(engine, b"EXISTS", b"big") == 0
    engine.config.max_command_work = 10 * LIMIT
    assert run(engine, b"SETRANGE", b"big", b"%d" % (size - 1), b"x") == size
    engine.config.max_command_work = LIMIT
    work = size // BYTES_PER_ELEMENT
    assert read(engine, b"GET", b"big") == refused(1 + work)
    assert read(engine, b"GETRANGE", b"big", b"0", b"-1") == refused(3 + work)
    assert read(engine, b"BITCOUNT", b"big") == refused(1 + work)
    # Read in slices instead.
    quarter = size // 4
    pieces = [
        read(engine, b"GETRANGE", b"big", b"%d" % start, b"%d" % (start + quarter - 1))
        for start in range(0, size, quarter)
    ]
    assert b"".join(pieces) == bytes(size - 1) + b"x"


def test_arguments_count_one_element_each():
    engine = loaded()
    args = [b"SADD", b"t", *[b"a%d" % i for i in range(LIMIT)]]
    assert run(engine, *args) == refused(LIMIT + 1)
    assert run(engine, *args[:-1]) == LIMIT - 1


def test_a_transaction_shares_one_budget_among_its_commands():
    engine = loaded()
    commands = [[b"LRANGE", b"l", b"0", b"39"]] * 3  # 43 each
    replies = engine.execute_transaction(commands, NOW, random.Random(1))
    assert replies is not None
    assert [len(reply) for reply in replies[:2]] == [40, 40]
    assert replies[2] == Error(
        b"ERR command would handle 43 elements, which exceeds what this transaction has "
        b"left of max-command-work (14 of 100)"
    )
    # The next transaction starts afresh, and a command outside one has the whole limit.
    assert engine.execute_transaction(commands[:2], NOW, random.Random(1)) is not None
    assert len(run(engine, b"LRANGE", b"l", b"0", b"90")) == 91


def test_two_replicas_refuse_and_answer_alike():
    """What every replica of a shard computes from the same entry is the same: the
    refusal, the draws (seeded by the entry) and the state after."""
    commands = [
        [b"ZRANDMEMBER", b"z", b"-30", b"WITHSCORES"],
        [b"SRANDMEMBER", b"s", b"-90"],
        [b"SRANDMEMBER", b"s", b"90"],
        [b"HRANDFIELD", b"h", b"45", b"WITHVALUES"],
        [b"SPOP", b"s", b"90"],
        [b"ZRANDMEMBER", b"z", b"-200"],
    ]
    outcomes = []
    for _ in range(2):
        engine = loaded()
        rng = random.Random(42)
        replies = [engine.execute(command, NOW, rng) for command in commands]
        outcomes.append((replies, engine.snapshot()))
    assert outcomes[0] == outcomes[1]
    assert isinstance(outcomes[0][0][-1], Error)
    assert not any(isinstance(reply, Error) for reply in outcomes[0][0][:-1])


# ---------------------------------------------------------------------- random draws


def test_draws_with_repetition_are_uniform_enough_and_reproducible():
    positions = random_positions(random.Random(3), 10, 20_000)
    assert positions == random_positions(random.Random(3), 10, 20_000)
    counts = [positions.count(n) for n in range(10)]
    assert min(counts) > 1_800 and max(counts) < 2_200


@pytest.mark.parametrize(("size", "count"), [(10, 9), (1000, 10), (1000, 600), (7, 1)])
def test_distinct_draws_are_distinct_in_range_and_reproducible(size, count):
    drawn = distinct_positions(random.Random(size), size, count)
    assert drawn == distinct_positions(random.Random(size), size, count)
    assert len(drawn) == len(set(drawn)) == count
    assert all(0 <= position < size for position in drawn)


def test_distinct_draws_reach_every_position():
    seen = set()
    for seed in range(200):
        seen.update(distinct_positions(random.Random(seed), 50, 3))
    assert seen == set(range(50))


def test_zset_entries_at_many_positions_match_single_lookups():
    value = ZSetValue(EngineConfig())
    for i in range(5000):
        value.put(b"m%d" % i, float(i % 97))
    positions = random_positions(random.Random(9), len(value), 3000)
    assert value.entries_at(positions) == [value.at(position) for position in positions]


@pytest.mark.parametrize("seed", range(40))
def test_removing_a_span_leaves_what_removing_one_by_one_leaves(seed):
    rng = random.Random(seed)
    fast, slow = ZSetValue(EngineConfig()), ZSetValue(EngineConfig())
    for i in range(rng.randrange(70, 3000)):
        score = float(rng.randrange(50))
        fast.put(b"m%d" % i, score)
        slow.put(b"m%d" % i, score)
    for _ in range(3):
        start = rng.randrange(len(fast))
        stop = rng.randrange(start, len(fast) + 1)
        assert fast.remove_span(start, stop) == stop - start
        for _ in range(stop - start):
            slow.remove(slow.at(start)[0])
        assert list(fast) == list(slow)
        assert [fast.at(p) for p in range(0, len(fast), 13)] == [
            slow.at(p) for p in range(0, len(slow), 13)
        ]
        fast.put(b"new%d" % start, 1.5)
        slow.put(b"new%d" % start, 1.5)
        assert fast.rank(b"new%d" % start) == slow.rank(b"new%d" % start)


def test_bitcount_ranges_match_a_python_int_count():
    rng = random.Random(5)
    data = rng.randbytes(1000)
    engine = Engine()
    engine.execute([b"SET", b"b", data], NOW, rng)
    bits = int.from_bytes(data, "big")
    total = len(data) * 8
    assert read(engine, b"BITCOUNT", b"b") == bits.bit_count()
    for _ in range(300):
        start, end = sorted(rng.randrange(total) for _ in range(2))
        expected = (bits >> (total - 1 - end) & ((1 << (end - start + 1)) - 1)).bit_count()
        args = [b"BITCOUNT", b"b", b"%d" % start, b"%d" % end, b"BIT"]
        assert read(engine, *args) == expected
        first, last = start // 8, end // 8
        expected_bytes = int.from_bytes(data[first : last + 1], "big").bit_count()
        assert read(engine, b"BITCOUNT", b"b", b"%d" % first, b"%d" % last) == expected_bytes


# ---------------------------------------------------------------------- SCAN is never refused


SCANS = [
    [b"SCAN", b"0"],
    [b"SSCAN", b"s", b"0"],
    [b"HSCAN", b"h", b"0"],
    [b"ZSCAN", b"z", b"0"],
]


def iterate(engine: Engine, args: list[bytes], execute) -> tuple[list[bytes], int]:
    """Every member a full iteration with COUNT 1000000 visits, and how many pages."""
    per_member = 1 if args[0] in (b"SCAN", b"SSCAN") else 2
    cursor, found, pages = b"0", [], 0
    while True:
        reply = execute(engine, *args[:-1], cursor, b"COUNT", b"1000000")
        assert not isinstance(reply, Error), reply
        cursor, page = reply
        assert len(page) <= engine.config.max_command_work
        found += page[::per_member]
        pages += 1
        if cursor == b"0":
            return found, pages


@pytest.mark.parametrize("args", SCANS)
def test_a_read_scan_with_a_huge_count_pages_within_the_budget_and_visits_everything(
    monkeypatch, args
):
    monkeypatch.setattr(scan_module.ScanIndex, "BUILD_AT_ONCE", 64)  # built in steps
    found, pages = iterate(loaded(), args, read)
    assert len(found) == len(set(found)) == (6 + MEMBERS if args[0] == b"SCAN" else MEMBERS)
    assert pages > MEMBERS // LIMIT  # the budget, not COUNT, sized the pages


@pytest.mark.parametrize("args", SCANS)
def test_an_applied_scan_pays_for_the_whole_index_the_same_on_every_replica(monkeypatch, args):
    """Applied (MULTI/EXEC, a script, a pipeline with writes), a SCAN builds the index
    whole and is charged for it, built or not: over the limit it is refused."""
    monkeypatch.setattr(scan_module.ScanIndex, "BUILD_AT_ONCE", 64)
    engine = loaded()
    size = 6 + MEMBERS if args[0] == b"SCAN" else MEMBERS
    iterate(engine, args, read)  # the index is built on this replica, not on others
    reply = run(engine, *args, b"COUNT", b"10")
    assert reply == refused(len(args) + 1 + size)
    engine.config.max_command_work = 10 * MEMBERS
    found, _ = iterate(engine, args, run)
    assert len(found) == len(set(found)) == size


def test_a_large_index_is_built_a_budget_at_a_time_while_reads_go_on(monkeypatch):
    monkeypatch.setattr(scan_module.ScanIndex, "BUILD_AT_ONCE", 64)
    members = {b"m%d" % i for i in range(1000)}
    index = scan_module.ScanIndex(members)
    assert index.page(0, 10, budget=300) is None  # 300 hashed
    index.add(b"late")
    members.add(b"late")
    members.discard(b"m1")
    index.discard(b"m1")
    assert index.page(0, 10, budget=300) is None  # 600
    assert index.page(0, 10, budget=300) is None  # 900
    first = index.page(0, 10, budget=300)  # the last 100, then the two changes
    assert first is not None
    cursor, visited, seen = first[0], list(first[1]), 0
    while cursor:
        step = index.page(cursor, 10, budget=300)
        assert step is not None  # caught up: no budget needed
        cursor, page = step
        visited += page
        seen += 1
    assert sorted(visited) == sorted(members)


# ---------------------------------------------------------------------- configuration


def test_the_node_flag_sets_the_limit(tmp_path: Path):
    from node.main import add_arguments, settings_from

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    common = ["--id", "1", "--cluster", str(tmp_path / "c.toml"), "--data-dir", str(tmp_path)]
    args = parser.parse_args([*common, "--max-command-work", "5000"])
    assert settings_from(args).engine.max_command_work == 5000
    default = settings_from(parser.parse_args(common))
    assert default.engine.max_command_work == EngineConfig().max_command_work
    with pytest.raises(ValueError, match="max-command-work"):
        EngineConfig(max_command_work=0)
