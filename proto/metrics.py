"""Prometheus metrics for nodes and routers: an HTTP endpoint served from the process's
asyncio loop, the registry with prometheus-client's process metrics, and the export of
proto.histogram's histograms.

The endpoint answers `GET /metrics` and nothing else. It runs on the event loop,
not on prometheus-client's server thread: the collectors read the loop's own structures
(replicas, client tables), which a thread would read while the loop changes them, and a
thread would take the GIL from the loop at every scrape. A scrape costs the loop the time
to render the text (1-3 ms end to end for a node of 3 shards, measured).

Counters on a hot path are plain attributes (and proto.histogram.Histogram) updated in
place and read at scrape time by a custom collector: prometheus-client's own Counter and
Histogram take a lock on every update, which costs more than the update itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import HistogramMetricFamily

from proto.histogram import Histogram

log = logging.getLogger("slotraft.metrics")

METRICS_PATH = "/metrics"
HEAD_LIMIT = 8192  # bytes of request line and headers; a scraper sends a few hundred
READ_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 16  # a scraper or two, and a person with curl


def histogram_family(
    name: str,
    documentation: str,
    labels: Sequence[str],
    series: Iterable[tuple[Sequence[str], Histogram]],
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=list(labels))
    for values, histogram in series:
        family.add_metric(list(values), histogram.cumulative(), histogram.total)
    return family


def process_registry() -> CollectorRegistry:
    """A registry with prometheus-client's process, platform and garbage-collector
    metrics; the caller registers its own collectors."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets: [::1]:9100) as (host, port); SystemExit when it is not."""
    host, separator, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not separator or not host or not port.isdigit() or int(port) > 65535:
        raise SystemExit(f"--metrics takes HOST:PORT (e.g. 127.0.0.1:9100), not {text!r}")
    return host, int(port)


class MetricsServer:
    """Serves `registry` at http://host:port/metrics from the running event loop."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> int:
        """Start listening; returns the port (the one chosen when asked for 0)."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=HEAD_LIMIT, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= MAX_CONNECTIONS or task is None:
            writer.close()
            return
        self._connections.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            status, headers, body = self.respond(head)
            writer.write(_response(status, headers, body))
            await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            TimeoutError,
            ConnectionError,
        ):
            pass
        except Exception:
            log.exception("metrics request failed")
        finally:
            self._connections.discard(task)
            writer.close()

    def respond(self, head: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        """The status, headers and body answering a request's head."""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return "400 Bad Request", [], b"bad request\n"
        method, target, _ = parts
        if target.split("?", 1)[0] != METRICS_PATH:
            return "404 Not Found", [], b"only /metrics is served here\n"
        if method != "GET":
            return "405 Method Not Allowed", [("Allow", "GET")], b""
        accept = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "accept":
                accept = value.strip()
        encode, content_type = choose_encoder(accept)
        return "200 OK", [("Content-Type", content_type)], encode(self.registry)


def _response(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers)]
    if not any(name == "Content-Type" for name, _ in headers):
        lines.append("Content-Type: text/plain; charset=utf-8")
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def add_metrics_argument(parser: argparse.ArgumentParser, otherwise: str) -> None:
    """`--metrics HOST:PORT`, as every process takes it; `otherwise`: what happens when the
    port cannot be bound (the process goes on)."""
    parser.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        default=None,
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off; port 0 "
        "picks a free one, logged at start; if it cannot be bound, an error is logged and "
        f"{otherwise})",
    )
