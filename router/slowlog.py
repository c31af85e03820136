"""SLOWLOG: the commands of this router that took longer than slowlog-log-slower-than
(µs), timed end to end at the router (from the first byte of their batch read off the
connection to their replies being written: consensus, fsyncs and retries included), as
Redis 7.0 keeps and shows them. The settings are cluster-wide (CONFIG SET replicates them
through the metadata group); each router keeps its own log."""

from __future__ import annotations

from proto.redis_config import string2ll
from proto.resp import OK, Error, Reply
from router.connection import ClientState
from router.context import RouterContext
from router.local_commands import answers, help_lines

SLOWLOG_HELP = [
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
]


def subcommand_syntax_error(container: str, sub: bytes) -> Error:
    """Redis's addReplySubcommandSyntaxError."""
    return Error(
        b"ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP."
        % (sub[:128], container.upper().encode())
    )


@answers("slowlog|get")
def slowlog_get(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) > 3:
        return subcommand_syntax_error("slowlog", args[1])
    entries = ctx.slowlog.entries
    count = 10
    if len(args) == 3:
        parsed = string2ll(args[2].decode("latin-1"))
        if parsed is None or parsed < -1:
            return Error(b"ERR count should be greater than or equal to -1")
        count = len(entries) if parsed == -1 else parsed
    return [
        [entry.id, entry.time, entry.duration, list(entry.args), entry.peer, entry.name]
        for entry in list(entries)[:count]
    ]


@answers("slowlog|len")
def slowlog_len(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return len(ctx.slowlog.entries)


@answers("slowlog|reset")
def slowlog_reset(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    ctx.slowlog.reset()
    return OK


@answers("slowlog|help")
def slowlog_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(SLOWLOG_HELP)
