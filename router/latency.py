"""LATENCY: this router's latency monitor and its per-command latency histograms, as
Redis 7.0 shows them.

The monitor records, per event, one sample per second (the worst) of the commands at or
over latency-monitor-threshold (ms; 0 turns it off), timed end to end at the router as the
slowlog times them: "command", or "fast-command" for commands Redis flags fast. It keeps
the last 160 samples of each event. LATENCY HISTOGRAM and INFO latencystats read the
histograms the router keeps of every command (router/metrics.py), in Redis's buckets:
powers of two from 1 µs."""

from __future__ import annotations

import time

from proto.resp import Error, Map, Reply, Verbatim
from router.connection import ClientState
from router.context import RouterContext
from router.local_commands import answers, help_lines
from router.metrics import FINE_BUCKETS, CommandStats, fine_upper_ns
from router.monitoring import EventSeries

# ---------------------------------------------------------------------- histograms


def redis_buckets(stats: CommandStats) -> list[tuple[int, int]]:
    """A command's latencies as LATENCY HISTOGRAM shows them: (bucket in µs, calls at or
    below it) for each bucket of powers of two (from 1024 ns) whose count grew, as Redis
    reads its HDR histogram."""
    per_bucket: dict[int, int] = {}
    for bucket in range(FINE_BUCKETS):
        count = stats.fine[bucket]
        if count:
            upper = fine_upper_ns(bucket)
            power = max(0, (max(upper, 1) - 1).bit_length() - 10)  # 1024 << power >= upper
            per_bucket[power] = per_bucket.get(power, 0) + count
    out = []
    running = 0
    for power in sorted(per_bucket):
        running += per_bucket[power]
        bound = 1024 << power
        # Redis prints the HDR bucket's highest equivalent value (2 significant digits).
        out.append(((bound + (bound >> 7) - 1) // 1000, running))
    return out


def percentile_us(stats: CommandStats, percentile: float) -> float:
    """The latency (µs) below which `percentile` % of the command's calls fall: the top of
    the fine bucket that holds it."""
    total = sum(stats.fine)
    if not total:
        return 0.0
    wanted = max(1, -(-total * percentile // 100))  # ceil
    running = 0
    for bucket in range(FINE_BUCKETS):
        running += stats.fine[bucket]
        if running >= wanted:
            return fine_upper_ns(bucket) / 1000
    return fine_upper_ns(FINE_BUCKETS - 1) / 1000


def command_stats(ctx: RouterContext) -> dict[str, CommandStats]:
    """Each command's stats since the last CONFIG RESETSTAT (unknown commands left out)."""
    return ctx.command_stats()


def _histogram_of(stats: CommandStats) -> Map:
    buckets = redis_buckets(stats)
    return Map(
        [b"calls", stats.count, b"histogram_usec", Map([x for pair in buckets for x in pair])]
    )


# ---------------------------------------------------------------------- LATENCY


LATENCY_HELP = [
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the "
    "specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
]


@answers("latency|latest")
def latency_latest(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return [
        [event.encode(), series.samples[-1][0], series.samples[-1][1], series.max]
        for event, series in ctx.latency.events.items()
        if series.samples
    ]


@answers("latency|history")
def latency_history(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    series = ctx.latency.events.get(args[2].decode("latin-1"))
    if series is None:
        return []
    return [[when, latency] for when, latency in series.samples]


@answers("latency|reset")
def latency_reset(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    if len(args) == 2:
        return ctx.latency.reset()
    return ctx.latency.reset([arg.decode("latin-1") for arg in args[2:]])


@answers("latency|histogram")
def latency_histogram(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    stats = command_stats(ctx)
    if len(args) == 2:
        wanted = sorted(stats)
    else:
        wanted = []
        for arg in args[2:]:
            name = arg.decode("latin-1").lower()
            container = [n for n in stats if n == name or n.startswith(name + "|")]
            wanted.extend(n for n in sorted(container) if n not in wanted)
    flat: list[Reply] = []
    for name in wanted:
        if stats[name].count:
            flat.extend((name.encode(), _histogram_of(stats[name])))
    return Map(flat)


@answers("latency|graph")
def latency_graph(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    event = args[2].decode("latin-1")
    series = ctx.latency.events.get(event)
    if series is None or not series.samples:
        return Error(b"ERR No samples available for event '%s'" % args[2])
    return Verbatim(graph(event, series, int(time.time())).encode())


@answers("latency|doctor")
def latency_doctor(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return Verbatim(doctor_report(ctx).encode())


@answers("latency|help")
def latency_help(ctx: RouterContext, client: ClientState, args: list[bytes]) -> Reply:
    return help_lines(LATENCY_HELP)


def graph(event: str, series: EventSeries, now: int) -> str:
    """An ASCII graph of the samples, newest on the right: a column per sample, its height
    the latency relative to the worst, with the age of each sample under it."""
    samples = series.samples[-80:]
    low = min(latency for _, latency in samples)
    high = max(latency for _, latency in samples)
    rows = 4
    lines = [
        f"{event} - high {high} ms, low {low} ms (all time high {series.max} ms)",
        "-" * 80,
    ]
    for row in range(rows, 0, -1):
        cells = []
        for _, latency in samples:
            level = rows if high == low else round((latency - low) / (high - low) * (rows - 1)) + 1
            cells.append("#" if level >= row else " ")
        lines.append("".join(cells))
    ages = [_age(now - when) for when, _ in samples]
    width = max(len(age) for age in ages)
    for position in range(width):
        lines.append("".join(age[position] if position < len(age) else " " for age in ages))
    return "\n".join(lines) + "\n"


def _age(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def doctor_report(ctx: RouterContext) -> str:
    monitor = ctx.latency
    events = {name: series for name, series in monitor.events.items() if series.samples}
    if not events and not monitor.threshold_ms:
        return (
            "Latency monitoring is disabled on this router. "
            'Use "CONFIG SET latency-monitor-threshold <milliseconds>" to enable it (the '
            "setting is cluster-wide: every router applies it).\n"
        )
    if not events:
        return (
            "No latency spike was observed on this router at or above "
            f"{monitor.threshold_ms} ms since the monitor was enabled or reset.\n"
        )
    lines = ["Latency spikes observed on this router (commands timed end to end):", ""]
    advice = set()
    for number, (name, series) in enumerate(sorted(events.items()), start=1):
        latencies = [latency for _, latency in series.samples]
        times = [when for when, _ in series.samples]
        average = sum(latencies) / len(latencies)
        deviation = sum(abs(latency - average) for latency in latencies) / len(latencies)
        period = (max(times) - min(times)) / len(latencies)
        lines.append(
            f"{number}. {name}: {len(latencies)} latency spikes (average {int(average)}ms, "
            f"mean deviation {int(deviation)}ms, period {period:.2f} sec). Worst all time "
            f"event {series.max}ms."
        )
        if name == "command":
            advice.add("slowlog")
            advice.add("large")
        else:
            advice.add("consensus")
    lines += ["", "What may help:"]
    if "slowlog" in advice:
        slowlog = ctx.slowlog
        if slowlog.slower_than_us < 0:
            lines.append("- The slowlog is off: enable it (CONFIG SET slowlog-log-slower-than).")
        elif slowlog.slower_than_us // 1000 > monitor.threshold_ms:
            lines.append(
                "- The slowlog logs less than the monitor sees: lower "
                "slowlog-log-slower-than to the monitor's threshold."
            )
        lines.append("- SLOWLOG GET names the slow commands and their clients.")
    if "large" in advice:
        lines.append(
            "- Commands over large values (ranges, SUNION, KEYS, big DELs) run on every "
            "replica of their shard: max-command-work bounds them."
        )
    if "consensus" in advice:
        lines.append(
            "- Fast commands were slow: every write waits for a majority of its shard's "
            "replicas to fsync it. Check the nodes' disks (fsync latency in their metrics), "
            "the network between nodes, and whether a shard changed leader (INFO cluster)."
        )
    return "\n".join(lines) + "\n"
