"""Geo commands, as Redis 7.0's geo.c: a geo key is a sorted set whose scores are 52-bit
geohashes (node.engine.geohash), so the sorted-set commands see what Redis's show. A
search visits the nine boxes Redis visits, in its order, so the same members come back in
the same order."""

from __future__ import annotations

from dataclasses import dataclass

from node.engine import geohash
from node.engine.errors import CommandError
from node.engine.keyspace import Keyspace
from node.engine.parsing import parse_int
from node.engine.pqsort import pqsort
from node.engine.registry import command
from node.engine.t_zset import _zadd
from node.engine.zset_value import ScoreRange, ZSetValue, parse_score
from proto.errors import SYNTAX, WRONGTYPE
from proto.resp import NULL_ARRAY, DoubleText, Reply

UNIT_ERROR = b"ERR unsupported unit provided. please use M, KM, FT, MI"
MEMBER_ERROR = b"ERR could not decode requested zset member"
COUNT_ERROR = b"ERR COUNT must be > 0"
ANY_ERROR = b"ERR the ANY argument requires COUNT argument"
NEGATIVE_RADIUS = b"ERR radius cannot be negative"
NEGATIVE_BOX = b"ERR height or width cannot be negative"
_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}

# A member a search looks at costs its decoding and a distance or two in Python (a few
# microseconds): this much work each.
POINT_WORK = 4


def _unit(arg: bytes) -> float:
    factor = _UNITS.get(arg.lower())
    if factor is None:
        raise CommandError(UNIT_ERROR)
    return factor


def _lonlat(args: list[bytes], index: int) -> tuple[float, float]:
    """extractLongLatOrReply."""
    longitude = parse_score(args[index])
    latitude = parse_score(args[index + 1])
    if not (
        geohash.LONG_MIN <= longitude <= geohash.LONG_MAX
        and geohash.LAT_MIN <= latitude <= geohash.LAT_MAX
    ):
        raise CommandError(
            b"ERR invalid longitude,latitude pair %s,%s" % (b"%f" % longitude, b"%f" % latitude)
        )
    return longitude, latitude


def _human(value: float) -> DoubleText:
    """addReplyHumanLongDouble of a double: '%.17Lf' of its exact value (Python's '%.17f'
    rounds the same exact binary value the same way), trailing zeros and '.' trimmed."""
    text = b"%.17f" % value
    if b"." in text:
        text = text.rstrip(b"0").rstrip(b".")
    return DoubleText(b"0" if text == b"-0" else text)


def _distance_text(meters: float) -> bytes:
    return b"%.4f" % meters


def _zset(db: Keyspace, key: bytes) -> ZSetValue | None:
    value = db.lookup_read(key)  # Redis's lookupKeyRead: a miss is a keymiss event
    if value is not None and type(value) is not ZSetValue:
        raise CommandError(WRONGTYPE)
    return value


# ---------------------------------------------------------------------- GEOADD


@command("geoadd")
def geoadd(db: Keyspace, args: list[bytes]) -> Reply:
    index = 2
    nx = xx = False
    while index < len(args):
        option = args[index].lower()
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option != b"ch":
            break
        index += 1
    if (len(args) - index) % 3 or (nx and xx):
        raise CommandError(SYNTAX)
    zadd_args = [b"zadd", *args[1:index]]
    for position in range(index, len(args), 3):
        longitude, latitude = _lonlat(args, position)
        zadd_args += [b"%d" % geohash.score_of(longitude, latitude), args[position + 2]]
    return _zadd(db, zadd_args, incr=False)


# ---------------------------------------------------------------------- reads


@command("geopos")
def geopos(db: Keyspace, args: list[bytes]) -> Reply:
    value = _zset(db, args[1])
    db.charge(2 * (len(args) - 2))
    reply: list[Reply] = []
    for member in args[2:]:
        score = value.score(member) if value is not None else None
        if score is None:
            reply.append(NULL_ARRAY)
            continue
        longitude, latitude = geohash.position_of(score)
        reply.append([_human(longitude), _human(latitude)])
    return reply


@command("geohash")
def geohash_(db: Keyspace, args: list[bytes]) -> Reply:
    value = _zset(db, args[1])
    reply: list[Reply] = []
    for member in args[2:]:
        score = value.score(member) if value is not None else None
        reply.append(None if score is None else geohash.standard_geohash(score))
    return reply


