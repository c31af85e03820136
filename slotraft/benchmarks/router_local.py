"""`slotraft bench router_local`: the router's own ceiling, without the cluster.

Runs the router (`slotraft router --local-shards`) over in-process engines (LocalBackend:
no Raft, no disk, no network hop to nodes) and drives it with redis-benchmark SET and GET,
-c 50 with -P 1 and -P 16. The same runs against a standalone redis-server (no persistence) started
here give the ratio. Also times the request parser in-process: its exact (pure Python)
path, its hiredis fast path, and bare hiredis. Prints figures; never asserts them.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import hiredis

from router.protocol import RequestParser
from slotraft.local_cluster import free_port

REDIS_BENCHMARK = "/usr/bin/redis-benchmark"
REDIS_SERVER = "/usr/bin/redis-server"


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@contextlib.contextmanager
def _process(command: list[str], port: int) -> Iterator[None]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextlib.contextmanager
def router(shards: int) -> Iterator[int]:
    port = free_port()
    command = [sys.executable, "-m", "slotraft.cli", "router", "--port", str(port)]
    command += ["--local-shards", str(shards)]
    with _process(command, port):
        yield port


@contextlib.contextmanager
def redis(port_hint: int = 0) -> Iterator[int]:
    port = port_hint or free_port()
    workdir = tempfile.mkdtemp(prefix="slotraft-bench-redis-")
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", workdir]
    try:
        with _process(command, port):
            yield port
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def redis_benchmark(port: int, test: str, requests: int, clients: int, pipeline: int) -> float:
    """Requests per second that redis-benchmark reports."""
    command = [REDIS_BENCHMARK, "-p", str(port), "-t", test, "-n", str(requests)]
    command += ["-c", str(clients), "-P", str(pipeline), "-r", "100000", "--csv"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    return float(rows[0]["rps"])


def parser_figures(rounds: int, repeats: int = 5) -> dict[str, float]:
    """Microseconds per command to parse pipelines of 16 SET commands (the best of a few
    repeats, since other processes share the machine)."""
    command = b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$3\r\nxxx\r\n"
    data = command * 16

    def parse(use_hiredis: bool) -> float:
        parser = RequestParser(use_hiredis=use_hiredis)
        start = time.perf_counter()
        for _ in range(rounds):
            parser.feed(data)
            while parser.next_command() is not None:
                pass
        return time.perf_counter() - start

    def bare() -> float:
        reader = hiredis.Reader()
        start = time.perf_counter()
        for _ in range(rounds):
            reader.feed(data)
            while reader.gets() is not False:
                pass
        return time.perf_counter() - start

    runs = {
        "exact path": lambda: parse(False),
        "fast path (hiredis)": lambda: parse(True),
        "bare hiredis, no checks": bare,
    }
    return {
        name: min(run() for _ in range(repeats)) / rounds / 16 * 1e6 for name, run in runs.items()
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slotraft bench router_local", description=__doc__)
    parser.add_argument("--shards", type=int, default=3, help="in-process shards (default 3)")
    parser.add_argument("--requests", type=int, default=200_000, help="per redis-benchmark run")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", default="1,16", help="comma-separated -P values")
    parser.add_argument("--tests", default="set,get", help="comma-separated redis-benchmark tests")
    parser.add_argument("--no-redis", action="store_true", help="skip the redis-server baseline")
    parser.add_argument("--parser-rounds", type=int, default=20_000)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not os.path.exists(REDIS_BENCHMARK):
        print(f"{REDIS_BENCHMARK} is missing (install redis-tools)", file=sys.stderr)
        return 1
    print("request parser, pipelines of 16 SET (us per command, lower is better):")
    for name, micros in parser_figures(args.parser_rounds).items():
        print(f"  {name:<26} {micros:6.2f}")
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tests = [t.strip().lower() for t in args.tests.split(",")]
    results: dict[tuple[str, str, int], float] = {}
    targets = [("router", lambda: router(args.shards))]
    if not args.no_redis and os.path.exists(REDIS_SERVER):
        targets.append(("redis", redis))
    print(
        f"\nredis-benchmark -n {args.requests} -c {args.clients} "
        f"(router over {args.shards} in-process shards; redis-server without persistence):"
    )
    for target, start in targets:
        with start() as port:
            for test in tests:
                for pipeline in pipelines:
                    rps = redis_benchmark(port, test, args.requests, args.clients, pipeline)
                    results[(target, test, pipeline)] = rps
                    print(f"  {target:<7} {test.upper():<4} -P {pipeline:<3} {rps:>12,.0f} req/s")
    if any(key[0] == "redis" for key in results):
        print("\nrouter / redis-server:")
        for test in tests:
            for pipeline in pipelines:
                ratio = results[("router", test, pipeline)] / results[("redis", test, pipeline)]
                print(f"  {test.upper():<4} -P {pipeline:<3} {ratio:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
