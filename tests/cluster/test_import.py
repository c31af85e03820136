"""`slotraft import` of a redis-server filled with every type and encoding (and TTLs,
streams with consumer groups) in database 0, and with keys of their own (some under the
same names, with other values) in databases 3 and 15: copied live, interrupted in the
middle of database 3 and resumed, and from the .rdb file its SAVE writes. Each database
lands in its own number on the target (or where --db-map says), every key holds the
same value and has a TTL exactly where the source has one.

Each test runs against two targets: a real cluster (the `[slotraft]` cases, where values
too large for one RESTORE are written with commands) and a second redis-server (the
`[redis-server]` cases, which check the import's own logic on a target known to have
databases 0-15)."""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from slotraft import import_common
from slotraft.cli import main
from slotraft.import_compare import read_contents
from tests.support.processes import redis_server

pytestmark = pytest.mark.slow

DATABASES = (0, 3, 15)


def fill(source: redis.Redis) -> None:
    """Values of every encoding Redis 7.0 writes, a few with TTLs."""
    rng = random.Random(5)
    source.set("int", 12345)
    source.set("big-int", 2**40)
    source.set("short", "hello")
    source.set("long", "abc" * 3000)  # LZF-compressed in DUMP and in the file
    source.set("binary", bytes(range(256)))
    source.append("raw", "appended")
    source.rpush("small-list", "a", "1", "-7", "x" * 100)
    source.rpush("big-list", *[f"element-{i}-" * rng.randint(1, 9) for i in range(2000)])
    source.sadd("intset", *range(-300, 300, 7))
    source.sadd("set", *[f"member-{i}" for i in range(50)])
    source.sadd("big-set", *[f"m{i}" for i in range(700)])
    source.hset("hash", mapping={f"f{i}": f"v{i}" for i in range(20)})
    source.hset("big-hash", mapping={f"f{i}": "v" * (i % 90) for i in range(600)})
    source.zadd("zset", {f"z{i}": i / 3 for i in range(30)})
    source.zadd("big-zset", {f"z{i}": rng.random() * 1000 for i in range(300)})
    source.zadd("inf-zset", {"a": float("inf"), "b": float("-inf"), "c": 0})
    for name in ("short", "small-list", "big-set", "zset"):
        source.pexpire(name, 3_600_000)
    source.set("ttl-string", "soon", px=7_200_000)
    # Too large for one RESTORE on the nodes: rebuilt with commands.
    source.rpush("huge-list", *[f"{i}-{rng.random()}" for i in range(20_000)])
    source.set("huge-string", bytes(rng.getrandbits(8) for _ in range(300_000)), ex=9000)
    source.zadd("huge-zset", {f"m{i}": rng.random() for i in range(5_000)})
    source.xadd("stream", {"f": "v"})
    source.xadd("stream", {"f": "w", "g": "1"})
    source.xgroup_create("stream", "g", "0")
    source.xreadgroup("g", "c", {"stream": ">"}, count=1)
    # A stream too large for one RESTORE, with groups and pending entries: rebuilt.
    for i in range(5000):
        source.xadd("huge-stream", {"n": i, "pad": f"{rng.random()}"}, id=f"{i + 1}-{i % 3}")
    source.xgroup_create("huge-stream", "readers", "0")
    source.xgroup_create("huge-stream", "late", "$")
    source.xreadgroup("readers", "alice", {"huge-stream": ">"}, count=7)
    source.xreadgroup("readers", "bob", {"huge-stream": ">"}, count=3)
    source.xack("huge-stream", "readers", "2-1")
    for i in range(100):
        source.set(f"key:{i}", i)


