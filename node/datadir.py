"""Who a data directory belongs to: one process at a time, one node of one cluster.

`DirectoryLock` takes an exclusive flock on `LOCK` in the directory before anything else
in it is read: a second process started on the same directory (a supervisor that restarted
a node whose old process still runs, two compose projects on one volume, `slotraft up`
twice) exits at once, naming the pid that holds it, and has touched nothing. The lock goes
with the process (the kernel drops it when the process dies, even by SIGKILL), so a crash
never leaves a stale lock behind.

`check_owner` compares the directory's record (`owner.json`: cluster id, node id and the
cluster's shape, written when the directory is first used) with how the node was started:
another `--id`, another cluster's description or a changed shape is refused with a message
that says what differs, before the WAL is opened.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from node.storage.disk import Syncer, replace_durably

LOCK_FILE = "LOCK"
OWNER_FILE = "owner.json"


class DirectoryInUse(Exception):
    """Another process holds the directory."""


class WrongOwner(Exception):
    """The directory belongs to another node or cluster, or was made for another shape."""


class DirectoryLock:
    """An exclusive lock on a directory, held until `release` or the process ends."""

    def __init__(self, directory: Path, what: str = "slotraft node") -> None:
        self.directory = directory
        self.what = what
        self.descriptor: int | None = None

    def acquire(self) -> DirectoryLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / LOCK_FILE
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            if error.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise DirectoryInUse(
                    f"{self.directory} is in use by another process (pid {holder}): "
                    f"one {self.what} per data directory"
                ) from None
            raise
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self.descriptor = descriptor
        return self

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing drops the flock
            self.descriptor = None

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _read_holder(descriptor: int) -> str:
    try:
        text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text or "unknown"


@dataclass(frozen=True, slots=True)
class Owner:
    cluster_id: str
    node_id: int
    shards: int
    replicas: int
    slots: int


def check_owner(directory: Path, expected: Owner) -> None:
    """Refuse (WrongOwner) a directory recorded for another node, cluster or shape; record
    `expected` in a directory that has no record yet. Call with the lock held."""
    path = directory / OWNER_FILE
    try:
        recorded = json.loads(path.read_text())
    except FileNotFoundError:
        replace_durably(path, [(json.dumps(asdict(expected), indent=2) + "\n").encode()], Syncer())
        return
    except (OSError, ValueError) as error:
        raise WrongOwner(f"cannot read {path}: {error}") from None
    problems = []
    if recorded.get("node_id") != expected.node_id:
        problems.append(
            f"it belongs to node {recorded.get('node_id')}, this is --id {expected.node_id}"
        )
    if recorded.get("cluster_id") != expected.cluster_id:
        problems.append(
            f"it belongs to cluster {recorded.get('cluster_id')!r}, the cluster description "
            f"(or {_ENV_HINT}) says {expected.cluster_id!r}"
        )
    for name in ("shards", "replicas", "slots"):
        if recorded.get(name) != getattr(expected, name):
            problems.append(
                f"it was made for {name} = {recorded.get(name)}, the cluster description "
                f"says {getattr(expected, name)}"
            )
    if problems:
        raise WrongOwner(
            f"refusing the data directory {directory}: " + "; ".join(problems) + ". "
            "Start the node with the --id and cluster description the directory was made "
            "with, or give it an empty --data-dir."
        )


_ENV_HINT = "SLOTRAFT_CLUSTER_ID"
