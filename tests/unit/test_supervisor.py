"""slotraft up's supervisor: an exited process is started again after a delay that grows
while it keeps exiting soon after each start and falls back once it has run for a while;
a node retired by `slotraft ctl remove-node` is not."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from slotraft.local_cluster import Process
from slotraft.supervisor import RestartBackoff, Supervisor


def test_backoff_doubles_while_the_process_keeps_exiting_early_and_resets_once_stable():
    backoff = RestartBackoff(first=1, limit=8, stable_after=30)
    assert [backoff.delay(ran_for=2) for _ in range(5)] == [1, 2, 4, 8, 8]
    assert backoff.delay(ran_for=31) == 1
    assert backoff.delay(ran_for=0.5) == 2


class FakePopen:
    _pids = iter(range(1000, 2000))

    def __init__(self) -> None:
        self.pid = next(self._pids)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class FakeCluster:
    processes: list[Process] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)
    data_dir: Path = Path("/nonexistent")

    def node_dir(self, node_id: int) -> Path:
        return self.data_dir / f"node-{node_id}"

    def start_process(self, process: Process) -> None:
        if not process.running:
            process.popen = FakePopen()  # type: ignore[assignment]
            self.starts.append(f"{process.role} {process.id}")


def make_cluster() -> FakeCluster:
    cluster = FakeCluster()
    for role, ident in (("node", 1), ("node", 2), ("router", 1)):
        process = Process(role, ident, 0, [], Path(f"/logs/{role}-{ident}.log"))
        process.popen = FakePopen()  # type: ignore[assignment]
        cluster.processes.append(process)
    return cluster


def test_an_exited_process_is_started_again_after_the_delay_and_the_others_are_left_alone():
    cluster = make_cluster()
    now = [0.0]
    supervisor = Supervisor(cluster, lambda: now[0])  # type: ignore[arg-type]
    assert supervisor.poll() == ([], False)

    node_2 = cluster.processes[1]
    old_pid = node_2.pid
    node_2.popen.returncode = -9  # type: ignore[union-attr]
    now[0] = 5.0
    messages, restarted = supervisor.poll()
    assert messages == [
        "node 2 was killed by SIGKILL; starting it again in 1s (log: /logs/node-2.log)"
    ]
    assert not restarted and cluster.starts == []

    now[0] = 5.5
    assert supervisor.poll() == ([], False)  # not yet due
    now[0] = 6.0
    messages, restarted = supervisor.poll()
    assert restarted and cluster.starts == ["node 2"]
    assert node_2.running and node_2.pid != old_pid
    assert messages == [f"node 2 started again (pid {node_2.pid})"]

    # It fails again at once (say, a full disk): the next wait is longer.
    node_2.popen.returncode = 1  # type: ignore[union-attr]
    now[0] = 6.2
    messages, _ = supervisor.poll()
    assert messages == [
        "node 2 exited with code 1; starting it again in 2s (log: /logs/node-2.log)"
    ]
    now[0] = 7.0
    assert supervisor.poll() == ([], False)
    now[0] = 8.2
    assert supervisor.poll()[1]
    assert cluster.starts == ["node 2", "node 2"]
    assert all(p.running for p in cluster.processes)


def test_a_retired_node_is_not_started_again_and_leaves_the_cluster_file(tmp_path: Path):
    from node.retire import write_marker

    cluster = make_cluster()
    cluster.data_dir = tmp_path
    now = [0.0]
    supervisor = Supervisor(cluster, lambda: now[0])  # type: ignore[arg-type]
    node_2 = cluster.processes[1]
    (tmp_path / "node-2").mkdir()
    write_marker(tmp_path / "node-2", 2, 17)
    node_2.popen.returncode = 0  # type: ignore[union-attr]
    now[0] = 1.0
    messages, changed = supervisor.poll()
    assert messages == ["node 2 was removed from the cluster: not started again"]
    assert changed  # cluster.json is written again, without it
    assert [(p.role, p.id) for p in cluster.processes] == [("node", 1), ("router", 1)]
    now[0] = 60.0
    assert supervisor.poll() == ([], False) and cluster.starts == []