def fill_other_databases(port: int) -> None:
    """Databases 3 and 15. Some of their keys have database 0's names and other values,
    so a key written into the wrong database shows; both have TTLs, and database 3 has
    more keys than a batch (the interrupted run stops inside it) and a value too large
    for one RESTORE (rebuilt with commands in a database other than 0)."""
    rng = random.Random(6)
    three = redis.Redis(port=port, db=3)
    three.set("short", "three", px=5_400_000)
    three.rpush("small-list", "3", "three")
    three.hset("hash", mapping={"db": "3"})
    three.expire("hash", 4000)
    three.sadd("set", "3a", "3b")
    three.zadd("zset", {"three": 3.0})
    three.xadd("stream", {"db": "3"})
    three.xgroup_create("stream", "g3", "0")
    three.xreadgroup("g3", "c3", {"stream": ">"}, count=1)
    three.rpush("huge-list-3", *[f"{i}-{rng.random()}" for i in range(20_000)])
    three.expire("huge-list-3", 9000)
    for i in range(100):
        three.set(f"key3:{i}", i * 3, ex=3600 if i % 4 == 0 else None)
    fifteen = redis.Redis(port=port, db=15)
    fifteen.set("short", "fifteen", ex=3600)
    fifteen.hset("hash", mapping={f"f{i}": str(i) for i in range(40)})
    fifteen.sadd("intset", 1, 2, 15)
    fifteen.pexpire("intset", 7_000_000)
    for i in range(30):
        fifteen.set(f"key15:{i}", "v" * i, px=8_000_000 if i % 3 == 0 else None)


def run_import(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["import", *args, "--quiet"])
    return code, out.getvalue()


def database_report(report: str, source_db: int) -> str:
    """The summary's part about one source database, after "database N"."""
    found = re.search(
        rf"^database {source_db}\b(.*?)(?=^database |^all databases:)", report, re.M | re.S
    )
    assert found, report
    return found.group(1).strip()


def copied_in(report: str, source_db: int) -> int:
    return int(database_report(report, source_db).split("copied:")[1].split()[0])


def assert_copied(source: redis.Redis, target: redis.Redis, kind: str) -> None:
    """The target database holds the source database's keys, no others, with the same
    values, TTLs where the source has them, and (streams) the same groups and pending
    entries."""
    keys = list(source.scan_iter(count=500))
    assert keys
    assert target.dbsize() == len(keys)
    assert read_contents(target, keys) == read_contents(source, keys)
    for key in keys:
        assert (source.pttl(key) == -1) == (target.pttl(key) == -1), key
        payload = source.dump(key)
        assert isinstance(payload, bytes)
        # A hashtable's DUMP lists its members in its salted table's order: a set's on
        # slotraft (README), any hashtable's on a redis-server target.
        unordered = source.object("encoding", key) == b"hashtable" and (
            kind == "redis-server" or source.type(key) == b"set"
        )
        if len(payload) < 20_000 and not unordered:  # larger ones pass max-command-work
            assert payload == target.dump(key), key
        if source.type(key) == b"stream":
            assert_same_stream(source, target, key)


def assert_same_stream(source: redis.Redis, target: redis.Redis, key: bytes) -> None:
    assert target.xinfo_stream(key)["entries-added"] == source.xinfo_stream(key)["entries-added"]
    groups = source.xinfo_groups(key)
    assert target.xinfo_groups(key) == groups
    for group in groups:
        pending = source.xpending_range(key, group["name"], "-", "+", 50)
        copied = target.xpending_range(key, group["name"], "-", "+", 50)
        no_idle = [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pending]
        assert [(p["message_id"], p["consumer"], p["times_delivered"]) for p in copied] == no_idle


@pytest.fixture(scope="module")
def source_port() -> Iterator[int]:
    with redis_server() as port:
        fill(redis.Redis(port=port))
        fill_other_databases(port)
        yield port


@pytest.fixture(scope="module", params=["redis-server", "slotraft"])
def target_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def target_port(request: pytest.FixtureRequest, target_kind: str) -> Iterator[int]:
    """The router of the module's cluster, or a redis-server of its own, emptied."""
    if target_kind == "slotraft":
        port = request.getfixturevalue("cluster").router_ports[0]
        redis.Redis(port=port).flushall()
        yield port
        return
    with redis_server() as port:
        yield port


