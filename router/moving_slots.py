"""Commands a shard answered SLOT_MOVING (node/slot_entries.py): their slot is moving to
another shard. The router sends them again, after a short pause, to the shard its map
names then, until they get another answer or the wait budget runs out (then the client
gets the TRYAGAIN error itself). The client never sees MOVED or ASK: at most a stall.

Exactly once: a command answered SLOT_MOVING was not applied (the answer is recorded in
the source's session table under its sequence, so a retry of that sequence gets the same
answer), and it is sent again as a new request with a new sequence of the new shard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from proto.commands import lookup
from proto.errors import SLOT_MOVING
from proto.slots import key_slot
from router.retry import _blocking_timeout, _set_blocking_timeout

MOVE_WAIT_BUDGET_S = 30.0  # a slot range's copy may take this long (docs/DESIGN.md)
FIRST_PAUSE_S = 0.005
LONGEST_PAUSE_S = 0.1

MOVING_REPLY = b"-" + SLOT_MOVING + b"\r\n"  # as node/slot_entries.py encodes it

Execute = Callable[[int, list[list[bytes]]], Awaitable[list[bytes]]]


def command_slot(args: list[bytes]) -> int | None:
    spec = lookup(bytes(args[0])) if args else None
    if spec is None:
        return None
    keys = spec.keys(args)
    return key_slot(keys[0]) if keys else None


def rest_of_timeout(args: list[bytes], started: float) -> list[bytes]:
    """A blocking command blocks on the new shard only for what is left of its timeout
    (it was sent at `started`, time.monotonic()); any other command as it is."""
    spec = lookup(bytes(args[0])) if args else None
    if spec is None or spec.blocking is None:
        return args
    try:
        timeout = _blocking_timeout(args)
    except ValueError:
        return args
    if timeout is None:  # forever, or not a number (the shard answers its error)
        return args
    shortened = list(args)
    _set_blocking_timeout(shortened, max(0.001, timeout - (time.monotonic() - started)))
    return shortened


async def follow_moves(
    replies: list[bytes],
    commands: list[list[bytes]],
    shard_for_slot: Callable[[int], int],
    execute: Execute,
    started: float | None = None,
    home: int | None = None,
) -> list[bytes]:
    """`replies` with every SLOT_MOVING answer replaced by the answer of the shard that
    serves the slot now (commands for one shard sent together, in their order). A
    blocking command sent at `started` keeps only the rest of its timeout. A command
    without keys is answered so only while its database is being swapped (node/engine/
    databases.py): it goes again to `home`, the shard it was sent to (None: never)."""
    if started is None:
        started = time.monotonic()
    replies = list(replies)
    deadline = time.monotonic() + MOVE_WAIT_BUDGET_S
    pause = FIRST_PAUSE_S
    while True:
        # (index, slot) of each moving command; one without a key is never answered so.
        moving = [
            (i, slot)
            for i, reply in enumerate(replies)
            if reply == MOVING_REPLY
            and ((slot := command_slot(commands[i])) is not None or home is not None)
        ]
        if not moving or time.monotonic() >= deadline:
            return replies
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE_S)
        by_shard: dict[int, list[int]] = {}
        for index, slot in moving:
            shard = shard_for_slot(slot) if slot is not None else home
            by_shard.setdefault(shard, []).append(index)  # type: ignore[arg-type]
        answers = await asyncio.gather(
            *(
                execute(shard, [rest_of_timeout(commands[i], started) for i in indexes])
                for shard, indexes in by_shard.items()
            )
        )
        for indexes, shard_replies in zip(by_shard.values(), answers, strict=True):
            for index, reply in zip(indexes, shard_replies, strict=True):
                replies[index] = reply
