"""Differential cases for the stream commands.

IDs are explicit (a small set of them, so that commands meet existing entries, the top
item and each other): `*` takes the clock, which the engine and Redis read at different
moments; tests/differential/test_streams_differential.py compares `*` IDs' shapes.

Replies that cannot be compared as they are:

- times: delivery times, seen times (XINFO STREAM FULL) and idle times (XPENDING's
  extended form, XINFO CONSUMERS) come from each side's clock: timestamps become "T",
  idle times "idle". Minimum idle times are 0 or an hour, so that which entries qualify
  does not depend on the clock (TIME sets delivery times far in the past or the future).
- XINFO STREAM's radix-tree-nodes counts Redis's radix tree nodes, which the engine does
  not have.

The blocking forms are generated only with BLOCK values Redis refuses before it could
block; the serving and blocking paths run in tests/differential/test_streams_differential.py
and tests/unit/test_streams.py.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.differential.common import CommandCase, cmd, key, small_text

stream_id = st.sampled_from([b"1-1", b"1-2", b"2-0", b"2-1", b"3", b"5-0", b"5-1", b"7-3", b"9"])
seq_star = st.sampled_from([b"1-*", b"2-*", b"5-*", b"8-*"])
bad_id = st.sampled_from(
    [b"x", b"1-x", b"-1", b"1--1", b"", b"18446744073709551616", b"1.5", b"+", b"-", b"0x1"]
)
odd_id = st.sampled_from(
    [b"0-0", b"0", b" 3", b"+3-1", b"18446744073709551615-18446744073709551615", b"0-1"]
)
add_id = st.one_of(stream_id, stream_id, seq_star, bad_id, odd_id)
range_id = st.one_of(
    stream_id,
    st.sampled_from([b"-", b"+", b"(1-1", b"(2", b"(5-1", b"(0-0", b"(-", b"(+", b"0", b"(9"]),
    bad_id,
)
field = st.sampled_from([b"f", b"g", b"", b"f2"])
pairs = st.lists(st.tuples(field, small_text), min_size=1, max_size=3).map(
    lambda ps: [part for pair in ps for part in pair]
)
threshold = st.sampled_from([b"0", b"1", b"2", b"3", b"100", b"-1", b"x"])
trim_strategy = st.one_of(
    cmd(st.sampled_from([b"MAXLEN", b"maxlen"]), st.sampled_from([[], [b"="], [b"~"]]), threshold),
    cmd(b"MINID", st.sampled_from([[], [b"="], [b"~"]]), st.one_of(stream_id, bad_id)),
)
trim_options = st.lists(
    st.one_of(
        trim_strategy,
        cmd(b"LIMIT", st.sampled_from([b"0", b"1", b"5", b"-1", b"x"])),
        st.just([b"NOMKSTREAM"]),
    ),
    max_size=2,
).map(lambda groups: [part for group in groups for part in group])
count_arg = st.sampled_from([b"0", b"1", b"2", b"5", b"-1", b"x"])
group_name = st.sampled_from([b"g1", b"g2"])
consumer = st.sampled_from([b"c1", b"c2", b"c3"])
group_id = st.one_of(stream_id, st.sampled_from([b"$", b"0", b"-", b"+"]), bad_id)
entries_read = st.sampled_from([b"0", b"1", b"3", b"-1", b"-2", b"x"])
read_id = st.one_of(stream_id, st.sampled_from([b"0", b"$", b">", b"0-0"]), bad_id)
min_idle = st.sampled_from([b"0", b"3600000", b"-5", b"x"])
bad_block = st.sampled_from([[b"BLOCK", b"-1"], [b"BLOCK", b"x"], [b"BLOCK", b"1.5"]])


def read_streams(with_ids: Any) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.tuples(key, with_ids), min_size=1, max_size=2).map(
        lambda pairs: [b"STREAMS", *[p[0] for p in pairs], *[p[1] for p in pairs]]
    )


read_options = st.lists(
    st.one_of(cmd(b"COUNT", count_arg), bad_block, st.just([b"NOACK"])), max_size=2
).map(lambda groups: [part for group in groups for part in group])
claim_options = st.lists(
    st.one_of(
        st.just([b"FORCE"]),
        st.just([b"JUSTID"]),
        cmd(b"IDLE", st.sampled_from([b"0", b"10", b"99999999999999", b"x"])),
        cmd(b"TIME", st.sampled_from([b"1000", b"99999999999999", b"-1", b"x"])),
        cmd(b"RETRYCOUNT", st.sampled_from([b"0", b"5", b"x"])),
        cmd(b"LASTID", st.one_of(stream_id, bad_id)),
        st.just([b"BOGUS"]),
    ),
    max_size=3,
).map(lambda groups: [part for group in groups for part in group])


def _is_timestamp(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 10**12


def mask_times(reply: Any) -> Any:
    """Timestamps become "T", idle times "idle", radix-tree-nodes "n" (see above)."""
    if _is_timestamp(reply):
        return "T"
    if isinstance(reply, dict):
        out = {}
        for name, value in reply.items():
            if name == b"idle":
                out[name] = "idle"
            elif name == b"radix-tree-nodes":
                out[name] = "n"
            else:
                out[name] = mask_times(value)
        return out
    if isinstance(reply, list):
        out_list: list[Any] = []
        masked_next: str | None = None
        for item in reply:
            if masked_next is not None:
                out_list.append(masked_next)
                masked_next = None
                continue
            if item == b"idle":
                masked_next = "idle"
            elif item == b"radix-tree-nodes":
                masked_next = "n"
            out_list.append(mask_times(item))
        return out_list
    return reply


def mask_pending_idle(reply: Any) -> Any:
    """XPENDING's extended form: [id, consumer, idle, deliveries] per entry."""
    if isinstance(reply, list) and all(
        isinstance(item, list) and len(item) == 4 and isinstance(item[2], int) for item in reply
    ):
        return [[item[0], item[1], "idle", item[3]] for item in reply]
    return reply