def test_live_import_copies_every_database_and_resumes(
    source_port, target_port, target_kind, tmp_path, monkeypatch
):
    source = {db: redis.Redis(port=source_port, db=db) for db in DATABASES}
    target = {db: redis.Redis(port=target_port, db=db) for db in range(16)}
    target[0].flushall()
    state = tmp_path / "state.json"
    url = f"redis://127.0.0.1:{source_port}"  # no /DB: every database
    router = f"127.0.0.1:{target_port}"
    # The first run stops inside database 3, as if it had been interrupted: database 0
    # done, 3 begun, 15 not.
    original = import_common.State.save

    def interrupted(self):
        original(self)
        three = self.databases[3]
        if self.databases[0].done and three.position and not three.done:
            raise KeyboardInterrupt

    monkeypatch.setattr(import_common.State, "save", interrupted)
    code, _ = run_import(url, "--to", router, "--resume", str(state), "--batch", "20")
    assert code == 130
    saved = json.loads(state.read_text())["databases"]
    assert saved["0"]["done"] and saved["3"]["position"] and not saved["3"]["done"]
    assert [saved[str(db)]["target"] for db in DATABASES] == list(DATABASES)
    assert target[0].dbsize() == source[0].dbsize()
    assert 0 < target[3].dbsize() < source[3].dbsize()
    assert target[15].dbsize() == 0
    monkeypatch.setattr(import_common.State, "save", original)
    code, report = run_import(url, "--to", router, "--resume", str(state), "--batch", "20")
    assert "not supported" not in report
    assert "failed 0" in report.split("all databases:")[1]
    for db in DATABASES:
        part = database_report(report, db)
        assert part.startswith(f"-> database {db}:"), part
        assert copied_in(report, db) == source[db].dbsize()  # every key, none twice
        assert "failed:  0" in part
        sampled = min(100, source[db].dbsize())
        assert f"verification: {sampled} of {sampled} sampled keys hold" in part
        assert_copied(source[db], target[db], target_kind)
    assert all(target[db].dbsize() == 0 for db in range(16) if db not in DATABASES)
    if target_kind == "slotraft":
        assert "too large for one RESTORE, written with commands" in database_report(report, 3)
    assert code == 0
    # Again without --replace: every key exists; with it, all are written again.
    total = sum(int(source[db].dbsize()) for db in DATABASES)
    code, report = run_import(url, "--to", router)
    assert "exists on the target" in report and "all databases: copied 0," in report
    code, report = run_import(url, "--to", router, "--replace")
    assert code == 0 and f"all databases: copied {total}," in report


def test_live_import_of_one_database_and_db_map(source_port, target_port, target_kind):
    source = {db: redis.Redis(port=source_port, db=db) for db in DATABASES}
    target = {db: redis.Redis(port=target_port, db=db) for db in range(16)}
    router = f"127.0.0.1:{target_port}"
    url = f"redis://127.0.0.1:{source_port}"
    target[0].flushall()
    # A URL's /DB copies that database only, into its own number.
    code, report = run_import(f"{url}/3", "--to", router)
    assert code == 0, report
    assert_copied(source[3], target[3], target_kind)
    assert [db for db in range(16) if target[db].dbsize()] == [3]
    # --db-map renames it.
    code, report = run_import(f"{url}/15", "--to", router, "--db-map", "15:7")
    assert code == 0 and "database 15 -> database 7:" in report
    assert_copied(source[15], target[7], target_kind)
    # A URL's database that --db-map leaves out is skipped, with the reason.
    code, report = run_import(f"{url}/0", "--to", router, "--db-map", "3:5")
    assert "database 0: not imported" in report and "database 0: not in --db-map" in report
    assert target[0].dbsize() == 0
    # Without /DB, --db-map selects: only the databases it names (comma-separated or
    # repeated), each where it says.
    target[0].flushall()
    code, report = run_import(url, "--to", router, "--db-map", "15:1,3:3", "--db-map", "0:12")
    assert code == 0, report
    for source_db, target_db in ((15, 1), (3, 3), (0, 12)):
        assert_copied(source[source_db], target[target_db], target_kind)
    assert sorted(db for db in range(16) if target[db].dbsize()) == [1, 3, 12]


