"""`slotraft node`: one node process hosting a replica of each shard assigned to it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path

import grpc
import uvloop

from node.config_service import ConfigService
from node.datadir import LOCK_FILE, DirectoryInUse, DirectoryLock, Owner, WrongOwner, check_owner
from node.engine.config import EVICTION_POLICIES, FIELD_OF, EngineConfig, engine_value
from node.host import NodeHost, NodeSettings
from node.kv_stream import KvConnection
from node.listener import NodeListener
from node.metrics import NodeCollector
from node.retire import MARKER as RETIRED_MARKER
from node.retire import retired as retired_record
from node.services import AdminService, KvService
from node.transport import SERVER_OPTIONS
from proto import slotraft_pb2_grpc as pb_grpc
from proto.credentials import (
    CLUSTER_ID_ENV,
    SECRET_ENV,
    SECRET_FILE_ENV,
    Credentials,
    SecretError,
    cluster_id_from_secret,
    load_secret,
)
from proto.gc_tuning import tune_gc
from proto.handshake import CHANNEL_KV, CHANNEL_RAFT, ROLE_NODE, Peer
from proto.logs import configure
from proto.metrics import MetricsServer, add_metrics_argument, parse_address, process_registry
from proto.redis_config import (
    ENGINE_PARAMETERS,
    ROUTER_APPLIED_PARAMETERS,
    ConfigFileError,
    memtoull,
    read_config_file,
)
from proto.slots import SLOT_COUNT
from proto.tls import TlsError, add_tls_arguments, cluster_tls, tls_values
from proto.topology import ClusterDescription, NodeAddress

_NODE = NodeSettings()  # the defaults the flags show and fall back to

log = logging.getLogger("slotraft.node")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", type=int, required=True, help="this node's id in the cluster file")
    parser.add_argument(
        "--cluster",
        type=Path,
        required=True,
        help="cluster description (TOML: shards, replicas, [[node]] id/address)",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="where this node keeps data")
    parser.add_argument(
        "--cluster-secret-file",
        type=Path,
        default=None,
        help="file holding the cluster secret every node, router and `slotraft ctl` proves "
        f"on connecting (mode 600; default: env {SECRET_FILE_ENV}, else the secret itself "
        f"in env {SECRET_ENV})",
    )
    parser.add_argument(
        "--listen",
        default=None,
        help="address to listen on for routers, peers and gRPC clients (default: this "
        "node's address in the cluster file; use 0.0.0.0:PORT in containers)",
    )
    parser.add_argument(
        "--join",
        action="store_true",
        help="a new node, not in the cluster file, waiting for `slotraft ctl add-node`: give "
        "--address; the cluster file names the nodes it joins",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="with --join: this node's HOST:PORT, as `slotraft ctl add-node --address` gives it",
    )
    parser.add_argument(
        "--tick-ms", type=int, default=_NODE.tick_ms, help=f"Raft tick ({_NODE.tick_ms} ms)"
    )
    parser.add_argument(
        "--election-ticks",
        type=int,
        default=_NODE.election_ticks,
        help=f"minimum election timeout in ticks ({_NODE.election_ticks})",
    )
    parser.add_argument(
        "--snapshot-entries",
        type=int,
        default=_NODE.snapshot_entries,
        help=f"applied entries between snapshots of a shard ({_NODE.snapshot_entries})",
    )
    parser.add_argument(
        "--wal-segment-mb",
        type=int,
        default=_NODE.wal_segment_bytes >> 20,
        help=f"size of a WAL segment file in MiB ({_NODE.wal_segment_bytes >> 20}); the log "
        "is deleted a whole segment at a time, once snapshots cover it",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="a redis.conf-style file (`maxmemory 100mb`, `maxmemory-policy allkeys-lru`, "
        "`slowlog-log-slower-than 5000`, ...): this node's values of the cluster-wide "
        "settings; the flags below override it, CONFIG SET (replicated by the metadata "
        "group) overrides both. Router-only directives are accepted and left to the routers",
    )
    # Engine flags default to None: given, they override the --config file.
    parser.add_argument(
        "--maxmemory",
        type=_memory,
        default=None,
        help="bytes per shard replica, with Redis's units (100mb, 1gb); 0 = no limit",
    )
    parser.add_argument("--maxmemory-policy", default=None, choices=EVICTION_POLICIES)
    parser.add_argument(
        "--max-random-draws",
        type=int,
        default=None,
        help="largest negative count of SRANDMEMBER/HRANDFIELD/ZRANDMEMBER "
        f"({_NODE.engine.max_random_draws})",
    )
    parser.add_argument(
        "--max-command-work",
        type=int,
        default=None,
        help="the most elements one command (or MULTI/EXEC) may take, return, store or walk "
        "through; past it the command is refused, so that none holds the node's event loop "
        "(and its Raft heartbeats) for long. The same on every node "
        f"({_NODE.engine.max_command_work:,})",
    )
    parser.add_argument(
        "--script-max-instructions",
        type=int,
        default=None,
        help="a script's budget, after which it fails (it runs on every replica and holds "
        "their apply loops): Lua instructions, plus commands, reply elements and bytes "
        f"allocated or copied in the same units ({_NODE.engine.script_max_instructions:,})",
    )
    parser.add_argument(
        "--script-max-memory",
        type=_memory,
        default=None,
        help=f"bytes of Lua memory of one script run ({_NODE.engine.script_max_memory:,})",
    )
    parser.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="ID=HOST:PORT",
        help="reach peer ID at HOST:PORT for Raft traffic (e.g. through a fault-injection "
        "proxy); repeatable",
    )
    parser.add_argument(
        "--unsafe",
        choices=[UNSAFE_WIPE],
        default=None,
        help="a deliberately unsafe mode that exists only to show that the chaos checkers "
        f"catch data loss: {UNSAFE_WIPE} forgets everything at every start, as if nothing "
        f"were persisted. Refused unless SLOTRAFT_UNSAFE_CONFIRM={UNSAFE_CONFIRM!r} is set",
    )
    parser.add_argument(
        "--wal-writer",
        choices=["loop", "thread"],
        default=_NODE.wal_writer,
        help="write and fsync each WAL batch on the event loop after the cycle's sends and "
        "applies, or on a writer thread meanwhile (the thread suits a node with a core to "
        f"itself; default {_NODE.wal_writer})",
    )
    add_metrics_argument(parser, "the node serves without metrics")
    add_tls_arguments(parser)
    parser.add_argument("--log-level", default="INFO")


UNSAFE_WIPE = "wipe-data-on-start"
UNSAFE_CONFIRM = "I accept losing acknowledged writes"


def parse_peers(values: list[str]) -> dict[int, str]:
    peers = {}
    for value in values:
        ident, separator, address = value.partition("=")
        if not separator or not ident.isdigit() or ":" not in address:
            raise SystemExit(f"--peer takes ID=HOST:PORT, not {value!r}")
        peers[int(ident)] = address
    return peers


def _memory(text: str) -> int:
    try:
        return memtoull(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a memory value: {text!r}") from None


# The engine flags and the EngineConfig fields they set.
ENGINE_FLAGS = (
    "maxmemory",
    "maxmemory_policy",
    "max_random_draws",
    "max_command_work",
    "script_max_instructions",
    "script_max_memory",
)


def file_settings(path: Path | None) -> dict[str, str]:
    """The directives of a --config file (canonical names and values); SystemExit with
    Redis's reason if it cannot be used."""
    if path is None:
        return {}
    try:
        return read_config_file(path)
    except OSError as error:
        raise SystemExit(f"cannot read --config {path}: {error}") from None
    except ConfigFileError as error:
        raise SystemExit(str(error)) from None


