"""Snapshots in chunks: what a leader sends next to a follower, and how a follower puts the
chunks back together."""

from __future__ import annotations

from collections.abc import Iterator

from node.raft.messages import InstallSnapshot
from node.raft.progress import Progress
from node.raft.types import Snapshot


def next_chunks(
    snapshot: Snapshot, pr: Progress, size: int, window: int
) -> Iterator[tuple[int, bytes, bool]]:
    """The chunks (offset, data, done) to send now to a follower in SNAPSHOT state, at most
    `window` unanswered; updates the progress as they are yielded."""
    data = snapshot.data
    while pr.snap_inflight < window and not pr.snap_done_sent:
        offset = pr.snap_sent
        chunk = data[offset : offset + size]
        end = offset + len(chunk)
        done = end >= len(data)
        pr.snap_sent = end
        pr.snap_inflight += 1
        pr.snap_done_sent = done
        yield offset, chunk, done


class SnapshotAssembly:
    """The chunks of one incoming snapshot received so far, from one leader in one term
    (another leader's snapshot at the same index may be encoded differently)."""

    __slots__ = ("buffer", "key")

    def __init__(self) -> None:
        self.key: tuple[int, int, int] | None = None
        self.buffer = bytearray()

    def receive(self, chunk: InstallSnapshot) -> tuple[Snapshot | None, int, bool]:
        """Add a chunk. Returns (the whole snapshot once its last chunk arrived, the offset
        wanted next, whether the chunk was rejected because chunks before it are missing)."""
        key = (chunk.src, chunk.term, chunk.meta.index)
        if key != self.key:
            if chunk.offset != 0:
                return None, 0, True
            self.key = key
            self.buffer = bytearray()
        have = len(self.buffer)
        if chunk.offset != have:
            return None, have, chunk.offset > have  # a gap, or a duplicate
        self.buffer += chunk.data
        if not chunk.done:
            return None, len(self.buffer), False
        snapshot = Snapshot(chunk.meta, bytes(self.buffer))
        self.clear()
        return snapshot, len(snapshot.data), False

    def clear(self) -> None:
        self.key = None
        self.buffer = bytearray()
