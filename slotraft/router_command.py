"""`slotraft router`: router.main's router, and `--local-shards N` to serve from N
in-process engines instead of the cluster's nodes (no persistence, no replication: for
trials and for measuring the router alone).

The in-process backend (slotraft.local_backend) runs node.engine, which router/ must not
depend on: this is where the two meet."""

from __future__ import annotations

import argparse
from collections.abc import Coroutine

from router import main as router_main
from router.backend import Backend


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = router_main.add_arguments(parser)
    source.add_argument(
        "--local-shards",
        type=int,
        metavar="N",
        help="serve from N in-process engines instead (no persistence, no replication)",
    )


async def backend_from(args: argparse.Namespace) -> tuple[Backend, list[Coroutine]]:
    """The backend the options ask for, and the background work it needs."""
    if args.nodes:
        return await router_main.cluster_backend_from(args)
    # Imported here: a router in front of the cluster does not load the engine's code.
    from node.engine.config import FIELD_OF, EngineConfig, engine_value
    from proto.redis_config import ENGINE_PARAMETERS
    from slotraft.local_backend import LocalBackend

    # The engines take the --config file's engine settings, as the nodes would.
    from_file = router_main.file_settings(args.config)
    config = EngineConfig(
        **{
            FIELD_OF[name]: engine_value(name, value)
            for name, value in from_file.items()
            if name in ENGINE_PARAMETERS
        }
    )
    backend = LocalBackend(args.local_shards, config=config)
    return backend, [backend.run_active_expiry()]


def run(args: argparse.Namespace) -> int:
    return router_main.run(args, backend_from)
