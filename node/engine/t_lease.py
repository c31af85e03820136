"""LEASE.GET and LEASE.SET (issue 27; replies in proto/commands/leases.py, the lease table
in node/engine/leases.py). Both are writes, applied through the log: a grant changes the
replicated table, and every replica draws the same token from the entry's seed."""

from __future__ import annotations

from node.engine.blocking import WouldBlock
from node.engine.errors import CommandError
from node.engine.keyspace import Keyspace
from node.engine.leases import SWEEP_PER_COMMAND, LeaseRecord
from node.engine.parsing import LLONG_MAX, parse_int, to_int
from node.engine.registry import command
from proto.commands.leases import WAIT_REPLY
from proto.errors import (
    SYNTAX,
    TIMEOUT_NEGATIVE,
    TIMEOUT_NOT_INTEGER,
    invalid_expire_time,
)
from proto.resp import OK, Reply

LEASE_NOT_VALID = (
    b"ERR lease is not valid: voided by a write of the key, expired, or not this key's token"
)
NEGATIVE_DURATION = b"ERR value is out of range, must be positive"
_RANDOM_BITS = 24


def _positive_ms(arg: bytes, name: bytes) -> int:
    value = parse_int(arg)
    if value <= 0:
        raise CommandError(invalid_expire_time(name))
    return value


def _non_negative_ms(arg: bytes) -> int:
    value = parse_int(arg)
    if value < 0:
        raise CommandError(NEGATIVE_DURATION)
    return value


@command("lease.get")
def lease_get(db: Keyspace, args: list[bytes]) -> Reply | WouldBlock:
    key = args[1]
    ttl = _positive_ms(args[2], b"lease.get")
    if db.now_ms + ttl > LLONG_MAX:
        raise CommandError(invalid_expire_time(b"lease.get"))
    stale_wanted = False
    refresh = False
    block: int | None = None
    rate = 0
    index = 3
    while index < len(args):
        option = args[index].upper()
        if option == b"STALE":
            stale_wanted = True
            index += 1
        elif option == b"REFRESH":
            refresh = True
            index += 1
        elif option == b"BLOCK" and index + 1 < len(args):
            block = to_int(args[index + 1])
            if block is None:
                raise CommandError(TIMEOUT_NOT_INTEGER)
            if block < 0:
                raise CommandError(TIMEOUT_NEGATIVE)
            index += 2
        elif option == b"RATE" and index + 1 < len(args):
            rate = _non_negative_ms(args[index + 1])
            index += 2
        else:
            raise CommandError(SYNTAX)
    table = db.leases
    now = db.now_ms
    # One unit per lease record the sweep looks at (a dict pop and insert, ~100 ns).
    db.charge(SWEEP_PER_COMMAND)
    table.sweep(now, db.data, SWEEP_PER_COMMAND)
    value = db.lookup_string(key)
    record = table.records.get(key)
    if value is not None:
        # REFRESH: an early recomputation of a value still there (probabilistic early
        # expiration) takes the lease too, so that one caller refreshes and a write in
        # the meantime still voids it; the others keep getting the value.
        if not refresh or (record is not None and _busy_until(record, db.now_ms) > db.now_ms):
            return [b"HIT", bytes(value), None]
        return [b"LEASE", bytes(value), _grant(db, key, record, ttl, rate)]
    stale = None
    if record is not None and record.stale is not None and now < record.stale_until:
        stale = record.stale
    if record is not None:
        busy_until = _busy_until(record, now)
        if now < busy_until:
            # Another caller recomputes (or the rate limit allows no new lease yet).
            if stale_wanted and stale is not None:
                return [b"STALE", stale, None]
            if block is None:
                return list(WAIT_REPLY)
            # Woken when the key is written (filled, or the lease voided); at the latest
            # when the lease ends, to ask again (node.replica: the timeout's reply is WAIT).
            wait_ms = busy_until - now if block == 0 else min(block, busy_until - now)
            return WouldBlock([key], wait_ms / 1000)
    return [b"LEASE", stale if stale_wanted else None, _grant(db, key, record, ttl, rate)]


def _busy_until(record: LeaseRecord, now: int) -> int:
    """Until when no lease can be granted: the outstanding one's end, else the rate
    limit's window (a time <= now: one can be granted now)."""
    return record.until if record.holds_lease(now) else record.granted + record.rate


def _grant(db: Keyspace, key: bytes, record: LeaseRecord | None, ttl: int, rate: int) -> bytes:
    """A new lease on `key`: its token, from the replicated counter and the entry's seed."""
    table = db.leases
    if record is None:
        record = table.records[key] = LeaseRecord()
    token = table.new_token(db.rng.getrandbits(_RANDOM_BITS))
    record.token = token
    record.until = db.now_ms + ttl
    record.granted = db.now_ms
    record.rate = rate
    return b"%d" % token


@command("lease.set")
def lease_set(db: Keyspace, args: list[bytes]) -> Reply:
    key = args[1]
    token = to_int(args[2])
    value = args[3]
    expire_ms: int | None = None
    keep_stale = 0
    index = 4
    while index < len(args):
        option = args[index].upper()
        if option == b"PX" and index + 1 < len(args) and expire_ms is None:
            expire_ms = _positive_ms(args[index + 1], b"lease.set")
            index += 2
        elif option == b"STALE" and index + 1 < len(args):
            keep_stale = _non_negative_ms(args[index + 1])
            index += 2
        else:
            raise CommandError(SYNTAX)
    table = db.leases
    now = db.now_ms
    record = table.records.get(key)
    if token is None or record is None or record.token != token or not record.holds_lease(now):
        raise CommandError(LEASE_NOT_VALID)
    if expire_ms is not None and now + expire_ms > LLONG_MAX:  # as SET's PX overflow
        raise CommandError(invalid_expire_time(b"lease.set"))
    record.token = 0
    record.until = 0
    db.set(key, value)
    if expire_ms is not None:
        db.set_expire(key, now + expire_ms)
    record.keep_stale_ms = keep_stale
    if record.is_dead(now, True):
        del table.records[key]
    return OK
