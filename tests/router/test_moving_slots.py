"""router/moving_slots.py: commands answered SLOT_MOVING are sent again to the shard the
map names, grouped per shard in their order; the others keep their replies."""

from __future__ import annotations

import asyncio

import pytest

from proto.slots import key_slot
from router import moving_slots
from router.moving_slots import MOVING_REPLY, command_slot, follow_moves

OK = b"+OK\r\n"


def test_moving_commands_go_to_the_new_shard_in_order() -> None:
    table = {key_slot(b"a"): 1, key_slot(b"b"): 2}
    sent: list[tuple[int, list[list[bytes]]]] = []
    # A shard answers commands of one slot in one request alike (it changes what it
    # serves between entries only): both refused again (not active yet), then served.
    answers = iter([[MOVING_REPLY, MOVING_REPLY], [b":1\r\n", b":2\r\n"]])

    async def execute(shard: int, commands: list[list[bytes]]) -> list[bytes]:
        sent.append((shard, commands))
        return next(answers) if shard == 1 else [b":9\r\n"] * len(commands)

    commands = [[b"INCR", b"a"], [b"SET", b"c", b"1"], [b"INCR", b"a"], [b"INCR", b"b"]]
    replies = [MOVING_REPLY, OK, MOVING_REPLY, MOVING_REPLY]

    async def scenario() -> list[bytes]:
        return await follow_moves(replies, commands, table.__getitem__, execute)

    result = asyncio.run(scenario())
    assert sent[0] == (1, [[b"INCR", b"a"], [b"INCR", b"a"]])
    assert (2, [[b"INCR", b"b"]]) in sent
    assert sent[-1] == (1, [[b"INCR", b"a"], [b"INCR", b"a"]])
    assert result == [b":1\r\n", OK, b":2\r\n", b":9\r\n"]


def test_the_error_reaches_the_client_when_the_budget_runs_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(moving_slots, "MOVE_WAIT_BUDGET_S", 0.05)

    async def execute(shard: int, commands: list[list[bytes]]) -> list[bytes]:
        return [MOVING_REPLY] * len(commands)

    async def scenario() -> list[bytes]:
        return await follow_moves([MOVING_REPLY], [[b"GET", b"a"]], lambda slot: 0, execute)

    assert asyncio.run(scenario()) == [MOVING_REPLY]
    assert MOVING_REPLY.startswith(b"-TRYAGAIN ")


def test_command_slot() -> None:
    assert command_slot([b"GET", b"{x}1"]) == key_slot(b"x")
    assert command_slot([b"PING"]) is None
    assert command_slot([b"NOSUCHCOMMAND", b"k"]) is None


def test_a_blocking_command_keeps_the_rest_of_its_timeout() -> None:
    import time

    from router.moving_slots import rest_of_timeout

    started = time.monotonic() - 4
    shortened = rest_of_timeout([b"BLPOP", b"q", b"10"], started)
    assert 5.9 <= float(shortened[2]) <= 6.0
    assert rest_of_timeout([b"BLPOP", b"q", b"0"], started) == [b"BLPOP", b"q", b"0"]  # forever
    assert float(rest_of_timeout([b"BLPOP", b"q", b"1"], started)[2]) == 0.001  # past: at once
    assert rest_of_timeout([b"GET", b"q"], started) == [b"GET", b"q"]
    assert rest_of_timeout([b"XREAD", b"STREAMS", b"s", b"0"], started)[1] == b"STREAMS"
