"""The tests of Redis 7.0's units that slotraft leaves out by name (runtest --skiptest), each
with why. A name starting with "/" is a regular expression (runtest's own convention).

Tests left out by tag are not here: see DENIED_TAGS in slotraft/redis_test_units.py."""

from __future__ import annotations

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
    "unit/multi": (
        ("MULTI and script timeout", _SCRIPT_TIME),
        ("EXEC and script timeout", _SCRIPT_TIME),
        ("MULTI-EXEC body and script timeout", _SCRIPT_TIME),
        ("just EXEC and script timeout", _SCRIPT_TIME),
        ("MULTI with SHUTDOWN", _SHUTDOWN),
    ),
}
