"""Redis 7.0's own test units, unmodified, through slotraft routers (issue 19): every unit
must finish with no [err] and no [exception], and every test excluded by name must exist
and be skipped (slotraft/redis_unit_exclusions.py says why for each).

The units run through routers with in-process shards (`slotraft router --local-shards`:
the engine code every replica runs, the router's planner, sessions and backends), three
at a time to stay within a few minutes; the quick units also run through a real 3-node
cluster (Raft, the nodes' wake-ups of blocked clients). The full run through a cluster:
`python -m slotraft.redis_test_units --workers 2 --test-timeout 2400` (string 8 minutes,
set 11, zset 18 on a loaded 2-core machine: the tests write one key at a time, and each
write waits for an fsync on a majority)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from slotraft import redis_test_units as units
from slotraft.redis_unit_exclusions import EXCLUDED

# The first test of each kind runs all its units (about 3.5 minutes on a loaded 2-core
# machine): more than the suite's 300 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# list-2 and list-3 (13 tests) stress Redis's own list encodings (listpack, quicklist
# compression) with minutes of random operations: the runner runs them
# (`python -m slotraft.redis_test_units --target local --unit unit/type/list-3`).
ROUTER_UNITS = tuple(u for u in units.UNITS if u not in ("unit/type/list-2", "unit/type/list-3"))
# Quick through a cluster too (seconds each; the others write thousands of keys one at a
# time, each acknowledged after an fsync on two nodes). unit/pubsub's keyspace
# notification tests write right after CONFIG SET notify-keyspace-events: CONFIG SET
# answers once every shard adopted the setting (router/cluster_settings.py).
CLUSTER_UNITS = (
    "unit/type/incr",
    "unit/expire",
    "unit/keyspace",
    "unit/multi",
    "unit/pubsub",
    "unit/quit",
)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    if shutil.which("tclsh8.6") is None and shutil.which("tclsh8.5") is None:
        pytest.fail("tclsh is not installed: `make setup` installs the Debian package tcl")
    try:
        tarball = units.fetch_source()
    except units.SourceUnavailable as problem:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis's source is not available: {problem}")
    return units.unpack(tarball, tmp_path_factory.mktemp("redis-source"))


@pytest.fixture(scope="module")
def through_routers(source) -> dict[str, units.UnitResult]:
    results = units.run_units_parallel(source, units.local_router, ROUTER_UNITS, workers=3)
    return {result.unit: result for result in results}


@pytest.fixture(scope="module")
def through_cluster(source) -> dict[str, units.UnitResult]:
    with units.slotraft_cluster(nodes=3) as port:
        results = units.run_units(source, units.Target(port), CLUSTER_UNITS)
    return {result.unit: result for result in results}


def check(result: units.UnitResult) -> None:
    assert result.finished, f"{result.unit} did not finish:\n{result.output[-3000:]}"
    assert not result.err, f"{result.unit} failed:\n" + "\n".join(result.err)
    assert not result.exception, f"{result.unit}:\n" + "\n".join(result.exception)
    assert result.ok, f"{result.unit} ran no test"
    for name, reason in EXCLUDED.get(result.unit, ()):
        assert reason
        if name.startswith("/"):
            pattern = re.compile(name[1:])
            assert any(pattern.search(s) for s in result.skipped), f"{name} skipped nothing"
        else:
            assert name in result.skipped, f"excluded {name!r} is no test of {result.unit}"


@pytest.mark.parametrize("unit", ROUTER_UNITS)
def test_unit_through_routers(through_routers, unit):
    check(through_routers[unit])


@pytest.mark.parametrize("unit", CLUSTER_UNITS)
def test_unit_through_a_cluster(through_cluster, unit):
    check(through_cluster[unit])


def test_output_parsing():
    text = (
        "[ok]: SET and GET (1 ms)\n"
        "\x1b[0;31;49merr\x1b[0m]: ignored, not at line start\n"
        "[err]: INCR against a string in tests/unit/type/incr.tcl\n"
        "[skip]: HSCAN with encoding listpack\n"
        "[ignore]: Replication: Tag: needs:repl denied\n"
        "[exception]: Executing test client: boom.\n"
        "[1/1 done]: unit/type/incr (3 seconds)\n"
    )
    result = units.parse_output("unit/type/incr", text)
    assert result.ok == ["SET and GET"]
    assert result.err == ["INCR against a string in tests/unit/type/incr.tcl"]
    assert result.skipped == ["HSCAN with encoding listpack"]
    assert result.ignored == ["Replication: Tag: needs:repl denied"]
    assert result.exception == ["Executing test client: boom."]
    assert result.finished and not result.passed
    assert not units.parse_output("unit/type/incr", "[ok]: a (1 ms)\n").finished
