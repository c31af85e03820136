"""Stream commands (Redis's t_stream.c), including the blocking reads."""

from __future__ import annotations

from proto.commands.builder import DENYOOM, FAST, LOADING, READONLY, STALE, WRITE, command
from proto.commands.spec import Blocking, KeysFunction

GROUP = "stream"
_ONE_KEY = (1, 1, 1)
_SECOND_KEY = (2, 2, 1)
# Options and how many arguments follow them (GROUP also in the spelling a blocked
# XREADGROUP is applied again with, node/engine/t_stream.py's BLOCKED_GROUP).
_READ_OPTIONS = {b"COUNT": 1, b"BLOCK": 1, b"GROUP": 2, b"GROUP\x00BLOCKED": 2}


def _streams_keys(start_from: int) -> KeysFunction:
    """XREAD/XREADGROUP's keys: the first half of the arguments after STREAMS, searched
    from `start_from` (Redis's keyword key spec, limit 2)."""

    def positions(args: list[bytes]) -> list[int]:
        for index in range(start_from, len(args)):
            if bytes(args[index]).upper() == b"STREAMS":
                count = (len(args) - index - 1) // 2
                return list(range(index + 1, index + 1 + count))
        return []

    return positions


def _block_position(args: list[bytes]) -> int | None:
    """Where BLOCK's value is among XREAD's options (before STREAMS), None without it."""
    index = 1
    while index < len(args):
        option = bytes(args[index]).upper()
        if option == b"STREAMS":
            return None
        if option == b"BLOCK" and index + 1 < len(args):
            return index + 1
        index += 1 + _READ_OPTIONS.get(option, 0)
    return None


_READ_BLOCKING = Blocking(timeout_arg=0, find_timeout=_block_position, milliseconds=True)
_NONDETERMINISTIC = "O(1) for each ID"

