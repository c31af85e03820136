"""One chaos run: clients of every workload against the target's routers while the nemesis
injects faults for `time_s` seconds; then every fault heals, the run waits until the
cluster serves again, lets the clients go on a little, stops them, makes the final reads,
stops the target, checks the history and writes the report.

Exit status: 0 when every check is valid, 1 on any anomaly, 2 when no anomaly was found
but some check could not decide (unknown).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from chaos.checkers import check_workload
from chaos.checkers.result import INVALID, UNKNOWN, Anomaly, CheckResult, overall_verdict
from chaos.client import Session
from chaos.history import INFO, NEMESIS, History, Operation, load_events, operations_from
from chaos.keys import shard_tags
from chaos.nemesis import Nemesis
from chaos.progress import Progress
from chaos.report import write_report
from chaos.targets.base import Target
from chaos.workloads import WORKLOADS, WorkloadSettings, make_workload
from chaos.workloads.base import Workload

FINAL_PROCESS = 1_000_000  # process ids of the final reads (clients count from 0)


@dataclass(slots=True)
class RunSettings:
    time_s: float = 60.0  # of faults
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    faults: list[str] = field(default_factory=list)  # expanded fault names
    clients: int = 4  # per workload
    seed: int = 0
    fault_seconds: tuple[float, float] = (2.0, 8.0)
    quiet_seconds: tuple[float, float] = (1.0, 4.0)
    warmup_s: float = 3.0
    settle_s: float = 3.0  # of traffic after recovery, before the clients stop
    recovery_timeout_s: float = 120.0
    final_timeout_s: float = 60.0
    client_timeout_s: float = 15.0
    check_budget_s: float = 120.0
    password: str | None = None
    workload: WorkloadSettings = field(default_factory=WorkloadSettings)
    unsafe: str | None = None


@dataclass(slots=True)
class RunOutcome:
    verdict: str
    results: list[CheckResult]
    report_dir: Path
    summary: str

    @property
    def exit_status(self) -> int:
        return {INVALID: 1, UNKNOWN: 2}.get(self.verdict, 0)


class _Clients:
    """The client threads of all workloads; a thread's failures are counted, not fatal."""

    def __init__(
        self,
        workloads: list[Workload],
        settings: RunSettings,
        history: History,
        routers: list[tuple[str, int]],
    ) -> None:
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.threads: list[threading.Thread] = []
        total = len(workloads) * settings.clients
        for w, workload in enumerate(workloads):
            for c in range(settings.clients):
                process = w * settings.clients + c
                session = Session(
                    history,
                    workload.name,
                    routers[process % len(routers)],
                    process,
                    total,
                    settings.client_timeout_s,
                    settings.password,
                )
                rng = random.Random(f"{settings.seed}:{process}")
                self.threads.append(
                    threading.Thread(
                        target=self._loop,
                        args=(workload, session, rng),
                        name=f"client-{workload.name}-{c}",
                        daemon=True,
                    )
                )

    def _loop(self, workload: Workload, session: Session, rng: random.Random) -> None:
        try:
            while not self.stop.is_set():
                try:
                    workload.step(session, rng)
                except Exception as error:
                    self.errors.append(f"{workload.name}: {error!r}")
                    time.sleep(0.1)
        finally:
            session.close()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))


