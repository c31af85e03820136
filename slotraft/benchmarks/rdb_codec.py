"""What DUMP and RESTORE cost per byte in this pure-Python RDB codec, and how long the
largest DUMP and RESTORE that max-command-work allows take: the figures behind the work
units node/engine/t_dump.py charges (a unit is meant to be about a microsecond). Run
with `.venv/bin/python -m slotraft.benchmarks.rdb_codec` on an otherwise idle machine."""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable

from node.engine.config import EngineConfig
from node.engine.engine import Engine
from proto.rdb import lzf
from proto.rdb.crc64 import crc64

SIZE = 100_000


def _best(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slotraft bench rdb")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = random.Random(1)
    text = bytes(rng.choice(b"abcdefgh ") for _ in range(SIZE))
    noise = os.urandom(SIZE)
    per_byte = 1e9 / SIZE
    print(f"crc64                {_best(lambda: crc64(noise), args.repeat) * per_byte:7.0f} ns/B")
    for name, data in (("text", text), ("random", noise)):
        seconds = _best(lambda data=data: lzf.compress(data, len(data) - 4), args.repeat)  # type: ignore[misc]
        print(f"lzf compress {name:<7} {seconds * per_byte:7.0f} ns/B")
    packed = lzf.compress(text, SIZE - 4)
    assert packed is not None
    seconds = _best(lambda: lzf.decompress(packed, SIZE), args.repeat)
    print(f"lzf decompress text  {seconds * per_byte:7.0f} ns/B")
    # The largest values the default budget lets through, end to end in the engine.
    engine = Engine(EngineConfig())
    for size in (25_000, 50_000, 85_000):
        value = bytes(rng.choice(b"abcdefgh ") for _ in range(size))
        engine.execute([b"SET", b"s", value], 0, random.Random(0))
        payload = engine.execute([b"DUMP", b"s"], 0, random.Random(0))
        dump = _best(lambda: engine.execute([b"DUMP", b"s"], 0, random.Random(0)), args.repeat)
        restore = _best(
            lambda payload=payload: engine.execute(  # type: ignore[misc]
                [b"RESTORE", b"c", b"0", payload, b"REPLACE"], 0, random.Random(0)
            ),
            args.repeat,
        )
        print(f"{size:>6} B string: DUMP {dump * 1e3:6.1f} ms, RESTORE {restore * 1e3:6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
