"""Key digests for WATCH, and EXEC aborting when a watched key changed."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from node.engine.config import EngineConfig
from node.engine.digest import ABSENT, DIGEST_SIZE, digest
from node.engine.engine import Engine
from node.engine.keyspace import Container, Keyspace
from proto.resp import OK

ROOT = Path(__file__).resolve().parents[2]


class Items(Container):
    """A container following the protocol with a plain list (independent of the real
    classes): the digest must only depend on snapshot_items() and TYPE_NAME."""

    __slots__ = ("items", "kind")

    def __init__(self, type_name: bytes, items: list[Any]) -> None:
        super().__init__()
        self.items = items
        self.kind = type_name

    def __len__(self) -> int:
        return len(self.items)

    # One fake for every type: the name is per instance, not the class attribute it overrides.
    @property
    def TYPE_NAME(self) -> bytes:  # type: ignore[override]
        return self.kind

    @property
    def mem(self) -> int:
        return 8 * len(self.items)

    def snapshot_items(self) -> list[Any]:
        return list(self.items)

    @classmethod
    def from_snapshot_items(
        cls, config: EngineConfig, items: Iterable[Any], encoding: bytes | None = None
    ) -> Items:
        raise NotImplementedError


def db_with(key: bytes, value: Any, when: int | None = None) -> Keyspace:
    db = Keyspace()
    db.set(key, value)
    if when is not None:
        db.set_expire(key, when)
    return db


def test_absent_and_expired_keys_digest_to_absent():
    db = db_with(b"k", b"v", when=1000)
    assert digest(db, b"missing") == ABSENT
    db.now_ms = 999
    assert digest(db, b"k") != ABSENT
    db.now_ms = 1000
    assert digest(db, b"k") == ABSENT


def test_digest_reads_without_side_effects():
    db = db_with(b"k", b"v", when=1000)
    db.now_ms = 5000
    digest(db, b"k")
    digest(db, b"other")
    assert b"k" in db.data
    assert (db.keyspace_hits, db.keyspace_misses, db.expired_keys) == (0, 0, 0)


def test_value_type_and_ttl_each_change_the_digest():
    base = digest(db_with(b"k", b"v"), b"k")
    assert len(base) == DIGEST_SIZE
    assert digest(db_with(b"k", b"v"), b"k") == base
    assert digest(db_with(b"k", bytearray(b"v")), b"k") == base
    assert digest(db_with(b"k", b"w"), b"k") != base
    assert digest(db_with(b"k", b"v", when=10**12), b"k") != base
    assert digest(db_with(b"k", b"v", when=10**12 + 1), b"k") != digest(
        db_with(b"k", b"v", when=10**12), b"k"
    )
    assert digest(db_with(b"k", Items(b"list", [b"v"])), b"k") != base
    assert digest(db_with(b"k", Items(b"set", [b"v"])), b"k") != digest(
        db_with(b"k", Items(b"list", [b"v"])), b"k"
    )


def test_the_key_name_is_not_part_of_the_digest():
    # Digests are compared per key, so equal values under two names may digest alike.
    assert digest(db_with(b"a", b"v"), b"a") == digest(db_with(b"b", b"v"), b"b")


def test_unordered_containers_digest_the_same_in_any_internal_order():
    def of(type_name: bytes, items: list[Any]) -> bytes:
        return digest(db_with(b"k", Items(type_name, items)), b"k")

    assert of(b"set", [b"a", b"b", b"c"]) == of(b"set", [b"c", b"a", b"b"])
    assert of(b"hash", [(b"f", b"1"), (b"g", b"2")]) == of(b"hash", [(b"g", b"2"), (b"f", b"1")])
    assert of(b"zset", [(b"a", 1.0), (b"b", 2.0)]) == of(b"zset", [(b"b", 2.0), (b"a", 1.0)])
    assert of(b"list", [b"a", b"b"]) != of(b"list", [b"b", b"a"])
    assert of(b"zset", [(b"a", 1.0)]) != of(b"zset", [(b"a", 2.0)])
    assert of(b"hash", [(b"f", b"1")]) != of(b"hash", [(b"f", b"2")])


def test_piece_boundaries_are_unambiguous():
    def of(type_name: bytes, items: list[Any]) -> bytes:
        return digest(db_with(b"k", Items(type_name, items)), b"k")

    assert of(b"hash", [(b"ab", b"c")]) != of(b"hash", [(b"a", b"bc")])
    assert of(b"list", [b"ab"]) != of(b"list", [b"a", b"b"])
    assert of(b"list", [b""]) != of(b"list", [])


def test_digests_do_not_depend_on_the_process_hash_seed():
    code = (
        "from node.engine.keyspace import Keyspace\n"
        "from node.engine.digest import digest\n"
        "db = Keyspace()\n"
        "db.set(b'k', b'value')\n"
        "db.set_expire(b'k', 123456789)\n"
        "print(digest(db, b'k').hex())\n"
    )
    outputs = set()
    for seed in ("1", "2", "random"):
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(result.stdout.strip())
    here = db_with(b"k", b"value", when=123456789)
    assert outputs == {digest(here, b"k").hex()}


# ---------------------------------------------------------------------- EXEC with WATCH


def engine_with(*commands: list[bytes]) -> Engine:
    engine = Engine()
    for args in commands:
        engine.execute(args, 1000, random.Random(0))
    return engine


def test_exec_runs_when_the_watched_keys_are_unchanged():
    engine = engine_with([b"SET", b"k", b"v"])
    watches = engine.watch_digests([b"k", b"absent"], 1000)
    replies = engine.execute_transaction(
        [[b"SET", b"k", b"w"], [b"GET", b"k"]], 1001, random.Random(0), watches
    )
    assert replies == [OK, b"w"]


def test_exec_aborts_without_running_anything_when_a_watched_key_changed():
    engine = engine_with([b"SET", b"k", b"v"], [b"SET", b"other", b"1"])
    watches = engine.watch_digests([b"k", b"other"], 1000)
    engine.execute([b"SET", b"other", b"2"], 1000, random.Random(0))
    dirty = engine.db.dirty
    replies = engine.execute_transaction(
        [[b"SET", b"k", b"changed"]], 1001, random.Random(0), watches
    )
    assert replies is None
    assert engine.execute([b"GET", b"k"], 1001, random.Random(0)) == b"v"
    assert engine.db.dirty == dirty
    assert engine.changed_keys == []


def test_exec_aborts_when_a_watched_absent_key_appears():
    engine = engine_with()
    watches = engine.watch_digests([b"k"], 1000)
    engine.execute([b"SET", b"k", b"new"], 1000, random.Random(0))
    assert engine.execute_transaction([[b"GET", b"k"]], 1001, random.Random(0), watches) is None


def test_exec_aborts_when_a_watched_key_expires_before_it():
    engine = engine_with([b"SET", b"k", b"v", b"PX", b"100"])
    watches = engine.watch_digests([b"k"], 1000)
    assert engine.execute_transaction([[b"GET", b"k"]], 1050, random.Random(0), watches) == [b"v"]
    assert engine.execute_transaction([[b"GET", b"k"]], 1100, random.Random(0), watches) is None


def test_exec_aborts_when_only_the_ttl_changed():
    engine = engine_with([b"SET", b"k", b"v"])
    watches = engine.watch_digests([b"k"], 1000)
    engine.execute([b"SET", b"k", b"v", b"EX", b"100"], 1000, random.Random(0))
    assert engine.execute_transaction([[b"GET", b"k"]], 1001, random.Random(0), watches) is None


def test_exec_without_watches_always_runs():
    engine = engine_with([b"SET", b"k", b"v"])
    assert engine.execute_transaction([[b"GET", b"k"]], 1001, random.Random(0)) == [b"v"]
    assert engine.execute_transaction([[b"GET", b"k"]], 1001, random.Random(0), []) == [b"v"]
