"""Every engine command through the router of a real cluster gives the reply a real
redis-server gives (the differential cases of tests/differential, now end to end).

Multi-key commands whose keys are in different slots must get CROSSSLOT from the router
(Redis Cluster's rule) and are not sent to the reference server. SCAN is compared by
iterating to the end on both sides, since the router's cursor walks shard by shard.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto.commands import CommandSpec, Route, resolve
from proto.slots import key_slot
from tests.differential.common import KEYS, CommandCase
from tests.differential.harness import RawRedis
from tests.differential.rebuild import left_as_is, rebuild_commands
from tests.differential.test_differential import CASES

pytestmark = pytest.mark.slow  # a real cluster of processes

CROSSSLOT = ("error", "CROSSSLOT Keys in request don't hash to the same slot")


class RouterDifferential:
    def __init__(self, router_port: int, redis_port: int, resp3: bool) -> None:
        self.router = RawRedis(router_port)
        self.redis = RawRedis(redis_port)
        hello = [b"HELLO", b"3" if resp3 else b"2"]
        self.router.call(hello)
        self.redis.call(hello)
        self.router.call([b"FLUSHALL"])
        self.redis.call([b"FLUSHALL"])
        self.redis.call([b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"])
        self.history: list[list[bytes]] = []

    def close(self) -> None:
        self.router.close()
        self.redis.close()

    def fail(self, args: list[bytes], ours: object, theirs: object) -> None:
        lines = [
            f"command: {args!r}",
            f"  router: {ours!r}",
            f"  redis:  {theirs!r}",
            "history:",
        ] + [f"  {h!r}" for h in self.history[-25:]]
        raise AssertionError("\n".join(lines))

    def check(self, case: CommandCase, args: list[bytes]) -> None:
        self.history.append(args)
        spec = resolve(args)
        if type(spec) is CommandSpec and spec.route is Route.KEYED:
            slots = {key_slot(key) for key in spec.keys(args)}
            if len(slots) > 1:
                reply = self.router.call(args)
                if reply != CROSSSLOT:
                    self.fail(args, reply, CROSSSLOT)
                return
        if args[0].upper() == b"SCAN":
            self.check_scan(args)
            return
        if args == [b"DBSIZE"]:
            self.check_dbsize(args)
            return
        ours, theirs = self.router.call(args), self.redis.call(args)
        if case.normalize is not None:
            ours_view, theirs_view = case.normalize(ours), case.normalize(theirs)
        else:
            ours_view, theirs_view = ours, theirs
        if ours_view != theirs_view:
            self.fail(args, ours, theirs)
        if case.resync_keys:
            for key in KEYS:
                if left_as_is(lambda *a: self.router.call(list(a)), key):
                    continue
                self.redis.call([b"DEL", key])
                for command in rebuild_commands(lambda *a: self.router.call(list(a)), key):
                    self.redis.call(command)

    def check_dbsize(self, args: list[bytes]) -> None:
        """Redis runs without active expiry, the nodes with it: a key past its expiry time is
        counted by Redis until touched, and by the cluster until its leader's next expiry
        round (every 100 ms) deletes it. Both come to the count of live keys."""
        self.redis.call(args)
        alive = sum(self.redis.call([b"EXISTS", key]) for key in KEYS)  # expires them lazily
        deadline = time.monotonic() + 5
        while (ours := self.router.call(args)) != alive and time.monotonic() < deadline:
            time.sleep(0.05)
        if ours != alive:
            self.fail(args, ours, alive)

    def check_scan(self, args: list[bytes]) -> None:
        first_ours, first_theirs = self.router.call(args), self.redis.call(args)
        ours_error = isinstance(first_ours, tuple)
        if ours_error or isinstance(first_theirs, tuple) or args[1] != b"0":
            if ours_error != isinstance(first_theirs, tuple):
                self.fail(args, first_ours, first_theirs)
            return
        self.history.append([b"(full scan)"])
        if self.scan_all(self.router, args, first_ours) != self.scan_all(
            self.redis, args, first_theirs
        ):
            self.fail(
                args,
                self.scan_all(self.router, args, first_ours),
                self.scan_all(self.redis, args, first_theirs),
            )

    @staticmethod
    def scan_all(connection: RawRedis, args: list[bytes], first: list) -> set:
        found = set(first[1])
        cursor = first[0]
        while cursor != b"0":
            cursor, keys = connection.call([args[0], cursor, *args[2:]])
            found.update(keys)
        return found


def sequences() -> st.SearchStrategy:
    one = st.one_of(*[st.tuples(st.just(case), case.strategy) for case in CASES])
    return st.lists(one, min_size=1, max_size=30)


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_commands_through_the_router_match_redis(cluster, redis_port, resp3):
    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(sequence=sequences())
    def run(sequence):
        diff = RouterDifferential(cluster.router_ports[0], redis_port, resp3)
        try:
            for case, args in sequence:
                diff.check(case, args)
        finally:
            diff.close()

    run()
