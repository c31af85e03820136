"""`slotraft router` / `python -m router`: run a router in front of the cluster's nodes
(`--nodes`), or, for trials and benchmarks of the router alone, in front of N in-process
engines (`--local-shards N`: no persistence, no replication)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine

import uvloop

from proto.gc_tuning import tune_gc
from proto.logs import configure
from router.backend import Backend
from router.cluster_backend import ClusterBackend
from router.config import Limits, RouterConfig
from router.local_backend import LocalBackend
from router.server import RouterServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=6379, help="port (0: any free port)")
    parser.add_argument(
        "--requirepass",
        default=os.environ.get("SLOTRAFT_PASSWORD") or None,
        help="password clients must AUTH with (default: env SLOTRAFT_PASSWORD; unset or "
        "empty: no password)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--nodes",
        metavar="HOST:PORT,...",
        help="addresses of some of the cluster's nodes (the slot map names the rest)",
    )
    source.add_argument(
        "--local-shards",
        type=int,
        metavar="N",
        help="serve from N in-process engines instead (no persistence, no replication)",
    )
    parser.add_argument(
        "--retry-seconds",
        type=float,
        default=15.0,
        help="how long a request may be retried across leader changes before the client "
        "gets -CLUSTERDOWN (15)",
    )
    parser.add_argument("--max-clients", type=int, default=10000)
    parser.add_argument("--max-args", type=int, default=Limits().max_args)
    parser.add_argument("--proto-max-bulk-len", type=int, default=Limits().max_bulk_len)
    parser.add_argument("--log-level", default="WARNING")


def config_from(args: argparse.Namespace) -> RouterConfig:
    return RouterConfig(
        host=args.host,
        port=args.port,
        requirepass=args.requirepass.encode() if args.requirepass is not None else None,
        limits=Limits(max_args=args.max_args, max_bulk_len=args.proto_max_bulk_len),
        max_clients=args.max_clients,
    )


async def backend_from(args: argparse.Namespace) -> tuple[Backend, list[Coroutine]]:
    """The backend the options ask for, and the background work it needs."""
    if args.nodes:
        cluster = ClusterBackend(
            [address.strip() for address in args.nodes.split(",")], args.retry_seconds
        )
        await cluster.start()
        return cluster, []
    backend = LocalBackend(args.local_shards)
    return backend, [backend.run_active_expiry()]


async def serve(config: RouterConfig, backend: Backend, background: list[Coroutine]) -> None:
    server = RouterServer(config, backend)
    port = await server.start()
    print(f"slotraft router listening on {config.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks = [asyncio.create_task(work) for work in background]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.close()


def run(args: argparse.Namespace) -> int:
    configure("router", args.port, args.log_level.upper())
    config = config_from(args)

    async def main() -> None:
        tune_gc()
        backend, background = await backend_from(args)
        await serve(config, backend, background)

    uvloop.run(main())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m router", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
