"""Server commands the router answers itself: INFO (the router's sections and the nodes'
numbers, info.py) and TIME. CONFIG is config_command.py's, SLOWLOG slowlog.py's, LATENCY
latency.py's, MEMORY memory_commands.py's, SWAPDB database_commands.py's (imported here,
they register their commands); COMMAND is command_docs.py's."""

from __future__ import annotations

import time

from proto.resp import Reply, Verbatim
from router import (  # noqa: F401
    config_command,
    database_commands,
    latency,
    memory_commands,
    slowlog,
)
from router.connection import ClientState
from router.context import RouterContext
from router.info import render_info
from router.local_commands import answers


@answers("time")
def time_(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    now_us = time.time_ns() // 1000
    return [b"%d" % (now_us // 1_000_000), b"%d" % (now_us % 1_000_000)]


@answers("info", waits=True)
async def info(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return Verbatim(await render_info(ctx, [arg.lower() for arg in args[1:]]))
