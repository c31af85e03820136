"""maxmemory: eviction candidates per policy, access trackers, and the OOM refusal."""

from __future__ import annotations

import random
from typing import Any

import pytest

from node.engine.config import EVICTION_POLICIES, EngineConfig
from node.engine.engine import Engine
from node.engine.eviction import LFU_INIT_VAL, LfuTracker, LruTracker
from proto import resp
from proto.errors import OOM
from proto.resp import OK, Error

RNG = random.Random(0)


def engine_for(policy: str, maxmemory: int = 0, **settings: Any) -> Engine:
    return Engine(EngineConfig(maxmemory=maxmemory, maxmemory_policy=policy, **settings))


def run(engine: Engine, *args: bytes, now_ms: int = 1000) -> object:
    return engine.execute(list(args), now_ms, RNG)


def fill(engine: Engine, count: int, ttl_every: int = 0) -> list[bytes]:
    keys = [b"key:%d" % index for index in range(count)]
    for index, key in enumerate(keys):
        run(engine, b"SET", key, b"value")
        if ttl_every and index % ttl_every == 0:
            run(engine, b"PEXPIRE", key, b"%d" % (10_000 + index))
    return keys


# ---------------------------------------------------------------------- trackers


@pytest.mark.parametrize("policy", EVICTION_POLICIES)
def test_a_tracker_is_installed_only_when_the_policy_needs_one(policy):
    tracker = engine_for(policy).db.access_tracker
    if policy.endswith("-lru"):
        assert isinstance(tracker, LruTracker)
    elif policy.endswith("-lfu"):
        assert isinstance(tracker, LfuTracker)
    else:
        assert tracker is None


def test_noeviction_proposes_nothing():
    engine = engine_for("noeviction")
    fill(engine, 10)
    assert engine.eviction_candidates(5) == []


@pytest.mark.parametrize("policy", [p for p in EVICTION_POLICIES if p.startswith("volatile")])
def test_volatile_policies_propose_nothing_without_ttls(policy):
    engine = engine_for(policy)
    fill(engine, 10)
    assert engine.eviction_candidates(5) == []


# ---------------------------------------------------------------------- LRU


def test_allkeys_lru_is_exact_recency_order():
    engine = engine_for("allkeys-lru")
    keys = fill(engine, 10)
    for key in [keys[3], keys[0], keys[5]]:
        run(engine, b"GET", key)
    engine.execute_readonly([b"GET", keys[1]], 1000, RNG)
    expected = [keys[index] for index in (2, 4, 6, 7, 8, 9, 3, 0, 5, 1)]
    assert engine.eviction_candidates(10) == expected
    assert engine.eviction_candidates(3) == expected[:3]


def test_lru_skips_deleted_keys_and_treats_recreated_ones_as_new():
    engine = engine_for("allkeys-lru")
    keys = fill(engine, 5)
    run(engine, b"DEL", keys[0])
    run(engine, b"DEL", keys[1])
    run(engine, b"SET", keys[1], b"again")
    assert engine.eviction_candidates(5) == [keys[2], keys[3], keys[4], keys[1]]


def test_volatile_lru_takes_only_keys_with_a_ttl_oldest_first():
    engine = engine_for("volatile-lru")
    keys = fill(engine, 20, ttl_every=5)  # TTLs on keys 0, 5, 10, 15
    run(engine, b"GET", keys[0])
    assert engine.eviction_candidates(3) == [keys[5], keys[10], keys[15]]


def test_volatile_lru_finds_rare_volatile_keys_beyond_its_scan_budget():
    engine = engine_for("volatile-lru")
    keys = fill(engine, 3000)
    run(engine, b"PEXPIRE", keys[2999], b"50000")
    assert engine.eviction_candidates(1) == [keys[2999]]


def test_lru_tracker_forgets_deleted_keys():
    engine = engine_for("allkeys-lru")
    for round_number in range(30):
        keys = [b"r%d:%d" % (round_number, index) for index in range(200)]
        for key in keys:
            run(engine, b"SET", key, b"v")
        run(engine, b"DEL", *keys)
    # 6000 keys were created; the tracker keeps at most twice the peak live count + 1024.
    assert len(engine.db.access_tracker.order) <= 2 * 200 + 1024 + 1


# ---------------------------------------------------------------------- LFU


def test_lfu_counter_grows_logarithmically_and_saturates():
    engine = engine_for("allkeys-lfu")
    run(engine, b"SET", b"hot", b"v")
    tracker = engine.db.access_tracker
    assert tracker.frequency(b"hot") == LFU_INIT_VAL
    for _ in range(1000):
        run(engine, b"GET", b"hot")
    # Redis's table for lfu-log-factor 10: about 18 after 1000 hits.
    assert 12 <= tracker.frequency(b"hot") <= 25

    eager = engine_for("allkeys-lfu", lfu_log_factor=0)
    run(eager, b"SET", b"k", b"v")
    for _ in range(400):
        run(eager, b"GET", b"k")
    assert eager.db.access_tracker.frequency(b"k") == 255


def test_lfu_counter_decays_one_step_per_decay_period():
    engine = engine_for("allkeys-lfu", lfu_log_factor=0, lfu_decay_time=2)
    run(engine, b"SET", b"k", b"v")
    for _ in range(10):
        run(engine, b"GET", b"k")
    tracker = engine.db.access_tracker
    assert tracker.frequency(b"k") == LFU_INIT_VAL + 10
    engine.db.now_ms = 1000 + 7 * 60_000  # three whole periods of two minutes
    assert tracker.frequency(b"k") == LFU_INIT_VAL + 10 - 3
    engine.db.now_ms = 1000 + 600 * 60_000
    assert tracker.frequency(b"k") == 0
    engine.config.lfu_decay_time = 0  # no decay at all
    assert tracker.frequency(b"k") == LFU_INIT_VAL + 10