@command("geodist")
def geodist(db: Keyspace, args: list[bytes]) -> Reply:
    to_meter = 1.0
    if len(args) == 5:
        to_meter = _unit(args[4])
    elif len(args) > 5:
        raise CommandError(SYNTAX)
    value = _zset(db, args[1])
    if value is None:
        return None
    first, second = value.score(args[2]), value.score(args[3])
    if first is None or second is None:
        return None
    lon1, lat1 = geohash.position_of(first)
    lon2, lat2 = geohash.position_of(second)
    return _distance_text(geohash.distance(lon1, lat1, lon2, lat2) / to_meter)


# ---------------------------------------------------------------------- searches

COORDS, MEMBER, NOSTORE, SEARCH, SEARCHSTORE = 1, 2, 4, 8, 16


@dataclass
class _Point:
    member: bytes
    score: float
    longitude: float
    latitude: float
    distance: float


def _radius(args: list[bytes], index: int) -> tuple[float, float]:
    """extractDistanceOrReply: (radius, unit in meters)."""
    radius = parse_score(args[index], b"ERR need numeric radius")
    if radius < 0:
        raise CommandError(NEGATIVE_RADIUS)
    return radius, _unit(args[index + 1])


def _box(args: list[bytes], index: int) -> tuple[float, float, float]:
    """extractBoxOrReply: (width, height, unit in meters)."""
    width = parse_score(args[index], b"ERR need numeric width")
    height = parse_score(args[index + 1], b"ERR need numeric height")
    if height < 0 or width < 0:
        raise CommandError(NEGATIVE_BOX)
    return width, height, _unit(args[index + 2])


def _member_position(value: ZSetValue, member: bytes) -> tuple[float, float]:
    score = value.score(member)
    if score is None:
        raise CommandError(MEMBER_ERROR)
    return geohash.position_of(score)


def _search(db: Keyspace, args: list[bytes], source_index: int, flags: int) -> Reply:
    """georadiusGeneric: its checks in its order, then the search and the reply or the
    stored result."""
    value = _zset(db, args[source_index])
    store_key: bytes | None = args[1] if flags & SEARCHSTORE else None
    store_dist = False
    centre: tuple[float, float] | None = None
    radius = width = height = 0.0
    conversion = 1.0
    is_box = False
    if flags & COORDS:
        base = 6
        centre = _lonlat(args, 2)
        radius, conversion = _radius(args, base - 2)
    elif flags & MEMBER:
        base = 5
        if value is not None:
            centre = _member_position(value, args[2])
            radius, conversion = _radius(args, base - 2)
    else:
        base = 3 if flags & SEARCHSTORE else 2
    with_dist = with_hash = with_coord = any_ = False
    from_member = from_lonlat = by_radius = by_box = False
    sort = 0  # 0 none, 1 ascending, -1 descending
    count = 0
    remaining = len(args) - base
    i = 0
    while i < remaining:
        arg = args[base + i].lower()
        can_store = not flags & NOSTORE and not flags & SEARCH
        if arg == b"withdist":
            with_dist = True
        elif arg == b"withhash":
            with_hash = True
        elif arg == b"withcoord":
            with_coord = True
        elif arg == b"any":
            any_ = True
        elif arg == b"asc":
            sort = 1
        elif arg == b"desc":
            sort = -1
        elif arg == b"count" and i + 1 < remaining:
            count = parse_int(args[base + i + 1])
            if count <= 0:
                raise CommandError(COUNT_ERROR)
            i += 1
        elif arg in (b"store", b"storedist") and i + 1 < remaining and can_store:
            store_key = args[base + i + 1]
            store_dist = arg == b"storedist"
            i += 1
        elif arg == b"storedist" and flags & SEARCH and flags & SEARCHSTORE:
            store_dist = True
        elif arg == b"frommember" and i + 1 < remaining and flags & SEARCH and not from_lonlat:
            if value is not None:
                centre = _member_position(value, args[base + i + 1])
            from_member = True
            i += 1
        elif arg == b"fromlonlat" and i + 2 < remaining and flags & SEARCH and not from_member:
            centre = _lonlat(args, base + i + 1)
            from_lonlat = True
            i += 2
        elif arg == b"byradius" and i + 2 < remaining and flags & SEARCH and not by_box:
            radius, conversion = _radius(args, base + i + 1)
            is_box = False
            by_radius = True
            i += 2
        elif arg == b"bybox" and i + 3 < remaining and flags & SEARCH and not by_radius:
            width, height, conversion = _box(args, base + i + 1)
            is_box = True
            by_box = True
            i += 3
        else:
            raise CommandError(SYNTAX)
        i += 1
    if store_key is not None and (with_dist or with_hash or with_coord):
        raise CommandError(
            b"ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
            % (b"GEOSEARCHSTORE" if flags & SEARCHSTORE else b"STORE option in GEORADIUS")
        )
    if flags & SEARCH and not (from_member or from_lonlat):
        raise CommandError(
            b"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %s" % args[0]
        )
    if flags & SEARCH and not (by_radius or by_box):
        raise CommandError(
            b"ERR exactly one of BYRADIUS and BYBOX can be specified for %s" % args[0]
        )
    if any_ and not count:
        raise CommandError(ANY_ERROR)
    if value is None:
        if store_key is not None:
            if db.delete(store_key):
                db.notify("g", b"del", store_key)
            return 0
        return []
    assert centre is not None
    if count and not sort and not any_:
        sort = 1
    shape = geohash.Shape(
        centre[0], centre[1], conversion, radius=radius, width=width, height=height, is_box=is_box
    )
    points = _points_in_shape(db, value, shape, count if any_ else 0)
    if not points and store_key is None:
        return []
    if sort:
        if count and count < len(points):
            db.charge(PQSORT_WORK * len(points))
        _sort(points, sort, count)
    returned = points[:count] if count else points
    if store_key is None:
        db.charge(len(returned) * (1 + with_dist + with_hash + 4 * with_coord))
        return [
            _reply_point(point, conversion, with_dist, with_hash, with_coord) for point in returned
        ]
    db.charge(2 * len(returned))
    if returned:
        entries = [
            (point.member, point.distance / conversion if store_dist else point.score)
            for point in returned
        ]
        db.set(store_key, ZSetValue.computed(db.config, entries))
        db.notify("z", b"geosearchstore" if flags & SEARCH else b"georadiusstore", store_key)
    elif db.delete(store_key):
        db.notify("g", b"del", store_key)
    return len(returned)


