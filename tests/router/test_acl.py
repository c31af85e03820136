"""A router's ACL bookkeeping beyond what redis-server 7.0 shows (tests/differential/
test_acl_differential.py has the rest): INFO's denial counters (Redis 7.2's fields), and the
check applying to commands of the inline fast path once a user is narrowed."""

from __future__ import annotations

import asyncio

from tests.router.support import Client, context


def _info_fields(text: bytes) -> dict[str, str]:
    return dict(
        line.split(":", 1) for line in text.decode().splitlines() if ":" in line and line[0] != "#"
    )


def test_denials_and_failed_auth_are_counted_in_info():
    async def scenario() -> None:
        ctx, _ = context()
        admin, user = Client(ctx), Client(ctx)
        await admin.call("ACL", "SETUSER", "u", "on", ">pw", "~k*", "&c", "+get", "+publish")
        assert str(await user.call("AUTH", "u", "nope")).startswith("WRONGPASS")
        assert await user.call("AUTH", "u", "pw") == b"OK"
        await user.call("SET", "k", "v")
        await user.call("GET", "x")
        await user.call("PUBLISH", "other", "m")
        fields = _info_fields(await admin.call("INFO", "stats"))
        assert [
            fields[f"acl_access_denied_{kind}"] for kind in ("auth", "cmd", "key", "channel")
        ] == [
            "1",
            "1",
            "1",
            "1",
        ]
        await admin.call("CONFIG", "RESETSTAT")
        fields = _info_fields(await admin.call("INFO", "stats"))
        assert fields["acl_access_denied_auth"] == "0"

    asyncio.run(scenario())


def test_narrowing_a_user_takes_its_connections_off_the_fast_path():
    async def scenario() -> None:
        ctx, _ = context()
        admin, user = Client(ctx), Client(ctx)
        await admin.call("ACL", "SETUSER", "u", "on", ">pw", "~*", "&*", "+@all")
        assert await user.call("AUTH", "u", "pw") == b"OK"
        assert await user.call("SET", "a", "1") == b"OK"  # unrestricted: inline
        await admin.call("ACL", "SETUSER", "u", "resetkeys", "~b*")
        replies = await user.pipeline(("SET", "a", "2"), ("SET", "b", "2"), ("GET", "a"))
        assert str(replies[0]).startswith(
            "NOPERM this user has no permissions to access one of the keys"
        )
        assert replies[1] == b"OK"
        assert str(replies[2]).startswith("NOPERM")
        assert await admin.call("GET", "a") == b"1"

    asyncio.run(scenario())


def test_slowlog_redacts_acl_setuser_as_redis():
    async def scenario() -> None:
        ctx, _ = context()
        admin = Client(ctx)
        await admin.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
        await admin.call("SLOWLOG", "RESET")
        await admin.call("ACL", "SETUSER", "sl", "on", ">secret")
        entry = (await admin.call("SLOWLOG", "GET", "1"))[0]
        assert entry[3] == [b"ACL", b"SETUSER", b"(redacted)", b"(redacted)", b"(redacted)"]

    asyncio.run(scenario())
