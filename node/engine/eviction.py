"""Which keys to evict under `maxmemory`, by Redis's policies.

The leader asks for candidates and proposes them as an eviction entry; every replica then
deletes the same keys (Engine.apply_evict). Recency and frequency are leader-local (reads
do not go through the log), so the trackers here are not replicated state and are not in
snapshots: a new leader starts from a fresh tracker. A tracker is installed as the key
space's `access_tracker` only under an LRU or LFU policy, so the default costs nothing;
the key space calls `touch(key)` on every hit and `created(key)` for every new key, each
O(1).

- LRU is exact: a dict re-inserted on access keeps keys in recency order, oldest first.
- LFU is Redis's: an 8-bit logarithmic counter per key that decays by one per
  `lfu-decay-time` minutes, compared on a random sample of `maxmemory-samples` keys per
  candidate (evict.c: LFULogIncr, LFUDecrAndReturn).
- volatile-ttl takes the soonest-expiring keys from the key space's expiry heap.
- The random policies sample with Keyspace.sample_keys.
"""

from __future__ import annotations

import random
from itertools import islice

from node.engine.keyspace import Keyspace
from node.engine.parsing import LLONG_MAX

LFU_INIT_VAL = 5
LFU_COUNTER_MAX = 255
_MINUTE_MS = 60_000
_MINUTES_MASK = 0xFFFF  # Redis keeps the last-decrement time in 16 bits of minutes
# How far volatile-lru walks the recency order looking for keys with a TTL before it
# falls back to sampling (keeps the walk bounded when few keys are volatile).
_LRU_SCAN_PER_CANDIDATE = 64


class LruTracker:
    """Exact recency order: key -> last access time (the key space's now_ms), dict order
    oldest access first. The times answer OBJECT IDLETIME."""

    __slots__ = ("db", "order")

    def __init__(self, db: Keyspace) -> None:
        self.db = db
        # Keys that exist before the tracker count as accessed when it starts.
        self.order: dict[bytes, int] = dict.fromkeys(db.data, db.now_ms)

    def touch(self, key: bytes) -> None:
        order = self.order
        order.pop(key, None)
        order[key] = self.db.now_ms

    def created(self, key: bytes) -> None:
        # Called before the key is stored: drop deleted keys first, then record it.
        if len(self.order) > 2 * len(self.db.data) + 1024:
            data = self.db.data
            self.order = {name: tick for name, tick in self.order.items() if name in data}
        self.touch(key)

    def idle_ms(self, key: bytes) -> int:
        """How long ago the key was last accessed (0 if never seen)."""
        return max(self.db.now_ms - self.order.get(key, self.db.now_ms), 0)

    def set_idle(self, key: bytes, idle_ms: int) -> None:
        """RESTORE ... IDLETIME: the key's last access goes back in time (its place in the
        eviction order stays that of a fresh access)."""
        self.order[key] = self.db.now_ms - idle_ms

    def oldest(self, count: int, volatile: bool, rng: random.Random, samples: int) -> list[bytes]:
        """Up to `count` least recently used live keys (only keys with a TTL if
        `volatile`), oldest first."""
        data = self.db.data
        expires = self.db.expires
        found: list[bytes] = []
        stale: list[bytes] = []
        budget = count * _LRU_SCAN_PER_CANDIDATE
        exhausted = False
        for scanned, key in enumerate(self.order):
            if key not in data:
                stale.append(key)
                continue
            if volatile and key not in expires:
                if scanned >= budget:
                    exhausted = True
                    break
                continue
            found.append(key)
            if len(found) == count:
                break
        for key in stale:
            del self.order[key]
        if exhausted:
            sampled = _sample_unique(self.db, rng, count * samples, volatile)
            extra = sorted((key for key in sampled if key not in found), key=self.tick)
            found.extend(extra[: count - len(found)])
        return found

    def tick(self, key: bytes) -> int:
        return self.order.get(key, 0)


