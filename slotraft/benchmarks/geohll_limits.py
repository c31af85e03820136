"""How long the heaviest HyperLogLog, geo and bitmap commands that max-command-work
allows hold a replica's apply loop. Each scenario grows its input (doubling) until the
engine refuses it, then times the largest accepted one: every figure should stay well
under the 0.15 s the limit is set for. Run with
`.venv/bin/python -m slotraft.benchmarks.geohll_limits` on an otherwise idle machine.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from proto.resp import Error

Setup = Callable[[Engine, int], list[bytes]]


def _run(engine: Engine, args: list[bytes]) -> object:
    return engine.execute(args, 0, random.Random(0))


def _geo(engine: Engine, n: int) -> None:
    rng = random.Random(1)
    for start in range(0, n, 1000):
        args = [b"GEOADD", b"g"]
        for i in range(start, min(start + 1000, n)):
            args += [b"%f" % rng.uniform(-1, 1), b"%f" % rng.uniform(-1, 1), b"m%d" % i]
        _run(engine, args)


def pfadd_new(engine: Engine, n: int) -> list[bytes]:
    return [b"PFADD", b"h", *[b"element:%d" % i for i in range(n)]]


def pfadd_dense(engine: Engine, n: int) -> list[bytes]:
    _run(engine, [b"PFADD", b"h", *[b"seed:%d" % i for i in range(5000)]])
    return [b"PFADD", b"h", *[b"element:%d" % i for i in range(n)]]


def pfmerge_sparse(engine: Engine, n: int) -> list[bytes]:
    keys = [b"{h}%d" % k for k in range(n)]
    for k, key in enumerate(keys):
        _run(engine, [b"PFADD", key, *[b"e%d:%d" % (k, i) for i in range(300)]])
    return [b"PFMERGE", b"{h}dest", *keys]


def pfcount_many(engine: Engine, n: int) -> list[bytes]:
    keys = [b"{h}%d" % k for k in range(n)]
    for k, key in enumerate(keys):
        _run(engine, [b"PFADD", key, *[b"e%d:%d" % (k, i) for i in range(3000)]])
    return [b"PFCOUNT", *keys]


def geosearch_all(engine: Engine, n: int) -> list[bytes]:
    _geo(engine, n)
    return [b"GEOSEARCH", b"g", b"FROMLONLAT", b"0", b"0", b"BYRADIUS", b"500", b"km"]


def geosearch_with(engine: Engine, n: int) -> list[bytes]:
    _geo(engine, n)
    return [
        b"GEOSEARCH", b"g", b"FROMLONLAT", b"0", b"0", b"BYBOX", b"900", b"900", b"km",
        b"WITHCOORD", b"WITHDIST", b"WITHHASH", b"COUNT", b"%d" % (n // 2), b"DESC",
    ]  # fmt: skip


def bitop(engine: Engine, n: int) -> list[bytes]:
    _run(engine, [b"SET", b"{b}a", b"\xaa" * n])
    _run(engine, [b"SET", b"{b}b", b"\x0f" * n])
    return [b"BITOP", b"XOR", b"{b}d", b"{b}a", b"{b}b"]


def bitfield(engine: Engine, n: int) -> list[bytes]:
    ops: list[bytes] = []
    for i in range(n):
        ops += [b"INCRBY", b"i13", b"#%d" % i, b"%d" % i]
    return [b"BITFIELD", b"f", *ops]


SCENARIOS: list[tuple[str, Setup]] = [
    ("PFADD n elements, new key (sparse, promoted)", pfadd_new),
    ("PFADD n elements, dense key", pfadd_dense),
    ("PFMERGE n sparse keys", pfmerge_sparse),
    ("PFCOUNT n dense keys", pfcount_many),
    ("GEOSEARCH BYRADIUS over n members", geosearch_all),
    ("GEOSEARCH BYBOX WITH* COUNT n/2 DESC", geosearch_with),
    ("BITOP XOR of two n-byte strings", bitop),
    ("BITFIELD n INCRBY", bitfield),
]


def largest_accepted(setup: Setup) -> tuple[int, float, int]:
    """(n, seconds, work) of the largest doubling of n the engine accepts."""
    best = (0, 0.0, 0)
    n = 16
    while n < 1 << 30:
        engine = Engine(EngineConfig())
        args = setup(engine, n)
        started = time.perf_counter()
        reply = _run(engine, args)
        elapsed = time.perf_counter() - started
        if isinstance(reply, Error):
            break
        best = (n, elapsed, engine.db.work_done)
        n *= 2
    return best


def main() -> None:
    for name, setup in SCENARIOS:
        n, seconds, work = largest_accepted(setup)
        print(f"{name:48s} n={n:>9d}  work={work:>7d}  {seconds * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
