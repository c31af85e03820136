"""`slotraft up`: the embedded default. Starts the nodes and routers of a cluster as local
processes on loopback, prints where to connect once the cluster serves, starts again any of
them that exits (slotraft/supervisor.py), and stops them all on Ctrl-C. Started again on the
same data directory, it reuses the same ports and the nodes recover their data."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from node.datadir import DirectoryInUse
from proto.redis_config import ConfigFileError, check_secret_file_mode, read_config_file
from proto.topology import ClusterDescription
from slotraft.local_cluster import (
    CLUSTER_FILE,
    ROUTER_PORTS_FILE,
    ROUTER_TLS_PORTS_FILE,
    LocalCluster,
)
from slotraft.supervisor import Supervisor
from slotraft.up_join import restore_joined, start_requested

STATE_FILE = "cluster.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "A node or router that exits is started again after 1 s (the wait doubles, up to "
        "30 s, while it keeps exiting early); Ctrl-C or SIGTERM stops them all. "
        f"<data-dir>/{STATE_FILE} lists each process: role, id, pid, port, log, and metrics "
        "(where it serves Prometheus metrics: http://HOST:PORT/metrics, on a free loopback port)."
    )
    # None: not given. On an existing data directory a flag that is not given takes the
    # directory's value, and one that is given must be one the cluster can honour.
    parser.add_argument("--nodes", type=int, default=None, help="number of node processes (3)")
    parser.add_argument("--shards", type=int, default=None, help="number of shards (3)")
    parser.add_argument("--replicas", type=int, default=None, help="replicas per shard (3)")
    parser.add_argument("--routers", type=int, default=None, help="number of routers (1)")
    parser.add_argument("--port", type=int, default=None, help="first router's RESP port (6379)")
    parser.add_argument("--host", default=None, help="address to bind (127.0.0.1)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("slotraft-data"),
        help="where nodes keep their data and the cluster files (./slotraft-data)",
    )
    parser.add_argument(
        "--requirepass-file",
        type=Path,
        default=None,
        help="file holding the password clients must AUTH with (default: env "
        "SLOTRAFT_PASSWORD; none: clients on this host only, as Redis's protected mode)",
    )
    parser.add_argument(
        "--aclfile",
        type=Path,
        default=None,
        metavar="FILE",
        help="Redis's ACL file of users, given to every router: loaded into the cluster when "
        "it has no ACL users yet; ACL SAVE writes it, ACL LOAD reads it",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the cluster to serve (60)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="a redis.conf-style file given to every node and router (`maxmemory 100mb`, "
        "`maxmemory-policy allkeys-lru`, `timeout 300`, ...): the nodes take its cluster-wide "
        "settings, the routers their own (port and bind excepted: --port and --host place "
        "the routers). CONFIG SET changes them at run time, through the metadata group for "
        "the cluster-wide ones",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="make a CA and certificates in <data-dir>/tls (kept: later runs on the "
        "directory use TLS too), run every link between the processes in mutual TLS, and "
        "give each router a TLS port for clients",
    )
    parser.add_argument(
        "--tls-port",
        type=int,
        default=None,
        help="the first router's TLS port, the next routers' the ports after it (with --tls, "
        "default: free ports, printed)",
    )
    for name in PASSED_TO_ROUTERS:
        parser.add_argument(f"--{name}", default=None, help="given to every router")


# Redis's client-facing TLS options, given to each router as they are.
PASSED_TO_ROUTERS = (
    "tls-cert-file",
    "tls-key-file",
    "tls-ca-cert-file",
    "tls-auth-clients",
    "tls-protocols",
    "tls-ciphers",
    "tls-ciphersuites",
)


def tls_router_arguments(args: argparse.Namespace) -> list[str]:
    passed = []
    for name in PASSED_TO_ROUTERS:
        value = getattr(args, name.replace("-", "_"))
        if value is not None:
            passed += [f"--{name}", value]
    return passed


def serving_message(cluster: LocalCluster) -> str:
    ports = cluster.router_ports
    message = f"slotraft is serving: redis-cli -h {cluster.host} -p {ports[0]}" + (
        f" (routers on ports {', '.join(map(str, ports))})" if len(ports) > 1 else ""
    )
    tls_ports = cluster.router_tls_ports
    if cluster.tls and tls_ports:
        directory = cluster.tls_dir.resolve()
        message += (
            f"\nover TLS: redis-cli -h {cluster.host} -p {tls_ports[0]} --tls --cacert "
            f"{directory}/ca.crt --cert {directory}/client.crt --key {directory}/client.key"
        )
    elif tls_ports:
        message += f"\nTLS ports: {', '.join(map(str, tls_ports))}"
    return message


def aclfile_arguments(args: argparse.Namespace) -> list[str]:
    """The routers' --aclfile (an absolute path: they run from another directory)."""
    return [] if args.aclfile is None else ["--aclfile", str(args.aclfile.resolve())]


def write_state(cluster: LocalCluster) -> None:
    state = {
        "started": time.time(),
        "processes": [
            {
                "role": p.role,
                "id": p.id,
                "pid": p.pid,
                "port": p.port,
                "log": str(p.log),
                "metrics": p.metrics,
                "tls_port": p.tls_port,
            }
            for p in cluster.processes
        ],
    }
    # Whole or not at all: `slotraft ctl` and scripts read it while processes restart.
    path = cluster.data_dir / STATE_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(temporary, path)


