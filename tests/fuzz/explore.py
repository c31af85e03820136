"""Explore without shrinking: `python -m tests.fuzz.explore N [maxmemory]` runs N histories
and prints the first failure with the entries that led to it, decoded (a failure found by
the pytest run shrinks for minutes; this shows it at once)."""

from __future__ import annotations

import sys

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from node import entry_codec
from node.engine.config import EngineConfig
from tests.fuzz.replicas import Shard
from tests.fuzz.test_shard_fuzz import _run


def main() -> int:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    maxmemory = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    failures: list[tuple[Shard, BaseException]] = []

    @settings(
        max_examples=examples,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(data=st.data())
    def explore(data: st.DataObject) -> None:
        shard = Shard(EngineConfig(maxmemory=maxmemory, maxmemory_policy="allkeys-lru"))
        try:
            _run(data, shard, steps=data.draw(st.integers(1, 25)))
        except AssertionError as failure:
            failures.append((shard, failure))
            raise

    try:
        explore()
    except AssertionError:
        shard, failure = failures[0]
        for number, data in enumerate(shard.history, start=1):
            if isinstance(data, str):
                print(number, data)
                continue
            try:
                decoded: object = entry_codec.decode(data)
            except entry_codec.EntryFormatError:
                decoded = data
            print(number, decoded)
        print("FAILURE:", str(failure)[:2000])
        return 1
    print(f"{examples} histories: no failure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
