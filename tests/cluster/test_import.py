"""`slotraft import` into a real cluster: a redis-server filled with every type and
encoding (and TTLs, streams with consumer groups, keys of another database) is copied
live, interrupted and resumed, and from the .rdb file its SAVE writes; every key then
holds the same value and has a TTL exactly where the source has one."""

from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path

import pytest
import redis

from slotraft import import_common
from slotraft.cli import main
from slotraft.import_compare import read_contents
from tests.support.processes import redis_server

pytestmark = pytest.mark.slow


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
    other = redis.Redis(port=source.connection_pool.connection_kwargs["port"], db=1)
    other.set("in-db-1", "x")


def run_import(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["import", *args, "--quiet"])
    return code, out.getvalue()


def assert_copied(source: redis.Redis, target: redis.Redis) -> None:
    keys = list(source.scan_iter(count=500))
    assert len(keys) > 100
    assert read_contents(target, keys) == read_contents(source, keys)
    for key in (b"stream", b"huge-stream"):
        assert (
            target.xinfo_stream(key)["entries-added"] == source.xinfo_stream(key)["entries-added"]
        )
        assert target.xinfo_groups(key) == source.xinfo_groups(key)
        pending = source.xpending_range(key, "readers" if key != b"stream" else "g", "-", "+", 50)
        copied = target.xpending_range(key, "readers" if key != b"stream" else "g", "-", "+", 50)
        no_idle = [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pending]
        assert [(p["message_id"], p["consumer"], p["times_delivered"]) for p in copied] == no_idle
    for key in keys:
        assert (source.pttl(key) == -1) == (target.pttl(key) == -1), key
        payload = source.dump(key)
        assert isinstance(payload, bytes)
        if len(payload) < 20_000:  # larger ones pass max-command-work in DUMP
            assert payload == target.dump(key) or key in (b"set", b"big-set"), key
    assert target.exists("in-db-1") == 0


@pytest.fixture(scope="module")
def source_port():
    with redis_server() as port:
        fill(redis.Redis(port=port))
        yield port


def test_live_import_copies_everything_and_resumes(cluster, source_port, tmp_path, monkeypatch):
    source = redis.Redis(port=source_port)
    target = redis.Redis(port=cluster.router_ports[0])
    target.flushall()
    state = tmp_path / "state.json"
    url = f"redis://127.0.0.1:{source_port}/0"
    router = f"127.0.0.1:{cluster.router_ports[0]}"
    # The first run stops after its second batch, as if it had been interrupted.
    original = import_common.State.save
    saves = []

    def interrupted(self):
        original(self)
        saves.append(self.position)
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(import_common.State, "save", interrupted)
    code, _ = run_import(url, "--to", router, "--resume", str(state), "--batch", "20")
    assert code == 130
    assert 0 < target.dbsize() < source.dbsize()
    monkeypatch.setattr(import_common.State, "save", original)
    code, report = run_import(url, "--to", router, "--resume", str(state), "--batch", "20")
    assert "not supported" not in report
    assert "failed:  0" in report
    assert_copied(source, target)
    copied = int(report.split("copied:")[1].split()[0])
    assert copied == source.dbsize()  # every key, none twice
    assert "verification: 100 of 100 sampled keys hold the same value" in report
    assert "too large for one RESTORE, written with commands" in report
    # Again without --replace: every key exists; with it, all are written again.
    code, report = run_import(url, "--to", router)
    assert "exists on the target" in report and "copied:  0" in report
    code, report = run_import(url, "--to", router, "--replace")
    assert code == 0 and f"copied:  {copied}" in report
    # Another database: skipped with the reason, unless mapped to 0.
    code, report = run_import(url[:-1] + "1", "--to", router)
    assert "database 1: slotraft has database 0 only" in report
    code, report = run_import(url[:-1] + "1", "--to", router, "--db-map", "1:0")
    assert target.get("in-db-1") == b"x"


def test_rdb_file_import_copies_everything(cluster, source_port, tmp_path):
    source = redis.Redis(port=source_port)
    target = redis.Redis(port=cluster.router_ports[0])
    target.flushall()
    source.save()
    directory, name = source.config_get("dir")["dir"], source.config_get("dbfilename")
    path = Path(str(directory)) / str(name["dbfilename"])
    router = f"127.0.0.1:{cluster.router_ports[0]}"
    code, report = run_import(str(path), "--to", router, "--resume", str(tmp_path / "s"))
    assert "failed:  0" in report, report
    assert "not supported" not in report
    assert "database 1: slotraft has database 0 only" in report
    assert_copied(source, target)
    assert code == 0
