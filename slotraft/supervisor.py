"""What `slotraft up` does when one of its processes exits on its own: start it again, as
docker-compose's `restart: unless-stopped` does for the deployed cluster, instead of taking
the whole cluster down. A node killed with SIGKILL to watch a failover comes back and
catches up; a node that cannot start (a full disk, a bad flag) is retried with a growing
delay while the others go on serving."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from node.retire import retired
from slotraft.local_cluster import LocalCluster, Process

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
# A process that ran this long before it exited starts again after FIRST_DELAY_S; one that
# exits sooner waits twice as long as the last time (a crash loop slows down).
STABLE_AFTER_S = 30.0


@dataclass
class RestartBackoff:
    """The delay before each restart of one process, from how long it last ran."""

    first: float = FIRST_DELAY_S
    limit: float = MAX_DELAY_S
    stable_after: float = STABLE_AFTER_S
    last: float = 0.0

    def delay(self, ran_for: float) -> float:
        if self.last == 0.0 or ran_for >= self.stable_after:
            self.last = self.first
        else:
            self.last = min(self.limit, self.last * 2)
        return self.last


@dataclass
class _Watched:
    started_at: float
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    restart_at: float | None = None  # set while it is down and waiting to start


class Supervisor:
    def __init__(self, cluster: LocalCluster, clock: Callable[[], float]) -> None:
        self.cluster = cluster
        self.clock = clock
        self._started = clock()  # when the processes it first sees are taken to have started
        self.watched: dict[tuple[str, int], _Watched] = {}  # per (role, id)

    def poll(self) -> tuple[list[str], bool]:
        """Notice exits, start what is due; the messages to print, and whether a process was
        started again (its pid changed)."""
        now = self.clock()
        messages = []
        restarted = False
        gone: list[Process] = []
        for process in self.cluster.processes:
            key = (process.role, process.id)
            watched = self.watched.get(key)
            if watched is None:
                watched = self.watched[key] = _Watched(started_at=self._started)
            if watched.restart_at is None:
                if process.running or process.popen is None:
                    continue
                if process.role == "node" and retired(self.cluster.node_dir(process.id)):
                    # `slotraft ctl remove-node` retired it (node/retire.py): it is gone.
                    messages.append(
                        f"{_name(process)} was removed from the cluster: not started again"
                    )
                    gone.append(process)
                    continue
                delay = watched.backoff.delay(now - watched.started_at)
                watched.restart_at = now + delay
                messages.append(
                    f"{_name(process)} {_ending(process.popen.returncode)}; "
                    f"starting it again in {delay:.0f}s (log: {process.log})"
                )
            elif now >= watched.restart_at:
                self.cluster.start_process(process)
                watched.restart_at = None
                watched.started_at = now
                restarted = True
                messages.append(f"{_name(process)} started again (pid {process.pid})")
        for process in gone:
            self.cluster.processes.remove(process)
            self.watched.pop((process.role, process.id), None)
            restarted = True  # cluster.json must no longer list it
        return messages, restarted


def _name(process: Process) -> str:
    return f"{process.role} {process.id}"


def _ending(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"