def test_rdb_file_import_copies_every_database(source_port, target_port, target_kind, tmp_path):
    source = {db: redis.Redis(port=source_port, db=db) for db in DATABASES}
    target = {db: redis.Redis(port=target_port, db=db) for db in range(16)}
    target[0].flushall()
    source[0].save()
    directory, name = source[0].config_get("dir")["dir"], source[0].config_get("dbfilename")
    path = Path(str(directory)) / str(name["dbfilename"])
    router = f"127.0.0.1:{target_port}"
    state = tmp_path / "s"
    code, report = run_import(str(path), "--to", router, "--resume", str(state))
    assert "not supported" not in report
    for db in DATABASES:
        part = database_report(report, db)
        assert part.startswith(f"-> database {db}:") and "failed:  0" in part, report
        assert f"keys: {source[db].dbsize()} in the source, {source[db].dbsize()} on" in part
        assert_copied(source[db], target[db], target_kind)
    assert sorted(json.loads(state.read_text())["databases"]) == sorted(map(str, DATABASES))
    assert code == 0
    # --db-map: only database 15, into database 2.
    target[0].flushall()
    code, report = run_import(str(path), "--to", router, "--db-map", "15:2")
    assert code == 0, report
    assert "database 0: not imported" in report and "database 3: not imported" in report
    assert_copied(source[15], target[2], target_kind)
    assert [db for db in range(16) if target[db].dbsize()] == [2]


def test_a_target_database_outside_0_to_15_stops_the_import_before_copying(tmp_path):
    """A source with 32 databases: its database 20 has no own number on the target."""
    with redis_server("--databases", "32") as source_port, redis_server() as target_port:
        redis.Redis(port=source_port, db=0).set("a", "0")
        redis.Redis(port=source_port, db=20).set("b", "20")
        target = redis.Redis(port=target_port)
        router = f"127.0.0.1:{target_port}"
        url = f"redis://127.0.0.1:{source_port}"
        redis.Redis(port=source_port).save()
        directory = redis.Redis(port=source_port).config_get("dir")["dir"]
        rdb = str(Path(str(directory)) / "dump.rdb")
        for source in (url, f"{url}/20", rdb):
            with pytest.raises(SystemExit, match="source database 20: the target has"):
                run_import(source, "--to", router)
            assert target.dbsize() == 0
        with pytest.raises(SystemExit) as usage:  # argparse's usage error
            run_import(url, "--to", router, "--db-map", "0:0,20:16")
        assert usage.value.code == 2 and target.dbsize() == 0
        code, report = run_import(url, "--to", router, "--db-map", "20:4,0:0")
        assert code == 0, report
        assert redis.Redis(port=target_port, db=4).get("b") == b"20"
        assert target.get("a") == b"0"


def test_a_database_the_target_lacks_stops_the_import_before_copying():
    with redis_server() as source_port, redis_server("--databases", "4") as target_port:
        redis.Redis(port=source_port, db=0).set("a", "0")
        redis.Redis(port=source_port, db=9).set("b", "9")
        target = redis.Redis(port=target_port)
        url = f"redis://127.0.0.1:{source_port}"
        with pytest.raises(SystemExit, match=r"database 9: .*out of range"):
            run_import(url, "--to", f"127.0.0.1:{target_port}")
        assert target.dbsize() == 0  # database 0 comes first, and was not copied either
