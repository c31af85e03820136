"""Connection and transaction commands: answered by the router itself (Route.ROUTER).

Flags, arities and categories as Redis 7.0's COMMAND INFO reports them; CLIENT SETINFO is
Redis 7.2's (clients send it on connect). READONLY/READWRITE select follower reads.
"""

from __future__ import annotations

from dataclasses import replace

from proto.commands.builder import A, F, command
from proto.commands.spec import CommandSpec, Flag, Route

_C = "connection"
_T = "transactions"
_S = Flag.NOSCRIPT
_L = Flag.LOADING | Flag.STALE
_NO_AUTH = Flag.NO_AUTH
_NONE = Flag(0)


def _local(
    name: str,
    arity: int,
    flags: Flag,
    summary: str,
    categories: tuple[str, ...],
    *,
    group: str = _C,
    since: str = "1.0.0",
    complexity: str = "O(1)",
    keys: tuple[int, int, int] = (0, 0, 0),
    subcommands: list[CommandSpec] | None = None,
) -> CommandSpec:
    spec = command(
        name,
        arity,
        flags,
        keys,
        group=group,
        summary=summary,
        since=since,
        complexity=complexity,
        route=Route.ROUTER,
        subcommands=subcommands,
    )
    return replace(spec, acl_categories=categories)


_CLIENT_CATEGORIES = ("@slow", "@connection")
_CLIENT_ADMIN = ("@admin", "@slow", "@dangerous", "@connection")

COMMANDS = [
    _local("ping", -1, F, "Returns the server's liveliness response.", ("@fast", "@connection")),
    _local("echo", 2, _L | F, "Returns the given string.", ("@fast", "@connection")),
    _local(
        "hello",
        -1,
        _S | _L | F | _NO_AUTH,
        "Handshakes with the server: protocol version, authentication, client name.",
        ("@fast", "@connection"),
        since="6.0.0",
    ),
    _local(
        "auth",
        -2,
        _S | _L | F | _NO_AUTH,
        "Authenticates the connection.",
        ("@fast", "@connection"),
        complexity="O(N) where N is the number of passwords defined for the user",
    ),
    _local(
        "select",
        2,
        _L | F,
        "Changes the selected database (only 0 exists).",
        ("@fast", "@connection"),
    ),
    _local(
        "quit",
        -1,
        _S | _L | F | _NO_AUTH,
        "Closes the connection.",
        ("@fast", "@connection"),
    ),
    _local(
        "reset",
        1,
        _S | _L | F | _NO_AUTH,
        "Resets the connection.",
        ("@fast", "@connection"),
        since="6.2.0",
    ),
    _local(
        "readonly",
        1,
        _L | F,
        "Lets this connection's reads be served by follower replicas (possibly stale).",
        ("@fast", "@connection"),
        group="cluster",
        since="3.0.0",
    ),
    _local(
        "readwrite",
        1,
        _L | F,
        "Back to linearizable reads from the shard leaders.",
        ("@fast", "@connection"),
        group="cluster",
        since="3.0.0",
    ),
    _local(
        "wait",
        3,
        _S,
        "Returns the number of followers every acknowledged write already reached.",
        ("@slow", "@connection"),
        group="generic",
        since="3.0.0",
    ),
    _local(
        "client",
        -2,
        _NONE,
        "A container for client connection commands.",
        ("@slow",),
        since="2.4.0",
        complexity="Depends on subcommand.",
        subcommands=[
            _local("client|id", 2, _S | _L, "The connection's id.", _CLIENT_CATEGORIES),
            _local("client|getname", 2, _S | _L, "The connection's name.", _CLIENT_CATEGORIES),
            _local("client|setname", 3, _S | _L, "Names the connection.", _CLIENT_CATEGORIES),
            _local(
                "client|setinfo",
                4,
                _S | _L,
                "Sets the client library name or version.",
                _CLIENT_CATEGORIES,
                since="7.2.0",
            ),
            _local(
                "client|info",
                2,
                _S | _L,
                "Information about this connection.",
                _CLIENT_CATEGORIES,
                since="6.2.0",
            ),
            _local(
                "client|list",
                -2,
                A | _S | _L,
                "Lists the router's client connections.",
                _CLIENT_ADMIN,
                complexity="O(N) where N is the number of client connections",
            ),
            _local(
                "client|kill",
                -3,
                A | _S | _L,
                "Closes client connections.",
                _CLIENT_ADMIN,
                since="2.4.0",
                complexity="O(N) where N is the number of client connections",
            ),
            _local(
                "client|reply",
                3,
                _S | _L,
                "Turns the replies to this connection on, off, or off for one command.",
                _CLIENT_CATEGORIES,
                since="3.2.0",
            ),
            _local("client|help", 2, _L, "Help for CLIENT.", _CLIENT_CATEGORIES, since="5.0.0"),
        ],
    ),
    _local(
        "multi",
        1,
        _S | _L | F,
        "Starts a transaction.",
        ("@fast", "@transaction"),
        group=_T,
        since="1.2.0",
    ),
    _local(
        "exec",
        1,
        _S | _L,
        "Executes the queued commands as one entry on their shard.",
        ("@slow", "@transaction"),
        group=_T,
        since="1.2.0",
        complexity="Depends on commands in the transaction",
    ),
    _local(
        "discard",
        1,
        _S | _L | F,
        "Discards a transaction.",
        ("@fast", "@transaction"),
        group=_T,
        since="2.0.0",
    ),
    _local(
        "watch",
        -2,
        _S | _L | F,
        "Makes the next EXEC conditional on keys staying unchanged (keys of one shard).",
        ("@fast", "@transaction"),
        group=_T,
        since="2.2.0",
        keys=(1, -1, 1),
    ),
    _local(
        "unwatch",
        1,
        _S | _L | F,
        "Forgets the watched keys.",
        ("@fast", "@transaction"),
        group=_T,
        since="2.2.0",
    ),
]
