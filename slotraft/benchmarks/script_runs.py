"""What one script run costs a replica: each EVAL or FCALL runs in a fresh Lua runtime (the
sandbox's prelude loaded into it), a library (cjson, ...) is loaded only by the runs that
name it, and an FCALL runs its library's code before the function. Figures are CPU
microseconds per command (the best of several rounds, so other processes matter less).
Run with `.venv/bin/python -m slotraft.benchmarks.script_runs` on an otherwise idle
machine.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from functools import partial

from node.engine.engine import Engine

NOW = 1_700_000_000_000
LIBRARY = b"""#!lua name=bench
redis.register_function('one', function() return 1 end)
redis.register_function('set', function(keys, args) return redis.call('set', keys[1], args[1]) end)
"""

# (name, command)
CASES: list[tuple[str, list[bytes]]] = [
    ("EVAL return 1", [b"EVAL", b"return 1", b"0"]),
    (
        "EVAL redis.call SET",
        [b"EVAL", b"return redis.call('set', KEYS[1], ARGV[1])", b"1", b"k", b"v"],
    ),
    ("EVAL #!lua flags=no-writes", [b"EVAL", b"#!lua flags=no-writes\nreturn 1", b"0"]),
    ("FCALL return 1", [b"FCALL", b"one", b"0"]),
    ("FCALL redis.call SET", [b"FCALL", b"set", b"1", b"k", b"v"]),
    ("EVAL bit.band", [b"EVAL", b"return bit.band(7, 3)", b"0"]),
    ("EVAL struct.pack", [b"EVAL", b"return struct.pack('>i4', 7)", b"0"]),
    ("EVAL cjson.encode", [b"EVAL", b"return cjson.encode({a = 1, b = {1, 2}})", b"0"]),
    ("EVAL cjson.decode", [b"EVAL", b"return cjson.decode('[1, 2, {\"a\": 3}]')[2]", b"0"]),
    ("EVAL cmsgpack.pack", [b"EVAL", b"return cmsgpack.pack({1, 2, 'x'})", b"0"]),
]


def per_call_us(call: Callable[[], object], calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            call()
        best = min(best, (time.process_time() - start) / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="commands per round")
    parser.add_argument("--rounds", type=int, default=9, help="rounds (the best is shown)")
    options = parser.parse_args()
    engine = Engine()
    rng = random.Random(1)
    engine.execute([b"FUNCTION", b"LOAD", LIBRARY], NOW, rng)
    for name, command in CASES:
        reply = engine.execute(command, NOW, rng)
        if isinstance(reply, bytes) and reply.startswith(b"ERR"):
            raise SystemExit(f"{name}: {reply!r}")
        figure = per_call_us(
            partial(engine.execute, command, NOW, rng), options.calls, options.rounds
        )
        print(f"{name:32} {figure:8.1f} µs")


if __name__ == "__main__":
    main()
