"""What every connection of one router shares: settings, backend, planner, counters, and
the registry of connected clients (for CLIENT LIST / KILL and INFO clients)."""

from __future__ import annotations

import random
import secrets
import time
from typing import Protocol

from router.backend import Backend
from router.config import RouterConfig
from router.connection import ClientState
from router.metrics import CommandMetrics
from router.planner import Planner
from router.stats import RouterStats


class ClientHandle(Protocol):
    """A connected client as other connections see it."""

    client: ClientState

    @property
    def buffered(self) -> int: ...

    def kill(self) -> None: ...


class RouterContext:
    def __init__(
        self, config: RouterConfig, backend: Backend, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.backend = backend
        self.rng = rng or random.Random()
        self.planner = Planner(backend, self.rng)
        self.stats = RouterStats()
        self.commands = CommandMetrics()  # per command, for the metrics endpoint
        self.clients: dict[int, ClientHandle] = {}
        self.started = time.monotonic()
        self.run_id = secrets.token_hex(20)
        self.port = config.port  # the bound port once listening (config may say 0)
        # The address this router tells clients and other routers (CLUSTER SLOTS): set
        # once listening, from --announce or the address listened on (None: a wildcard).
        self.announce: str | None = None
        self._last_client_id = 0

    def next_client_id(self) -> int:
        self._last_client_id += 1
        return self._last_client_id

    @property
    def requires_auth(self) -> bool:
        return self.config.requirepass is not None

    def blocked_clients(self) -> int:
        return sum(1 for handle in self.clients.values() if handle.client.blocked)
