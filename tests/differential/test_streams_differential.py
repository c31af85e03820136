"""Streams against redis-server, where random short sequences rarely go: `*` IDs, long
streams trimmed exactly and approximately (whole nodes), a consumer group's life (PEL,
claims of deleted entries, lag and entries-read after deletions), and every error reply,
in RESP2 and RESP3. Times are masked as in cases_streams."""

from __future__ import annotations

import re

import pytest

from tests.differential.cases_streams import mask_pending_idle, mask_times
from tests.differential.harness import Differential

_ID = re.compile(rb"[0-9]+-[0-9]+\Z")


@pytest.mark.parametrize("resp3", [False, True])
def test_auto_ids(redis_port, resp3):
    diff = Differential(redis_port, resp3=resp3)
    try:
        engine_id, redis_id = diff.both([b"XADD", b"{s}a", b"*", b"f", b"v"])
        assert _ID.match(engine_id) and _ID.match(redis_id)
        engine_id, redis_id = diff.both([b"XADD", b"{s}a", b"*", b"f", b"v"])
        assert _ID.match(engine_id) and _ID.match(redis_id)
        # A last ID ahead of the clock: `*` takes its ms and the next sequence, on both.
        diff.check([b"XADD", b"{s}a", b"99999999999999-5", b"f", b"v"])
        diff.check([b"XADD", b"{s}a", b"*", b"f", b"v"])
        diff.check([b"XADD", b"{s}a", b"99999999999999-*", b"f", b"v"])
        diff.check([b"XADD", b"{s}a", b"99999999999998-*", b"f", b"v"])
        diff.check([b"XADD", b"{s}a", b"MAXLEN", b"2", b"*", b"f", b"v"])
        diff.check([b"XLEN", b"{s}a"])
        diff.check([b"XADD", b"{s}a", b"18446744073709551615-18446744073709551614", b"f", b"v"])
        diff.check([b"XADD", b"{s}a", b"*", b"f", b"v"])
        diff.check([b"XADD", b"{s}a", b"*", b"f", b"v"])
        diff.check([b"XADD", b"{s}a", b"18446744073709551615-*", b"f", b"v"])
        diff.check([b"XINFO", b"STREAM", b"{s}a"], mask_times)
        diff.check([b"XADD", b"{s}b", b"NOMKSTREAM", b"*", b"f", b"v"])
        diff.check([b"EXISTS", b"{s}b"])
    finally:
        diff.close()


@pytest.mark.parametrize("resp3", [False, True])
def test_long_streams_trimmed(redis_port, resp3):
    diff = Differential(redis_port, resp3=resp3)
    try:
        for number in range(1, 451):
            diff.check([b"XADD", b"s", b"%d-1" % number, b"f", b"%d" % number])
        diff.check([b"XINFO", b"STREAM", b"s"], mask_times)
        diff.check([b"XDEL", b"s", b"5-1", b"150-1", b"151-1", b"999-1"])
        diff.check([b"XTRIM", b"s", b"MAXLEN", b"~", b"390"])
        diff.check([b"XTRIM", b"s", b"MAXLEN", b"~", b"250", b"LIMIT", b"100"])
        diff.check([b"XTRIM", b"s", b"MAXLEN", b"~", b"250", b"LIMIT", b"99"])
        diff.check([b"XTRIM", b"s", b"MINID", b"~", b"260-1"])
        diff.check([b"XTRIM", b"s", b"MINID", b"=", b"265-1"])
        diff.check([b"XADD", b"s", b"MAXLEN", b"~", b"100", b"451-1", b"f", b"v"])
        diff.check([b"XTRIM", b"s", b"MAXLEN", b"170"])
        diff.check([b"XINFO", b"STREAM", b"s"], mask_times)
        diff.check([b"XRANGE", b"s", b"-", b"+", b"COUNT", b"3"])
        diff.check([b"XREVRANGE", b"s", b"+", b"-", b"COUNT", b"3"])
        diff.check([b"XRANGE", b"s", b"(300-1", b"(305-1"])
        diff.check([b"XREVRANGE", b"s", b"(305", b"300"])
        diff.check([b"XRANGE", b"s", b"-", b"+"])
        diff.check([b"XREAD", b"COUNT", b"2", b"STREAMS", b"s", b"400"])
        diff.check([b"XTRIM", b"s", b"MAXLEN", b"0"])
        diff.check([b"XINFO", b"STREAM", b"s", b"FULL"], mask_times)
        diff.check([b"XADD", b"s", b"500-1", b"f", b"v"])
        diff.check([b"XINFO", b"STREAM", b"s"], mask_times)
    finally:
        diff.close()


