"""The command table is the one place that knows a command: every spec a shard runs has
an implementation in the engine and no implementation lacks a spec; the spec's facts
(blocking timeout, merge, categories) are consistent; one resolver serves the engine, the
router and the backends."""

from __future__ import annotations

import random

import pytest

from node.engine.engine import Engine
from node.engine.registry import IMPLEMENTATIONS
from node.engine.scripting import SCRIPT_COMMANDS
from proto import resp
from proto.commands import (
    COMMANDS,
    SHARD_COMMANDS,
    SINGLE_KEY,
    TABLE,
    Blocking,
    CommandSpec,
    Flag,
    Reason,
    Route,
    Unresolved,
    resolve,
    timeout_index,
    timeout_reply,
)
from proto.commands.builder import WRITE, command


def every_spec() -> list[CommandSpec]:
    return [item for spec in TABLE.values() for item in (spec, *spec.subcommands.values())]


def test_the_engine_implements_exactly_the_commands_a_shard_runs():
    run_on_shards = {
        spec.name
        for spec in every_spec()
        if not spec.subcommands and spec.route is not Route.ROUTER
    }
    implemented = set(IMPLEMENTATIONS) | SCRIPT_COMMANDS
    assert run_on_shards - implemented == set(), "specs without an implementation"
    assert implemented - run_on_shards == set(), "implementations without a spec"


def test_the_shard_index_knows_the_shard_commands_and_containers_only():
    assert SHARD_COMMANDS.lookup(b"GET") is TABLE["get"]
    assert SHARD_COMMANDS.lookup(b"object") is TABLE["object"]
    for name in (b"ping", b"client", b"multi", b"subscribe", b"command"):
        assert SHARD_COMMANDS.lookup(name) is None
        assert COMMANDS.lookup(name) is not None
    unknown = SHARD_COMMANDS.resolve([b"PING"])
    assert type(unknown) is Unresolved and unknown.reason is Reason.UNKNOWN_COMMAND


@pytest.mark.parametrize(
    ("args", "reason", "text"),
    [
        ([b"nosuch", b"a"], Reason.UNKNOWN_COMMAND, b"ERR unknown command 'nosuch', "),
        ([b"OBJECT", b"nosuch"], Reason.UNKNOWN_SUBCOMMAND, b"ERR unknown subcommand 'nosuch'"),
        ([b"object"], Reason.WRONG_ARITY, b"ERR wrong number of arguments for 'object'"),
        ([b"GET"], Reason.WRONG_ARITY, b"ERR wrong number of arguments for 'get'"),
        ([b"object", b"encoding"], Reason.WRONG_ARITY, b"ERR wrong number of arguments for"),
        ([], Reason.UNKNOWN_COMMAND, b"ERR unknown command ''"),
    ],
)
def test_resolve_says_why_a_request_names_no_command(args, reason, text):
    for index in (COMMANDS, SHARD_COMMANDS):
        found = index.resolve(args)
        assert type(found) is Unresolved
        assert found.reason is reason and found.text.startswith(text)


def test_resolve_finds_subcommands_in_any_case_and_a_container_alone_by_its_arity():
    assert resolve([b"Object", b"ENCODING", b"k"]) is TABLE["object"].subcommands["encoding"]
    assert resolve([b"get", b"k"]) is TABLE["get"]
    assert resolve([b"COMMAND"]) is TABLE["command"]  # COMMAND alone is a command


def test_the_engine_answers_the_resolvers_errors():
    engine = Engine()
    rng = random.Random(0)
    for args in ([b"PING"], [b"OBJECT", b"nosuch"], [b"GET"]):
        expected = SHARD_COMMANDS.resolve(args)
        assert type(expected) is Unresolved
        assert engine.execute(args, 0, rng) == resp.Error(expected.text)
        assert engine.execute_readonly(args, 0, rng) == resp.Error(expected.text)


