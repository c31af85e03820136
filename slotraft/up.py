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

from slotraft.local_cluster import LocalCluster
from slotraft.supervisor import Supervisor

STATE_FILE = "cluster.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "A node or router that exits is started again after 1 s (the wait doubles, up to "
        "30 s, while it keeps exiting early); Ctrl-C or SIGTERM stops them all. "
        f"<data-dir>/{STATE_FILE} lists each process: role, id, pid, port, log."
    )
    parser.add_argument("--nodes", type=int, default=3, help="number of node processes (3)")
    parser.add_argument("--shards", type=int, default=3, help="number of shards (3)")
    parser.add_argument("--replicas", type=int, default=3, help="replicas per shard (3)")
    parser.add_argument("--routers", type=int, default=1, help="number of routers (1)")
    parser.add_argument("--port", type=int, default=6379, help="first router's RESP port (6379)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("slotraft-data"),
        help="where nodes keep their data and the cluster files (./slotraft-data)",
    )
    parser.add_argument(
        "--requirepass",
        default=os.environ.get("SLOTRAFT_PASSWORD"),
        help="password clients must AUTH with (env SLOTRAFT_PASSWORD)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the cluster to serve (60)"
    )


def write_state(cluster: LocalCluster) -> None:
    state = {
        "started": time.time(),
        "processes": [
            {"role": p.role, "id": p.id, "pid": p.pid, "port": p.port, "log": str(p.log)}
            for p in cluster.processes
        ],
    }
    # Whole or not at all: `slotraft ctl` and scripts read it while processes restart.
    path = cluster.data_dir / STATE_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(temporary, path)


def run(args: argparse.Namespace) -> int:
    cluster = LocalCluster(
        data_dir=args.data_dir,
        nodes=args.nodes,
        shards=args.shards,
        replicas=args.replicas,
        routers=args.routers,
        host=args.host,
        router_port=args.port,
        requirepass=args.requirepass,
    )
    reused = (args.data_dir / "cluster.toml").exists()
    description = cluster.prepare()
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
    try:
        cluster.start()
        write_state(cluster)
        cluster.wait_until_serving(args.timeout)
        ports = cluster.router_ports
        print(
            f"slotraft is serving: redis-cli -h {args.host} -p {ports[0]}"
            + (f" (routers on ports {', '.join(map(str, ports))})" if len(ports) > 1 else "")
        )
        print(
            f"status: slotraft ctl --data-dir {args.data_dir} status; "
            f"data and logs in {args.data_dir.resolve()}; Ctrl-C stops the cluster"
        )
        sys.stdout.flush()
        supervisor = Supervisor(cluster, time.monotonic)
        while not stopping:
            messages, restarted = supervisor.poll()
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
