"""Bitmap commands beyond SETBIT/GETBIT/BITCOUNT (Redis's bitops.c): BITOP, BITPOS,
BITFIELD, BITFIELD_RO."""

from __future__ import annotations

from proto.commands.builder import DENYOOM, FAST, READONLY, WRITE, command

GROUP = "bitmap"

COMMANDS = [
    command(
        "bitop",
        -4,
        WRITE | DENYOOM,
        (2, -1, 1),
        group=GROUP,
        since="2.6.0",
        complexity="O(N)",
        summary="Performs bitwise operations on multiple strings, and stores the result.",
    ),
    command(
        "bitpos",
        -3,
        READONLY,
        (1, 1, 1),
        group=GROUP,
        since="2.8.7",
        complexity="O(N)",
        summary="Finds the first set (1) or clear (0) bit in a string.",
    ),
    command(
        "bitfield",
        -2,
        WRITE | DENYOOM,
        (1, 1, 1),
        group=GROUP,
        since="3.2.0",
        complexity="O(1) for each subcommand specified",
        summary="Performs arbitrary bitfield integer operations on strings.",
    ),
    command(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        (1, 1, 1),
        group=GROUP,
        since="6.0.0",
        complexity="O(1) for each subcommand specified",
        summary="Performs arbitrary read-only bitfield integer operations on strings.",
    ),
]
