"""The history of a chaos run: every client operation as an invocation and a completion,
with monotonic times in seconds since the run began (Jepsen's model).

A completion is `ok` (it happened, with this result), `fail` (it certainly did not take
effect) or `info` (unknown: no answer came, or the answer does not say; the operation may
take effect at any later time, or never). Nemesis actions are recorded in the same history
under the process name "nemesis", so that a report can line faults up with operations.

Values must be JSON data (str, int, bool, None, lists): the history is saved as JSON.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INVOKE = "invoke"
OK = "ok"
FAIL = "fail"
INFO = "info"
COMPLETIONS = (OK, FAIL, INFO)
NEMESIS = "nemesis"


@dataclass(frozen=True, slots=True)
class Event:
    index: int  # of the operation; its invocation and completion share it
    process: int | str
    workload: str
    type: str  # invoke | ok | fail | info
    f: str
    key: str
    value: Any  # the argument on invoke, the result (or error text) on completion
    time: float

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "process": self.process,
            "workload": self.workload,
            "type": self.type,
            "f": self.f,
            "key": self.key,
            "value": self.value,
            "time": round(self.time, 6),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Event:
        return cls(
            index=raw["index"],
            process=raw["process"],
            workload=raw["workload"],
            type=raw["type"],
            f=raw["f"],
            key=raw["key"],
            value=raw["value"],
            time=raw["time"],
        )


@dataclass(frozen=True, slots=True)
class Operation:
    """An invocation paired with its completion: what the checkers read."""

    index: int
    process: int | str
    workload: str
    f: str
    key: str
    value: Any  # the argument
    start: float
    end: float  # when the client learnt the outcome (for info: when it gave up)
    type: str  # ok | fail | info
    result: Any  # the reply on ok; the error text on fail/info

    @property
    def ok(self) -> bool:
        return self.type == OK

    @property
    def info(self) -> bool:
        return self.type == INFO

    @property
    def effect_deadline(self) -> float:
        """The latest time the operation may take effect: an indeterminate one may still
        take effect at any later time (a retried write committing late)."""
        return math.inf if self.type == INFO else self.end

    def describe(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "process": self.process,
            "f": self.f,
            "key": self.key,
            "value": self.value,
            "type": self.type,
            "result": self.result,
            "start": round(self.start, 6),
            "end": round(self.end, 6),
        }


class History:
    """A thread-safe recorder shared by the clients and the nemesis of one run."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._origin = clock()
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._open: dict[int, Event] = {}
        self._next_index = 0
        self.counts: dict[str, int] = {OK: 0, FAIL: 0, INFO: 0}

    def now(self) -> float:
        return self._clock() - self._origin

    def invoke(self, process: int | str, workload: str, f: str, key: str, value: Any) -> int:
        with self._lock:
            index = self._next_index
            self._next_index += 1
            event = Event(index, process, workload, INVOKE, f, key, value, self.now())
            self._events.append(event)
            self._open[index] = event
            return index

    def complete(self, index: int, type_: str, value: Any) -> Operation:
        if type_ not in COMPLETIONS:
            raise ValueError(f"not a completion type: {type_!r}")
        with self._lock:
            invocation = self._open.pop(index)
            event = Event(
                index,
                invocation.process,
                invocation.workload,
                type_,
                invocation.f,
                invocation.key,
                value,
                self.now(),
            )
            self._events.append(event)
            if invocation.process != NEMESIS:
                self.counts[type_] += 1
            return pair(invocation, event)

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def operations(self) -> list[Operation]:
        return operations_from(self.events())

    def save(self, path: Path) -> None:
        save_events(path, self.events())


def pair(invocation: Event, completion: Event) -> Operation:
    return Operation(
        index=invocation.index,
        process=invocation.process,
        workload=invocation.workload,
        f=invocation.f,
        key=invocation.key,
        value=invocation.value,
        start=invocation.time,
        end=completion.time,
        type=completion.type,
        result=completion.value,
    )


def operations_from(events: Iterable[Event]) -> list[Operation]:
    """Completed operations in invocation order. An invocation without a completion (the
    run ended first) counts as indeterminate, completed at the last recorded time."""
    invocations: dict[int, Event] = {}
    done: dict[int, Operation] = {}
    last = 0.0
    for event in events:
        last = max(last, event.time)
        if event.type == INVOKE:
            invocations[event.index] = event
        else:
            done[event.index] = pair(invocations[event.index], event)
    for index, invocation in invocations.items():
        if index not in done:
            done[index] = pair(
                invocation, Event(index, invocation.process, "", INFO, "", "", "no reply", last)
            )
    return [done[index] for index in sorted(invocations, key=lambda i: invocations[i].time)]


def save_events(path: Path, events: Iterable[Event]) -> None:
    """One JSON document: a list of events, one per line so that it greps well."""
    with path.open("w") as out:
        out.write("[\n")
        first = True
        for event in events:
            out.write(("" if first else ",\n") + json.dumps(event.to_json(), sort_keys=True))
            first = False
        out.write("\n]\n")


def load_events(path: Path) -> list[Event]:
    return [Event.from_json(raw) for raw in json.loads(path.read_text())]
