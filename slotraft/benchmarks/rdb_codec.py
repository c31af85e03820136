"""What DUMP and RESTORE cost per byte in the RDB codec (CRC-64 and LZF in C), and how long
large DUMPs and RESTOREs take, with the work units node/engine/t_dump.py charges for them
against the default max-command-work (a unit is meant to be about a microsecond). Times
are the process's CPU time, best of --repeat. Run with
`.venv/bin/python -m slotraft.benchmarks.rdb_codec`."""

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

SIZE = 1_000_000


def _best(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()  # CPU time: what it costs the replica, load or not
        action()
        times.append(time.process_time() - start)
    return min(times)


def text_of(size: int) -> bytes:
    """Compressible text of `size` bytes, quick to make."""
    line = b"".join(b"%07d," % (index * 7919 % 1_000_003) for index in range(size // 8 + 1))
    return line[:size]


def _verdict(work: int, budget: int) -> str:
    return f"{work:,} units: {'accepted' if work <= budget else 'refused'} by default"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slotraft bench rdb")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    text = text_of(SIZE)
    noise = os.urandom(SIZE)
    per_byte = 1e9 / SIZE
    print(f"crc64                {_best(lambda: crc64(noise), args.repeat) * per_byte:7.2f} ns/B")
    for name, data in (("text", text), ("random", noise)):
        seconds = _best(lambda data=data: lzf.compress(data, len(data) - 4), args.repeat)  # type: ignore[misc]
        print(f"lzf compress {name:<7} {seconds * per_byte:7.2f} ns/B")
    packed = lzf.compress(text, SIZE - 4)
    assert packed is not None
    seconds = _best(lambda: lzf.decompress(packed, SIZE), args.repeat)
    print(f"lzf decompress text  {seconds * per_byte:7.2f} ns/B")
    # Large values end to end in the engine, with the budget lifted, and whether the
    # default max-command-work lets them through.
    default_budget = EngineConfig().max_command_work
    engine = Engine(EngineConfig(max_command_work=10**12))
    strings = [
        (f"{size // 1_000_000 or size / 1e6:g} MB string", [b"SET", b"v", text_of(size)])
        for size in (100_000, 1_000_000, 10_000_000)
    ]
    sets = [
        (f"100k-member set ({kind})", [b"SADD", b"v", *members])
        for kind, members in (
            ("integers", [b"%d" % i for i in range(100_000)]),
            ("strings", [b"member:%d" % i for i in range(100_000)]),
        )
    ]
    for label, write in strings + sets:
        engine.execute([b"DEL", b"v"], 0, random.Random(0))
        engine.execute(write, 0, random.Random(0))
        payload = engine.execute([b"DUMP", b"v"], 0, random.Random(0))
        assert isinstance(payload, bytes)
        dump = _best(lambda: engine.execute([b"DUMP", b"v"], 0, random.Random(0)), args.repeat)
        dump_work = engine.db.work_done
        restore_args = [b"RESTORE", b"c", b"0", payload, b"REPLACE"]
        restore = _best(
            lambda restore_args=restore_args: engine.execute(restore_args, 0, random.Random(0)),  # type: ignore[misc]
            args.repeat,
        )
        restore_work = engine.db.work_done
        print(
            f"{label:<28} DUMP {dump * 1e3:7.1f} ms ({_verdict(dump_work, default_budget)}),"
            f" RESTORE {restore * 1e3:7.1f} ms ({_verdict(restore_work, default_budget)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
