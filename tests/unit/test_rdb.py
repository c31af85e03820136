"""The RDB codec (proto/rdb) and the engine's DUMP, RESTORE and SORT beyond what the
differential tests reach: round trips of every primitive, older formats, corrupt
payloads that must only ever give Redis's errors (never an exception, never unbounded
work), the work bounds, and whole .rdb files."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from proto.rdb import intset, listpack, lzf, rdbfile, stream, values
from proto.rdb.crc64 import crc64, crc64_reference
from proto.rdb.reader import FormatError
from proto.resp import Error
from tests.support.old_rdb import old_payloads


def run(engine: Engine, *args: bytes) -> object:
    return engine.execute(list(args), 1_000_000, random.Random(0))


def test_crc64_is_redis_jones_crc():
    # crc64.c's own test vector.
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert crc64(b"456789", crc64(b"123")) == 0xE9C6D914C4B8D9CA


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.lists(st.sampled_from([b"ab", b"abc", b"\x00", b"xyz" * 9]), max_size=200).map(b"".join),
    ),
    st.integers(-5, 5),
)
def test_lzf_round_trips_and_respects_the_output_bound(data, slack):
    out_len = max(len(data) + slack, 0)
    packed = lzf.compress(data, out_len)
    if packed is not None:
        assert len(packed) <= out_len
        assert lzf.decompress(packed, len(data)) == data


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(min_size=21, max_size=400),
        st.lists(st.sampled_from([b"ab", b"abc", b"\x00", b"q", b"xyz" * 9]), max_size=120).map(
            b"".join
        ),
    ),
    st.integers(-12, 2),
)
def test_liblzf_gives_the_bytes_of_redis_steps_near_the_output_bound(data, slack):
    # compress_reference follows lzf_c.c step by step (checked against redis-server's
    # DUMP in tests/differential); liblzf must agree, refusals at the bound included.
    out_len = max(len(data) - 4 + slack, 0)
    assert lzf.compress(data, out_len) == lzf.compress_reference(data, out_len)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 400))
def test_liblzf_decompress_accepts_and_refuses_as_the_reference(packed, length):
    def outcome(decompress):
        try:
            return decompress(packed, length)
        except lzf.LzfError:
            return "refused"

    assert outcome(lzf.decompress) == outcome(lzf.decompress_reference)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.integers(0, 2**64 - 1))
def test_crc64_matches_the_table_loop(data, start):
    assert crc64(data, start) == crc64_reference(data, start)


def test_lzf_refuses_bad_input():
    packed = lzf.compress(b"abc" * 50, 200)
    assert packed is not None
    with pytest.raises(lzf.LzfError):
        lzf.decompress(packed, 149)  # announced length wrong
    with pytest.raises(lzf.LzfError):
        lzf.decompress(b"\x20\x05", 10)  # a reference before the start
    with pytest.raises(lzf.LzfError):
        lzf.decompress(b"\x05ab", 6)  # a literal run past the end


@pytest.mark.parametrize(
    "element",
    [b"", b"a" * 63, b"a" * 64, b"a" * 4095, b"a" * 4096, b"0", b"127", b"128", b"-4096",
     b"4095", b"-32768", b"32767", b"8388607", b"-8388608", b"2147483647", b"-2147483648",
     b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808", b"-0", b"01"],
)  # fmt: skip
def test_listpack_round_trips_every_entry_kind(element):
    blob = listpack.encode([element, b"after"])
    assert listpack.decode(blob) == [element, b"after"]


def test_listpack_refuses_damage():
    blob = bytearray(listpack.encode([b"abc", b"12345"]))
    for position in range(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 0xFF
        try:
            decoded = listpack.decode(bytes(damaged))
        except FormatError:
            continue
        assert all(isinstance(element, bytes) for element in decoded)


@pytest.mark.parametrize("values_", [[1, -2, 3], [1, 70000], [-(2**40), 5], []])
def test_intset_round_trips_at_the_narrowest_width(values_):
    blob = intset.encode(values_)
    assert intset.decode(blob) == sorted(values_)
    width = struct.unpack_from("<I", blob)[0]
    assert width == (8 if any(abs(v) >= 2**31 for v in values_) else 4 if any(
        abs(v) >= 2**15 for v in values_) else 2)  # fmt: skip


def test_intset_refuses_disorder_and_bad_sizes():
    with pytest.raises(FormatError):
        intset.decode(struct.pack("<IIhh", 2, 2, 5, 1))
    with pytest.raises(FormatError):
        intset.decode(struct.pack("<IIh", 2, 2, 5))
    with pytest.raises(FormatError):
        intset.decode(struct.pack("<IIh", 3, 1, 5))


def test_older_types_restore_with_their_content():
    engine = Engine(EngineConfig())
    for name, payload in old_payloads().items():
        assert run(engine, b"RESTORE", name.encode(), b"0", payload) == b"OK", name
    assert run(engine, b"LRANGE", b"list-ziplist", b"0", b"-1") == [
        b"a", b"3", b"-100", b"1000", b"100000", b"%d" % 2**40, b"x" * 300, b"tail"
    ]  # fmt: skip
    assert run(engine, b"LLEN", b"list-quicklist") == 10
    assert run(engine, b"ZSCORE", b"zset", b"b") == float("inf")
    assert run(engine, b"ZSCORE", b"zset-ziplist", b"b") == 2.5
    assert run(engine, b"HGET", b"hash-zipmap", b"long") == b"y" * 300
    assert run(engine, b"HGET", b"hash-ziplist", b"big") == b"%d" % 2**33
    assert run(engine, b"SCARD", b"set") == 7


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(values.VALUE_TYPES | {15, 6, 7, 8, 19, 200})),
    st.binary(max_size=80),
)
def test_any_payload_with_a_good_crc_gives_ok_or_bad_data_format(rdb_type, body):
    engine = Engine(EngineConfig())
    payload = values.wrap_payload(bytes((rdb_type,)) + body)
    reply = run(engine, b"RESTORE", b"k", b"0", payload, b"REPLACE")
    assert reply == b"OK" or reply == Error(b"ERR Bad data format")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_damaged_real_payloads_give_ok_or_bad_data_format(data):
    engine = Engine(EngineConfig())
    run(engine, b"RPUSH", b"l", b"a", b"1", b"x" * 40)
    run(engine, b"HSET", b"h", b"f", b"v" * 30, b"n", b"7")
    run(engine, b"ZADD", b"z", b"1.5", b"m", b"-3", b"n")
    run(engine, b"SADD", b"s", b"5", b"-9")
    key = data.draw(st.sampled_from([b"l", b"h", b"z", b"s"]))
    dumped = run(engine, b"DUMP", key)
    assert isinstance(dumped, bytes)
    payload = bytearray(dumped)
    body = payload[:-10]
    position = data.draw(st.integers(0, len(body) - 1))
    body[position] = data.draw(st.integers(0, 255))
    reply = run(engine, b"RESTORE", b"c", b"0", values.wrap_payload(bytes(body)), b"REPLACE")
    assert reply == b"OK" or reply == Error(b"ERR Bad data format")


def test_a_huge_announced_count_is_refused_before_allocating():
    body = bytes((values.TYPE_LIST,)) + values.encode_length(2**40) + b"\x01a"
    engine = Engine(EngineConfig())
    reply = run(engine, b"RESTORE", b"k", b"0", values.wrap_payload(body))
    assert reply == Error(b"ERR Bad data format")
    lzf_body = b"\x00\xc3" + values.encode_length(3) + values.encode_length(2**31) + b"\x00ab"
    assert run(engine, b"RESTORE", b"k", b"0", values.wrap_payload(lzf_body)) == Error(
        b"ERR Bad data format"
    )


def test_dump_and_restore_work_is_bounded_and_refusals_change_nothing():
    engine = Engine(EngineConfig(max_command_work=20_000))
    big = b"abc" * 2_000_000
    run(engine, b"SET", b"big", big)
    refused = run(engine, b"DUMP", b"big")
    assert isinstance(refused, Error) and b"max-command-work" in refused  # type: ignore[comparison-overlap]
    roomy = Engine(EngineConfig())
    run(roomy, b"SET", b"big", big)
    payload = run(roomy, b"DUMP", b"big")
    assert isinstance(payload, bytes)
    refused = run(engine, b"RESTORE", b"other", b"0", payload)
    assert isinstance(refused, Error) and b"max-command-work" in refused  # type: ignore[comparison-overlap]
    assert run(engine, b"EXISTS", b"other") == 0
    # A container's payload is parsed in Python: charged per byte.
    hashes = values.encode_hash_value([(b"f%d" % i, b"v" * 30) for i in range(1000)], False)
    refused = run(engine, b"RESTORE", b"other", b"0", values.wrap_payload(hashes))
    assert isinstance(refused, Error) and b"max-command-work" in refused  # type: ignore[comparison-overlap]
    assert run(engine, b"EXISTS", b"other") == 0


def test_a_10_megabyte_string_dumps_and_restores_within_the_default_budget():
    engine = Engine(EngineConfig())
    value = b"".join(b"%07d," % (index * 7919 % 1_250_000) for index in range(1_250_000))
    run(engine, b"SET", b"s", value)
    payload = run(engine, b"DUMP", b"s")
    assert isinstance(payload, bytes) and not isinstance(payload, Error)
    assert run(engine, b"RESTORE", b"copy", b"0", payload) == b"OK"
    assert run(engine, b"GET", b"copy") == value


def test_sort_work_is_charged():
    engine = Engine(EngineConfig(max_command_work=5_000))
    run(engine, b"RPUSH", b"l", *[b"%d" % i for i in range(3000)])
    refused = run(engine, b"SORT", b"l")
    assert isinstance(refused, Error) and b"max-command-work" in refused  # type: ignore[comparison-overlap]
    assert run(engine, b"SORT", b"l", b"LIMIT", b"0", b"2", b"BY", b"nosort") == [b"0", b"1"]


def _file(records: bytes, version: int = 10, checksum: bool = True) -> bytes:
    head = b"REDIS%04d" % version + records + b"\xff"
    if version < 5:
        return head
    return head + (crc64(head) if checksum else 0).to_bytes(8, "little")


def test_rdb_file_records_with_their_opcodes():
    string = values.encode_string
    records = (
        b"\xfa" + string(b"redis-ver") + string(b"7.0.15")
        + b"\xfe\x00\xfb\x02\x01"
        + b"\xfc" + (4102444800000).to_bytes(8, "little") + b"\x00" + string(b"a") + string(b"1")
        + b"\xf8\x05" + b"\x00" + string(b"b") + string(b"two")
        + b"\xfe\x03" + b"\xf9\x09" + b"\x0b" + string(b"s") + string(intset.encode([3, 1]))
        + b"\xfd" + (2000000000).to_bytes(4, "little") + b"\x00" + string(b"c") + string(b"x")
    )  # fmt: skip
    info = rdbfile.FileInfo(0, {})
    found = list(rdbfile.read_file(_file(records), info))
    assert [(r.db, r.key, r.expire_ms, r.idle, r.freq) for r in found] == [
        (0, b"a", 4102444800000, None, None),
        (0, b"b", None, 5, None),
        (3, b"s", None, None, 9),
        (3, b"c", 2000000000000, None, None),
    ]
    assert info.aux == {b"redis-ver": b"7.0.15"} and info.checksum_ok is True
    engine = Engine(EngineConfig())
    assert run(engine, b"RESTORE", b"s", b"0", found[2].payload) == b"OK"
    assert run(engine, b"SMEMBERS", b"s") == [b"1", b"3"]
    damaged = bytearray(_file(records))
    damaged[-3] ^= 1
    list(rdbfile.read_file(bytes(damaged), info))
    assert info.checksum_ok is False
    list(rdbfile.read_file(_file(records, checksum=False), info))
    assert info.checksum_ok is None
    assert [r.key for r in rdbfile.read_file(_file(records, version=3))] == [b"a", b"b", b"s", b"c"]


def test_rdb_file_refuses_other_versions_and_truncation():
    with pytest.raises(FormatError):
        list(rdbfile.read_file(b"REDIS0011\xff" + bytes(8)))
    with pytest.raises(FormatError):
        list(rdbfile.read_file(b"NOTREDIS"))
    with pytest.raises(FormatError):
        list(rdbfile.read_file(b"REDIS0010\x00\x01a"))


def test_decompressed_bytes_are_charged_not_only_the_payload():
    # 40 MB of one byte compress about 88 times: the payload alone would look cheap.
    body = bytes((values.TYPE_STRING,)) + values.encode_string(b"a" * 40_000_000)
    payload = values.wrap_payload(body)
    assert len(payload) < 500_000
    engine = Engine(EngineConfig())
    refused = run(engine, b"RESTORE", b"k", b"0", payload)
    assert isinstance(refused, Error) and b"max-command-work" in refused  # type: ignore[comparison-overlap]
    roomy = Engine(EngineConfig(max_command_work=400_000))
    assert run(roomy, b"RESTORE", b"k", b"0", payload) == b"OK"
    assert run(roomy, b"STRLEN", b"k") == 40_000_000


# ---------------------------------------------------------------------- streams


def _stream_engine() -> Engine:
    engine = Engine(EngineConfig())
    for index in range(1, 130):
        fields = [b"f", b"%d" % index] if index % 4 else [b"g", b"x" * (index % 30), b"h", b""]
        run(engine, b"XADD", b"x", b"%d-%d" % (index, index % 3), *fields)
    run(engine, b"XDEL", b"x", b"5-2", b"6-0", b"120-0")
    run(engine, b"XGROUP", b"CREATE", b"x", b"g1", b"0")
    run(engine, b"XGROUP", b"CREATE", b"x", b"g2", b"$")
    run(engine, b"XREADGROUP", b"GROUP", b"g1", b"a", b"COUNT", b"4", b"STREAMS", b"x", b">")
    run(engine, b"XREADGROUP", b"GROUP", b"g1", b"b", b"COUNT", b"2", b"STREAMS", b"x", b">")
    run(engine, b"XGROUP", b"CREATECONSUMER", b"x", b"g2", b"idle")
    return engine


def _stream_payload(data: stream.StreamData) -> bytes:
    return values.wrap_payload(stream.encode_stream_value(data, lambda size: None))


def test_stream_round_trips_with_groups_and_deletions():
    engine = _stream_engine()
    payload = run(engine, b"DUMP", b"x")
    assert isinstance(payload, bytes) and payload[0] == 19
    assert run(engine, b"RESTORE", b"y", b"0", payload) == b"OK"
    assert run(engine, b"TYPE", b"y") == b"stream"
    assert run(engine, b"XINFO", b"STREAM", b"y", b"FULL") == run(
        engine, b"XINFO", b"STREAM", b"x", b"FULL"
    )
    assert run(engine, b"DUMP", b"y") == payload
    decoded = values.read_payload(payload)
    assert decoded.kind == b"stream"
    assert [group.name for group in decoded.items.groups] == [b"g1", b"g2"]
    assert decoded.items.groups[0].consumers[1][2] == [(7 << 64) | 1, (8 << 64) | 2]


def test_type_15_payload_gets_redis_defaults():
    """RDB_TYPE_STREAM_LISTPACKS (Redis 5-6): entries added is the length, the first ID
    the first entry's, a group's entries read estimated from its last ID."""
    engine = _stream_engine()
    data = values.read_payload(run(engine, b"DUMP", b"x")).items  # type: ignore[arg-type]
    parts = [b"\x0f", values.encode_length(len(data.nodes))]
    for node in data.nodes:
        parts.append(values.encode_string(stream.raw_id(node.master)))
        parts.append(values.encode_string(stream.node_listpack(node)))
    parts.append(values.encode_length(data.length))
    parts += [values.encode_length(data.last_id >> 64), values.encode_length(2)]
    parts.append(values.encode_length(1))
    parts += [values.encode_string(b"old"), values.encode_length(0), values.encode_length(0)]
    parts += [values.encode_length(0), values.encode_length(0)]
    payload = values.wrap_payload(b"".join(parts))
    assert run(engine, b"RESTORE", b"old", b"0", payload) == b"OK"
    info = run(engine, b"XINFO", b"STREAM", b"old", b"FULL")
    assert isinstance(info, list)
    fields = dict(zip(info[0::2], info[1::2], strict=True))
    assert fields[b"entries-added"] == data.length
    assert fields[b"recorded-first-entry-id"] == b"1-1"
    assert fields[b"max-deleted-entry-id"] == b"0-0"
    group = fields[b"groups"][0]
    assert dict(zip(group[0::2], group[1::2], strict=True))[b"entries-read"] == 0


def _refused(engine: Engine, payload: bytes) -> bool:
    return run(engine, b"RESTORE", b"bad", b"0", payload) == Error(b"ERR Bad data format")


def test_inconsistent_stream_payloads_are_refused():
    engine = _stream_engine()
    good = values.read_payload(run(engine, b"DUMP", b"x")).items  # type: ignore[arg-type]

    def changed(change) -> bytes:
        data = values.read_payload(run(engine, b"DUMP", b"x")).items  # type: ignore[arg-type]
        change(data)
        return _stream_payload(data)

    assert run(engine, b"RESTORE", b"good", b"0", _stream_payload(good)) == b"OK"
    # A pending entry no consumer owns; one owned twice; one not in the group's PEL.
    assert _refused(engine, changed(lambda d: d.groups[0].consumers.pop()))
    assert _refused(
        engine, changed(lambda d: d.groups[0].consumers[0][2].append(d.groups[0].pel[-1][0]))
    )
    assert _refused(engine, changed(lambda d: d.groups[1].consumers[0][2].append(1 << 64)))
    # Duplicate group or consumer names, a length that disagrees, a last ID too low,
    # nodes out of order, an empty node, fewer entries added than the length.
    assert _refused(engine, changed(lambda d: d.groups.append(d.groups[0])))
    twice = changed(lambda d: d.groups[0].consumers.append(d.groups[0].consumers[0]))
    assert _refused(engine, twice)
    assert _refused(engine, changed(lambda d: setattr(d, "length", d.length + 1)))
    assert _refused(engine, changed(lambda d: setattr(d, "last_id", 1 << 64)))
    assert _refused(engine, changed(lambda d: d.nodes.reverse()))
    assert _refused(engine, changed(lambda d: d.nodes[0].entries.clear()))
    assert _refused(engine, changed(lambda d: setattr(d, "entries_added", 3)))
    # Counts far beyond the payload.
    huge = bytes((19,)) + values.encode_length(2**40) + b"\x00" * 20
    assert _refused(engine, values.wrap_payload(huge))
    assert run(engine, b"EXISTS", b"bad") == 0


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_stream_payloads_give_ok_or_bad_data_format(data):
    engine = _stream_engine()
    dumped = run(engine, b"DUMP", b"x")
    assert isinstance(dumped, bytes)
    body = bytearray(dumped[:-10])
    if data.draw(st.booleans()):
        position = data.draw(st.integers(0, len(body) - 1))
        body[position] = data.draw(st.integers(0, 255))
    else:
        del body[data.draw(st.integers(1, len(body) - 1)) :]
    reply = run(engine, b"RESTORE", b"c", b"0", values.wrap_payload(bytes(body)), b"REPLACE")
    assert reply == b"OK" or reply == Error(b"ERR Bad data format")
    if reply == b"OK" and run(engine, b"TYPE", b"c") == b"stream":  # a working stream
        for args in (
            [b"XINFO", b"STREAM", b"c", b"FULL"],
            [b"XRANGE", b"c", b"-", b"+"],
            [b"XADD", b"c", b"*", b"a", b"b"],
            [b"DUMP", b"c"],
        ):
            assert not isinstance(run(engine, *args), Error), args


def test_stream_dump_and_restore_work_is_charged_before_it_runs():
    roomy = Engine(EngineConfig())
    for index in range(1, 1001):
        run(roomy, b"XADD", b"x", b"%d-0" % index, b"f", b"%d" % index, b"g", b"v" * 20)
    payload = run(roomy, b"DUMP", b"x")
    assert isinstance(payload, bytes) and not isinstance(payload, Error)
    tight = Engine(EngineConfig(max_command_work=10_000))
    refused = run(tight, b"RESTORE", b"x", b"0", payload)
    assert isinstance(refused, Error) and b"max-command-work" in refused  # type: ignore[comparison-overlap]
    assert run(tight, b"EXISTS", b"x") == 0
    for index in range(1, 1001):
        run(tight, b"XADD", b"x", b"%d-0" % index, b"f", b"%d" % index, b"g", b"v" * 20)
    refused = run(tight, b"DUMP", b"x")
    assert isinstance(refused, Error) and b"max-command-work" in refused  # type: ignore[comparison-overlap]


def test_stream_tombstones_survive_snapshots_and_copies():
    """Deleted entries are kept as tombstones (DUMP writes them): the snapshot pieces and
    COPY carry them, so every replica dumps the same bytes."""
    from node.engine.stream_value import StreamValue

    engine = _stream_engine()
    payload = run(engine, b"DUMP", b"x")
    assert isinstance(payload, bytes)
    node = values.read_payload(payload).items.nodes[0]
    assert [stream_id >> 64 for stream_id, _ in node.tombstones] == [5, 6]
    run(engine, b"COPY", b"x", b"y")
    assert run(engine, b"DUMP", b"y") == payload
    original = StreamValue()
    original.append(1 << 64, [b"f", b"1"])
    original.append(2 << 64, [b"f", b"2"])
    original.delete([1 << 64])
    restored = StreamValue.from_snapshot_items(EngineConfig(), original.snapshot_items())
    assert restored.blocks[0].tombstones() == [(1 << 64, [b"f", b"1"])]
    assert restored.blocks[0].deleted == 1