class LfuTracker:
    """Redis's LFU: per key (minutes of the last decrement << 8) | logarithmic counter.

    The time is the key space's `now_ms` (set by the engine before every command); the
    coin flips of the logarithmic increment come from the tracker's own seeded generator.
    """

    __slots__ = ("counters", "db", "rng")

    def __init__(self, db: Keyspace, rng: random.Random) -> None:
        self.db = db
        self.rng = rng
        initial = (self._minutes() << 8) | LFU_INIT_VAL
        self.counters: dict[bytes, int] = dict.fromkeys(db.data, initial)

    def _minutes(self) -> int:
        return (self.db.now_ms // _MINUTE_MS) & _MINUTES_MASK

    def touch(self, key: bytes) -> None:
        now = self._minutes()
        packed = self.counters.get(key)
        counter = LFU_INIT_VAL if packed is None else self._decayed(packed, now)
        if counter < LFU_COUNTER_MAX:
            base = max(counter - LFU_INIT_VAL, 0)
            if self.rng.random() < 1.0 / (base * self.db.config.lfu_log_factor + 1):
                counter += 1
        self.counters[key] = (now << 8) | counter

    def created(self, key: bytes) -> None:
        # Called before the key is stored: drop deleted keys first, then record it.
        if len(self.counters) > 2 * len(self.db.data) + 1024:
            data = self.db.data
            self.counters = {name: packed for name, packed in self.counters.items() if name in data}
        self.counters[key] = (self._minutes() << 8) | LFU_INIT_VAL

    def set_frequency(self, key: bytes, counter: int) -> None:
        """RESTORE ... FREQ: the key's counter, as of now."""
        self.counters[key] = (self._minutes() << 8) | counter

    def frequency(self, key: bytes) -> int:
        """The key's counter after decay, as of now (LFUDecrAndReturn); no side effect."""
        packed = self.counters.get(key)
        if packed is None:
            return LFU_INIT_VAL
        return self._decayed(packed, self._minutes())

    def _decayed(self, packed: int, now: int) -> int:
        counter = packed & 0xFF
        decay_time = self.db.config.lfu_decay_time
        if not decay_time:
            return counter
        last = packed >> 8
        elapsed = now - last if now >= last else _MINUTES_MASK - last + now
        periods = elapsed // decay_time
        return 0 if periods > counter else counter - periods


def _sample_unique(db: Keyspace, rng: random.Random, count: int, volatile: bool) -> list[bytes]:
    """Up to `count` distinct random live keys (with a TTL if `volatile`). When sampling
    finds too few because keys with a TTL are rare, it tops up from the TTL table."""
    found = list(dict.fromkeys(db.sample_keys(rng, count, volatile)))
    if volatile and len(found) < count:
        have = set(found)
        extra = (key for key in db.expires if key not in have)
        found.extend(islice(extra, count - len(found)))
    return found


class Evictor:
    """The eviction policy of one engine: installs the access tracker the policy needs
    and picks candidates. `rng` drives sampling and LFU increments (leader-local)."""

    def __init__(self, db: Keyspace, rng: random.Random | None = None) -> None:
        self.db = db
        self.rng = rng if rng is not None else random.Random(0)
        self.tracker: LruTracker | LfuTracker | None = None
        self.install()

    def install(self) -> None:
        """(Re)create the tracker for the configured policy, from the keys present now.
        Call after the policy changes or the key space is replaced (snapshot restore)."""
        policy = self.db.config.maxmemory_policy
        if policy.endswith("-lru"):
            self.tracker = LruTracker(self.db)
        elif policy.endswith("-lfu"):
            self.tracker = LfuTracker(self.db, self.rng)
        else:
            self.tracker = None
        previous = self.db.access_tracker
        if self.tracker is not None or isinstance(previous, LruTracker | LfuTracker):
            self.db.access_tracker = self.tracker

    def candidates(self, count: int, rng: random.Random | None = None) -> list[bytes]:
        """Up to `count` distinct keys to evict, best candidate first ([] under
        noeviction or when no key qualifies)."""
        db = self.db
        rng = rng if rng is not None else self.rng
        policy = db.config.maxmemory_policy
        volatile = policy.startswith("volatile-")
        if count <= 0 or policy == "noeviction" or not (db.expires if volatile else db.data):
            return []
        if policy == "volatile-ttl":
            return db.expired_candidates(LLONG_MAX, count)
        if policy.endswith("-random"):
            return _sample_unique(db, rng, count, volatile)
        wanted = LruTracker if policy.endswith("-lru") else LfuTracker
        if not isinstance(self.tracker, wanted):
            # The policy changed since install(): start tracking now.
            self.install()
        tracker = self.tracker
        samples = max(db.config.maxmemory_samples, 1)
        if isinstance(tracker, LruTracker):
            return tracker.oldest(count, volatile, rng, samples)
        assert isinstance(tracker, LfuTracker)
        sampled = _sample_unique(db, rng, count * samples, volatile)
        sampled.sort(key=tracker.frequency)
        return sampled[:count]
