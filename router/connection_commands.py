"""Connection commands the router answers itself (PING, ECHO, SELECT, AUTH, HELLO, QUIT,
RESET, READONLY, READWRITE, CLIENT ...), with Redis 7.0's replies and errors. WAIT is
router/replication_commands.py's."""

from __future__ import annotations

import time

from proto import errors
from proto.databases import select_index
from proto.resp import OK, PONG, Error, Map, Reply, Simple, Verbatim, encode
from router import client_ops
from router.connection import ClientState
from router.context import RouterContext
from router.local_commands import NO_REPLY, Connection, answers, answers_with, help_lines
from router.pause import ALL, WRITE
from router.tracking import info as tracking_info
from router.tracking import parse_tracking, redirect_target

DEFAULT_USER = client_ops.DEFAULT_USER


def _integer(arg: bytes) -> int | None:
    return client_ops.integer(arg)


def valid_name(name: bytes) -> bool:
    """validateClientName: printable ASCII without spaces ('!' .. '~')."""
    return all(33 <= byte <= 126 for byte in name)


# ---------------------------------------------------------------------- connection


@answers("ping", allowed_when_subscribed=True)
def ping(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) > 2:
        return Error(errors.wrong_arity("ping"))
    if client.subscribed and not client.resp3:  # a reply that reads like a message
        return [b"pong", b"" if len(args) == 1 else args[1]]
    return PONG if len(args) == 1 else args[1]


