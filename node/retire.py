"""A node removed from its cluster stops for good.

A removed node cannot always tell by itself: Raft stops replicating to a member once its
removal applies, so the removed node may never apply the entry that removes it, nor the
map without it. The operator's tool knows (the remaining nodes' map no longer names it,
and the operation has finished), so `slotraft ctl remove-node` and `replace-node` end by
asking it to retire (Admin `Retire`). The node agrees unless it leads a shard (its own
view of the groups may be stale, the caller's is not); it then writes a marker in its
data directory and stops with exit status 0. A
later start on that directory stops at once with the same status, and `slotraft up`
does not start it again (slotraft/supervisor.py): the directory is kept for inspection
but never serves again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from node.storage.disk import Syncer, replace_durably

MARKER = "removed.json"


def retired(data_dir: Path) -> dict | None:
    """The marker's record when the node was retired, else None."""
    try:
        record = json.loads((data_dir / MARKER).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # a damaged marker still means retired
    return record if isinstance(record, dict) else {}


def write_marker(data_dir: Path, node_id: int, epoch: int) -> None:
    """Durably: a node that crashes right after agreeing must not serve again either."""
    record = {"node": node_id, "map_epoch": epoch, "at": time.time()}
    replace_durably(data_dir / MARKER, [json.dumps(record).encode()], Syncer())