@pytest.mark.parametrize("resp3", [False, True])
def test_consumer_group_life(redis_port, resp3):
    diff = Differential(redis_port, resp3=resp3)
    check = diff.check
    try:
        check([b"XGROUP", b"CREATE", b"s", b"g", b"$", b"MKSTREAM"])
        check([b"XINFO", b"GROUPS", b"s"], mask_times)
        for number in range(1, 11):
            check([b"XADD", b"s", b"%d-0" % number, b"f", b"v%d" % number, b"g", b"w"])
        check([b"XREADGROUP", b"GROUP", b"g", b"alice", b"COUNT", b"3", b"STREAMS", b"s", b">"])
        check([b"XREADGROUP", b"GROUP", b"g", b"bob", b"COUNT", b"2", b"STREAMS", b"s", b">"])
        check(
            [
                b"XREADGROUP",
                b"GROUP",
                b"g",
                b"bob",
                b"NOACK",
                b"COUNT",
                b"1",
                b"STREAMS",
                b"s",
                b">",
            ]
        )
        check([b"XPENDING", b"s", b"g"])
        check([b"XPENDING", b"s", b"g", b"-", b"+", b"10"], mask_pending_idle)
        check([b"XPENDING", b"s", b"g", b"-", b"+", b"10", b"bob"], mask_pending_idle)
        check([b"XPENDING", b"s", b"g", b"IDLE", b"3600000", b"-", b"+", b"10"])
        check([b"XREADGROUP", b"GROUP", b"g", b"alice", b"STREAMS", b"s", b"0"])
        check([b"XREADGROUP", b"GROUP", b"g", b"alice", b"COUNT", b"1", b"STREAMS", b"s", b"1-0"])
        check([b"XINFO", b"GROUPS", b"s"], mask_times)
        check([b"XDEL", b"s", b"2-0", b"4-0"])
        check([b"XINFO", b"GROUPS", b"s"], mask_times)
        check([b"XREADGROUP", b"GROUP", b"g", b"alice", b"STREAMS", b"s", b"0"])
        check([b"XCLAIM", b"s", b"g", b"carol", b"0", b"1-0", b"2-0", b"5-0", b"9-0"])
        check([b"XCLAIM", b"s", b"g", b"carol", b"0", b"3-0", b"JUSTID", b"RETRYCOUNT", b"7"])
        check([b"XCLAIM", b"s", b"g", b"dave", b"0", b"9-0", b"FORCE", b"TIME", b"1000"])
        check([b"XCLAIM", b"s", b"g", b"dave", b"3600000", b"1-0", b"9-0"])
        check([b"XCLAIM", b"s", b"g", b"dave", b"0", b"8-0", b"LASTID", b"9-0", b"IDLE", b"5"])
        check([b"XPENDING", b"s", b"g", b"-", b"+", b"10"], mask_pending_idle)
        check([b"XINFO", b"STREAM", b"s", b"FULL"], mask_times)
        check([b"XDEL", b"s", b"1-0", b"5-0"])
        check([b"XAUTOCLAIM", b"s", b"g", b"erin", b"0", b"0", b"COUNT", b"2"])
        check([b"XAUTOCLAIM", b"s", b"g", b"erin", b"0", b"0-0", b"COUNT", b"2", b"JUSTID"])
        check([b"XAUTOCLAIM", b"s", b"g", b"erin", b"3600000", b"(1-0"])
        check([b"XAUTOCLAIM", b"s", b"g", b"erin", b"0", b"0"])
        check([b"XACK", b"s", b"g", b"3-0", b"9-0", b"9-0", b"100-0"])
        check([b"XPENDING", b"s", b"g"])
        check([b"XINFO", b"CONSUMERS", b"s", b"g"], mask_times)
        check([b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"frank"])
        check([b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"frank"])
        check([b"XGROUP", b"DELCONSUMER", b"s", b"g", b"erin"])
        check([b"XGROUP", b"DELCONSUMER", b"s", b"g", b"nobody"])
        check([b"XGROUP", b"SETID", b"s", b"g", b"0", b"ENTRIESREAD", b"0"])
        check([b"XINFO", b"GROUPS", b"s"], mask_times)
        check([b"XREADGROUP", b"GROUP", b"g", b"frank", b"COUNT", b"4", b"STREAMS", b"s", b">"])
        check([b"XGROUP", b"CREATE", b"s", b"h", b"3-0", b"ENTRIESREAD", b"3"])
        check([b"XGROUP", b"CREATE", b"s", b"i", b"0"])
        check([b"XINFO", b"GROUPS", b"s"], mask_times)
        check([b"XSETID", b"s", b"20-0", b"ENTRIESADDED", b"30", b"MAXDELETEDID", b"15-0"])
        check([b"XINFO", b"STREAM", b"s"], mask_times)
        check([b"XINFO", b"GROUPS", b"s"], mask_times)
        check([b"XGROUP", b"DESTROY", b"s", b"h"])
        check([b"XGROUP", b"DESTROY", b"s", b"h"])
        check([b"XINFO", b"STREAM", b"s", b"FULL", b"COUNT", b"2"], mask_times)
        check([b"XREAD", b"STREAMS", b"s", b"s", b"5", b"$"])
        check([b"XREAD", b"BLOCK", b"1000", b"STREAMS", b"s", b"5"])
        check([b"XREADGROUP", b"GROUP", b"g", b"zed", b"BLOCK", b"10", b"STREAMS", b"s", b"0"])
    finally:
        diff.close()