def _sort(points: list[_Point], sort: int, count: int) -> None:
    """Redis's sort of the results: the C library's qsort for all of them (a merge sort
    in glibc: stable), its own pqsort when COUNT keeps fewer (equal distances then come
    in pqsort's order)."""
    if not count or count >= len(points):
        points.sort(key=lambda point: point.distance * sort)
        return

    def compare(a: _Point, b: _Point) -> int:
        if a.distance == b.distance:
            return 0
        return sort if a.distance > b.distance else -sort

    pqsort(points, compare, 0, count - 1)


# Redis's partial sort runs in Python, comparisons and swaps: this much work per point.
PQSORT_WORK = 3


def _reply_point(
    point: _Point, conversion: float, with_dist: bool, with_hash: bool, with_coord: bool
) -> Reply:
    if not (with_dist or with_hash or with_coord):
        return point.member
    item: list[Reply] = [point.member]
    if with_dist:
        item.append(_distance_text(point.distance / conversion))
    if with_hash:
        item.append(int(point.score))
    if with_coord:
        item.append([_human(point.longitude), _human(point.latitude)])
    return item


def _points_in_shape(
    db: Keyspace, value: ZSetValue, shape: geohash.Shape, limit: int
) -> list[_Point]:
    """membersOfAllNeighbors: the members of each box (score order) inside the shape,
    stopping once `limit` (ANY) were found."""
    found: list[_Point] = []
    for box in geohash.search_boxes(shape):
        if found and limit and len(found) >= limit:
            break
        low, high = geohash.box_scores(box)
        start, stop = value.score_span(ScoreRange(float(low), False, float(high), True))
        db.charge(POINT_WORK * (stop - start))
        entries = value.window(start, stop)
        longitudes, latitudes = geohash.positions_of([score for _, score in entries])
        for (member, score), longitude, latitude in zip(entries, longitudes, latitudes):
            meters = shape.within(longitude, latitude)
            if meters is not None:
                found.append(_Point(member, score, longitude, latitude, meters))
            if found and limit and len(found) >= limit:
                break
    return found


@command("georadius")
def georadius(db: Keyspace, args: list[bytes]) -> Reply:
    return _search(db, args, 1, COORDS)


@command("georadius_ro")
def georadius_ro(db: Keyspace, args: list[bytes]) -> Reply:
    return _search(db, args, 1, COORDS | NOSTORE)


@command("georadiusbymember")
def georadiusbymember(db: Keyspace, args: list[bytes]) -> Reply:
    return _search(db, args, 1, MEMBER)


@command("georadiusbymember_ro")
def georadiusbymember_ro(db: Keyspace, args: list[bytes]) -> Reply:
    return _search(db, args, 1, MEMBER | NOSTORE)


@command("geosearch")
def geosearch(db: Keyspace, args: list[bytes]) -> Reply:
    return _search(db, args, 1, SEARCH)


@command("geosearchstore")
def geosearchstore(db: Keyspace, args: list[bytes]) -> Reply:
    return _search(db, args, 2, SEARCH | SEARCHSTORE)
