"""The replicated state of one shard: the engine plus the client session table.

Pure and deterministic: `apply(entry_data)` decodes one Raft entry (a ShardEntry: the
leader's timestamp, a random seed, client requests, expiry and eviction proposals) and
executes it. Every replica applying the same entries reaches the same state; the leader
also uses the results to answer clients and to wake blocked ones.

Apply is total: every replica applies every entry and replays it after each restart, so an
entry that raised would stop its shard for good. What depends only on the entry and the
replicated state becomes a reply, the same bytes on every replica: a malformed entry
(EntryFormatError) fails its requests and changes nothing; an unexpected exception inside a
command becomes that command's error reply (engine.errors.internal_error), the state left
as the command left it, which is the same everywhere since the same code ran. Only
failures of this process's resources escape (LOCAL_FAILURES): they say nothing about the
entry, another replica may apply it fine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import struct
from collections.abc import Container, Generator
from dataclasses import dataclass, field

from node import entry_codec, slot_entries
from node.engine.blocking import WouldBlock
from node.engine.config import configure
from node.engine.digest import keyspace_digest
from node.engine.engine import Engine, is_plain_set
from node.engine.errors import LOCAL_FAILURES, internal_error
from node.entry_codec import EntryFormatError, Request
from node.resolved_reads import apply_resolved, record_of, resolved_args
from node.sessions import SessionTable, StaleRequest
from node.slot_entries import (
    MOVING_REPLY,
    SlotOwnership,
    SlotResult,
    apply_slot_entry,
    is_slot_entry,
)
from proto import resp
from proto.commands import timeout_reply

SNAPSHOT_MAGIC = b"SRSHARD5"  # engine, sessions, script cache, functions, settings, slots
_SNAPSHOT_MAGIC_V4 = b"SRSHARD4"  # engine, sessions, script cache, functions, settings
_SNAPSHOT_MAGIC_V3 = b"SRSHARD3"  # engine, sessions, script cache, functions: read
_SNAPSHOT_MAGIC_V2 = b"SRSHARD2"  # engine, sessions, script cache (before functions): read
_SNAPSHOT_MAGIC_V1 = b"SRSHARD1"  # engine, sessions (before scripting): still read
# Per version: the header's layout (magic, clock, then the size of each section).
_LAYOUTS = {
    SNAPSHOT_MAGIC: ">8sqQQQQQQ",
    _SNAPSHOT_MAGIC_V4: ">8sqQQQQQ",
    _SNAPSHOT_MAGIC_V3: ">8sqQQQQ",
    _SNAPSHOT_MAGIC_V2: ">8sqQQQ",
    _SNAPSHOT_MAGIC_V1: ">8sqQQ",
}
ENCODED_OK = resp.encode(resp.OK)
# Plain SETs are cheap: a pause is offered after every 256 of them (after every other
# command at once).
PLAIN_SETS_PER_STEP_MASK = 255
STALE_REPLY = resp.encode(resp.Error(b"ERR request was already answered (stale retry)"))
MALFORMED_REPLY = resp.encode(resp.Error(b"ERR malformed log entry: request not applied"))

log = logging.getLogger("slotraft.shard")


@dataclass(slots=True)
class RequestResult:
    """The outcome of one request, in the order of the entry's requests."""

    replies: list[bytes] | None = None  # encoded replies; None while blocked
    blocked: WouldBlock | None = None
    # (command index, reason, object) of the redis.call its scripts were refused.
    denials: list[tuple[int, int, bytes]] | None = None


@dataclass(slots=True)
class EntryResult:
    results: list[RequestResult] = field(default_factory=list)
    changed_keys: set[bytes] = field(default_factory=set)
    # The keys changed by the requests apply_steps was asked to keep apart (by position);
    # changed_keys holds them too, and `shared_keys` those of every other request and of
    # housekeeping (None when none was asked).
    changed_by: dict[int, set[bytes]] = field(default_factory=dict)
    shared_keys: set[bytes] | None = None
    # Expired/evicted proposals: keys of key space 0, (key space id, key) of the others.
    housekeeping_keys: list[bytes | tuple[int, bytes]] = field(default_factory=list)
    settings_changed: bool = False  # a settings entry applied
    # A database map entry changed the map or the fence (node/db_swaps.py): parked
    # requests must be proposed again.
    databases_changed: bool = False
    slot_result: SlotResult | None = None  # a slot entry applied (node/slot_entries.py)


