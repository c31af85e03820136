"""Geo searches against redis-server on many members spread at every scale: the members
each search returns and their order (the nine boxes Redis visits, ANY's early stop,
COUNT's partial sort), distances and coordinates to the byte, stored results, RESP2 and
RESP3."""

from __future__ import annotations

import random

import pytest

from tests.differential.harness import Differential


def _populate(diff: Differential, rng: random.Random, key: bytes, count: int) -> None:
    for start in range(0, count, 100):
        args = [b"GEOADD", key]
        for index in range(start, min(start + 100, count)):
            scale = rng.choice([0.01, 0.5, 5.0, 60.0])
            lon = max(
                -180.0,
                min(180.0, rng.choice([0.0, 13.4, 179.9, -120.0]) + rng.uniform(-scale, scale)),
            )
            lat = max(
                -85.0, min(85.0, rng.choice([0.0, 38.1, 84.0, -66.5]) + rng.uniform(-scale, scale))
            )
            args += [repr(lon).encode(), repr(lat).encode(), b"m%d" % index]
        diff.check(args)


@pytest.mark.parametrize("resp3", [False, True])
def test_searches_match_redis(redis_port, resp3):
    rng = random.Random(11 + resp3)
    diff = Differential(redis_port, resp3=resp3)
    try:
        _populate(diff, rng, b"{g}pts", 600)
        diff.check([b"ZRANGE", b"{g}pts", b"0", b"-1", b"WITHSCORES"])
        for _ in range(150):
            lon = repr(rng.choice([0.0, 13.4, 179.9, -120.0]) + rng.uniform(-3, 3)).encode()
            lat = repr(rng.choice([0.0, 38.1, 84.0, -66.5]) + rng.uniform(-3, 3)).encode()
            radius = repr(rng.choice([1.0, 50.0, 300.0, 3000.0, 9000.0]) * rng.random()).encode()
            unit = rng.choice([b"km", b"mi", b"m"])
            extra = rng.choice(
                [
                    [],
                    [b"WITHDIST", b"WITHCOORD", b"WITHHASH"],
                    [b"ASC", b"WITHDIST"],
                    [b"DESC"],
                    [b"COUNT", b"5", b"WITHDIST"],
                    [b"COUNT", b"3", b"ANY"],
                    [b"COUNT", b"7", b"ANY", b"ASC", b"WITHDIST"],
                ]
            )
            if rng.random() < 0.5:
                diff.check([b"GEORADIUS_RO", b"{g}pts", lon, lat, radius, unit, *extra])
            else:
                shape = rng.choice(
                    [
                        [b"BYRADIUS", radius, unit],
                        [b"BYBOX", radius, repr(rng.random() * 2000).encode(), unit],
                    ]
                )
                centre = rng.choice(
                    [[b"FROMLONLAT", lon, lat], [b"FROMMEMBER", b"m%d" % rng.randrange(600)]]
                )
                diff.check([b"GEOSEARCH", b"{g}pts", *centre, *shape, *extra])
                if not any(option.startswith(b"WITH") for option in extra):
                    diff.check(
                        [
                            b"GEOSEARCHSTORE",
                            b"{g}dst",
                            b"{g}pts",
                            *centre,
                            *shape,
                            *extra,
                            b"STOREDIST",
                        ]
                    )
                    diff.check([b"ZRANGE", b"{g}dst", b"0", b"-1", b"WITHSCORES"])
        diff.check([b"GEOPOS", b"{g}pts", *[b"m%d" % i for i in range(0, 600, 7)]])
        diff.check([b"GEOHASH", b"{g}pts", *[b"m%d" % i for i in range(0, 600, 7)]])
        for unit in (b"m", b"km", b"mi", b"ft"):
            diff.check([b"GEODIST", b"{g}pts", b"m1", b"m2", unit])
    finally:
        diff.close()


