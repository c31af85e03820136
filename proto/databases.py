"""Redis's numbered databases (SELECT 0-15): how many, and how an index argument reads.
The router keeps a connection's database; each shard maps it to a key space
(node/engine/databases.py)."""

from __future__ import annotations

import re

from proto.errors import DB_OUT_OF_RANGE, NOT_INTEGER

DATABASES = 16  # Redis's default `databases`
INT_OUT_OF_RANGE = b"ERR value is out of range, value must between -2147483648 and 2147483647"
_LONG_LONG = re.compile(rb"-?[1-9][0-9]*|0")
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def select_index(arg: bytes) -> int | bytes:
    """SELECT's (and MOVE's, COPY ... DB's) reading of a database argument, as Redis 7.0's
    getIntFromObjectOrReply then selectDb: the index, or the error reply's text."""
    if len(arg) > 20 or _LONG_LONG.fullmatch(arg) is None:
        return NOT_INTEGER
    value = int(arg)
    if not -(2**63) <= value < 2**63:
        return NOT_INTEGER
    if not _INT_MIN <= value <= _INT_MAX:
        return INT_OUT_OF_RANGE
    if not 0 <= value < DATABASES:
        return DB_OUT_OF_RANGE
    return value


def database_index(arg: bytes) -> int | None:
    """A database index argument in canonical decimal (0-15), or None."""
    if not arg.isdigit() or len(arg) > 2 or (len(arg) == 2 and arg[0] == 0x30):
        return None
    index = int(arg)
    return index if index < DATABASES else None
