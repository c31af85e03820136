"""The report of a run, in its folder:

- summary.txt:   verdict per workload, counts (ok/fail/info), anomalies, faults, notes;
- results.json:  the same with every anomaly's operations, and the run's settings;
- history.json:  every event (invoke/ok/fail/info) of clients and nemesis;
- timeline.png:  throughput and latency over time, fault windows shaded.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from chaos.checkers.result import CheckResult, overall_verdict
from chaos.history import NEMESIS, Event, Operation, operations_from, save_events

# summary.txt shows this much per workload; results.json has every anomaly in full
_GROUPS_SHOWN = 8
_OPERATIONS_SHOWN = 8


def write_report(
    directory: Path,
    events: list[Event],
    results: list[CheckResult],
    settings: Any,
    target: dict[str, Any],
    notes: list[str],
    wall_seconds: float,
) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    save_events(directory / "history.json", events)
    operations = operations_from(events)
    clients = [op for op in operations if op.process != NEMESIS]
    faults = [op for op in operations if op.process == NEMESIS]
    counts = count_outcomes(clients)
    document = {
        "verdict": overall_verdict(results),
        "results": [result.to_json() for result in results],
        "counts": counts,
        "faults": [fault.describe() for fault in faults],
        "notes": notes,
        "target": target,
        "settings": _settings_json(settings),
        "wall_seconds": round(wall_seconds, 1),
    }
    (directory / "results.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    picture = directory / "timeline.png"
    plot_timeline(picture, clients, faults)
    summary = render_summary(document, directory, picture)
    (directory / "summary.txt").write_text(summary)
    return summary


def count_outcomes(operations: list[Operation]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for op in operations:
        counts.setdefault(op.workload, Counter())[op.type] += 1
    return {
        workload: {kind: counter.get(kind, 0) for kind in ("ok", "fail", "info")}
        for workload, counter in sorted(counts.items())
    }


def _settings_json(settings: Any) -> dict[str, Any]:
    if isinstance(settings, dict):
        return settings
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        raw = dataclasses.asdict(settings)
        raw.pop("password", None)
        return raw
    return {}


def render_summary(document: dict[str, Any], directory: Path, picture: Path) -> str:
    lines = [f"chaos run: {document['verdict'].upper()}", ""]
    for result in document["results"]:
        counts = document["counts"].get(result["workload"])
        shown = (
            f"  ok {counts['ok']:>7}  fail {counts['fail']:>5}  info {counts['info']:>5}"
            if counts
            else ""
        )
        lines.append(f"{result['workload']:<10} {result['verdict']:<8}{shown}")
        if result["stats"].get("summary"):  # a checker's own one-line account
            lines.append(f"    {result['stats']['summary']}")
        lines += _anomaly_lines(result["anomalies"])
        for reason in result["undecided"]:
            lines.append(f"    ? {reason}")
    faults = [f for f in document["faults"] if f["f"] != "recovery"]
    lines += ["", f"faults: {len(faults)}"]
    by_kind = Counter(f["f"] for f in faults)
    lines += [f"  {kind}: {count}" for kind, count in sorted(by_kind.items())]
    for recovery in (f for f in document["faults"] if f["f"] == "recovery"):
        lines.append(
            f"recovery after healing: {recovery['end'] - recovery['start']:.1f}s "
            f"({recovery['result']})"
        )
    if document["notes"]:
        lines += ["", "notes:"] + [f"  {note}" for note in document["notes"][:20]]
    lines += [
        "",
        f"wall time {document['wall_seconds']}s; report in {directory}",
        f"picture: {picture}",
    ]
    return "\n".join(lines) + "\n"


def _anomaly_lines(anomalies: list[dict[str, Any]]) -> list[str]:
    """Anomalies grouped by kind and key: how many, and the first one in full."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for anomaly in anomalies:
        groups.setdefault((anomaly["kind"], anomaly["key"]), []).append(anomaly)
    lines = []
    for (kind, key), members in list(groups.items())[:_GROUPS_SHOWN]:
        first = members[0]
        times = f" ({len(members)} times; the first:)" if len(members) > 1 else ""
        lines.append(f"    ! {kind}{' ' + key if key else ''}{times} {_short(first['message'])}")
        for op in first["operations"][:_OPERATIONS_SHOWN]:
            value = "" if op["value"] is None else f" {_short(repr(op['value']))}"
            lines.append(
                f"        #{op['index']} p{op['process']} {op['f']}{value} -> {op['type']} "
                f"{_short(repr(op['result']))} [{op['start']:.3f}s, {op['end']:.3f}s]"
            )
    if len(groups) > _GROUPS_SHOWN:
        lines.append(f"    ... {len(groups) - _GROUPS_SHOWN} more kinds of anomaly in results.json")
    return lines


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plot_timeline(path: Path, operations: list[Operation], faults: list[Operation]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = max([op.end for op in operations] + [f.end for f in faults] + [1.0])
    buckets = max(1, math.ceil(end))
    series = {kind: [0] * buckets for kind in ("ok", "fail", "info")}
    latencies: list[list[float]] = [[] for _ in range(buckets)]
    for op in operations:
        second = min(buckets - 1, int(op.end))
        series[op.type][second] += 1
        if op.ok:
            latencies[second].append((op.end - op.start) * 1000)
    seconds = list(range(buckets))
    width = min(40.0, max(13.0, end / 25))  # long runs get a wider picture
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(width, 7), sharex=True)
    top.plot(seconds, series["ok"], color="tab:green", label="ok / s")
    top.plot(seconds, series["info"], color="tab:orange", label="info (unknown) / s")
    top.plot(seconds, series["fail"], color="tab:red", label="fail / s")
    top.set_ylabel("operations per second")
    top.legend(loc="upper right", fontsize=8)
    top.set_title("throughput and latency; shaded: faults (red), recovery wait (blue)")
    done = [op for op in operations if op.ok]
    bottom.scatter(
        [op.end for op in done],
        [max(0.01, (op.end - op.start) * 1000) for op in done],
        s=1,
        color="tab:gray",
        alpha=0.25,
        rasterized=True,
        label="ok operation",
    )
    unknown = [op for op in operations if op.info]
    if unknown:
        bottom.scatter(
            [op.end for op in unknown],
            [max(0.01, (op.end - op.start) * 1000) for op in unknown],
            s=12,
            marker="x",
            color="tab:orange",
            label="info: gave up waiting",
        )
    for name, quantile, colour in (("p50", 0.5, "tab:blue"), ("p99", 0.99, "tab:purple")):
        # NaN where a second had no ok operation: the line breaks instead of bridging it.
        values = [_quantile(v, quantile) if v else math.nan for v in latencies]
        bottom.plot(seconds, values, color=colour, label=name)
    bottom.set_yscale("log")
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("seconds since the clients started")
    bottom.legend(loc="upper right", fontsize=8)
    for fault in faults:
        colour = "tab:blue" if fault.f == "recovery" else "tab:red"
        for axis in (top, bottom):
            axis.axvspan(fault.start, fault.end, color=colour, alpha=0.15, linewidth=0)
        top.annotate(
            fault.f,
            (fault.start, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=6,
            va="top",
        )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _quantile(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]
