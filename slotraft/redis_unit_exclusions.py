"""The tests of Redis 7.0's units that slotraft leaves out by name (runtest --skiptest), each
with why. A name starting with "/" is a regular expression (runtest's own convention).

Tests left out by tag are not here: see DENIED_TAGS in slotraft/redis_test_units.py."""

from __future__ import annotations

_DUMP = "DUMP/RESTORE (RDB payloads) are not implemented in slotraft yet"
_OBJECT_REFCOUNT = "OBJECT REFCOUNT is not implemented (refcounts are an allocator detail)"
_STREAMS = "streams are not implemented in slotraft yet"
_NOTIFICATIONS = "keyspace notifications are not implemented in slotraft yet"
_CLIENT_UNBLOCK = "CLIENT UNBLOCK is not implemented in slotraft yet"
_SORT = "SORT is not implemented in slotraft yet"
_SHUTDOWN = (
    "SHUTDOWN is not a slotraft command: nodes and routers are stopped by their supervisor "
    "(slotraft up, compose), so SHUTDOWN inside MULTI is unknown rather than not allowed"
)
_SCRIPT_TIME = (
    "lua-time-limit (busy-reply-threshold) cannot be set: a script is bounded by "
    "script-max-instructions, a budget every replica counts alike, not by time, so no "
    "script is ever BUSY"
)

EXCLUDED: dict[str, tuple[tuple[str, str], ...]] = {
    "unit/type/hash": (
        ("Hash ziplist of various encodings", _DUMP),
        ("Hash ziplist of various encodings - sanitize dump", _DUMP),
    ),
    "unit/type/list": (
        ("/when result key is created by SORT\\.\\.STORE$", _SORT),
        ("client unblock tests", _CLIENT_UNBLOCK),
        ("List ziplist of various encodings", _DUMP),
        ("List ziplist of various encodings - sanitize dump", _DUMP),
    ),
    "unit/keyspace": (
        *(
            (f"COPY basic usage for {kind}", _OBJECT_REFCOUNT)
            for kind in (
                "list",
                "intset set",
                "hashtable set",
                "listpack sorted set",
                "skiplist sorted set",
                "listpack hash",
                "hashtable hash",
            )
        ),
        ("COPY basic usage for stream", _STREAMS),
        ("COPY basic usage for stream-cgroups", _STREAMS),
    ),
    "unit/multi": (
        ("MULTI and script timeout", _SCRIPT_TIME),
        ("EXEC and script timeout", _SCRIPT_TIME),
        ("MULTI-EXEC body and script timeout", _SCRIPT_TIME),
        ("just EXEC and script timeout", _SCRIPT_TIME),
        ("MULTI with SHUTDOWN", _SHUTDOWN),
        ("Blocking commands ignores the timeout", _STREAMS + " (XGROUP, XREAD)"),
    ),
    "unit/pubsub": (("/^Keyspace notifications:", _NOTIFICATIONS),),
}
