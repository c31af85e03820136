"""Counter, set, queue and lock checkers on synthetic histories: correct ones pass, lost
writes, stale reads, double deliveries and overlapping lock holders are caught."""

from __future__ import annotations

from chaos.checkers import counters, locks, queues, sets, streams
from chaos.checkers.result import INVALID, UNKNOWN, VALID
from tests.chaos.histories import op

# ------------------------------------------------------------------------------ counters


def add(amount, start, end, result=None, type="ok", key="c"):
    return op(counters.WORKLOAD, "add", key, amount, start, end, result, type)


def counter_read(value, start, end, f="read", key="c"):
    return op(counters.WORKLOAD, f, key, None, start, end, value)


def test_counter_history_within_bounds_passes():
    history = [
        add(2, 0, 1, 2),
        add(3, 0.5, 2, 5),
        counter_read(5, 3, 4),
        add(4, 5, 6, type="info"),  # may or may not have been applied
        counter_read(5, 7, 8),
        counter_read(9, 9, 10, f="final"),
    ]
    result = counters.check(history)
    assert result.verdict == VALID, result.to_json()


def test_counter_final_below_acknowledged_is_a_lost_increment():
    history = [add(2, 0, 1, 2), add(3, 2, 3, 5), counter_read(2, 9, 10, f="final")]
    result = counters.check(history)
    assert result.verdict == INVALID
    assert [a.kind for a in result.anomalies] == ["lost-increments"]


def test_counter_final_above_attempted_is_caught():
    history = [add(2, 0, 1, 2), add(3, 2, 3, type="fail"), counter_read(5, 9, 10, f="final")]
    assert [a.kind for a in counters.check(history).anomalies] == ["phantom-increments"]


def test_counter_stale_read_is_caught():
    history = [
        add(2, 0, 1, 2),
        add(3, 2, 3, 5),
        counter_read(2, 4, 5),  # 5 was acknowledged before it began
        counter_read(5, 9, 10, f="final"),
    ]
    result = counters.check(history)
    assert [a.kind for a in result.anomalies] == ["stale-read"]
    assert result.anomalies[0].operations[0].start == 4


def test_counter_increment_applied_twice_is_caught():
    # Both replies say 3: one increment of 3 applied twice, or two diverging leaders.
    history = [add(3, 0, 1, 3), add(3, 0.5, 2, 3), counter_read(6, 9, 10, f="final")]
    kinds = [a.kind for a in counters.check(history).anomalies]
    assert "duplicate-value" in kinds


def test_counter_without_final_read_is_unknown():
    assert counters.check([add(1, 0, 1, 1)]).verdict == UNKNOWN


# ------------------------------------------------------------------------------ sets


def sadd(element, start, end, type="ok", key="s"):
    return op(sets.WORKLOAD, "add", key, element, start, end, 1 if type == "ok" else None, type)


def smembers(elements, start, end, f="read", key="s"):
    return op(sets.WORKLOAD, f, key, None, start, end, sorted(elements))


def test_set_history_passes():
    history = [
        sadd("e1", 0, 1),
        sadd("e2", 0.5, 3),
        smembers(["e1"], 2, 2.5),  # e2 not acknowledged yet: either way is fine
        sadd("e3", 4, 5, type="info"),
        sadd("e4", 4, 5, type="info"),
        smembers(["e1", "e2", "e3"], 9, 10, f="final"),
    ]
    result = sets.check(history)
    assert result.verdict == VALID, result.to_json()


def test_set_lost_acknowledged_element_is_caught():
    history = [sadd("e1", 0, 1), sadd("e2", 2, 3), smembers(["e1"], 9, 10, f="final")]
    result = sets.check(history)
    assert [a.kind for a in result.anomalies] == ["lost-write"]
    assert "e2" in result.anomalies[0].message


def test_set_element_never_sent_is_caught():
    history = [sadd("e1", 0, 1), sadd("e2", 2, 3, type="fail")]
    history.append(smembers(["e1", "e2", "zz"], 9, 10, f="final"))
    result = sets.check(history)
    assert [a.kind for a in result.anomalies] == ["unexpected-element"]
    assert "e2" in result.anomalies[0].message and "zz" in result.anomalies[0].message


def test_set_stale_read_is_caught():
    history = [
        sadd("e1", 0, 1),
        smembers([], 2, 3),
        smembers(["e1"], 9, 10, f="final"),
    ]
    assert [a.kind for a in sets.check(history).anomalies] == ["stale-read"]


# ------------------------------------------------------------------------------ queues


def enqueue(element, start, end, type="ok", key="q"):
    return op(queues.WORKLOAD, "enqueue", key, element, start, end, 1, type)


def dequeue(element, start, end, type="ok", key="q"):
    return op(queues.WORKLOAD, "dequeue", key, "LPOP", start, end, element, type)


