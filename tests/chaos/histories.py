"""Synthetic histories for the checker tests: operations written down directly."""

from __future__ import annotations

import itertools
from typing import Any

from chaos.history import Operation

_indexes = itertools.count()


def op(
    workload: str,
    f: str,
    key: str,
    value: Any,
    start: float,
    end: float,
    result: Any = None,
    type: str = "ok",
    process: int = 0,
) -> Operation:
    return Operation(
        index=next(_indexes),
        process=process,
        workload=workload,
        f=f,
        key=key,
        value=value,
        start=start,
        end=end,
        type=type,
        result=result,
    )