ERRORS = [
    [b"XADD", b"s", b"0-0", b"f", b"v"],
    [b"XADD", b"s", b"1-1", b"f"],
    [b"XADD", b"s", b"MAXLEN", b"-1", b"*", b"f", b"v"],
    [b"XADD", b"s", b"MAXLEN", b"1", b"MINID", b"1", b"*", b"f", b"v"],
    [b"XADD", b"s", b"LIMIT", b"5", b"*", b"f", b"v"],
    [b"XADD", b"s", b"MAXLEN", b"1", b"LIMIT", b"5", b"*", b"f", b"v"],
    [b"XADD", b"s", b"MAXLEN", b"~", b"1", b"LIMIT", b"-5", b"*", b"f", b"v"],
    [b"XADD", b"s", b"1-1", b"f", b"v"],
    [b"XADD", b"str", b"*", b"f", b"v"],
    [b"XTRIM", b"s"],
    [b"XTRIM", b"s", b"LIMIT", b"1"],
    [b"XTRIM", b"s", b"BAD", b"1"],
    [b"XRANGE", b"s", b"(-", b"+"],
    [b"XRANGE", b"s", b"-", b"(-"],
    [b"XRANGE", b"s", b"(18446744073709551615-18446744073709551615", b"+"],
    [b"XRANGE", b"s", b"-", b"(0-0"],
    [b"XRANGE", b"s", b"-", b"+", b"COUNT"],
    [b"XRANGE", b"s", b"-", b"+", b"LIMIT", b"1"],
    [b"XREAD", b"STREAMS", b"s"],
    [b"XREAD", b"COUNT", b"1", b"s", b"0"],
    [b"XREAD", b"STREAMS", b"s", b">"],
    [b"XREAD", b"BLOCK", b"-1", b"STREAMS", b"s", b"0"],
    [b"XREAD", b"BLOCK", b"1.5", b"STREAMS", b"s", b"0"],
    [b"XREAD", b"NOACK", b"STREAMS", b"s", b"0"],
    [b"XREAD", b"GROUP", b"g", b"c", b"STREAMS", b"s", b"0"],
    [b"XREADGROUP", b"COUNT", b"1", b"STREAMS", b"s", b">"],
    [b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"s", b"$"],
    [b"XREADGROUP", b"GROUP", b"nogroup", b"c", b"STREAMS", b"s", b">"],
    [b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"missing", b">"],
    [b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"str", b">"],
    [b"XACK", b"s", b"g", b"x"],
    [b"XPENDING", b"s", b"g", b"-", b"+"],
    [b"XPENDING", b"s", b"g", b"-", b"+", b"x"],
    [b"XPENDING", b"s", b"nogroup"],
    [b"XPENDING", b"s", b"g", b"IDLE", b"x", b"-", b"+", b"1"],
    [b"XPENDING", b"s", b"g", b"IDLE", b"1", b"-", b"+"],
    [b"XCLAIM", b"s", b"nogroup", b"c", b"0", b"1-1"],
    [b"XCLAIM", b"s", b"g", b"c", b"x", b"1-1"],
    [b"XCLAIM", b"s", b"g", b"c", b"0", b"1-1", b"IDLE", b"x"],
    [b"XCLAIM", b"s", b"g", b"c", b"0", b"1-1", b"TIME", b"x"],
    [b"XCLAIM", b"s", b"g", b"c", b"0", b"1-1", b"RETRYCOUNT", b"x"],
    [b"XCLAIM", b"s", b"g", b"c", b"0", b"1-1", b"LASTID", b"x"],
    [b"XCLAIM", b"s", b"g", b"c", b"0", b"1-1", b"WHAT"],
    [b"XAUTOCLAIM", b"s", b"g", b"c", b"0", b"0", b"COUNT", b"0"],
    [b"XAUTOCLAIM", b"s", b"g", b"c", b"0", b"0", b"COUNT", b"x"],
    [b"XAUTOCLAIM", b"s", b"g", b"c", b"0", b"0", b"COUNT", b"9223372036854775807"],
    [b"XAUTOCLAIM", b"s", b"g", b"c", b"x", b"0"],
    [b"XAUTOCLAIM", b"s", b"g", b"c", b"0", b"x"],
    [b"XAUTOCLAIM", b"s", b"g", b"c", b"0", b"(18446744073709551615-18446744073709551615"],
    [b"XAUTOCLAIM", b"s", b"nogroup", b"c", b"0", b"0"],
    [b"XAUTOCLAIM", b"s", b"g", b"c", b"0", b"0", b"BAD"],
    [b"XGROUP", b"CREATE", b"s", b"g", b"0"],
    [b"XGROUP", b"CREATE", b"missing", b"g", b"0"],
    [b"XGROUP", b"CREATE", b"s", b"g2", b"x"],
    [b"XGROUP", b"CREATE", b"s", b"g2", b"0", b"ENTRIESREAD", b"-3"],
    [b"XGROUP", b"CREATE", b"s", b"g2", b"0", b"BAD"],
    [b"XGROUP", b"SETID", b"s", b"nogroup", b"0"],
    [b"XGROUP", b"SETID", b"s", b"g", b"0", b"ENTRIESREAD", b"x"],
    [b"XGROUP", b"DELCONSUMER", b"s", b"nogroup", b"c"],
    [b"XGROUP", b"CREATECONSUMER", b"missing", b"g", b"c"],
    [b"XGROUP", b"CREATE", b"str", b"g", b"0"],
    [b"XGROUP", b"NOPE", b"s", b"g"],
    [b"XGROUP", b"HELP", b"x"],
    [b"XSETID", b"s", b"0-1"],
    [b"XSETID", b"s", b"100-0", b"ENTRIESADDED", b"1"],
    [b"XSETID", b"s", b"100-0", b"ENTRIESADDED", b"-1"],
    [b"XSETID", b"s", b"100-0", b"MAXDELETEDID", b"200-0"],
    [b"XSETID", b"s", b"100-0", b"BAD"],
    [b"XSETID", b"missing", b"100-0"],
    [b"XINFO", b"STREAM", b"missing"],
    [b"XINFO", b"STREAM", b"str"],
    [b"XINFO", b"CONSUMERS", b"s", b"nogroup"],
    [b"XINFO", b"STREAM", b"s", b"FULL", b"COUNT"],
    [b"XINFO", b"STREAM", b"s", b"FULL", b"COUNT", b"x"],
    [b"XINFO", b"NOPE", b"s"],
    [b"XLEN", b"str"],
    [b"XDEL", b"s", b"1-1", b"x"],
]


