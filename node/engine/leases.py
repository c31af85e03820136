"""Leases (issue 27): who may fill a missing cache key, as replicated state of the shard.

Memcache's leases (NSDI 2013) on a Raft shard: a read that misses may be granted a lease,
a token that alone may fill the key (LEASE.SET), so that one caller recomputes while the
others wait or take the stale value. The table lives beside the key space, not in it: it
is no key (KEYS, SCAN, DBSIZE never see it), snapshots carry it in their own section
(node.engine.snapshot) and every replica holds the same one, since it changes only by
applied entries and their time (db.now_ms) and seed (db.rng).

A lease is voided by any write of its key (the key space tells the table, see
Keyspace.set/delete/modified, and the engine for a write naming a key it did not change,
such as DEL of a missing key): a value computed before an invalidation can then not be
stored after it. A record also remembers the last grant, for the per-key rate limit, and
may keep the value a delete or an expiry removed, the stale value LEASE.GET STALE serves
while the key is recomputed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from node.engine.parsing import LLONG_MAX

# Records examined for removal by each lease command (work it charges): the table's
# housekeeping, bounded and deterministic (oldest records first).
SWEEP_PER_COMMAND = 4
# Token layout: a replicated counter, then 24 bits drawn from the entry's seed, so that a
# token is not guessable from the counter alone and is the same on every replica.
_TOKEN_RANDOM_BITS = 24
_RECORD = struct.Struct("<qqqqqqB")  # token, until, granted, rate, keep, stale_until, flags
_HEADER = struct.Struct("<4sQQ")  # tag, next token, record count
_LENGTH = struct.Struct("<I")
SECTION_TAG = b"LEAS"
_HAS_STALE = 1


@dataclass(slots=True)
class LeaseRecord:
    """One key's lease state. token 0: no lease outstanding."""

    token: int = 0
    until: int = 0  # when the outstanding lease ends (entry time, ms)
    granted: int = 0  # when the last lease was granted (for the rate limit)
    rate: int = 0  # no new grant before granted + rate
    keep_stale_ms: int = 0  # set by LEASE.SET ... STALE ms: keep the value once removed
    stale: bytes | None = None  # the removed value, served until stale_until
    stale_until: int = 0

    def holds_lease(self, now: int) -> bool:
        return self.token != 0 and now < self.until

    def is_dead(self, now: int, key_present: bool) -> bool:
        """Nothing left to remember: no lease, no rate window, no stale value, and no value
        in the key space that a later removal would have to keep."""
        if self.holds_lease(now) or now < self.granted + self.rate:
            return False
        if self.stale is not None and now < self.stale_until:
            return False
        return not (self.keep_stale_ms and key_present)


class LeaseTable:
    """Every lease record of one shard replica, by key, oldest first."""

    __slots__ = ("next_token", "records")

    def __init__(self) -> None:
        self.records: dict[bytes, LeaseRecord] = {}
        self.next_token = 1

    def new_token(self, bits: int) -> int:
        """A fresh token: the counter (replicated) and `bits` from the entry's seed."""
        counter = self.next_token
        self.next_token += 1
        return (counter << _TOKEN_RANDOM_BITS) | (bits & ((1 << _TOKEN_RANDOM_BITS) - 1))

    def void(self, key: bytes) -> bool:
        """A write of `key`: its outstanding lease (if any) no longer lets a value in.
        Whether one was outstanding."""
        record = self.records.get(key)
        if record is None or record.token == 0:
            return False
        record.token = 0
        record.until = 0
        return True

    def overwritten(self, key: bytes) -> None:
        """`key` got a new value: the lease is void and a stale value is no longer needed."""
        record = self.records.get(key)
        if record is not None:
            record.token = 0
            record.until = 0
            record.stale = None
            record.stale_until = 0

    def removed(self, key: bytes, value: Any, now: int) -> None:
        """`key` was deleted (DEL, expiry, eviction): the lease is void, and its string
        value is kept as the stale one if the last LEASE.SET asked for it."""
        record = self.records.get(key)
        if record is None:
            return
        record.token = 0
        record.until = 0
        if record.keep_stale_ms and (type(value) is bytes or type(value) is bytearray):
            record.stale = bytes(value)
            # Past int64's end is "for ever": a snapshot stores it as a signed 64-bit time.
            record.stale_until = min(now + record.keep_stale_ms, LLONG_MAX)
        else:
            record.stale = None
            record.stale_until = 0

    def sweep(self, now: int, present: dict[bytes, Any], limit: int) -> None:
        """Look at up to `limit` of the oldest records: drop the dead ones, move the others
        to the end (so the next sweep sees the next ones)."""
        records = self.records
        for _ in range(min(limit, len(records))):
            key = next(iter(records))
            record = records.pop(key)
            if not record.is_dead(now, key in present):
                records[key] = record

    def clear(self) -> None:
        self.records = {}

    # ------------------------------------------------------------------ snapshots

    def to_bytes(self) -> bytes:
        """The table as a snapshot section (empty when there is nothing to carry)."""
        if not self.records and self.next_token == 1:
            return b""
        parts = [_HEADER.pack(SECTION_TAG, self.next_token, len(self.records))]
        for key, record in self.records.items():
            stale = record.stale
            flags = _HAS_STALE if stale is not None else 0
            parts.append(_LENGTH.pack(len(key)))
            parts.append(key)
            parts.append(
                _RECORD.pack(
                    record.token,
                    record.until,
                    record.granted,
                    record.rate,
                    record.keep_stale_ms,
                    record.stale_until,
                    flags,
                )
            )
            if stale is not None:
                parts.append(_LENGTH.pack(len(stale)))
                parts.append(stale)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> LeaseTable:
        """The table of a snapshot section; ValueError if it is malformed."""
        table = cls()
        if not data:
            return table
        view = memoryview(data)
        offset = 0

        def take(size: int) -> memoryview:
            nonlocal offset
            if size < 0 or offset + size > len(view):
                raise ValueError(f"lease section truncated at byte {offset}")
            chunk = view[offset : offset + size]
            offset += size
            return chunk

        tag, next_token, count = _HEADER.unpack(take(_HEADER.size))
        if tag != SECTION_TAG:
            raise ValueError(f"lease section has tag {bytes(tag)!r}")
        table.next_token = next_token
        for _ in range(count):
            (key_length,) = _LENGTH.unpack(take(_LENGTH.size))
            key = bytes(take(key_length))
            token, until, granted, rate, keep, stale_until, flags = _RECORD.unpack(
                take(_RECORD.size)
            )
            stale = None
            if flags & _HAS_STALE:
                (stale_length,) = _LENGTH.unpack(take(_LENGTH.size))
                stale = bytes(take(stale_length))
            table.records[key] = LeaseRecord(token, until, granted, rate, keep, stale, stale_until)
        if offset != len(view):
            raise ValueError(f"{len(view) - offset} unexpected bytes after the lease records")
        if len(table.records) != count:
            raise ValueError("a key has two lease records")
        return table
