"""The pub/sub checker on synthetic histories: a complete one passes with its delivered /
owed figures; losses after healing, undercounted PUBLISH replies, duplicates and
phantoms are caught; losses while faults run are only counted."""

from __future__ import annotations

from chaos.checkers import pubsub
from chaos.checkers.result import INVALID, UNKNOWN, VALID
from tests.chaos.histories import op

W = pubsub.WORKLOAD


def subscribe(sub, start, end, f="subscribe", type="ok"):
    return op(W, f, "", sub, start, end, "127.0.0.1:7000", type)


def publish(message, start, end, receivers=1, f="publish", key="ch"):
    return op(W, f, key, message, start, end, receivers)


def receive(sub, kind, message, at, f="receive", key="ch"):
    return op(W, f, key, [sub, kind], at, at, message)


def final_round(listeners=("L1", "L2"), messages=("f1", "f2"), missing=(), counts=None):
    ops = [subscribe(name, 50, 50.1, "final-subscribe") for name in listeners]
    for n, message in enumerate(messages):
        received = (counts or {}).get(message, len(listeners))
        ops.append(publish(message, 51 + n, 51.1 + n, received, "final-publish", "final"))
        for name in listeners:
            if (name, message) not in missing:
                ops.append(receive(name, "message", message, 52 + n, "final-receive", "final"))
    return ops


def base_history():
    return [
        subscribe("s1", 0, 1),
        publish("m1", 2, 2.1, 2),
        receive("s1", "message", "m1", 2.2),
        receive("s1", "pmessage", "m1", 2.2),
        publish("m2", 3, 3.1, 1, "spublish", "sh"),
        receive("s1", "smessage", "m2", 3.2, key="sh"),
        publish("m3", 4, 4.1, 0),  # during a fault: not delivered, only counted
        publish("m4", 20, 20.1, 2),  # after healing
        receive("s1", "message", "m4", 20.2),
        receive("s1", "pmessage", "m4", 20.2),
        op(W, "traffic", "", None, 30, 30, None),  # the clients went on until 30
        *final_round(),
    ]


def test_a_complete_history_passes_and_counts_what_faults_cost():
    result = pubsub.check(base_history(), healed_at=10.0)
    assert result.verdict == VALID, result.anomalies
    stats = result.stats
    assert (stats["faults_delivered"], stats["faults_owed"]) == (3, 5)
    assert (stats["after_healing_delivered"], stats["after_healing_owed"]) == (2, 2)
    assert (stats["final_delivered"], stats["final_owed"]) == (4, 4)
    assert "during faults 3/5" in stats["summary"]


def test_a_message_published_before_the_confirmation_or_after_a_break_is_not_owed():
    history = [
        subscribe("s1", 0, 5),
        publish("early", 1, 1.1),  # before the confirmation
        op(W, "broken", "", "s1", 8, 8, "ConnectionError"),
        publish("late", 9, 9.1),  # after the subscription broke
        op(W, "traffic", "", None, 30, 30, None),
        *final_round(),
    ]
    result = pubsub.check(history, healed_at=10.0)
    assert result.verdict == VALID
    assert result.stats["faults_owed"] == 0


def test_a_loss_after_healing_is_caught():
    result = pubsub.check([*base_history()[:-8], *final_round(missing={("L2", "f2")})], 10.0)
    assert result.verdict == INVALID
    assert [a.kind for a in result.anomalies] == ["lost-after-healing"]
    assert "f2" in result.anomalies[0].message


def test_an_undercounted_final_publish_is_caught():
    result = pubsub.check([*base_history()[:-8], *final_round(counts={"f1": 0})], 10.0)
    assert [a.kind for a in result.anomalies] == ["undercounted-publish"]


def test_duplicates_and_phantoms_are_caught():
    history = [
        *base_history(),
        receive("s1", "message", "m1", 2.3),
        receive("s1", "message", "never-sent", 2.4),
    ]
    result = pubsub.check(history, 10.0)
    assert sorted(a.kind for a in result.anomalies) == ["duplicate-delivery", "phantom-message"]


def test_without_a_final_round_the_verdict_is_unknown():
    result = pubsub.check(base_history()[:-8], 10.0)
    assert result.verdict == UNKNOWN