@answers("echo")
def echo(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return args[1]


@answers("select", waits=True, shard_runs_in_multi=True)
async def select(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """A barrier: the commands before it in a pipeline act on the database they were sent
    in. Inside MULTI it is queued for the shard (LocalCommand.shard_runs_in_multi)."""
    index = select_index(args[1])
    if type(index) is bytes:
        return Error(index)
    client.db = index  # type: ignore[assignment]
    return OK


@answers("auth")
def auth(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) > 3:
        return Error(errors.SYNTAX)
    if len(args) == 2:
        default = ctx.acl.user(DEFAULT_USER)
        if default is not None and default.nopass:
            return Error(errors.AUTH_NOT_CONFIGURED)
        username, password = DEFAULT_USER, args[1]
    else:
        username, password = args[1], args[2]
    if not ctx.acl.authenticate(client, username, password, args[0]):
        return Error(errors.WRONGPASS)
    return OK


@answers("hello")
def hello(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    version = None
    if len(args) >= 2:
        version = _integer(args[1])
        if version is None:
            return Error(errors.PROTOCOL_VERSION_NOT_INTEGER)
        if version not in (2, 3):
            return Error(errors.NOPROTO)
    credentials = None
    name = None
    index = 2
    while index < len(args):
        option = args[index].lower()
        more = len(args) - 1 - index
        if option == b"auth" and more >= 2:
            credentials = (args[index + 1], args[index + 2])
            index += 3
        elif option == b"setname" and more >= 1:
            name = args[index + 1]
            if not valid_name(name):
                return Error(errors.BAD_CLIENT_NAME)
            index += 2
        else:
            return Error(b"ERR Syntax error in HELLO option '%s'" % args[index])
    if credentials is not None and not ctx.acl.authenticate(client, *credentials, args[0]):
        return Error(errors.WRONGPASS)
    if not client.authenticated:
        return Error(errors.HELLO_NOAUTH)
    if name is not None:
        client.name = name or None
    if version is not None:
        client.resp3 = version == 3
    return Map(
        [
            b"server",
            b"redis",
            b"version",
            ctx.config.redis_version.encode(),
            b"proto",
            3 if client.resp3 else 2,
            b"id",
            client.id,
            b"mode",
            b"standalone",  # clients must not try cluster redirections: the router routes
            b"role",
            b"master",
            b"modules",
            [],
        ]
    )


@answers("quit", acts_in_multi=True, allowed_when_subscribed=True)
def quit_(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    client.closing = True
    return OK


@answers("reset", acts_in_multi=True, allowed_when_subscribed=True)
def reset(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    ctx.backend.pubsub.drop(client)
    ctx.monitor.remove(client)
    ctx.tracking.disable(client)
    client.reset(authenticated=not ctx.requires_auth)
    return Simple(b"RESET")


@answers("readonly")
def readonly(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    client.readonly = True
    return OK


@answers("readwrite")
def readwrite(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    client.readonly = False
    return OK


# ---------------------------------------------------------------------- CLIENT

CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]",
    "      Return clients with the given ids.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Set client library name or version.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Print this help.",
]


@answers("client|id")
def client_id(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return client.id


@answers("client|getname")
def client_getname(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return client.name


@answers("client|setname")
def client_setname(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if not valid_name(args[2]):
        return Error(errors.BAD_CLIENT_NAME)
    client.name = args[2] or None
    return OK


@answers("client|setinfo")
def client_setinfo(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    attribute = args[2].lower()
    if attribute not in (b"lib-name", b"lib-ver"):
        return Error(b"ERR Unrecognized option '%s'" % args[2])
    if not valid_name(args[3]):
        return Error(b"ERR %s cannot contain spaces, newlines or special characters." % args[2])
    if attribute == b"lib-name":
        client.lib_name = args[3] or None
    else:
        client.lib_ver = args[3] or None
    return OK


@answers("client|info")
def client_info(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    handle = ctx.clients.get(client.id)
    return Verbatim(client.info_line(time.monotonic(), handle.buffered if handle else 0))


@answers("client|list", waits=True)
async def client_list(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """The clients of every router: this one's, then those the others send."""
    wanted = client_ops.parse_list(args[2:])
    if isinstance(wanted, bytes):
        return Error(wanted)
    lines = client_ops.list_lines(ctx, wanted)
    for answer in await ctx.bus.ask(b"client-list", args[2:]):
        lines += answer
    lines.sort(key=client_ops.line_id)  # by id, as Redis lists its clients
    return Verbatim(b"".join(lines))


@answers("client|kill", waits=True)
async def client_kill(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """Kills on whichever router holds the clients; the count over every router."""
    wanted = client_ops.parse_kill(args[2:])
    if isinstance(wanted, bytes):
        return Error(wanted)
    for option, value in zip(args[2::2], args[3::2]):
        if len(args) > 3 and option.lower() == b"user" and ctx.acl.user(value) is None:
            return Error(b"ERR No such user '%s'" % value)
    killed = client_ops.kill(ctx, wanted, client.id)
    for answer in await ctx.bus.ask(b"client-kill", [b"%d" % client.id, *args[2:]]):
        killed += int(answer[0]) if answer and answer[0].isdigit() else 0
    if wanted.old_form:
        return OK if killed else Error(errors.NO_SUCH_CLIENT)
    return killed


@answers("client|pause", waits=True)
async def client_pause(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """Pauses every router: each holds its clients' commands for `timeout` ms from when it
    hears of it. The reply comes once every router that answers applied it."""
    if len(args) > 4:
        return Error(
            b"ERR unknown subcommand or wrong number of arguments for '%s'. Try CLIENT HELP."
            % args[1]
        )
    timeout = _integer(args[2])
    if timeout is None:
        return Error(b"ERR timeout is not an integer or out of range")
    if timeout < 0:
        return Error(b"ERR timeout is negative")
    mode = ALL
    if len(args) == 4:
        named = args[3].lower()
        if named not in (b"write", b"all"):
            return Error(b"ERR CLIENT PAUSE mode must be WRITE or ALL")
        mode = WRITE if named == b"write" else ALL
    ctx.pause.pause(timeout, mode)
    await ctx.bus.ask(b"pause", [b"%d" % timeout, b"%d" % mode])
    return OK


@answers("client|unpause", waits=True)
async def client_unpause(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    ctx.pause.unpause()
    await ctx.bus.ask(b"unpause", [])
    return OK


@answers("client|unblock", waits=True)
async def client_unblock(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """Unblocks the client on whichever router holds it: 1 if it was blocked."""
    if len(args) > 4:
        return Error(
            b"ERR unknown subcommand or wrong number of arguments for '%s'. Try CLIENT HELP."
            % args[1]
        )
    target = _integer(args[2])
    if target is None:
        return Error(errors.NOT_INTEGER)
    error = False
    if len(args) == 4:
        reason = args[3].lower()
        if reason not in (b"timeout", b"error"):
            return Error(b"ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == b"error"
    handle = ctx.clients.get(target)
    if handle is not None:
        return int(await handle.unblock(error))
    reason = b"error" if error else b"timeout"
    answers = await ctx.bus.ask(b"unblock", [b"%d" % target, reason])
    return int(any(answer == [b"1"] for answer in answers))


@answers("client|no-evict")
def client_no_evict(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """Recorded and shown (flag e); the router never evicts clients for memory."""
    value = args[2].lower()
    if value not in (b"on", b"off"):
        return Error(errors.SYNTAX)
    client.no_evict = value == b"on"
    return OK


@answers("client|tracking", waits=True)
async def client_tracking(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT]
    [NOLOOP] (router/tracking.py); ON answers once the shards' invalidations flow."""
    remote: set[int] = set()
    target = redirect_target(args[2:], _integer)
    if target is not None and target not in ctx.clients and target != client.id:
        # A client of another router may be the target (its router forwards to it).
        answers = await ctx.bus.ask(b"client-exists", [b"%d" % target])
        if [b"1"] in answers:
            remote.add(target)
    known = ctx.clients.keys() | remote
    settings = parse_tracking(client, args[2:], known.__contains__, _integer)
    if isinstance(settings, bytes):
        return Error(settings)
    if settings is not None and settings.redirect in remote:
        settings.remote_redirect = True
    if settings is None:
        ctx.tracking.disable(client)
    else:
        await ctx.tracking.enable(client, settings)
    return OK


@answers("client|caching")
def client_caching(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    settings = client.tracking
    if settings is None:
        return Error(
            b"ERR CLIENT CACHING can be called only when the client is in tracking mode with "
            b"OPTIN or OPTOUT mode enabled"
        )
    value = args[2].lower()
    if value == b"yes":
        if not settings.optin:
            return Error(
                b"ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
            )
    elif value == b"no":
        if not settings.optout:
            return Error(
                b"ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
            )
    else:
        return Error(errors.SYNTAX)
    settings.caching = True
    return OK


@answers("client|getredir")
def client_getredir(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return -1 if client.tracking is None else client.tracking.redirect


@answers("client|trackinginfo")
def client_trackinginfo(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return Map(tracking_info(client))


@answers_with("monitor")
async def monitor(connection: Connection, args: list[bytes]) -> bytes:
    """Shows every router's commands from now on (router/monitor.py). Inside EXEC it is
    refused, and a monitor's MONITOR gets no reply, as in Redis."""
    client = connection.client
    if client.in_exec:
        return encode(Error(b"ERR MONITOR isn't allowed for DENY BLOCKING client"))
    if client.monitor:
        return b""
    await connection.ctx.monitor.add(connection)
    return encode(OK)


@answers("client|help")
def client_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(CLIENT_HELP)


@answers("client|reply", replies_when_off=True)
def client_reply(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    """CLIENT REPLY ON|OFF|SKIP: ON always answers, even after OFF; OFF and SKIP do not."""
    mode = args[2].lower()
    if mode == b"on":
        client.reply_off = False
        client.skip_next_reply = False
        return OK
    if mode == b"off":
        client.reply_off = True
        return NO_REPLY
    if mode == b"skip":
        if not client.reply_off:
            client.skip_next_reply = True
        return NO_REPLY
    return Error(errors.SYNTAX)
