"""Connection and transaction commands: answered by the router itself (Route.ROUTER).

Flags, arities and categories as Redis 7.0's COMMAND INFO reports them; CLIENT SETINFO is
Redis 7.2's (clients send it on connect). READONLY/READWRITE select follower reads.
"""

from __future__ import annotations

from proto.commands.builder import ADMIN, FAST, LOADING, NO_AUTH, NO_FLAGS, NOSCRIPT, STALE, command
from proto.commands.spec import CommandSpec, Flag, Route

CONNECTION = "connection"
TRANSACTIONS = "transactions"


def _local(
    name: str,
    arity: int,
    flags: Flag,
    summary: str,
    categories: tuple[str, ...],
    *,
    group: str = CONNECTION,
    since: str = "1.0.0",
    complexity: str = "O(1)",
    keys: tuple[int, int, int] = (0, 0, 0),
    subcommands: list[CommandSpec] | None = None,
) -> CommandSpec:
    return command(
        name,
        arity,
        flags,
        keys,
        group=group,
        summary=summary,
        since=since,
        complexity=complexity,
        route=Route.ROUTER,
        acl_categories=categories,
        subcommands=subcommands,
    )


_CLIENT_CATEGORIES = ("@slow", "@connection")
_CLIENT_ADMIN = ("@admin", "@slow", "@dangerous", "@connection")

COMMANDS = [
    _local("ping", -1, FAST, "Returns the server's liveliness response.", ("@fast", "@connection")),
    _local(
        "echo", 2, LOADING | STALE | FAST, "Returns the given string.", ("@fast", "@connection")
    ),
    _local(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        "Handshakes with the server: protocol version, authentication, client name.",
        ("@fast", "@connection"),
        since="6.0.0",
    ),
    _local(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        "Authenticates the connection.",
        ("@fast", "@connection"),
        complexity="O(N) where N is the number of passwords defined for the user",
    ),
    _local(
        "select",
        2,
        LOADING | STALE | FAST,
        "Changes the selected database (only 0 exists).",
        ("@fast", "@connection"),
    ),
    _local(
        "quit",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        "Closes the connection.",
        ("@fast", "@connection"),
    ),
    _local(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        "Resets the connection.",
        ("@fast", "@connection"),
        since="6.2.0",
    ),
    _local(
        "readonly",
        1,
        LOADING | STALE | FAST,
        "Lets this connection's reads be served by follower replicas (possibly stale).",
        ("@fast", "@connection"),
        group="cluster",
        since="3.0.0",
    ),
    _local(
        "readwrite",
        1,
        LOADING | STALE | FAST,
        "Back to linearizable reads from the shard leaders.",
        ("@fast", "@connection"),
        group="cluster",
        since="3.0.0",
    ),
    _local(
        "wait",
        3,
        NOSCRIPT,
        "Waits until the given number of followers hold the connection's writes; how many do.",
        ("@slow", "@connection"),
        group="generic",
        since="3.0.0",
    ),
    _local(
        "client",
        -2,
        NO_FLAGS,
        "A container for client connection commands.",
        ("@slow",),
        since="2.4.0",
        complexity="Depends on subcommand.",
        subcommands=[
            _local(
                "client|id",
                2,
                NOSCRIPT | LOADING | STALE,
                "The connection's id.",
                _CLIENT_CATEGORIES,
            ),
            _local(
                "client|getname",
                2,
                NOSCRIPT | LOADING | STALE,
                "The connection's name.",
                _CLIENT_CATEGORIES,
            ),
            _local(
                "client|setname",
                3,
                NOSCRIPT | LOADING | STALE,
                "Names the connection.",
                _CLIENT_CATEGORIES,
            ),
            _local(
                "client|setinfo",
                4,
                NOSCRIPT | LOADING | STALE,
                "Sets the client library name or version.",
                _CLIENT_CATEGORIES,
                since="7.2.0",
            ),
            _local(
                "client|info",
                2,
                NOSCRIPT | LOADING | STALE,
                "Information about this connection.",
                _CLIENT_CATEGORIES,
                since="6.2.0",
            ),
            _local(
                "client|list",
                -2,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Lists the router's client connections.",
                _CLIENT_ADMIN,
                complexity="O(N) where N is the number of client connections",
            ),
            _local(
                "client|kill",
                -3,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Closes client connections.",
                _CLIENT_ADMIN,
                since="2.4.0",
                complexity="O(N) where N is the number of client connections",
            ),
            _local(
                "client|reply",
                3,
                NOSCRIPT | LOADING | STALE,
                "Turns the replies to this connection on, off, or off for one command.",
                _CLIENT_CATEGORIES,
                since="3.2.0",
            ),
            _local(
                "client|pause",
                -3,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Suspends the clients' commands (all, or the writes) on every router.",
                _CLIENT_ADMIN,
                since="2.9.50",
            ),
            _local(
                "client|unpause",
                2,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Ends a CLIENT PAUSE on every router.",
                _CLIENT_ADMIN,
                since="6.2.0",
                complexity="O(N) Where N is the number of paused clients",
            ),
            _local(
                "client|no-evict",
                3,
                ADMIN | NOSCRIPT | LOADING | STALE,
                "Sets the connection's client eviction mode.",
                _CLIENT_ADMIN,
                since="7.0.0",
            ),
            _local(
                "client|help",
                2,
                LOADING | STALE,
                "Help for CLIENT.",
                _CLIENT_CATEGORIES,
                since="5.0.0",
            ),
        ],
    ),
    _local(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        "Streams every command that any router runs, as Redis's MONITOR does.",
        ("@admin", "@slow", "@dangerous"),
        group="server",
    ),
    _local(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        "Starts a transaction.",
        ("@fast", "@transaction"),
        group=TRANSACTIONS,
        since="1.2.0",
    ),
    _local(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE,
        "Executes the queued commands as one entry on their shard.",
        ("@slow", "@transaction"),
        group=TRANSACTIONS,
        since="1.2.0",
        complexity="Depends on commands in the transaction",
    ),
    _local(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        "Discards a transaction.",
        ("@fast", "@transaction"),
        group=TRANSACTIONS,
        since="2.0.0",
    ),
    _local(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST,
        "Makes the next EXEC conditional on keys staying unchanged (keys of one shard).",
        ("@fast", "@transaction"),
        group=TRANSACTIONS,
        since="2.2.0",
        keys=(1, -1, 1),
    ),
    _local(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        "Forgets the watched keys.",
        ("@fast", "@transaction"),
        group=TRANSACTIONS,
        since="2.2.0",
    ),
]
