"""DUMP and RESTORE against redis-server 7.0: the same payload bytes for every type and
encoding (small and large collections, integer strings, long compressible strings:
LZF), Redis's payloads restored here with equal content, ours restored into Redis, and
the same errors for damaged payloads and bad options."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def _stream_op(draw_index: int, rng: random.Random, next_id: list[int]) -> list[bytes]:
    # No XTRIM MINID: Redis keeps a node whose live entries it trimmed when the node's
    # last entry was already deleted (its test reads the last entry, deleted or not),
    # the engine drops the block (test_stream_node_of_tombstones_restores).
    kind = rng.choice(["add"] * 6 + ["del", "trim", "trim~", "group", "read", "ack"])
    if kind == "add":
        next_id[0] += rng.randint(1, 3)
        fields = rng.choice([[b"a"], [b"a", b"b"], [b"c%d" % rng.randint(0, 2)]])
        items = [x for f in fields for x in (f, rng.choice(_VALUES[:6]))]
        return [b"XADD", b"xr", b"%d-%d" % (next_id[0], rng.randint(0, 2)), *items]
    if kind == "del":
        ids = [b"%d-%d" % (rng.randint(1, next_id[0] + 1), rng.randint(0, 2)) for _ in range(4)]
        return [b"XDEL", b"xr", *ids]
    if kind in ("trim", "trim~"):
        exact = b"=" if kind == "trim" else b"~"
        return [b"XTRIM", b"xr", b"MAXLEN", exact, b"%d" % rng.randint(0, 250)]
    if kind == "group":
        return [b"XGROUP", b"CREATE", b"xr", b"g%d" % rng.randint(0, 2), b"0", b"MKSTREAM"]
    if kind == "read":
        group = b"g%d" % rng.randint(0, 2)
        consumer = b"c%d" % rng.randint(0, 2)
        count = b"%d" % rng.randint(1, 30)
        return [b"XREADGROUP", b"GROUP", group, consumer, b"COUNT", count, b"STREAMS", b"xr", b">"]
    return [b"XACK", b"xr", b"g%d" % rng.randint(0, 2), b"%d-0" % rng.randint(1, next_id[0] + 1)]


def test_random_stream_histories_dump_as_redis(redis_port):
    """Random XADD/XDEL/XTRIM (exact, ~, MINID)/XGROUP/XREADGROUP/XACK histories: the
    DUMP bytes are redis-server's (times masked) and restore on both sides."""

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
            next_id = [0]
            for index in range(length):
                diff.check(_stream_op(index, rng, next_id))
            engine, redis = diff.both([b"DUMP", b"xr"])
            if redis is None:
                assert engine is None
                return
            assert _mask_stream_times(engine) == _mask_stream_times(redis)
            diff.check([b"RESTORE", b"copy", b"0", redis])
            assert _stream_content(diff, b"copy") == _stream_content(diff, b"xr")
        finally:
            diff.close()

    run()


def test_stream_node_of_tombstones_restores(diff):
    """XTRIM MINID in Redis keeps a node whose live entries it trims when the node's last
    entry was deleted before: a node of tombstones only, which RESTORE takes (the engine
    leaves the node out: same entries, one radix-tree key fewer)."""
    for index in range(1, 104):  # a full node of 100 entries, then a second node
        diff.check([b"XADD", b"xt", b"%d-0" % index, b"f", b"v"])
    diff.check([b"XDEL", b"xt", b"100-0"])
    diff.check([b"XTRIM", b"xt", b"MINID", b"100"])
    redis = diff.redis.call([b"DUMP", b"xt"])
    nodes = rdb.read_payload(redis).items.nodes
    assert [len(node.entries) for node in nodes] == [0, 3]
    diff.check([b"RESTORE", b"copy", b"0", redis])
    diff.check([b"XRANGE", b"copy", b"-", b"+"])
    diff.check([b"XLEN", b"copy"])


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
