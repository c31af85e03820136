"""`python -m tests.sim --seeds N` runs seeds 0..N-1; `--seed S` replays one seed."""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from tests.sim.runner import SeedResult, run_seed


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--seeds", type=int, default=100, help="run seeds first..first+N-1")
    which.add_argument("--seed", type=int, help="run (replay) this one seed, verbosely")
    parser.add_argument("--first", type=int, default=0, help="first seed for --seeds")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--groups", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000, help="time units with faults")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.seed is not None:
        result = run_seed(args.seed, args.nodes, args.groups, args.steps, trace=True)
        print(describe(result))
        return 0 if result.ok else 1
    seeds = range(args.first, args.first + args.seeds)
    work = partial(run_seed, nodes=args.nodes, groups=args.groups, steps=args.steps)
    started = time.perf_counter()
    failures: list[SeedResult] = []
    done = 0
    reads = entries = states = moves = 0
    with ProcessPoolExecutor(max_workers=args.jobs) if args.jobs > 1 else _Inline() as pool:
        for result in pool.map(work, seeds, chunksize=8):
            done += 1
            reads += result.reads_checked
            entries += result.entries_applied
            states += result.states_checked
            moves += result.moves_finished
            if not result.ok:
                failures.append(result)
                print(f"\nFAIL seed {result.seed}: {result.error}", flush=True)
            if done % 50 == 0 or done == len(seeds):
                rate = done / (time.perf_counter() - started)
                print(
                    f"\r{done}/{len(seeds)} seeds, {len(failures)} failed, {rate:.1f} seeds/s",
                    end="",
                    flush=True,
                )
    elapsed = time.perf_counter() - started
    print(
        f"\nRESULT: {done} seeds ({args.first}..{args.first + done - 1}), {len(failures)} failed, "
        f"{entries} entries applied, {reads} reads checked, {states} shard states compared, "
        f"{moves} placement moves, {elapsed:.0f} s"
    )
    for result in failures:
        print(
            f"  replay: python -m tests.sim --seed {result.seed} --nodes {args.nodes} "
            f"--groups {args.groups} --steps {args.steps}"
        )
    return 1 if failures else 0


def describe(result: SeedResult) -> str:
    status = "ok" if result.ok else "FAILED"
    text = (
        f"seed {result.seed}: {status} in {result.seconds:.2f} s, {result.time_units} time units, "
        f"{result.entries_applied} entries applied, {result.reads_checked} reads checked, "
        f"{result.states_checked} shard states compared, "
        f"{result.moves_finished} placement moves, max term {result.max_term}"
    )
    return text if result.ok else f"{text}\n{result.error}"


class _Inline:
    """A stand-in for a process pool when --jobs 1."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, function, items, chunksize: int = 1):
        return map(function, items)


if __name__ == "__main__":
    sys.exit(main())
