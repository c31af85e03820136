"""The router's settings: where it listens, the password, and the protocol limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from proto.redis_config import DEFAULT_OUTPUT_LIMITS, REDIS_VERSION

# Redis's own ceilings (networking.c): a multibulk header above INT_MAX is refused.
INT_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Limits:
    """Request limits, checked on each header before anything is allocated for it.

    Redis 7.0 accepts up to INT_MAX arguments; the router defaults to 1M (Redis 6's limit)
    because every argument becomes a Python object, and a client that needs more can ask
    for a higher limit."""

    max_args: int = 1024 * 1024
    max_bulk_len: int = 512 * 1024 * 1024  # proto-max-bulk-len
    max_inline: int = 64 * 1024  # PROTO_INLINE_MAX_SIZE, also caps a header line
    # Before AUTH when a password is set (authRequired in networking.c).
    unauthenticated_max_args: int = 10
    unauthenticated_max_bulk_len: int = 16384
    # client-query-buffer-limit: a request still incomplete past this closes the connection.
    max_query_buffer: int = 1024 * 1024 * 1024

    def __post_init__(self) -> None:
        if not 1 <= self.max_args <= INT_MAX:
            raise ValueError(f"max_args must be in 1..{INT_MAX}")
        if self.max_bulk_len < 1 or self.max_inline < 1 or self.max_query_buffer < 1:
            raise ValueError("limits must be positive")


@dataclass(frozen=True, slots=True)
class RouterConfig:
    host: str = "127.0.0.1"
    port: int = 6379
    requirepass: bytes | None = None
    # Without a password, only clients on the loopback interface are served (Redis's
    # protected-mode): a router bound to a public address by mistake is not an open door.
    protected_mode: bool = True
    limits: Limits = field(default_factory=Limits)
    max_clients: int = 10000
    # Commands of one connection executed as one batch at most (keeps latency and memory
    # bounded when a client streams a very long pipeline).
    max_batch: int = 1024
    # Unprocessed request bytes of a connection above which reading pauses until the
    # router catches up (a complete pending command must exist, so it cannot deadlock).
    read_high_water: int = 4 * 1024 * 1024
    # HOST:PORT clients reach this router at, told to the other routers (CLUSTER SLOTS);
    # None: the address listened on, unless that is a wildcard.
    announce: str | None = None
    announce_tls_port: int = 0  # the TLS port told with it (0: tls-port)
    # Redis's `timeout`: a client idle this many seconds is disconnected (0: never).
    idle_timeout: int = 0
    # Redis's client-output-buffer-limit (proto/redis_config.py's canonical form): a
    # connection whose unsent replies pass a class's hard limit, or its soft limit for
    # longer than its seconds, is closed (0: no limit).
    output_buffer_limits: str = DEFAULT_OUTPUT_LIMITS
    # Redis's tls-* parameters given (canonical names and values, router/tls.py reads
    # them): a TLS port for clients, mutual TLS to the nodes.
    tls: tuple[tuple[str, str], ...] = ()
    # The redis.conf-style file the router was started with (CONFIG REWRITE writes it).
    config_file: Path | None = None
    # Redis's aclfile: ACL SAVE writes the users there, ACL LOAD reads them from it.
    aclfile: Path | None = None
    # The Redis version whose behaviour the router reproduces (HELLO, INFO server).
    redis_version: str = REDIS_VERSION

    def __post_init__(self) -> None:
        if self.max_clients < 1 or self.max_batch < 1:
            raise ValueError("max_clients and max_batch must be >= 1")
