"""The router's metrics as Prometheus sees them: `RouterCollector` reads the counters of
router/metrics.py (and the backend's shard events) at scrape time (registered with
proto.metrics)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from proto.metrics import histogram_family
from router.context import RouterContext
from router.metrics import ShardEvents


class RouterCollector:
    """Exports a router's metrics at scrape time (registered with proto.metrics)."""

    def __init__(self, ctx: RouterContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        ctx = self.ctx
        commands = sorted(ctx.commands.by_name.items())
        calls = CounterMetricFamily(
            "slotraft_router_commands", "Commands answered, per command", labels=["command"]
        )
        errors = CounterMetricFamily(
            "slotraft_router_command_errors",
            "Commands answered with an error reply, per command",
            labels=["command"],
        )
        for name, stats in commands:
            calls.add_metric([name], stats.count)
            errors.add_metric([name], stats.errors)
        yield calls
        yield errors
        yield histogram_family(
            "slotraft_router_command_duration_seconds",
            "End-to-end latency per command: from the request read off the connection "
            "to its reply written",
            ["command"],
            (([name], stats) for name, stats in commands),
        )
        yield GaugeMetricFamily(
            "slotraft_router_connected_clients", "Client connections", value=len(ctx.clients)
        )
        yield GaugeMetricFamily(
            "slotraft_router_blocked_clients",
            "Clients waiting in a blocking command",
            value=ctx.blocked_clients(),
        )
        events: ShardEvents | None = getattr(ctx.backend, "events", None)
        if events is None:  # in-process shards (--local-shards): no leaders, no retries
            return
        shards = sorted(getattr(ctx.backend, "shards", ()))
        leaders = GaugeMetricFamily(
            "slotraft_router_shard_leader",
            "The node last seen leading each shard (0: none yet)",
            labels=["shard"],
        )
        for shard in shards:
            leaders.add_metric([str(shard)], events.leaders.get(shard, 0))
        yield leaders
        for name, documentation, values in (
            (
                "slotraft_router_leader_changes",
                "Leader changes the router saw, per shard",
                events.leader_changes,
            ),
            ("slotraft_router_retries", "Requests tried again, per shard", events.retries),
            (
                "slotraft_router_requests_failed",
                "Requests answered -CLUSTERDOWN after their retries ran out, per shard",
                events.failures,
            ),
        ):
            family = CounterMetricFamily(name, documentation, labels=["shard"])
            for shard in shards:
                family.add_metric([str(shard)], values.get(shard, 0))
            yield family
