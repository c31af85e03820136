"""Routing and merging: single shard, split + merge, fan-out, CROSSSLOT, SCAN cursors."""

from __future__ import annotations

import random

import pytest

from proto.commands import TABLE, CommandSpec, Merge, Route, lookup
from proto.slots import SLOT_COUNT, key_slot
from router import merge, replies, scan_cursor
from router.planner import (
    CROSSSLOT_REPLY,
    FAN_OUT_MERGES,
    SPLIT_MERGES,
    Forward,
    Planner,
    Scatter,
)


class EvenSlots:
    def __init__(self, shards: int) -> None:
        self.shard_count = shards

    def shard_for_slot(self, slot: int) -> int:
        return slot * self.shard_count // SLOT_COUNT


def keys_on_distinct_shards(planner: Planner, count: int) -> list[bytes]:
    found: dict[int, bytes] = {}
    index = 0
    while len(found) < count:
        key = b"key:%d" % index
        found.setdefault(planner.shard_of_key(key), key)
        index += 1
    return [found[shard] for shard in sorted(found)]


def spec(name: bytes) -> CommandSpec:
    found = lookup(name)
    assert found is not None, name
    return found


def plan(planner: Planner, *args: bytes):
    return planner.plan(spec(args[0]), list(args))


@pytest.fixture
def planner() -> Planner:
    return Planner(EvenSlots(3), random.Random(1))


def test_every_split_and_fan_out_command_has_a_merge():
    subcommands = [sub for spec in TABLE.values() for sub in spec.subcommands.values()]
    for spec in [*TABLE.values(), *subcommands]:
        if spec.route is Route.SPLIT:
            assert spec.merge in {*SPLIT_MERGES, Merge.IN_KEY_ORDER}, spec.name
        if spec.route is Route.ALL_SHARDS:
            assert spec.merge in {*FAN_OUT_MERGES, Merge.SCAN, Merge.RANDOM_KEY}, spec.name


def test_single_key_goes_to_its_shard(planner):
    result = plan(planner, b"GET", b"foo")
    assert result == Forward(planner.slot_map.shard_for_slot(key_slot(b"foo")), [b"GET", b"foo"])


def test_keyed_multi_key_same_slot_and_crossslot(planner):
    a, b, _ = keys_on_distinct_shards(planner, 3)
    assert plan(planner, b"MSETNX", b"{u}1", b"x", b"{u}2", b"y").args[0] == b"MSETNX"
    assert plan(planner, b"RENAME", a, b) == CROSSSLOT_REPLY
    # Same shard is not enough: Redis Cluster wants the same slot.
    same_shard = [k for k in (b"a%d" % i for i in range(200)) if planner.shard_of_key(k) == 0]
    first = same_shard[0]
    second = next(k for k in same_shard if key_slot(k) != key_slot(first))
    assert plan(planner, b"RENAME", first, second) == CROSSSLOT_REPLY


def test_mget_split_and_merged_in_client_order(planner):
    a, b, c = keys_on_distinct_shards(planner, 3)
    result = plan(planner, b"MGET", c, a, b, c)
    assert isinstance(result, Scatter)
    pieces = dict(result.pieces)
    assert pieces[planner.shard_of_key(c)] == [b"MGET", c, c]
    assert pieces[planner.shard_of_key(a)] == [b"MGET", a]
    shard_replies = {
        planner.shard_of_key(c): b"*2\r\n$2\r\nvc\r\n$-1\r\n",
        planner.shard_of_key(a): b"*1\r\n$2\r\nva\r\n",
        planner.shard_of_key(b): b"*1\r\n_\r\n",
    }
    merged = result.merge([shard_replies[shard] for shard, _ in result.pieces])
    assert merged == b"*4\r\n$2\r\nvc\r\n$2\r\nva\r\n_\r\n$-1\r\n"