def test_errors_match_redis(redis_port):
    diff = Differential(redis_port)
    try:
        diff.check([b"GEOADD", b"{e}g", b"1", b"2", b"a"])
        diff.check([b"RPUSH", b"{e}l", b"x"])
        for args in (
            [b"GEOADD", b"{e}g", b"1", b"2"],
            [b"GEOADD", b"{e}g", b"NX", b"XX", b"1", b"2", b"a"],
            [b"GEOADD", b"{e}g", b"200", b"2", b"a"],
            [b"GEOADD", b"{e}g", b"1", b"-89.5", b"a"],
            [b"GEOADD", b"{e}g", b"x", b"2", b"a"],
            [b"GEOADD", b"{e}l", b"1", b"2", b"a"],
            [b"GEOADD", b"{e}g", b"GT", b"1", b"2", b"a"],
            [b"GEODIST", b"{e}g", b"a", b"a", b"yards"],
            [b"GEODIST", b"{e}l", b"a", b"a"],
            [b"GEOPOS", b"{e}l", b"a"],
            [b"GEOHASH", b"{e}l", b"a"],
            [b"GEORADIUS", b"{e}g", b"1", b"2", b"x", b"km"],
            [b"GEORADIUS", b"{e}g", b"1", b"2", b"-3", b"km"],
            [b"GEORADIUS", b"{e}g", b"1", b"2", b"3", b"km", b"COUNT", b"0"],
            [b"GEORADIUS", b"{e}g", b"1", b"2", b"3", b"km", b"COUNT", b"x"],
            [b"GEORADIUS", b"{e}g", b"1", b"2", b"3", b"km", b"ANY"],
            [b"GEORADIUS", b"{e}g", b"1", b"2", b"3", b"km", b"STORE", b"{e}d", b"WITHCOORD"],
            [b"GEORADIUS", b"{e}absent", b"1", b"2", b"3", b"km", b"STORE", b"{e}g"],
            [b"GEORADIUSBYMEMBER", b"{e}g", b"nosuch", b"3", b"km"],
            [b"GEORADIUSBYMEMBER", b"{e}absent", b"nosuch", b"x", b"km", b"WITHDIST"],
            [b"GEORADIUSBYMEMBER_RO", b"{e}g", b"a", b"3", b"km", b"STOREDIST", b"{e}d"],
            [
                b"GEOSEARCH",
                b"{e}g",
                b"FROMMEMBER",
                b"a",
                b"FROMLONLAT",
                b"1",
                b"2",
                b"BYRADIUS",
                b"1",
                b"m",
            ],
            [b"GEOSEARCH", b"{e}g", b"BYRADIUS", b"1", b"m", b"BYBOX", b"1", b"1", b"m"],
            [b"geosearch", b"{e}g", b"BYRADIUS", b"1", b"m", b"WITHDIST"],
            [b"GeoSearch", b"{e}g", b"FROMMEMBER", b"a", b"WITHDIST", b"ASC"],
            [b"GEOSEARCH", b"{e}g", b"FROMMEMBER", b"a", b"BYBOX", b"-1", b"1", b"m"],
            [b"GEOSEARCH", b"{e}g", b"FROMMEMBER", b"a", b"BYBOX", b"1", b"x", b"m"],
            [b"GEOSEARCH", b"{e}g", b"FROMMEMBER", b"a", b"BYBOX", b"1", b"1", b"yd"],
            [b"GEOSEARCH", b"{e}g", b"FROMMEMBER", b"zz", b"BYBOX", b"1", b"1", b"m"],
            [b"GEOSEARCH", b"{e}g", b"FROMMEMBER", b"a", b"BYRADIUS", b"1", b"m", b"STORE", b"x"],
            [
                b"GEOSEARCHSTORE",
                b"{e}d",
                b"{e}g",
                b"FROMMEMBER",
                b"a",
                b"BYRADIUS",
                b"1",
                b"m",
                b"WITHDIST",
            ],
            [b"GEOSEARCHSTORE", b"{e}d", b"{e}l", b"FROMMEMBER", b"a", b"BYRADIUS", b"1", b"m"],
        ):
            diff.check(args)
    finally:
        diff.close()


@pytest.mark.parametrize("per_point", [3, 25, 60])
def test_equal_distances_come_in_redis_order(redis_port, per_point):
    """Members at the same few points: COUNT's partial sort (Redis's pqsort) and the full
    sort order equally distant members as Redis does."""
    diff = Differential(redis_port)
    try:
        args = [b"GEOADD", b"{t}g"]
        for index in range(per_point * 3):
            lon = (b"1.5", b"1.6", b"1.4")[index % 3]
            args += [lon, b"2.5", b"m%03d" % index]
        diff.check(args)
        total = per_point * 3
        for count in sorted({1, 2, 5, 7, 8, 40, 41, per_point, total - 1, total, total + 1}):
            for order in (b"ASC", b"DESC"):
                diff.check(
                    [
                        b"GEOSEARCH",
                        b"{t}g",
                        b"FROMLONLAT",
                        b"1.5",
                        b"2.5",
                        b"BYRADIUS",
                        b"100",
                        b"km",
                        b"COUNT",
                        b"%d" % count,
                        order,
                        b"WITHDIST",
                    ]
                )
        diff.check([b"GEORADIUS", b"{t}g", b"1.5", b"2.5", b"100", b"km", b"DESC"])
    finally:
        diff.close()