DEFAULTS = {"nodes": 3, "shards": 3, "replicas": 3, "routers": 1, "port": 6379, "host": "127.0.0.1"}


def conflicts(args: argparse.Namespace, existing: ClusterDescription) -> list[str]:
    """The given flags an existing cluster cannot honour, each with what the directory
    holds. Routers (their number, port, password) can change; the nodes cannot yet."""
    problems = []
    held = {
        "nodes": len(existing.nodes),
        "shards": existing.shards,
        "replicas": existing.replicas,
    }
    for name, value in held.items():
        given = getattr(args, name)
        if given is not None and given != value:
            problems.append(f"--{name} {given} (it holds {value})")
    hosts = {node.raft_address.rpartition(":")[0] for node in existing.nodes}
    if args.host is not None and hosts != {args.host}:
        problems.append(f"--host {args.host} (its nodes are on {', '.join(sorted(hosts))})")
    return problems


def password_from(args: argparse.Namespace) -> str | None:
    if args.requirepass_file is not None:
        try:
            return args.requirepass_file.read_text().rstrip("\r\n") or None
        except OSError as error:
            raise SystemExit(f"slotraft up: cannot read --requirepass-file: {error}") from None
    return os.environ.get("SLOTRAFT_PASSWORD") or None


def config_arguments(args: argparse.Namespace) -> list[str]:
    """`--config FILE` for the nodes and routers, once the file is known to be usable
    (SystemExit with Redis's reason otherwise)."""
    if args.config is None:
        return []
    try:
        check_secret_file_mode(args.config, read_config_file(args.config))
    except OSError as error:
        raise SystemExit(f"slotraft up: cannot read --config {args.config}: {error}") from None
    except ConfigFileError as error:
        raise SystemExit(f"slotraft up: {error}") from None
    return ["--config", str(args.config.resolve())]


def run(args: argparse.Namespace) -> int:
    config_args = config_arguments(args)
    cluster_file = args.data_dir / CLUSTER_FILE
    reused = cluster_file.exists()
    if reused:
        existing = ClusterDescription.from_toml(cluster_file)
        problems = conflicts(args, existing)
        if problems:
            print(
                f"slotraft up: {args.data_dir} holds a cluster of {len(existing.nodes)} nodes, "
                f"{existing.shards} shards and {existing.replicas} replicas per shard; it cannot "
                f"take {'; '.join(problems)}: a running cluster cannot change its nodes or "
                "shards yet. Leave those flags out to start it as it is, or give another "
                "--data-dir for a new cluster. (--routers, --port and the password may change.)",
                file=sys.stderr,
            )
            return 2
    settings = {name: getattr(args, name) for name in DEFAULTS}
    if reused:
        settings["host"] = settings["host"] or existing.nodes[0].raft_address.rpartition(":")[0]
    values: dict[str, Any] = {
        name: DEFAULTS[name] if value is None else value for name, value in settings.items()
    }
    cluster = LocalCluster(
        data_dir=args.data_dir,
        nodes=values["nodes"],
        shards=values["shards"],
        replicas=values["replicas"],
        routers=values["routers"],
        host=values["host"],
        router_port=values["port"],
        requirepass=password_from(args),
        node_args=list(config_args),
        router_args=[*config_args, *tls_router_arguments(args), *aclfile_arguments(args)],
        tls=args.tls,
        tls_port=args.tls_port or 0,
    )
    try:
        cluster.claim()
    except DirectoryInUse as error:
        print(f"slotraft up: {error}", file=sys.stderr)
        return 1
    if args.tls_port is not None or args.routers is not None:
        (args.data_dir / ROUTER_TLS_PORTS_FILE).unlink(missing_ok=True)
    if args.port is not None or args.routers is not None:
        # Routers hold no data: a new port or count is honoured (else the ports of the
        # last run are kept, so clients find the cluster where it was).
        (args.data_dir / ROUTER_PORTS_FILE).unlink(missing_ok=True)
    description = cluster.prepare()
    restore_joined(cluster)
    if reused:
        print(
            f"recovering the cluster in {args.data_dir} ({len(description.nodes)} nodes, "
            f"{description.shards} shards)"
        )
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    # Ctrl-C stops the cluster even when `up` was started from a shell that ignores SIGINT
    # in its background jobs (Python keeps an inherited SIG_IGN).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        cluster.start()
        write_state(cluster)
        cluster.wait_until_serving(args.timeout)
        print(serving_message(cluster))
        print(
            f"status: slotraft ctl --data-dir {args.data_dir} status; "
            f"data and logs in {args.data_dir.resolve()}; Ctrl-C stops the cluster"
        )
        sys.stdout.flush()
        supervisor = Supervisor(cluster, time.monotonic)
        while not stopping:
            messages, restarted = supervisor.poll()
            joined = start_requested(cluster)
            if joined:
                messages += joined
                restarted = True  # cluster.json lists the new node
            if restarted:  # before the messages: who reads "started again" finds the pid
                try:
                    write_state(cluster)
                except OSError as error:  # e.g. the disk that made the node exit is full
                    messages.append(f"cannot update {STATE_FILE}: {error}")
            for message in messages:
                print(message, file=sys.stderr, flush=True)
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    except (TimeoutError, RuntimeError) as error:
        print(f"slotraft up: {error}", file=sys.stderr)
        return 1
    finally:
        print("stopping the cluster ...", file=sys.stderr)
        cluster.stop()