class EntryRandom(random.Random):
    """The entry's random source, seeded only when a command first draws from it: seeding a
    Mersenne Twister costs about 5 µs, paid by every replica for every entry, and most
    entries (SET, INCR, ...) never draw. The draws are those of random.Random(seed): every
    method of Random is built on random() and getrandbits(), which delegate here."""

    def __init__(self, seed: int) -> None:  # no super().__init__: that would seed
        self._seed = seed
        self._seeded: random.Random | None = None
        self.gauss_next = None

    def _source(self) -> random.Random:
        if self._seeded is None:
            self._seeded = random.Random(self._seed)
        return self._seeded

    def random(self) -> float:
        return self._source().random()

    def getrandbits(self, k: int) -> int:
        return self._source().getrandbits(k)

    def seed(self, *args: object, **kwargs: object) -> None:
        raise TypeError("an entry's random source is fixed by the entry")

    def getstate(self) -> tuple:
        return self._source().getstate()

    def setstate(self, state: tuple) -> None:
        raise TypeError("an entry's random source is fixed by the entry")


class ShardState:
    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or Engine()
        self.sessions = SessionTable()
        # The engine's clock: entry timestamps, never going backwards across leaders.
        self.clock_ms = 0
        # The engine's settings: the node's start-up values, with the replicated ones of
        # the last settings entry (Redis's names, canonical values) on top.
        self.base_config = dataclasses.replace(self.engine.config)
        self.settings: dict[str, str] = {}
        # The slots this shard serves (node/slot_entries.py): changed by slot moves.
        self.slots = SlotOwnership()

    def apply_settings(self, settings: dict[str, str]) -> None:
        """Adopt the replicated engine settings (a settings entry, a snapshot)."""
        engine = self.engine
        policy = engine.config.maxmemory_policy
        self.settings = dict(settings)
        configure(engine.config, self.base_config, self.settings)
        if engine.config.maxmemory_policy != policy:
            engine.install_evictors()  # the access tracker the new policy needs

    def apply(self, data: bytes) -> EntryResult:
        """Apply one entry at once (what `apply_steps` does, without pausing)."""
        steps = self.apply_steps(data)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    def apply_steps(
        self, data: bytes, apart: Container[int] = ()
    ) -> Generator[None, None, EntryResult]:
        """Apply one entry, pausing (yielding) between its commands, never inside one (nor
        inside a transaction or a script): an entry of many heavy commands must not hold the
        node's event loop, and with it Raft's heartbeats, for their total time (node/
        replica.py drives it a slice at a time). The state between two steps is that of the
        entry's first commands applied: another reader may see it, nothing else may change
        it, so the result does not depend on where the pauses fell. The keys changed by the
        requests at the positions `apart` are also kept apart (EntryResult.changed_by:
        client tracking's NOLOOP, on the leader); the state is the same either way."""
        if is_slot_entry(data):
            return self._apply_slot_entry(data)
        try:
            entry = entry_codec.decode(data)
        except EntryFormatError as error:
            return self._malformed(data, error)
        now = self.clock_ms = max(self.clock_ms, entry.time_ms)
        if entry.settings is not None:
            self.apply_settings(
                {name.decode("latin-1"): value.decode("latin-1") for name, value in entry.settings}
            )
            self.sessions.sweep(now)
            return EntryResult(settings_changed=True)
        if entry.db_map is not None:
            return self._apply_db_map(entry.db_map)
        rng = EntryRandom(entry.seed)
        outcome = EntryResult()
        engine = self.engine
        changed = outcome.changed_keys
        for position, request in enumerate(entry.requests):
            target = changed
            if apart and position in apart:
                target = outcome.changed_by[position] = set()
            try:
                result = yield from self._apply_request(request, now, rng, target)
            except LOCAL_FAILURES:
                raise
            except Exception as error:
                target.update(engine.db.changed)
                result = self._request_failed(request, now, error)
            outcome.results.append(result)
            yield
        if entry.expire_keys:
            keys = list(entry.expire_keys)
            engine.apply_expire(keys, now)
            changed.update(engine.changed_keys)
            outcome.housekeeping_keys.extend(keys)
        if entry.evict_keys:
            keys = list(entry.evict_keys)
            engine.db.now_ms = now  # a removed key's stale value is kept from then
            engine.apply_evict(keys)
            changed.update(engine.changed_keys)
            outcome.housekeeping_keys.extend(keys)
        if entry.other_spaces:
            self._other_spaces_housekeeping(entry.other_spaces, now, outcome)
        self.sessions.sweep(now)
        if outcome.changed_by:
            outcome.shared_keys = set(changed)
            for apart_keys in outcome.changed_by.values():
                changed.update(apart_keys)
        if self.slots.tracking is not None:  # a range being copied: what changed in it
            self.slots.note_changed(changed)
        if engine.db.index:
            engine.select(0)
        return outcome

    def _other_spaces_housekeeping(
        self,
        other_spaces: list[tuple[int, list[bytes], list[bytes]]],
        now: int,
        outcome: EntryResult,
    ) -> None:
        """Expiry and eviction in the key spaces other than 0 (by key space id)."""
        engine = self.engine
        for space_id, expire_keys, evict_keys in other_spaces:
            if expire_keys:
                engine.apply_expire(list(expire_keys), now, space_id)
                outcome.changed_keys.update(engine.changed_keys)
            if evict_keys:
                engine.databases.space(space_id).now_ms = now
                engine.apply_evict(list(evict_keys), space_id)
                outcome.changed_keys.update(engine.changed_keys)
            outcome.housekeeping_keys += [(space_id, key) for key in (*expire_keys, *evict_keys)]
        engine.select(0)

    def _apply_db_map(self, step: entry_codec.DbMapStep) -> EntryResult:
        """A cluster SWAPDB's step (node/db_swaps.py): the map of a finished swap and the
        fence of the one in progress. Parked requests of any database are proposed again:
        a swapped database's waiters must look at their keys' new values."""
        databases = self.engine.databases
        before = (databases.map_epoch, databases.fence_epoch, databases.fenced)
        databases.install_map(step.epoch, list(step.mapping), step.fence_epoch, step.fenced)
        self.engine.select(0)
        after = (databases.map_epoch, databases.fence_epoch, databases.fenced)
        return EntryResult(databases_changed=before != after)

    def _apply_slot_entry(self, data: bytes) -> EntryResult:
        try:
            entry = slot_entries.decode(data)
        except EntryFormatError as error:
            log.error("applying a malformed slot entry as a no-op: %s", error)
            return EntryResult(slot_result=SlotResult(refused=[b"malformed"]))
        now = self.clock_ms = max(self.clock_ms, entry.time_ms)
        result = apply_slot_entry(entry, self.slots, self.engine.databases, now)
        return EntryResult(slot_result=result)

    @staticmethod
    def _malformed(data: bytes, error: EntryFormatError) -> EntryResult:
        """A no-op whose requests (as many as can be counted) fail."""
        log.error("applying a malformed log entry as a no-op: %s", error)
        count = entry_codec.request_count(data)
        return EntryResult(results=[RequestResult(replies=[MALFORMED_REPLY]) for _ in range(count)])

    def _request_failed(self, request: Request, now: int, error: Exception) -> RequestResult:
        """The replies of a request that raised outside any one command (the engine turns
        a command's own exceptions into its reply): one error per command, or one for a
        transaction, recorded like any answer so that a retry gets the same one."""
        commands = request.commands
        name = commands[0][0] if commands and commands[0] else b""
        reply = resp.encode(resp.Error(internal_error(name, error)), request.resp3)
        encoded = [reply] if request.kind == entry_codec.TRANSACTION else [reply] * len(commands)
        self.engine.db.changed = []
        self.engine.scripting.denials = []  # of this request: not the next one's
        if request.sequence:
            self.sessions.record(request.client_id, request.sequence, request.acked, encoded, now)
        return RequestResult(replies=encoded)

    def _apply_request(
        self, request: Request, now: int, rng: random.Random, changed: set[bytes]
    ) -> Generator[None, None, RequestResult]:
        client_id, sequence, acked, kind, _, commands, _, _, database = request
        sessions = self.sessions
        if sequence:
            try:
                stored = sessions.lookup(client_id, sequence)
            except StaleRequest:
                return RequestResult(replies=[STALE_REPLY])
            if stored is not None:
                resolved = resolved_args(stored)
                if resolved is None:
                    return RequestResult(replies=stored)
                # A blocked read applied again: with the IDs its first application chose.
                commands = [apply_resolved(list(commands[0]), resolved)]
        engine = self.engine
        fenced = engine.databases.fenced
        if fenced and (
            fenced >> database & 1
            or (kind == entry_codec.TRANSACTION and any(map(_reaches_databases, commands)))
        ):
            # A SWAPDB of this database (or of one a transaction may SELECT, MOVE or COPY
            # into) is in progress (node/db_swaps.py): not run, and the router sends the
            # commands again, as for a slot being moved.
            moving = [MOVING_REPLY] * (1 if kind == entry_codec.TRANSACTION else len(commands))
            if sequence:
                sessions.record(client_id, sequence, acked, moving, now)
            return RequestResult(replies=moving)
        # The request's database (apply_steps selects database 0 again after the entry).
        if database != engine.db.index:
            engine.select(database)
        resp3, watches, caller = request.resp3, request.watches, request.caller
        slots = self.slots if self.slots.moved else None  # checked once slots moved
        scripting = engine.scripting  # its `denials` are taken after each command
        denials: list[tuple[int, int, bytes]] = []
        if kind == entry_codec.TRANSACTION:
            if slots is not None and not all(map(slots.owns_keys, commands)):
                if sequence:
                    sessions.record(client_id, sequence, acked, [MOVING_REPLY], now)
                return RequestResult(replies=[MOVING_REPLY])
            scripting.caller = caller
            replies = engine.execute_transaction(commands, now, rng, watches or None)
            if scripting.denials:
                denials = [(0, reason, obj) for reason, obj in scripting.denials]
                scripting.denials = []
            changed.update(engine.changed_keys)
            engine.db.changed = []  # taken: a later command that changes nothing adds none
            encoded = [resp.encode(resp.NULL_ARRAY if replies is None else replies, resp3)]
        else:
            encoded = []
            append = encoded.append
            execute = engine.execute
            config = engine.config
            db = engine.db  # its `changed`: the keys the last command modified
            # What engine.execute sets up for each command, once: the same for the whole
            # entry (and again after a pause: a read may have run meanwhile).
            db.now_ms = now
            db.rng = rng
            db.mutating = True
            plain_sets = 0
            # Settings change only between entries: whether SETs notify holds for this one.
            notifying = bool(config.notify_keyspace_events)
            fenced = engine.databases.fenced
            for args in commands:
                if slots is not None and not slots.owns_keys(args):
                    append(MOVING_REPLY)  # the router retries it on the slot's new shard
                    continue
                if fenced and _reaches_databases(args):
                    append(MOVING_REPLY)  # may write a database a swap has fenced
                    continue
                if is_plain_set(args, config):
                    # The most frequent write, stored here: the effect of engine.execute's
                    # own shortcut, without the call and the per-command set-up.
                    key = args[1]
                    db.set(key, args[2])
                    if notifying:
                        db.notify("$", b"set", key)
                    changed.add(key)
                    append(ENCODED_OK)
                    plain_sets += 1
                    if plain_sets & PLAIN_SETS_PER_STEP_MASK:
                        continue
                else:
                    db.changed = []  # a command refused before it runs leaves it as it is
                    # Whose rules a script checks (a read may have run since the last one).
                    scripting.caller = caller
                    reply = execute(args, now, rng)
                    if scripting.denials:
                        position = len(encoded)
                        denials += [(position, r, obj) for r, obj in scripting.denials]
                        scripting.denials = []
                    if db.changed:
                        changed.update(db.changed)
                    if type(reply) is WouldBlock:
                        if len(commands) > 1:
                            # Only a request holding the blocking command alone may park
                            # (the router sends them alone); in a batch it answers as timed
                            # out.
                            reply = timeout_reply(args)
                        else:
                            # Nothing changed; the leader parks the request and proposes it
                            # again when one of its keys changes. Not recorded (the retry
                            # must execute), unless the command resolved arguments that
                            # the retry must reuse (node/resolved_reads.py).
                            if reply.resolved is not None and sequence:
                                record = record_of(reply.resolved)
                                sessions.record(client_id, sequence, acked, record, now)
                            else:
                                sessions.touch(client_id, acked, now)
                            return RequestResult(blocked=reply)
                    append(resp.encode(reply, resp3))
                db.changed = []
                yield  # between two commands: the driver may pause here
                db.now_ms = now
                db.rng = rng
                db.mutating = True
            db.changed = []  # the shortcut's keys are in `changed` already
        if sequence:
            sessions.record(client_id, sequence, acked, encoded, now)
        return RequestResult(replies=encoded, denials=denials or None)

    # ------------------------------------------------------------------ snapshots

    def digest(self) -> bytes:
        """A digest of the whole replicated state: the keys as they are at the shard's
        clock, the sessions, the script cache, the function libraries and the clock.
        Replicas that applied the same
        entries (from a snapshot or not) have the same digest. O(keys): for checks."""
        databases = self.engine.databases
        db = databases.spaces[0]
        db.now_ms = self.clock_ms
        hasher = hashlib.blake2b(digest_size=16)
        hasher.update(struct.pack(">q", self.clock_ms))
        hasher.update(keyspace_digest(db))
        if not databases.is_plain():
            hasher.update(bytes(databases.mapping))
            hasher.update(
                struct.pack(">QQH", databases.map_epoch, databases.fence_epoch, databases.fenced)
            )
            for space_id in sorted(databases.spaces):
                if space_id:
                    space = databases.spaces[space_id]
                    space.now_ms = self.clock_ms
                    hasher.update(bytes((space_id,)) + keyspace_digest(space))
                    space_leases = space.leases.to_bytes()
                    if space_leases:
                        hasher.update(hashlib.blake2b(space_leases).digest())
        hasher.update(hashlib.blake2b(self.sessions.to_bytes()).digest())
        hasher.update(hashlib.blake2b(self.engine.scripting.to_bytes()).digest())
        hasher.update(hashlib.blake2b(self.engine.scripting.functions.to_bytes()).digest())
        if self.settings:
            hasher.update(hashlib.blake2b(_settings_bytes(self.settings)).digest())
        slot_bytes = self.slots.to_bytes()
        if slot_bytes:
            hasher.update(hashlib.blake2b(slot_bytes).digest())
        lease_bytes = db.leases.to_bytes()
        if lease_bytes:
            hasher.update(hashlib.blake2b(lease_bytes).digest())
        return hasher.digest()

    def snapshot(self) -> bytes:
        engine_bytes = self.engine.snapshot()
        session_bytes = self.sessions.to_bytes()
        script_bytes = self.engine.scripting.to_bytes()
        function_bytes = self.engine.scripting.functions.to_bytes()
        sections = [engine_bytes, session_bytes, script_bytes, function_bytes]
        # Without replicated settings, the layout before them: a node of the previous
        # version can still read it.
        magic = _SNAPSHOT_MAGIC_V3
        slot_bytes = self.slots.to_bytes()
        if self.settings or slot_bytes:
            magic = _SNAPSHOT_MAGIC_V4
            sections.append(_settings_bytes(self.settings))
        if slot_bytes:
            magic = SNAPSHOT_MAGIC
            sections.append(slot_bytes)
        header = struct.pack(
            _LAYOUTS[magic], magic, self.clock_ms, *(len(section) for section in sections)
        )
        return b"".join((header, *sections))

    def restore(self, data: bytes) -> None:
        magic = bytes(data[:8])
        layout = _LAYOUTS.get(magic)
        if layout is None:
            raise ValueError(f"not a shard snapshot (magic {magic!r})")
        header_size = struct.calcsize(layout)
        if len(data) < header_size:
            raise ValueError("shard snapshot is truncated (no header)")
        _, clock, engine_size, session_size, *rest = struct.unpack_from(layout, data)
        script_size, function_size, settings_size, slots_size = (*rest, 0, 0, 0, 0)[:4]
        sizes = engine_size + session_size + script_size + function_size + settings_size
        sizes += slots_size
        if header_size + sizes != len(data):
            raise ValueError("shard snapshot is truncated or has trailing bytes")
        sessions_at = header_size + engine_size
        scripts_at = sessions_at + session_size
        functions_at = scripts_at + script_size
        settings_at = functions_at + function_size
        # The settings first: restoring the engine converts containers by its thresholds.
        slots_at = settings_at + settings_size
        self.apply_settings(_settings_from(data[settings_at:slots_at]))
        self.slots.restore(bytes(data[slots_at:]))
        scripting = self.engine.scripting
        self.engine.restore(data[header_size:sessions_at])
        self.sessions = SessionTable.from_bytes(data[sessions_at:scripts_at])
        if script_size:
            scripting.restore(data[scripts_at:functions_at])
        else:
            scripting.flush()
        if function_size:
            scripting.functions.restore(data[functions_at:settings_at])
        else:
            scripting.functions.flush()
        self.clock_ms = clock


