"""Redis 7.0's geohash arithmetic (geohash.c, geohash_helper.c), in the same
floating-point operations so that scores, decoded coordinates, distances and the boxes a
search visits are Redis's to the bit. Pure functions.

A position is a 52-bit score: latitude and longitude as 26-bit fractions of their ranges
(latitude limited to Web Mercator's +-85.05112878), interleaved (latitude in the even
bits, longitude in the odd ones)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LONG_MIN, LONG_MAX = -180.0, 180.0
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
STEP_MAX = 26
EARTH_RADIUS = 6372797.560856
MERCATOR_MAX = 20037726.37
_D_R = math.pi / 180.0
_MASK64 = (1 << 64) - 1
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA


def deg_rad(angle: float) -> float:
    return angle * _D_R


def rad_deg(angle: float) -> float:
    return angle / _D_R


def _spread(value: int) -> int:
    """The 32 bits of `value` moved to the even bit positions."""
    value &= 0xFFFFFFFF
    value = (value | (value << 16)) & 0x0000FFFF0000FFFF
    value = (value | (value << 8)) & 0x00FF00FF00FF00FF
    value = (value | (value << 4)) & 0x0F0F0F0F0F0F0F0F
    value = (value | (value << 2)) & 0x3333333333333333
    return (value | (value << 1)) & _EVEN


def _squash(value: int) -> int:
    """The even bits of `value` packed into 32 bits."""
    value &= _EVEN
    value = (value | (value >> 1)) & 0x3333333333333333
    value = (value | (value >> 2)) & 0x0F0F0F0F0F0F0F0F
    value = (value | (value >> 4)) & 0x00FF00FF00FF00FF
    value = (value | (value >> 8)) & 0x0000FFFF0000FFFF
    return (value | (value >> 16)) & 0xFFFFFFFF


@dataclass(frozen=True)
class HashBits:
    bits: int
    step: int

    def is_zero(self) -> bool:
        return self.bits == 0 and self.step == 0


ZERO = HashBits(0, 0)


@dataclass(frozen=True)
class Area:
    long_min: float
    long_max: float
    lat_min: float
    lat_max: float


def encode(
    longitude: float,
    latitude: float,
    step: int,
    long_range: tuple[float, float] = (LONG_MIN, LONG_MAX),
    lat_range: tuple[float, float] = (LAT_MIN, LAT_MAX),
) -> HashBits | None:
    """geohashEncode; None where Redis fails (outside the ranges)."""
    if not (LONG_MIN <= longitude <= LONG_MAX and LAT_MIN <= latitude <= LAT_MAX):
        return None
    if not (
        lat_range[0] <= latitude <= lat_range[1] and long_range[0] <= longitude <= long_range[1]
    ):
        return None
    lat_offset = (latitude - lat_range[0]) / (lat_range[1] - lat_range[0])
    long_offset = (longitude - long_range[0]) / (long_range[1] - long_range[0])
    lat_offset *= 1 << step
    long_offset *= 1 << step
    return HashBits(_spread(int(lat_offset)) | (_spread(int(long_offset)) << 1), step)


def score_of(longitude: float, latitude: float) -> int:
    """GEOADD's score: the 52-bit hash of a valid position."""
    hashed = encode(longitude, latitude, STEP_MAX)
    assert hashed is not None
    return hashed.bits << (52 - STEP_MAX * 2)


def decode(
    hashed: HashBits,
    long_range: tuple[float, float] = (LONG_MIN, LONG_MAX),
    lat_range: tuple[float, float] = (LAT_MIN, LAT_MAX),
) -> Area:
    """geohashDecode: the box a hash stands for."""
    lat_scale = lat_range[1] - lat_range[0]
    long_scale = long_range[1] - long_range[0]
    ilato = _squash(hashed.bits)
    ilono = _squash(hashed.bits >> 1)
    divisor = float(1 << hashed.step)
    return Area(
        long_min=long_range[0] + (ilono * 1.0 / divisor) * long_scale,
        long_max=long_range[0] + ((ilono + 1) * 1.0 / divisor) * long_scale,
        lat_min=lat_range[0] + (ilato * 1.0 / divisor) * lat_scale,
        lat_max=lat_range[0] + ((ilato + 1) * 1.0 / divisor) * lat_scale,
    )


def _cvttsd2si(value: float) -> int:
    """x86-64's double to int64 conversion: the "integer indefinite" 2**63 out of range."""
    if math.isfinite(value) and -(2.0**63) <= value < 2.0**63:
        return int(value) & _MASK64
    return 1 << 63


def _score_bits(score: float) -> int:
    """(uint64_t)score as gcc compiles it for x86-64 (a score past 2**63 is converted
    less 2**63, then its top bit flipped)."""
    if score < 2.0**63:
        return _cvttsd2si(score)
    return _cvttsd2si(score - 2.0**63) ^ (1 << 63)


