"""`python -m router`: run a router in front of the cluster's nodes (`--nodes`).

`slotraft router` adds `--local-shards N` (slotraft/router_command.py): the router in front
of in-process engines, which live outside router/ since the router depends on proto only."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path

import uvloop

from proto.acl import AclError
from proto.acl_table import change
from proto.credentials import CLUSTER_ID_ENV, Credentials, SecretError, load_secret
from proto.gc_tuning import tune_gc
from proto.handshake import ROLE_ROUTER, Peer
from proto.logs import configure
from proto.metrics import MetricsServer, add_metrics_argument, parse_address, process_registry
from proto.redis_config import (
    REDIS_VERSION,
    ROUTER_PARAMETERS,
    ConfigFileError,
    check_secret_file_mode,
    read_config_file,
)
from proto.tls import TlsError, add_tls_arguments, tls_values
from router import tls
from router.backend import Backend
from router.cluster_backend import ClusterBackend
from router.config import Limits, RouterConfig
from router.config_command import with_local_values
from router.metrics_export import RouterCollector
from router.open_files import fit_and_log
from router.server import RouterServer

log = logging.getLogger("slotraft.router")

BackendFactory = Callable[[argparse.Namespace], Awaitable[tuple[Backend, list[Coroutine]]]]


def add_arguments(parser: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    """The router's options; returns the group of backend sources (`--nodes`), to which
    `slotraft router` adds its own."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="a redis.conf-style file: port, bind, protected-mode, timeout, maxclients, "
        "client-output-buffer-limit, client-query-buffer-limit, proto-max-bulk-len, tls-*, "
        "requirepass (the file must then be mode 600); the flags override it, CONFIG SET "
        "changes the running router and CONFIG REWRITE writes back here. Cluster-wide "
        "directives (maxmemory, slowlog-*, ...) are accepted and left to the nodes: give "
        "them the same file",
    )
    # Flags that a --config file may also set default to None: given, they win.
    parser.add_argument("--host", default=None, help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (6379; 0: any free port)")
    parser.add_argument(
        "--requirepass-file",
        type=Path,
        default=None,
        help="file holding the password clients must AUTH with (default: env "
        "SLOTRAFT_PASSWORD; unset or empty: no password). Never on the command line: every "
        "local user can read it there",
    )
    parser.add_argument(
        "--aclfile",
        type=Path,
        default=None,
        metavar="FILE",
        help="Redis's ACL file of users (lines `user <name> <rules>`): loaded into the "
        "cluster when it has no ACL users yet; ACL SAVE writes it, ACL LOAD reads it",
    )
    parser.add_argument(
        "--protected-mode",
        choices=["yes", "no"],
        default=None,
        help="without a password, serve clients on the loopback interface only (yes, the "
        "default), as Redis's protected-mode",
    )
    parser.add_argument(
        "--cluster-secret-file",
        type=Path,
        default=None,
        help="file holding the cluster secret (mode 600; default: env "
        "SLOTRAFT_CLUSTER_SECRET_FILE, else the secret in env SLOTRAFT_CLUSTER_SECRET)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--nodes",
        metavar="HOST:PORT,...",
        help="addresses of some of the cluster's nodes (the slot map names the rest)",
    )
    parser.add_argument(
        "--retry-seconds",
        type=float,
        default=15.0,
        help="how long a request may be retried across leader changes before the client "
        "gets -CLUSTERDOWN (15)",
    )
    parser.add_argument(
        "--announce",
        metavar="HOST:PORT",
        default=None,
        help="the address clients reach this router at, which CLUSTER SLOTS lists and the "
        "other routers learn through the nodes (default: --host:--port; needed when "
        "listening on 0.0.0.0 or behind a port mapping)",
    )
    parser.add_argument(
        "--announce-tls-port",
        metavar="PORT",
        type=int,
        default=0,
        help="the TLS port clients reach this router at, which CLUSTER SLOTS gives TLS "
        "clients (Redis's cluster-announce-tls-port; default: --tls-port)",
    )
    parser.add_argument(
        "--single-flight",
        action="store_true",
        help="merge identical concurrent reads of a key from many connections into one "
        "backend read (router/single_flight.py; never across a write of the key)",
    )
    parser.add_argument(
        "--report-version",
        type=redis_version,
        default=REDIS_VERSION,
        metavar="X.Y.Z",
        help=f"the Redis version HELLO and INFO report ({REDIS_VERSION}, whose "
        "behaviour the router reproduces; changing it changes nothing else). Some clients "
        "gate features on it: redis-py enables its client-side cache only for 7.4 or later, "
        "though the protocol it uses (CLIENT TRACKING, RESP3 pushes) is 6.0's",
    )
    parser.add_argument("--max-clients", type=int, default=None, help="(10000)")
    parser.add_argument("--max-args", type=int, default=Limits().max_args)
    parser.add_argument(
        "--proto-max-bulk-len", type=int, default=None, help=f"({Limits().max_bulk_len})"
    )
    parser.add_argument(
        "--tls-port",
        type=int,
        default=None,
        help="serve clients over TLS on this port too (0, the default: no TLS port); needs "
        "--tls-cert-file and --tls-key-file",
    )
    parser.add_argument(
        "--tls-auth-clients",
        choices=["yes", "no", "optional"],
        default=None,
        help="TLS clients must present a certificate the CA signed (yes, the default), may "
        "(optional), or are not asked (no)",
    )
    add_tls_arguments(parser)
    add_metrics_argument(parser, "clients are served without metrics")
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="INFO (the default) logs leader changes and retries, at most one line per shard "
        "and kind every few seconds; WARNING leaves only problems",
    )
    return source


