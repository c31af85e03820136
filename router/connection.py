"""Per-connection state: protocol version, authentication, name, flags, transaction,
subscriptions."""

from __future__ import annotations

from dataclasses import dataclass, field

from router.transaction import Transaction


@dataclass(slots=True)
class Tracking:
    """A tracking client's settings (CLIENT TRACKING ON ...; router/tracking.py)."""

    redirect: int = 0  # 0: to the client itself
    bcast: bool = False
    optin: bool = False
    optout: bool = False
    noloop: bool = False
    prefixes: list[bytes] = field(default_factory=list)
    caching: bool = False  # CLIENT CACHING yes/no given for the next command
    broken_redirect: bool = False
    remote_redirect: bool = False  # the redirect target is a client of another router


@dataclass(slots=True)
class ClientState:
    id: int
    addr: str  # "ip:port" of the client
    laddr: str  # "ip:port" the client connected to
    fd: int
    created: float  # monotonic seconds
    authenticated: bool
    # The ACL user the connection runs as, and that user's generation when it
    # authenticated (proto/acl_table.py: a deleted or reloaded user's clients are closed).
    user: bytes = b"default"
    user_generation: int = 0
    last_interaction: float = 0.0
    name: bytes | None = None
    lib_name: bytes | None = None
    lib_ver: bytes | None = None
    resp3: bool = False
    db: int = 0  # SELECT's database (KvRequest.db)
    readonly: bool = False  # READONLY: reads may be served by followers
    reply_off: bool = False  # CLIENT REPLY OFF
    skip_next_reply: bool = False  # CLIENT REPLY SKIP
    closing: bool = False  # QUIT or CLIENT KILL of itself: close after the reply
    blocked: bool = False  # waiting in a blocking command
    monitor: bool = False  # MONITOR: shown every command (router/monitor.py)
    no_evict: bool = False  # CLIENT NO-EVICT on
    tracking: Tracking | None = None  # CLIENT TRACKING on (router/tracking.py)
    in_exec: bool = False  # running EXEC's queue: nothing may block (WAIT answers at once)
    last_command: str = "NULL"
    transaction: Transaction = field(default_factory=Transaction)
    # WAIT: per shard, the log index of this connection's last acknowledged write there
    # (router.backend.WriteMarks; kept across RESET, as Redis keeps a client's offset).
    write_marks: dict[int, int] = field(default_factory=dict)
    # Pub/sub, kept by router.pubsub.PubSubRegistry: the channels, patterns and shard
    # channels in the order subscribed, and whether there is any (pub/sub mode).
    channels: dict[bytes, None] = field(default_factory=dict)
    patterns: dict[bytes, None] = field(default_factory=dict)
    shard_channels: dict[bytes, None] = field(default_factory=dict)
    subscribed: bool = False

    def reset(self, authenticated: bool) -> None:
        """RESET: back to the state of a new connection (the id and address stay); the
        subscriptions are dropped by the registry first."""
        self.transaction.discard()
        self.authenticated = authenticated
        self.user = b"default"
        self.user_generation = 0
        self.name = None
        self.resp3 = False
        self.db = 0
        self.readonly = False
        self.reply_off = False
        self.skip_next_reply = False

    def flags(self) -> str:
        flags = "O" if self.monitor else ""
        if self.subscribed:
            flags += "P"
        if self.transaction.active:
            flags += "x"
        if self.blocked:
            flags += "b"
        if self.tracking is not None:
            flags += "t"
            if self.tracking.broken_redirect:
                flags += "R"
            if self.tracking.bcast:
                flags += "B"
        if self.closing:
            flags += "c"
        if self.readonly:
            flags += "r"
        if self.no_evict:
            flags += "e"
        return flags or "N"

    def info_line(self, now: float, buffered: int) -> bytes:
        """One line of CLIENT LIST / CLIENT INFO with the fields the router knows."""
        transaction = self.transaction
        fields = [
            f"id={self.id}",
            f"addr={self.addr}",
            f"laddr={self.laddr}",
            f"fd={self.fd}",
            f"name={_text(self.name)}",
            f"age={int(now - self.created)}",
            f"idle={int(now - self.last_interaction)}",
            f"flags={self.flags()}",
            f"db={self.db}",
            f"sub={len(self.channels)}",
            f"psub={len(self.patterns)}",
            f"ssub={len(self.shard_channels)}",
            f"multi={len(transaction.queued) if transaction.active else -1}",
            f"qbuf={buffered}",
            f"watch={len(transaction.watches)}",
            f"cmd={self.last_command}",
            f"user={_text(self.user)}",
            f"redir={-1 if self.tracking is None else self.tracking.redirect}",
            f"resp={3 if self.resp3 else 2}",
            f"lib-name={_text(self.lib_name)}",
            f"lib-ver={_text(self.lib_ver)}",
        ]
        return " ".join(fields).encode() + b"\n"


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""
