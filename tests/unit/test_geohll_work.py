"""HyperLogLog, geo and bitmap commands in the engine: their work bounded by
max-command-work (refused before anything changes, never a crash or an endless loop on a
corrupted value), their keyspace events, and the pieces the differential tests reach
only by chance."""

from __future__ import annotations

import random

from node.engine import geohash, hyperloglog
from node.engine.config import EngineConfig
from node.engine.engine import Engine
from proto.resp import Error


def run(engine: Engine, *args: bytes):
    return engine.execute(list(args), 0, random.Random(0))


def refused(reply: object) -> bool:
    return isinstance(reply, Error) and b"max-command-work" in bytes(reply)


def test_corrupted_sparse_hll_of_any_length_is_refused_not_walked():
    engine = Engine(EngineConfig(max_command_work=20_000))
    huge = b"HYLL\x01\x00\x00\x00" + bytes(7) + b"\x80" + b"\x00" * 2_000_000
    assert run(engine, b"SET", b"h", huge) == b"OK"
    for args in (
        [b"PFADD", b"h", b"a"],
        [b"PFCOUNT", b"h"],
        [b"PFCOUNT", b"h", b"other"],
        [b"PFMERGE", b"d", b"h"],
        [b"PFDEBUG", b"DECODE", b"h"],
    ):
        assert refused(run(engine, *args)), args
    assert run(engine, b"GET", b"h") == huge
    assert run(engine, b"EXISTS", b"d") == 0


def test_corrupted_small_sparse_hll_is_an_error():
    engine = Engine(EngineConfig())
    run(engine, b"SET", b"h", b"HYLL\x01\x00\x00\x00" + bytes(7) + b"\x80" + b"\xff" * 10)
    assert run(engine, b"PFCOUNT", b"h") == Error(b"INVALIDOBJ Corrupted HLL object detected")
    assert run(engine, b"PFMERGE", b"d", b"h") == Error(b"INVALIDOBJ Corrupted HLL object detected")


def test_pfadd_work_grows_with_its_elements():
    elements = [b"e%d" % n for n in range(5000)]
    engine = Engine(EngineConfig(max_command_work=5_000))
    assert refused(run(engine, b"PFADD", b"h", *elements))
    assert run(engine, b"EXISTS", b"h") == 0
    engine = Engine(EngineConfig())
    assert run(engine, b"PFADD", b"h", *elements) == 1
    count = run(engine, b"PFCOUNT", b"h")
    assert abs(count - 5000) < 5000 * 0.05


def test_sparse_edits_keep_registers_and_promote_past_the_limit():
    rng = random.Random(3)
    edit = hyperloglog.SparseEdit.of(hyperloglog.created())
    registers = [0] * hyperloglog.REGISTERS
    promoted = False
    for _ in range(3000):
        index, count = rng.randrange(hyperloglog.REGISTERS), rng.randrange(1, 33)
        result = edit.set(index, count)
        if result is None:
            promoted = True
            break
        assert result == (1 if count > registers[index] else 0)
        registers[index] = max(registers[index], count)
        assert edit.size == hyperloglog.HEADER + len(edit.payload())
        assert edit.size <= hyperloglog.SPARSE_MAX_BYTES
    assert promoted
    value = bytes(hyperloglog.HEADER) + edit.payload()
    assert hyperloglog.sparse_registers(value).tolist() == registers


def test_geo_search_work_is_bounded():
    engine = Engine(EngineConfig(max_command_work=2_000))
    for start in range(0, 1000, 100):
        args = [b"GEOADD", b"g"]
        for n in range(start, start + 100):
            args += [b"%f" % (n / 1000), b"%f" % (n / 2000), b"m%d" % n]
        assert run(engine, *args) == 100
    assert refused(
        run(engine, b"GEOSEARCH", b"g", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"500", b"km")
    )
    found = run(engine, b"GEOSEARCH", b"g", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"1", b"km")
    assert found and len(found) < 100


def test_geo_scores_and_positions_round_trip():
    for lon, lat in ((13.361389, 38.115556), (-180.0, -85.05112878), (180.0, 85.05112878)):
        score = geohash.score_of(lon, lat)
        assert 0 <= score < 1 << 54
        decoded_lon, decoded_lat = geohash.position_of(float(score))
        assert abs(decoded_lon - lon) < 1e-5 and abs(decoded_lat - lat) < 1e-5


def test_bitop_and_bitfield_work_is_bounded():
    engine = Engine(EngineConfig(max_command_work=1_000))
    run(engine, b"SET", b"{b}a", b"x" * 100_000)
    assert refused(run(engine, b"BITOP", b"AND", b"{b}d", b"{b}a", b"{b}a"))
    assert run(engine, b"EXISTS", b"{b}d") == 0
    assert refused(run(engine, b"BITFIELD", b"{b}n", b"SET", b"u8", b"8000000", b"1"))
    assert run(engine, b"EXISTS", b"{b}n") == 0
    assert run(engine, b"BITFIELD", b"{b}n", b"SET", b"u8", b"8", b"255") == [0]
    assert run(engine, b"GET", b"{b}n") == b"\x00\xff"


def test_keyspace_events():
    engine = Engine(EngineConfig(notify_keyspace_events="KEA"))
    db = engine.db
    run(engine, b"PFADD", b"h", b"a")
    run(engine, b"PFMERGE", b"h2", b"h")
    run(engine, b"SET", b"s", b"ab")
    run(engine, b"BITOP", b"NOT", b"s2", b"s")
    run(engine, b"BITFIELD", b"s", b"INCRBY", b"u8", b"0", b"1")
    run(engine, b"GEOADD", b"g", b"1", b"1", b"m")
    run(engine, b"GEOSEARCHSTORE", b"g2", b"g", b"FROMMEMBER", b"m", b"BYRADIUS", b"1", b"m")
    run(engine, b"SET", b"e", b"")
    run(engine, b"BITOP", b"OR", b"s2", b"e")
    events = [event for event in db.take_events() if event[1] != b"set" or event[2] != b"s"]
    assert ("$", b"pfadd", b"h") in events
    assert ("$", b"pfadd", b"h2") in events
    assert ("$", b"set", b"s2") in events
    assert ("$", b"setbit", b"s") in events
    assert ("z", b"geosearchstore", b"g2") in events
    assert ("g", b"del", b"s2") in events
