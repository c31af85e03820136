"""Streams through a real cluster with redis-py's stream API: the commands through the
router, a blocking XREAD released by an XADD, and blocking reads across a SIGKILL of the
shard's leader: an entry added after the failover is delivered to the blocked
XREADGROUP exactly once, and XREAD's `$` does not skip it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from tests.cluster.conftest import dump_logs, running_cluster

pytestmark = pytest.mark.slow


def client(port: int) -> Any:
    # Typed as Any: redis-py's stubs give most replies as unions of every possible shape.
    return redis.Redis(port=port, socket_timeout=60)


def test_stream_api_through_the_router(cluster):
    r = client(cluster.router_ports[0])
    r.delete("st:s")
    first = r.xadd("st:s", {"f": "v1"})
    second = r.xadd("st:s", {"f": "v2"}, maxlen=100, approximate=True)
    assert first < second
    assert [fields for _id, fields in r.xrange("st:s")] == [{b"f": b"v1"}, {b"f": b"v2"}]
    assert r.xlen("st:s") == 2
    assert r.type("st:s") == b"stream"
    assert r.object("encoding", "st:s") == b"stream"
    r.xgroup_create("st:s", "g", id="0")
    got = r.xreadgroup("g", "alice", {"st:s": ">"}, count=1)
    assert got == [[b"st:s", [(first, {b"f": b"v1"})]]]
    assert r.xpending("st:s", "g")["pending"] == 1
    claimed = r.xautoclaim("st:s", "g", "bob", min_idle_time=0, start_id="0-0")
    assert claimed[1] == [(first, {b"f": b"v1"})]
    assert r.xack("st:s", "g", first) == 1
    info = r.xinfo_stream("st:s")
    assert info["length"] == 2 and info["groups"] == 1
    assert r.xinfo_groups("st:s")[0]["name"] == b"g"
    assert [c["name"] for c in r.xinfo_consumers("st:s", "g")] == [b"alice", b"bob"]
    assert r.xtrim("st:s", maxlen=1, approximate=True) == 0  # whole nodes only
    assert r.xtrim("st:s", maxlen=1, approximate=False) == 1
    assert r.xread({"st:s": "0"}) == [[b"st:s", [(second, {b"f": b"v2"})]]]
    found = {key for port in cluster.router_ports for key in client(port).scan_iter(_type="stream")}
    assert b"st:s" in found and all(
        client(cluster.router_ports[0]).type(k) == b"stream" for k in found
    )


def test_blocking_xread_released_by_an_xadd(cluster):
    reader = client(cluster.router_ports[0])
    writer = client(cluster.router_ports[-1])
    writer.delete("st:b")
    writer.xadd("st:b", {"f": "old"}, id="1-0")
    result: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: result.update(got=reader.xread({"st:b": "$"}, block=15_000))
    )
    thread.start()
    time.sleep(0.5)
    writer.xadd("st:b", {"f": "new"}, id="2-0")
    thread.join(20)
    assert result["got"] == [[b"st:b", [(b"2-0", {b"f": b"new"})]]]
    started = time.monotonic()
    assert reader.xread({"st:b": "$"}, block=300) == []
    assert time.monotonic() - started >= 0.25


@pytest.fixture
def fresh_cluster():
    with running_cluster(router_args=["--retry-seconds", "10"]) as cluster:
        yield cluster


def test_blocking_reads_across_a_leader_kill(fresh_cluster):
    cluster = fresh_cluster
    key = "st:{failover}"
    port = cluster.router_ports[0]
    admin = client(port)
    admin.xadd(key, {"n": "0"})
    admin.xgroup_create(key, "g", id="$")
    results: dict[str, Any] = {}

    def group_read() -> None:
        results["group"] = client(port).xreadgroup("g", "c", {key: ">"}, block=40_000)

    def dollar_read() -> None:
        results["dollar"] = client(port).xread({key: "$"}, block=40_000)

    threads = [threading.Thread(target=group_read), threading.Thread(target=dollar_read)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # both parked on the leader
    shard = cluster.shard_of(key.encode())
    leader = cluster.leader_of(shard)
    assert leader, "the shard has a leader before the kill"
    cluster.kill(cluster.node(leader))
    deadline = time.monotonic() + 30
    added = None
    while added is None and time.monotonic() < deadline:
        try:
            added = admin.xadd(key, {"n": "after"})
        except redis.RedisError:
            time.sleep(0.2)
    assert added is not None, "XADD acknowledged after the failover\n" + dump_logs(cluster)
    for thread in threads:
        thread.join(45)
    try:
        assert results.get("group") == [[key.encode(), [(added, {b"n": b"after"})]]], results
        assert results.get("dollar") == [[key.encode(), [(added, {b"n": b"after"})]]], results
        # Delivered once: nothing new for the group, one pending entry delivered once.
        assert admin.xreadgroup("g", "c", {key: ">"}) == []
        pending = admin.xpending_range(key, "g", min="-", max="+", count=10)
        assert [(p["message_id"], p["times_delivered"]) for p in pending] == [(added, 1)]
    finally:
        cluster.start_process(cluster.node(leader))
