"""The router's periodic work (Redis's serverCron and clientsCron, at 10 Hz): take up
changed cluster-wide settings, disconnect clients idle past `timeout`, and sample the
instantaneous rates INFO stats shows."""

from __future__ import annotations

import asyncio
import logging
import time

from router.context import RouterContext

log = logging.getLogger("slotraft.router")

HZ = 10


def close_idle_clients(ctx: RouterContext, now: float) -> int:
    """Redis's clientsCronHandleTimeout: clients idle longer than `timeout` seconds are
    disconnected, except those blocked in a command or subscribed (pub/sub clients wait by
    design)."""
    timeout = ctx.config.idle_timeout
    if not timeout:
        return 0
    closed = 0
    for handle in list(ctx.clients.values()):
        client = handle.client
        if client.blocked or client.subscribed:
            continue
        if now - client.last_interaction > timeout:
            log.info("connection %d idle for more than %d s: closed", client.id, timeout)
            handle.kill()
            closed += 1
    return closed


def tick(ctx: RouterContext) -> None:
    now = time.monotonic()
    ctx.refresh_settings()
    close_idle_clients(ctx, now)
    stats = ctx.stats
    ctx.rates.sample(stats.commands_processed, stats.net_input_bytes, stats.net_output_bytes, now)


async def run(ctx: RouterContext) -> None:
    while True:
        await asyncio.sleep(1 / HZ)
        try:
            tick(ctx)
        except Exception:  # the next tick tries again; the router goes on serving
            log.exception("router cron failed")
