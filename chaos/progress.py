"""The progress display of a run: the phase, operations so far by outcome, throughput and
the active fault. On a terminal one line is rewritten every second; otherwise a line is
printed every ten seconds (logs stay readable)."""

from __future__ import annotations

import threading
from typing import TextIO

from chaos.history import FAIL, INFO, OK, History
from chaos.nemesis import Nemesis


class Progress:
    def __init__(self, out: TextIO, live: bool) -> None:
        self.out = out
        self.live = live
        self.interval = 1.0 if live else 10.0
        self.history: History | None = None
        self.nemesis: Nemesis | None = None
        self.planned: float | None = None
        self.name = ""
        self._last_total = 0
        self._last_time = 0.0
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def phase(
        self,
        name: str,
        history: History | None = None,
        nemesis: Nemesis | None = None,
        planned: float | None = None,
    ) -> None:
        with self._lock:
            self.name = name
            self.history = history
            self.nemesis = nemesis
            self.planned = planned
        self._print(self.line(), final=True)
        if history is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()

    def line(self) -> str:
        with self._lock:
            history, nemesis, planned, name = self.history, self.nemesis, self.planned, self.name
        if history is None:
            return f"chaos: {name}"
        now = history.now()
        counts = dict(history.counts)
        total = sum(counts.values())
        elapsed = now - self._last_time
        rate = (total - self._last_total) / elapsed if elapsed > 0 else 0.0
        self._last_total, self._last_time = total, now
        clock = f"{now:5.0f}s" + (f"/{planned:.0f}s" if planned else "")
        fault = ""
        if nemesis is not None:
            active = nemesis.active
            fault = f" | {active.description}" if active else f" | faults so far {nemesis.injected}"
        return (
            f"chaos {clock} {name}: {total} ops (ok {counts[OK]}, fail {counts[FAIL]}, "
            f"info {counts[INFO]}) {rate:6.0f}/s{fault}"
        )

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            self._print(self.line(), final=False)

    def _print(self, text: str, final: bool) -> None:
        if self.live:
            end = "\n" if final else ""
            self.out.write("\r\033[K" + text + end)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._stopped.clear()
