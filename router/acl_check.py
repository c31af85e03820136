"""What an ACL user may run, checked by the router before a command runs (Redis 7.0's
ACLCheckAllUserCommandPerm): the command, then its keys (read or write, from the command
table's key positions and flags), then its channels; a user passes if one of its selectors
allows all three. The keys a command reads or writes are known from its flags, and for the
commands whose keys differ (a destination and sources, a value returned as it is changed)
from the tables below, which follow Redis 7.0's key specs."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from proto.acl import ALL_PERMISSIONS, READ, WRITE, Selector, User
from proto.commands.spec import CommandSpec
from router import replies
from router.connection import ClientState
from router.context import RouterContext

# Writes that also return (ACCESS) what they change: every key needs read and write.
_READ_AND_WRITE = frozenset(
    [
        "incr",
        "decr",
        "incrby",
        "decrby",
        "incrbyfloat",
        "getset",
        "getdel",
        "getex",
        "lpop",
        "rpop",
        "blpop",
        "brpop",
        "lmpop",
        "blmpop",
        "spop",
        "zpopmin",
        "zpopmax",
        "bzpopmin",
        "bzpopmax",
        "zmpop",
        "bzmpop",
        "zincrby",
        "hincrby",
        "hincrbyfloat",
        "setbit",
        "xreadgroup",
        "eval",
        "evalsha",
        "fcall",
    ]
)
# The first key is read and written (a source), the rest only written (destinations).
_SOURCE_THEN_DESTINATION = frozenset(
    ["lmove", "blmove", "rpoplpush", "brpoplpush", "smove", "rename", "renamenx"]
)
# The first key is written (a destination), the rest read (sources).
_DESTINATION_THEN_SOURCES = frozenset(
    [
        "sinterstore",
        "sunionstore",
        "sdiffstore",
        "zunionstore",
        "zinterstore",
        "zdiffstore",
        "zrangestore",
        "bitop",
        "geosearchstore",
    ]
)
# Reads that show no value (RO without ACCESS): any key pattern will do.
_NO_ACCESS = frozenset(
    [
        "exists",
        "type",
        "strlen",
        "hexists",
        "sismember",
        "watch",
        "memory|usage",
        "llen",
        "scard",
        "zcard",
        "hlen",
        "hstrlen",
        "xlen",
        "touch",
        "object|encoding",
        "object|freq",
        "object|idletime",
        "object|refcount",
    ]
)
_SHARD_CHANNELS = frozenset(["spublish", "ssubscribe", "sunsubscribe"])
# Read (ACCESS) whatever the command's flags say: HyperLogLog's cached count, the
# read-only scripts.
_READ = frozenset(["eval_ro", "evalsha_ro", "fcall_ro", "pfcount", "pfdebug"])


def key_needs(spec: CommandSpec, args: list[bytes]) -> list[tuple[bytes, int]]:
    """Each key of the command with the permissions it needs (READ, WRITE or both; 0:
    any pattern)."""
    name = spec.name
    if name in _SHARD_CHANNELS:  # a shard channel routes like a key but is not one (NOT_KEY)
        return []
    positions = spec.key_positions(args)
    if not positions:
        return []
    keys = [args[index] for index in positions]
    if name in _NO_ACCESS:
        return [(key, 0) for key in keys]
    if name in _READ:
        return [(key, READ) for key in keys]
    if name == "bitfield":  # VARIABLE_FLAGS: only its SET and INCRBY write
        writes = any(arg.lower() in (b"set", b"incrby") for arg in args[2:])
        return [(key, ALL_PERMISSIONS if writes else READ) for key in keys]
    if name in _READ_AND_WRITE or (name == "set" and any(a.lower() == b"get" for a in args[3:])):
        return [(key, ALL_PERMISSIONS) for key in keys]
    if name in _SOURCE_THEN_DESTINATION:
        return [(keys[0], ALL_PERMISSIONS)] + [(key, WRITE) for key in keys[1:]]
    if name in _DESTINATION_THEN_SOURCES or name == "pfmerge":
        first = ALL_PERMISSIONS if name == "pfmerge" else WRITE
        return [(keys[0], first)] + [(key, READ) for key in keys[1:]]
    if name == "copy":
        return [(keys[0], READ)] + [(key, WRITE) for key in keys[1:]]
    if spec.is_write:
        return [(key, WRITE) for key in keys]
    return [(key, READ) for key in keys]


def channels_of(spec: CommandSpec, args: list[bytes]) -> tuple[list[bytes], bool]:
    """The channels a command uses (getChannelsFromCommand) and whether they are
    patterns."""
    name = spec.name
    if name in ("publish", "spublish"):
        return [args[1]], False
    if name in ("subscribe", "ssubscribe"):
        return args[1:], False
    if name == "psubscribe":
        return args[1:], True
    return [], False


class Reason(enum.IntEnum):
    """ACL_DENIED_*: when no selector allows a command, the furthest reason is told."""

    COMMAND = 1
    KEY = 2
    CHANNEL = 4


@dataclass(frozen=True, slots=True)
class Denial:
    reason: Reason
    object: bytes  # the command's full name, the key or the channel
    position: int = 0  # which key or channel (the furthest is told)


def _check_selector(selector: Selector, spec: CommandSpec, args: list[bytes]) -> Denial | None:
    if not selector.allows_command(spec, args):
        return Denial(Reason.COMMAND, spec.name.encode())
    if not selector.allkeys:
        for position, (key, needed) in enumerate(key_needs(spec, args)):
            if not selector.allows_key(key, needed):
                return Denial(Reason.KEY, key, position)
    if not selector.allchannels:
        channels, patterns = channels_of(spec, args)
        for position, channel in enumerate(channels):
            if not selector.allows_channel(channel, patterns):
                return Denial(Reason.CHANNEL, channel, position)
    return None


def check(user: User, spec: CommandSpec, args: list[bytes]) -> Denial | None:
    """None if the user may run the command, else why not."""
    worst: Denial | None = None
    for selector in user.selectors_in_order():
        denial = _check_selector(selector, spec, args)
        if denial is None:
            return None
        if worst is None or (denial.reason, denial.position) > (worst.reason, worst.position):
            worst = denial
    return worst


def noperm_error(denial: Denial) -> bytes:
    """The client's error text (without '-')."""
    if denial.reason is Reason.COMMAND:
        return b"NOPERM this user has no permissions to run the '%s' command" % denial.object
    if denial.reason is Reason.KEY:
        return b"NOPERM this user has no permissions to access one of the keys used as arguments"
    return b"NOPERM this user has no permissions to access one of the channels used as arguments"


