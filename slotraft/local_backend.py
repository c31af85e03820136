"""A Backend over in-process engines, one per shard: the router without the cluster, for
tests and for measuring the router's own ceiling (`slotraft router --local-shards N`). It
lives outside router/, which depends on proto only, since it runs node.engine.

It plays the shard leaders' part: commands run on the engine at once (the wall clock and
a seeded random generator per shard stand in for a log entry's timestamp and seed), and a
blocking command that finds nothing (`WouldBlock`) is parked until a later write on its
shard touches one of its keys, then re-run in arrival order as Redis serves blocked
clients, or until its timeout passes and it gets `timeout_reply`. Being the only router,
it delivers published messages straight to its own subscribers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from node.engine.blocking import WouldBlock, may_serve
from node.engine.config import EngineConfig, canonical_value, configure
from node.engine.engine import Engine
from node.notifications import channels_of
from proto import slotraft_pb2 as pb
from proto.acl_table import AclTable
from proto.commands import CommandSpec, resolve, timeout_reply
from proto.internal_channels import INVALIDATE, pack_invalidation
from proto.redis_config import CLUSTER_PARAMETERS, ENGINE_PARAMETERS, defaults
from proto.resp import NULL_ARRAY, Error, Reply, encode
from proto.slots import SLOT_COUNT, key_slot
from router.backend import BackendError, Replication, ScriptCaller, Watch, WriteMarks
from router.pubsub import PubSubRegistry

log = logging.getLogger("slotraft.router.local")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _Waiter:
    """A parked blocking command."""

    __slots__ = ("args", "db", "future", "keys", "timer")

    def __init__(
        self, args: list[bytes], keys: list[bytes], future: asyncio.Future, db: int
    ) -> None:
        self.args = args
        self.db = db
        self.keys = keys
        self.future = future
        self.timer: asyncio.TimerHandle | None = None


class _Shard:
    __slots__ = ("engine", "rng", "waiters")

    def __init__(self, engine: Engine, rng: random.Random) -> None:
        self.engine = engine
        self.rng = rng
        self.waiters: dict[bytes, list[_Waiter]] = {}  # per key, in arrival order


class LocalBackend:
    def __init__(
        self,
        shards: int = 3,
        config: EngineConfig | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        seed: int = 0,
    ) -> None:
        if shards < 1:
            raise ValueError("at least one shard")
        self._base_config = config or EngineConfig()
        # A config of its own per engine, as on the nodes (each shard applies settings at
        # its own point).
        self._shards = [
            _Shard(Engine(dataclasses.replace(self._base_config)), random.Random(seed + index))
            for index in range(shards)
        ]
        # CONFIG SET's cluster-wide settings (canonical values) and how many changes.
        self._settings: dict[str, str] = {}
        self._settings_version = 0
        # Even slot ranges, as `slotraft up` splits them.
        self._slot_to_shard = [slot * shards // SLOT_COUNT for slot in range(SLOT_COUNT)]
        for index, shard in enumerate(self._shards):
            shard.engine.owns_slot = functools.partial(self._owned_by, index)
        self._clock_ms = clock_ms
        self.down: set[int] = set()  # shards that answer BackendError (tests)
        self.pubsub = PubSubRegistry()
        self.router_tag = 0  # the only router: client ids 1, 2, 3, ... as Redis's
        self._parked: dict[asyncio.Task, _Waiter] = {}  # by the task awaiting each
        self.address: str | None = None  # announced: the only router of this "cluster"
        self.tls_port = 0
        self.started = time.time()  # LASTSAVE: nothing is ever saved
        self._acl = AclTable()  # the ACL users (one router: nothing to replicate)
        self._acl_listeners: list[Callable[[], None]] = []

    @property
    def shard_count(self) -> int:
        return len(self._shards)

    def engine(self, shard: int) -> Engine:
        return self._shards[shard].engine

    def shard_for_slot(self, slot: int) -> int:
        return self._slot_to_shard[slot]

    def _owned_by(self, shard: int, slot: int) -> bool:
        return self._slot_to_shard[slot] == shard

    # ------------------------------------------------------------------ Backend

    async def execute(
        self,
        shard: int,
        commands: list[list[bytes]],
        resp3: bool,
        follower_read: bool = False,
        marks: WriteMarks | None = None,  # no log here: nothing to note
        writer: int = 0,
        caller: ScriptCaller | None = None,
        db: int = 0,
    ) -> list[bytes]:
        state = self._state(shard)
        engine = state.engine
        run = engine.execute
        rng = state.rng
        out = []
        now = self._clock_ms()
        rules = caller.rules if caller is not None else b""
        for args in commands:
            engine.scripting.caller = rules  # another call may have run while one blocked
            engine.select(db)
            try:
                reply = run(args, now, rng)
            except Exception as problem:
                reply = self._engine_failure(args, problem)
            _report_denials(engine, caller)
            self._publish_events(engine)
            if engine.changed_keys:
                self._changed(engine.changed_keys, writer)
                if state.waiters:
                    self._serve_blocked(state, list(engine.changed_keys))
            if type(reply) is WouldBlock:
                reply = await self._park(state, args, reply, db)
                now = self._clock_ms()
            out.append(encode(reply, resp3))
        return out

    async def transaction(
        self,
        shard: int,
        commands: list[list[bytes]],
        resp3: bool,
        watches: list[Watch],
        marks: WriteMarks | None = None,
        writer: int = 0,
        caller: ScriptCaller | None = None,
        db: int = 0,
    ) -> bytes:
        state = self._state(shard)
        state.engine.scripting.caller = caller.rules if caller is not None else b""
        state.engine.select(db)
        pairs = [(watch.key, watch.digest) for watch in watches]
        try:
            replies = state.engine.execute_transaction(
                commands, self._clock_ms(), state.rng, pairs or None
            )
        except Exception as problem:
            log.exception("transaction failed in the engine")
            return encode(Error(b"ERR internal error in the engine: %r" % problem), resp3)
        _report_denials(state.engine, caller)
        self._publish_events(state.engine)
        if replies is None:
            return encode(NULL_ARRAY, resp3)
        self._changed(_named_keys(commands), writer)
        if state.waiters:
            # execute_transaction keeps only the last command's changed keys; a key can
            # only gain elements through a command that names it, so those are enough.
            self._serve_blocked(state, _named_keys(commands))
        return encode(replies, resp3)

    async def digests(self, shard: int, keys: list[bytes], db: int = 0) -> list[bytes]:
        state = self._state(shard)
        state.engine.select(db)
        return [digest for _, digest in state.engine.watch_digests(keys, self._clock_ms())]

    async def swap_databases(self, first: int, second: int) -> None:
        """SWAPDB: every engine's map at once (one event-loop step: no client sees one
        shard swapped and another not); parked commands of either database look again."""
        for state in self._shards:
            databases = state.engine.databases
            databases.swap(first, second)
            keys = [*databases.database(first).data, *databases.database(second).data]
            if state.waiters and keys:
                self._serve_blocked(state, keys)

    async def info(self, shard: int) -> dict[str, Any]:
        state = self._state(shard)
        stats = state.engine.stats()
        stats["backend"] = "local"
        stats["blocked"] = len({id(w) for queue in state.waiters.values() for w in queue})
        return stats

    # ------------------------------------------------------------------ the cluster's face
    # One router, engines without replicas or persistence: WAIT and ROLE answer as a Redis
    # master without replicas, SAVE says there is nothing to save to.

    def announce(self, address: str, tls_port: int = 0) -> None:
        self.address = address
        self.tls_port = tls_port

    def routers(self) -> list[str]:
        return [self.address] if self.address else []

    def router_tls_ports(self) -> dict[str, int]:
        return {self.address: self.tls_port} if self.address else {}

    async def wait_replicated(self, marks: WriteMarks, replicas: int, timeout: float | None) -> int:
        if replicas > 0 and timeout is None:  # as a Redis master without replicas: for ever
            await asyncio.get_running_loop().create_future()
        elif replicas > 0 and timeout:
            await asyncio.sleep(timeout)
        return 0

    async def replication(self) -> Replication:
        return Replication()

    async def save(self) -> float:
        raise BackendError(b"ERR nothing to save: this router serves in-process engines")

    async def last_save(self) -> float:
        return self.started

    async def slot_keys(self, slot: int, count: int) -> tuple[int, list[bytes]]:
        keys = [
            key for key in self.engine(self.shard_for_slot(slot)).db.data if key_slot(key) == slot
        ]
        return len(keys), keys[:count]

    # ------------------------------------------------------------------ configuration

    def cluster_settings(self) -> tuple[int, dict[str, str]]:
        values = defaults(CLUSTER_PARAMETERS)
        values.update(
            {name: canonical_value(self._base_config, name) for name in ENGINE_PARAMETERS}
        )
        values.update(self._settings)
        return self._settings_version, values

    async def set_cluster_settings(self, settings: dict[str, str]) -> None:
        self._settings.update(settings)
        self._settings_version += 1
        engine_settings = {k: v for k, v in self._settings.items() if k in ENGINE_PARAMETERS}
        for shard in self._shards:
            policy = shard.engine.config.maxmemory_policy
            configure(shard.engine.config, self._base_config, engine_settings)
            if shard.engine.config.maxmemory_policy != policy:
                shard.engine.evictor.install()

    def acl(self) -> AclTable:
        return self._acl

    def on_acl_change(self, listener: Callable[[], None]) -> None:
        self._acl_listeners.append(listener)

    async def change_acl(self, change: dict[str, Any]) -> int:
        table = self._acl.copy()
        result = table.apply(change, self._acl.version + 1)
        self._acl = table
        for listener in list(self._acl_listeners):
            listener()
        return result or 0

    async def node_reports(self) -> list[pb.NodeReport]:
        return []  # in-process engines: no nodes, no WAL, no replicas

    # ------------------------------------------------------------------ pub/sub

    async def publish(self, channel: bytes, message: bytes, sender: int) -> int:
        return self.pubsub.deliver(channel, message)

    async def spublish(self, channel: bytes, message: bytes, sender: int) -> int:
        return self.pubsub.deliver(channel, message, sharded=True)

    async def sync_subscriptions(self) -> None:
        return None  # the registry is the whole set

    async def pubsub_channels(self, pattern: bytes | None) -> list[bytes]:
        return self.pubsub.active_channels(pattern)

    async def pubsub_numsub(self, channels: list[bytes]) -> list[int]:
        return self.pubsub.numsub(channels)

    async def pubsub_numpat(self) -> int:
        return self.pubsub.numpat()

    async def pubsub_shardchannels(self, pattern: bytes | None) -> list[bytes]:
        return self.pubsub.active_channels(pattern, sharded=True)

    async def pubsub_shardnumsub(self, channels: list[bytes]) -> list[int]:
        return self.pubsub.numsub(channels, sharded=True)

    def pubsub_info(self) -> list[str]:
        return []  # nothing between publishers and subscribers: nothing to lose

    # ------------------------------------------------------------------ active expiry

    def expire_once(self, limit: int = 64) -> int:
        """Delete up to `limit` expired keys per shard, as a leader's active expiry would."""
        removed = 0
        now = self._clock_ms()
        for state in self._shards:
            engine = state.engine
            for space_id, candidates in engine.expired_by_space(now, limit).items():
                removed += engine.apply_expire(candidates, now, space_id)
                self._publish_events(engine)
                self._changed(candidates)
            engine.select(0)
        return removed

    def _changed(self, keys: list[bytes], writer: int = 0) -> None:
        """Client tracking: the keys a write changed go to the router, as a shard leader
        publishes them (node/tracking_feed.py), with the NOLOOP client that wrote them."""
        if INVALIDATE in self.pubsub.internal:
            self.pubsub.deliver(INVALIDATE, pack_invalidation(writer, sorted(set(keys))))

    async def run_active_expiry(self, interval: float = 0.1) -> None:
        while True:
            await asyncio.sleep(interval)
            self.expire_once()

    # ------------------------------------------------------------------ blocking

    def _state(self, shard: int) -> _Shard:
        if shard in self.down:
            raise BackendError(b"CLUSTERDOWN shard %d is unavailable" % shard)
        return self._shards[shard]

    def _publish_events(self, engine: Engine) -> None:
        """Deliver the keyspace notifications of what the engine just ran (this backend
        is every shard's leader and the only router)."""
        events = engine.take_events()
        if events:
            setting = engine.config.notify_keyspace_events
            for channel, message in channels_of(events, setting):
                self.pubsub.deliver(channel, message)

    @staticmethod
    def _engine_failure(args: list[bytes], problem: Exception) -> Reply:
        """An engine bug: the client gets an error, the log gets the traceback."""
        log.error("engine failed on %r", args[:3], exc_info=problem)
        return Error(b"ERR internal error in the engine: %r" % problem)

    async def _park(self, state: _Shard, args: list[bytes], blocked: WouldBlock, db: int) -> Reply:
        loop = asyncio.get_running_loop()
        if blocked.resolved is not None:
            args = blocked.resolved  # XREAD's `$` as its first execution resolved it
        waiter = _Waiter(args, list(dict.fromkeys(blocked.keys)), loop.create_future(), db)
        for key in waiter.keys:
            state.waiters.setdefault(key, []).append(waiter)
        if blocked.timeout > 0:
            waiter.timer = loop.call_later(blocked.timeout, self._time_out, waiter)
        task = asyncio.current_task()
        if task is not None:
            self._parked[task] = waiter  # for CLIENT UNBLOCK
        try:
            return await waiter.future
        finally:
            self._forget(state, waiter)
            if task is not None:
                self._parked.pop(task, None)

    async def unblock(self, task: asyncio.Task, error: bool) -> bool:
        waiter = self._parked.get(task)
        if waiter is None or waiter.future.done():
            return False
        if error:
            waiter.future.set_result(Error(b"UNBLOCKED client unblocked via CLIENT UNBLOCK"))
        else:
            self._time_out(waiter)
        return True

    @staticmethod
    def _time_out(waiter: _Waiter) -> None:
        if not waiter.future.done():
            waiter.future.set_result(timeout_reply(waiter.args))

    def _serve_blocked(self, state: _Shard, keys: Iterable[bytes]) -> None:
        """Re-run the commands parked on `keys`, oldest first; one that now gets an answer
        is released, and what it changed may release others (BLMOVE into a list)."""
        engine = state.engine
        ready = deque(keys)
        while ready:
            queue = state.waiters.get(ready.popleft())
            if not queue:
                continue
            for waiter in list(queue):
                if waiter.future.done():
                    continue
                engine.select(waiter.db)
                if not may_serve(engine.db, waiter.args, waiter.keys):
                    continue
                try:
                    reply = engine.execute(waiter.args, self._clock_ms(), state.rng)
                except Exception as problem:
                    reply = self._engine_failure(waiter.args, problem)
                self._publish_events(engine)
                if type(reply) is WouldBlock:
                    continue
                ready.extend(engine.changed_keys)
                self._changed(engine.changed_keys)
                waiter.future.set_result(reply)
                self._forget(state, waiter)

    @staticmethod
    def _forget(state: _Shard, waiter: _Waiter) -> None:
        if waiter.timer is not None:
            waiter.timer.cancel()
            waiter.timer = None
        for key in waiter.keys:
            queue = state.waiters.get(key)
            if queue is not None and waiter in queue:
                queue.remove(waiter)
                if not queue:
                    del state.waiters[key]


def _named_keys(commands: list[list[bytes]]) -> list[bytes]:
    keys: list[bytes] = []
    for args in commands:
        spec = resolve(args)
        if type(spec) is CommandSpec:
            keys.extend(spec.keys(args))
    return keys


def _report_denials(engine: Engine, caller: ScriptCaller | None) -> None:
    """What the engine's scripts were refused, to the caller's ACL LOG."""
    denials, engine.scripting.denials = engine.scripting.denials, []
    if caller is not None:
        for reason, object_ in denials:
            caller.refused(reason, object_)
