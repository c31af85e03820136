"""The Redis test-unit runner's download: checked against its sha256, cached, and a
failure to get it is SourceUnavailable (which the slow test turns into a skip outside CI)."""

from __future__ import annotations

import hashlib

import pytest

from slotraft import redis_test_units as units


def test_a_download_with_another_checksum_is_refused(tmp_path):
    served = tmp_path / "served" / "redis.tar.gz"
    served.parent.mkdir()
    served.write_bytes(b"not redis")
    cache = tmp_path / "cache"
    with pytest.raises(units.SourceUnavailable, match="sha256"):
        units.fetch_source(cache, served.as_uri())
    assert list(cache.iterdir()) == []


def test_an_unreachable_source_is_unavailable(tmp_path):
    missing = (tmp_path / "nowhere.tar.gz").as_uri()
    with pytest.raises(units.SourceUnavailable, match="cannot download"):
        units.fetch_source(tmp_path / "cache", missing)


def test_a_cached_copy_is_used_only_with_the_right_checksum(tmp_path, monkeypatch):
    served = tmp_path / "served" / "redis.tar.gz"
    served.parent.mkdir()
    served.write_bytes(b"the source")
    monkeypatch.setattr(units, "SOURCE_SHA256", hashlib.sha256(b"the source").hexdigest())
    cache = tmp_path / "cache"
    assert units.fetch_source(cache, served.as_uri()).read_bytes() == b"the source"
    served.unlink()  # a second call does not download again
    assert units.fetch_source(cache, served.as_uri()).read_bytes() == b"the source"
    (cache / "redis.tar.gz").write_bytes(b"damaged")
    with pytest.raises(units.SourceUnavailable):
        units.fetch_source(cache, served.as_uri())
