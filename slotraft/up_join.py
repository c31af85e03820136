"""Nodes added to a `slotraft up` cluster (`slotraft ctl --data-dir D add-node --id N`).

The ctl asks by writing `D/join-requests/N`; the running `slotraft up` starts a joining node
(`slotraft node --join`) on a free port, supervises it as its other processes, records it in
cluster.json and in `D/joined-nodes.json` (so that the next `slotraft up` on D starts it
again on the same port), and removes the request. The ctl then finds the node's port in
cluster.json and adds it to the cluster.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from slotraft.local_cluster import LocalCluster

REQUESTS_DIR = "join-requests"
JOINED_FILE = "joined-nodes.json"
MAX_NODE_ID = 1 << 31


def request_join(data_dir: Path, node_id: int) -> None:
    """The ctl's side: ask the running `slotraft up` for node `node_id`."""
    if not 0 < node_id < MAX_NODE_ID:
        raise ValueError(f"node id {node_id} is not a positive integer below 2^31")
    requests = data_dir / REQUESTS_DIR
    requests.mkdir(exist_ok=True)
    (requests / str(node_id)).touch()


def joined_port(data_dir: Path, node_id: int) -> int:
    """The port of node `node_id` in cluster.json (0: not started yet)."""
    try:
        state = json.loads((data_dir / "cluster.json").read_text())
    except (OSError, ValueError):
        return 0
    for process in state.get("processes", []):
        if process.get("role") == "node" and process.get("id") == node_id:
            return int(process.get("port", 0))
    return 0


def restore_joined(cluster: LocalCluster) -> None:
    """Add the nodes joined in earlier runs to the cluster's processes (not started)."""
    for node_id, port in _joined(cluster.data_dir):
        if not any(p.role == "node" and p.id == node_id for p in cluster.processes):
            cluster.add_joining_node(node_id, port)


def start_requested(cluster: LocalCluster) -> list[str]:
    """`slotraft up`'s side, each poll: start the nodes asked for; what to print."""
    requests = cluster.data_dir / REQUESTS_DIR
    if not requests.is_dir():
        return []
    messages = []
    for request in sorted(requests.iterdir()):
        name = request.name
        request.unlink(missing_ok=True)
        if not name.isdigit() or not 0 < int(name) < MAX_NODE_ID:
            messages.append(f"ignored a join request named {name!r}")
            continue
        node_id = int(name)
        if any(p.role == "node" and p.id == node_id for p in cluster.processes):
            continue  # started already (a request repeated by a resumed ctl)
        process = cluster.add_joining_node(node_id)
        cluster.start_process(process)
        _record(cluster.data_dir, [*_joined(cluster.data_dir), (node_id, process.port)])
        messages.append(
            f"node {node_id} started to join on port {process.port} (log: {process.log})"
        )
    return messages


def _joined(data_dir: Path) -> list[tuple[int, int]]:
    try:
        raw = json.loads((data_dir / JOINED_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [(int(node_id), int(port)) for node_id, port in raw]


def _record(data_dir: Path, joined: list[tuple[int, int]]) -> None:
    path = data_dir / JOINED_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(joined) + "\n")
    os.replace(temporary, path)
