"""A shard's side of a slot move: which slots the shard serves, and the log entries that
change it and carry keys (docs/DESIGN.md, "Moving slots").

A slot entry is applied by every replica of the shard at its point of the log:

- FENCE (source): the shard stops serving the range; its keys stay, frozen, to be copied;
- CLEAR (target): keys of the range that the shard does not serve go (left by an earlier
  move or an interrupted copy);
- IMPORT (target): keys with their values (DUMP payloads) and absolute expiry times, for
  slots of the range the shard does not serve yet;
- ACTIVATE (target): the shard serves the range;
- DROP (source, or target before ACTIVATE): the named keys go, if their slots are ones
  the shard does not serve;
- TRACK (source, before FENCE): from here on the shard notes the keys of the range that
  entries change (the "dirty" keys), while the range is copied the first time, unfenced;
  after the fence only those are copied again. A DROP of the range ends the tracking.

A command touching a key of a slot the shard does not serve is answered SLOT_MOVING (and
the answer is recorded in the session table like any other): the router retries it on the
shard the map names once the map has changed. IMPORT and DROP never touch served slots, so
an entry re-driven after the move finished cannot overwrite newer writes.

Every database moves: a key keeps its slot in each of them, so the range's keys of all
the key spaces (node/engine/databases.py) are on the source. CLEAR acts in every key
space; an IMPORT or DROP item names its key space by id (the map's database index never
appears: moves and SWAPDB exclude each other, so both shards have the same map). An item
of key space 0 keeps the four fields entries had before databases existed, so those still
apply; the others have a fifth, the key space id.

The encoding is that of node/entry_codec.py (a version byte, then `marshal` of plain
values), validated the same way: a malformed entry applies as a no-op.
"""

from __future__ import annotations

import bisect
import marshal
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from node.engine.databases import DATABASES, Databases
from node.engine.errors import LOCAL_FAILURES
from node.engine.keyspace import Keyspace
from node.engine.t_dump import restore_value, serialize
from node.entry_codec import EntryFormatError, counts_fit
from proto import resp
from proto.commands import lookup
from proto.errors import SLOT_MOVING
from proto.rdb import values as rdb
from proto.slots import SLOT_COUNT, key_slot

SLOT_ENTRY_VERSION = 3
_MARSHAL_VERSION = 4
MAX_ENTRY_BYTES = 64 << 20  # a chunk of keys is far smaller (slotraft/ctl_slots.py)
MAX_ITEMS = 1 << 20

FENCE, CLEAR, IMPORT, ACTIVATE, DROP, TRACK = range(6)
OP_NAMES = {
    "fence": FENCE,
    "clear": CLEAR,
    "import": IMPORT,
    "activate": ACTIVATE,
    "drop": DROP,
    "track": TRACK,
}
MOVING_REPLY = resp.encode(resp.Error(SLOT_MOVING))
# How an IMPORT item holds its value: a string as it is (the usual cache value: no RDB
# encoding, no LZF, which costs about a millisecond per kilobyte in Python), any other
# type as its DUMP payload.
STRING, DUMP = 0, 1
ABSENT = 2  # a key the source no longer has (changed after TRACK): it goes from the target
# An ABSENT item's key space that means every one: TRACK notes bare key names (an entry's
# changed keys do not say their database), so a dirty key goes from all of the target's key
# spaces, then the source's records of it follow. Naming only the source's key spaces would
# not do: FLUSHALL drops emptied key spaces (Databases.drop_empty), whose keys the first
# copy may have brought to the target.
ALL_SPACES = DATABASES

# An item: (key, kind, data, expires_at) in key space 0, (key, kind, data, expires_at,
# key space id) in key space 1-15 (or ALL_SPACES, ABSENT only).
Item = tuple[bytes, int, bytes, int] | tuple[bytes, int, bytes, int, int]


class SlotEntry(NamedTuple):
    time_ms: int
    op: int
    move_id: bytes
    first: int
    last: int
    # IMPORT: (key, STRING or DUMP, the string or DUMP payload, absolute expiry in ms or
    # -1), or (key, ABSENT, b"", -1); DROP: (key, STRING, b"", -1). A fifth field names a
    # key space other than 0 (Item).
    items: list[Item]


def is_slot_entry(data: bytes) -> bool:
    return bool(data) and data[0] == SLOT_ENTRY_VERSION


def encode(entry: SlotEntry) -> bytes:
    return bytes((SLOT_ENTRY_VERSION,)) + marshal.dumps(tuple(entry), _MARSHAL_VERSION)


