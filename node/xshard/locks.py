"""Per-key locks of one shard: shared (read) or exclusive (write), owned by transactions."""

from __future__ import annotations

from proto.xshard_messages import Mode, TxnId


class LockTable:
    """Who holds each locked key. A key is held exclusively by one transaction or shared by
    several; a transaction may take its own lock again (re-entrant, upgrading if alone)."""

    __slots__ = ("_exclusive", "_shared")

    def __init__(self) -> None:
        self._exclusive: dict[bytes, TxnId] = {}
        self._shared: dict[bytes, set[TxnId]] = {}

    def __len__(self) -> int:
        return len(self._exclusive) + len(self._shared)

    def can_take(self, txn: TxnId, key: bytes, mode: Mode) -> bool:
        owner = self._exclusive.get(key)
        if owner is not None:
            return owner == txn
        if mode is Mode.READ:
            return True
        readers = self._shared.get(key)
        return readers is None or readers == {txn}

    def take(self, txn: TxnId, key: bytes, mode: Mode) -> None:
        """Take a lock `can_take` allowed."""
        if self._exclusive.get(key) == txn:
            return
        if mode is Mode.WRITE:
            self._shared.pop(key, None)
            self._exclusive[key] = txn
        else:
            self._shared.setdefault(key, set()).add(txn)

    def release(self, txn: TxnId, key: bytes) -> None:
        if self._exclusive.get(key) == txn:
            del self._exclusive[key]
        readers = self._shared.get(key)
        if readers is not None:
            readers.discard(txn)
            if not readers:
                del self._shared[key]

    def blocks(self, key: bytes, write: bool) -> bool:
        """Whether a plain (single-shard) command may not touch `key` now."""
        if key in self._exclusive:
            return True
        return write and key in self._shared

    def held(self) -> list[bytes]:
        return sorted([*self._exclusive, *self._shared])