def run(
    target: Target, settings: RunSettings, report_dir: Path, out: TextIO, live: bool
) -> RunOutcome:
    report_dir.mkdir(parents=True, exist_ok=True)
    progress = Progress(out, live)
    prefix = f"chaos:{uuid.uuid4().hex[:8]}"
    workloads: list[Workload] = []
    cluster = CheckResult("cluster")
    notes: list[str] = []
    history = History()
    stop_nemesis = threading.Event()
    started = time.monotonic()
    try:
        progress.phase("starting the cluster")
        target.start()
        tags = shard_tags(target.slot_ranges())
        workloads += [
            make_workload(name, prefix, settings.workload, tags) for name in settings.workloads
        ]
        for workload in workloads:
            workload.routers = target.routers()
        history = History()  # time 0: the clients start
        clients = _Clients(workloads, settings, history, target.routers())
        nemesis = Nemesis(
            target,
            history,
            settings.faults,
            random.Random(settings.seed),
            settings.fault_seconds,
            settings.quiet_seconds,
        )
        faults_until = settings.warmup_s + settings.time_s

        def schedule() -> None:
            if not stop_nemesis.wait(settings.warmup_s):
                nemesis.run(faults_until, stop_nemesis)

        nemesis_thread = threading.Thread(target=schedule, name="nemesis", daemon=True)
        clients.start()
        nemesis_thread.start()
        progress.phase("running", history, nemesis, faults_until)
        nemesis_thread.join(faults_until + 600)
        stop_nemesis.set()

        if nemesis_thread.is_alive():
            notes.append("the nemesis overran its schedule; the runner healed every fault")
            target.heal_all()

        progress.phase("faults healed; waiting for the cluster to serve again", history, nemesis)
        cluster.anomalies += wait_for_recovery(target, history, settings.recovery_timeout_s)
        time.sleep(settings.settle_s)
        progress.phase("stopping the clients", history, nemesis)
        clients.join(settings.client_timeout_s + 10)

        progress.phase("final reads", history, nemesis)
        final_reads(workloads, target.routers(), history, settings)
        for exit_note in target.unexpected_exits():
            cluster.anomalies.append(Anomaly("process-exit", "", exit_note))
        cluster.anomalies += [Anomaly("operator-mistake", "", note) for note in nemesis.anomalies]
        notes += [f"nemesis: {error}" for error in nemesis.errors]
        notes += [f"client error: {error}" for error in clients.errors[:50]]
        if len(clients.errors) > 50:
            notes.append(f"... {len(clients.errors) - 50} more client errors")
    finally:
        stop_nemesis.set()
        progress.phase("stopping the cluster", history)
        target.close()
        progress.stop()

    progress.phase("checking the history")
    every = history.operations()
    operations = [op for op in every if op.process != NEMESIS]
    healed = healed_at(every)
    results = [
        check_workload(workload.name, operations, settings.check_budget_s, healed)
        for workload in workloads
    ]
    results.append(cluster)
    summary = write_report(
        report_dir,
        history.events(),
        results,
        settings=settings,
        target=target.describe(),
        notes=notes,
        wall_seconds=time.monotonic() - started,
    )
    progress.stop()
    return RunOutcome(overall_verdict(results), results, report_dir, summary)


def healed_at(operations: list[Operation]) -> float | None:
    """When the cluster served again after every fault healed (the recovery window's end)."""
    ends = [op.end for op in operations if op.process == NEMESIS and op.f == "recovery"]
    return max(ends) if ends else None


def wait_for_recovery(target: Target, history: History, timeout: float) -> list[Anomaly]:
    """Wait until the cluster serves again; recorded as a "recovery" window in the history."""
    recovery = history.invoke(NEMESIS, NEMESIS, "recovery", "", "waiting")
    try:
        target.wait_until_serving(timeout)
    except TimeoutError as error:
        history.complete(recovery, INFO, f"not serving: {error}")
        message = f"the cluster did not serve within {timeout}s after every fault healed: {error}"
        return [Anomaly("no-recovery", "", message)]
    history.complete(recovery, INFO, "serving")
    return []


def final_reads(
    workloads: list[Workload],
    routers: list[tuple[str, int]],
    history: History,
    settings: RunSettings,
) -> None:
    deadline = time.monotonic() + settings.final_timeout_s
    for number, workload in enumerate(workloads):
        session = Session(
            history,
            workload.name,
            routers[number % len(routers)],
            FINAL_PROCESS + number,
            len(workloads),
            settings.client_timeout_s,
            settings.password,
        )
        try:
            workload.final(session, deadline)
        finally:
            session.close()


def recheck(report_dir: Path, budget_s: float) -> RunOutcome:
    """Check the history.json of an earlier run again (e.g. after a checker changed) and
    rewrite its report; what only the run itself could see (processes that exited, the
    recovery) is taken over from its results.json."""
    events = load_events(report_dir / "history.json")
    previous = json.loads((report_dir / "results.json").read_text())
    every = operations_from(events)
    operations = [op for op in every if op.process != NEMESIS]
    names = [name for name in WORKLOADS if any(op.workload == name for op in operations)]
    results = [check_workload(name, operations, budget_s, healed_at(every)) for name in names]
    cluster = CheckResult("cluster")
    for earlier in previous["results"]:
        if earlier["workload"] == "cluster":
            cluster.anomalies += [
                Anomaly(a["kind"], a["key"], a["message"]) for a in earlier["anomalies"]
            ]
    results.append(cluster)
    summary = write_report(
        report_dir,
        events,
        results,
        settings=previous.get("settings", {}),
        target=previous.get("target", {}),
        notes=[*previous.get("notes", []), "checked again from history.json"],
        wall_seconds=previous.get("wall_seconds", 0.0),
    )
    return RunOutcome(overall_verdict(results), results, report_dir, summary)
