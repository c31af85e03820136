"""DUMP and RESTORE against redis-server 7.0: the same payload bytes for every type and
encoding (small and large collections, integer strings, long compressible strings:
LZF), Redis's payloads restored here with equal content, ours restored into Redis, and
the same errors for damaged payloads and bad options."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.engine.config import EngineConfig
from node.engine.stream_value import StreamValue
from proto.rdb import values as rdb
from tests.differential.harness import (
    Differential,
    normalize_pairs_unordered,
    normalize_unordered,
)

# Built with the commands that give each encoding (Redis 7.0 defaults): name -> commands.
_RNG = random.Random(7)


def _word(size: int) -> bytes:
    return bytes(_RNG.choice(b"abcde") for _ in range(size))


def _fills() -> dict[bytes, list[list[bytes]]]:
    fills: dict[bytes, list[list[bytes]]] = {}
    for count in (1, 5, 200, 700):
        ints = [b"%d" % _RNG.randint(-(10**12), 10**12) for _ in range(count)]
        words = [_word(_RNG.randint(1, 30)) + b"%d" % i for i in range(count)]
        fills[b"intset%d" % count] = [[b"SADD", b"intset%d" % count, *ints]]
        fills[b"set%d" % count] = [[b"SADD", b"set%d" % count, *words]]
        fills[b"hash%d" % count] = [
            [b"HSET", b"hash%d" % count, *[x for w in words for x in (w, w[:3])]]
        ]
        fills[b"bighash%d" % count] = [
            [b"HSET", b"bighash%d" % count, b"long", b"v" * 70, *ints[:2] * 2]
        ]
        scores = [_RNG.choice([b"1", b"-2.5", b"0.1", b"1e20", b"inf", b"3"]) for _ in range(count)]
        fills[b"zset%d" % count] = [
            [
                b"ZADD",
                b"zset%d" % count,
                *[x for s, w in zip(scores, words, strict=True) for x in (s, w)],
            ]
        ]
        fills[b"bigzset%d" % count] = [[b"ZADD", b"bigzset%d" % count, b"1", b"m" * 70]]
        elements = [w * _RNG.randint(1, 3) for w in words] + ints
        fills[b"list%d" % count] = [[b"RPUSH", b"list%d" % count, *elements]]
    fills[b"lpushed"] = [[b"LPUSH", b"lpushed", b"a", b"b", b"1", b"-5"]]
    return fills


FILLS = _fills()
STRINGS = [
    b"",
    b"0",
    b"-128",
    b"32767",
    b"-2147483648",
    b"2147483648",
    b"9223372036854775807",
    b"-0",
    b"007",
    b"x" * 20,
    b"x" * 21,
    b"hello hello hello hello",
    bytes(range(256)) * 3,
    b"abc" * 5000,
]


def _content(diff: Differential, key: bytes) -> list:
    """What a key holds, read through the engine and redis alike (compared by check)."""
    reply = diff.check([b"TYPE", key])
    kind = reply.decode() if isinstance(reply, bytes) else reply
    read = {
        "string": [b"GET", key],
        "list": [b"LRANGE", key, b"0", b"-1"],
        "set": [b"SMEMBERS", key],
        "hash": [b"HGETALL", key],
        "zset": [b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"],
    }[kind]
    if kind == "set":
        return normalize_unordered(diff.check(read, normalize_unordered))
    if kind == "hash":
        return normalize_pairs_unordered(diff.check(read, normalize_pairs_unordered))
    return diff.check(read)


def _same_payload(engine: bytes, redis: bytes) -> None:
    if engine[:1] in (b"\x02", b"\x04"):  # hashtable: Redis's order is its hash table's
        ours, theirs = rdb.read_payload(engine), rdb.read_payload(redis)
        assert ours.rdb_type == theirs.rdb_type
        assert sorted(ours.items) == sorted(theirs.items)
    else:
        assert engine == redis


@pytest.fixture
def diff(redis_port):
    diff = Differential(redis_port)
    yield diff
    diff.close()


def test_dump_is_redis_payload_for_every_encoding(diff):
    for key, commands in FILLS.items():
        for args in commands:
            diff.check(args)
        diff.check([b"OBJECT", b"ENCODING", key])
        engine, redis = diff.both([b"DUMP", key])
        _same_payload(engine, redis)
    for index, value in enumerate(STRINGS):
        key = b"s%d" % index
        diff.check([b"SET", key, value])
        diff.check([b"DUMP", key])
    diff.check([b"APPEND", b"raw", b"12"])
    diff.check([b"DUMP", b"raw"])
    diff.check([b"DUMP", b"missing"])


def test_payloads_restore_both_ways(diff):
    keys = list(FILLS) + [b"s%d" % i for i in range(len(STRINGS))]
    for commands in FILLS.values():
        for args in commands:
            diff.check(args)
    for index, value in enumerate(STRINGS):
        diff.check([b"SET", b"s%d" % index, value])
    for key in keys:
        engine, redis = diff.both([b"DUMP", key])
        # Redis's payload restored here, ours restored in Redis: each side then holds both.
        assert diff.engine_call([b"RESTORE", key + b":r", b"0", redis]) == b"OK"
        assert diff.redis.call([b"RESTORE", key + b":r", b"0", redis]) == b"OK"
        assert diff.engine_call([b"RESTORE", key + b":e", b"0", engine]) == b"OK"
        assert diff.redis.call([b"RESTORE", key + b":e", b"0", engine]) == b"OK"
        for copy in (key + b":r", key + b":e"):
            assert _content(diff, copy) == _content(diff, key)
            diff.check([b"OBJECT", b"ENCODING", copy])
            engine_again, redis_again = diff.both([b"DUMP", copy])
            _same_payload(engine_again, redis_again)


def test_restore_options_and_ttl(diff):
    diff.check([b"SET", b"src", b"value"])
    payload = diff.check([b"DUMP", b"src"])
    for args in (
        [b"RESTORE", b"src", b"0", payload],
        [b"RESTORE", b"src", b"0", payload, b"REPLACE"],
        [b"RESTORE", b"t1", b"100000", payload],
        [b"RESTORE", b"t2", b"4102444800000", payload, b"ABSTTL"],
        [b"RESTORE", b"t3", b"1", payload, b"ABSTTL"],
        [b"RESTORE", b"src", b"1", payload, b"ABSTTL", b"REPLACE"],
        [b"RESTORE", b"t4", b"0", payload, b"IDLETIME", b"100"],
        [b"RESTORE", b"t5", b"0", payload, b"FREQ", b"100"],
        [b"RESTORE", b"t6", b"0", payload, b"FREQ", b"1", b"IDLETIME", b"1"],
        [b"RESTORE", b"t6", b"0", payload, b"IDLETIME", b"1", b"FREQ", b"1"],
        [b"RESTORE", b"t6", b"0", payload, b"IDLETIME", b"-1"],
        [b"RESTORE", b"t6", b"0", payload, b"FREQ", b"256"],
        [b"RESTORE", b"t6", b"0", payload, b"FREQ"],
        [b"RESTORE", b"t6", b"-5", payload],
        [b"RESTORE", b"t6", b"x", payload],
        [b"RESTORE", b"t1", b"x", payload],
        [b"RESTORE", b"t6", b"0", payload, b"FOO"],
        [b"RESTORE", b"t6", b"0", b"garbage"],
        [b"RESTORE", b"t6", b"0", payload[:-1] + b"\x00"],
    ):
        diff.check(args)
    for key in (b"src", b"t1", b"t2", b"t3", b"t4", b"t5", b"t6"):
        diff.check([b"EXISTS", key])
        diff.check([b"PTTL", key], lambda r: r if r < 1000 else "long")


def _damaged(payload: bytes, position: int, byte: int) -> bytes:
    """The payload with one byte of its value changed and its footer made right again:
    the damage gets past the CRC and reaches the decoder."""
    body = bytearray(payload[:-10])
    body[position % len(body)] = byte
    return rdb.wrap_payload(bytes(body))


@pytest.mark.parametrize("source", [b"list5", b"hash5", b"zset5", b"intset5", b"s13", b"set5"])
def test_damaged_payloads_get_redis_errors(redis_port, source):
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(position=st.integers(0, 10_000), byte=st.integers(0, 255))
    def run(position, byte):
        diff = Differential(redis_port)
        try:
            if source in (b"s13",):
                diff.check([b"SET", source, STRINGS[int(source[1:])]])
            else:
                for args in FILLS[source]:
                    diff.check(args)
            payload = diff.engine_call([b"DUMP", source])
            damaged = _damaged(payload, position, byte)
            engine, redis = diff.both([b"RESTORE", b"copy", b"0", damaged])
            if engine == redis:
                return
            # Redis 7.0 (sanitize-dump-payload no) validates listpacks and ziplists only
            # shallowly, so it takes some damage this decoder refuses; never the reverse.
            assert engine == ("error", "ERR Bad data format"), (damaged, engine, redis)
        finally:
            diff.close()

    run()


long_text = st.one_of(
    st.binary(min_size=15, max_size=400),
    st.lists(st.sampled_from([b"ab", b"abc", b"x", b"hello ", b"\x00"]), max_size=300).map(
        b"".join
    ),
    st.text("abcd", min_size=20, max_size=3000).map(str.encode),
)


def test_string_payloads_match_redis_lzf(redis_port):
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(value=long_text)
    def run(value):
        diff = Differential(redis_port)
        try:
            diff.check([b"SET", b"s", value])
            payload = diff.check([b"DUMP", b"s"])
            diff.check([b"RESTORE", b"c", b"0", payload])
            diff.check([b"GET", b"c"])
        finally:
            diff.close()

    run()


def test_older_encodings_restore_as_in_redis(diff):
    """Payloads of the types Redis 7.0 no longer writes (ziplists, zipmaps, quicklists of
    ziplists, plain types with text scores): both sides take them and hold the same."""
    from tests.support.old_rdb import old_payloads

    for name, payload in old_payloads().items():
        key = name.encode()
        assert diff.check([b"RESTORE", key, b"0", payload]) == b"OK", name
        assert _content(diff, key) is not None
        diff.check([b"OBJECT", b"ENCODING", key])
        engine, redis = diff.both([b"DUMP", key])
        if name != "list-quicklist":  # Redis keeps the two nodes; one node here
            _same_payload(engine, redis)


# ---------------------------------------------------------------------- streams

_VALUES = [b"", b"v", b"12", b"-7", b"9223372036854775807", b"x" * 70, b"y" * 5000]


def _stream_fills() -> dict[bytes, list[list[bytes]]]:
    """Streams built with explicit IDs (DUMP holds them): one node, several nodes by
    count and by bytes, master fields and others, groups with pending entries."""
    rng = random.Random(11)
    fills: dict[bytes, list[list[bytes]]] = {
        b"x1": [[b"XADD", b"x1", b"1-1", b"f", b""]],
        b"xint": [[b"XADD", b"xint", b"5-0", b"1", b"2", b"300", b"-40000"]],
    }
    for name, count, sizes in ((b"x250", 250, 3), (b"xbig", 40, 7)):
        commands = []
        for index in range(count):
            fields = [b"a", b"b"] if rng.random() < 0.6 else [b"a", b"c%d" % rng.randint(0, 3)]
            items = []
            for field_name in fields:
                items += [field_name, _VALUES[rng.randrange(sizes)]]
            commands.append([b"XADD", name, b"MAXLEN", b"1000", b"%d-*" % (1000 + index), *items])
        fills[name] = commands
    groups = [
        [b"XGROUP", b"CREATE", b"x250", b"g1", b"0"],
        [b"XGROUP", b"CREATE", b"x250", b"g0", b"$"],
        [b"XGROUP", b"CREATE", b"x250", b"g2", b"1100-0", b"ENTRIESREAD", b"30"],
        [b"XGROUP", b"CREATECONSUMER", b"x250", b"g0", b"idle"],
        [b"XREADGROUP", b"GROUP", b"g1", b"alice", b"COUNT", b"20", b"STREAMS", b"x250", b">"],
        [b"XREADGROUP", b"GROUP", b"g1", b"bob", b"COUNT", b"5", b"STREAMS", b"x250", b">"],
        [b"XREADGROUP", b"GROUP", b"g2", b"c", b"COUNT", b"3", b"STREAMS", b"x250", b">"],
        [b"XACK", b"x250", b"g1", b"1003-0", b"1004-0"],
        [b"XCLAIM", b"x250", b"g1", b"bob", b"0", b"1000-0", b"1001-0"],
        [b"XGROUP", b"SETID", b"x250", b"g0", b"1010-0"],
    ]
    fills[b"x250"] = fills[b"x250"] + groups
    fills[b"xtrim"] = [
        *[[b"XADD", b"xtrim", b"%d-0" % i, b"f", b"%d" % i] for i in range(1, 350)],
        [b"XTRIM", b"xtrim", b"MAXLEN", b"~", b"120"],
        [b"XSETID", b"xtrim", b"999-0", b"ENTRIESADDED", b"500", b"MAXDELETEDID", b"50-0"],
    ]
    fills[b"xempty"] = [
        [b"XGROUP", b"CREATE", b"xempty", b"g", b"$", b"MKSTREAM", b"ENTRIESREAD", b"0"],
        [b"XGROUP", b"CREATECONSUMER", b"xempty", b"g", b"c"],
    ]
    fills[b"xemptied"] = [  # every node gone with its last entry: no tombstones left
        [b"XADD", b"xemptied", b"3-3", b"a", b"1"],
        [b"XADD", b"xemptied", b"4-0", b"b", b"2"],
        [b"XDEL", b"xemptied", b"3-3", b"4-0"],
    ]
    return fills


STREAM_FILLS = _stream_fills()


def _mask_stream_times(payload: bytes) -> bytes:
    """The payload with its delivery and seen times zeroed (they are each side's clock)."""
    from proto.rdb.reader import Reader

    masked = bytearray(payload)
    reader = Reader(payload, 1)
    for _ in range(rdb.read_count(reader)):
        rdb.read_string(reader)
        rdb.read_string(reader)
    for _ in range(8):  # length, last ID, first ID, max deleted ID, entries added
        rdb.read_count(reader)
    for _ in range(rdb.read_count(reader)):
        rdb.read_string(reader)
        for _ in range(3):  # last ID, entries read
            rdb.read_count(reader)
        for _ in range(rdb.read_count(reader)):
            reader.take(16)
            masked[reader.pos : reader.pos + 8] = bytes(8)
            reader.take(8)
            rdb.read_count(reader)
        for _ in range(rdb.read_count(reader)):
            rdb.read_string(reader)
            masked[reader.pos : reader.pos + 8] = bytes(8)
            reader.take(8)
            reader.take(16 * rdb.read_count(reader))
    return bytes(masked[: reader.pos])


def _stream_content(diff: Differential, key: bytes) -> list:
    """XRANGE and XINFO STREAM FULL through both sides: delivery and seen times masked
    (each side's clock), and radix-tree-nodes (the engine's is an estimate)."""

    def no_times(reply):
        if isinstance(reply, list):
            out = []
            for index, item in enumerate(reply):
                if index and reply[index - 1] in (b"seen-time", b"radix-tree-nodes"):
                    out.append("time")
                else:
                    out.append(no_times(item))
            return out
        return reply

    def no_pel_times(reply):
        reply = no_times(reply)

        # PEL entries: [id, consumer?, delivery time, count]; the time is a clock.
        def walk(value):
            if isinstance(value, list):
                if (
                    len(value) in (3, 4)
                    and isinstance(value[0], bytes)
                    and b"-" in value[0]
                    and isinstance(value[-2], int)
                    and isinstance(value[-1], int)
                ):
                    return [*value[:-2], "time", value[-1]]
                return [walk(item) for item in value]
            return value

        return walk(reply)

    return [
        diff.check([b"XRANGE", key, b"-", b"+"]),
        no_pel_times(diff.check([b"XINFO", b"STREAM", key, b"FULL"], no_pel_times)),
    ]


@pytest.mark.parametrize("key", list(STREAM_FILLS))
def test_stream_dump_is_redis_payload(diff, key):
    for args in STREAM_FILLS[key]:
        diff.check(args)
    engine, redis = diff.both([b"DUMP", key])
    assert engine[:1] == redis[:1] == b"\x13"
    assert _mask_stream_times(engine) == _mask_stream_times(redis)
    assert engine[-10:-8] == redis[-10:-8]


@pytest.mark.parametrize("key", list(STREAM_FILLS))
def test_stream_payloads_restore_both_ways(diff, key):
    for args in STREAM_FILLS[key]:
        diff.check(args)
    engine, redis = diff.both([b"DUMP", key])
    assert diff.engine_call([b"RESTORE", b"r", b"0", redis]) == b"OK"
    assert diff.redis.call([b"RESTORE", b"r", b"0", redis]) == b"OK"
    assert diff.engine_call([b"RESTORE", b"e", b"0", engine]) == b"OK"
    assert diff.redis.call([b"RESTORE", b"e", b"0", engine]) == b"OK"
    for copy in (b"r", b"e"):
        assert _stream_content(diff, copy) == _stream_content(diff, key)
        engine_again, redis_again = diff.both([b"DUMP", copy])
        assert _mask_stream_times(engine_again) == _mask_stream_times(redis_again)
    # The copies go on as the original does: new entries land in the same nodes.
    for copy in (b"r", b"e", key):
        diff.check([b"XADD", copy, b"*", b"a", b"1"], lambda reply: "id")
        diff.check([b"XINFO", b"STREAM", copy], lambda reply: reply[:4])


def test_stream_with_deletions_dumps_its_tombstones(diff):
    """XDEL and exact trims leave tombstones in Redis's nodes: the engine keeps them, so
    the payloads are the same, and restore to the same content and node layout."""
    for index in range(1, 260):
        diff.check([b"XADD", b"xd", b"%d-1" % index, b"f", b"%d" % index, b"g", b"v"])
    diff.check([b"XDEL", b"xd", *[b"%d-1" % i for i in range(1, 260, 3)]])
    diff.check([b"XTRIM", b"xd", b"MAXLEN", b"200"])
    diff.check([b"XGROUP", b"CREATE", b"xd", b"g", b"0"])
    diff.check([b"XREADGROUP", b"GROUP", b"g", b"c", b"COUNT", b"9", b"STREAMS", b"xd", b">"])
    engine, redis = diff.both([b"DUMP", b"xd"])
    assert _mask_stream_times(engine) == _mask_stream_times(redis)
    for payload in (engine, redis):
        diff.check([b"RESTORE", b"copy", b"0", payload, b"REPLACE"])
        assert _stream_content(diff, b"copy") == _stream_content(diff, b"xd")
        # Nodes keep their size and deleted count: new entries start nodes where Redis's do.
        for index in range(300, 420):
            diff.check([b"XADD", b"copy", b"%d-0" % index, b"f", b"v"])
            diff.check([b"XINFO", b"STREAM", b"copy"], lambda reply: reply[:4])
        diff.check([b"XDEL", b"copy", b"301-0", b"350-0", b"2-1"])
        engine_again, redis_again = diff.both([b"DUMP", b"copy"])
        assert _mask_stream_times(engine_again) == _mask_stream_times(redis_again)


def test_damaged_stream_payloads_get_redis_errors(redis_port):
    """A stream payload (nodes, a group with pending entries and consumers) with one
    byte changed: "Bad data format" where Redis says so, never an internal error. Redis
    checks with sanitize-dump-payload yes: without it, some damaged streams crash it."""

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(position=st.integers(0, 10_000), byte=st.integers(0, 255))
    def run(position, byte):
        diff = Differential(redis_port)
        try:
            for index in range(1, 8):
                diff.check([b"XADD", b"xs", b"%d-0" % index, b"f", b"v%d" % index])
            diff.check([b"XADD", b"xs", b"9-0", b"other", b"12", b"x", b""])
            diff.check([b"XGROUP", b"CREATE", b"xs", b"g", b"0"])
            diff.check(
                [b"XREADGROUP", b"GROUP", b"g", b"c", b"COUNT", b"3", b"STREAMS", b"xs", b">"]
            )
            diff.redis.call([b"CONFIG", b"SET", b"sanitize-dump-payload", b"yes"])
            payload = diff.engine_call([b"DUMP", b"xs"])
            damaged = _damaged(payload, position, byte)
            engine, redis = diff.both([b"RESTORE", b"copy", b"0", damaged])
            if engine == redis:
                return
            # Redis 7.0 (sanitize-dump-payload no) checks a stream's listpacks and PEL
            # shallowly, so it takes some damage this decoder refuses; never the reverse.
            assert engine == ("error", "ERR Bad data format"), (damaged, engine, redis)
        finally:
            diff.redis.call([b"CONFIG", b"SET", b"sanitize-dump-payload", b"no"])
            diff.close()

    run()


def _trim_args(rng: random.Random, ids: list[int]) -> list[bytes]:
    """A trim strategy as XTRIM and XADD take it: MAXLEN or MINID, exact or `~` (with or
    without LIMIT). `ids`: the last ms added, and a guess at the head's (where trims act),
    which MINID thresholds are drawn just above and move on."""
    if rng.random() < 0.4:
        args = [b"MAXLEN", rng.choice([b"=", b"~"]), b"%d" % rng.randint(0, 250)]
    else:
        ids[1] = min(ids[1] + rng.randint(0, 6), ids[0] + 1)
        args = [b"MINID", rng.choice([b"=", b"~"]), b"%d-%d" % (ids[1], rng.randint(0, 2))]
    if args[1] == b"~" and rng.random() < 0.4:
        args += [b"LIMIT", b"%d" % rng.choice([0, 1, 3, rng.randint(1, 150)])]
    elif args[1] == b"=" and rng.random() < 0.5:
        del args[1]  # exact is the default
    return args


def _stream_op(rng: random.Random, ids: list[int]) -> list[bytes]:
    """One command of a random history of key xr; `ids` as _trim_args keeps it. Half the
    XDELs fall near the head, so that nodes whose last entry is deleted meet MINID trims:
    Redis keeps such a node, of tombstones only, when an exact trim takes its live
    entries, and so does the engine (test_stream_node_of_tombstones_dumps_as_redis)."""
    kind = rng.choice(["add"] * 6 + ["del", "del", "trim", "trim", "addtrim"] + ["group"])
    kind = rng.choice([kind, kind, "read", "ack"]) if kind == "group" else kind
    if kind in ("add", "addtrim"):
        ids[0] += rng.randint(1, 3)
        fields = rng.choice([[b"a"], [b"a", b"b"], [b"c%d" % rng.randint(0, 2)]])
        items = [x for f in fields for x in (f, rng.choice(_VALUES[:6]))]
        trim = _trim_args(rng, ids) if kind == "addtrim" else []
        return [b"XADD", b"xr", *trim, b"%d-%d" % (ids[0], rng.randint(0, 2)), *items]
    if kind == "del":
        low = ids[1] if rng.random() < 0.5 else 1
        ms = [rng.randint(low, max(low, min(low + 12, ids[0] + 1))) for _ in range(4)]
        return [b"XDEL", b"xr", *[b"%d-%d" % (m, rng.randint(0, 2)) for m in ms]]
    if kind == "trim":
        return [b"XTRIM", b"xr", *_trim_args(rng, ids)]
    if kind == "group":
        return [b"XGROUP", b"CREATE", b"xr", b"g%d" % rng.randint(0, 2), b"0", b"MKSTREAM"]
    if kind == "read":
        group = b"g%d" % rng.randint(0, 2)
        consumer = b"c%d" % rng.randint(0, 2)
        count = b"%d" % rng.randint(1, 30)
        return [b"XREADGROUP", b"GROUP", group, consumer, b"COUNT", count, b"STREAMS", b"xr", b">"]
    return [b"XACK", b"xr", b"g%d" % rng.randint(0, 2), b"%d-0" % rng.randint(1, ids[0] + 1)]


def _set_node_entries(diff: Differential, entries: int) -> None:
    """stream-node-max-entries on both sides (CONFIG SET's effect on the engine)."""
    diff.redis.call([b"CONFIG", b"SET", b"stream-node-max-entries", b"%d" % entries])
    diff.engine.config.stream_node_max_entries = entries


def _without_rax_nodes(reply: object) -> object:
    """XINFO STREAM's reply without radix-tree-nodes (the engine's is an estimate); any
    other reply as it is."""
    if isinstance(reply, list) and b"radix-tree-nodes" in reply:
        index = reply.index(b"radix-tree-nodes")
        return reply[:index] + reply[index + 2 :]
    return reply


def _last_ms(diff: Differential, key: bytes) -> int:
    """The ms part of the stream's last generated ID (Redis's, the engine's is checked)."""
    info = diff.check([b"XINFO", b"STREAM", key], _without_rax_nodes)
    return int(info[info.index(b"last-generated-id") + 1].split(b"-")[0])


def _dumps_as_redis(diff: Differential, key: bytes) -> tuple[bytes, bytes]:
    engine, redis = diff.both([b"DUMP", key])
    assert engine[:1] == redis[:1] == b"\x13"
    assert _mask_stream_times(engine) == _mask_stream_times(redis)
    return engine, redis


def _engine_stream_holds(diff: Differential, key: bytes) -> None:
    """The engine's stream rebuilds from its snapshot pieces (blocks of tombstones only
    included) with the same pieces and size, and its accounted size is its size."""
    value = diff.engine.db.data[key]
    rebuilt = StreamValue.from_snapshot_items(EngineConfig(), value.snapshot_items())
    assert rebuilt.snapshot_items() == value.snapshot_items()
    assert rebuilt.mem == value.mem == value.accounted


def _copies_go_on_as_redis(diff: Differential, key: bytes, rng: random.Random) -> None:
    """The stream dumps as redis-server's; both payloads, restored on both sides, and a
    COPY hold the same entries, groups and nodes (XINFO's radix-tree-keys) and dump the
    same; and the copies and the original take new entries and trims alike."""
    engine, redis = _dumps_as_redis(diff, key)
    _engine_stream_holds(diff, key)
    copies = []
    for suffix, payload in ((b":r", redis), (b":e", engine), (b":c", None)):
        copy = key + suffix
        if payload is None:
            diff.check([b"COPY", key, copy, b"REPLACE"])
        else:
            diff.check([b"RESTORE", copy, b"0", payload, b"REPLACE"])
        assert _stream_content(diff, copy) == _stream_content(diff, key)
        _dumps_as_redis(diff, copy)
        copies.append(copy)
    last = _last_ms(diff, key)
    steps = [[b"XADD", b"%d-%d" % (last + n, n % 2), b"f", b"%d" % n] for n in range(1, 8)]
    head = [last + 3, last - 2]
    steps.insert(rng.randint(0, len(steps)), [b"XTRIM", *_trim_args(rng, head)])
    steps.append([b"XDEL", b"%d-1" % (last + 7)])
    for copy in (*copies, key):
        for name, *rest in steps:
            diff.check([name, copy, *rest])
        assert _stream_content(diff, copy) == _stream_content(diff, copies[0])
        _dumps_as_redis(diff, copy)
        _engine_stream_holds(diff, copy)


@pytest.mark.parametrize("node_entries", [100, 4])
def test_random_stream_histories_dump_as_redis(redis_port, node_entries):
    """Random XADD (with and without its trim)/XDEL/XTRIM (MAXLEN and MINID, exact and ~,
    LIMIT)/XGROUP/XREADGROUP/XACK histories, on Redis's default nodes and on nodes of 4
    entries (where a node's last entry is often deleted before a trim reaches it): the
    DUMP bytes are redis-server's (times masked), and the payloads restore on both sides
    and go on as the original."""

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(seed=st.integers(0, 2**32), length=st.integers(1, 400))
    def run(seed, length):
        rng = random.Random(seed)
        diff = Differential(redis_port)
        try:
            _set_node_entries(diff, node_entries)
            ids = [0, 0]
            for _ in range(length):
                args = _stream_op(rng, ids)
                diff.check(args)
                # After each trim too: a node of tombstones only may not last to the end.
                if (b"MINID" in args or b"MAXLEN" in args) and diff.check([b"EXISTS", b"xr"]):
                    _dumps_as_redis(diff, b"xr")
            engine, redis = diff.both([b"DUMP", b"xr"])
            if redis is None:
                assert engine is None
                return
            _copies_go_on_as_redis(diff, b"xr", rng)
        finally:
            _set_node_entries(diff, 100)
            diff.close()

    run()


def _fill(diff: Differential, key: bytes, first: int, last: int) -> None:
    for index in range(first, last + 1):
        diff.check([b"XADD", key, b"%d-0" % index, b"f", b"v%d" % index])


# Histories that leave a node of tombstones only in Redis 7.0 (streamTrim reads a node's
# last entry, deleted or not, to decide whether the whole node goes; when it does not go,
# an exact trim flags the live entries below the minimum ID, maybe all of them), and the
# node layout Redis then dumps: live entries per node.
_TOMBSTONE_NODES = {
    # A full node whose last entry was deleted, trimmed up to it: [0, 3], not [3].
    "exact-minid": (
        [[b"XDEL", b"xt", b"100-0"], [b"XTRIM", b"xt", b"MINID", b"100"]],
        [0, 3],
    ),
    # `~` removes whole nodes only: this one's last entry is not below 100, so it stays.
    "approx-minid": (
        [[b"XDEL", b"xt", b"100-0"], [b"XTRIM", b"xt", b"MINID", b"~", b"100"]],
        [99, 3],
    ),
    # LIMIT counts a node's live entries only (98 here, of its 100).
    "approx-minid-limit": (
        [
            [b"XDEL", b"xt", b"99-0", b"100-0"],
            [b"XTRIM", b"xt", b"MINID", b"~", b"100", b"LIMIT", b"200"],
            [b"XTRIM", b"xt", b"MINID", b"~", b"102", b"LIMIT", b"97"],
            [b"XTRIM", b"xt", b"MINID", b"~", b"102", b"LIMIT", b"98"],
        ],
        [3],
    ),
    # Above the tombstone, the node goes whole (its 99 live entries count as deleted).
    "minid-past-the-tombstone": (
        [[b"XDEL", b"xt", b"100-0"], [b"XTRIM", b"xt", b"MINID", b"101"]],
        [3],
    ),
    # XADD's trim is the same streamTrim, run after the new entry is in.
    "xadd-minid": (
        [[b"XDEL", b"xt", b"100-0"], [b"XADD", b"xt", b"MINID", b"100", b"104-0", b"f", b"v"]],
        [0, 4],
    ),
    # The last node of tombstones only: XADD appends to it (its entries, live and
    # deleted, are below stream-node-max-entries), and the stream is empty meanwhile.
    "only-node": (
        [
            [b"XDEL", b"xt", b"103-0"],
            [b"XTRIM", b"xt", b"MINID", b"103"],
            [b"XLEN", b"xt"],
            [b"XRANGE", b"xt", b"-", b"+"],
            [b"XREVRANGE", b"xt", b"+", b"-"],
            [b"XADD", b"xt", b"200-0", b"g", b"w"],
        ],
        [1],
    ),
    # A node of tombstones at the head: the next trims step over it or remove it (0
    # entries deleted for it), MAXLEN whole or exact alike.
    "maxlen-after": (
        [
            [b"XDEL", b"xt", b"100-0"],
            [b"XTRIM", b"xt", b"MINID", b"100"],
            [b"XTRIM", b"xt", b"MAXLEN", b"3"],
            [b"XTRIM", b"xt", b"MAXLEN", b"~", b"2"],
            [b"XTRIM", b"xt", b"MAXLEN", b"2"],
        ],
        [2],
    ),
    "minid-again": (
        [
            [b"XDEL", b"xt", b"100-0"],
            [b"XTRIM", b"xt", b"MINID", b"100"],
            [b"XTRIM", b"xt", b"MINID", b"~", b"100"],
            [b"XTRIM", b"xt", b"MINID", b"99"],
            [b"XTRIM", b"xt", b"MINID", b"102"],
        ],
        [2],
    ),
    # An emptied stream keeps its node of tombstones (XTRIM does not delete the key).
    "emptied": (
        [
            [b"XDEL", b"xt", b"103-0"],
            [b"XTRIM", b"xt", b"MINID", b"103"],
            [b"XTRIM", b"xt", b"MAXLEN", b"0"],
            [b"XTRIM", b"xt", b"MINID", b"50"],
        ],
        [0],
    ),
}


@pytest.mark.parametrize("case", list(_TOMBSTONE_NODES))
def test_stream_node_of_tombstones_dumps_as_redis(diff, case):
    """XTRIM MINID keeps a node whose live entries it trims when the node's last entry was
    deleted before: the engine keeps the same node of tombstones only, so the trims answer
    as Redis's, XINFO counts the same nodes, DUMP writes the same bytes, and both sides'
    payloads restore to the same stream, which goes on as the original."""
    ops, layout = _TOMBSTONE_NODES[case]
    _fill(diff, b"xt", 1, 103)  # a full node of 100 entries, then a second node
    diff.check([b"XGROUP", b"CREATE", b"xt", b"g", b"0"])
    diff.check([b"XREADGROUP", b"GROUP", b"g", b"c", b"COUNT", b"5", b"STREAMS", b"xt", b">"])
    for args in ops:
        diff.check(args)
    nodes = rdb.read_payload(diff.redis.call([b"DUMP", b"xt"])).items.nodes
    assert [len(node.entries) for node in nodes] == layout
    assert _stream_content(diff, b"xt")
    for args in (
        [b"XINFO", b"STREAM", b"xt"],
        [b"XINFO", b"GROUPS", b"xt"],
        [b"XPENDING", b"xt", b"g"],
        [b"XAUTOCLAIM", b"xt", b"g", b"c", b"0", b"0"],
        [b"XSETID", b"xt", b"103-0"],
        [b"XSETID", b"xt", b"500-0"],
    ):
        diff.check(args, _without_rax_nodes)
    _copies_go_on_as_redis(diff, b"xt", random.Random(case))


def test_streams_of_small_nodes_keep_their_tombstone_nodes(diff):
    """Nodes of 4 entries, their last entries deleted, trimmed by MINID in steps, exact and
    approximate, some through XADD: Redis's nodes of tombstones only, node for node."""
    _set_node_entries(diff, 4)
    try:
        _fill(diff, b"xs", 1, 40)
        diff.check([b"XDEL", b"xs", *[b"%d-0" % i for i in range(4, 41, 4)]])
        for threshold in (3, 4, 6, 8, 9, 13, 15, 16):
            diff.check([b"XTRIM", b"xs", b"MINID", b"%d" % threshold])
            diff.check([b"XTRIM", b"xs", b"MINID", b"~", b"%d" % (threshold + 4)])
            _dumps_as_redis(diff, b"xs")
        diff.check([b"XADD", b"xs", b"MINID", b"~", b"25", b"41-0", b"f", b"v"])
        diff.check([b"XADD", b"xs", b"MINID", b"27", b"42-0", b"f", b"v"])
        diff.check([b"XTRIM", b"xs", b"MAXLEN", b"~", b"5", b"LIMIT", b"4"])
        _copies_go_on_as_redis(diff, b"xs", random.Random(3))
    finally:
        _set_node_entries(diff, 100)


def _list_op(rng: random.Random) -> list[bytes]:
    kind = rng.choice(["lpush"] * 4 + ["rpush"] * 3 + ["lpop", "rpop", "trim", "lmove"])
    if kind in ("lpush", "rpush"):
        elements = [
            rng.choice([b"%d" % rng.randint(-(10**6), 10**6), b"e" * rng.randint(1, 90)])
            for _ in range(rng.randint(1, 40))
        ]
        return [kind.upper().encode(), b"ql", *elements]
    if kind in ("lpop", "rpop"):
        return [kind.upper().encode(), b"ql", b"%d" % rng.randint(1, 30)]
    if kind == "lmove":
        ends = [rng.choice([b"LEFT", b"RIGHT"]) for _ in range(2)]
        return [b"LMOVE", b"ql", b"ql", *ends]
    start = rng.randint(0, 20)
    return [b"LTRIM", b"ql", b"%d" % start, b"%d" % -rng.randint(1, 20)]


def test_lists_of_pushes_and_pops_dump_redis_nodes(redis_port):
    """Lists of several quicklist nodes built by LPUSH and RPUSH and shortened by pops and
    LTRIM: Redis's node boundaries, hence its DUMP bytes (COPY keeps them)."""

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(seed=st.integers(0, 2**32), length=st.integers(1, 60))
    def run(seed, length):
        rng = random.Random(seed)
        diff = Differential(redis_port)
        try:
            for _ in range(length):
                diff.check(_list_op(rng))
            diff.check([b"DUMP", b"ql"])
            diff.check([b"COPY", b"ql", b"qcopy", b"REPLACE"])
            diff.check([b"DUMP", b"qcopy"])
        finally:
            diff.close()

    run()


def test_restored_quicklists_keep_their_nodes(diff):
    """RESTORE of a quicklist keeps its nodes, as Redis loads them: an LPUSHed list's
    payload restored on both sides dumps the same, and goes on filling the same nodes."""
    elements = [b"item %d" % index for index in range(3000)]
    diff.redis.call([b"LPUSH", b"source", *elements])
    diff.redis.call([b"RPOP", b"source", b"7"])
    payload = diff.redis.call([b"DUMP", b"source"])
    diff.check([b"RESTORE", b"copy", b"0", payload])
    diff.check([b"DUMP", b"copy"])
    diff.check([b"LPUSH", b"copy", *elements[:900]])
    diff.check([b"RPUSH", b"copy", *elements[:900]])
    diff.check([b"DUMP", b"copy"])
