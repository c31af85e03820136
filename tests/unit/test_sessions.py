"""Exactly-once session table."""

from __future__ import annotations

import pytest

from node.sessions import SESSION_EXPIRY_MS, SWEEP_INTERVAL_MS, SessionTable, StaleRequest


def test_duplicate_is_answered_from_the_table():
    table = SessionTable()
    assert table.lookup(7, 1) is None
    table.record(7, 1, acked=1, replies=[b":1\r\n"], now_ms=10)
    assert table.lookup(7, 1) == [b":1\r\n"]
    assert table.lookup(7, 2) is None


def test_acknowledged_replies_are_dropped_and_stale_retries_refused():
    table = SessionTable()
    table.record(7, 1, acked=1, replies=[b"a"], now_ms=10)
    table.record(7, 2, acked=1, replies=[b"b"], now_ms=11)
    table.record(7, 3, acked=3, replies=[b"c"], now_ms=12)
    assert table.sessions[7].replies == {3: [b"c"]}
    with pytest.raises(StaleRequest):
        table.lookup(7, 2)


def test_idle_sessions_expire_by_entry_time():
    table = SessionTable()
    table.record(1, 1, acked=1, replies=[b"x"], now_ms=0)
    table.record(2, 1, acked=1, replies=[b"y"], now_ms=SESSION_EXPIRY_MS)
    table.sweep(SESSION_EXPIRY_MS + SWEEP_INTERVAL_MS + 1)
    assert set(table.sessions) == {2}


def test_snapshot_round_trip():
    table = SessionTable()
    table.record(1, 5, acked=4, replies=[b"+OK\r\n", b""], now_ms=3)
    table.record(2**63, 9, acked=9, replies=[], now_ms=4)
    copy = SessionTable.from_bytes(table.to_bytes())
    assert copy.sessions == table.sessions
    assert copy.to_bytes() == table.to_bytes()
    with pytest.raises(ValueError):
        SessionTable.from_bytes(table.to_bytes() + b"x")


def test_replies_recorded_out_of_order_are_all_released_once_acknowledged():
    table = SessionTable()
    for sequence in (5, 2, 9, 3, 7):  # retries and merged requests land out of order
        table.record(7, sequence, acked=1, replies=[b"%d" % sequence], now_ms=1)
    table.record(7, 10, acked=6, replies=[b"10"], now_ms=2)
    assert sorted(table.sessions[7].replies) == [7, 9, 10]
    table.touch(7, acked=10, now_ms=3)
    assert sorted(table.sessions[7].replies) == [10]
    copy = SessionTable.from_bytes(table.to_bytes())
    copy.record(7, 11, acked=11, replies=[b"11"], now_ms=4)
    assert sorted(copy.sessions[7].replies) == [11]


def test_a_client_keeping_too_many_replies_loses_the_oldest(monkeypatch):
    from node import sessions

    monkeypatch.setattr(sessions, "MAX_REPLIES_PER_SESSION", 3)
    table = SessionTable()
    for sequence in (4, 1, 3, 2):
        table.record(7, sequence, acked=1, replies=[b"x"], now_ms=1)
    assert sorted(table.sessions[7].replies) == [2, 3, 4]
    assert table.sessions[7].floor == 2
    with pytest.raises(StaleRequest):
        table.lookup(7, 1)
