"""MULTI, EXEC, DISCARD, WATCH and UNWATCH: the connection's transaction state and WATCH
and EXEC themselves are router/transaction.py's. These act at once inside MULTI (except
UNWATCH, queued as Redis does)."""

from __future__ import annotations

from proto import errors
from proto.databases import select_index
from proto.resp import OK, Error, Reply
from router import replies, transaction
from router.acl_check import exec_denial, script_caller
from router.connection import ClientState
from router.context import RouterContext
from router.local_commands import LOCAL_COMMANDS, Connection, answers, answers_with
from router.tracking import noloop_writer
from router.transaction import Queued


@answers("multi", acts_in_multi=True)
def multi(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return OK if client.transaction.begin() else Error(errors.MULTI_NESTED)


@answers("discard", acts_in_multi=True)
def discard(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if not client.transaction.active:
        return Error(errors.DISCARD_WITHOUT_MULTI)
    client.transaction.discard()
    return OK


@answers("unwatch")
def unwatch(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    client.transaction.unwatch()
    return OK


@answers_with("watch", acts_in_multi=True)
async def watch(connection: Connection, args: list[bytes]) -> bytes:
    state = connection.client.transaction
    if state.active:
        return replies.error(errors.WATCH_IN_MULTI)
    ctx = connection.ctx
    return await transaction.watch(state, args[1:], ctx.planner, ctx.backend, connection.client.db)


@answers_with("exec", acts_in_multi=True)
async def exec_(connection: Connection, args: list[bytes]) -> bytes:
    async def run_local(queued: Queued) -> bytes:
        command = LOCAL_COMMANDS[queued.spec.name]
        return await command.run_in_exec(connection, queued.args)

    client = connection.client
    ctx = connection.ctx

    def refused(queued: Queued) -> bytes | None:
        return exec_denial(ctx, client, queued.spec, queued.args)

    # The database after EXEC: that of its last SELECT, if the transaction ran.
    selected = [
        index
        for queued in client.transaction.queued
        if queued.spec.name == "select" and type(index := select_index(queued.args[1])) is int
    ]
    reply = await transaction.execute(
        client.transaction,
        client.resp3,
        ctx.backend,
        run_local,
        client.write_marks,
        refused,
        noloop_writer(client),
        script_caller(ctx, client, [queued.args for queued in client.transaction.queued]),
        client.db,
    )
    if selected and reply[:1] == b"*" and reply[:3] != b"*-1":
        client.db = selected[-1]
    return reply