COMMANDS = [
    command(
        "xadd",
        -5,
        WRITE | DENYOOM | FAST,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        complexity="O(1) when adding a new entry, O(N) when trimming where N being the "
        "number of entries evicted.",
        summary="Appends a new message to a stream. Creates the key if it doesn't exist.",
    ),
    command(
        "xrange",
        -4,
        READONLY,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        complexity="O(N) with N being the number of elements being returned.",
        summary="Returns the messages from a stream within a range of IDs.",
    ),
    command(
        "xrevrange",
        -4,
        READONLY,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        complexity="O(N) with N being the number of elements returned.",
        summary="Returns the messages from a stream within a range of IDs in reverse order.",
    ),
    command(
        "xlen",
        2,
        READONLY | FAST,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        summary="Return the number of messages in a stream.",
    ),
    command(
        "xdel",
        -3,
        WRITE | FAST,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        complexity="O(1) for each single item to delete in the stream.",
        summary="Returns the number of messages after removing them from a stream.",
    ),
    command(
        "xtrim",
        -4,
        WRITE,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        complexity="O(N), with N being the number of evicted entries.",
        summary="Deletes messages from the beginning of a stream.",
    ),
    command(
        "xread",
        -4,
        READONLY,
        keys_function=_streams_keys(1),
        group=GROUP,
        since="5.0.0",
        complexity="For each stream mentioned: O(N) with N being the number of elements "
        "being returned.",
        summary="Returns messages from multiple streams with IDs greater than the ones "
        "requested. Blocks until a message is available otherwise.",
        blocking=_READ_BLOCKING,
    ),
    command(
        "xreadgroup",
        -7,
        WRITE,
        keys_function=_streams_keys(4),
        group=GROUP,
        since="5.0.0",
        complexity="For each stream mentioned: O(M) with M being the number of elements returned.",
        summary="Returns new or historical messages from a stream for a consumer in a "
        "group. Blocks until a message is available otherwise.",
        blocking=_READ_BLOCKING,
    ),
    command(
        "xack",
        -4,
        WRITE | FAST,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        complexity="O(1) for each message ID processed.",
        summary="Returns the number of messages that were successfully acknowledged by "
        "the consumer group member of a stream.",
    ),
    command(
        "xclaim",
        -6,
        WRITE | FAST,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        complexity="O(log N) with N being the number of messages in the PEL of the consumer group.",
        summary="Changes, or acquires, ownership of a message in a consumer group, as if "
        "the message was delivered a consumer group member.",
    ),
    command(
        "xautoclaim",
        -6,
        WRITE | FAST,
        _ONE_KEY,
        group=GROUP,
        since="6.2.0",
        complexity="O(1) if COUNT is small.",
        summary="Changes, or acquires, ownership of messages in a consumer group, as if "
        "the messages were delivered to as consumer group member.",
    ),
    command(
        "xpending",
        -3,
        READONLY,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        complexity="O(N) with N being the number of elements returned, so asking for a "
        "small fixed number of entries per call is O(1). O(M), where M is the total number "
        "of entries scanned when used with the IDLE filter. When the command returns just "
        "the summary and the list of consumers is small, it runs in O(1) time; otherwise, "
        "an additional O(N) time for iterating every consumer.",
        summary="Returns the information and entries from a stream consumer group's "
        "pending entries list.",
    ),
    command(
        "xsetid",
        -3,
        WRITE | DENYOOM | FAST,
        _ONE_KEY,
        group=GROUP,
        since="5.0.0",
        summary="An internal command for replicating stream values.",
    ),
    command(
        "xgroup",
        -2,
        READONLY,
        group=GROUP,
        acl_categories=("@slow",),
        since="5.0.0",
        complexity="Depends on subcommand.",
        summary="A container for consumer groups commands.",
        subcommands=[
            command(
                "xgroup|create",
                -5,
                WRITE | DENYOOM,
                _SECOND_KEY,
                group=GROUP,
                since="5.0.0",
                summary="Creates a consumer group.",
            ),
            command(
                "xgroup|setid",
                -5,
                WRITE,
                _SECOND_KEY,
                group=GROUP,
                since="5.0.0",
                summary="Sets the last-delivered ID of a consumer group.",
            ),
            command(
                "xgroup|destroy",
                4,
                WRITE,
                _SECOND_KEY,
                group=GROUP,
                since="5.0.0",
                complexity="O(N) where N is the number of entries in the group's pending "
                "entries list (PEL).",
                summary="Destroys a consumer group.",
            ),
            command(
                "xgroup|createconsumer",
                5,
                WRITE | DENYOOM,
                _SECOND_KEY,
                group=GROUP,
                since="6.2.0",
                summary="Creates a consumer in a consumer group.",
            ),
            command(
                "xgroup|delconsumer",
                5,
                WRITE,
                _SECOND_KEY,
                group=GROUP,
                since="5.0.0",
                summary="Deletes a consumer from a consumer group.",
            ),
            command(
                "xgroup|help",
                2,
                LOADING | STALE,
                group=GROUP,
                acl_categories=("@stream", "@slow"),
                since="5.0.0",
                summary="Returns helpful text about the different subcommands.",
            ),
        ],
    ),
    command(
        "xinfo",
        -2,
        READONLY,
        group=GROUP,
        acl_categories=("@slow",),
        since="5.0.0",
        complexity="Depends on subcommand.",
        summary="A container for stream introspection commands.",
        subcommands=[
            command(
                "xinfo|stream",
                -3,
                READONLY,
                _SECOND_KEY,
                group=GROUP,
                since="5.0.0",
                summary="Returns information about a stream.",
            ),
            command(
                "xinfo|groups",
                3,
                READONLY,
                _SECOND_KEY,
                group=GROUP,
                since="5.0.0",
                summary="Returns a list of the consumer groups of a stream.",
            ),
            command(
                "xinfo|consumers",
                4,
                READONLY,
                _SECOND_KEY,
                group=GROUP,
                since="5.0.0",
                summary="Returns a list of the consumers in a consumer group.",
            ),
            command(
                "xinfo|help",
                2,
                LOADING | STALE,
                group=GROUP,
                acl_categories=("@stream", "@slow"),
                since="5.0.0",
                summary="Returns helpful text about the different subcommands.",
            ),
        ],
    ),
]
