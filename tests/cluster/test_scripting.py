"""Lua scripts through the router of a real cluster: redis-py's Lock (its release and
extend are scripts), the script cache on every shard, slot rules, and a cache that outlives
the leader that loaded it."""

from __future__ import annotations

import time

import pytest
import redis
from redis.exceptions import LockNotOwnedError

from tests.cluster.conftest import running_cluster
from tests.cluster.test_clients import keys_on_distinct_shards

pytestmark = pytest.mark.slow  # a real cluster of processes


def test_redis_py_locks_work_on_every_shard(cluster):
    client = redis.Redis(port=cluster.router_ports[0])
    other = redis.Redis(port=cluster.router_ports[1])
    for key in keys_on_distinct_shards(cluster, 3):
        name = f"lock:{{{key.decode()}}}"  # the lock's key on the shard of `key`
        lock = client.lock(name, timeout=10)
        assert lock.acquire(blocking=False), key
        assert not other.lock(name, timeout=10).acquire(blocking=False)
        assert lock.extend(5)
        assert 10_000 < client.pttl(name) <= 15_000
        assert lock.owned()
        lock.release()
        assert client.get(name) is None
        # Someone else's lock is not released by a stale holder.
        stale = client.lock(name, timeout=10)
        assert stale.acquire(blocking=False)
        client.set(name, b"taken over")
        with pytest.raises(LockNotOwnedError):
            stale.release()
        assert client.get(name) == b"taken over"


def test_script_load_reaches_every_shard_and_flush_empties_them(cluster):
    client = redis.Redis(port=cluster.router_ports[0])
    sha = client.script_load("return redis.call('incrby', KEYS[1], ARGV[1])")
    assert client.script_exists(sha, "0" * 40) == [True, False]
    for key in keys_on_distinct_shards(cluster, 3):
        client.delete(key)
        assert client.evalsha(sha, 1, key, 5) == 5
    client.script_flush()
    assert client.script_exists(sha) == [False]
    for key in keys_on_distinct_shards(cluster, 3):
        with pytest.raises(redis.exceptions.NoScriptError):
            client.evalsha(sha, 1, key, 1)


def test_registered_scripts_pipelines_and_transactions(cluster):
    client = redis.Redis(port=cluster.router_ports[0])
    add = client.register_script("return redis.call('rpush', KEYS[1], unpack(ARGV))")
    assert add(keys=["{s}list"], args=[1, 2, 3]) == 3
    with client.pipeline(transaction=True) as pipe:
        add(keys=["{s}list"], args=[4], client=pipe)
        pipe.lrange("{s}list", 0, -1)
        assert pipe.execute() == [4, [b"1", b"2", b"3", b"4"]]
    assert client.eval_ro("return redis.call('llen', KEYS[1])", 1, "{s}list") == 4


def test_keys_of_two_shards_are_refused_and_keyless_scripts_stay_on_their_shard(cluster):
    client = redis.Redis(port=cluster.router_ports[0])
    keys = keys_on_distinct_shards(cluster, 3)
    with pytest.raises(redis.exceptions.ClusterCrossSlotError):
        client.eval("return 1", 2, keys[0], keys[1])
    # A script without declared keys runs on some shard: it may touch a key only if that
    # shard holds the key's slot, so a key is never written where reads will not look.
    outcomes = set()
    for _ in range(6):
        try:
            client.eval("return redis.call('set', KEYS[1] or 'keyless-key', 'v')", 0)
            outcomes.add("written")
        except redis.exceptions.ResponseError as error:
            assert "non local key" in str(error)
            outcomes.add("refused")
    assert outcomes == {"written", "refused"}
    assert client.get("keyless-key") == b"v"


def test_the_script_cache_outlives_the_leader_that_loaded_it():
    with running_cluster() as cluster:
        client = redis.Redis(port=cluster.router_ports[0], socket_timeout=30)
        key = b"failover-script"
        shard = cluster.shard_of(key)
        sha = client.script_load("return redis.call('incr', KEYS[1])")
        assert client.evalsha(sha, 1, key) == 1
        cluster.kill(cluster.node(cluster.leader_of(shard)))
        deadline = time.monotonic() + 30
        while True:
            try:
                value = client.evalsha(sha, 1, key)
                break
            except redis.exceptions.ConnectionError:
                raise
            except redis.RedisError:
                assert time.monotonic() < deadline, "no new leader ran the script"
                time.sleep(0.1)
        assert value == 2
        assert client.get(key) == b"2"
