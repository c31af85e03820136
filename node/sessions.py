"""Client sessions for exactly-once writes (Raft dissertation, section 6.3).

Every write request carries (client id, sequence) and `acked`: every sequence below it has
been answered to the client. The replicated state keeps the replies of a client's
unacknowledged requests, so a request retried after a leader change is answered from the
table instead of being applied again. Sessions idle for longer than the expiry are
dropped; the decision uses only entry timestamps, so every replica drops the same ones.
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass, field

SESSION_EXPIRY_MS = 30 * 60 * 1000
SWEEP_INTERVAL_MS = 60 * 1000
# A client that keeps more unacknowledged replies than this is misbehaving; the oldest go.
MAX_REPLIES_PER_SESSION = 100_000


class StaleRequest(Exception):
    """The request's sequence is below what its client acknowledged: it was answered."""


@dataclass(slots=True)
class Session:
    last_seen_ms: int
    floor: int = 0  # every sequence below this was acknowledged by the client
    replies: dict[int, list[bytes]] = field(default_factory=dict)
    # The sequences in `replies` as a min-heap: acknowledging drops the answered ones in
    # O(log n) each instead of scanning every reply kept (hundreds under pipelining).
    order: list[int] = field(default_factory=list, compare=False, repr=False)

    def acknowledge(self, acked: int) -> None:
        """Every sequence below `acked` was answered: raise the floor, forget their replies."""
        if acked <= self.floor:
            return
        self.floor = acked
        order = self.order
        replies = self.replies
        while order and order[0] < acked:
            replies.pop(heapq.heappop(order), None)

    def keep(self, sequence: int, replies: list[bytes]) -> None:
        if sequence not in self.replies:
            heapq.heappush(self.order, sequence)
        self.replies[sequence] = replies


class SessionTable:
    def __init__(self) -> None:
        self.sessions: dict[int, Session] = {}
        self.last_sweep_ms = 0

    def lookup(self, client_id: int, sequence: int) -> list[bytes] | None:
        """The stored replies of an applied request, None if it was never applied.
        Raises StaleRequest for a sequence the client already acknowledged."""
        session = self.sessions.get(client_id)
        if session is None:
            return None
        if sequence < session.floor:
            raise StaleRequest(f"client {client_id} sequence {sequence} was already answered")
        return session.replies.get(sequence)

    def record(
        self, client_id: int, sequence: int, acked: int, replies: list[bytes], now_ms: int
    ) -> None:
        session = self.sessions.get(client_id)
        if session is None:
            session = self.sessions[client_id] = Session(last_seen_ms=now_ms)
        session.last_seen_ms = max(session.last_seen_ms, now_ms)
        session.acknowledge(acked)
        session.keep(sequence, replies)
        if len(session.replies) > MAX_REPLIES_PER_SESSION:
            session.acknowledge(session.order[0] + 1)  # the oldest reply goes

    def touch(self, client_id: int, acked: int, now_ms: int) -> None:
        """A request that is not recorded (a read, a blocked pop) still acknowledges."""
        session = self.sessions.get(client_id)
        if session is not None and acked > session.floor:
            session.acknowledge(acked)
            session.last_seen_ms = max(session.last_seen_ms, now_ms)

    def sweep(self, now_ms: int) -> None:
        if now_ms - self.last_sweep_ms < SWEEP_INTERVAL_MS:
            return
        self.last_sweep_ms = now_ms
        idle = [
            client_id
            for client_id, session in self.sessions.items()
            if now_ms - session.last_seen_ms > SESSION_EXPIRY_MS
        ]
        for client_id in idle:
            del self.sessions[client_id]

    # ------------------------------------------------------------------ snapshot

    def to_bytes(self) -> bytes:
        parts = [struct.pack(">qI", self.last_sweep_ms, len(self.sessions))]
        for client_id in sorted(self.sessions):
            session = self.sessions[client_id]
            parts.append(
                struct.pack(
                    ">QqQI", client_id, session.last_seen_ms, session.floor, len(session.replies)
                )
            )
            for sequence in sorted(session.replies):
                replies = session.replies[sequence]
                parts.append(struct.pack(">QI", sequence, len(replies)))
                for reply in replies:
                    parts.append(struct.pack(">I", len(reply)))
                    parts.append(reply)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionTable:
        table = cls()
        view = memoryview(data)
        offset = 0

        def take(fmt: str) -> tuple:
            nonlocal offset
            values = struct.unpack_from(fmt, view, offset)
            offset += struct.calcsize(fmt)
            return values

        table.last_sweep_ms, count = take(">qI")
        for _ in range(count):
            client_id, last_seen, floor, reply_count = take(">QqQI")
            session = Session(last_seen_ms=last_seen, floor=floor)
            for _ in range(reply_count):
                sequence, parts = take(">QI")
                replies = []
                for _ in range(parts):
                    (length,) = take(">I")
                    replies.append(bytes(view[offset : offset + length]))
                    offset += length
                session.keep(sequence, replies)
            table.sessions[client_id] = session
        if offset != len(data):
            raise ValueError("session table: trailing bytes after the last session")
        return table
