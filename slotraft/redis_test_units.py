"""Redis 7.0's own test units (its tests/ tree, unmodified) run through a slotraft router in
the suite's external-server mode, and against a plain redis-server for the reference counts.

    python -m slotraft.redis_test_units                      # through a 3-node cluster
    python -m slotraft.redis_test_units --target local       # router --local-shards 3
    python -m slotraft.redis_test_units --target redis       # the reference redis-server

The source tarball is downloaded once (sha256-checked) into ~/.cache/slotraft. Units run one
at a time against the same server: before each, its keys are flushed and the settings an
earlier unit changed are set back (external mode never restarts the server). The suite runs
in --cluster-mode (one database, no test that Redis marks cluster:skip), since slotraft
follows Redis Cluster's rules: database 0 only, a multi-key command's keys in one slot.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from slotraft.local_cluster import LocalCluster, free_port
from slotraft.redis_unit_exclusions import EXCLUDED

SOURCE_URL = "http://deb.debian.org/debian/pool/main/r/redis/redis_7.0.15.orig.tar.gz"
SOURCE_SHA256 = "4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982"
SOURCE_DIR = "redis-7.0.15"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "slotraft"

UNITS = (
    "unit/type/string",
    "unit/type/incr",
    "unit/type/hash",
    "unit/type/list",
    "unit/type/list-2",
    "unit/type/list-3",
    "unit/type/set",
    "unit/type/zset",
    "unit/expire",
    "unit/keyspace",
    "unit/scan",
    "unit/multi",
    "unit/pubsub",
    "unit/quit",
)
# The units that take longest (through slotraft, as through redis-server): started first
# when units run in parallel.
SLOWEST = (
    "unit/type/zset",
    "unit/type/list-3",
    "unit/type/list-2",
    "unit/type/set",
    "unit/scan",
    "unit/type/string",
    "unit/type/hash",
    "unit/type/list",
)
# Left out by their tags: tests needing what an external server cannot be asked for
# (DEBUG, a replica, a restart through SAVE/DEBUG RELOAD), and those setting maxmemory for
# the test. The latter (4 in multi, 1 in pubsub) expect a command queued in MULTI to be
# refused with OOM at once; slotraft's router queues it (only a shard, when it applies a
# write, knows its memory), a known difference.
DENIED_TAGS = ("needs:debug", "needs:repl", "needs:save", "needs:config-maxmemory")

# The process groups of the runtest runs going on (an interrupt kills them).
_RUNNING: set[int] = set()

_STATUS = re.compile(r"^\[(ok|err|exception|skip|ignore)\]: (.*?)(?: \(\d+ ms\))?$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class SourceUnavailable(Exception):
    """The tarball could not be downloaded (or did not match its checksum)."""


def fetch_source(cache_dir: Path = CACHE_DIR, url: str = SOURCE_URL) -> Path:
    """The tarball, downloaded into cache_dir unless a copy with the right sha256 is there."""
    target = cache_dir / url.rsplit("/", 1)[1]
    if target.exists() and _sha256(target) == SOURCE_SHA256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise SourceUnavailable(f"cannot download {url}: {error}") from error
    if _sha256(partial) != SOURCE_SHA256:
        partial.unlink()
        raise SourceUnavailable(f"{url} does not have sha256 {SOURCE_SHA256}")
    partial.replace(target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack(tarball: Path, into: Path) -> Path:
    """The test tree (runtest and tests/) unpacked under `into`; its directory."""
    with tarfile.open(tarball) as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.name == f"{SOURCE_DIR}/runtest" or m.name.startswith(f"{SOURCE_DIR}/tests/")
        ]
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            archive.extractall(into, members=members, filter="data")
        else:  # the members are checked against the sha256 of Debian's tarball
            archive.extractall(into, members=members)
    return into / SOURCE_DIR


@dataclass
class UnitResult:
    unit: str
    ok: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    exception: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # by --skiptest
    ignored: list[str] = field(default_factory=list)  # by tag
    finished: bool = False  # the unit ran to its end (no exception, no timeout)
    seconds: float = 0.0
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.finished and not self.err and not self.exception


def parse_output(unit: str, text: str) -> UnitResult:
    result = UnitResult(unit, output=text)
    for line in _ANSI.sub("", text).splitlines():
        match = _STATUS.match(line)
        if match is not None:
            kind = {"skip": "skipped", "ignore": "ignored"}.get(match[1], match[1])
            getattr(result, kind).append(match[2])
        elif re.match(rf"^\[\d+/\d+ done\]: {re.escape(unit)} ", _ANSI.sub("", line)):
            result.finished = True
    return result


def run_unit(
    source: Path,
    port: int,
    unit: str,
    skips: tuple[str, ...] = (),
    host: str = "127.0.0.1",
    timeout: float = 3600.0,
    test_timeout: int = 900,
) -> UnitResult:
    """One unit through runtest against host:port. `timeout`: for the whole unit;
    `test_timeout`: runtest's own, for one test (through a cluster, the 60,000 SADDs one at
    a time of scan's "regression test for issue #4906" take over 15 minutes on a loaded
    2-core machine)."""
    command = ["./runtest", "--host", host, "--port", str(port), "--cluster-mode"]
    command += ["--single", unit, "--timeout", str(test_timeout)]
    # The test server listens on a port of its own, searched downwards from baseport - 32.
    command += ["--baseport", str(free_port(host) + 32)]
    for tag in DENIED_TAGS:
        command += ["--tags", f"-{tag}"]
    for name in skips:
        command += ["--skiptest", name]
    started = time.monotonic()
    # A session of its own: runtest is a shell script starting tclsh, which starts a test
    # client; on a timeout or an interrupt the whole group is killed, none left behind.
    process = subprocess.Popen(
        command,
        cwd=source,
        env=dict(os.environ, TERM="dumb"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _RUNNING.add(process.pid)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        output, _ = process.communicate()
        output += b"\n[runner timeout]\n"
    finally:
        _kill_group(process.pid)
        process.wait()
        _RUNNING.discard(process.pid)
    text = output.decode(errors="replace")
    result = parse_output(unit, text)
    result.seconds = time.monotonic() - started
    return result


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def skips_for(unit: str) -> tuple[str, ...]:
    return tuple(name for name, _reason in EXCLUDED.get(unit, ()))


class Target:
    """The server the units run against, and its settings as they were at the start."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        with self.client() as client:
            self.settings: dict[str, str] = client.config_get("*")

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, decode_responses=True)

    def reset(self) -> None:
        """As a fresh server: no keys, and every setting a unit changed set back."""
        with self.client() as client:
            client.flushall()
            now = client.config_get("*")
            for name, value in self.settings.items():
                if now.get(name) != value:
                    client.config_set(name, value)


