"""Pub/sub (chaos/workloads/pubsub.py): what subscribers got of what was published.

Pub/sub is at most once, and while faults run a subscriber may miss messages (its
router cut off from every node, its connection broken): those are reported, not
anomalies. The anomalies:
- lost-after-healing: in the final round (after every fault healed and the cluster
  serves again), a message a router acknowledged that a subscriber confirmed before it
  did not get;
- undercounted-publish: a final PUBLISH that answered fewer receivers than the final
  subscribers (or 0);
- duplicate-delivery: a subscription got the same message of the same kind twice;
- phantom-message: a subscription got a message nobody published.

A subscription is owed a message published (acknowledged) after its confirmation and
before it broke, less `IN_FLIGHT_S` at the end (what was on its way when it stopped); the
stats give delivered / owed during the faults and after healing (`healed_at`, the end of
the runner's recovery wait), and the routers' own count of messages possibly lost.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from chaos.checkers.result import Anomaly, CheckResult
from chaos.history import Operation

WORKLOAD = "pubsub"
IN_FLIGHT_S = 1.0
_KINDS_OF = {"publish": ("message", "pmessage"), "spublish": ("smessage",)}


@dataclass(slots=True)
class _Subscription:
    op: Operation
    until: float = math.inf  # when its connection was seen broken
    received: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, message)


def check(operations: list[Operation], healed_at: float | None = None) -> CheckResult:
    result = CheckResult(WORKLOAD)
    ops = [op for op in operations if op.workload == WORKLOAD]
    published = {op.value for op in ops if op.f in ("publish", "spublish", "final-publish")}
    subscriptions = {
        op.value: _Subscription(op) for op in ops if op.f in ("subscribe", "final-subscribe")
    }
    for op in ops:
        if op.f == "broken" and op.value in subscriptions:
            subscriptions[op.value].until = min(subscriptions[op.value].until, op.start)
    traffic_end = max((op.end for op in ops if not op.f.startswith(("final", "router"))), default=0)
    for op in ops:
        if op.f not in ("receive", "final-receive"):
            continue
        subscription_id, kind = op.value
        subscription = subscriptions.get(subscription_id)
        if subscription is None:
            continue
        key = (kind, op.result)
        subscription.received[key] += 1
        if subscription.received[key] == 2:
            result.anomalies.append(
                Anomaly("duplicate-delivery", op.key, f"{subscription_id} got {key} twice", [op])
            )
        if op.result not in published:
            result.anomalies.append(
                Anomaly("phantom-message", op.key, f"{op.result!r} was never published", [op])
            )
    _traffic_stats(ops, subscriptions, traffic_end, healed_at, result)
    _final_round(ops, subscriptions, result)
    counters = [op.result for op in ops if op.f == "router-pubsub" and op.ok]
    names = ("stream_breaks", "stream_gaps", "possibly_lost", "duplicates_dropped", "outages")
    routers = {
        name: sum(values[i] for values in counters if i < len(values))
        for i, name in enumerate(names)
    }
    result.stats["routers"] = routers
    stats = result.stats
    result.stats["summary"] = (
        f"delivered/owed: during faults {stats['faults_delivered']}/{stats['faults_owed']}, "
        f"after healing {stats['after_healing_delivered']}/{stats['after_healing_owed']}, "
        f"final round {stats.get('final_delivered', 0)}/{stats.get('final_owed', 0)}; "
        f"routers: {routers['stream_breaks']} node streams broke, "
        f"{routers['possibly_lost']} messages possibly lost, "
        f"{routers['outages']} outages of every node with losses uncounted"
    )
    return result


def _traffic_stats(
    ops: list[Operation],
    subscriptions: dict[str, _Subscription],
    traffic_end: float,
    healed_at: float | None,
    result: CheckResult,
) -> None:
    """Delivered / owed while the faults ran and after they healed."""
    owed = Counter[str]()
    delivered = Counter[str]()
    for publish in ops:
        if publish.f not in _KINDS_OF or not publish.ok:
            continue
        healed = healed_at is not None and publish.start >= healed_at
        phase = "after_healing" if healed else "faults"
        for subscription in subscriptions.values():
            if subscription.op.f != "subscribe" or not subscription.op.ok:
                continue
            until = min(subscription.until, traffic_end) - IN_FLIGHT_S
            if not subscription.op.end < publish.start or not publish.end < until:
                continue
            for kind in _KINDS_OF[publish.f]:
                owed[phase] += 1
                if subscription.received[(kind, publish.value)]:
                    delivered[phase] += 1
    result.stats["published"] = sum(1 for op in ops if op.f in _KINDS_OF and op.ok)
    result.stats["subscriptions"] = sum(
        1 for s in subscriptions.values() if s.op.f == "subscribe" and s.op.ok
    )
    for phase in ("faults", "after_healing"):
        result.stats[f"{phase}_delivered"] = delivered[phase]
        result.stats[f"{phase}_owed"] = owed[phase]


def _final_round(
    ops: list[Operation], subscriptions: dict[str, _Subscription], result: CheckResult
) -> None:
    listeners = [s for s in subscriptions.values() if s.op.f == "final-subscribe" and s.op.ok]
    publishes = [op for op in ops if op.f == "final-publish" and op.ok]
    if not listeners or not publishes:
        result.undecided.append("the final round did not run (no subscriber or no publish)")
        return
    owed = delivered = 0
    for publish in publishes:
        if publish.result < len(listeners):
            result.anomalies.append(
                Anomaly(
                    "undercounted-publish",
                    publish.key,
                    f"PUBLISH answered {publish.result} with {len(listeners)} subscribers",
                    [publish],
                )
            )
        for listener in listeners:
            owed += 1
            if listener.received[("message", publish.value)]:
                delivered += 1
            else:
                result.anomalies.append(
                    Anomaly(
                        "lost-after-healing",
                        publish.key,
                        f"{listener.op.value} (at {listener.op.result}) never got "
                        f"{publish.value!r}",
                        [listener.op, publish],
                    )
                )
    result.stats["final_delivered"] = delivered
    result.stats["final_owed"] = owed