def decode(data: bytes) -> SlotEntry:
    body = data[1:]
    if not is_slot_entry(data) or len(body) > MAX_ENTRY_BYTES or not counts_fit(body):
        raise EntryFormatError("malformed slot entry")
    try:
        fields = marshal.loads(body)
    except (ValueError, TypeError, EOFError) as error:
        raise EntryFormatError(f"malformed slot entry: {error}") from None
    if not (type(fields) is tuple and len(fields) == 6):
        raise EntryFormatError("malformed slot entry")
    time_ms, op, move_id, first, last, items = fields
    if not (
        type(time_ms) is int
        and 0 <= time_ms < 1 << 63
        and type(op) is int
        and FENCE <= op <= TRACK
        and type(move_id) is bytes
        and len(move_id) <= 64
        and type(first) is int
        and type(last) is int
        and 0 <= first <= last < SLOT_COUNT
        and type(items) is list
        and len(items) <= MAX_ITEMS
        and all(_is_item(item) for item in items)
    ):
        raise EntryFormatError("malformed slot entry")
    return SlotEntry(time_ms, op, move_id, first, last, items)


def _is_item(item: Any) -> bool:
    if type(item) is not tuple:
        return False
    if len(item) == 5:
        # Key space 0 has only the four-field form: one encoding per item.
        space = item[4]
        if not (
            type(space) is int
            and (0 < space < DATABASES or (space == ALL_SPACES and item[1] == ABSENT))
        ):
            return False
    elif len(item) != 4:
        return False
    return (
        type(item[0]) is bytes
        and item[1] in (STRING, DUMP, ABSENT)
        and type(item[1]) is int
        and type(item[2]) is bytes
        and type(item[3]) is int
        and -1 <= item[3] < 1 << 63
    )