def position_of(score: float) -> tuple[float, float]:
    """decodeGeohash: the (longitude, latitude) of a score, the middle of its box clamped
    to the valid ranges."""
    area = decode(HashBits(_score_bits(score), STEP_MAX))
    longitude = min(max((area.long_min + area.long_max) / 2, LONG_MIN), LONG_MAX)
    latitude = min(max((area.lat_min + area.lat_max) / 2, LAT_MIN), LAT_MAX)
    return longitude, latitude


def _squash_array(values: np.ndarray) -> np.ndarray:
    """_squash of every uint64 of an array."""
    values = values & np.uint64(_EVEN)
    for shift, mask in (
        (1, 0x3333333333333333),
        (2, 0x0F0F0F0F0F0F0F0F),
        (4, 0x00FF00FF00FF00FF),
        (8, 0x0000FFFF0000FFFF),
        (16, 0xFFFFFFFF),
    ):
        values = (values | (values >> np.uint64(shift))) & np.uint64(mask)
    return values


def positions_of(scores: list[float]) -> tuple[list[float], list[float]]:
    """position_of() of many scores at once (numpy's element-wise double arithmetic is
    the same IEEE arithmetic as C's, operation by operation)."""
    array = np.array(scores, dtype=np.float64)
    if not np.all((array >= 0) & (array < 2.0**63)):
        pairs = [position_of(score) for score in scores]
        return [pair[0] for pair in pairs], [pair[1] for pair in pairs]
    bits = array.astype(np.uint64)
    ilato = _squash_array(bits).astype(np.float64)
    ilono = _squash_array(bits >> np.uint64(1)).astype(np.float64)
    divisor = float(1 << STEP_MAX)
    lat_scale = LAT_MAX - LAT_MIN
    long_scale = LONG_MAX - LONG_MIN
    lat_min = LAT_MIN + (ilato * 1.0 / divisor) * lat_scale
    lat_max = LAT_MIN + ((ilato + 1) * 1.0 / divisor) * lat_scale
    long_min = LONG_MIN + (ilono * 1.0 / divisor) * long_scale
    long_max = LONG_MIN + ((ilono + 1) * 1.0 / divisor) * long_scale
    longitudes = np.minimum(np.maximum((long_min + long_max) / 2, LONG_MIN), LONG_MAX)
    latitudes = np.minimum(np.maximum((lat_min + lat_max) / 2, LAT_MIN), LAT_MAX)
    return longitudes.tolist(), latitudes.tolist()


_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def standard_geohash(score: float) -> bytes:
    """GEOHASH's 11 characters: the position re-encoded with latitude range +-90."""
    longitude, latitude = position_of(score)
    hashed = encode(longitude, latitude, 26, (-180.0, 180.0), (-90.0, 90.0))
    bits = hashed.bits if hashed is not None else 0
    out = bytearray()
    for i in range(10):
        out.append(_ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F])
    out.append(_ALPHABET[0])
    return bytes(out)


# ---------------------------------------------------------------------- distances


def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS * abs(deg_rad(lat2) - deg_rad(lat1))


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """geohashGetDistance: haversine on Redis's earth radius."""
    lon1r = deg_rad(lon1)
    lon2r = deg_rad(lon2)
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r = deg_rad(lat1)
    lat2r = deg_rad(lat2)
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS * math.asin(math.sqrt(a))


# ---------------------------------------------------------------------- search areas


@dataclass(frozen=True)
class Shape:
    """A search: around (longitude, latitude), a radius or a width x height box, in the
    unit `conversion` meters."""

    longitude: float
    latitude: float
    conversion: float
    radius: float = 0.0
    width: float = 0.0
    height: float = 0.0
    is_box: bool = False

    def within(self, longitude: float, latitude: float) -> float | None:
        """geoWithinShape: the distance in meters if the point is inside, else None."""
        if not self.is_box:
            found = distance(self.longitude, self.latitude, longitude, latitude)
            return None if found > self.radius * self.conversion else found
        width_m = self.width * self.conversion
        height_m = self.height * self.conversion
        if lat_distance(latitude, self.latitude) > height_m / 2:
            return None
        if distance(longitude, latitude, self.longitude, latitude) > width_m / 2:
            return None
        return distance(self.longitude, self.latitude, longitude, latitude)


