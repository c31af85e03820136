"""The router's ACL check before a command runs or is queued (the rules: proto/acl_check.py):
the client's NOPERM errors, ACL DRYRUN's texts, EXEC's second check, SORT's options."""

from __future__ import annotations

from functools import partial

from proto.acl import READ, User
from proto.acl_check import Denial, Reason, caller_rules, check
from proto.commands.spec import CommandSpec
from router import replies
from router.backend import ScriptCaller
from router.connection import ClientState
from router.context import RouterContext

_SCRIPT_COMMANDS = frozenset(
    spelling
    for name in ("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro")
    for spelling in (name.encode(), name.upper().encode())
)
_NOBODY = User(name=b"")


def script_caller(
    ctx: RouterContext, client: ClientState, commands: list[list[bytes]]
) -> ScriptCaller | None:
    """Backend.execute's caller for these commands: a restricted user's when one of them
    runs a script (its redis.call are checked on the shard; those refused go to ACL LOG
    with context lua, as Redis's scriptVerifyACL logs them), else None."""
    user = ctx.acl.user(client.user)
    if user is not None and user.is_unrestricted():
        return None
    for args in commands:
        name = args[0]
        if name in _SCRIPT_COMMANDS or name.lower() in _SCRIPT_COMMANDS:
            rules = caller_rules(user if user is not None else _NOBODY)
            return ScriptCaller(rules, partial(_script_refused, ctx, client))
    return None


def _script_refused(ctx: RouterContext, client: ClientState, reason: int, object_: bytes) -> None:
    logged = _LOG_REASONS.get(Reason(reason)) if reason in _REASON_VALUES else None
    if logged is None:  # not a reason a node sends: nothing to log
        return
    ctx.acl.count_denial(logged)
    ctx.acl.record(client, logged, object_, context=b"lua")


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
_REASON_VALUES = frozenset(int(reason) for reason in Reason)


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
