"""The list container: a deque of elements with a memory estimate (Redis 7.0: quicklist)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice

from node.engine.config import EngineConfig
from node.engine.keyspace import Container

# Estimated bytes besides the element bytes: the robj, quicklist and first node headers,
# and per element a listpack entry header and back-length. Constants, so every replica
# computes the same `mem`.
LIST_OVERHEAD = 48
ELEMENT_OVERHEAD = 4


class ListValue(Container):
    """A Redis list. All changes go through the methods below, which keep the byte count
    behind `mem` right. Indexes given to them are already normalized (0 <= index < len)."""

    __slots__ = ("_content_bytes", "_items")
    TYPE_NAME = b"list"

    def __init__(self, elements: Iterable[bytes] = ()) -> None:
        super().__init__()
        self._items: deque[bytes] = deque(elements)
        self._content_bytes = sum(map(len, self._items))

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[bytes]:
        return reversed(self._items)

    def at(self, index: int) -> bytes:
        return self._items[index]  # a deque walks from the nearer end

    def range(self, start: int, stop: int) -> list[bytes]:
        """Elements start..stop inclusive, walking from the nearer end."""
        items = self._items
        last = len(items) - 1
        if start <= last - stop:
            return list(islice(items, start, stop + 1))
        chunk = list(islice(reversed(items), last - stop, last - start + 1))
        chunk.reverse()
        return chunk

    @property
    def mem(self) -> int:
        return LIST_OVERHEAD + self._content_bytes + ELEMENT_OVERHEAD * len(self._items)

    def encoding(self) -> bytes:
        return b"quicklist"  # Redis 7.0 uses a quicklist for every list

    # ------------------------------------------------------------------ writing

    def push(self, elements: Iterable[bytes], left: bool) -> int:
        """Push each element in turn at the head (left) or tail; returns the new length."""
        items = self._items
        added = 0
        if left:
            for element in elements:
                items.appendleft(element)
                added += len(element)
        else:
            for element in elements:
                items.append(element)
                added += len(element)
        self._content_bytes += added
        return len(items)

    def pop(self, left: bool) -> bytes:
        element = self._items.popleft() if left else self._items.pop()
        self._content_bytes -= len(element)
        return element

    def pop_many(self, count: int, left: bool) -> list[bytes]:
        """Up to `count` elements from the head (left) or tail, in popping order."""
        take = self._items.popleft if left else self._items.pop
        popped = [take() for _ in range(min(count, len(self._items)))]
        self._content_bytes -= sum(map(len, popped))
        return popped

    def replace_at(self, index: int, element: bytes) -> None:
        old = self._items[index]
        self._items[index] = element
        self._content_bytes += len(element) - len(old)

    def trim(self, start: int, stop: int) -> None:
        """Keep elements start..stop inclusive (start <= stop)."""
        items = self._items
        removed = 0
        for _ in range(start):
            removed += len(items.popleft())
        for _ in range(len(items) - (stop - start + 1)):
            removed += len(items.pop())
        self._content_bytes -= removed

    def clear(self) -> None:
        self._items = deque()
        self._content_bytes = 0

    def remove(self, element: bytes, count: int) -> int:
        """LREM: drop up to `count` occurrences from the head (count > 0), from the tail
        (count < 0) or all of them (0). Returns how many went."""
        items = self._items
        limit = abs(count) if count else len(items)
        walk = reversed(items) if count < 0 else iter(items)
        kept: list[bytes] = []
        removed = 0
        for item in walk:
            if removed < limit and item == element:
                removed += 1
            else:
                kept.append(item)
        if removed:
            if count < 0:
                kept.reverse()
            self._items = deque(kept)
            self._content_bytes -= removed * len(element)
        return removed

    def insert(self, pivot: bytes, element: bytes, after: bool) -> bool:
        """LINSERT: put `element` before or after the first `pivot`; False if none."""
        try:
            index = self._items.index(pivot)
        except ValueError:
            return False
        self._items.insert(index + 1 if after else index, element)
        self._content_bytes += len(element)
        return True

    # ------------------------------------------------------------------ whole value

    def copy(self) -> ListValue:
        duplicate = ListValue()
        duplicate._items = self._items.copy()
        duplicate._content_bytes = self._content_bytes
        return duplicate

    def snapshot_items(self) -> list[bytes]:
        return list(self._items)

    @classmethod
    def from_snapshot_items(
        cls, config: EngineConfig, items: Iterable[bytes], encoding: bytes | None = None
    ) -> ListValue:
        """Lists have one encoding in Redis 7.0 ("quicklist"): `encoding` changes nothing."""
        return cls(items)
