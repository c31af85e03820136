"""`loop = running_loop` in a class: the event loop its objects run on, looked up on first
use and kept. Each `asyncio.get_running_loop()` costs a getpid system call, which the hot
paths (a future per request) paid on every call: 8% of the router's CPU at SET -P 16."""

from __future__ import annotations

import asyncio
import functools


def _running_loop(self: object) -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


running_loop = functools.cached_property(_running_loop)
