"""What every connection of one router shares: settings, backend, planner, counters, the
slowlog and latency monitor, and the registry of connected clients (for CLIENT LIST / KILL
and INFO clients)."""

from __future__ import annotations

import copy
import dataclasses
import random
import secrets
import time

from proto.redis_config import string2d
from router import client_ops
from router.acl_state import AclState, DeniedCounters
from router.backend import Backend
from router.client_ops import ClientHandle
from router.config import RouterConfig
from router.connection import ClientState
from router.metrics import CommandMetrics, CommandStats
from router.monitor import MonitorFeed
from router.monitoring import LatencyMonitor, Rates, Slowlog, observe
from router.pause import PauseState
from router.planner import Planner
from router.router_bus import RouterBus
from router.stats import RouterStats
from router.tracking import TrackingTable

# A client id is router_tag << CLIENT_ID_BITS | the router's own count.
CLIENT_ID_BITS = 32


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
        self.slowlog = Slowlog()
        self.latency = LatencyMonitor()
        self.peak_used_memory = 0  # the highest INFO memory has shown
        self.rates = Rates()  # INFO stats' instantaneous rates, sampled by router/cron.py
        self.latency_tracking = True  # INFO latencystats
        self.percentiles: tuple[float, ...] = (50.0, 99.0, 99.9)
        # A batch at least this slow (s) goes to the slowlog or the latency monitor.
        self.monitor_threshold = float("inf")
        self._applied_settings: dict[str, str] | None = None
        # What CONFIG RESETSTAT left: INFO shows the counters since (the metrics endpoint's
        # counters are never reset).
        self._baseline: dict[str, CommandStats] = {}
        self._error_baseline: dict[bytes, int] = {}
        # What spans the routers: requests to the others, MONITOR, CLIENT PAUSE.
        self.bus = RouterBus(backend, backend.router_tag)
        self.monitor = MonitorFeed(backend, self.bus)
        self.pause = PauseState()
        self.tracking = TrackingTable(backend, self.clients)  # CLIENT TRACKING
        client_ops.install(self)
        self.acl = AclState(self)  # ACL users, ACL LOG (router/acl_state.py)
        self.acl.install()
        self.refresh_settings()

    def refresh_settings(self) -> None:
        """Take up the cluster-wide settings the routers apply (the slowlog's and the
        latency monitor's), if they changed since last time."""
        _, values = self.backend.cluster_settings()
        if values is self._applied_settings:
            return
        self._applied_settings = values
        slowlog, latency = self.slowlog, self.latency
        slowlog.slower_than_us = int(values["slowlog-log-slower-than"])
        slowlog.max_len = int(values["slowlog-max-len"])
        while len(slowlog.entries) > slowlog.max_len:
            slowlog.entries.pop()
        latency.threshold_ms = int(values["latency-monitor-threshold"])
        self.latency_tracking = values["latency-tracking"] == "yes"
        words = values["latency-tracking-info-percentiles"].split()
        self.percentiles = tuple(value for w in words if (value := string2d(w)) is not None)
        thresholds = []
        if slowlog.slower_than_us >= 0:
            thresholds.append(slowlog.slower_than_us / 1_000_000)
        if latency.threshold_ms:
            thresholds.append(latency.threshold_ms / 1000)
        self.monitor_threshold = min(thresholds, default=float("inf"))

    def observe(
        self, names: list[str], commands: list[list[bytes]], elapsed: float, client: ClientState
    ) -> None:
        """A batch at least `monitor_threshold` slow: to the slowlog and latency monitor."""
        observe(
            self.slowlog, self.latency, names, commands, elapsed, client.addr, client.name or b""
        )

    def reconfigure(self, config: RouterConfig) -> None:
        """Run with new router-local settings (CONFIG SET): new connections and the
        requests of those already open."""
        limits_changed = config.limits != self.config.limits
        self.config = config
        if limits_changed:
            for handle in self.clients.values():
                handle.use_limits(config.limits)

    # ------------------------------------------------------------------ INFO's counters

    def command_stats(self) -> dict[str, CommandStats]:
        """Each command's counters since CONFIG RESETSTAT (commands called since only)."""
        out = {}
        for name, stats in self.commands.by_name.items():
            base = self._baseline.get(name)
            if base is None:
                if stats.count:
                    out[name] = stats
                continue
            delta = CommandStats()
            delta.counts = [a - b for a, b in zip(stats.counts, base.counts)]
            delta.fine = [a - b for a, b in zip(stats.fine, base.fine)]
            delta.total = stats.total - base.total
            delta.errors = stats.errors - base.errors
            delta.rejected = stats.rejected - base.rejected
            if delta.count:
                out[name] = delta
        return out

    def error_codes(self) -> dict[bytes, int]:
        """Error replies by code since CONFIG RESETSTAT."""
        base = self._error_baseline
        counted = {
            code: count - base.get(code, 0) for code, count in self.commands.error_codes.items()
        }
        return {code: count for code, count in counted.items() if count}

    def reset_stats(self) -> None:
        self.stats.reset()
        self.acl.denied = DeniedCounters()
        self._baseline = {
            name: copy.deepcopy(stats) for name, stats in self.commands.by_name.items()
        }
        self._error_baseline = dict(self.commands.error_codes)

    def next_client_id(self) -> int:
        """Unique over the routers: this router's tag in the high bits."""
        self._last_client_id += 1
        return self.backend.router_tag << CLIENT_ID_BITS | self._last_client_id

    @property
    def requires_auth(self) -> bool:
        """New connections start unauthenticated (`default` is off or has passwords)."""
        return self.acl.requires_auth()

    def blocked_clients(self) -> int:
        return sum(1 for handle in self.clients.values() if handle.client.blocked)


def with_limits(config: RouterConfig, **changes: int) -> RouterConfig:
    return dataclasses.replace(config, limits=dataclasses.replace(config.limits, **changes))