def test_mset_split_keeps_pairs(planner):
    a, b, _ = keys_on_distinct_shards(planner, 3)
    result = plan(planner, b"MSET", a, b"1", b, b"2", a, b"3")
    pieces = dict(result.pieces)
    assert pieces[planner.shard_of_key(a)] == [b"MSET", a, b"1", a, b"3"]
    assert pieces[planner.shard_of_key(b)] == [b"MSET", b, b"2"]
    assert result.merge([b"+OK\r\n", b"+OK\r\n"]) == b"+OK\r\n"
    assert result.merge([b"+OK\r\n", b"-OOM no\r\n"]) == b"-OOM no\r\n"


def test_malformed_mset_is_not_split(planner):
    a, b, _ = keys_on_distinct_shards(planner, 3)
    assert plan(planner, b"MSET", a, b"1", b) == Forward(
        planner.shard_of_key(a), [b"MSET", a, b"1", b]
    )


def test_counts_are_summed(planner):
    keys = keys_on_distinct_shards(planner, 3)
    for name in (b"DEL", b"UNLINK", b"EXISTS", b"TOUCH"):
        result = plan(planner, name, *keys)
        assert len(result.pieces) == 3
        assert result.merge([b":1\r\n", b":0\r\n", b":2\r\n"]) == b":3\r\n"
        assert result.merge([b":1\r\n", b"-ERR x\r\n", b":2\r\n"]) == b"-ERR x\r\n"


def test_split_on_one_shard_is_forwarded_unchanged(planner):
    args = [b"DEL", b"{t}a", b"{t}b"]
    assert plan(planner, *args) == Forward(planner.shard_of_key(b"{t}a"), args)