def test_lfu_evicts_the_rarely_used_keys():
    engine = engine_for("allkeys-lfu", maxmemory_samples=50)
    keys = fill(engine, 20)
    hot = set(keys[:15])
    for _ in range(50):
        for key in hot:
            run(engine, b"GET", key)
    candidates = engine.eviction_candidates(5)
    assert sorted(candidates) == sorted(keys[15:])


def test_volatile_lfu_takes_only_keys_with_a_ttl():
    engine = engine_for("volatile-lfu")
    fill(engine, 100, ttl_every=10)
    candidates = engine.eviction_candidates(5)
    assert candidates
    assert len(set(candidates)) == len(candidates)
    assert all(int(key.split(b":")[1]) % 10 == 0 for key in candidates)


# ---------------------------------------------------------------------- random and TTL


@pytest.mark.parametrize("policy", ["allkeys-random", "volatile-random"])
def test_random_policies_propose_distinct_live_keys(policy):
    engine = engine_for(policy)
    keys = fill(engine, 50, ttl_every=2)
    run(engine, b"DEL", *keys[:10])
    candidates = engine.eviction_candidates(8, random.Random(7))
    assert len(candidates) == 8
    assert len(set(candidates)) == 8
    assert all(key in engine.db.data for key in candidates)
    if policy == "volatile-random":
        assert all(key in engine.db.expires for key in candidates)
    assert candidates == engine.eviction_candidates(8, random.Random(7))


def test_volatile_ttl_takes_the_soonest_expiring_keys():
    engine = engine_for("volatile-ttl")
    fill(engine, 5)
    for key, ttl in [(b"key:0", b"900"), (b"key:1", b"100"), (b"key:3", b"500")]:
        run(engine, b"PEXPIRE", key, ttl)
    run(engine, b"PEXPIRE", b"key:3", b"50")
    assert engine.eviction_candidates(2) == [b"key:3", b"key:1"]
    assert engine.eviction_candidates(10) == [b"key:3", b"key:1", b"key:0"]


# ---------------------------------------------------------------------- the leader's loop


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-ttl"])
def test_evicting_candidates_brings_memory_under_the_limit(policy):
    engine = engine_for(policy, maxmemory=20_000)
    hot = b"hot"
    run(engine, b"SET", hot, b"keep me")
    for index in range(500):
        run(engine, b"SET", b"key:%d" % index, b"x" * 50, b"PX", b"%d" % (100_000 + index))
        run(engine, b"GET", hot)
        while engine.memory_to_free():
            candidates = engine.eviction_candidates(4)
            assert candidates
            engine.apply_evict(candidates)
        assert engine.db.used_memory <= 20_000
    assert engine.db.evicted_keys > 0
    if policy in ("allkeys-lru", "allkeys-lfu", "volatile-ttl"):
        assert run(engine, b"GET", hot) == b"keep me"


def test_restore_reseeds_the_tracker():
    source = engine_for("allkeys-lru")
    fill(source, 5)
    target = engine_for("allkeys-lru")
    target.restore(source.snapshot())
    assert target.eviction_candidates(5) == [b"key:%d" % index for index in range(5)]
    run(target, b"GET", b"key:0")
    assert target.eviction_candidates(1) == [b"key:1"]


def test_changing_the_policy_installs_the_tracker_it_needs():
    engine = engine_for("noeviction")
    keys = fill(engine, 3)
    engine.config.maxmemory_policy = "allkeys-lru"
    assert engine.eviction_candidates(3) == keys
    assert isinstance(engine.db.access_tracker, LruTracker)


# ---------------------------------------------------------------------- OOM


def test_noeviction_refuses_writes_over_the_limit_and_serves_reads():
    engine = engine_for("noeviction", maxmemory=2000)
    index = 0
    while engine.db.used_memory <= 2000:
        assert run(engine, b"SET", b"key:%d" % index, b"x" * 100) == OK
        index += 1
    reply = run(engine, b"SET", b"one-more", b"x")
    assert reply == Error(OOM)
    assert resp.encode(reply, False) == (
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    )
    assert run(engine, b"APPEND", b"key:0", b"y") == Error(OOM)
    assert b"one-more" not in engine.db.data
    assert run(engine, b"GET", b"key:0") == b"x" * 100
    assert run(engine, b"STRLEN", b"key:1") == 100
    # Commands that free memory are not DENYOOM.
    assert run(engine, b"DEL", b"key:0", b"key:1", b"key:2") == 3
    assert run(engine, b"SET", b"one-more", b"x") == OK


def test_evicting_policies_accept_writes_while_the_leader_evicts():
    engine = engine_for("allkeys-lru", maxmemory=500)
    fill(engine, 20)
    assert engine.memory_to_free() > 0
    assert run(engine, b"SET", b"another", b"v") == OK


def test_volatile_policy_without_ttls_refuses_writes_over_the_limit():
    engine = engine_for("volatile-lru", maxmemory=500)
    fill(engine, 20)
    assert run(engine, b"SET", b"another", b"v") == Error(OOM)
    run(engine, b"PEXPIRE", b"key:0", b"100000")
    assert run(engine, b"SET", b"another", b"v") == OK


def test_without_maxmemory_nothing_is_over_the_limit():
    engine = engine_for("allkeys-lru")
    fill(engine, 20)
    assert engine.memory_to_free() == 0
