"""`python -m tests.xsim --seeds N [--jobs J] [--unsafe]` runs seeds first..first+N-1;
`--seed S` replays one seed and prints its fault log."""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from tests.xsim.checker import Violation, check
from tests.xsim.runner import run_seed
from tests.xsim.world import World, XsimParams


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.xsim", description=__doc__)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--seeds", type=int, default=100)
    which.add_argument("--seed", type=int)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--unsafe", action="store_true", help="PREPARE takes no locks")
    args = parser.parse_args(argv)
    if args.seed is not None:
        world = World(XsimParams.from_seed(args.seed, args.unsafe))
        world.run()
        print("\n".join(world.log[-60:]))
        try:
            print(check(world))
        except Violation as violation:
            print(f"VIOLATION: {violation}")
            return 1
        return 0
    seeds = range(args.first, args.first + args.seeds)
    work = partial(run_seed, unsafe=args.unsafe)
    started = time.perf_counter()
    failed = 0
    totals: dict[str, int] = {}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for result in pool.map(work, seeds, chunksize=20):
            if not result.ok:
                failed += 1
                print(result.error)
            for name, count in result.counts.items():
                totals[name] = totals.get(name, 0) + count
    seconds = time.perf_counter() - started
    print(f"{len(seeds)} seeds, {failed} failed, {seconds:.1f} s; totals {totals}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
