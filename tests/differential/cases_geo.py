"""Differential cases for the geo commands: members placed around a few centres (the
equator, Sicily, near a pole, near the antimeridian) so that searches of every size find
some of them, with every option and invalid arguments."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.differential.common import CommandCase, cmd, count_text, key, options

CENTRES = [(0.0, 0.0), (13.36, 38.11), (-179.9, 10.0), (10.0, 84.5), (100.0, -70.0)]


def _coordinate(pair: tuple[tuple[float, float], float, float]) -> list[bytes]:
    (lon, lat), dlon, dlat = pair
    lon = max(-180.0, min(180.0, lon + dlon))
    lat = max(-85.05112878, min(85.05112878, lat + dlat))
    return [repr(lon).encode(), repr(lat).encode()]


offset = st.one_of(st.floats(-3, 3, allow_nan=False), st.sampled_from([0.0, 0.001, -0.5]))
lonlat = st.one_of(
    st.tuples(st.sampled_from(CENTRES), offset, offset).map(_coordinate),
    st.sampled_from(
        [
            [b"180", b"85.05112878"],
            [b"-180", b"-85.05112878"],
            [b"181", b"0"],
            [b"0", b"86"],
            [b"x", b"1"],
            [b"1", b"nan"],
            [b"inf", b"0"],
        ]
    ),
)
member = st.sampled_from([b"a", b"b", b"c", b"d", b"e", b"f", b"palermo", b""])
unit = st.sampled_from([b"m", b"km", b"KM", b"mi", b"ft", b"yd"])
distance = st.one_of(
    st.sampled_from([b"0", b"1", b"500", b"5000", b"50000", b"200000", b"800000"]),
    st.sampled_from([b"2000000", b"-1", b"x", b"1e7"]),
    st.floats(0, 400, allow_nan=False).map(lambda f: repr(f).encode()),
)
reply_options = options(
    [b"WITHDIST"],
    [b"WITHCOORD"],
    [b"WITHHASH"],
    [b"ASC"],
    [b"DESC"],
    cmd(b"COUNT", count_text),
    [b"ANY"],
)
store_options = options(cmd(b"STORE", key), cmd(b"STOREDIST", key))
from_options = st.one_of(
    cmd(b"FROMMEMBER", member),
    cmd(b"FROMLONLAT", lonlat),
    cmd(b"FROMMEMBER", member, b"FROMLONLAT", lonlat),
)
by_options = st.one_of(
    cmd(b"BYRADIUS", distance, unit),
    cmd(b"BYBOX", distance, distance, unit),
    cmd(b"BYBOX", distance, distance, unit, b"BYRADIUS", distance, unit),
)
search_options = st.one_of(
    cmd(from_options, by_options, reply_options),
    cmd(by_options, reply_options, from_options),
    cmd(reply_options, from_options),
    cmd(by_options),
)

CASES = [
    CommandCase(
        "geoadd",
        cmd(
            b"GEOADD",
            key,
            options([b"NX"], [b"XX"], [b"CH"]),
            st.lists(cmd(lonlat, member), min_size=1, max_size=5).map(
                lambda groups: [part for group in groups for part in group]
            ),
        ),
    ),
    CommandCase("geoadd", cmd(b"GEOADD", key, lonlat, member, b"extra")),
    CommandCase("geodist", cmd(b"GEODIST", key, member, member)),
    CommandCase("geodist", cmd(b"GEODIST", key, member, member, unit)),
    CommandCase("geodist", cmd(b"GEODIST", key, member, member, b"km", b"x")),
    CommandCase("geopos", cmd(b"GEOPOS", key, st.lists(member, max_size=3))),
    CommandCase("geohash", cmd(b"GEOHASH", key, st.lists(member, max_size=3))),
    CommandCase(
        "georadius", cmd(b"GEORADIUS", key, lonlat, distance, unit, reply_options, store_options)
    ),
    CommandCase("georadius_ro", cmd(b"GEORADIUS_RO", key, lonlat, distance, unit, reply_options)),
    CommandCase(
        "georadiusbymember",
        cmd(b"GEORADIUSBYMEMBER", key, member, distance, unit, reply_options, store_options),
    ),
    CommandCase(
        "georadiusbymember_ro",
        cmd(b"GEORADIUSBYMEMBER_RO", key, member, distance, unit, reply_options),
    ),
    CommandCase("geosearch", cmd(b"GEOSEARCH", key, search_options)),
    CommandCase(
        "geosearchstore",
        cmd(b"GEOSEARCHSTORE", key, key, search_options, options([b"STOREDIST"])),
    ),
    CommandCase("zrange", cmd(b"ZRANGE", key, b"0", b"-1", b"WITHSCORES")),
    CommandCase("zadd", cmd(b"ZADD", key, st.sampled_from([b"-5", b"1e20", b"3"]), member)),
]
