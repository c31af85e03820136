"""Redis's numbered databases (SELECT 0-15): how many, and how an index argument reads.
The router keeps a connection's database; each shard maps it to a key space
(node/engine/databases.py)."""

from __future__ import annotations

from proto.errors import DB_OUT_OF_RANGE, INT_OUT_OF_RANGE, NOT_INTEGER
from proto.redis_config import string2ll

DATABASES = 16  # Redis's default `databases`
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def select_index(arg: bytes) -> int | bytes:
    """SELECT's (and MOVE's, COPY ... DB's) reading of a database argument, as Redis 7.0's
    getIntFromObjectOrReply then selectDb: the index, or the error reply's text."""
    value = string2ll(arg.decode("latin-1"))
    if value is None:
        return NOT_INTEGER
    if not _INT_MIN <= value <= _INT_MAX:
        return INT_OUT_OF_RANGE
    if not 0 <= value < DATABASES:
        return DB_OUT_OF_RANGE
    return value
