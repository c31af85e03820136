"""ACL users in a real cluster (one shared cluster, two routers): a restricted user is held
to its commands, keys and channels; a user made through one router is enforced by the
other at once; users survive SIGKILL of every process and a restart."""

from __future__ import annotations

import time

import pytest
import redis

from tests.cluster.conftest import kill_and_restart_every_process

RULES = ["on", ">app-secret", "~app:*", "&news:*", "+@all", "-@dangerous"]


def _eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, pytest.fail.Exception, redis.exceptions.ResponseError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def admin(cluster):
    a = redis.Redis(port=cluster.router_ports[0], socket_timeout=20)
    assert a.execute_command("ACL", "SETUSER", "app", *RULES) == b"OK"
    yield a
    a.close()


def test_restricted_user_is_held_to_its_rights(cluster, admin):
    app = redis.Redis(
        port=cluster.router_ports[0], username="app", password="app-secret", socket_timeout=20
    )
    assert app.set("app:1", "v") is True
    assert app.get("app:1") == b"v"
    with pytest.raises(redis.exceptions.NoPermissionError, match="'flushall' command"):
        app.flushall()
    with pytest.raises(redis.exceptions.NoPermissionError, match="one of the keys"):
        app.set("other:1", "v")
    with pytest.raises(redis.exceptions.NoPermissionError, match="one of the keys"):
        app.mset({"app:2": "v", "other:2": "v"})
    assert admin.exists("other:1", "other:2", "app:2") == 0  # nothing of it was written
    pubsub = app.pubsub()
    pubsub.subscribe("private")  # the reply is read with the next message
    with pytest.raises(redis.exceptions.NoPermissionError, match="one of the channels"):
        pubsub.get_message(timeout=5)
    pubsub.close()
    pubsub = app.pubsub()
    pubsub.subscribe("news:today")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    pubsub.close()
    entries = admin.acl_log()
    assert {(e["reason"], e["object"]) for e in entries} >= {
        ("command", "flushall"),
        ("key", "other:1"),
        ("channel", "private"),
    }
    assert app.acl_whoami() == "app"
    app.close()


def test_scripts_run_with_the_rights_of_their_caller_on_every_replica(cluster, admin):
    """The user's rules travel in the script's log entry: every replica refuses the same
    redis.call, on the write path, the read path (EVAL_RO) and in MULTI. Each script
    declares a key app may use and reaches for another of the same slot."""
    app = redis.Redis(
        port=cluster.router_ports[0], username="app", password="app-secret", socket_timeout=20
    )
    write = "return redis.call('set', ARGV[1], 'x')"
    with pytest.raises(redis.exceptions.ResponseError, match="can't access at least one"):
        app.eval(write, 1, "app:{s}", "other:{s}")
    with pytest.raises(redis.exceptions.ResponseError, match="can't run this command"):
        app.eval("return redis.call('flushall')", 0)
    assert app.eval(write, 1, "app:{s}", "app:{s}") == b"OK"
    read = "return redis.call('get', ARGV[1])"
    assert app.eval_ro(read, 1, "app:{s}", "app:{s}") == b"x"
    with pytest.raises(redis.exceptions.ResponseError, match="can't access at least one"):
        app.eval_ro(read, 1, "app:{s}", "other:{s}")
    check = "return redis.acl_check_cmd('get', ARGV[1])"
    assert app.eval(check, 1, "app:{s}", "other:{s}") is None
    assert app.eval(check, 1, "app:{s}", "app:{s}") == 1
    pipe = app.pipeline(transaction=True)
    pipe.eval(write, 1, "app:{s}", "app:{s}")
    pipe.eval(write, 1, "app:{s}", "other:{s}")
    first, second = pipe.execute(raise_on_error=False)
    assert first == b"OK" and "can't access" in str(second)
    assert admin.exists("other:{s}") == 0
    # The default user (unrestricted) is not held to app's rules.
    assert admin.eval(write, 1, "app:{s}", "other:{s}") == b"OK"
    # The refusals are in ACL LOG as Redis logs them (context lua), from every path.
    logged = {(e["reason"], e["context"], e["object"]) for e in admin.acl_log()}
    assert {("key", "lua", "other:{s}"), ("command", "lua", "flushall")} <= logged
    app.close()


def test_user_made_through_one_router_is_enforced_by_the_other(cluster, admin):
    other = cluster.router_ports[1]
    admin.execute_command("ACL", "SETUSER", "late", "on", ">pw", "~late:*", "+get", "+set")

    def authenticates() -> redis.Redis:
        client = redis.Redis(port=other, username="late", password="pw", socket_timeout=20)
        client.ping  # noqa: B018
        assert client.set("late:1", "v") is True
        return client

    # ACL SETUSER answers once every router holds the change: no waiting here.
    client = authenticates()
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.delete("late:1")
    # Narrowed through the first router: the second holds the client to it at once.
    admin.execute_command("ACL", "SETUSER", "late", "-set")
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set("late:1", "w")
    # Deleted: the second router closed its connections, and AUTH fails there.
    assert admin.acl_deluser("late") == 1
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ConnectionError)):
        client.get("late:1")  # redis-py connects again, and its AUTH fails
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=other, username="late", password="pw", socket_timeout=5).ping()
    client.close()


def test_users_survive_sigkill_of_every_process(cluster, admin):
    admin.execute_command("ACL", "SETUSER", "durable", "on", ">pw2", "~d:*", "+get", "+set")
    kill_and_restart_every_process(cluster)
    for port in cluster.router_ports:

        def holds(port: int = port) -> None:
            client = redis.Redis(port=port, username="durable", password="pw2", socket_timeout=20)
            assert client.set("d:1", "v") is True
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.set("x:1", "v")
            restricted = redis.Redis(
                port=port, username="app", password="app-secret", socket_timeout=20
            )
            with pytest.raises(redis.exceptions.NoPermissionError):
                restricted.flushall()

        _eventually(holds, 30)
    fresh = redis.Redis(port=cluster.router_ports[1], socket_timeout=20)
    assert b"durable" in fresh.execute_command("ACL", "USERS")
