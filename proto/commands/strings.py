"""String commands (Redis's t_string.c), plus SET IFEQ / DELEX from Redis 8.4."""

from __future__ import annotations

from proto.commands.builder import F, M, R, W, command
from proto.commands.spec import Route

_S = "string"

COMMANDS = [
    command("get", 2, R | F, (1, 1, 1), group=_S, summary="Returns the string value of a key."),
    command(
        "set",
        -3,
        W | M,
        (1, 1, 1),
        group=_S,
        summary="Sets the string value of a key, ignoring its type; optionally only if it "
        "does not exist, exists, or holds a given value (IFEQ/IFNE).",
    ),
    command("setnx", 3, W | M | F, (1, 1, 1), group=_S, summary="Set a key only if absent."),
    command("setex", 4, W | M, (1, 1, 1), group=_S, summary="Set a key with a TTL in seconds."),
    command("psetex", 4, W | M, (1, 1, 1), group=_S, summary="Set a key with a TTL in ms."),
    command(
        "getset", 3, W | M | F, (1, 1, 1), group=_S, summary="Set a key, return the old value."
    ),
    command(
        "getdel", 2, W | F, (1, 1, 1), group=_S, summary="Get a key and delete it.", since="6.2.0"
    ),
    command(
        "getex", -2, W | F, (1, 1, 1), group=_S, summary="Get a key and set its TTL.", since="6.2.0"
    ),
    command(
        "mget",
        -2,
        R | F,
        (1, -1, 1),
        group=_S,
        summary="Get the values of keys.",
        complexity="O(N)",
        route=Route.SPLIT,
    ),
    command(
        "mset",
        -3,
        W | M,
        (1, -1, 2),
        group=_S,
        summary="Set several keys.",
        complexity="O(N)",
        route=Route.SPLIT,
    ),
    command(
        "msetnx",
        -3,
        W | M,
        (1, -1, 2),
        group=_S,
        summary="Set several keys only if none of them exists.",
        complexity="O(N)",
    ),
    command("incr", 2, W | M | F, (1, 1, 1), group=_S, summary="Increment an integer by one."),
    command("decr", 2, W | M | F, (1, 1, 1), group=_S, summary="Decrement an integer by one."),
    command("incrby", 3, W | M | F, (1, 1, 1), group=_S, summary="Increment an integer."),
    command("decrby", 3, W | M | F, (1, 1, 1), group=_S, summary="Decrement an integer."),
    command("incrbyfloat", 3, W | M | F, (1, 1, 1), group=_S, summary="Increment a float."),
    command("append", 3, W | M | F, (1, 1, 1), group=_S, summary="Append to a string."),
    command("strlen", 2, R | F, (1, 1, 1), group=_S, summary="Length of a string value."),
    command(
        "getrange",
        4,
        R,
        (1, 1, 1),
        group=_S,
        summary="A substring of a string value.",
        complexity="O(N)",
    ),
    command(
        "setrange",
        4,
        W | M,
        (1, 1, 1),
        group=_S,
        summary="Overwrite part of a string value at an offset.",
    ),
    command("setbit", 4, W | M, (1, 1, 1), group=_S, summary="Set or clear one bit."),
    command("getbit", 3, R | F, (1, 1, 1), group=_S, summary="The bit value at an offset."),
    command(
        "bitcount",
        -2,
        R,
        (1, 1, 1),
        group=_S,
        summary="Count set bits in a string.",
        complexity="O(N)",
    ),
    command(
        "delex",
        -2,
        W | F,
        (1, 1, 1),
        group=_S,
        since="8.4.0",
        summary="Delete a key, optionally only if its value equals (IFEQ) or differs from "
        "(IFNE) a given value.",
    ),
]
