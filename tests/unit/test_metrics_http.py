"""The metrics endpoint (proto/metrics.py): `GET /metrics` gives the registry in
Prometheus's text format from the event loop; every other path, method or malformed request
gets an error and nothing else; the histograms in plain ints export as Prometheus reads
them."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.metrics_core import CounterMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from proto.histogram import Histogram
from proto.metrics import MetricsServer, histogram_family, parse_address, process_registry


class Tally:
    def __init__(self) -> None:
        self.value = 0
        self.threads: set[int] = set()

    def collect(self):
        import threading

        self.threads.add(threading.get_ident())
        yield CounterMetricFamily("demo_things", "Things", value=self.value)


async def request(port: int, head: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    header_part, _, body = data.partition(b"\r\n\r\n")
    lines = header_part.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


def serve(scenario) -> None:
    async def main() -> None:
        tally = Tally()
        registry = process_registry()
        registry.register(tally)
        server = MetricsServer(registry, "127.0.0.1", 0)
        port = await server.start()
        try:
            await scenario(port, tally)
        finally:
            await server.close()

    asyncio.run(main())


def test_get_metrics_serves_the_registry_from_the_event_loop():
    async def scenario(port: int, tally: Tally) -> None:
        import threading

        tally.value = 7
        status, headers, body = await request(
            port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"
        )
        assert status == "HTTP/1.1 200 OK"
        assert headers["Content-Type"].startswith("text/plain")
        assert int(headers["Content-Length"]) == len(body)
        samples = {
            sample.name: sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
        }
        assert samples["demo_things_total"] == 7
        # prometheus-client's default collectors: process and Python metrics
        assert samples["process_resident_memory_bytes"] > 0
        assert "python_info" in samples
        assert tally.threads == {threading.get_ident()}  # collected on the loop's thread

    serve(scenario)


def test_openmetrics_is_served_to_a_scraper_that_asks_for_it():
    async def scenario(port: int, tally: Tally) -> None:
        accept = b"application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        status, headers, body = await request(
            port, b"GET /metrics HTTP/1.1\r\nAccept: " + accept + b"\r\n\r\n"
        )
        assert status == "HTTP/1.1 200 OK"
        assert headers["Content-Type"].startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n")

    serve(scenario)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "404 Not Found"),
        (b"GET /metrics/../etc/passwd HTTP/1.1\r\n\r\n", "404 Not Found"),
        (b"GET /favicon.ico HTTP/1.0\r\n\r\n", "404 Not Found"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "405 Method Not Allowed"),
        (b"HEAD /metrics HTTP/1.1\r\n\r\n", "405 Method Not Allowed"),
        (b"hello there\r\n\r\n", "400 Bad Request"),
        (b"GET /metrics SPDY/3\r\n\r\n", "400 Bad Request"),
    ],
)
def test_anything_but_get_metrics_is_refused(head, status):
    async def scenario(port: int, tally: Tally) -> None:
        line, _, body = await request(port, head)
        assert line == f"HTTP/1.1 {status}"
        assert b"demo_things" not in body

    serve(scenario)


def test_an_oversized_or_unfinished_request_is_dropped_and_the_server_goes_on():
    async def scenario(port: int, tally: Tally) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, no answer
        writer.close()
        status, _, _ = await request(port, b"GET /metrics HTTP/1.1\r\n\r\n")
        assert status == "HTTP/1.1 200 OK"

    serve(scenario)


def test_a_histogram_exports_cumulative_buckets_its_count_and_sum():
    histogram = Histogram((0.001, 0.01, 0.1))
    for value in (0.0005, 0.001, 0.002, 0.05, 3.0):
        histogram.observe(value)
    assert histogram.count == 5
    family = histogram_family("demo_seconds", "Demo", ["kind"], [(["a"], histogram)])
    samples = {
        (sample.name, sample.labels.get("le", "")): sample.value for sample in family.samples
    }
    assert samples[("demo_seconds_bucket", "0.001")] == 2  # le is inclusive
    assert samples[("demo_seconds_bucket", "0.01")] == 3
    assert samples[("demo_seconds_bucket", "0.1")] == 4
    assert samples[("demo_seconds_bucket", "+Inf")] == 5
    assert samples[("demo_seconds_count", "")] == 5
    assert samples[("demo_seconds_sum", "")] == pytest.approx(3.0535)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9100", ("127.0.0.1", 9100)), ("[::1]:0", ("::1", 0)), ("h:1", ("h", 1))],
)
def test_metrics_addresses_are_host_and_port(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9100", ":9100", "host:", "host:port", "h:70000"])
def test_a_bad_metrics_address_stops_the_process(text):
    with pytest.raises(SystemExit, match="--metrics takes HOST:PORT"):
        parse_address(text)
