"""free_port's range: the default below the ephemeral range, or the one SLOTRAFT_FREE_PORTS
gives (each pytest-xdist worker gets its own, tests/conftest.py)."""

from __future__ import annotations

import pytest

from slotraft import local_cluster
from slotraft.local_cluster import FREE_PORTS_ENV, free_port, free_port_range


def test_ports_come_from_the_range_the_environment_gives(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(FREE_PORTS_ENV, "20100-20109")
    assert free_port_range() == range(20100, 20110)
    ports = {free_port() for _ in range(3)}
    assert len(ports) == 3 and all(20100 <= port <= 20109 for port in ports)


@pytest.mark.parametrize("text", ["", "x-y", "10-20", "30000-20000", "5000-70000"])
def test_an_unusable_range_means_the_default(monkeypatch: pytest.MonkeyPatch, text: str):
    monkeypatch.setenv(FREE_PORTS_ENV, text)
    low, _ = local_cluster._ephemeral_range()
    assert free_port_range() == range(max(1024, low - 20000), low)