CASES = [
    CommandCase("xadd", cmd(b"XADD", key, trim_options, add_id, pairs)),
    CommandCase("xadd", cmd(b"XADD", key, add_id, pairs)),
    CommandCase("xadd", cmd(b"XADD", key, add_id, pairs)),
    CommandCase("xadd", cmd(b"XADD", key, add_id, b"f")),
    CommandCase("xadd", cmd(b"XADD", key, b"NOMKSTREAM", b"MAXLEN")),
    CommandCase("xrange", cmd(b"XRANGE", key, range_id, range_id)),
    CommandCase("xrange", cmd(b"XRANGE", key, range_id, range_id, b"COUNT", count_arg)),
    CommandCase("xrange", cmd(b"XRANGE", key, b"-", b"+", b"COUNT")),
    CommandCase("xrevrange", cmd(b"XREVRANGE", key, range_id, range_id)),
    CommandCase("xrevrange", cmd(b"XREVRANGE", key, range_id, range_id, b"COUNT", count_arg)),
    CommandCase("xlen", cmd(b"XLEN", key)),
    CommandCase(
        "xdel", cmd(b"XDEL", key, st.lists(st.one_of(stream_id, bad_id), min_size=1, max_size=3))
    ),
    CommandCase("xtrim", cmd(b"XTRIM", key, trim_options)),
    CommandCase("xtrim", cmd(b"XTRIM", key, trim_strategy)),
    # MINID at the stream's IDs: after XDEL of the last entry, a node of tombstones only.
    CommandCase("xtrim", cmd(b"XTRIM", key, b"MINID", st.sampled_from([[], [b"~"]]), stream_id)),
    CommandCase("xread", cmd(b"XREAD", read_options, read_streams(read_id))),
    CommandCase("xread", cmd(b"XREAD", b"COUNT", count_arg, b"STREAMS", key)),
    CommandCase("xread", cmd(b"XREAD", b"GROUP", group_name, consumer, b"STREAMS", key, b"0")),
    CommandCase(
        "xreadgroup",
        cmd(b"XREADGROUP", b"GROUP", group_name, consumer, read_options, read_streams(read_id)),
    ),
    CommandCase(
        "xreadgroup",
        cmd(b"XREADGROUP", b"GROUP", group_name, consumer, b"STREAMS", key, b">"),
    ),
    CommandCase("xreadgroup", cmd(b"XREADGROUP", b"COUNT", b"1", b"STREAMS", key, b">")),
    CommandCase(
        "xack", cmd(b"XACK", key, group_name, st.lists(st.one_of(stream_id, bad_id), min_size=1))
    ),
    CommandCase("xpending", cmd(b"XPENDING", key, group_name)),
    CommandCase(
        "xpending",
        cmd(
            b"XPENDING",
            key,
            group_name,
            st.sampled_from([[], [b"IDLE", b"0"], [b"IDLE", b"3600000"], [b"IDLE", b"x"]]),
            range_id,
            range_id,
            count_arg,
            st.sampled_from([[], [b"c1"], [b"c2"], [b"c9"]]),
        ),
        normalize=mask_pending_idle,
    ),
    CommandCase("xpending", cmd(b"XPENDING", key, group_name, b"-", b"+")),
    CommandCase(
        "xclaim",
        cmd(
            b"XCLAIM",
            key,
            group_name,
            consumer,
            min_idle,
            st.lists(stream_id, min_size=1, max_size=3),
            claim_options,
        ),
    ),
    CommandCase(
        "xautoclaim",
        cmd(
            b"XAUTOCLAIM",
            key,
            group_name,
            consumer,
            min_idle,
            range_id,
            st.sampled_from([[], [b"COUNT", b"1"], [b"COUNT", b"2"], [b"COUNT", b"0"], [b"BAD"]]),
            st.sampled_from([[], [b"JUSTID"]]),
        ),
    ),
    CommandCase(
        "xgroup|create",
        cmd(
            b"XGROUP",
            b"CREATE",
            key,
            group_name,
            group_id,
            st.sampled_from(
                [[], [b"MKSTREAM"], [b"ENTRIESREAD"], [b"BAD"], [b"MKSTREAM", b"MKSTREAM"]]
            ),
            st.sampled_from([[], [b"ENTRIESREAD", b"2"], [b"ENTRIESREAD", b"-2"]]),
        ),
    ),
    CommandCase("xgroup|create", cmd(b"XGROUP", b"CREATE", key, group_name, b"$", b"MKSTREAM")),
    CommandCase(
        "xgroup|setid",
        cmd(
            b"XGROUP",
            b"SETID",
            key,
            group_name,
            group_id,
            st.sampled_from([[], [b"ENTRIESREAD", b"1"], [b"BAD", b"1"], [b"ENTRIESREAD"]]),
        ),
    ),
    CommandCase(
        "xgroup|setid",
        cmd(b"XGROUP", b"SETID", key, group_name, b"0", b"ENTRIESREAD", entries_read),
    ),
    CommandCase("xgroup|destroy", cmd(b"XGROUP", b"DESTROY", key, group_name)),
    CommandCase(
        "xgroup|createconsumer", cmd(b"XGROUP", b"CREATECONSUMER", key, group_name, consumer)
    ),
    CommandCase("xgroup|delconsumer", cmd(b"XGROUP", b"DELCONSUMER", key, group_name, consumer)),
    CommandCase("xgroup|help", cmd(b"XGROUP", b"HELP")),
    CommandCase("xgroup|create", cmd(b"XGROUP", b"BOGUS", key, group_name)),
    CommandCase(
        "xsetid",
        cmd(
            b"XSETID",
            key,
            st.one_of(stream_id, bad_id, st.sampled_from([b"0-0", b"100-0"])),
            st.sampled_from(
                [
                    [],
                    [b"ENTRIESADDED", b"10"],
                    [b"ENTRIESADDED", b"0"],
                    [b"ENTRIESADDED", b"-1"],
                    [b"MAXDELETEDID", b"2-0"],
                    [b"MAXDELETEDID", b"200-0"],
                    [b"ENTRIESADDED", b"20", b"MAXDELETEDID", b"1-1"],
                    [b"BAD"],
                ]
            ),
        ),
    ),
    CommandCase(
        "xinfo|stream",
        cmd(
            b"XINFO",
            b"STREAM",
            key,
            st.sampled_from(
                [[], [b"FULL"], [b"FULL", b"COUNT", b"1"], [b"FULL", b"COUNT", b"0"], [b"X"]]
            ),
        ),
        normalize=mask_times,
    ),
    CommandCase("xinfo|groups", cmd(b"XINFO", b"GROUPS", key), normalize=mask_times),
    CommandCase(
        "xinfo|consumers", cmd(b"XINFO", b"CONSUMERS", key, group_name), normalize=mask_times
    ),
    CommandCase("xinfo|help", cmd(b"XINFO", b"HELP")),
    CommandCase("xinfo|stream", cmd(b"XINFO", b"BOGUS", key)),
    CommandCase("type", cmd(b"TYPE", key)),
    CommandCase("object", cmd(b"OBJECT", b"ENCODING", key)),
]
