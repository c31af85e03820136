"""What a blocking command (BLPOP, BLMOVE, BZPOPMIN, ...) returns when it would block, and
its timeout argument parsed. Its reply once the timeout passed is its spec's
(proto.commands.timeout_reply)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from node.engine.errors import CommandError
from node.engine.keyspace import Keyspace
from node.engine.list_value import ListValue
from node.engine.parsing import to_long_double
from node.engine.zset_value import ZSetValue
from proto.errors import TIMEOUT_NEGATIVE, TIMEOUT_NOT_FLOAT


class WouldBlock:
    """Nothing to pop yet: the node parks the request until one of `keys` changes or
    `timeout` seconds pass (0 means forever). Nothing was modified. `resolved`: the
    command's arguments with what its first application made concrete (XREAD's `$`), for
    every later application (node/resolved_reads.py); None when there is nothing to keep."""

    __slots__ = ("keys", "resolved", "timeout")

    def __init__(
        self, keys: list[bytes], timeout: float, resolved: list[bytes] | None = None
    ) -> None:
        self.keys = keys
        self.timeout = timeout
        self.resolved = resolved

    def __repr__(self) -> str:
        return f"WouldBlock(keys={self.keys!r}, timeout={self.timeout})"


def parse_timeout(arg: bytes) -> float:
    """A blocking timeout in seconds (0: forever), as Redis 7.0's getTimeoutFromObjectOrReply
    computes it: a long double times 1000, rounded up (ceill: 0.001 is one millisecond,
    not zero, which would be forever) to a 64-bit integer of milliseconds (out of range
    becomes negative, as the C conversion does on x86), then checked."""
    value = to_long_double(arg)
    if value is None:
        raise CommandError(TIMEOUT_NOT_FLOAT)
    scaled = value * 1000
    if not np.isfinite(scaled) or not -(2**63) <= scaled < 2**63:
        raise CommandError(TIMEOUT_NEGATIVE)
    milliseconds = int(np.ceil(scaled))
    if milliseconds < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    return milliseconds / 1000


# The type a blocking command pops from (its keys are its sources; BLMOVE's destination
# is not one of them).
_SOURCE_TYPE: dict[bytes, type] = {
    **dict.fromkeys((b"blpop", b"brpop", b"brpoplpush", b"blmove", b"blmpop"), ListValue),
    **dict.fromkeys((b"bzpopmin", b"bzpopmax", b"bzmpop"), ZSetValue),
}


def may_serve(db: Keyspace, args: list[bytes], keys: Iterable[bytes]) -> bool:
    """Whether a parked command is worth running again now that some of `keys` changed: as
    in Redis 7.0 (handleClientsBlockedOnKeys), only when one of them holds its type. A key
    that became a string leaves it waiting instead of answering WRONGTYPE (which the
    command answers only when that is what it finds on its first run). A read only: no
    hit/miss counted, nothing expired; an expired key passing here parks again on the
    retry. Decided where the request is parked, not replicated."""
    kind = _SOURCE_TYPE.get(args[0].lower())
    if kind is None:
        return True
    data = db.data
    return any(type(data.get(key)) is kind for key in keys)
