"""Functions through the routers of a real cluster: FUNCTION LOAD reaches every shard (the
router fans it out), FCALL runs on the shard of its keys, every router lists the same
libraries, FUNCTION DUMP and RESTORE move them, and a library outlives the SIGKILL of its
shard's leader and a restart from a snapshot."""

from __future__ import annotations

import time

import pytest
import redis

from tests.cluster.conftest import running_cluster
from tests.cluster.test_clients import keys_on_distinct_shards
from tests.cluster.test_snapshots import caught_up, describe, snapshots_taken

LIBRARY = """#!lua name=counters
redis.register_function('bump', function(keys, args)
  return redis.call('incrby', keys[1], args[1] or 1)
end)
redis.register_function{function_name = 'peek', flags = {'no-writes'},
  callback = function(keys) return redis.call('get', keys[1]) end}
redis.register_function('tag', function(keys)
  return cjson.encode({key = keys[1], value = redis.call('get', keys[1])})
end)
"""


def retry(call, timeout: float = 30.0):
    """A call through a router while a shard elects a new leader."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            raise
        except redis.RedisError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def test_function_load_reaches_every_shard_and_every_router_lists_it(cluster):
    first = redis.Redis(port=cluster.router_ports[0])
    second = redis.Redis(port=cluster.router_ports[1])
    assert first.function_flush() in (True, b"OK")
    assert first.function_load(LIBRARY) == b"counters"
    for key in keys_on_distinct_shards(cluster, 3):
        first.delete(key)
        assert first.fcall("bump", 1, key, 5) == 5
        assert second.fcall("BUMP", 1, key) == 6
        assert second.fcall_ro("peek", 1, key) == b"6"
        assert first.fcall("tag", 1, key) == b'{"key":"%s","value":"6"}' % key
    assert first.function_list() == second.function_list()
    assert first.function_list()[0][1] == b"counters"
    stats = second.function_stats()
    assert stats[1] is None  # nothing runs between commands
    with pytest.raises(redis.ResponseError, match="already exists"):
        second.function_load(LIBRARY)
    with pytest.raises(redis.ResponseError, match="write flag using"):
        first.fcall_ro("bump", 1, b"spread:0")
    # FCALL with keys of two shards is refused as any multi-key command is
    keys = keys_on_distinct_shards(cluster, 2)
    with pytest.raises(redis.exceptions.ClusterCrossSlotError):
        first.fcall("bump", 2, *keys)


def test_dump_and_restore_through_a_router(cluster):
    client = redis.Redis(port=cluster.router_ports[0])
    client.function_flush()
    client.function_load(LIBRARY)
    payload = client.function_dump()
    assert client.function_flush() in (True, b"OK")
    with pytest.raises(redis.ResponseError, match="Function not found"):
        client.fcall("bump", 1, b"spread:0")
    assert client.function_list() == []
    restored = client.function_restore(payload)  # type: ignore[arg-type]
    assert restored in (True, b"OK")
    with pytest.raises(redis.ResponseError, match="Library counters already exists"):
        client.function_restore(payload)  # type: ignore[arg-type]
    replaced = client.function_restore(payload, "REPLACE")  # type: ignore[arg-type]
    assert replaced in (True, b"OK")
    for key in keys_on_distinct_shards(cluster, 3):
        client.delete(key)
        assert client.fcall("bump", 1, key) == 1
    assert client.function_dump() == payload
    assert client.function_delete("counters") in (True, b"OK")
    assert client.function_list() == []


@pytest.mark.slow
def test_a_library_outlives_its_leader_and_a_restart_from_a_snapshot():
    with running_cluster(node_args=["--snapshot-entries", "40"]) as cluster:
        client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
        assert client.function_load(LIBRARY) == b"counters"
        key = b"survivor"
        shard = cluster.shard_of(key)
        assert client.fcall("bump", 1, key) == 1
        # Enough entries on every shard that each replica snapshots (and compacts past the
        # FUNCTION LOAD entry: the library then lives in the snapshot alone).
        deadline = time.monotonic() + 60
        n = 0
        while not all(snapshots_taken(cluster, node) > 0 for node in (1, 2, 3)):
            assert time.monotonic() < deadline, "the nodes took no snapshot"
            for _ in range(60):  # one entry each
                assert client.set(b"filler:%d" % n, b"x")
                n += 1

        leader = cluster.node(cluster.leader_of(shard))
        cluster.kill(leader)
        assert retry(lambda: client.fcall("bump", 1, key)) == 2
        cluster.start_process(leader)  # restarts from its snapshot and WAL
        cluster.wait_until_serving(60)
        deadline = time.monotonic() + 60
        while not caught_up(cluster, leader.id):
            assert time.monotonic() < deadline, describe(cluster)
            time.sleep(0.2)
        # Now the restarted replica must serve: the leader that replaced it goes down.
        cluster.kill(cluster.node(cluster.leader_of(shard)))
        assert retry(lambda: client.fcall("bump", 1, key)) == 3
        assert retry(lambda: client.fcall_ro("peek", 1, key)) == b"3"
        assert retry(lambda: client.function_list())[0][1] == b"counters"
