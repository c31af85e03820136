"""SLOWLOG, LATENCY, MEMORY and INFO's per-command sections on a router over in-process
shards: what they record and how they answer. (Their reply shapes and errors against
redis-server: tests/differential/test_introspection_differential.py.)"""

from __future__ import annotations

import asyncio
import re

from router import latency
from router.metrics import CommandStats, fine_bucket
from tests.router.support import Client, context


def run(coroutine):
    return asyncio.run(coroutine)


def test_the_slowlog_records_commands_over_its_threshold_as_redis_shows_them():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        await client.call(b"CLIENT", b"SETNAME", b"me")
        assert await client.call(b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0") == b"OK"
        await client.call(b"SET", b"k", b"x" * 200)
        await client.call(b"MSET", *[b"k%d" % i for i in range(40)])
        await client.call(b"AUTH", b"secret")
        await client.call(b"HELLO", b"2", b"AUTH", b"default", b"pw", b"SETNAME", b"me")
        entries = await client.call(b"SLOWLOG", b"GET", b"-1")
        by_name = {entry[3][0].lower(): entry for entry in entries}
        set_entry = by_name[b"set"]
        assert set_entry[3] == [b"SET", b"k", b"x" * 128 + b"... (72 more bytes)"]
        assert set_entry[4].startswith(b"127.0.0.1:") and set_entry[5] == b"me"
        assert isinstance(set_entry[0], int) and isinstance(set_entry[2], int)
        mset = by_name[b"mset"][3]
        assert len(mset) == 32 and mset[-1] == b"... (10 more arguments)"
        assert by_name[b"auth"][3] == [b"AUTH", b"(redacted)"]
        assert by_name[b"hello"][3] == [
            b"HELLO",
            b"2",
            b"AUTH",
            b"(redacted)",
            b"(redacted)",
            b"SETNAME",
            b"me",
        ]
        ids = [entry[0] for entry in entries]
        assert ids == sorted(ids, reverse=True)  # newest first
        # The SLOWLOG GET before is logged too.
        assert len(await client.call(b"SLOWLOG", b"GET")) == min(10, len(entries) + 1)
        assert len(await client.call(b"SLOWLOG", b"GET", b"2")) == 2
        assert await client.call(b"SLOWLOG", b"LEN") >= len(entries)
        assert await client.call(b"SLOWLOG", b"RESET") == b"OK"
        assert await client.call(b"SLOWLOG", b"LEN") == 1  # the RESET, logged once it ran
        assert await client.call(b"CONFIG", b"SET", b"slowlog-max-len", b"2") == b"OK"
        for _ in range(5):
            await client.call(b"PING")
        assert await client.call(b"SLOWLOG", b"LEN") == 2
        assert await client.call(b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1") == b"OK"
        await client.call(b"SLOWLOG", b"RESET")
        await client.call(b"PING")
        assert await client.call(b"SLOWLOG", b"LEN") == 0

    run(scenario())


def test_blocking_commands_are_not_logged_but_exec_is():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        await client.call(b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0")
        await client.call(b"BLPOP", b"list", b"0.01")
        await client.pipeline((b"MULTI",), (b"INCR", b"n"), (b"EXEC",))
        names = [entry[3][0] for entry in await client.call(b"SLOWLOG", b"GET", b"-1")]
        assert b"BLPOP" not in names and b"EXEC" in names

    run(scenario())


def test_the_latency_monitor_keeps_one_sample_a_second_per_event():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        assert await client.call(b"LATENCY", b"LATEST") == []
        doctor = await client.call(b"LATENCY", b"DOCTOR")
        assert b"Latency monitoring is disabled" in doctor
        await client.call(b"CONFIG", b"SET", b"latency-monitor-threshold", b"100")
        state = client.session.client
        ctx.observe(["get"], [[b"GET", b"k"]], 0.25, state)
        ctx.observe(["get"], [[b"GET", b"k"]], 0.5, state)  # same second: the worst kept
        ctx.observe(["keys"], [[b"KEYS", b"*"]], 0.05, state)  # under the threshold
        ctx.observe(["keys"], [[b"KEYS", b"*"]], 0.3, state)
        latest = {entry[0]: entry for entry in await client.call(b"LATENCY", b"LATEST")}
        assert latest[b"fast-command"][2:] == [500, 500]
        assert latest[b"command"][2:] == [300, 300]
        history = await client.call(b"LATENCY", b"HISTORY", b"fast-command")
        assert len(history) == 1 and history[0][1] == 500
        assert await client.call(b"LATENCY", b"HISTORY", b"nosuch") == []
        graph = await client.call(b"LATENCY", b"GRAPH", b"command")
        assert graph.startswith(b"command - high 300 ms")
        report = await client.call(b"LATENCY", b"DOCTOR")
        assert b"1. command: 1 latency spikes" in report
        assert await client.call(b"LATENCY", b"RESET", b"command", b"nosuch") == 1
        assert await client.call(b"LATENCY", b"RESET") == 1
        assert await client.call(b"LATENCY", b"LATEST") == []

    run(scenario())


def test_latency_histogram_and_percentiles_come_from_the_command_s_histogram():
    stats = CommandStats()
    for elapsed, count in ((3e-6, 50), (40e-6, 49), (0.002, 1)):
        stats.fine[fine_bucket(elapsed)] += count
        stats.counts[0] += count
    buckets = latency.redis_buckets(stats)
    # Redis's buckets: powers of two of 1024 ns, shown as their HDR bound in µs.
    assert [bound for bound, _ in buckets] == [4, 66, 2113]
    assert [count for _, count in buckets] == [50, 99, 100]
    assert 2.9 <= latency.percentile_us(stats, 50) <= 3.5
    assert 39 <= latency.percentile_us(stats, 99) <= 45
    assert 1999 <= latency.percentile_us(stats, 99.9) <= 2300

    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        for _ in range(5):
            await client.call(b"GET", b"k")
        await client.call(b"CLIENT", b"ID")
        histogram = await client.call(b"LATENCY", b"HISTOGRAM", b"get", b"client", b"nosuch")
        names = histogram[::2]
        assert names == [b"get", b"client|id"]
        get = dict(zip(histogram[1][::2], histogram[1][1::2]))
        assert get[b"calls"] == 5
        cumulative = get[b"histogram_usec"][1::2]
        assert cumulative == sorted(cumulative) and cumulative[-1] == 5
        everything = await client.call(b"LATENCY", b"HISTOGRAM")
        assert b"get" in everything[::2] and b"latency|histogram" in everything[::2]
        info = (await client.call(b"INFO", b"latencystats")).decode()
        assert re.search(r"latency_percentiles_usec_get:p50=[\d.]+,p99=[\d.]+,p99.9=[\d.]+", info)
        await client.call(b"CONFIG", b"SET", b"latency-tracking-info-percentiles", b"25 75")
        info = (await client.call(b"INFO", b"latencystats")).decode()
        assert re.search(r"latency_percentiles_usec_get:p25=[\d.]+,p75=[\d.]+\r\n", info)
        await client.call(b"CONFIG", b"SET", b"latency-tracking", b"no")
        assert (await client.call(b"INFO", b"latencystats")).decode() == "# Latencystats\r\n"

    run(scenario())


def test_errorstats_count_error_replies_by_code():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        await client.call(b"SET", b"s", b"x")
        await client.call(b"LPUSH", b"s", b"y")  # WRONGTYPE, on the shard
        await client.call(b"NOSUCH")
        await client.call(b"INCR", b"s")
        info = (await client.call(b"INFO", b"errorstats", b"stats", b"commandstats")).decode()
        assert "errorstat_ERR:count=2\r\n" in info
        assert "errorstat_WRONGTYPE:count=1\r\n" in info
        assert "total_error_replies:3\r\n" in info
        assert re.search(r"cmdstat_lpush:calls=1,usec=\d+,usec_per_call=[\d.]+,"
                         r"rejected_calls=0,failed_calls=1", info)  # fmt: skip
        assert "cmdstat_unknown" not in info

    run(scenario())


def test_memory_commands():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)
        await client.call(b"SET", b"k", b"v" * 100)
        usage = await client.call(b"MEMORY", b"USAGE", b"k")
        assert isinstance(usage, int) and usage > 100
        assert await client.call(b"MEMORY", b"USAGE", b"k", b"SAMPLES", b"0") == usage
        assert await client.call(b"MEMORY", b"USAGE", b"missing") is None
        stats = await client.call(b"MEMORY", b"STATS")
        fields = dict(zip(stats[::2], stats[1::2]))
        # MEMORY USAGE is Redis's figure for the key; the total is the nodes' accounting.
        assert fields[b"keys.count"] == 1 and fields[b"total.allocated"] > 100
        assert (
            dict(zip(fields[b"db.0"][::2], fields[b"db.0"][1::2]))[b"overhead.hashtable.main"] == 56
        )
        assert b"nothing to diagnose" in await client.call(b"MEMORY", b"DOCTOR")
        assert await client.call(b"MEMORY", b"PURGE") == b"OK"

    run(scenario())


def test_info_all_everything_default_and_several_sections():
    async def scenario():
        ctx, _ = context()
        client = Client(ctx)

        async def sections(*args: bytes) -> list[str]:
            text = (await client.call(b"INFO", *args)).decode()
            return [line[2:] for line in text.split("\r\n") if line.startswith("# ")]

        every = [
            "Server",
            "Clients",
            "Memory",
            "Persistence",
            "Stats",
            "Replication",
            "CPU",
            "Modules",
            "Commandstats",
            "Errorstats",
            "Latencystats",
            "Cluster",
            "Keyspace",
        ]
        assert await sections(b"all") == every
        assert await sections(b"EVERYTHING") == every
        default = [s for s in every if s not in ("Commandstats", "Latencystats")]
        assert await sections() == default
        assert await sections(b"default") == default
        assert await sections(b"cpu", b"server") == ["Server", "CPU"]
        assert await sections(b"default", b"commandstats") == [
            *default[:8],
            "Commandstats",
            *default[8:],
        ]
        assert await sections(b"nosuch") == []

    run(scenario())
