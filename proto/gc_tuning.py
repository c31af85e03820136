"""Garbage-collector settings for the long-running processes (node, router).

Both allocate container objects (a list per command, futures, protobuf messages) that
live for one request's round trip. With CPython's default generation-0 threshold (700)
those were still alive at most collections and were traversed and promoted, then
traversed again by the older generations: about 4% of the router's CPU at SET -P 16
(perf: gc_collect_main, visit_decref, visit_reachable). Collecting less often lets
reference counting free them first. `gc.freeze()` moves what start-up created (modules,
the command table) out of every later collection.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
