"""The ACL command family (Redis 7.0's replies and errors). Changes (SETUSER, DELUSER,
LOAD) go through the backend to the metadata group and answer once applied; the rest
reads the replicated table (router/acl_state.py)."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from pathlib import Path

from proto import errors
from proto.acl import CATEGORIES, DEFAULT_USER, AclError, User, category_commands, password_hash
from proto.acl_check import check
from proto.acl_table import acl_file_text, change
from proto.commands import resolve
from proto.commands.index import Unresolved
from proto.resp import OK, Double, Error, Map, Reply
from router.acl_check import dryrun_text
from router.backend import BackendError
from router.connection import ClientState
from router.context import RouterContext
from router.local_commands import answers, help_lines

NO_ACLFILE = (
    b"ERR This Redis instance is not configured to use an ACL file. You may want to specify "
    b"users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a "
    b"Redis configuration file set) in order to store users in the Redis configuration."
)

ACL_HELP = [
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Print this help.",
]


async def _change(ctx: RouterContext, data: dict) -> Reply:
    try:
        result = await ctx.backend.change_acl(data)
    except AclError as error:
        return Error(error.text)
    except BackendError as error:
        return Error(error.reply)
    await ctx.acl.propagated()
    return result


@answers("acl|setuser", waits=True)
async def acl_setuser(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    name, rules = args[2], args[3:]
    if name == DEFAULT_USER and DEFAULT_USER not in ctx.acl.table.users:
        # The first change of `default`: it starts from this router's requirepass (as a
        # hash: no password travels in the log).
        password = ctx.config.requirepass
        if password is not None:
            rules = [b"#" + password_hash(password).encode(), *rules]
    reply = await _change(ctx, change("setuser", name=name, rules=rules))
    return reply if isinstance(reply, Error) else OK


@answers("acl|deluser", waits=True)
async def acl_deluser(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return await _change(ctx, change("deluser", names=args[2:]))


def _selector_map(commands: bytes, keys: bytes, channels: bytes) -> list[Reply]:
    return [b"commands", commands, b"keys", keys, b"channels", channels]


@answers("acl|getuser")
def acl_getuser(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    user = ctx.acl.user(args[2])
    if user is None:
        return None
    root = user.root
    return Map(
        [
            b"flags",
            user.flags(),
            b"passwords",
            [digest.encode() for digest in user.passwords],
            *_selector_map(root.commands_text(), root.keys_text(), root.channels_text()),
            b"selectors",
            [
                Map(_selector_map(s.commands_text(), s.keys_text(), s.channels_text()))
                for s in user.selectors
            ],
        ]
    )


def _users(ctx: RouterContext) -> list[User]:
    found = (ctx.acl.user(name) for name in ctx.acl.table.names())
    return [user for user in found if user is not None]


@answers("acl|list")
def acl_list(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return [user.line() for user in _users(ctx)]


@answers("acl|users")
def acl_users(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return [user.name for user in _users(ctx)]


@answers("acl|whoami")
def acl_whoami(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return client.user


@answers("acl|cat")
def acl_cat(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) == 2:
        return [name.encode() for name in CATEGORIES]
    category = args[2].decode("utf-8", "replace").lower()
    if category not in CATEGORIES:
        return Error(b"ERR Unknown category '%s'" % args[2])
    return [name.encode() for name in category_commands(category)]


@answers("acl|genpass")
def acl_genpass(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    bits = 256
    if len(args) == 3:
        try:
            bits = int(args[2])
        except ValueError:
            return Error(errors.NOT_INTEGER)
        if not 0 < bits <= 4096:
            return Error(
                b"ERR ACL GENPASS argument must be the number of bits for the output password, "
                b"a positive number up to 4096"
            )
    chars = (bits + 3) // 4
    return secrets.token_hex((chars + 1) // 2)[:chars].encode()


@answers("acl|log")
def acl_log(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    state = ctx.acl
    count = 10  # ACL LOG alone shows the 10 newest
    if len(args) == 3:
        if args[2].lower() == b"reset":
            state.entries.clear()
            return OK
        try:
            count = max(int(args[2]), 0)  # a negative count lists nothing, as in Redis
        except ValueError:
            return Error(errors.NOT_INTEGER)
    now = time.monotonic()
    return [
        Map(
            [
                b"count",
                entry.count,
                b"reason",
                entry.reason,
                b"context",
                entry.context,
                b"object",
                entry.object,
                b"username",
                entry.username,
                b"age-seconds",
                Double(now - entry.created),
                b"client-info",
                entry.client_info,
            ]
        )
        for entry in list(state.entries)[:count]
    ]


@answers("acl|dryrun")
def acl_dryrun(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    user = ctx.acl.user(args[2])
    if user is None:
        return Error(b"ERR User '%s' not found" % args[2])
    spec = resolve(args[3:])
    if isinstance(spec, Unresolved):
        if spec.reason.value == "wrong number of arguments":
            return Error(spec.text)
        return Error(b"ERR Command '%s' not found" % args[3])
    denial = check(user, spec, args[3:])
    return OK if denial is None else dryrun_text(denial)


@answers("acl|save")
def acl_save(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    path = ctx.config.aclfile
    if path is None:
        return Error(NO_ACLFILE)
    try:
        write_atomically(path, acl_file_text(ctx.acl.table, ctx.config.requirepass))
    except OSError:
        return Error(
            b"ERR There was an error trying to save the ACLs. Please check the server logs for "
            b"more information"
        )
    return OK


@answers("acl|load", waits=True)
async def acl_load(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    path = ctx.config.aclfile
    if path is None:
        return Error(NO_ACLFILE)
    try:
        text = path.read_bytes()
    except OSError as error:
        return Error(
            b"ERR Error loading ACLs, opening file '%s': %s"
            % (str(path).encode(), (error.strerror or "").encode())
        )
    reply = await _change(ctx, change("load", text=text, path=str(path).encode()))
    return reply if isinstance(reply, Error) else OK


@answers("acl|help")
def acl_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(ACL_HELP)


def write_atomically(path: Path, data: bytes) -> None:
    """ACLSaveToFile: a temporary file beside it, synced, renamed over it."""
    directory = path.parent
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
