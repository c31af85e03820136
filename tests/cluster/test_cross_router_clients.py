"""What spans the routers of a real cluster (two routers): MONITOR on one router shows the
commands of the other's clients, CLIENT LIST shows every router's clients, CLIENT KILL
closes a client of the other router, CLIENT PAUSE holds the other router's clients, client
tracking's NOLOOP holds through the shard leaders, and client ids never collide."""

from __future__ import annotations

import contextlib
import re
import socket
import time

import pytest
import redis
from redis.cache import CacheConfig

from tests.router.support import parse_replies
from tests.support.resp3 import Resp3Connection

pytestmark = pytest.mark.slow


def connect(cluster, index: int, **options) -> redis.Redis:
    options.setdefault("socket_timeout", 20)
    return redis.Redis(port=cluster.router_ports[index], **options)


def eventually(check, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_monitor_on_one_router_sees_the_other_routers_commands(cluster):
    watcher = socket.create_connection(("127.0.0.1", cluster.router_ports[0]), timeout=20)
    try:
        watcher.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        assert watcher.recv(100) == b"+OK\r\n"
        with connect(cluster, 1) as other:
            data = b""

            def seen() -> bool:
                nonlocal data
                other.set("monitored", "by router 0")
                watcher.settimeout(0.5)
                with contextlib.suppress(TimeoutError):
                    data += watcher.recv(65536)
                return b'"set" "monitored" "by router 0"' in data.lower()

            assert eventually(seen)
        lines = [line.decode() for line in parse_replies(data[: data.rfind(b"\r\n") + 2])]
        line = next(line for line in lines if "monitored" in line)
        assert re.fullmatch(
            r'\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "monitored" "by router 0"', line
        )
    finally:
        watcher.close()


def test_client_list_and_kill_span_the_routers(cluster):
    second = socket.create_connection(("127.0.0.1", cluster.router_ports[1]), timeout=20)
    try:
        second.sendall(b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$11\r\non-router-1\r\n")
        assert second.recv(100) == b"+OK\r\n"
        second.sendall(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
        second_id = int(second.recv(100)[1:-2])
        with connect(cluster, 0) as first:
            first.client_setname("on-router-0")
            assert second_id != first.client_id()  # distinct id spaces
            listing = first.client_list()
            assert {"on-router-0", "on-router-1"} <= {entry["name"] for entry in listing}
            (entry,) = [e for e in listing if e["name"] == "on-router-1"]
            assert int(entry["id"]) == second_id
            assert first.execute_command("CLIENT", "KILL", "ID", str(second_id)) == 1
            assert second.recv(100) == b""  # closed by its router
            assert not [e for e in first.client_list() if int(e["id"]) == second_id]
            assert first.execute_command("CLIENT", "KILL", "ID", str(second_id)) == 0
    finally:
        second.close()


def test_pause_reaches_the_other_router(cluster):
    with connect(cluster, 0) as admin, connect(cluster, 1, socket_timeout=0.5) as writer:
        writer.ping()
        admin.execute_command("CLIENT", "PAUSE", "20000", "WRITE")
        try:
            assert writer.get("paused-key") is None  # reads go on
            with pytest.raises(redis.TimeoutError):
                writer.set("paused-key", "x")
        finally:
            admin.execute_command("CLIENT", "UNPAUSE")
    with connect(cluster, 1) as writer:
        assert eventually(lambda: writer.set("paused-key", "y"))


def test_tracking_invalidation_across_routers_with_redis_py(cluster, monkeypatch):
    """redis-py's client-side cache on router 0 is invalidated by a write through router 1
    (the shard leader publishes the changed key; router 0 pushes the invalidation)."""
    # redis-py enables its cache only for servers that say 7.4 or later (a policy; the
    # protocol it uses is 6.0's); the routers say 7.0.
    monkeypatch.setattr(redis.connection.CacheProxyConnection, "MIN_ALLOWED_VERSION", "7.0.0")
    cached = connect(cluster, 0, protocol=3, cache_config=CacheConfig())
    writer = connect(cluster, 1)
    try:
        writer.set("tracked", "old")
        assert cached.get("tracked") == b"old"
        assert cached.get("tracked") == b"old"  # served from the cache
        cache = cached.get_cache()
        assert cache is not None and cache.size >= 1
        writer.set("tracked", "new")
        assert eventually(lambda: cached.get("tracked") == b"new")
        writer.set("tracked", "newer")  # read again since: invalidated again
        assert eventually(lambda: cached.get("tracked") == b"newer")
    finally:
        cached.close()
        writer.close()


@pytest.mark.parametrize("mode", [[], ["BCAST", "PREFIX", "{nl}"]], ids=["default", "bcast"])
def test_tracking_noloop_leaves_out_the_client_s_own_writes(cluster, mode):
    """A NOLOOP tracker's writes carry its id to the shard leader, which publishes the keys
    as its own: it is told of the other router's write, not of its own. Both keys are on
    one shard, whose leader publishes in apply order: once the second key's invalidation
    arrived, the first one's would have."""
    with Resp3Connection(cluster.router_ports[0]) as tracker, connect(cluster, 1) as writer:
        assert tracker.call("CLIENT", "TRACKING", "on", *mode, "NOLOOP") == b"OK"
        tracker.call("MGET", "{nl}own", "{nl}other")
        assert tracker.call("SET", "{nl}own", "mine") == b"OK"
        writer.set("{nl}other", "theirs")
        pushes: list = []

        def arrived() -> bool:
            pushes.extend(tracker.take_pushes(0.05))
            return bool(pushes)

        assert eventually(arrived)
        assert pushes == [[b"invalidate", [b"{nl}other"]]]
        assert tracker.call("CLIENT", "TRACKING", "off") == b"OK"


@pytest.mark.parametrize("reason", ["TIMEOUT", "ERROR"])
def test_unblock_a_client_of_the_other_router(cluster, reason):
    blocked = socket.create_connection(("127.0.0.1", cluster.router_ports[1]), timeout=20)
    key = f"unblock-{reason}"
    try:
        blocked.sendall(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
        blocked_id = int(blocked.recv(100)[1:-2])
        blocked.sendall(b"*3\r\n$5\r\nBLPOP\r\n$%d\r\n%s\r\n$1\r\n0\r\n" % (len(key), key.encode()))
        with connect(cluster, 0) as admin:
            # Once the command is parked on the shard's leader, the unblock answers it.
            assert eventually(
                lambda: admin.execute_command("CLIENT", "UNBLOCK", blocked_id, reason) == 1
            )
            reply = blocked.recv(200)
            if reason == "TIMEOUT":
                assert reply == b"*-1\r\n"
            else:
                assert reply == b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
            admin.rpush(key, "kept")  # nobody takes it any more
            assert admin.lrange(key, 0, -1) == [b"kept"]
    finally:
        blocked.close()


def test_tracking_redirect_to_a_client_of_the_other_router(cluster):
    """RESP2: the tracker on router 0 redirects to a subscriber of __redis__:invalidate
    on router 1, which gets the invalidation of a key the tracker read."""
    receiver = socket.create_connection(("127.0.0.1", cluster.router_ports[1]), timeout=20)
    try:
        receiver.sendall(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
        receiver_id = int(receiver.recv(100)[1:-2])
        receiver.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$20\r\n__redis__:invalidate\r\n")
        assert b"subscribe" in receiver.recv(200)
        with connect(cluster, 0) as tracker, connect(cluster, 1) as writer:
            assert tracker.execute_command("CLIENT", "TRACKING", "on", "REDIRECT", receiver_id)
            assert tracker.execute_command("CLIENT", "GETREDIR") == receiver_id
            tracker.get("redirected")
            writer.set("redirected", "v")
            data = b""
            while data.count(b"\r\n") < 7:  # *3 $7 message $20 channel *1 $10 key
                data += receiver.recv(200)
            assert parse_replies(data) == [[b"message", b"__redis__:invalidate", [b"redirected"]]]
    finally:
        receiver.close()
