"""Streams: producers XADD entries unique to the run; consumers of one group read new
entries (XREADGROUP >, blocking briefly) and acknowledge them (XACK), and take over
entries left pending (XAUTOCLAIM). After recovery the final reads: a recovery that claims
and acknowledges whatever is still pending, then the whole stream (XRANGE), the group's
last delivered ID (XINFO GROUPS) and its pending count (XPENDING)."""

from __future__ import annotations

import random
import time
from functools import partial
from operator import methodcaller
from typing import Any

from chaos.client import Session
from chaos.history import OK
from chaos.workloads.base import Workload, read_until_ok

GROUP = "cg"
READ_BLOCK_MS = 200
READ_COUNT = 5
# A pending entry idle this long is taken over: its consumer probably crashed.
CLAIM_IDLE_MS = 3000


def entries(reply: Any) -> list[list[Any]]:
    """XREADGROUP's [[key, [(id, {v: element})...]]] (or nil) as [[id, element], ...]."""
    out: list[list[Any]] = []
    for _key, items in reply or []:
        out.extend([entry_id, fields["v"] if fields else None] for entry_id, fields in items)
    return out


def claimed(reply: Any) -> dict[str, Any]:
    """XAUTOCLAIM's [cursor, [(id, fields)...], [deleted ids]]."""
    cursor, items, deleted = reply
    return {
        "cursor": cursor,
        "entries": [[entry_id, fields["v"] if fields else None] for entry_id, fields in items],
        "deleted": list(deleted),
    }


class Streams(Workload):
    name = "streams"

    def all_keys(self) -> list[str]:
        return [self.key("stream", i) for i in range(self.settings.keys)]

    def _ensure_group(self, session: Session, key: str) -> None:
        if session.memory.get(key) == GROUP:
            return
        try:
            session.client.xgroup_create(key, GROUP, id="0", mkstream=True)
        except Exception as error:  # BUSYGROUP: made already; anything else: next time
            if "BUSYGROUP" not in str(error):
                return
        session.memory[key] = GROUP

    def step(self, session: Session, rng: random.Random) -> None:
        key = rng.choice(self.all_keys())
        self._ensure_group(session, key)
        consumer = f"c{session.process}"
        choice = rng.random()
        if choice < 0.5:
            element = session.unique()
            session.call("produce", key, element, lambda c: c.xadd(key, {"v": element}), True)
        elif choice < 0.9:
            outcome, got = session.call(
                "consume",
                key,
                consumer,
                lambda c: c.xreadgroup(
                    GROUP, consumer, {key: ">"}, count=READ_COUNT, block=READ_BLOCK_MS
                ),
                True,
                entries,
            )
            if outcome == OK and got:
                ids = [entry_id for entry_id, _element in got]
                session.call("ack", key, ids, lambda c: c.xack(key, GROUP, *ids), True, int)
        else:
            outcome, got = session.call(
                "claim",
                key,
                consumer,
                lambda c: c.xautoclaim(key, GROUP, consumer, CLAIM_IDLE_MS, "0-0", count=10),
                True,
                claimed,
            )
            if outcome == OK and got["entries"]:
                ids = [entry_id for entry_id, _element in got["entries"]]
                session.call("ack", key, ids, lambda c: c.xack(key, GROUP, *ids), True, int)

    def final(self, session: Session, deadline: float) -> None:
        for key in self.all_keys():
            self._recover(session, key, deadline)
            read_until_ok(
                session,
                "drain",
                key,
                methodcaller("xrange", key, "-", "+"),
                lambda items: [[entry_id, fields.get("v")] for entry_id, fields in items],
                deadline,
            )
            read_until_ok(
                session,
                "last-delivered",
                key,
                # The final reads run alone: a stream (or group) gone is read as none.
                partial(_groups, key=key),
                lambda groups: next(
                    (g["last-delivered-id"] for g in groups if g["name"] == GROUP), None
                ),
                deadline,
            )
            read_until_ok(
                session,
                "pending",
                key,
                partial(_pending_or_none, key=key),
                lambda summary: None if summary is None else summary["pending"],
                deadline,
            )

    def _recover(self, session: Session, key: str, deadline: float) -> None:
        """Claim (idle 0) and acknowledge every pending entry, page by page."""
        cursor = "0-0"
        while time.monotonic() < deadline:
            outcome, got = session.call(
                "recover",
                key,
                cursor,
                methodcaller("xautoclaim", key, GROUP, "recovery", 0, cursor, count=100),
                True,
                claimed,
            )
            if outcome != OK:
                if isinstance(got, str) and "NOGROUP" in got:
                    return  # the group (or its stream) is gone: the final reads tell
                time.sleep(0.5)
                continue
            ids = [entry_id for entry_id, _element in got["entries"]]
            if ids:
                ack, _ = session.call("ack", key, ids, methodcaller("xack", key, GROUP, *ids), True)
                if ack != OK:
                    continue  # claimed again from the same cursor
            cursor = got["cursor"]
            if cursor == "0-0":
                return


def _groups(client: Any, key: str) -> Any:
    """XINFO GROUPS, none when the stream is gone."""
    return client.xinfo_groups(key) if client.exists(key) else []


def _pending_or_none(client: Any, key: str) -> Any:
    """XPENDING's summary, None when the group is gone (the lost entries say it)."""
    if not any(group["name"] == GROUP for group in _groups(client, key)):
        return None
    return client.xpending(key, GROUP)
