"""A deterministic simulation of the cross-shard protocol (docs/CROSS-SHARD.md).

Shards are serial logs (what Raft gives its state machine): a request reaching a shard's
leader is applied a few ms later; if the leader crashes first, the entry is lost or (half
the time) applied anyway by the next leader, unanswered. A leader may also crash right after
an apply, before its reply leaves. A crash loses the leader's volatile state (pending
proposals, gathered acknowledgements); the replicated state survives. Routers drive
attempts with `TxnDriver` and may crash at any reply, losing every attempt. The network
loses, duplicates (some copies 1-2 s late), delays and reorders messages, partitions pairs
of endpoints, and (with `replay`) delivers all of an old transaction's requests again.
After the faults, everything heals and the run drains so the checker can ask for a quiet
end: no lock, no prepared transaction, no pending record.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from node.xshard.state import ShardTxnState, Status, XshardConfig
from proto.xshard_messages import (
    Abort,
    Commit,
    Decide,
    Decision,
    Finished,
    Forget,
    Mode,
    Prepare,
    Prepared,
    Refused,
    Release,
    Resolve,
    Value,
)
from router.xshard_driver import Outcome, Phase, Result, TxnDriver
from tests.xsim.bank import INITIAL, ReadAll, Transfer, decode, encode, execute
from tests.xsim.history import History, TxnRecord

Endpoint = tuple[str, int]  # ("shard", n) or ("router", n)

LOCK_TIMEOUTS = (60, 150, 300)  # one per seed: the shortest expire locks in mid-transaction
# Where a seed concentrates its crashes: right after a shard applies this kind of entry, or
# as a router receives this kind of reply (None: only the random ones).
CRASH_STEPS = (None, "Prepare", "Decide", "Resolve", "Commit", "Abort", "Release", "Forget")
ROUTER_CRASH_STEPS = (None, "Prepared", "Refused", "Decision", "Finished")
TXN_TIMEOUT = 400
RESEND = 40
SHARD_TICK = 50
ROUTER_TICK = 10


@dataclass(frozen=True, slots=True)
class XsimParams:
    seed: int
    shards: int = 3
    accounts: int = 9
    routers: int = 3
    clients: int = 2  # concurrent operations per router
    fault_time: int = 2_500
    drain_time: int = 3_500
    drop: float = 0.05
    duplicate: float = 0.03
    late: float = 0.01  # a duplicate delivered 1-2 s later: after its record is forgotten
    replay: bool = True  # replay old transactions' requests (see World._replay)
    crash_after_apply: float = 0.01
    router_crash_on_reply: float = 0.004
    unsafe: bool = False
    lock_timeout: int = 300
    crash_step: str | None = None
    router_crash_step: str | None = None
    step_crash: float = 0.2  # the chance of a crash at the seed's chosen step

    @classmethod
    def from_seed(cls, seed: int, unsafe: bool = False) -> XsimParams:
        rng = random.Random(seed ^ 0x5EED)
        return cls(
            seed,
            unsafe=unsafe,
            lock_timeout=rng.choice(LOCK_TIMEOUTS),
            crash_step=rng.choice(CRASH_STEPS),
            router_crash_step=rng.choice(ROUTER_CRASH_STEPS),
        )


@dataclass(frozen=True, slots=True)
class Direct:
    """A single-shard transfer between two keys of one shard, or a read of `source` alone
    (today's path)."""

    op_id: int
    source: bytes
    target: bytes
    amount: int
    read: bool = False


@dataclass(frozen=True, slots=True)
class DirectReply:
    op_id: int
    busy: bool  # a key is locked by a cross-shard transaction: retry
    version: str = ""  # a read's: the version it saw


class SimStore:
    def __init__(self, history: History) -> None:
        self.data: dict[bytes, Value] = {}
        self.history = history

    def get(self, key: bytes) -> Value:
        return self.data.get(key)

    def put(self, key: bytes, value: Value) -> None:
        self.data[key] = value
        self.history.install(key, value)


def txn_name(txn: tuple[int, int]) -> str:
    return f"t{txn[0]}.{txn[1]}"


class World:
    def __init__(self, params: XsimParams) -> None:
        self.params = params
        self.rng = random.Random(params.seed)
        self.now = 0
        self.history = History()
        self.events: list[tuple[int, int, Callable[[], None]]] = []
        self.counter = itertools.count()
        self.cut: dict[frozenset[Endpoint], int] = {}  # partitioned pairs, until when
        self.faults = True
        self.log: list[str] = []
        self.keys = [f"acct{i}".encode() for i in range(params.accounts)]
        self.shard_of = {key: i % params.shards for i, key in enumerate(self.keys)}
        self.shards = [ShardSim(self, n) for n in range(params.shards)]
        for key in self.keys:
            self.shards[self.shard_of[key]].store.data[key] = encode(INITIAL, "init")
            self.history.installs[key] = ["init"]
        self.client_ids = itertools.count(1)
        self.holds: list[tuple[int, tuple[int, int], int, int]] = []  # shard, txn, from, to
        # What routers sent, per transaction (when it began, the messages), for replays.
        self.sent: dict[tuple[int, int], tuple[int, list[tuple[Endpoint, Endpoint, object]]]] = {}
        self.routers = [RouterSim(self, n) for n in range(params.routers)]

    # -- scheduling and network

    def at(self, when: int, action: Callable[[], None]) -> None:
        heapq.heappush(self.events, (when, next(self.counter), action))

    def send(self, source: Endpoint, target: Endpoint, payload: object) -> None:
        if self.faults and self.rng.random() < self.params.drop:
            return
        copies = 2 if self.faults and self.rng.random() < self.params.duplicate else 1
        for _ in range(copies):
            delay = self.rng.randint(1, 8)
            self.at(self.now + delay, lambda: self._deliver(source, target, payload))
        if self.faults and self.rng.random() < self.params.late:
            delay = self.rng.randint(1_000, 2_000)
            self.at(self.now + delay, lambda: self._deliver(source, target, payload))

    def _deliver(self, source: Endpoint, target: Endpoint, payload: object) -> None:
        if self.cut.get(frozenset((source, target)), -1) > self.now:
            return
        kind, number = target
        if kind == "shard":
            self.shards[number].receive(source, payload)
        else:
            self.routers[number].receive(source, payload)

    # -- the run

    def run(self) -> None:
        for shard in self.shards:
            self.at(self.rng.randint(0, SHARD_TICK), shard.tick)
        for router in self.routers:
            self.at(self.rng.randint(0, ROUTER_TICK), router.tick)
        self.at(0, self._nemesis)
        self.at(self.params.fault_time, self._heal)
        end = self.params.fault_time + self.params.drain_time
        while self.events and self.events[0][0] <= end:
            when, _, action = heapq.heappop(self.events)
            self.now = when
            action()
        self.now = end

    def _nemesis(self) -> None:
        if not self.faults:
            return
        roll = self.rng.random()
        if roll < 0.08:
            shard = self.rng.choice(self.shards)
            shard.crash(self.rng.randint(10, 200))
        elif roll < 0.11:
            router = self.rng.choice(self.routers)
            router.crash(self.rng.randint(20, 300))
        elif roll < 0.165 and self.params.replay:
            self._replay()
        elif roll < 0.16:
            ends: list[Endpoint] = [("shard", n) for n in range(self.params.shards)]
            ends += [("router", n) for n in range(self.params.routers)]
            a, b = self.rng.sample(ends, 2)
            self.cut[frozenset((a, b))] = self.now + self.rng.randint(30, 400)
            self.log.append(f"{self.now}: cut {a} {b}")
        self.at(self.now + 20, self._nemesis)

    def _replay(self) -> None:
        """A stale queue let go: every request a router sent for one transaction that began
        over a second ago is delivered again, in its order (after its record may have been
        forgotten: PREPARE makes a record anew, and the old DECIDE must not run on it)."""
        old = [txn for txn, (began, _) in self.sent.items() if self.now - began > 1_000]
        if not old:
            return
        txn = self.rng.choice(sorted(old))
        self.log.append(f"{self.now}: replay {txn}")
        for step, message in enumerate(self.sent.pop(txn)[1]):
            self.at(self.now + step + 1, functools.partial(self._deliver, *message))

    def _heal(self) -> None:
        self.faults = False
        self.cut.clear()
        self.log.append(f"{self.now}: heal")
        for shard in self.shards:
            shard.restart()
        for router in self.routers:
            if not router.up:
                router.restart()


class ShardSim:
    """One shard: its replicated state, and its leader's volatile state."""

    def __init__(self, world: World, number: int) -> None:
        self.world = world
        self.number = number
        self.endpoint: Endpoint = ("shard", number)
        self.store = SimStore(world.history)
        config = XshardConfig(
            lock_timeout=world.params.lock_timeout, retention=1_000, max_keys=16, max_bytes=1 << 20
        )
        self.state = ShardTxnState(number, self.store, execute, config, unsafe=world.params.unsafe)
        self.sessions: dict[int, DirectReply] = {}  # the session table of direct ops
        self.up = True
        self.epoch = 0
        self.gc_acks: dict[tuple[int, int], set[int]] = {}
        self.in_flight: set[int] = set()  # proposed, not applied yet
        self.survivors: set[int] = set()  # in flight at a crash, applied by the next leader
        self.held_since: dict[tuple[int, int], int] = {}  # prepared here since (sim time)

    def crash(self, downtime: int) -> None:
        if not self.up:
            return
        self.world.log.append(f"{self.world.now}: crash shard {self.number}")
        self.up = False
        self.epoch += 1
        self.gc_acks.clear()
        for proposal in self.in_flight:
            if self.world.rng.random() < 0.5:
                self.survivors.add(proposal)
        self.in_flight.clear()
        if self.world.faults:
            self.world.at(self.world.now + downtime, self.restart)

    def restart(self) -> None:
        self.up = True

    def receive(self, source: Endpoint, payload: object) -> None:
        if not self.up:
            return
        if isinstance(payload, Decision):  # the answer to our RESOLVE
            self.propose(self.state.follow_up(payload), None)
        elif isinstance(payload, Finished):  # a participant's answer to our GC round
            waiting = self.gc_acks.get(payload.txn)
            if waiting is not None:
                waiting.discard(payload.shard)
                if not waiting:
                    del self.gc_acks[payload.txn]
                    self.propose(Forget(payload.txn), None)
        else:
            self.propose(payload, source)

    def propose(self, request: object, reply_to: Endpoint | None) -> None:
        epoch = self.epoch
        proposal = next(self.world.counter)
        self.in_flight.add(proposal)
        delay = self.world.rng.randint(2, 6)
        self.world.at(
            self.world.now + delay, lambda: self.apply(epoch, proposal, request, reply_to)
        )

    def apply(self, epoch: int, proposal: int, request: object, reply_to: Endpoint | None) -> None:
        self.in_flight.discard(proposal)
        if epoch != self.epoch:
            # The leader crashed first: the entry is lost, or it had reached a majority and
            # the next leader applies it, with nobody left to answer.
            if proposal in self.survivors:
                self.survivors.discard(proposal)
                self._apply(request)
            return
        reply = self._apply(request)
        params = self.world.params
        chance = params.crash_after_apply
        if type(request).__name__ == params.crash_step:
            chance = params.step_crash
        if self.world.faults and self.world.rng.random() < chance:
            self.crash(self.world.rng.randint(10, 200))
            return
        if reply is not None and reply_to is not None:
            self.world.send(self.endpoint, reply_to, reply)

    def _apply(self, request: object) -> object:
        before = set(self.state.prepared)
        reply = self._apply_entry(request)
        now = self.world.now
        for txn in set(self.state.prepared) - before:
            self.held_since[txn] = now
        for txn in before - set(self.state.prepared):
            self.world.holds.append((self.number, txn, self.held_since.pop(txn), now))
        return reply

    def _apply_entry(self, request: object) -> object:
        history = self.world.history
        if isinstance(request, Direct):
            return self._apply_direct(request)
        if isinstance(request, Decide):
            record = self.state.records.get(request.txn)
            undecided = record is not None and record.decision is None
            decision = self.state.apply_decide(request, self.world.now)
            if undecided and decision.committed:
                history.committed[txn_name(request.txn)] = TxnRecord(
                    {key: decode(value)[1] for _, key, _, value in request.inputs},
                    {key: txn_name(request.txn) for _, key, _ in decision.writes},
                )
            elif undecided:
                history.aborted.add(txn_name(request.txn))
            return decision
        if isinstance(request, Resolve):
            decision = self.state.apply_resolve(request, self.world.now)
            if not decision.committed:
                history.aborted.add(txn_name(request.txn))
            return decision
        if isinstance(request, Prepare | Commit | Abort | Release | Forget):
            return self.state.apply(request, self.world.now)
        return None

    def _apply_direct(self, op: Direct) -> DirectReply:
        stored = self.sessions.get(op.op_id)
        if stored is not None:
            return stored
        if op.read:
            if self.state.blocks([op.source], write=False):
                return DirectReply(op.op_id, busy=True)
            return DirectReply(op.op_id, busy=False, version=decode(self.store.get(op.source))[1])
        if self.state.blocks([op.source, op.target], write=True):
            return DirectReply(op.op_id, busy=True)
        name = f"d{op.op_id}"
        source, source_version = decode(self.store.get(op.source))
        target, target_version = decode(self.store.get(op.target))
        amount = op.amount if source >= op.amount else 0
        self.world.history.committed[name] = TxnRecord(
            {op.source: source_version, op.target: target_version},
            {op.source: name, op.target: name},
        )
        self.store.put(op.source, encode(source - amount, name))
        self.store.put(op.target, encode(target + amount, name))
        reply = DirectReply(op.op_id, busy=False)
        self.sessions[op.op_id] = reply
        return reply

    def tick(self) -> None:
        self.world.at(self.world.now + SHARD_TICK, self.tick)
        if not self.up:
            return
        for action in self.state.due(self.world.now):
            if action.shard == self.number and not isinstance(action.request, Resolve):
                self.propose(action.request, None)
                continue
            if isinstance(action.request, Commit | Abort):
                record = self.state.records[action.request.txn]
                others = {s for s in record.participants if s != self.number}
                self.gc_acks.setdefault(action.request.txn, others)
            target: Endpoint = ("shard", action.shard)
            if action.shard == self.number:
                self.propose(action.request, None)
            else:
                self.world.send(self.endpoint, target, action.request)


@dataclass(slots=True)
class Slot:
    """One client of a router: its operation in progress."""

    name: str = ""
    driver: TxnDriver | None = None
    direct: Direct | None = None
    program: object = None
    keys: dict[int, tuple[tuple[bytes, Mode], ...]] | None = None
    attempts: int = 0
    last_send: int = 0
    started: int = 0
    wake: int = 0  # back-off: no new attempt before


class RouterSim:
    def __init__(self, world: World, number: int) -> None:
        self.world = world
        self.number = number
        self.endpoint: Endpoint = ("router", number)
        self.up = True
        self.client_id = next(world.client_ids)
        self.attempts = itertools.count(1)
        self.slots = [Slot() for _ in range(world.params.clients)]
        self.finishing: dict[tuple[int, int], TxnDriver] = {}
        self.op_ids = itertools.count(number * 1_000_000 + 1)

    def crash(self, downtime: int) -> None:
        if not self.up:
            return
        self.world.log.append(f"{self.world.now}: crash router {self.number}")
        self.up = False
        for slot in self.slots:
            if slot.name:
                self.world.history.client_unknown.add(slot.name)
        self.slots = [Slot() for _ in range(self.world.params.clients)]
        self.finishing.clear()
        if self.world.faults:
            self.world.at(self.world.now + downtime, self.restart)

    def restart(self) -> None:
        self.up = True
        self.client_id = next(self.world.client_ids)

    def send_all(self, sends: Sequence[tuple[int, object]]) -> None:
        world = self.world
        for shard, request in sends:
            world.send(self.endpoint, ("shard", shard), request)
            txn = getattr(request, "txn", None)
            if world.faults and txn is not None:
                _, messages = world.sent.setdefault(txn, (world.now, []))
                messages.append((self.endpoint, ("shard", shard), request))

    def tick(self) -> None:
        world = self.world
        world.at(world.now + ROUTER_TICK, self.tick)
        if not self.up:
            return
        for driver in list(self.finishing.values()):
            self.send_all(driver.on_tick(world.now))
            if driver.phase is Phase.DONE:
                del self.finishing[driver.txn]
        for slot in self.slots:
            if slot.driver is not None:
                self.send_all(slot.driver.on_tick(world.now))
                self._settle(slot)
            elif slot.direct is not None:
                if world.now - slot.started > 4 * TXN_TIMEOUT:
                    world.history.client_unknown.add(slot.name)
                    self._reset(slot)
                elif world.now - slot.last_send >= RESEND and world.now >= slot.wake:
                    slot.last_send = world.now
                    shard = world.shard_of[slot.direct.source]
                    world.send(self.endpoint, ("shard", shard), slot.direct)
            elif slot.program is not None and world.now >= slot.wake:
                self._attempt(slot)
            elif slot.program is None and world.faults and world.now >= slot.wake:
                self._new_operation(slot)

    def _new_operation(self, slot: Slot) -> None:
        world = self.world
        rng = world.rng
        roll = rng.random()
        slot.attempts = 0
        slot.started = world.now
        if roll < 0.1:
            op = Direct(next(self.op_ids), rng.choice(world.keys), b"", 0, read=True)
            slot.direct, slot.name, slot.last_send = op, f"q{op.op_id}", -RESEND
            return
        if roll < 0.3:
            shard = rng.randrange(world.params.shards)
            mine = [key for key in world.keys if world.shard_of[key] == shard]
            source, target = rng.sample(mine, 2)
            op = Direct(next(self.op_ids), source, target, rng.randint(1, 30))
            slot.direct, slot.name, slot.last_send = op, f"d{op.op_id}", -RESEND
            return
        if roll < 0.42:
            slot.program = ReadAll(tuple(world.keys))
            modes = dict.fromkeys(world.keys, Mode.READ)
        else:
            count = 2 if roll < 0.8 else 3
            while True:
                keys = rng.sample(world.keys, count)
                if len({world.shard_of[key] for key in keys}) > 1:
                    break
            slot.program = Transfer("", tuple(keys), rng.randint(1, 30))
            modes = dict.fromkeys(keys, Mode.WRITE)
        grouped: dict[int, list[tuple[bytes, Mode]]] = {}
        for key, mode in modes.items():
            grouped.setdefault(world.shard_of[key], []).append((key, mode))
        slot.keys = {shard: tuple(part) for shard, part in grouped.items()}
        self._attempt(slot)

    def _attempt(self, slot: Slot) -> None:
        assert slot.keys is not None
        world = self.world
        txn = (self.client_id, next(self.attempts))
        program = slot.program
        if isinstance(program, Transfer):
            program = Transfer(txn_name(txn), program.keys, program.amount)
            coordinator = world.shard_of[program.keys[0]]
        else:
            coordinator = min(slot.keys)
        slot.attempts += 1
        slot.name = txn_name(txn)
        slot.driver = TxnDriver(
            txn, slot.keys, coordinator, program, world.now, TXN_TIMEOUT, RESEND, execute
        )
        self.send_all(slot.driver.start())

    def receive(self, source: Endpoint, payload: object) -> None:
        if not self.up:
            return
        world = self.world
        chance = world.params.router_crash_on_reply
        if type(payload).__name__ == world.params.router_crash_step:
            chance = world.params.step_crash
        if world.faults and world.rng.random() < chance:
            self.crash(world.rng.randint(20, 300))
            return
        shard = source[1]
        if isinstance(payload, DirectReply):
            for slot in self.slots:
                if slot.direct is not None and slot.direct.op_id == payload.op_id:
                    if payload.busy:
                        slot.wake = world.now + world.rng.randint(5, 30)
                        slot.last_send = -RESEND
                    else:
                        if slot.direct.read:
                            reads = {slot.direct.source: payload.version}
                            world.history.committed[slot.name] = TxnRecord(reads, {})
                        world.history.client_committed.add(slot.name)
                        world.history.timing[slot.name] = (slot.started, world.now)
                        self._reset(slot)
            return
        if not isinstance(payload, Prepared | Refused | Decision | Finished):
            return
        txn = payload.txn
        finishing = self.finishing.get(txn)
        if finishing is not None:
            self.send_all(finishing.on_reply(shard, payload, world.now))
            if finishing.phase is Phase.DONE:
                del self.finishing[finishing.txn]
            return
        for slot in self.slots:
            if slot.driver is not None and slot.driver.txn == txn:
                self.send_all(slot.driver.on_reply(shard, payload, world.now))
                self._settle(slot)

    def _settle(self, slot: Slot) -> None:
        """The client's answer once the attempt has an outcome; the attempt finishes in the
        background."""
        driver = slot.driver
        if driver is None or driver.outcome is None:
            return
        if driver.phase is not Phase.DONE:
            self.finishing[driver.txn] = driver
        self._record(slot, driver, driver.outcome)
        slot.driver = None
        if driver.outcome.retry and slot.attempts < 5:
            slot.wake = self.world.now + self.world.rng.randint(5, 50)
        else:
            self._reset(slot)

    def _record(self, slot: Slot, driver: TxnDriver, outcome: Outcome) -> None:
        history = self.world.history
        if outcome.result is Result.UNKNOWN:
            history.client_unknown.add(slot.name)
        elif outcome.result is Result.ABORTED:
            history.client_aborted.add(slot.name)
        elif driver.read_only:
            reader = "r" + slot.name[1:]
            seen = cast(tuple[tuple[bytes, int, str], ...], outcome.reply)
            history.committed[reader] = TxnRecord({key: version for key, _, version in seen}, {})
            total = sum(balance for _, balance, _ in seen)
            history.balances_read.append((reader, total))
            history.timing[reader] = (slot.started, self.world.now)
        else:
            history.client_committed.add(slot.name)
            history.timing[slot.name] = (slot.started, self.world.now)

    def _reset(self, slot: Slot) -> None:
        slot.name, slot.driver, slot.direct, slot.program, slot.keys = "", None, None, None, None
        slot.wake = self.world.now + self.world.rng.randint(0, 20)


def pending_records(world: World) -> list[str]:
    return [
        f"shard {shard.number}: {txn_name(txn)}"
        for shard in world.shards
        for txn, record in shard.state.records.items()
        if record.status is Status.PENDING
    ]
