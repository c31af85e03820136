"""Shared fixtures: a real redis-server for differential tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import redis_server


@pytest.fixture(scope="session")
def redis_port() -> Iterator[int]:
    with redis_server() as port:
        yield port
