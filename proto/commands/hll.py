"""HyperLogLog commands (Redis's hyperloglog.c).

PFCOUNT is a write here, where Redis flags it readonly: PFCOUNT of one key stores the
cardinality it computed in the value's header (GET after it shows the cache, as Redis's),
so it goes through the log and every replica stores the same bytes."""

from __future__ import annotations

from proto.commands.builder import ADMIN, DENYOOM, FAST, WRITE, command

GROUP = "hyperloglog"


def _categories(*names: str) -> tuple[str, ...]:
    return names


COMMANDS = [
    command(
        "pfadd",
        -2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        group=GROUP,
        since="2.8.9",
        complexity="O(1) to add every element.",
        summary="Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.",
        acl_categories=_categories("@write", "@hyperloglog", "@fast"),
    ),
    command(
        "pfcount",
        -2,
        WRITE,
        (1, -1, 1),
        group=GROUP,
        since="2.8.9",
        complexity="O(1) with a very small average constant time when called with a single "
        "key. O(N) with N being the number of keys, and much bigger constant times, when "
        "called with multiple keys.",
        summary="Returns the approximated cardinality of the set(s) observed by the "
        "HyperLogLog key(s).",
        acl_categories=_categories("@read", "@hyperloglog", "@slow"),
    ),
    command(
        "pfmerge",
        -2,
        WRITE | DENYOOM,
        (1, -1, 1),
        group=GROUP,
        since="2.8.9",
        complexity="O(N) to merge N HyperLogLogs, but with high constant times.",
        summary="Merges one or more HyperLogLog values into a single key.",
        acl_categories=_categories("@write", "@hyperloglog", "@slow"),
    ),
    command(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        (2, 2, 1),
        group=GROUP,
        since="2.8.9",
        complexity="N/A",
        summary="Internal commands for debugging HyperLogLog values.",
        acl_categories=_categories("@write", "@hyperloglog", "@admin", "@slow", "@dangerous"),
    ),
    command(
        "pfselftest",
        1,
        ADMIN,
        group=GROUP,
        since="2.8.9",
        complexity="N/A",
        summary="An internal command for testing HyperLogLog values.",
        acl_categories=_categories("@hyperloglog", "@admin", "@slow", "@dangerous"),
    ),
]
