"""SWAPDB, which the router answers by asking the backend to swap two databases on every
shard at once (a cluster does it through the metadata group: node/db_swaps.py). SELECT is
connection_commands.py's: the database is the connection's."""

from __future__ import annotations

from proto import errors
from proto.databases import DATABASES
from proto.resp import OK, Error, Reply
from router.backend import BackendError
from router.client_ops import integer
from router.connection import ClientState
from router.context import RouterContext
from router.local_commands import answers


def _index(arg: bytes, invalid: bytes) -> int | bytes:
    """swapdbCommand's reading of an index: its own error for a non-integer, then the
    range check."""
    index = integer(arg)
    if index is None or not -(2**31) <= index < 2**31:
        return invalid
    if not 0 <= index < DATABASES:
        return errors.DB_OUT_OF_RANGE
    return index


@answers("swapdb", waits=True)
async def swapdb(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    first = _index(args[1], errors.INVALID_FIRST_DB)
    if type(first) is bytes:
        return Error(first)
    second = _index(args[2], errors.INVALID_SECOND_DB)
    if type(second) is bytes:
        return Error(second)
    if first != second:
        try:
            await ctx.backend.swap_databases(first, second)  # type: ignore[arg-type]
        except BackendError as failure:
            return Error(failure.reply)
    return OK