@pytest.mark.parametrize("resp3", [False, True])
def test_errors(redis_port, resp3):
    diff = Differential(redis_port, resp3=resp3)
    try:
        diff.check([b"SET", b"str", b"x"])
        diff.check([b"XADD", b"s", b"5-5", b"f", b"v"])
        diff.check([b"XGROUP", b"CREATE", b"s", b"g", b"0"])
        for args in ERRORS:
            diff.check(args)
        diff.check([b"XGROUP", b"HELP"])
        diff.check([b"XINFO", b"HELP"])
    finally:
        diff.close()


@pytest.mark.parametrize("resp3", [False, True])
def test_reads_from_scripts(redis_port, resp3):
    """XREAD's reply as scripts see it (RESP2 pairs, RESP3 a map), and BLOCK refused."""
    diff = Differential(redis_port, resp3=resp3)
    try:
        diff.check([b"XADD", b"s", b"1-0", b"f", b"v"])
        diff.check([b"EVAL", b"return redis.call('XREAD', 'STREAMS', KEYS[1], '0')", b"1", b"s"])
        diff.check(
            [
                b"EVAL",
                b"redis.setresp(3); return redis.call('XREAD', 'STREAMS', KEYS[1], '0')",
                b"1",
                b"s",
            ]
        )
        diff.check(
            [
                b"EVAL",
                b"return redis.call('xread', 'BLOCK', '0', 'STREAMS', KEYS[1], '$')",
                b"1",
                b"s",
            ]
        )
    finally:
        diff.close()


