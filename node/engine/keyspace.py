"""The key space of one shard replica: values, TTLs, memory accounting.

Time and randomness come only from the caller (`now_ms`, `rng`, set before each command):
every replica applying the same log entries reaches the same state. A key past its TTL
is absent for every lookup; on the mutating path it is also deleted (lazy expiry), which
is deterministic because `now_ms` comes from the log entry. On the read-only path nothing
is ever mutated.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from typing import Any

from node.engine.config import EngineConfig
from node.engine.errors import CommandError
from node.engine.leases import LeaseTable
from node.engine.work import work_exceeded
from proto.errors import WRONGTYPE
from proto.redis_config import notify_flags

# Approximate bytes Redis spends per key besides the key and value bytes (dictEntry, robj,
# sds headers). The same constant on every replica keeps accounting deterministic.
KEY_OVERHEAD = 56
STRING_OVERHEAD = 16
EXPIRE_OVERHEAD = 32


class Container:
    """Base of the collection values (hash, list, set, sorted set). Subclasses hold their
    data by composition (a dict, deque, ...) and keep `mem`, the estimated size of their
    contents, up to date in their own mutators; `accounted` is what the key space last
    added to `used_memory` for them. The interface every container provides:

    - TYPE_NAME (b"hash", b"list", b"set", b"zset") and __len__
    - mem: int (O(1) to read, deterministic: computed from the data only)
    - encoding() -> bytes: what Redis 7.0's OBJECT ENCODING reports, conversions sticky
    - copy() -> a deep copy (COPY)
    - snapshot_items() -> list, and classmethod from_snapshot_items(config, items,
      encoding=None) (`encoding` is the original's when it was converted, sticky):
      hash [(field, value)], list [element] in order, set [member] in internal order
      (so that random choices replay identically), zset [(member, score)]
    """

    __slots__ = ("accounted",)
    TYPE_NAME: bytes = b"none"

    def __init__(self) -> None:
        self.accounted = 0

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def mem(self) -> int:
        raise NotImplementedError

    def encoding(self) -> bytes:
        raise NotImplementedError

    def copy(self) -> Container:
        raise NotImplementedError

    def snapshot_items(self) -> list[Any]:
        raise NotImplementedError

    @classmethod
    def from_snapshot_items(
        cls, config: EngineConfig, items: Iterable[Any], encoding: bytes | None = None
    ) -> Container:
        raise NotImplementedError


def value_size(key: bytes, value: Any) -> int:
    if type(value) is bytes or type(value) is bytearray:
        return KEY_OVERHEAD + len(key) + STRING_OVERHEAD + len(value)
    return KEY_OVERHEAD + len(key) + value.mem


def type_name(value: Any) -> bytes:
    if type(value) is bytes or type(value) is bytearray:
        return b"string"
    return value.TYPE_NAME


# notify_flags of "K" and "E": an event is published only if one of them is on.
_KEYSPACE_OR_KEYEVENT = 0b11


class Keyspace:
    """One database of one shard replica (node/engine/databases.py holds them all)."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        # The engine's databases (node.engine.databases.Databases), for the commands that
        # reach another one (MOVE, COPY DB, FLUSHALL); None for a key space alone.
        self.databases: Any = None
        self.index = 0  # the database index that names this key space now
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        self.used_memory = 0
        # Per-command context, set by the engine before each command.
        self.now_ms = 0
        self.rng = random.Random(0)
        self.mutating = True
        # Whether the running command is a read: Redis reports a read's missed lookups as
        # "keymiss" events (its lookupKeyRead), never a write's.
        self.reading = False
        self.in_script = False  # the command runs from a script (redis.call)
        self.changed: list[bytes] = []
        # The running command's work budget (node.engine.work), set by the engine with
        # begin_work: what it may still charge, and what it charged so far.
        self.work_budget = self.config.max_command_work
        self.work_left = self.work_budget
        self.work_done = 0
        # Earliest-TTL-first index for active expiry; stale entries are skipped lazily.
        self._expiry_heap: list[tuple[int, bytes]] = []
        # Keys in arrival order for O(1) random sampling (RANDOMKEY, eviction); entries of
        # deleted keys are skipped and the list is compacted when mostly stale.
        self._sample_keys: list[bytes] = []
        # Keyspace notifications: the events of applied commands, (class, event, key), kept
        # only for the classes notify-keyspace-events enables; whoever applies the entry
        # takes them (take_events) and the shard's leader publishes them.
        self.events: list[tuple[Any, ...]] = []
        self._notify_text = ""
        self._notify_mask = 0
        # Counters for INFO (deterministic: they depend only on applied commands).
        self.dirty = 0
        self.expired_keys = 0
        self.evicted_keys = 0
        self.keyspace_hits = 0
        self.keyspace_misses = 0
        # Eviction recency/frequency (node.engine.eviction), leader-local: told touch(key)
        # on every hit and created(key) for every new key; None unless the policy needs it.
        self.access_tracker: Any = None
        # SCAN's order of the keys (node.engine.scan.ScanIndex), built by the first SCAN
        # and then kept up to date here; dropped when the whole data set is replaced.
        self.scan_index: Any = None
        # Leases (node.engine.leases): replicated, beside the keys; every write of a key
        # tells it, so that a write voids the key's lease.
        self.leases = LeaseTable()

    # ------------------------------------------------------------------ notifications

    def notify(self, event_class: str, event: bytes, key: bytes) -> None:
        """Record a keyspace event of class `event_class` (one of Redis's "g$lshzxetmdn"
        letters: g generic, $ string, l list, ...) if notify-keyspace-events enables it,
        as Redis's notifyKeyspaceEvent does: the class and K or E must both be on."""
        text = self.config.notify_keyspace_events
        if not text:
            return
        if text != self._notify_text:
            self._notify_text = text
            self._notify_mask = notify_flags(text)
        mask = self._notify_mask
        if mask & notify_flags(event_class) and mask & _KEYSPACE_OR_KEYEVENT:
            # Database 0's events stay three fields (node/notifications.py Event).
            if self.index:
                self.events.append((event_class, event, key, self.index))
            else:
                self.events.append((event_class, event, key))

    def take_events(self) -> list[tuple[Any, ...]]:
        """The events recorded since the last call, oldest first."""
        # In place: the key spaces of one engine share the list (node.engine.databases),
        # so that MOVE's two events keep their order.
        events = self.events[:]
        self.events.clear()
        return events

    # ------------------------------------------------------------------ work

    def begin_work(self, budget: int) -> None:
        """A command starts with `budget` elements of work (node.engine.work)."""
        self.work_budget = budget
        self.work_left = budget
        self.work_done = 0

    def charge(self, elements: int) -> None:
        """Account for `elements` of work the command is about to do. Past its budget it
        raises the max-command-work error; commands charge before they change anything,
        so a refused command has no effect, the same on every replica."""
        if elements > self.work_left:
            raise CommandError(
                work_exceeded(
                    self.work_done + elements, self.work_budget, self.config.max_command_work
                )
            )
        self.work_left -= elements
        self.work_done += elements

    # ------------------------------------------------------------------ lookups

    def lookup(self, key: bytes) -> Any:
        """The live value of `key` or None. Deletes it if expired and mutating."""
        value = self.data.get(key)
        if value is None:
            self.keyspace_misses += 1
            if self.reading:
                self.notify("m", b"keymiss", key)
            return None
        if self.expires:
            when = self.expires.get(key)
            if when is not None and when <= self.now_ms:
                if self.mutating:
                    self._delete_expired(key)
                self.keyspace_misses += 1
                if self.reading:
                    self.notify("m", b"keymiss", key)
                return None
        self.keyspace_hits += 1
        if self.access_tracker is not None:
            self.access_tracker.touch(key)
        return value

    def lookup_read(self, key: bytes) -> Any:
        """`lookup` for a write command's lookup that Redis makes as a read (its
        lookupKeyRead: GETDEL, GETEX, SET ... GET, COPY's source): a miss is a keymiss."""
        reading, self.reading = self.reading, True
        try:
            return self.lookup(key)
        finally:
            self.reading = reading

    def lookup_quietly(self, key: bytes) -> Any:
        """`lookup` for a read Redis makes without a keymiss event (LOOKUP_NONOTIFY:
        OBJECT, MEMORY USAGE)."""
        reading, self.reading = self.reading, False
        try:
            return self.lookup(key)
        finally:
            self.reading = reading

    def lookup_read_string(self, key: bytes) -> bytes | bytearray | None:
        value = self.lookup_read(key)
        if value is None or type(value) is bytes or type(value) is bytearray:
            return value
        raise CommandError(WRONGTYPE)

    def lookup_string(self, key: bytes) -> bytes | bytearray | None:
        value = self.lookup(key)
        if value is None or type(value) is bytes or type(value) is bytearray:
            return value
        raise CommandError(WRONGTYPE)

    def lookup_typed(self, key: bytes, kind: type) -> Any:
        """The live value if it is a `kind` container, None if absent; WRONGTYPE else."""
        value = self.lookup(key)
        if value is None or type(value) is kind:
            return value
        raise CommandError(WRONGTYPE)

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    # ------------------------------------------------------------------ mutation

    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Store a value (replacing any old one); the TTL is cleared unless keep_ttl."""
        # Every replica runs this for every SET: the accounting and `modified` are inlined
        # (the key's own overhead is only added for a new key; a replaced value's size is
        # what _accounted_size would give without it).
        data = self.data
        old = data.get(key)
        if old is not None and self.expires and self.mutating:
            when = self.expires.get(key)
            if when is not None and when <= self.now_ms:
                # Redis looks the key up before replacing it: expired, it goes first.
                self._delete_expired(key)
                old = None
        if old is None:
            if self.config.notify_keyspace_events:  # (the call alone costs 60 ns)
                self.notify("n", b"new", key)  # Redis's dbAdd
            self._sample_keys.append(key)
            if self.scan_index is not None:
                self.scan_index.add(key)
            if self.access_tracker is not None:
                self.access_tracker.created(key)
            self.used_memory += KEY_OVERHEAD + len(key)
        elif type(old) is bytes or type(old) is bytearray:
            self.used_memory -= STRING_OVERHEAD + len(old)
        else:
            self.used_memory -= old.accounted
        data[key] = value
        if type(value) is bytes or type(value) is bytearray:
            self.used_memory += STRING_OVERHEAD + len(value)
        else:
            value.accounted = value.mem
            self.used_memory += value.accounted
        if not keep_ttl and self.expires and key in self.expires:
            del self.expires[key]
            self.used_memory -= EXPIRE_OVERHEAD
        if self.leases.records and key in self.leases.records:
            self.leases.overwritten(key)
        self.changed.append(key)
        self.dirty += 1

    def string_grown(self, key: bytes, value: bytearray, old_length: int) -> None:
        """A string value that is already stored was changed in place (APPEND, SETRANGE,
        SETBIT on a bytearray): account for its new length; the TTL stays."""
        self.used_memory += len(value) - old_length
        self.modified(key)

    def modified(self, key: bytes) -> None:
        """Record that `key` changed (Redis's signalModifiedKey): memory is re-accounted,
        WATCH and blocked clients are told, after the command; its lease is void."""
        if self.leases.records:
            self.leases.void(key)
        self.changed.append(key)
        self.dirty += 1

    def delete(self, key: bytes) -> bool:
        value = self.data.pop(key, None)
        if value is None:
            return False
        if self.scan_index is not None:
            self.scan_index.discard(key)
        self.used_memory -= self._accounted_size(key, value)
        if self.expires and self.expires.pop(key, None) is not None:
            self.used_memory -= EXPIRE_OVERHEAD
        if self.leases.records:
            self.leases.removed(key, value, self.now_ms)
        self.modified(key)
        self._maybe_compact_samples()
        return True

    def delete_if_empty(self, key: bytes, value: Container) -> None:
        """Redis removes a collection key when its last element goes."""
        if len(value) == 0:
            self.delete(key)

    def set_expire(self, key: bytes, when_ms: int) -> None:
        if key not in self.expires:
            self.used_memory += EXPIRE_OVERHEAD
        self.expires[key] = when_ms
        heapq.heappush(self._expiry_heap, (when_ms, key))
        self.modified(key)

    def persist(self, key: bytes) -> bool:
        if self.expires.pop(key, None) is None:
            return False
        self.used_memory -= EXPIRE_OVERHEAD
        self.modified(key)
        return True

    def get_expire(self, key: bytes) -> int | None:
        return self.expires.get(key) if self.expires else None

    def flush(self) -> None:
        self.dirty += len(self.data)
        self.changed.extend(self.data)
        self.changed.extend(self.leases.records)  # their waiters may now take a lease
        self.leases.clear()
        self.data = {}
        self.expires = {}
        self.used_memory = 0
        self._expiry_heap = []
        self._sample_keys = []
        self.scan_index = None

    def reaccount(self) -> None:
        """After a command: bring used_memory up to date for containers it changed."""
        data = self.data
        for key in self.changed:
            value = data.get(key)
            if value is None or type(value) is bytes or type(value) is bytearray:
                continue
            mem = value.mem
            if mem != value.accounted:
                self.used_memory += mem - value.accounted
                value.accounted = mem

    def _accounted_size(self, key: bytes, value: Any) -> int:
        if type(value) is bytes or type(value) is bytearray:
            return KEY_OVERHEAD + len(key) + STRING_OVERHEAD + len(value)
        return KEY_OVERHEAD + len(key) + value.accounted

    def _delete_expired(self, key: bytes) -> None:
        self.delete(key)
        self.expired_keys += 1
        self.notify("x", b"expired", key)

    # ------------------------------------------------------------------ expiry and sampling

    def is_expired(self, key: bytes, now_ms: int) -> bool:
        when = self.expires.get(key)
        return when is not None and when <= now_ms

    def expired_candidates(self, now_ms: int, limit: int) -> list[bytes]:
        """Up to `limit` keys whose TTL has passed at `now_ms`, earliest first, for the
        leader to propose as deletions. Does not change the data."""
        heap = self._expiry_heap
        found: list[bytes] = []
        keep: list[tuple[int, bytes]] = []
        while heap and heap[0][0] <= now_ms and len(found) < limit:
            when, key = heapq.heappop(heap)
            if self.expires.get(key) == when:
                found.append(key)
                keep.append((when, key))
        for item in keep:
            heapq.heappush(heap, item)
        if len(heap) > 2 * len(self.expires) + 1024:
            self._expiry_heap = [(when, key) for key, when in self.expires.items()]
            heapq.heapify(self._expiry_heap)
        return found

    def expire_keys(self, keys: list[bytes]) -> int:
        """Apply an active-expiry entry: delete those keys still expired at now_ms."""
        count = 0
        for key in keys:
            if key in self.data and self.is_expired(key, self.now_ms):
                self._delete_expired(key)
                count += 1
        return count

    def random_key(self, rng: random.Random, tries: int = 100) -> bytes | None:
        """A random live key. On the mutating path (a transaction or a script in the log)
        every replica must draw the same key: the draw is then made from the keys in their
        order (what a replica restored from a snapshot holds), without the entries of
        deleted keys that the sample list keeps until it is compacted."""
        data = self.data
        if not data:
            return None
        if self.mutating and len(self._sample_keys) != len(data):
            self._sample_keys = list(data)
        samples = self._sample_keys
        for _ in range(tries):
            key = samples[rng.randrange(len(samples))]
            if key in data and not self.is_expired(key, self.now_ms):
                return key
        for key in data:
            if not self.is_expired(key, self.now_ms):
                return key
        return None

    def sample_keys(self, rng: random.Random, count: int, volatile: bool) -> list[bytes]:
        """Up to `count` random live keys (with a TTL if `volatile`), for eviction."""
        samples = self._sample_keys
        if not samples:
            return []
        found: list[bytes] = []
        for _ in range(count * 4):
            key = samples[rng.randrange(len(samples))]
            if key in self.data and (not volatile or key in self.expires):
                found.append(key)
                if len(found) == count:
                    break
        return found

    def _maybe_compact_samples(self) -> None:
        if len(self._sample_keys) > 2 * len(self.data) + 1024:
            self._sample_keys = list(self.data)

    def rebuild_indexes(self) -> None:
        """After loading a snapshot: recompute memory and the derived indexes."""
        data = self.data
        # Summing lengths in C first keeps a million-key restore well under a second.
        used = KEY_OVERHEAD * len(data) + sum(map(len, data))
        for value in data.values():
            if type(value) is bytes or type(value) is bytearray:
                used += STRING_OVERHEAD + len(value)
            else:
                value.accounted = value.mem
                used += value.accounted
        self.used_memory = used + EXPIRE_OVERHEAD * len(self.expires)
        self._expiry_heap = [(when, key) for key, when in self.expires.items()]
        heapq.heapify(self._expiry_heap)
        self._sample_keys = list(self.data)
        self.scan_index = None