def drain(elements, start, end, key="q"):
    return op(queues.WORKLOAD, "drain", key, None, start, end, list(elements))


def test_queue_history_passes():
    history = [
        enqueue("a", 0, 1),
        enqueue("b", 1, 2),
        enqueue("c", 1, 2, type="info"),
        dequeue("a", 2, 3),
        dequeue(None, 2.5, 2.6),
        dequeue("c", 4, 5),
        drain(["b"], 9, 10),
    ]
    result = queues.check(history)
    assert result.verdict == VALID, result.to_json()


def test_queue_double_delivery_is_caught():
    history = [
        enqueue("a", 0, 1),
        dequeue("a", 2, 3),
        dequeue("a", 4, 5),
        drain([], 9, 10),
    ]
    result = queues.check(history)
    assert [a.kind for a in result.anomalies] == ["duplicate-delivery"]
    assert len(result.anomalies[0].operations) == 3


def test_queue_element_delivered_and_left_is_a_double_delivery():
    history = [enqueue("a", 0, 1), dequeue("a", 2, 3), drain(["a"], 9, 10)]
    assert [a.kind for a in queues.check(history).anomalies] == ["duplicate-delivery"]


def test_queue_lost_element_is_caught():
    history = [enqueue("a", 0, 1), enqueue("b", 1, 2), dequeue("a", 2, 3), drain([], 9, 10)]
    result = queues.check(history)
    assert [a.kind for a in result.anomalies] == ["lost-write"]
    assert "b" in result.anomalies[0].message


def test_queue_missing_element_explained_by_an_unanswered_pop_passes():
    history = [
        enqueue("a", 0, 1),
        dequeue(None, 2, 3, type="info"),  # may have popped "a", its reply lost
        drain([], 9, 10),
    ]
    assert queues.check(history).verdict == VALID


def test_queue_more_missing_than_unanswered_pops_is_caught():
    history = [
        enqueue("a", 0, 1),
        enqueue("b", 0, 1),
        dequeue(None, 2, 3, type="info"),
        drain([], 9, 10),
    ]
    assert [a.kind for a in queues.check(history).anomalies] == ["lost-write"]


def test_queue_unexpected_and_early_deliveries_are_caught():
    history = [
        dequeue("ghost", 0, 1),
        dequeue("late", 2, 3),
        enqueue("late", 5, 6),
        drain([], 9, 10),
    ]
    kinds = sorted(a.kind for a in queues.check(history).anomalies)
    assert kinds == ["delivered-before-enqueued", "unexpected-element"]


# ------------------------------------------------------------------------------ locks


def acquire(token, start, end, granted=True, ttl_ms=1000, type="ok", key="lock"):
    return op(locks.WORKLOAD, "acquire", key, [token, ttl_ms], start, end, granted, type)


def release(token, start, end, deleted=1, type="ok", key="lock"):
    return op(locks.WORKLOAD, "release", key, token, start, end, deleted, type)


def fence(token, start, end, number, key="fence"):
    return op(locks.WORKLOAD, "fence", key, token, start, end, number)


def test_lock_history_with_expiry_and_release_passes():
    history = [
        acquire("t1", 0.0, 0.1),
        fence("t1", 0.1, 0.2, 1),
        release("t1", 0.3, 0.4),
        acquire("t2", 0.35, 0.45),  # after t1 invoked its release
        fence("t2", 0.5, 0.6, 2),
        acquire("t3", 0.5, 0.6, granted=False),
        # t2 never releases: t4 may take the lock once t2's TTL has run out.
        acquire("t4", 1.30, 1.40),
        fence("t4", 1.45, 1.5, 3),
        release("t4", 1.6, 1.7),
    ]
    result = locks.check(history)
    assert result.verdict == VALID, result.to_json()
    assert result.stats["holdings"] == 3


def test_overlapping_lock_holders_are_caught():
    history = [
        acquire("t1", 0.0, 0.1),
        acquire("t2", 0.5, 0.6),  # t1 still valid until 1.0 and not released
        release("t1", 0.8, 0.9, deleted=0),
    ]
    kinds = sorted(a.kind for a in locks.check(history).anomalies)
    assert kinds == ["lost-lock", "overlapping-holders"]


def test_lock_acquired_by_an_unanswered_set_is_not_a_holder():
    history = [
        acquire("t1", 0.0, 0.1, granted=None, type="info"),
        acquire("t2", 0.2, 0.3),
        release("t2", 0.4, 0.5),
    ]
    assert locks.check(history).verdict == VALID


def test_fencing_tokens_out_of_order_are_caught():
    history = [
        acquire("t1", 0.0, 0.1),
        fence("t1", 0.1, 0.2, 7),
        release("t1", 0.3, 0.4),
        acquire("t2", 0.5, 0.6),
        fence("t2", 0.6, 0.7, 5),
        release("t2", 0.8, 0.9),
    ]
    assert [a.kind for a in locks.check(history).anomalies] == ["fencing-order"]