def test_every_blocking_command_has_a_timeout_and_only_those():
    for spec in every_spec():
        assert bool(spec.flags & Flag.BLOCKING) == (spec.blocking is not None), spec.name
        assert spec.is_blocking == (spec.blocking is not None), spec.name
    assert timeout_index([b"BLPOP", b"a", b"b", b"5"]) == 3
    assert timeout_index([b"blmpop", b"5", b"1", b"a", b"LEFT"]) == 1
    # Redis 7.0: a null array once blocked and timed out, for every blocking command; a
    # null bulk string for the moves where they may not block (MULTI).
    assert timeout_reply([b"BLMOVE", b"a", b"b", b"LEFT", b"LEFT", b"1"]) is resp.NULL_ARRAY
    blocking = {name: TABLE[name].blocking for name in ("blmove", "brpoplpush", "blpop")}
    assert all(facts is not None for facts in blocking.values())
    assert blocking["blmove"].reply_if_cannot_block is None  # type: ignore[union-attr]
    assert blocking["brpoplpush"].reply_if_cannot_block is None  # type: ignore[union-attr]
    assert blocking["blpop"].reply_if_cannot_block is resp.NULL_ARRAY  # type: ignore[union-attr]
    assert timeout_reply([b"BZPOPMIN", b"z", b"1"]) is resp.NULL_ARRAY
    with pytest.raises(ValueError):
        timeout_reply([b"GET", b"k"])


def test_the_timeout_argument_of_each_blocking_command_is_where_the_engine_parses_it():
    """A bad timeout where the spec says it is gets the engine's timeout error."""
    engine = Engine()
    samples = {
        "blpop": [b"BLPOP", b"a", b"0"],
        "brpop": [b"BRPOP", b"a", b"0"],
        "blmove": [b"BLMOVE", b"a", b"b", b"LEFT", b"RIGHT", b"0"],
        "brpoplpush": [b"BRPOPLPUSH", b"a", b"b", b"0"],
        "blmpop": [b"BLMPOP", b"0", b"1", b"a", b"LEFT"],
        "bzpopmin": [b"BZPOPMIN", b"a", b"0"],
        "bzpopmax": [b"BZPOPMAX", b"a", b"0"],
        "bzmpop": [b"BZMPOP", b"0", b"1", b"a", b"MIN"],
        "lease.get": [b"LEASE.GET", b"a", b"100", b"STALE", b"BLOCK", b"0"],
        # Milliseconds, an option's value: an integer.
        "xread": [b"XREAD", b"COUNT", b"1", b"BLOCK", b"0", b"STREAMS", b"a", b"0"],
        "xreadgroup": [
            *(b"XREADGROUP", b"GROUP", b"BLOCK", b"c", b"BLOCK", b"0", b"STREAMS", b"a", b">")
        ],
    }
    assert set(samples) == {spec.name for spec in every_spec() if spec.blocking}
    for name, args in samples.items():
        args = list(args)
        args[timeout_index(args)] = b"soon"
        reply = engine.execute(args, 0, random.Random(0))
        expected = b"ERR timeout is not a float or out of range"
        if args[0].startswith(b"X") or name == "lease.get":
            expected = b"ERR timeout is not an integer or out of range"
        assert reply == resp.Error(expected), args
    with pytest.raises(IndexError):  # no BLOCK: no timeout, never blocks
        timeout_index([b"XREAD", b"STREAMS", b"a", b"0"])


def test_a_spec_refuses_inconsistent_facts():
    with pytest.raises(ValueError, match="BLOCKING"):
        CommandSpec(name="x", arity=2, flags=Flag.BLOCKING, group="list", summary="")
    with pytest.raises(ValueError, match="merge"):
        command("y", -2, WRITE, (1, -1, 1), group="generic", summary="", route=Route.SPLIT)
    blocking = command("z", 3, WRITE, (1, 1, 1), group="list", summary="", blocking=Blocking(-1))
    assert blocking.flags & Flag.BLOCKING and "@blocking" in blocking.acl_categories


def test_single_key_commands_are_forwarded_as_they_are():
    assert SINGLE_KEY[b"GET"] is TABLE["get"] and SINGLE_KEY[b"hset"] is TABLE["hset"]
    for name in (b"BLPOP", b"MGET", b"RENAME", b"EVAL", b"PING", b"OBJECT"):
        assert name not in SINGLE_KEY
