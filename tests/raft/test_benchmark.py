"""The Raft simulation benchmark runs end to end (figures are printed, never asserted)."""

from __future__ import annotations

from slotraft.benchmarks import raft_sim


def test_benchmark_runs_and_prints_its_figures(capsys):
    argv = ["--entries", "3000", "--batch", "64", "--groups", "4", "--group-batches", "8"]
    assert raft_sim.main(argv) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "entries/s" in line]
    assert len(lines) == 2
    assert lines[0].startswith("1 group x 3 replicas") and lines[1].startswith("4 groups")