class SlotOwnership:
    """The slots a shard serves: its placement's at first, then as slot entries change
    them. Replicated state (in the shard's snapshots once a move touched it)."""

    def __init__(self) -> None:
        self.initial: tuple[tuple[int, int], ...] = ((0, SLOT_COUNT - 1),)
        self.served = bytearray(b"\x01") * SLOT_COUNT
        self.moved = False  # a slot entry changed it: commands are checked
        # TRACK's range, and the keys of it that entries changed since (node/slot_entries.py).
        self.tracking: tuple[int, int] | None = None
        self.dirty: set[bytes] = set()

    def start(self, ranges: tuple[tuple[int, int], ...]) -> None:
        """The placement's slots (before any entry applies, and after a snapshot taken
        before any move restores)."""
        self.initial = ranges
        self.served = bytearray(SLOT_COUNT)
        for first, last in ranges:
            self.served[first : last + 1] = b"\x01" * (last - first + 1)
        self.moved = False
        self.tracking = None
        self.dirty = set()

    def owns(self, slot: int) -> bool:
        return bool(self.served[slot])

    def set_range(self, first: int, last: int, served: bool) -> None:
        self.served[first : last + 1] = (b"\x01" if served else b"\x00") * (last - first + 1)
        self.moved = True

    def owns_keys(self, args: list[bytes]) -> bool:
        """Whether every key of the command is in a served slot (unknown commands: yes,
        the engine answers them)."""
        spec = lookup(bytes(args[0])) if args else None
        if spec is None:
            return True
        served = self.served
        return all(served[key_slot(key)] for key in spec.keys(args))

    def note_changed(self, keys: set[bytes]) -> None:
        """After each entry while a range is tracked: its keys that the entry changed."""
        assert self.tracking is not None
        first, last = self.tracking
        self.dirty.update(key for key in keys if first <= key_slot(key) <= last)

    def to_bytes(self) -> bytes:
        if not self.moved:
            return b""
        tail = marshal.dumps((self.tracking, sorted(self.dirty)), _MARSHAL_VERSION)
        return bytes(self.served) + tail

    def restore(self, data: bytes) -> None:
        if not data:
            self.start(self.initial)
            return
        served, tail = data[:SLOT_COUNT], data[SLOT_COUNT:]
        if len(served) != SLOT_COUNT or any(byte > 1 for byte in set(served)):
            raise ValueError("shard snapshot's slot section is malformed")
        try:
            tracking, dirty = marshal.loads(tail)
        except (ValueError, TypeError, EOFError) as error:
            raise ValueError(f"shard snapshot's slot section is malformed: {error}") from None
        self.served = bytearray(served)
        self.moved = True
        self.tracking = (tracking[0], tracking[1]) if tracking is not None else None
        self.dirty = set(dirty)

    def ranges(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        slot = 0
        served = self.served
        while slot < SLOT_COUNT:
            if served[slot]:
                start = slot
                while slot < SLOT_COUNT and served[slot]:
                    slot += 1
                out.append((start, slot - 1))
            slot += 1
        return out


@dataclass(slots=True)
class SlotResult:
    """What a slot entry did: keys written or removed, values refused (bad payloads)."""

    keys: int = 0
    refused: list[bytes] = field(default_factory=list)
    fenced: bool = False  # waiters on the range must be woken (they now get SLOT_MOVING)


def item_space(item: Item) -> int:
    """The key space id an item names (0 for a four-field item)."""
    return item[4] if len(item) == 5 else 0


def make_item(space_id: int, key: bytes, kind: int, data: bytes, expires_at: int) -> Item:
    """An item of key space `space_id`: four fields for key space 0 (the form entries had
    before databases existed), five for the others."""
    if space_id:
        return key, kind, data, expires_at, space_id
    return key, kind, data, expires_at


def _spaces_named(databases: Databases, item: Item) -> list[Keyspace]:
    """The existing key spaces an ABSENT or DROP item acts in: removing a key never makes a
    key space (an empty one would only grow the snapshots)."""
    space_id = item_space(item)
    if space_id == ALL_SPACES:
        return [databases.spaces[known] for known in sorted(databases.spaces)]
    db = databases.spaces.get(space_id)
    return [db] if db is not None else []


def apply_slot_entry(
    entry: SlotEntry, ownership: SlotOwnership, databases: Databases | Keyspace, now_ms: int
) -> SlotResult:
    """Apply one slot entry to the shard's key spaces; total (a bad payload is counted, not
    raised). `databases` is the engine's Databases; a Keyspace (the call made before
    databases existed) stands for the Databases it belongs to."""
    if isinstance(databases, Keyspace):
        databases = databases.databases
    assert isinstance(databases, Databases)
    spaces = databases.spaces
    result = SlotResult()
    first, last = entry.first, entry.last
    if entry.op == FENCE:
        ownership.set_range(first, last, False)
        result.fenced = True
    elif entry.op == ACTIVATE:
        ownership.set_range(first, last, True)
    elif entry.op == CLEAR:
        served = ownership.served
        for space_id in sorted(spaces):
            db = spaces[space_id]
            doomed = [
                key
                for key in db.data
                if first <= (slot := key_slot(key)) <= last and not served[slot]
            ]
            for key in doomed:
                db.delete(key)
            result.keys += len(doomed)
    elif entry.op == TRACK:
        ownership.tracking = (first, last)
        ownership.dirty = set()
        ownership.moved = True
    elif entry.op == DROP:
        for item in entry.items:
            key = item[0]
            slot = key_slot(key)
            if not first <= slot <= last or ownership.served[slot]:
                continue
            for db in _spaces_named(databases, item):
                if db.delete(key):
                    result.keys += 1
        if ownership.tracking == (first, last):
            ownership.tracking = None
            ownership.dirty = set()
    else:
        # The entry's time in every key space (a removed key's lease ends then); one made
        # below takes it too.
        for db in spaces.values():
            db.now_ms = now_ms
        for item in entry.items:
            key, kind, data, expires_at = item[:4]
            slot = key_slot(key)
            if not first <= slot <= last or ownership.served[slot]:
                continue
            if kind == ABSENT:
                for db in _spaces_named(databases, item):
                    result.keys += db.delete(key)
                continue
            db = databases.space(item_space(item))  # made on first use, as a write would
            db.now_ms = now_ms
            if _import(db, key, kind, data, expires_at):
                result.keys += 1
            else:
                result.refused.append(key)
    for db in spaces.values():
        db.changed = []
    spaces[0].take_events()  # a move is not a change of the data: no keyspace events
    return result


def _import(db: Keyspace, key: bytes, kind: int, data: bytes, expires_at: int) -> bool:
    value: Any = data
    if kind == DUMP:
        if not rdb.check_payload(data):
            return False
        try:
            value = restore_value(db, rdb.read_payload(data))
        except LOCAL_FAILURES:
            raise  # this process's resources: says nothing of the entry
        except Exception:  # a malformed payload, the same on every replica: refused
            return False
    db.delete(key)
    db.set(key, value)
    if expires_at >= 0:
        db.set_expire(key, expires_at)
    return True


def export_record(db: Keyspace, key: bytes, space_id: int = 0) -> Item | None:
    """One key of key space `space_id` (`db`) as an IMPORT item; None if the key is gone.
    Reads only (no work budget: the operator's copy is not a command)."""
    value = db.data.get(key)
    if value is None:
        return None
    expires_at = db.expires.get(key, -1)
    if type(value) is bytes or type(value) is bytearray:
        return make_item(space_id, key, STRING, bytes(value), expires_at)
    payload = rdb.wrap_payload(serialize(value, _no_charge))
    return make_item(space_id, key, DUMP, payload, expires_at)


def _no_charge(_amount: int) -> None:
    pass


# ---------------------------------------------------------------------- the export
#
# The source's leader reads a range's keys in chunks (node/slot_service.py SlotExport):
# every key space's keys of the range, by key space id then key, or the dirty key names.
# The position between two chunks is a cursor in the request's `after` bytes.

EXPORT_ALL, EXPORT_KEYS, EXPORT_DIRTY = 0, 1, 2  # records; names only (DROP); dirty keys
# Keys of one key space, sorted, by key space id (the dirty keys: one list, under id 0).
Listing = list[tuple[int, list[bytes]]]


def encode_cursor(space_id: int, key: bytes) -> bytes:
    """The position after `key` of key space `space_id`. A key of key space 0 is itself,
    as before databases existed, unless it is empty or starts with a byte below 16: those
    get a 0 byte in front, and a key of key space 1-15 gets its id, so the three read
    apart (and an empty key is not the empty cursor, which means the start)."""
    if space_id or not key or key[0] < DATABASES:
        return bytes((space_id,)) + key
    return key


def decode_cursor(after: bytes) -> tuple[int, bytes] | None:
    """(key space id, key) of a cursor; None for the start. (A cursor an older node made
    from a key of key space 0 starting with a byte below 16 reads as another key space's:
    the ctl's copy goes wrong only if the source's leadership passed between versions in
    the middle of a copy, during an upgrade.)"""
    if not after:
        return None
    if after[0] < DATABASES:
        return after[0], after[1:]
    return 0, after


def export_listing(
    databases: Databases, ownership: SlotOwnership, first: int, last: int, mode: int
) -> Listing:
    """What an export walks: the dirty key names (EXPORT_DIRTY), or the keys of the range
    in every key space. Per key space, not one list of (id, key) pairs: a range of
    millions of keys would cost a tuple each."""
    if mode == EXPORT_DIRTY:
        return [(0, sorted(ownership.dirty))]
    listing: Listing = []
    for space_id in sorted(databases.spaces):
        data = databases.spaces[space_id].data
        keys = sorted(key for key in data if first <= key_slot(key) <= last)
        if keys:
            listing.append((space_id, keys))
    return listing


@dataclass(slots=True)
class ExportChunk:
    items: list[Item]
    last_key: bytes  # the cursor after the chunk: the next request's `after`
    done: bool  # nothing after it


def export_chunk(
    databases: Databases, listing: Listing, after: bytes, mode: int, budget: int
) -> ExportChunk:
    """The items after cursor `after`, about `budget` bytes of them (at least one key's).
    A dirty key's items are never split between chunks: it goes from every key space of
    the target (ABSENT in ALL_SPACES), then each key space of the source that has it
    gives its record, and one IMPORT entry holds both."""
    segment, offset = _position(listing, after)
    spaces = databases.spaces
    items: list[Item] = []
    size = 0
    last_key = after
    while segment < len(listing) and (not items or size < budget):
        space_id, keys = listing[segment]
        if offset >= len(keys):
            segment, offset = segment + 1, 0
            continue
        key = keys[offset]
        offset += 1
        last_key = encode_cursor(space_id, key)
        if mode == EXPORT_DIRTY:
            items.append((key, ABSENT, b"", -1, ALL_SPACES))
            size += len(key) + 64
            for known in sorted(spaces):
                record = export_record(spaces[known], key, known)
                if record is not None:
                    items.append(record)
                    size += len(key) + len(record[2])
            continue
        db = spaces.get(space_id)
        if db is None or key not in db.data:  # gone since it was listed (expiry, FLUSHALL)
            continue
        if mode == EXPORT_KEYS:
            items.append(make_item(space_id, key, STRING, b"", -1))
            # Counted larger than the name: a DROP entry of one chunk deletes at most
            # about 16,000 keys of a megabyte's chunk at once.
            size += len(key) + 64
            continue
        record = export_record(db, key, space_id)
        if record is not None:
            items.append(record)
            size += len(key) + len(record[2])
    while segment < len(listing) and offset >= len(listing[segment][1]):
        segment, offset = segment + 1, 0
    return ExportChunk(items, last_key, segment >= len(listing))


def _position(listing: Listing, after: bytes) -> tuple[int, int]:
    """(segment, offset) of the first key after the cursor."""
    cursor = decode_cursor(after)
    if cursor is None:
        return 0, 0
    space_id, key = cursor
    segment = bisect.bisect_left([known for known, _ in listing], space_id)
    if segment < len(listing) and listing[segment][0] == space_id:
        return segment, bisect.bisect_right(listing[segment][1], key)
    return segment, 0  # that key space has no key listed: from the next one on