def settings_from(args: argparse.Namespace) -> NodeSettings:
    if args.wal_segment_mb < 1:
        raise SystemExit("--wal-segment-mb takes a size of at least 1 (MiB)")
    from_file = file_settings(getattr(args, "config", None))
    engine_fields = {
        FIELD_OF[name]: engine_value(name, value)
        for name, value in from_file.items()
        if name in ENGINE_PARAMETERS
    }
    for flag in ENGINE_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            engine_fields[flag] = value
    try:
        engine = EngineConfig(**engine_fields)
    except ValueError as error:
        raise SystemExit(f"node {args.id}: {error}") from None
    return NodeSettings(
        peer_addresses=parse_peers(args.peer),
        join=getattr(args, "join", False),
        tick_ms=args.tick_ms,
        election_ticks=args.election_ticks,
        snapshot_entries=args.snapshot_entries,
        wal_segment_bytes=args.wal_segment_mb << 20,
        wal_writer=args.wal_writer,
        engine=engine,
        router_settings={
            name: value for name, value in from_file.items() if name in ROUTER_APPLIED_PARAMETERS
        },
    )


def apply_unsafe_mode(args: argparse.Namespace) -> None:
    if args.unsafe is None:
        return
    if os.environ.get("SLOTRAFT_UNSAFE_CONFIRM") != UNSAFE_CONFIRM:
        raise SystemExit(
            f"--unsafe {args.unsafe} refused: it loses acknowledged writes; set "
            f"SLOTRAFT_UNSAFE_CONFIRM={UNSAFE_CONFIRM!r} if that is what you want"
        )
    log.warning("UNSAFE MODE %s: forgetting everything in %s", args.unsafe, args.data_dir)
    for entry in args.data_dir.iterdir():
        if entry.name == LOCK_FILE:  # ours, held
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def cluster_id_of(description: ClusterDescription, secret: bytes) -> str:
    """The description's cluster id, else SLOTRAFT_CLUSTER_ID, else one derived from the
    secret; a description and an environment that disagree are refused."""
    from_env = os.environ.get(CLUSTER_ID_ENV, "").strip()
    if description.cluster_id and from_env and from_env != description.cluster_id:
        raise SystemExit(
            f"the cluster description says cluster_id {description.cluster_id!r}, "
            f"{CLUSTER_ID_ENV} says {from_env!r}"
        )
    return description.cluster_id or from_env or cluster_id_from_secret(secret)