@pytest.mark.parametrize("resp3", [False, True])
def test_nodes_split_where_redis_splits_them(redis_port, resp3):
    """Entries of every listpack encoding size (integers, short and long strings, other
    fields than the node's first entry): blocks end where Redis's nodes do, by bytes or by
    entries, which XINFO's radix-tree-keys and approximate trimming show."""
    diff = Differential(redis_port, resp3=resp3)
    values = [b"7", b"-3000", b"70000", b"x" * 70, b"y" * 5000, b"12345678901", b"", b"v" * 63]
    try:
        for number in range(1, 300):
            value = values[number % len(values)]
            fields = [b"f", value] if number % 3 else [b"g", value, b"h", b"%d" % number]
            diff.check([b"XADD", b"s", b"%d-%d" % (number * 1000, number % 4), *fields])
            if number % 50 == 0:
                diff.check([b"XINFO", b"STREAM", b"s"], mask_times)
        diff.check([b"XDEL", b"s", b"5000-1", b"6000-2"])
        diff.check([b"XTRIM", b"s", b"MAXLEN", b"~", b"250"])
        diff.check([b"XTRIM", b"s", b"MINID", b"~", b"100000"])
        diff.check([b"XINFO", b"STREAM", b"s"], mask_times)
        diff.check([b"XTRIM", b"s", b"MAXLEN", b"~", b"10", b"LIMIT", b"30"])
        diff.check([b"XINFO", b"STREAM", b"s"], mask_times)
    finally:
        diff.close()


@pytest.mark.parametrize(
    ("entries", "size"), [(b"3", b"4096"), (b"0", b"200"), (b"100", b"0"), (b"7", b"60")]
)
def test_node_settings(redis_port, entries, size):
    """stream-node-max-entries and -bytes, as CONFIG SET gives them to the engine."""
    diff = Differential(redis_port)
    settings = {"stream-node-max-entries": entries, "stream-node-max-bytes": size}
    try:
        for name, value in settings.items():
            diff.redis.call([b"CONFIG", b"SET", name.encode(), value])
            setattr(diff.engine.config, name.replace("-", "_"), int(value))
        for number in range(1, 60):
            diff.check([b"XADD", b"s", b"%d-0" % number, b"f", b"v" * (number % 9)])
        diff.check([b"XINFO", b"STREAM", b"s"], mask_times)
        diff.check([b"XTRIM", b"s", b"MAXLEN", b"~", b"20"])
        diff.check([b"XINFO", b"STREAM", b"s"], mask_times)
    finally:
        diff.redis.call([b"CONFIG", b"SET", b"stream-node-max-entries", b"100"])
        diff.redis.call([b"CONFIG", b"SET", b"stream-node-max-bytes", b"4096"])
        diff.close()