def redis_version(text: str) -> str:
    """--report-version's value: three dot-separated numbers, as Redis's own."""
    if not re.fullmatch(r"\d{1,4}\.\d{1,4}\.\d{1,4}", text):
        raise argparse.ArgumentTypeError(f"not a version like 7.4.0: {text!r}")
    return text


def password_from(args: argparse.Namespace, from_file: str = "") -> bytes | None:
    """--requirepass-file, else the --config file's requirepass, else SLOTRAFT_PASSWORD."""
    if args.requirepass_file is not None:
        try:
            text = args.requirepass_file.read_text().rstrip("\r\n")
        except OSError as error:
            raise SystemExit(f"cannot read --requirepass-file: {error}") from None
    elif from_file:
        text = from_file
    else:
        text = os.environ.get("SLOTRAFT_PASSWORD", "")
    return text.encode() if text else None


def file_settings(path: Path | None) -> dict[str, str]:
    """The directives of a --config file (canonical names and values); SystemExit with
    Redis's reason if it cannot be used."""
    if path is None:
        return {}
    try:
        values = read_config_file(path)
        check_secret_file_mode(path, values)
    except OSError as error:
        raise SystemExit(f"cannot read --config {path}: {error}") from None
    except ConfigFileError as error:
        raise SystemExit(str(error)) from None
    return values


def config_from(args: argparse.Namespace) -> RouterConfig:
    path = getattr(args, "config", None)
    from_file = file_settings(path)
    bind = from_file.get("bind", "").split()
    flags = {
        "protected-mode": args.protected_mode,
        "maxclients": None if args.max_clients is None else str(args.max_clients),
        "proto-max-bulk-len": (
            None if args.proto_max_bulk_len is None else str(args.proto_max_bulk_len)
        ),
    }
    local = {name: value for name, value in from_file.items() if name in ROUTER_PARAMETERS}
    local.update({name: value for name, value in flags.items() if value is not None})
    try:
        base = RouterConfig(
            host=args.host if args.host is not None else (bind[0] if bind else "127.0.0.1"),
            port=args.port if args.port is not None else int(from_file.get("port", "6379")),
            requirepass=password_from(args, from_file.get("requirepass", "")),
            redis_version=args.report_version,
            limits=Limits(max_args=args.max_args),
            config_file=path.resolve() if path is not None else None,
            announce=args.announce,
            announce_tls_port=args.announce_tls_port,
            aclfile=_aclfile(args, from_file),
            tls=tuple(sorted(tls_values(args, from_file).items())),
        )
        config = with_local_values(base, local)
        # Unusable certificates or settings stop the router before it serves anyone.
        tls.client_context(config)
        tls.node_context(config)
        return config
    except ValueError as error:  # TlsError included
        raise SystemExit(f"router: {error}") from None


def _aclfile(args: argparse.Namespace, from_file: dict[str, str]) -> Path | None:
    given = getattr(args, "aclfile", None) or from_file.get("aclfile") or None
    return Path(given).resolve() if given else None


async def load_aclfile(config: RouterConfig, backend: Backend) -> None:
    """As Redis loads its aclfile at start: into the cluster, unless the cluster has had
    ACL changes already (they are its users now; ACL LOAD reloads the file)."""
    if config.aclfile is None or backend.acl().version:
        return
    try:
        text = config.aclfile.read_bytes()
        await backend.change_acl(change("load", text=text, path=str(config.aclfile).encode()))
    except OSError as error:
        raise SystemExit(f"router: cannot read --aclfile: {error}") from None
    except AclError as error:
        raise SystemExit(f"router: --aclfile: {error}") from None


async def cluster_backend_from(args: argparse.Namespace) -> tuple[Backend, list[Coroutine]]:
    """The backend of the nodes named by `--nodes`, started, and the background work it
    needs (none)."""
    try:
        secret = load_secret(args.cluster_secret_file)
    except SecretError as error:
        raise SystemExit(f"router: {error}") from None
    me = Peer(os.environ.get(CLUSTER_ID_ENV, "").strip(), role=ROLE_ROUTER)
    try:
        node_tls = tls.node_context(config_from(args))
    except TlsError as error:
        raise SystemExit(f"router: {error}") from None
    cluster = ClusterBackend(
        [address.strip() for address in args.nodes.split(",")],
        Credentials.from_secret(secret, me, node_tls),
        args.retry_seconds,
        single_flight=args.single_flight,
    )
    await cluster.start()
    return cluster, []


async def serve(
    config: RouterConfig,
    backend: Backend,
    background: list[Coroutine],
    metrics_address: str | None = None,
) -> None:
    await load_aclfile(config, backend)
    server = RouterServer(config, backend)
    port = await server.start()
    print(f"slotraft router listening on {config.host}:{port}", flush=True)
    metrics = None
    if metrics_address is not None:
        registry = process_registry()
        registry.register(RouterCollector(server.ctx))
        metrics = MetricsServer(registry, *parse_address(metrics_address))
        try:
            await metrics.start()
        except OSError as error:  # clients come first: serve them, without metrics
            log.error("cannot serve metrics on %s: %s", metrics_address, error)
            metrics = None
        else:
            log.info("metrics at %s", metrics.url)
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
        if metrics is not None:
            await metrics.close()
        await server.close()


def run(args: argparse.Namespace, backend_from: BackendFactory = cluster_backend_from) -> int:
    config = config_from(args)
    configure("router", config.port, args.log_level.upper())
    # maxclients within the open-files limit (raised first if it can be), as Redis.
    config = dataclasses.replace(config, max_clients=fit_and_log(config.max_clients))
    if args.metrics is not None:
        parse_address(args.metrics)  # a bad address stops the router before it starts

    async def main() -> None:
        tune_gc()
        backend, background = await backend_from(args)
        await serve(config, backend, background, args.metrics)

    uvloop.run(main())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m router", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
