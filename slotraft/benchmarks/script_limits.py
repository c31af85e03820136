"""How long the worst scripts that the default limits allow hold a replica's apply loop.

Each script below spends its whole instruction budget (or memory) on one kind of work:
plain instructions, redis.call, big replies, library functions charged by size, patterns,
parsing. A run blocks its shard's apply loop and so Raft's heartbeats (election timeout
0.6-1.2 s): every figure should stay well under 300 ms. Run with
`.venv/bin/python -m slotraft.benchmarks.script_limits` on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from node.engine.config import EngineConfig
from node.engine.engine import Engine

NOW = 1_700_000_000_000

# (name, script, setup commands)
SCRIPTS: list[tuple[str, str, list[list[bytes]]]] = [
    ("plain instructions", "local i = 0 while true do i = i + 1 end", []),
    ("function calls", "local function f(x) return x end while true do f(1) end", []),
    ("redis.call GET", "while true do redis.call('GET', 'k') end", [[b"SET", b"k", b"v"]]),
    ("redis.call SET", "local i = 0 while true do i = i + 1 redis.call('SET', 'k', i) end", []),
    ("redis.pcall error", "while true do redis.pcall('INCR', 's') end", [[b"SET", b"s", b"x"]]),
    (
        "redis.call LRANGE 1000",
        "while true do redis.call('LRANGE', 'l', 0, -1) end",
        [[b"RPUSH", b"l", *[b"%d" % i for i in range(1000)]]],
    ),
    (
        "redis.call GET 1 MB",
        "while true do redis.call('GET', 'big') end",
        [[b"SET", b"big", b"x" * 1_000_000]],
    ),
    (
        "redis.call SET 1 MB",
        "local v = string.rep('x', 1000000) while true do redis.call('SET', 'k', v) end",
        [],
    ),
    (
        "return a 1M-element array",
        "local t = {} for i = 1, 1000000 do t[i] = i end return t",
        [],
    ),
    (
        "return 200k strings",
        "local t = {} for i = 1, 200000 do t[i] = 'value' .. i end return t",
        [],
    ),
    ("return a table holding itself", "local t = {} t[1] = t return t", []),
    ("string.rep 1 MB", "while true do local s = string.rep('x', 1000000) end", []),
    (
        "upper of 1 MB",
        "local s = string.rep('x', 1000000) while true do local u = s:upper() end",
        [],
    ),
    (
        "table.concat 100k",
        "local t = {} for i = 1, 100000 do t[i] = 'abcdefgh' end "
        "while true do local s = table.concat(t) end",
        [],
    ),
    (
        "plain find, long needle",
        "local s = string.rep('a', 100000) local n = string.rep('a', 1000) .. 'b' "
        "while true do s:find(n, 1, true) end",
        [],
    ),
    (
        "pattern backtracking",
        "local s = string.rep('a', 300) while true do s:find('a*a*b') end",
        [],
    ),
    (
        "gsub %w+ on 10 kB",
        "local s = string.rep('word ', 2000) while true do s:gsub('%w+', 'x') end",
        [],
    ),
    (
        "pairs over 10k keys",
        "local t = {} for i = 1, 10000 do t['k' .. i] = i end "
        "while true do for k, v in pairs(t) do end end",
        [],
    ),
    (
        "table.insert at the front",
        "local t = {} for i = 1, 100000 do t[i] = i end while true do table.insert(t, 1, 0) end",
        [],
    ),
    (
        "table.sort 100k",
        "local t = {} for i = 1, 100000 do t[i] = (i * 7919) % 100003 end "
        "while true do table.sort(t) end",
        [],
    ),
    (
        "loadstring 100 kB",
        "local src = string.rep('local a = 1 ', 8000) while true do loadstring(src) end",
        [],
    ),
    (
        "sha1hex of 1 MB",
        "local s = string.rep('x', 1000000) while true do redis.sha1hex(s) end",
        [],
    ),
    (
        "tonumber of 1 MB",
        "local s = string.rep(' ', 1000000) .. '1' while true do tonumber(s) end",
        [],
    ),
    (
        "unpack 7999",
        "local t = {} for i = 1, 7999 do t[i] = i end while true do unpack(t) end",
        [],
    ),
    (
        "pcall of error",
        "while true do pcall(error, 'x') end",
        [],
    ),
    (
        "memory: fill the heap",
        "local t = {} local i = 0 while true do i = i + 1 t[i] = string.rep('x', 1000) .. i end",
        [],
    ),
    (
        "concatenate numbers",
        "local i = 0 while true do i = i + 1 local x = i..i..i..i..i..i..i..i..i..i..i..i end",
        [],
    ),
]

# Not bounded by the budget: work that PUC Lua 5.1's VM does in one instruction on long
# strings, without allocating (comparisons), and the interning of strings whose sampled
# characters collide (its string hash reads at most 32 of a string's characters, and has no
# seed). Only a VM that counts this work could bound them. `--unbounded` runs them.
UNBOUNDED: list[tuple[str, str, list[list[bytes]]]] = [
    (
        "compare 1.3 MB strings",
        "local s = 'xxxxxxxxxx' for i = 1, 17 do s = s .. s end local t = s .. '' "
        "while true do local b = s < t end",
        [],
    ),
    (
        "colliding string hashes",
        "local t = {} local n = 0 local x = string.rep('x', 58) for d = 65, 68 do "
        "for a = 65, 90 do for b = 65, 90 do for c = 65, 90 do n = n + 1 "
        "t[n] = x .. string.char(a, b) .. 'x' .. string.char(c, d) .. 'x' end end end end",
        [],
    ),
]


def measure(script: str, setup: list[list[bytes]], config: EngineConfig, runs: int) -> tuple:
    times = []
    reply = None
    for _ in range(runs):
        engine = Engine(EngineConfig(**{f: getattr(config, f) for f in config.__slots__}))
        for command in setup:
            engine.execute(command, NOW, random.Random(1))
        start = time.perf_counter()
        reply = engine.execute([b"EVAL", script.encode(), b"0"], NOW, random.Random(1))
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), reply


def describe(reply: object) -> str:
    if isinstance(reply, list):
        return f"array of {len(reply)}"
    text = repr(reply)
    return text if len(text) < 60 else text[:57] + "..."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", help="run the scripts whose name contains this")
    parser.add_argument("--unbounded", action="store_true", help="run UNBOUNDED instead")
    args = parser.parse_args()
    config = EngineConfig()
    print(f"budget {config.script_max_instructions:,} units, memory {config.script_max_memory:,} B")
    worst = 0.0
    for name, script, setup in UNBOUNDED if args.unbounded else SCRIPTS:
        if args.only and args.only not in name:
            continue
        median, slowest, reply = measure(script, setup, config, args.runs)
        worst = max(worst, slowest)
        print(f"{name:28} {median * 1000:8.1f} ms (max {slowest * 1000:6.1f})  {describe(reply)}")
    print(f"slowest run: {worst * 1000:.1f} ms")


if __name__ == "__main__":
    main()
