"""`slotraft chaos` end to end against the local target: a short mixed run finds no anomaly
with every workload; the same run with the deliberately unsafe setting (nodes forget
their data at every start; every node killed at once) reports lost writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.checkers.result import INVALID, VALID
from chaos.workloads import WORKLOADS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]


def chaos(report_dir: Path, *options: str, timeout: float = 360) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "SLOTRAFT_UNSAFE_CONFIRM"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "slotraft.cli",
            "chaos",
            "--target",
            "local",
            "--report-dir",
            str(report_dir),
            "--data-dir",
            str(report_dir / "cluster"),
            *options,
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def results(report_dir: Path) -> dict:
    return json.loads((report_dir / "results.json").read_text())


def explain(run: subprocess.CompletedProcess) -> str:
    return f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr (tail):\n{run.stderr[-3000:]}"


def test_short_mixed_run_against_the_local_target_has_no_anomalies(tmp_path):
    report_dir = tmp_path / "mixed"
    run = chaos(
        report_dir,
        "--time",
        "40",
        "--nemesis",
        "mixed",
        "--seed",
        "20260601",
        "--fault-seconds",
        "2-6",
        "--quiet-seconds",
        "1-3",
    )
    assert run.returncode == 0, explain(run)
    document = results(report_dir)
    assert document["verdict"] == VALID
    verdicts = {result["workload"]: result["verdict"] for result in document["results"]}
    assert verdicts == {**dict.fromkeys(WORKLOADS, VALID), "cluster": VALID}
    for workload in WORKLOADS:
        assert document["counts"][workload]["ok"] > 0, workload
    faults = [f for f in document["faults"] if f["f"] != "recovery"]
    assert len({f["f"] for f in faults}) >= 3, faults  # a mix, not one kind
    assert all("healed" in f["result"] for f in faults), faults
    assert (report_dir / "timeline.png").stat().st_size > 0
    history = json.loads((report_dir / "history.json").read_text())
    assert {event["type"] for event in history} >= {"invoke", "ok"}
    assert "chaos run: VALID" in run.stdout


def test_unsafe_setting_loses_acknowledged_writes_and_the_run_says_so(tmp_path):
    report_dir = tmp_path / "unsafe"
    run = chaos(
        report_dir,
        "--time",
        "20",
        "--unsafe",
        "wipe-data-on-start",
        "--nemesis",
        "kill-all",
        "--seed",
        "7",
        "--fault-seconds",
        "1-2",
        "--quiet-seconds",
        "4-6",
    )
    assert "UNSAFE MODE" in run.stderr
    assert run.returncode == 1, explain(run)
    document = results(report_dir)
    assert document["verdict"] == INVALID
    by_workload = {result["workload"]: result for result in document["results"]}
    kinds = {
        name: {anomaly["kind"] for anomaly in result["anomalies"]}
        for name, result in by_workload.items()
    }
    assert "lost-write" in kinds["sets"], kinds
    assert "lost-increments" in kinds["counters"], kinds
    assert "lost-write" in kinds["streams"], kinds  # acknowledged XADDs gone
    lost = next(a for a in by_workload["sets"]["anomalies"] if a["kind"] == "lost-write")
    assert any(op["f"] == "add" and op["type"] == "ok" for op in lost["operations"])
    assert "chaos run: INVALID" in run.stdout


def test_unsafe_setting_is_refused_for_the_compose_target(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "slotraft.cli",
            "chaos",
            "--target",
            "compose",
            "--report-dir",
            str(tmp_path),
            "--unsafe",
            "wipe-data-on-start",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "local target only" in run.stderr


def test_pubsub_run_loses_nothing_after_healing(tmp_path):
    report_dir = tmp_path / "pubsub"
    run = chaos(
        report_dir,
        "--time",
        "20",
        "--workload",
        "pubsub",
        "--nemesis",
        "kill,pause,partition-halves",
        "--seed",
        "11",
        "--fault-seconds",
        "2-4",
        "--quiet-seconds",
        "1-2",
    )
    assert run.returncode == 0, explain(run)
    document = results(report_dir)
    (pubsub,) = [r for r in document["results"] if r["workload"] == "pubsub"]
    assert pubsub["verdict"] == VALID
    stats = pubsub["stats"]
    assert stats["published"] > 0 and stats["subscriptions"] > 0
    assert stats["faults_owed"] > 0 and stats["faults_delivered"] <= stats["faults_owed"]
    assert stats["final_owed"] > 0 and stats["final_delivered"] == stats["final_owed"]
    assert "delivered/owed: during faults" in run.stdout
