"""String commands (Redis's t_string.c), plus SET IFEQ / DELEX from Redis 8.4."""

from __future__ import annotations

from proto.commands.builder import DENYOOM, FAST, READONLY, WRITE, command
from proto.commands.spec import Merge, Route

GROUP = "string"
BITMAP = "bitmap"  # SETBIT, GETBIT, BITCOUNT: Redis's group for them

COMMANDS = [
    command(
        "get",
        2,
        READONLY | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Returns the string value of a key.",
    ),
    command(
        "set",
        -3,
        WRITE | DENYOOM,
        (1, 1, 1),
        group=GROUP,
        summary="Sets the string value of a key, ignoring its type; optionally only if it "
        "does not exist, exists, or holds a given value (IFEQ/IFNE).",
    ),
    command(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Set a key only if absent.",
    ),
    command(
        "setex",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        group=GROUP,
        summary="Set a key with a TTL in seconds.",
    ),
    command(
        "psetex", 4, WRITE | DENYOOM, (1, 1, 1), group=GROUP, summary="Set a key with a TTL in ms."
    ),
    command(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Set a key, return the old value.",
    ),
    command(
        "getdel",
        2,
        WRITE | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Get a key and delete it.",
        since="6.2.0",
    ),
    command(
        "getex",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Get a key and set its TTL.",
        since="6.2.0",
    ),
    command(
        "mget",
        -2,
        READONLY | FAST,
        (1, -1, 1),
        group=GROUP,
        summary="Get the values of keys.",
        complexity="O(N)",
        route=Route.SPLIT,
        merge=Merge.IN_KEY_ORDER,
    ),
    command(
        "mset",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        group=GROUP,
        summary="Set several keys.",
        complexity="O(N)",
        route=Route.SPLIT,
        merge=Merge.ALL_OK,
    ),
    command(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        group=GROUP,
        summary="Set several keys only if none of them exists.",
        complexity="O(N)",
    ),
    command(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Increment an integer by one.",
    ),
    command(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Decrement an integer by one.",
    ),
    command(
        "incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), group=GROUP, summary="Increment an integer."
    ),
    command(
        "decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), group=GROUP, summary="Decrement an integer."
    ),
    command(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        group=GROUP,
        summary="Increment a float.",
    ),
    command(
        "append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), group=GROUP, summary="Append to a string."
    ),
    command(
        "strlen", 2, READONLY | FAST, (1, 1, 1), group=GROUP, summary="Length of a string value."
    ),
    command(
        "getrange",
        4,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        summary="A substring of a string value.",
        complexity="O(N)",
    ),
    command(
        "substr",
        4,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        complexity="O(N)",
        summary="A substring of a string value (GETRANGE's older name).",
    ),
    command(
        "setrange",
        4,
        WRITE | DENYOOM,
        (1, 1, 1),
        group=GROUP,
        summary="Overwrite part of a string value at an offset.",
    ),
    command("setbit", 4, WRITE | DENYOOM, (1, 1, 1), group=BITMAP, summary="Set or clear one bit."),
    command(
        "getbit",
        3,
        READONLY | FAST,
        (1, 1, 1),
        group=BITMAP,
        summary="The bit value at an offset.",
    ),
    command(
        "bitcount",
        -2,
        READONLY,
        (1, 1, 1),
        group=BITMAP,
        summary="Count set bits in a string.",
        complexity="O(N)",
    ),
    command(
        "lcs",
        -3,
        READONLY,
        (1, 2, 1),
        group=GROUP,
        since="7.0.0",
        complexity="O(N*M) where N and M are the lengths of s1 and s2, respectively",
        summary="Finds the longest common subsequence of two strings (LEN: its length; IDX: "
        "where its runs are in each).",
    ),
    command(
        "delex",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        group=GROUP,
        since="8.4.0",
        summary="Delete a key, optionally only if its value equals (IFEQ) or differs from "
        "(IFNE) a given value.",
    ),
]