# SELECT (in a transaction), MOVE, COPY ... DB, and scripts, which may SELECT.
_OTHER_DATABASE_COMMANDS = frozenset(
    {
        b"select",
        b"move",
        b"copy",
        b"eval",
        b"evalsha",
        b"fcall",
        b"eval_ro",
        b"evalsha_ro",
        b"fcall_ro",
    }
)


def _reaches_databases(args: list[bytes]) -> bool:
    """Whether a command may act on a database other than its request's (SELECT in a
    transaction or a script, MOVE, COPY ... DB): while a swap is in progress it waits as
    if fenced."""
    return bool(args) and args[0].lower() in _OTHER_DATABASE_COMMANDS


def _settings_bytes(settings: dict[str, str]) -> bytes:
    """Settings as a snapshot holds them: a count, then each name and value with its
    length, sorted by name."""
    parts = [struct.pack(">I", len(settings))]
    for name, value in sorted(settings.items()):
        for text in (name, value):
            encoded = text.encode("latin-1")
            parts.append(struct.pack(">I", len(encoded)))
            parts.append(encoded)
    return b"".join(parts)


def _settings_from(data: bytes) -> dict[str, str]:
    if not data:
        return {}
    view = memoryview(data)
    (count,) = struct.unpack_from(">I", view)
    position = 4
    settings = {}
    for _ in range(count):
        texts = []
        for _ in range(2):
            if position + 4 > len(view):
                raise ValueError("shard snapshot's settings are truncated")
            (size,) = struct.unpack_from(">I", view, position)
            position += 4
            if position + size > len(view):
                raise ValueError("shard snapshot's settings are truncated")
            texts.append(bytes(view[position : position + size]).decode("latin-1"))
            position += size
        settings[texts[0]] = texts[1]
    if position != len(view):
        raise ValueError("shard snapshot's settings have trailing bytes")
    return settings
