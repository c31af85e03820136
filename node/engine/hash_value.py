"""The hash container: field -> value, with Redis 7.0's encoding rules and a memory estimate.

Fields keep their insertion order (a dict), so every replica that applied the same log
iterates, scans and draws random fields identically, and a snapshot restores that order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from node.engine.config import EngineConfig
from node.engine.keyspace import Container
from node.engine.scan import ScanIndex

# Estimated bytes besides the field and value bytes: the robj and the table header,
# then per pair an average of what the encodings spend (listpack headers, dictEntry and
# sds headers). Constants, so every replica computes the same `mem`.
HASH_OVERHEAD = 48
# One cost per pair whatever the encoding: the encoding depends on history (conversions are
# sticky, a snapshot reload re-derives it), and `mem` must depend only on the data.
PAIR_OVERHEAD = 24


class HashValue(Container):
    """A Redis hash. All changes go through `set` and `delete`, which keep the byte count
    behind `mem`, the encoding and the scan index right."""

    __slots__ = ("_config", "_content_bytes", "_fields", "_hashtable", "_scan_index")
    TYPE_NAME = b"hash"

    def __init__(self, config: EngineConfig) -> None:
        super().__init__()
        self._config = config
        self._fields: dict[bytes, bytes] = {}
        self._content_bytes = 0  # sum of len(field) + len(value)
        self._hashtable = False  # Redis converts listpack -> hashtable once, never back
        self._scan_index: ScanIndex | None = None  # built by the first HSCAN that needs it

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, field: bytes) -> bool:
        return field in self._fields

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._fields)

    def get(self, field: bytes) -> bytes | None:
        return self._fields.get(field)

    def fields(self) -> list[bytes]:
        return list(self._fields)

    def values(self) -> list[bytes]:
        return list(self._fields.values())

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        return self._fields.items()

    def field_at(self, position: int) -> bytes:
        """The field at `position` in insertion order (O(n): for random draws)."""
        for index, field in enumerate(self._fields):
            if index == position:
                return field
        raise IndexError(position)

    @property
    def mem(self) -> int:
        return HASH_OVERHEAD + self._content_bytes + PAIR_OVERHEAD * len(self._fields)

    def encoding(self) -> bytes:
        return b"hashtable" if self._hashtable else b"listpack"

    @property
    def is_listpack(self) -> bool:
        return not self._hashtable

    def scan_index(self) -> ScanIndex:
        """The fields in HSCAN order, kept up to date from now on (a derived cache: it
        changes no reply and is not part of `mem`)."""
        if self._scan_index is None:
            self._scan_index = ScanIndex(self._fields)
        return self._scan_index

    # ------------------------------------------------------------------ writing

    def set(self, field: bytes, value: bytes) -> bool:
        """Store a field's value; True when the field is new."""
        fields = self._fields
        old = fields.get(field)
        limit = self._config.hash_max_listpack_value
        if not self._hashtable and (len(field) > limit or len(value) > limit):
            self._hashtable = True
        fields[field] = value
        if old is None:
            self._content_bytes += len(field) + len(value)
            if len(fields) > self._config.hash_max_listpack_entries:
                self._hashtable = True
            if self._scan_index is not None:
                self._scan_index.add(field)
            return True
        self._content_bytes += len(value) - len(old)
        return False

    def delete(self, field: bytes) -> bool:
        value = self._fields.pop(field, None)
        if value is None:
            return False
        self._content_bytes -= len(field) + len(value)
        if self._scan_index is not None:
            self._scan_index.discard(field)
        return True

    # ------------------------------------------------------------------ whole value

    def copy(self) -> HashValue:
        duplicate = HashValue(self._config)
        duplicate._fields = dict(self._fields)
        duplicate._content_bytes = self._content_bytes
        duplicate._hashtable = self._hashtable
        return duplicate

    def snapshot_items(self) -> list[tuple[bytes, bytes]]:
        return list(self._fields.items())

    @classmethod
    def from_snapshot_items(
        cls,
        config: EngineConfig,
        items: Iterable[tuple[bytes, bytes]],
        encoding: bytes | None = None,
    ) -> HashValue:
        """A hash holding `items` in order: a hashtable if `encoding` (the original's, kept
        by the snapshot) says so, else encoded as Redis encodes a hash it loads (a listpack
        when it fits the limits). Duplicate fields are refused."""
        value = cls(config)
        value._hashtable = encoding == b"hashtable"
        for field, field_value in items:
            if not value.set(bytes(field), bytes(field_value)):
                raise ValueError(f"duplicate hash field {bytes(field)!r}")
        return value
