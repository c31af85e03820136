"""The list container: a deque of elements with a memory estimate (Redis 7.0: quicklist),
and, for a list built by pushes and pops only, where Redis's quicklist splits it into
nodes (so that DUMP writes Redis's nodes: an LPUSHed list fills them from the tail)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice

from node.engine.config import EngineConfig
from node.engine.keyspace import Container
from proto.rdb.listpack import HEADER_SIZE, INTEGER_STARTS, entry_size

# list-max-listpack-size -2 (Redis's default): _quicklistNodeAllowInsert lets an element of
# n bytes into a node of listpack size s while s + n + 8 <= 8 KB.
_NODE_LIMIT = 8192
_SIZE_ESTIMATE_OVERHEAD = 8

# Estimated bytes besides the element bytes: the robj, quicklist and first node headers,
# and per element a listpack entry header and back-length. Constants, so every replica
# computes the same `mem`.
LIST_OVERHEAD = 48
ELEMENT_OVERHEAD = 4


class ListValue(Container):
    """A Redis list. All changes go through the methods below, which keep the byte count
    behind `mem` right. Indexes given to them are already normalized (0 <= index < len)."""

    __slots__ = ("_content_bytes", "_items", "_nodes")
    TYPE_NAME = b"list"

    def __init__(self, elements: Iterable[bytes] = ()) -> None:
        super().__init__()
        self._items: deque[bytes] = deque(elements)
        self._content_bytes = sum(map(len, self._items))
        # Redis's quicklist nodes, head first, as [element count, listpack bytes], for a
        # list that only pushes and pops (at either end) made; None once anything else
        # changed it, or for a list made whole (RESTORE, a snapshot, SORT STORE): DUMP
        # then splits it as RPUSH would have (proto.rdb.values.quicklist_nodes).
        self._nodes: deque[list[int]] | None = None if self._items else deque()

    @classmethod
    def with_nodes(cls, elements: list[bytes], node_counts: list[int] | None) -> ListValue:
        """A list of Redis's quicklist nodes of `node_counts` elements each (RESTORE of a
        quicklist), or split as RPUSH would when None or not adding up."""
        value = cls(elements)
        if node_counts is not None and sum(node_counts) == len(elements) and all(node_counts):
            nodes: deque[list[int]] = deque()
            start = 0
            for count in node_counts:
                chunk = elements[start : start + count]
                start += count
                nodes.append([count, HEADER_SIZE + sum(map(entry_size, chunk)) + 1])
            value._nodes = nodes
        return value

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
        if self._nodes is not None:
            elements = list(elements)
            self._place(elements, left)
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

    def _place(self, elements: list[bytes], left: bool) -> None:
        """quicklistPushHead / quicklistPushTail: into the end node while it allows the
        insert, else into a new node there."""
        nodes = self._nodes
        assert nodes is not None
        node = (nodes[0] if left else nodes[-1]) if nodes else None
        for element in elements:
            length = len(element)
            # A string entry of under 64 bytes: a 1-byte header and back-length.
            if length < 64 and (not length or element[0] not in INTEGER_STARTS):
                size = length + 2
            else:
                size = entry_size(element)
            if node is not None and node[1] + length + _SIZE_ESTIMATE_OVERHEAD <= _NODE_LIMIT:
                node[0] += 1
                node[1] += size
                continue
            node = [1, HEADER_SIZE + size + 1]
            if left:
                nodes.appendleft(node)
            else:
                nodes.append(node)

    def _unplace(self, elements: list[bytes], left: bool) -> None:
        """Elements gone from the head (left) or tail, in that order: their nodes shrink,
        and go when empty (Redis merges no nodes on deletion)."""
        nodes = self._nodes
        assert nodes is not None
        for element in elements:
            node = nodes[0] if left else nodes[-1]
            node[0] -= 1
            length = len(element)
            if length < 64 and (not length or element[0] not in INTEGER_STARTS):
                node[1] -= length + 2
            else:
                node[1] -= entry_size(element)
            if not node[0]:
                if left:
                    nodes.popleft()
                else:
                    nodes.pop()

    def node_counts(self) -> list[int] | None:
        """The element count of each of Redis's quicklist nodes, head first, when known."""
        return None if self._nodes is None else [node[0] for node in self._nodes]

    def pop(self, left: bool) -> bytes:
        element = self._items.popleft() if left else self._items.pop()
        self._content_bytes -= len(element)
        if self._nodes is not None:
            self._unplace([element], left)
        return element

    def pop_many(self, count: int, left: bool) -> list[bytes]:
        """Up to `count` elements from the head (left) or tail, in popping order."""
        take = self._items.popleft if left else self._items.pop
        popped = [take() for _ in range(min(count, len(self._items)))]
        self._content_bytes -= sum(map(len, popped))
        if self._nodes is not None:
            self._unplace(popped, left)
        return popped

    def replace_at(self, index: int, element: bytes) -> None:
        old = self._items[index]
        self._items[index] = element
        self._content_bytes += len(element) - len(old)
        self._nodes = None

    def trim(self, start: int, stop: int) -> None:
        """Keep elements start..stop inclusive (start <= stop). Redis's quicklistDelRange
        empties nodes from each end as pops would."""
        items = self._items
        head = [items.popleft() for _ in range(start)]
        tail = [items.pop() for _ in range(len(items) - (stop - start + 1))]
        self._content_bytes -= sum(map(len, head)) + sum(map(len, tail))
        if self._nodes is not None:
            self._unplace(head, True)
            self._unplace(tail, False)

    def clear(self) -> None:
        self._items = deque()
        self._content_bytes = 0
        self._nodes = deque()

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
            self._nodes = None
        return removed

    def insert(self, pivot: bytes, element: bytes, after: bool) -> bool:
        """LINSERT: put `element` before or after the first `pivot`; False if none."""
        try:
            index = self._items.index(pivot)
        except ValueError:
            return False
        self._items.insert(index + 1 if after else index, element)
        self._content_bytes += len(element)
        self._nodes = None
        return True

    # ------------------------------------------------------------------ whole value

    def copy(self) -> ListValue:
        duplicate = ListValue()
        duplicate._items = self._items.copy()
        duplicate._content_bytes = self._content_bytes
        # quicklistDup copies the nodes as they are.
        nodes = self._nodes
        duplicate._nodes = None if nodes is None else deque([node[:] for node in nodes])
        return duplicate

    def snapshot_items(self) -> list[bytes]:
        return list(self._items)

    @classmethod
    def from_snapshot_items(
        cls, config: EngineConfig, items: Iterable[bytes], encoding: bytes | None = None
    ) -> ListValue:
        """Lists have one encoding in Redis 7.0 ("quicklist"): `encoding` changes nothing."""
        return cls(items)
