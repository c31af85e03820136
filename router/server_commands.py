"""Server commands the router answers itself: CONFIG (a read-only view, config_get.py),
INFO (the shards' numbers added up, info.py) and TIME. COMMAND is command_docs.py's."""

from __future__ import annotations

import time

from proto.resp import OK, Error, Reply, Verbatim
from router.config_get import config_get
from router.connection import ClientState
from router.context import RouterContext
from router.errors import CONFIG_READ_ONLY
from router.info import render_info
from router.local_commands import answers, help_lines


@answers("time")
def time_(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    now_us = time.time_ns() // 1000
    return [b"%d" % (now_us // 1_000_000), b"%d" % (now_us % 1_000_000)]


CONFIG_HELP = [
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Not supported: the router's configuration is read-only at run time.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "HELP",
    "    Prints this help.",
]


@answers("config|get")
def config_get_command(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return config_get(ctx, args[2:])


@answers("config|set", "config|rewrite")
def config_read_only(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return Error(CONFIG_READ_ONLY % args[1].upper())


@answers("config|resetstat")
def config_resetstat(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    ctx.stats.reset()
    return OK


@answers("config|help")
def config_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(CONFIG_HELP)


@answers("info", waits=True)
async def info(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return Verbatim(await render_info(ctx, [arg.lower() for arg in args[1:]]))