def test_fan_out_dbsize_keys_flush(planner):
    dbsize = plan(planner, b"DBSIZE")
    assert [shard for shard, _ in dbsize.pieces] == [0, 1, 2]
    assert dbsize.merge([b":1\r\n", b":2\r\n", b":3\r\n"]) == b":6\r\n"
    keys = plan(planner, b"KEYS", b"*")
    merged = keys.merge([b"*1\r\n$1\r\na\r\n", b"*0\r\n", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"])
    assert merged == b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"
    flush = plan(planner, b"FLUSHALL", b"ASYNC")
    assert all(args == [b"FLUSHALL", b"ASYNC"] for _, args in flush.pieces)
    assert flush.merge([b"+OK\r\n"] * 3) == b"+OK\r\n"


def test_script_cache_commands_reach_every_shard(planner):
    load = planner.plan(spec(b"SCRIPT").subcommands["load"], [b"SCRIPT", b"LOAD", b"return 1"])
    assert [shard for shard, _ in load.pieces] == [0, 1, 2]
    sha = b"$40\r\n" + b"e" * 40 + b"\r\n"
    assert load.merge([sha] * 3) == sha
    assert load.merge([sha, b"-ERR Error compiling script\r\n", sha]).startswith(b"-ERR")
    exists = planner.plan(
        spec(b"SCRIPT").subcommands["exists"], [b"SCRIPT", b"EXISTS", b"a" * 40, b"b" * 40]
    )
    # A script exists for EVALSHA only when every shard has it.
    parts = [b"*2\r\n:1\r\n:1\r\n", b"*2\r\n:1\r\n:0\r\n", b"*2\r\n:1\r\n:1\r\n"]
    assert exists.merge(parts) == b"*2\r\n:1\r\n:0\r\n"


def test_scripts_go_to_the_shard_of_their_keys(planner):
    result = plan(planner, b"EVAL", b"return 1", b"2", b"{u}a", b"{u}b", b"arg")
    assert result.shard == planner.shard_of_key(b"{u}a")
    first, second = keys_on_distinct_shards(planner, 2)
    assert plan(planner, b"EVALSHA", b"a" * 40, b"2", first, second) == CROSSSLOT_REPLY


def test_one_shard_fan_out_is_forwarded():
    planner = Planner(EvenSlots(1))
    for args in ([b"DBSIZE"], [b"SCAN", b"0"], [b"RANDOMKEY"], [b"KEYS", b"*"]):
        assert plan(planner, *args) == Forward(0, args)


def test_scan_cursor_walks_every_shard(planner):
    first = plan(planner, b"SCAN", b"0", b"COUNT", b"5")
    assert first.pieces == [(0, [b"SCAN", b"0", b"COUNT", b"5"])]
    # Shard 0 has more: the cursor stays on shard 0.
    page = first.merge([b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n"])
    assert page == b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n"
    # Shard 0 is done: the next cursor starts shard 1.
    page = first.merge([b"*2\r\n$1\r\n0\r\n*0\r\n"])
    following = scan_cursor.compose(1, 0)
    assert page == b"*2\r\n$%d\r\n%d\r\n*0\r\n" % (len(b"%d" % following), following)
    second = plan(planner, b"SCAN", b"%d" % scan_cursor.compose(1, 42))
    assert second.pieces == [(1, [b"SCAN", b"42"])]
    last = plan(planner, b"SCAN", b"%d" % scan_cursor.compose(2, 9))
    assert last.merge([b"*2\r\n$1\r\n0\r\n*0\r\n"]) == b"*2\r\n$1\r\n0\r\n*0\r\n"
    assert plan(planner, b"SCAN", b"%d" % scan_cursor.compose(7, 0)) == b"*2\r\n$1\r\n0\r\n*0\r\n"
    # A cursor the router cannot read is left to shard 0, which replies Redis's error.
    assert plan(planner, b"SCAN", b"abc") == Forward(0, [b"SCAN", b"abc"])
    assert first.merge([b"-ERR syntax error\r\n"]) == b"-ERR syntax error\r\n"


def test_scan_cursor_arithmetic():
    assert scan_cursor.decompose(scan_cursor.compose(5, 123)) == (5, 123)
    with pytest.raises(ValueError):
        scan_cursor.compose(0, 1 << 48)
    assert scan_cursor.parse(b"18446744073709551615") == 2**64 - 1
    assert scan_cursor.parse(b"18446744073709551616") is None
    assert scan_cursor.parse(b"-1") is None
    assert scan_cursor.next_cursor(0, 0, 1) == 0


def test_randomkey_prefers_non_empty_shards(planner):
    result = plan(planner, b"RANDOMKEY")
    assert [args for _, args in result.pieces] == [[b"DBSIZE"], [b"RANDOMKEY"]] * 3
    empty = [b":0\r\n", b"$-1\r\n"]
    assert result.merge(empty * 3) == b"$-1\r\n"
    assert result.merge([*empty, b":4\r\n", b"$1\r\nk\r\n", *empty]) == b"$1\r\nk\r\n"
    picked = [
        result.merge([b":1\r\n", b"$1\r\na\r\n", b":3\r\n", b"$1\r\nb\r\n", *empty])
        for _ in range(2000)
    ]
    # Weighted by shard size: about 1 in 4 from the first shard.
    assert 300 < picked.count(b"$1\r\na\r\n") < 700
    assert picked.count(b"$1\r\nb\r\n") == 2000 - picked.count(b"$1\r\na\r\n")


def test_transaction_shard(planner):
    a, b, _ = keys_on_distinct_shards(planner, 3)
    assert planner.transaction_shard(spec(b"get"), [b"GET", a]) == planner.shard_of_key(a)
    assert planner.transaction_shard(spec(b"mget"), [b"MGET", a, b]) == CROSSSLOT_REPLY
    assert planner.transaction_shard(spec(b"dbsize"), [b"DBSIZE"]).startswith(b"-CROSSSLOT")
    assert Planner(EvenSlots(1)).transaction_shard(spec(b"dbsize"), [b"DBSIZE"]) == 0


def test_reply_splitting():
    data = b"*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n*2\r\n:1\r\n,1.5\r\n_\r\n"
    assert replies.split_array(data) == [
        b"$3\r\nabc\r\n",
        b"%1\r\n+k\r\n*2\r\n:1\r\n,1.5\r\n",
        b"_\r\n",
    ]
    assert replies.split_array(b"*-1\r\n") is None
    assert replies.split_array(b"-ERR x\r\n") is None
    assert replies.value_end(b"=8\r\ntxt:a\r\nb\r\n") == 14
    with pytest.raises(replies.MalformedReply):
        replies.split_array(b"*2\r\n$3\r\nabc\r\n")
    assert merge.sum_integers([b":2\r\n", b":3\r\n"]) == b":5\r\n"