def claim_data_dir(args: argparse.Namespace, me: Peer) -> DirectoryLock:
    """Lock the data directory and check it is this node's, before anything in it is read."""
    try:
        lock = DirectoryLock(args.data_dir).acquire()
    except DirectoryInUse as error:
        raise SystemExit(f"node {args.id}: {error}") from None
    apply_unsafe_mode(args)
    try:
        check_owner(args.data_dir, Owner(me.cluster_id, args.id, me.shards, me.replicas, me.slots))
    except WrongOwner as error:
        lock.release()
        raise SystemExit(f"node {args.id}: {error}") from None
    return lock


async def serve(args: argparse.Namespace) -> None:
    description = ClusterDescription.from_toml(args.cluster)
    try:
        me_address = joining_address(args, description)
    except (KeyError, ValueError) as error:
        raise SystemExit(str(error)) from None
    try:
        secret = load_secret(args.cluster_secret_file)
    except SecretError as error:
        raise SystemExit(f"node {args.id}: {error}") from None
    me = Peer(
        cluster_id_of(description, secret),
        args.id,
        ROLE_NODE,
        description.shards,
        description.replicas,
        SLOT_COUNT,
        me_address.raft_address,
    )
    try:
        tls = cluster_tls(tls_values(args, file_settings(getattr(args, "config", None))))
    except TlsError as error:
        raise SystemExit(f"node {args.id}: {error}") from None
    credentials = Credentials.from_secret(secret, me, tls.client if tls else None)
    lock = claim_data_dir(args, me)
    if retired_record(args.data_dir) is not None:
        lock.release()
        log.warning(
            "node %d was removed from the cluster (%s in %s): not starting",
            args.id,
            RETIRED_MARKER,
            args.data_dir,
        )
        return
    host = NodeHost(args.id, description, args.data_dir, settings_from(args), credentials)
    await host.start()
    admitted = frozenset(node.id for node in description.nodes) | {args.id}
    # gRPC (Admin, pub/sub) listens on a Unix socket in a directory only this user can enter;
    # the node's address takes the framed Raft and Kv streams and relays gRPC connections
    # that passed the handshake there (node/listener.py).
    socket_dir = Path(tempfile.mkdtemp(prefix="slotraft-node-"))
    grpc_socket = str(socket_dir / "grpc.sock")
    server = grpc.aio.server(options=SERVER_OPTIONS)
    pb_grpc.add_KvServicer_to_server(KvService(host), server)
    pb_grpc.add_AdminServicer_to_server(AdminService(host), server)
    pb_grpc.add_ConfigServicer_to_server(ConfigService(host), server)
    if server.add_insecure_port(f"unix:{grpc_socket}") == 0:
        raise SystemExit(f"cannot open the node's private gRPC socket {grpc_socket}")
    await server.start()
    assert host.transport is not None
    listener = NodeListener(
        {
            CHANNEL_RAFT: host.transport.accept,
            CHANNEL_KV: lambda _hello: KvConnection(host).stream,
        },
        grpc_socket,
        credentials.key,
        me,
        # A joining node admits any node that proves the secret until the map names its
        # peers: it holds no data yet, and the nodes that add it are not in its file.
        frozenset() if args.join else admitted | frozenset(host.cluster_map.nodes),
        tls.server if tls else None,
    )

    def admit(nodes: frozenset[int]) -> None:
        # Nodes added to the map may call; the description's stay admitted (a removed
        # node is out of every group, whose members reject its messages).
        listener.nodes = admitted | nodes

    host.on_nodes_changed = admit
    host.transport.learn_peers = bool(args.join)
    listen = args.listen or me_address.raft_address
    try:
        await listener.start(listen)
    except OSError as error:
        raise SystemExit(f"cannot listen on {listen}: {error}") from None
    log.info("node %d serving on %s (data in %s)", args.id, listen, args.data_dir)
    metrics = None
    if args.metrics is not None:
        registry = process_registry()
        registry.register(NodeCollector(host))
        metrics = MetricsServer(registry, *parse_address(args.metrics))
        try:
            await metrics.start()
        except OSError as error:  # the shards come first: serve them, without metrics
            log.error("cannot serve metrics on %s: %s", args.metrics, error)
            metrics = None
        else:
            log.info("metrics at %s", metrics.url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    failed = asyncio.ensure_future(asyncio.gather(*host.tasks))
    waiter = asyncio.ensure_future(stop.wait())
    retired = asyncio.ensure_future(host.retired.wait())
    await asyncio.wait({failed, waiter, retired}, return_when=asyncio.FIRST_COMPLETED)
    retired.cancel()
    crash = failed.exception() if failed.done() and not failed.cancelled() else None
    log.info("node %d stopping", args.id)
    if metrics is not None:
        await metrics.close()
    await listener.stop()
    await server.stop(grace=1)
    await host.stop()
    shutil.rmtree(socket_dir, ignore_errors=True)
    lock.release()
    failed.cancel()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await failed
    if crash is not None:
        raise SystemExit(f"node {args.id} failed: {crash!r}")


def joining_address(args: argparse.Namespace, description: ClusterDescription) -> NodeAddress:
    """This node's address: the cluster file's, or with --join the --address given."""
    if not args.join:
        return description.node(args.id)
    if args.address is None:
        raise ValueError(f"node {args.id}: --join needs --address HOST:PORT")
    if any(node.id == args.id for node in description.nodes):
        raise ValueError(f"node {args.id} is in the cluster file already: start it without --join")
    return NodeAddress(args.id, args.address)


def run(args: argparse.Namespace) -> int:
    configure("node", args.id, args.log_level)
    if args.metrics is not None:
        parse_address(args.metrics)  # a bad address stops the node before it starts
    uvloop.install()
    tune_gc()
    asyncio.run(serve(args))
    return 0
