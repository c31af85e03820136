"""ACL users as data (proto/acl.py, proto/acl_table.py) and their replication in the
metadata group (node/metadata.py): rules, descriptions, checks, limits, and an apply that
is total, deterministic and carried by snapshots."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.metadata import ClusterMap, MetadataState
from proto.acl import (
    MAX_RULES_PER_USER,
    AclError,
    User,
    default_user,
    new_user,
    password_hash,
    set_user,
)
from proto.acl_check import Reason, check
from proto.acl_table import AclTable, acl_file_text, change, parse_acl_file
from proto.commands import resolve


def _user(*rules: str, name: bytes = b"u") -> User:
    return set_user(new_user(name), [rule.encode() for rule in rules])


def _denied(user: User, *args: str):
    spec = resolve([a.encode() for a in args])
    return check(user, spec, [a.encode() for a in args])  # type: ignore[arg-type]


def test_command_rules_keep_their_order_and_drop_earlier_ones_of_the_same_name():
    user = _user("+@all", "-flushall", "-config|set", "+get", "-get")
    assert user.root.commands_text() == b"+@all -flushall -config|set -get"
    user = _user("+config|get", "+config")
    assert user.root.commands_text() == b"-@all +config"
    user = _user("+@read", "-@all", "+set")
    assert user.root.commands_text() == b"-@all +set"


def test_the_last_rule_that_covers_a_command_decides():
    user = _user("on", "nopass", "~*", "+@read", "-get")
    assert _denied(user, "GET", "k").reason is Reason.COMMAND
    assert _denied(user, "STRLEN", "k") is None
    user = _user("on", "nopass", "~*", "-@all", "+config|get")
    assert _denied(user, "CONFIG", "GET", "x") is None
    assert _denied(user, "CONFIG", "SET", "x", "y").object == b"config|set"
    user = _user("on", "nopass", "~*", "+select|0")
    assert _denied(user, "SELECT", "0") is None
    assert _denied(user, "SELECT", "1") is not None


def test_keys_need_read_or_write_as_the_command_uses_them():
    user = _user("on", "nopass", "+@all", "%R~r*", "%W~w*")
    assert _denied(user, "GET", "r1") is None
    assert _denied(user, "SET", "r1", "v").reason is Reason.KEY
    assert _denied(user, "SET", "w1", "v") is None
    assert _denied(user, "GET", "w1").reason is Reason.KEY
    assert _denied(user, "INCR", "w1").reason is Reason.KEY  # reads and writes
    assert _denied(user, "SET", "w1", "v", "GET").reason is Reason.KEY
    assert _denied(user, "EXISTS", "w1") is None  # shows no value
    assert _denied(user, "LMOVE", "r1", "w1", "LEFT", "LEFT").object == b"r1"
    assert _denied(user, "SUNIONSTORE", "w1", "r1", "r2") is None
    assert _denied(user, "EVAL", "return 1", "1", "w1").reason is Reason.KEY
    assert _denied(user, "EVAL_RO", "return 1", "1", "r1") is None


def test_channels_and_patterns():
    user = _user("on", "nopass", "+@all", "&news.*")
    assert _denied(user, "PUBLISH", "news.a", "m") is None
    assert _denied(user, "SUBSCRIBE", "news.a", "other").object == b"other"
    assert _denied(user, "PSUBSCRIBE", "news.*") is None
    assert _denied(user, "PSUBSCRIBE", "news.a*").reason is Reason.CHANNEL  # not literally one
    assert _denied(user, "SPUBLISH", "x", "m").reason is Reason.CHANNEL


def test_a_selector_that_allows_everything_wins():
    user = _user("on", "nopass", "+get", "~a*", "(+set ~b*)")
    assert _denied(user, "GET", "a1") is None
    assert _denied(user, "SET", "b1", "v") is None
    # Neither: the furthest reason (the key of the selector that allowed the command).
    assert _denied(user, "SET", "a1", "v").reason is Reason.KEY


def test_passwords_are_sha256_and_checked_whole():
    user = _user("on", ">secret", "#" + "a" * 64)
    assert user.passwords == [password_hash(b"secret"), "a" * 64]
    assert user.check_password(b"secret")
    assert not user.check_password(b"secre")
    assert not user.check_password(b"secret\x00")
    assert not _user("off", ">secret").check_password(b"secret")
    assert _user("on", "nopass").check_password(b"anything")
    assert not _user("on").check_password(b"")  # no password, no nopass: closed


def test_a_refused_rule_changes_nothing():
    user = _user("on", ">p", "~k*")
    with pytest.raises(AclError, match="modifier '\\+nosuch'"):
        set_user(user, [b"off", b"+nosuch"])
    assert user.enabled


def test_rules_per_user_are_capped():
    rules = [b"~k%d" % i for i in range(MAX_RULES_PER_USER + 1)]
    with pytest.raises(AclError, match="at most"):
        set_user(new_user(b"u"), rules)


def test_the_acl_file_round_trips():
    table = AclTable()
    table.apply(change("setuser", name=b"a", rules=[b"on", b">p", b"~k*", b"&c", b"+get"]), 1)
    table.apply(change("setuser", name=b"b", rules=[b"(+set ~s*)", b"%R~r*"]), 2)
    text = acl_file_text(table, None)
    users = parse_acl_file(text)
    assert {name: user.line() for name, user in users.items()} == {
        name: table.user(name).line()  # type: ignore[union-attr]
        for name in table.names()
    }


def _metadata() -> MetadataState:
    return MetadataState(ClusterMap())


def _acl_entry(data: dict) -> bytes:
    return MetadataState.acl_command(data, "id")


def test_metadata_applies_acl_changes_and_carries_them_in_snapshots():
    state = _metadata()
    state.apply(3, _acl_entry(change("setuser", name=b"a", rules=[b"on", b">pw", b"+@all"])))
    state.apply(4, _acl_entry(change("setuser", name=b"b", rules=[b"on"])))
    state.apply(5, _acl_entry(change("deluser", names=[b"b"])))
    assert sorted(state.acl.users) == [b"a"]
    assert state.acl.version == 5 and state.acl.generation(b"a") == 3
    restored = _metadata()
    restored.restore(state.snapshot())
    assert restored.acl.to_json() == state.acl.to_json()
    # A snapshot from before ACL users restores none.
    old = json.loads(state.snapshot())
    del old["acl"]
    restored.restore(json.dumps(old).encode())
    assert restored.acl.users == {}


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.fixed_dictionaries(
                {
                    "action": st.sampled_from(["setuser", "deluser", "load", "nosuch", 3]),
                    "name": st.one_of(st.text(max_size=5), st.integers(), st.none()),
                    "names": st.one_of(st.lists(st.text(max_size=3)), st.text(), st.none()),
                    "rules": st.one_of(
                        st.lists(st.sampled_from(["on", "+get", "~k*", "(+set", ")", "#x"])),
                        st.integers(),
                    ),
                    "text": st.one_of(st.text(max_size=30), st.none()),
                }
            ).map(lambda d: _acl_entry(d)),
        ),
        max_size=8,
    )
)
def test_acl_entries_apply_totally_and_deterministically(entries):
    """Whatever the entries, every replica ends with the same table, and none fails."""
    first, second = _metadata(), _metadata()
    for index, data in enumerate(entries, start=1):
        first.apply(index, data)
        second.apply(index, data)
    assert first.snapshot() == second.snapshot()


def test_default_user_from_requirepass_until_an_acl_change_names_it():
    table = AclTable()
    assert table.user(b"default", b"pw").line() == default_user(b"pw").line()  # type: ignore[union-attr]
    assert not table.user(b"default", b"pw").nopass  # type: ignore[union-attr]
    table.apply(change("setuser", name=b"default", rules=[b"nopass"]), 1)
    assert table.user(b"default", b"pw").nopass  # type: ignore[union-attr]
    with pytest.raises(AclError, match="cannot be removed"):
        table.apply(change("deluser", names=[b"default"]), 2)


def test_aclfile_reaches_the_router_from_its_flag_and_from_slotraft_up(tmp_path):
    import argparse

    from router.main import add_arguments as router_arguments
    from router.main import config_from
    from slotraft.up import aclfile_arguments
    from slotraft.up import add_arguments as up_arguments

    path = tmp_path / "users.acl"
    up = argparse.ArgumentParser()
    up_arguments(up)
    passed = aclfile_arguments(up.parse_args(["--aclfile", str(path)]))
    assert passed == ["--aclfile", str(path.resolve())]
    assert aclfile_arguments(up.parse_args([])) == []
    router = argparse.ArgumentParser()
    router_arguments(router)
    parsed = router.parse_args([*passed, "--port", "0", "--nodes", "127.0.0.1:1"])
    assert config_from(parsed).aclfile == path.resolve()


def test_one_change_carries_a_bounded_amount_of_work():
    table = AclTable()
    with pytest.raises(AclError, match="at most 1024 rules at once"):
        table.apply(change("setuser", name=b"u", rules=[b"+get"] * 1025), 1)
    with pytest.raises(AclError, match="at most 65536 words"):
        table.apply(change("load", text=b"user u on" + b" +get" * 70_000, path=b"f"), 1)
    assert table.users == {}


def test_a_router_loads_its_aclfile_into_a_cluster_without_acl_users(tmp_path):
    import asyncio

    from router.config import RouterConfig
    from router.main import load_aclfile
    from slotraft.local_backend import LocalBackend

    path = tmp_path / "users.acl"
    path.write_bytes(b"user f on >pw ~f* +get\n")
    backend = LocalBackend(1)
    config = RouterConfig(port=0, aclfile=path)
    asyncio.run(load_aclfile(config, backend))
    assert sorted(backend.acl().users) == [b"default", b"f"]
    path.write_bytes(b"user g on\n")
    asyncio.run(load_aclfile(config, backend))  # the cluster has users now: kept
    assert b"g" not in backend.acl().users
    path.write_bytes(b"user h +nosuch\n")
    with pytest.raises(SystemExit, match="nosuch"):
        asyncio.run(load_aclfile(config, LocalBackend(1)))


def test_users_are_capped(monkeypatch):
    import proto.acl_table

    monkeypatch.setattr(proto.acl_table, "MAX_USERS", 2)
    table = AclTable()
    table.apply(change("setuser", name=b"a", rules=[]), 1)
    table.apply(change("setuser", name=b"b", rules=[]), 2)
    with pytest.raises(AclError, match="at most"):
        table.apply(change("setuser", name=b"c", rules=[]), 3)
    table.apply(change("setuser", name=b"a", rules=[b"on"]), 4)  # changing one still works
    assert sorted(table.users) == [b"a", b"b"]