def run_units(
    source: Path,
    target: Target,
    units: tuple[str, ...] = UNITS,
    exclusions: bool = True,
    output: Path | None = None,
    test_timeout: int = 900,
) -> list[UnitResult]:
    """Each unit in turn; its runtest output written to output/<unit>.log if asked."""
    return [_run_one(source, target, unit, exclusions, output, test_timeout) for unit in units]


def _run_one(
    source: Path,
    target: Target,
    unit: str,
    exclusions: bool,
    output: Path | None,
    test_timeout: int = 900,
) -> UnitResult:
    target.reset()
    skips = skips_for(unit) if exclusions else ()
    result = run_unit(source, target.port, unit, skips, test_timeout=test_timeout)
    print(summary_line(result), flush=True)
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (output / (unit.replace("/", "_") + ".log")).write_text(result.output)
    return result


def run_units_parallel(
    source: Path,
    server: Callable[[], contextlib.AbstractContextManager[int]],
    units: tuple[str, ...] = UNITS,
    workers: int = 3,
    exclusions: bool = True,
    output: Path | None = None,
    test_timeout: int = 900,
) -> list[UnitResult]:
    """The units spread over `workers` servers of their own (`server()` starts one and
    gives its port), the slowest units first; the results in the order of `units`."""
    queue = sorted(units, key=lambda unit: SLOWEST.index(unit) if unit in SLOWEST else 99)
    lock = threading.Lock()
    results: dict[str, UnitResult] = {}
    failures: list[BaseException] = []

    def work() -> None:
        try:
            with server() as port:
                target = Target(port)
                while True:
                    with lock:
                        if not queue or failures:
                            return
                        unit = queue.pop(0)
                    results[unit] = _run_one(source, target, unit, exclusions, output, test_timeout)
        except BaseException as problem:  # reported by the caller's thread
            failures.append(problem)

    threads = [threading.Thread(target=work) for _ in range(max(1, min(workers, len(units))))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:  # the workers stop their servers once their unit ends
        with lock:
            queue.clear()
        for pgid in list(_RUNNING):
            _kill_group(pgid)
        for thread in threads:
            thread.join()
        raise
    if failures:
        raise failures[0]
    return [results[unit] for unit in units]


def summary_line(result: UnitResult) -> str:
    state = "finished" if result.finished else "ABORTED"
    line = (
        f"{result.unit:<18} ok {len(result.ok):>4}  err {len(result.err):>3}  "
        f"exception {len(result.exception)}  skipped {len(result.skipped):>2}  "
        f"ignored {len(result.ignored):>2}  {result.seconds:6.1f}s  {state}"
    )
    failures = [f"    [err] {name}" for name in result.err]
    failures += [f"    [exception] {name}" for name in result.exception]
    return "\n".join([line, *failures])


# ---------------------------------------------------------------------- servers


@contextlib.contextmanager
def slotraft_cluster(nodes: int = 3) -> Iterator[int]:
    """A cluster of local processes (`nodes` nodes, 3 shards); its router's port."""
    data_dir = Path(tempfile.mkdtemp(prefix="slotraft-units-"))
    cluster = LocalCluster(data_dir=data_dir, nodes=nodes, replicas=min(nodes, 3), metrics=False)
    try:
        cluster.prepare()
        cluster.start()
        cluster.wait_until_serving(90)
        yield cluster.router_ports[0]
    finally:
        cluster.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def local_router(shards: int = 3) -> Iterator[int]:
    """`slotraft router --local-shards`: the router in front of in-process engines (the
    engine code every replica runs, without Raft's round trips and fsyncs)."""
    port = free_port()
    command = [sys.executable, "-m", "slotraft.cli", "router", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--local-shards", str(shards)]
    with _process(command, port):
        yield port


@contextlib.contextmanager
def redis_server() -> Iterator[int]:
    """A plain redis-server without persistence, for the reference counts."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="slotraft-units-redis-") as workdir:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", workdir]
        with _process(command, port):
            yield port


@contextlib.contextmanager
def _process(command: list[str], port: int) -> Iterator[None]:
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {process.returncode}")
            try:
                with redis.Redis(port=port, socket_timeout=2) as client:
                    client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("cluster", "local", "redis"), default="cluster")
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the cluster target")
    parser.add_argument("--port", type=int, help="an already running server instead")
    parser.add_argument("--unit", action="append", help="a unit (repeatable; default: all)")
    parser.add_argument(
        "--no-exclusions", action="store_true", help="also run the tests excluded by name"
    )
    parser.add_argument("--output", type=Path, help="write each unit's runtest output here")
    parser.add_argument(
        "--workers", type=int, default=1, help="servers running units in parallel (not --port)"
    )
    parser.add_argument(
        "--test-timeout", type=int, default=900, help="runtest's timeout for one test (s)"
    )
    args = parser.parse_args(argv)
    # Stopped like an interrupt, so that the servers and runtest runs are stopped too.
    signal.signal(signal.SIGTERM, _interrupt)
    tarball = fetch_source()
    servers = {
        "cluster": lambda: slotraft_cluster(args.nodes),
        "local": local_router,
        "redis": redis_server,
    }
    with tempfile.TemporaryDirectory(prefix="slotraft-redis-tests-") as scratch:
        source = unpack(tarball, Path(scratch))
        units = tuple(args.unit) if args.unit else UNITS
        exclusions = not args.no_exclusions
        if args.port:
            results = run_units(
                source, Target(args.port), units, exclusions, args.output, args.test_timeout
            )
        else:
            results = run_units_parallel(
                source,
                servers[args.target],
                units,
                args.workers,
                exclusions,
                args.output,
                args.test_timeout,
            )
    return 0 if all(result.passed for result in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything it started is stopped by then
        sys.exit(130)