def test_duplicate_fencing_tokens_are_caught():
    history = [
        acquire("t1", 0.0, 0.1),
        fence("t1", 0.1, 0.2, 4),
        release("t1", 0.3, 0.4),
        acquire("t2", 0.5, 0.6),
        fence("t2", 0.6, 0.7, 4),
        release("t2", 0.8, 0.9),
    ]
    kinds = sorted(a.kind for a in locks.check(history).anomalies)
    assert kinds == ["duplicate-fencing-token", "fencing-order"]


def test_lock_granted_after_its_ttl_ran_out_is_no_holding():
    # The reply came 3.8 s after the request (a retry got the first attempt's answer):
    # the key may have expired meanwhile, so another client may hold the lock now.
    history = [
        acquire("slow", 391.852, 395.653, ttl_ms=3000),
        acquire("t2", 395.235, 395.640, ttl_ms=3000),
        release("t2", 395.775, 395.828),
    ]
    result = locks.check(history)
    assert result.verdict == VALID, result.to_json()
    assert result.stats["holdings"] == 1


def test_lock_holder_overlapping_a_slow_but_valid_grant_is_caught():
    history = [
        acquire("slow", 391.0, 392.5, ttl_ms=3000),  # valid until 394.0
        acquire("t2", 392.6, 392.7, ttl_ms=3000),
    ]
    assert [a.kind for a in locks.check(history).anomalies] == ["overlapping-holders"]


# ------------------------------------------------------------------------------ streams


def produce(element, start, end, type="ok", key="s", entry_id="1-0"):
    return op(streams.WORKLOAD, "produce", key, element, start, end, entry_id, type)


def consume(got, start, end, type="ok", key="s"):
    return op(streams.WORKLOAD, "consume", key, "c1", start, end, [list(e) for e in got], type)


def recover(got, start, end, key="s"):
    claimed = {"cursor": "0-0", "entries": [list(e) for e in got], "deleted": []}
    return op(streams.WORKLOAD, "recover", key, "0-0", start, end, claimed)


def claim(got, start, end, key="s"):
    claimed = {"cursor": "0-0", "entries": [list(e) for e in got], "deleted": []}
    return op(streams.WORKLOAD, "claim", key, "c2", start, end, claimed)


def stream_finals(entries, last, pending, key="s"):
    return [
        op(streams.WORKLOAD, "drain", key, None, 9, 10, [list(e) for e in entries]),
        op(streams.WORKLOAD, "last-delivered", key, None, 10, 11, last),
        op(streams.WORKLOAD, "pending", key, None, 11, 12, pending),
    ]


def test_stream_history_passes():
    history = [
        produce("a", 0, 1, entry_id="1-0"),
        produce("b", 1, 2, entry_id="2-0"),
        produce("c", 1, 2, type="info"),
        consume([("1-0", "a")], 2, 3),
        consume([], 3, 4, type="info"),  # took 2-0, its reply lost: the recovery has it
        recover([("2-0", "b")], 8, 8.5),
        *stream_finals([("1-0", "a"), ("2-0", "b"), ("3-0", "c")], "2-0", 0),
    ]
    result = streams.check(history)
    assert result.verdict == VALID, result.to_json()


def test_an_entry_whose_read_was_lost_and_a_consumer_claimed_is_delivered():
    """The chaos run of 2026-12-07 called two such entries never delivered: a consumer's
    XAUTOCLAIM during the run took them over and acknowledged them."""
    history = [
        produce("a", 0, 1, entry_id="1-0"),
        consume([], 2, 3, type="info"),  # took 1-0, its reply lost
        claim([("1-0", "a")], 4, 5),  # another consumer takes it over (and acknowledges it)
        *stream_finals([("1-0", "a")], "1-0", 0),
    ]
    assert streams.check(history).verdict == VALID
    without_claim = [*history[:2], *history[3:]]
    assert [a.kind for a in streams.check(without_claim).anomalies] == ["never-delivered"]


def test_stream_anomalies_are_caught():
    history = [
        produce("a", 0, 1),
        produce("b", 1, 2),
        produce("lost", 1, 2),
        consume([("1-0", "a")], 2, 3),
        consume([("1-0", "a")], 3, 4),
        *stream_finals([("1-0", "a"), ("2-0", "b"), ("3-0", "b"), ("4-0", "x")], "3-0", 2),
    ]
    kinds = sorted(a.kind for a in streams.check(history).anomalies)
    assert kinds == [
        "duplicate-delivery",
        "duplicate-entry",
        "lost-write",
        "never-delivered",
        "pending-left",
    ]


def test_stream_without_final_reads_is_undecided():
    history = [produce("a", 0, 1), consume([("1-0", "a")], 2, 3)]
    assert streams.check(history).verdict == "unknown"
