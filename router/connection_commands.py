"""Connection commands the router answers itself (PING, ECHO, SELECT, AUTH, HELLO, QUIT,
RESET, READONLY, READWRITE, CLIENT ...), with Redis 7.0's replies and errors. WAIT is
router/replication_commands.py's."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from functools import partial

from proto import errors
from proto.resp import OK, PONG, Error, Map, Reply, Simple, Verbatim
from router.connection import ClientState
from router.context import ClientHandle, RouterContext
from router.local_commands import NO_REPLY, answers, help_lines

DEFAULT_USER = b"default"
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def _integer(arg: bytes) -> int | None:
    """string2ll's acceptance: an optional '-' and digits without a leading zero."""
    if len(arg) > 20:
        return None
    text = arg[1:] if arg[:1] == b"-" else arg
    if not text.isdigit() or (text[0] == 48 and (len(text) > 1 or arg[:1] == b"-")):
        return None
    value = int(arg)
    return value if _LONG_MIN <= value <= _LONG_MAX else None


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


@answers("select")
def select(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    index = _integer(args[1])
    if index is None or not -(2**31) <= index < 2**31:
        return Error(errors.NOT_INTEGER)
    if index != 0:
        return Error(errors.SELECT_CLUSTER)
    return OK


def check_password(ctx: RouterContext, username: bytes, password: bytes) -> bool:
    """The only user is 'default'; without requirepass it takes any password (nopass)."""
    if username != DEFAULT_USER:
        return False
    expected = ctx.config.requirepass
    return expected is None or hmac.compare_digest(expected, password)


@answers("auth")
def auth(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) > 3:
        return Error(errors.SYNTAX)
    if len(args) == 2:
        if ctx.config.requirepass is None:
            return Error(errors.AUTH_NOT_CONFIGURED)
        username, password = DEFAULT_USER, args[1]
    else:
        username, password = args[1], args[2]
    if not check_password(ctx, username, password):
        return Error(errors.WRONGPASS)
    client.authenticated = True
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
    if credentials is not None:
        if not check_password(ctx, *credentials):
            return Error(errors.WRONGPASS)
        client.authenticated = True
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
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Set client library name or version.",
    "HELP",
    "    Print this help.",
]
_CLIENT_TYPES = (b"normal", b"master", b"replica", b"slave", b"pubsub")


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


def _of_type(client: ClientState, kind: bytes) -> bool:
    """getClientType: subscribers are 'pubsub', the others 'normal'; no replicas here."""
    if kind == b"pubsub":
        return client.subscribed
    return kind == b"normal" and not client.subscribed


@answers("client|list")
def client_list(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    wanted_ids: set[int] | None = None
    kind: bytes | None = None
    index = 2
    while index < len(args):
        option = args[index].lower()
        if option == b"type" and index + 1 < len(args):
            kind = args[index + 1].lower()
            if kind not in _CLIENT_TYPES:
                return Error(b"ERR Unknown client type '%s'" % args[index + 1])
            index += 2
        elif option == b"id" and index + 1 < len(args):
            wanted_ids = set()
            index += 1
            while index < len(args):
                value = _integer(args[index])
                if value is None or value <= 0:
                    return Error(b"ERR Invalid client ID")
                wanted_ids.add(value)
                index += 1
        else:
            return Error(errors.SYNTAX)
    now = time.monotonic()
    lines = [
        handle.client.info_line(now, handle.buffered)
        for handle in ctx.clients.values()
        if (kind is None or _of_type(handle.client, kind))
        and (wanted_ids is None or handle.client.id in wanted_ids)
    ]
    return Verbatim(b"".join(lines))


@answers("client|kill")
def client_kill(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) == 3:  # the old form: CLIENT KILL addr, may kill the caller itself
        targets = [h for h in ctx.clients.values() if h.client.addr.encode() == args[2]]
        if not targets:
            return Error(errors.NO_SUCH_CLIENT)
        _kill(client, targets)
        return OK
    if len(args) % 2:
        return Error(errors.SYNTAX)
    filters: list[Callable[[ClientState], bool]] = []
    skip_me = True
    for index in range(2, len(args), 2):
        option, value = args[index].lower(), args[index + 1]
        if option == b"id":
            wanted = _integer(value)
            if wanted is None or wanted <= 0:
                return Error(b"ERR client-id should be greater than 0")
            filters.append(partial(_has_id, wanted))
        elif option == b"addr":
            filters.append(partial(_has_addr, value))
        elif option == b"laddr":
            filters.append(partial(_has_laddr, value))
        elif option == b"type":
            kind = value.lower()
            if kind not in _CLIENT_TYPES:
                return Error(b"ERR Unknown client type '%s'" % value)
            filters.append(partial(_is_of_type, kind))
        elif option == b"user":
            filters.append(partial(_has_user, value))
        elif option == b"skipme":
            if value.lower() not in (b"yes", b"no"):
                return Error(errors.SYNTAX)
            skip_me = value.lower() == b"yes"
        else:
            return Error(errors.SYNTAX)
    targets = [
        handle
        for handle in ctx.clients.values()
        if all(check(handle.client) for check in filters)
        and not (skip_me and handle.client.id == client.id)
    ]
    _kill(client, targets)
    return len(targets)


def _has_id(wanted: int, state: ClientState) -> bool:
    return state.id == wanted


def _has_addr(addr: bytes, state: ClientState) -> bool:
    return state.addr.encode() == addr


def _has_laddr(laddr: bytes, state: ClientState) -> bool:
    return state.laddr.encode() == laddr


def _is_of_type(kind: bytes, state: ClientState) -> bool:
    return _of_type(state, kind)


def _has_user(user: bytes, state: ClientState) -> bool:
    return user == DEFAULT_USER  # the only user


def _kill(caller: ClientState, targets: list[ClientHandle]) -> None:
    for handle in targets:
        if handle.client.id == caller.id:
            caller.closing = True  # after this reply, as Redis does for itself
        else:
            handle.kill()


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