def dryrun_text(denial: Denial) -> bytes:
    """ACL DRYRUN's answer for a denial."""
    if denial.reason is Reason.COMMAND:
        return b"This user has no permissions to run the '%s' command" % denial.object
    if denial.reason is Reason.KEY:
        return b"This user has no permissions to access the '%s' key" % denial.object
    return b"This user has no permissions to access the '%s' channel" % denial.object


_LOG_REASONS = {Reason.COMMAND: b"command", Reason.KEY: b"key", Reason.CHANNEL: b"channel"}


def acl_denial(
    ctx: RouterContext, client: ClientState, spec: CommandSpec, args: list[bytes]
) -> bytes | None:
    """The session's check before a command runs (or is queued by MULTI): None if the
    client's user may run it, else the NOPERM error, the denial counted and logged."""
    if spec.allowed_before_auth:  # AUTH, HELLO, QUIT: Redis exempts CMD_NO_AUTH commands
        return None
    user = ctx.acl.user(client.user)
    if user is None:  # deleted: its connection is being closed; nothing runs meanwhile
        return noperm_error(Denial(Reason.COMMAND, spec.name.encode()))
    if user.is_unrestricted():
        return None
    denial = check(user, spec, args)
    if denial is None:
        # Inside MULTI, SORT's options are refused when EXEC runs it, as in Redis.
        return None if client.transaction.active else sort_option_error(user, spec, args)
    reason = _LOG_REASONS[denial.reason]
    client.last_command = spec.name  # the log's client-info names it, as Redis's does
    ctx.acl.count_denial(reason)
    ctx.acl.record(client, reason, denial.object)
    return noperm_error(denial)


# execCommand's reasons, when the rules changed between MULTI's queueing and EXEC.
_EXEC_REASONS = {
    Reason.COMMAND: b"no permission to execute the command or subcommand",
    Reason.KEY: b"no permission to touch the specified keys",
    Reason.CHANNEL: b"no permission to access one of the channels used as arguments",
}


def exec_denial(
    ctx: RouterContext, client: ClientState, spec: CommandSpec, args: list[bytes]
) -> bytes | None:
    """EXEC checks each queued command again, as Redis 7.0 does: None if it may still
    run, else its encoded NOPERM error (counted and logged in the multi context)."""
    user = ctx.acl.user(client.user)
    if user is not None and user.is_unrestricted():
        return None
    denial = Denial(Reason.COMMAND, spec.name.encode()) if user is None else check(user, spec, args)
    if denial is None:
        refusal = None if user is None else sort_option_error(user, spec, args)
        return None if refusal is None else replies.error(refusal)
    reason = _LOG_REASONS[denial.reason]
    ctx.acl.count_denial(reason)
    ctx.acl.record(client, reason, denial.object, context=b"multi")
    return replies.error(
        b"NOPERM ACLs rules changed between the moment the transaction was accumulated and the "
        b"EXEC call. This command is no longer allowed for the following reason: "
        + _EXEC_REASONS[denial.reason]
    )


def _reads_every_key(user: User, spec: CommandSpec, args: list[bytes]) -> bool:
    """ACLUserCheckCmdWithUnrestrictedKeyAccess: a selector that allows the command may
    read any key (allkeys, or a readable `*` pattern)."""
    return any(
        selector.allows_command(spec, args)
        and (
            selector.allkeys
            or any(pattern == b"*" and flags & READ for flags, pattern in selector.keys)
        )
        for selector in user.selectors_in_order()
    )


def sort_option_error(user: User, spec: CommandSpec, args: list[bytes]) -> bytes | None:
    """SORT's BY (with a pattern) and GET read keys its arguments do not name: Redis
    refuses them to a user who may not read every key (sortCommandGeneric)."""
    if spec.name not in ("sort", "sort_ro"):
        return None
    index = 2
    while index < len(args):
        option = args[index].lower()
        left = len(args) - index - 1
        if option == b"by" and left >= 1:
            if b"*" in args[index + 1] and not _reads_every_key(user, spec, args):
                return b"ERR BY option of SORT denied due to insufficient ACL permissions."
            index += 2
        elif option == b"get" and left >= 1:
            if not _reads_every_key(user, spec, args):
                return b"ERR GET option of SORT denied due to insufficient ACL permissions."
            index += 2
        elif option == b"limit" and left >= 2:
            index += 3
        elif option == b"store" and left >= 1:
            index += 2
        else:
            index += 1
    return None
