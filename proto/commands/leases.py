"""Lease commands (issue 27): cache fills guarded by leases, against stampedes and stale
sets. slotraft's own, named LEASE.* so that they cannot collide with Redis's.

Replies (RESP2 and RESP3 alike):
- LEASE.GET key ttl-ms [STALE] [BLOCK ms] [RATE ms] [REFRESH] answers a 3-element
  array [state, value, token], state one of
    HIT   [HIT, value, nil]      the key holds a string
    LEASE [LEASE, stale, token]  a miss, and this caller got the lease: it recomputes and
                                 calls LEASE.SET with the token (stale: the stale value
                                 with STALE if one is kept, else nil); with REFRESH also
                                 on a hit when no lease is out (stale: the current value)
    STALE [STALE, value, nil]    a miss, another caller holds the lease, STALE given and
                                 a stale value kept
    WAIT  [WAIT, nil, nil]       a miss, another caller holds the lease (or RATE allows no
                                 new one yet); with BLOCK also once the wait ended without
                                 a value (the timeout passed, or the lease waited on ended:
                                 calling again may grant it)
- LEASE.SET key token value [PX ms] [STALE ms] answers +OK when the lease is still the
  key's, else -ERR lease is not valid (...): voided by a write of the key, expired, or
  not this key's token. STALE ms: once a delete or expiry removes the value, LEASE.GET
  STALE serves it for ms more while one caller recomputes.
RATE ms: no new lease on the key within ms of the last grant (the callers wait).
"""

from __future__ import annotations

from proto.commands.builder import DENYOOM, WRITE, command
from proto.commands.spec import Blocking

GROUP = "lease"
_ONE_KEY = (1, 1, 1)
# What a LEASE.GET that waited and got no value answers, and what it answers where it may
# not block (MULTI, scripts): WAIT, the reply of a miss while another caller holds the lease.
WAIT_REPLY = [b"WAIT", None, None]


def _block_position(args: list[bytes]) -> int | None:
    """Where BLOCK's value is among LEASE.GET's options (the last BLOCK wins, as the
    engine reads them), None without it: the call then never blocks."""
    found = None
    for index in range(3, len(args) - 1):
        if bytes(args[index]).upper() == b"BLOCK":
            found = index + 1
    return found


_BLOCK = Blocking(
    timeout_arg=3,
    reply_on_timeout=WAIT_REPLY,
    reply_if_cannot_block=WAIT_REPLY,
    find_timeout=_block_position,
    milliseconds=True,
)

COMMANDS = [
    command(
        "lease.get",
        -3,
        WRITE | DENYOOM,
        _ONE_KEY,
        group=GROUP,
        blocking=_BLOCK,
        since="7.0.0",
        summary="LEASE.GET key ttl-ms [STALE] [BLOCK ms] [RATE ms] [REFRESH]: a string's "
        "value ([HIT, value, nil]), or on a miss a lease to fill it for one caller "
        "([LEASE, stale, token]) while the others wait ([WAIT, nil, nil], blocking with "
        "BLOCK) or take the stale value ([STALE, value, nil]).",
    ),
    command(
        "lease.set",
        -4,
        WRITE | DENYOOM,
        _ONE_KEY,
        group=GROUP,
        since="7.0.0",
        summary="LEASE.SET key token value [PX ms] [STALE ms]: sets a string's value only "
        "if the lease token is still the key's (no write of the key voided it and it has "
        "not expired); an error otherwise.",
    ),
]
