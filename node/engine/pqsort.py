"""Redis's pqsort (pqsort.c: Bentley & McIlroy's quicksort that only sorts the parts
overlapping a range of positions), step for step: GEOSEARCH ... COUNT n sorts its
results with it, and which of several equally distant members come first depends on
its swaps."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Compare = Callable[[T, T], int]

# Positions are compared in bytes in the C code (element size `_ES`): a sub-array is
# skipped when the range lies wholly before or after its first and last bytes.
_ES = 2


def _med3(items: list[T], a: int, b: int, c: int, cmp: Compare[T]) -> int:
    if cmp(items[a], items[b]) < 0:
        if cmp(items[b], items[c]) < 0:
            return b
        return c if cmp(items[a], items[c]) < 0 else a
    if cmp(items[b], items[c]) > 0:
        return b
    return a if cmp(items[a], items[c]) < 0 else c


def _swap(items: list[T], i: int, j: int) -> None:
    items[i], items[j] = items[j], items[i]


def _vecswap(items: list[T], i: int, j: int, n: int) -> None:
    for k in range(n):
        _swap(items, i + k, j + k)


def pqsort(items: list[T], cmp: Compare[T], lrange: int, rrange: int) -> None:
    """Sort `items` in place so that positions lrange..rrange hold what a full sort
    would put there (the rest is left partly sorted), as Redis's pqsort does."""
    low = lrange * _ES
    high = (rrange + 1) * _ES - 1
    stack = [(0, len(items))]
    while stack:
        a, n = stack.pop()
        if n < 7:
            for pm in range(a + 1, a + n):
                pl = pm
                while pl > a and cmp(items[pl - 1], items[pl]) > 0:
                    _swap(items, pl, pl - 1)
                    pl -= 1
            continue
        _partition_step(items, cmp, a, n, low, high, stack)


def _partition_step(
    items: list[T],
    cmp: Compare[T],
    a: int,
    n: int,
    low: int,
    high: int,
    stack: list[tuple[int, int]],
) -> None:
    """One partition of items[a:a+n] around a median of three (or of nine), equal
    elements gathered at both ends then swapped to the middle; the parts that overlap
    the range are left on `stack`."""
    pm = a + n // 2
    if n > 7:
        pl = a
        pn = a + n - 1
        if n > 40:
            d = n // 8
            pl = _med3(items, pl, pl + d, pl + 2 * d, cmp)
            pm = _med3(items, pm - d, pm, pm + d, cmp)
            pn = _med3(items, pn - 2 * d, pn - d, pn, cmp)
        pm = _med3(items, pl, pm, pn, cmp)
    _swap(items, a, pm)
    pa = pb = a + 1
    pc = pd = a + n - 1
    while True:
        while pb <= pc:
            result = cmp(items[pb], items[a])
            if result > 0:
                break
            if result == 0:
                _swap(items, pa, pb)
                pa += 1
            pb += 1
        while pb <= pc:
            result = cmp(items[pc], items[a])
            if result < 0:
                break
            if result == 0:
                _swap(items, pc, pd)
                pd -= 1
            pc -= 1
        if pb > pc:
            break
        _swap(items, pb, pc)
        pb += 1
        pc -= 1
    pn = a + n
    r = min(pa - a, pb - pa)
    _vecswap(items, a, pb - r, r)
    r = min(pd - pc, pn - pd - 1)
    _vecswap(items, pb, pn - r, r)
    left = pb - pa
    right = pd - pc
    # C recurses into the left part, then loops on the right one: the left one goes on
    # the stack last, to be done first.
    if right > 1 and _overlaps(pn - right, right, low, high):
        stack.append((pn - right, right))
    if left > 1 and _overlaps(a, left, low, high):
        stack.append((a, left))


def _overlaps(a: int, n: int, low: int, high: int) -> bool:
    first = a * _ES
    last = (a + n) * _ES - 1
    return not ((low < first and high < first) or (low > last and high > last))