def bounding_box(shape: Shape) -> tuple[float, float, float, float]:
    """geohashBoundingBox: (min_lon, min_lat, max_lon, max_lat)."""
    height = shape.conversion * (shape.height / 2 if shape.is_box else shape.radius)
    width = shape.conversion * (shape.width / 2 if shape.is_box else shape.radius)
    lat_delta = rad_deg(height / EARTH_RADIUS)
    latitude, longitude = shape.latitude, shape.longitude
    top = rad_deg(width / EARTH_RADIUS / math.cos(deg_rad(latitude + lat_delta)))
    bottom = rad_deg(width / EARTH_RADIUS / math.cos(deg_rad(latitude - lat_delta)))
    delta = bottom if latitude < 0 else top
    return longitude - delta, latitude - lat_delta, longitude + delta, latitude + lat_delta


def estimate_steps(range_meters: float, latitude: float) -> int:
    """geohashEstimateStepsByRadius."""
    if range_meters == 0:
        return 26
    step = 1
    while range_meters < MERCATOR_MAX:
        range_meters *= 2
        step += 1
    step -= 2
    if latitude > 66 or latitude < -66:
        step -= 1
        if latitude > 80 or latitude < -80:
            step -= 1
    return min(max(step, 1), 26)


def _move_x(hashed: HashBits, direction: int) -> HashBits:
    x = hashed.bits & _ODD
    y = hashed.bits & _EVEN
    zz = _EVEN >> (64 - hashed.step * 2)
    if direction > 0:
        x = (x + zz + 1) & _MASK64
    else:
        x = ((x | zz) - (zz + 1)) & _MASK64
    x &= _ODD >> (64 - hashed.step * 2)
    return HashBits(x | y, hashed.step)


def _move_y(hashed: HashBits, direction: int) -> HashBits:
    x = hashed.bits & _ODD
    y = hashed.bits & _EVEN
    zz = _ODD >> (64 - hashed.step * 2)
    if direction > 0:
        y = (y + zz + 1) & _MASK64
    else:
        y = ((y | zz) - (zz + 1)) & _MASK64
    y &= _EVEN >> (64 - hashed.step * 2)
    return HashBits(x | y, hashed.step)


def _neighbour(hashed: HashBits, dx: int, dy: int) -> HashBits:
    moved = _move_x(hashed, dx) if dx else hashed
    return _move_y(moved, dy) if dy else moved


# Redis's order of the boxes: the centre, N, S, E, W, NE, NW, SE, SW (dx, dy).
_ORDER = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))


def search_boxes(shape: Shape) -> list[HashBits]:
    """geohashCalculateAreasByShapeWGS84 then membersOfAllNeighbors' walk: the boxes a
    search visits, in Redis's order, the useless ones zeroed and a box equal to the last
    visited one left out."""
    min_lon, min_lat, max_lon, max_lat = bounding_box(shape)
    if shape.is_box:
        radius = math.sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) ** 2)
    else:
        radius = shape.radius
    radius *= shape.conversion
    steps = estimate_steps(radius, shape.latitude)

    def around(step: int) -> tuple[HashBits, dict[tuple[int, int], HashBits], Area]:
        hashed = encode(shape.longitude, shape.latitude, step)
        centre = hashed if hashed is not None else HashBits(0, step)
        boxes = {move: _neighbour(centre, *move) for move in _ORDER[1:]}
        return centre, boxes, decode(centre)

    centre, boxes, area = around(steps)
    north, south = decode(boxes[(0, 1)]), decode(boxes[(0, -1)])
    east, west = decode(boxes[(1, 0)]), decode(boxes[(-1, 0)])
    decrease = (
        north.lat_max < max_lat
        or south.lat_min > min_lat
        or east.long_max < max_lon
        or west.long_min > min_lon
    )
    if steps > 1 and decrease:
        steps -= 1
        centre, boxes, area = around(steps)
    if steps >= 2:
        dropped: set[tuple[int, int]] = set()
        if area.lat_min < min_lat:
            dropped |= {(0, -1), (-1, -1), (1, -1)}
        if area.lat_max > max_lat:
            dropped |= {(0, 1), (1, 1), (-1, 1)}
        if area.long_min < min_lon:
            dropped |= {(-1, 0), (-1, -1), (-1, 1)}
        if area.long_max > max_lon:
            dropped |= {(1, 0), (1, -1), (1, 1)}
        for move in dropped:
            boxes[move] = ZERO
    ordered = [centre] + [boxes[move] for move in _ORDER[1:]]
    visited: list[HashBits] = []
    last: int | None = None
    for index, box in enumerate(ordered):
        if box.is_zero():
            continue
        if last and box == ordered[last]:
            continue
        visited.append(box)
        last = index
    return visited


def box_scores(hashed: HashBits) -> tuple[int, int]:
    """scoresOfGeoHashBox: the score range [min, max) of a box."""
    shift = 52 - hashed.step * 2
    return hashed.bits << shift, (hashed.bits + 1) << shift
