"""Counters the router reports in INFO stats (CONFIG RESETSTAT zeroes them)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class RouterStats:
    connections_received: int = 0
    rejected_connections: int = 0
    commands_processed: int = 0
    net_input_bytes: int = 0
    net_output_bytes: int = 0
    protocol_errors: int = 0
    reads_processed: int = 0  # reads off client sockets
    writes_processed: int = 0  # writes to client sockets

    def reset(self) -> None:
        for item in fields(self):
            setattr(self, item.name, 0)
