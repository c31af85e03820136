"""Sampling profiles of a running cluster's processes for `slotraft bench cluster --profile`.

py-spy attaches to each process (router, nodes) for the length of one redis-benchmark run
and writes its samples as collapsed stacks (`<name>.folded`: drop it on speedscope.app, or
give it to inferno-flamegraph or flamegraph.pl, which this module runs to write `<name>.svg`
when one is installed), and this module writes a top table (`<name>.top.txt`: the functions with
the most samples, on their own and with what they call).

How to read it: py-spy samples threads it does not see idle, so a thread blocked in
fdatasync counts (wall time, not CPU); the time spent inside uvloop's C code (system calls,
the loop's own bookkeeping) shows as the self time of the frame that runs the loop
(asyncio's Runner.run)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLE_RATE = 200  # per second; py-spy's default is 100


def py_spy() -> str | None:
    """The py-spy executable (a dev dependency), None when it is not installed: next to this
    interpreter (a virtualenv's bin, which need not be on PATH), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """py-spy record attached to one process until stop()."""

    def __init__(self, executable: str, pid: int, folded: Path) -> None:
        self.folded = folded
        self.process = subprocess.Popen(
            [
                executable,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(SAMPLE_RATE),
                "--format",
                "raw",
                "--nonblocking",  # the target is not paused for each sample
                "--output",
                str(folded),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        # py-spy writes its output when interrupted.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def read_folded(path: Path) -> Counter[tuple[str, ...]]:
    """Collapsed stacks (`frame;frame;frame count`), outermost frame first."""
    stacks: Counter[tuple[str, ...]] = Counter()
    if not path.exists():
        return stacks
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def top_table(stacks: Counter[tuple[str, ...]], rows: int = 40) -> str:
    """The functions with the most samples: self (innermost frame) and total (anywhere on
    the stack, counted once per stack), in percent of all samples."""
    total = sum(stacks.values())
    if not total:
        return "no samples (py-spy could not attach, or the process was idle)\n"
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = list(stack)
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples\n", f"{'self %':>7} {'total %':>8}  function (file:line)"]
    for frame, count in own.most_common(rows):
        lines.append(f"{100 * count / total:7.1f} {100 * inclusive[frame] / total:8.1f}  {frame}")
    lines.append("")
    lines.append("by total (the function and what it calls):")
    for frame, count in inclusive.most_common(rows):
        lines.append(f"{100 * own[frame] / total:7.1f} {100 * count / total:8.1f}  {frame}")
    return "\n".join(lines) + "\n"


def flame_graph(folded: Path, svg: Path) -> None:
    """A flame graph drawn from the collapsed stacks when inferno or flamegraph.pl is
    installed (py-spy writes one format per recording, and the folded one serves both the
    top table and any flame-graph viewer)."""
    for tool in ("inferno-flamegraph", "flamegraph.pl"):
        path = shutil.which(tool)
        if path:
            with folded.open("rb") as source, svg.open("wb") as target:
                subprocess.run([path], stdin=source, stdout=target, check=False, timeout=120)
            return


class ClusterProfile:
    """One recording per process per benchmark run, written under a directory."""

    def __init__(self, directory: Path) -> None:
        executable = py_spy()
        if executable is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy; a dev dependency)")
        self.executable = executable
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.recordings: list[Recording] = []

    def start(self, label: str, processes: dict[str, int]) -> None:
        """Attach to each named process (name -> pid) for the run called label."""
        for name, pid in processes.items():
            safe = name.replace(" ", "-")
            self.recordings.append(
                Recording(self.executable, pid, self.directory / f"{label}.{safe}.folded")
            )

    def stop(self) -> None:
        for recording in self.recordings:
            recording.stop()
        for recording in self.recordings:
            folded = recording.folded
            table = top_table(read_folded(folded))
            folded.with_suffix(".top.txt").write_text(table)
            flame_graph(folded, folded.with_suffix(".svg"))
        self.recordings = []
