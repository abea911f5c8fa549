"""Redis's geohash arithmetic (geohash.c and geohash_helper.c), ported
operation for operation.

A position is stored as a sorted set score: the 26-bit latitude and 26-bit
longitude cells of the point, interleaved (latitude in the even bits) into a
52-bit integer, which a double holds exactly. Latitudes are limited to
+-85.05112878 (the Web Mercator square), so a hash is not the standard
geohash: GEOHASH re-encodes the decoded position with +-90.

Everything here is pure arithmetic on Python floats and ints. The float
operations are the C ones in the same order (Python floats are C doubles and
math.sin/cos/asin/sqrt call the same libm), so distances and decoded
coordinates come out bit for bit as Redis's; the 64-bit unsigned integer
operations are masked to 64 bits where C would wrap.
"""

import math
import os

GEO_STEP_MAX = 26
GEO_LAT_MIN = -85.05112878
GEO_LAT_MAX = 85.05112878
GEO_LONG_MIN = -180.0
GEO_LONG_MAX = 180.0

D_R = math.pi / 180.0
EARTH_RADIUS_IN_METERS = 6372797.560856
MERCATOR_MAX = 20037726.37

M64 = (1 << 64) - 1
_B = (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F,
      0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF, 0x00000000FFFFFFFF)

LONG_RANGE = (GEO_LONG_MIN, GEO_LONG_MAX)
LAT_RANGE = (GEO_LAT_MIN, GEO_LAT_MAX)
STD_LONG_RANGE = (-180.0, 180.0)
STD_LAT_RANGE = (-90.0, 90.0)

_sin, _cos, _asin, _sqrt = math.sin, math.cos, math.asin, math.sqrt
_NAN = float('nan')


def _c_cos(x):
    # C's cos() returns NaN for an infinite argument where math.cos raises:
    # an infinite radius or box (BYRADIUS inf, or 1e308 km overflowing to
    # metres) then gives NaN longitude bounds and Redis searches everything.
    return _cos(x) if x - x == 0 else _NAN


def interleave64(xlo, ylo):
    """x's bits in the even positions, y's in the odd (both < 2**32)."""
    x, y = xlo, ylo
    x = (x | (x << 16)) & 0x0000FFFF0000FFFF
    y = (y | (y << 16)) & 0x0000FFFF0000FFFF
    x = (x | (x << 8)) & 0x00FF00FF00FF00FF
    y = (y | (y << 8)) & 0x00FF00FF00FF00FF
    x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0F
    y = (y | (y << 4)) & 0x0F0F0F0F0F0F0F0F
    x = (x | (x << 2)) & 0x3333333333333333
    y = (y | (y << 2)) & 0x3333333333333333
    x = (x | (x << 1)) & 0x5555555555555555
    y = (y | (y << 1)) & 0x5555555555555555
    return x | (y << 1)


def deinterleave64(interleaved):
    x = interleaved
    y = interleaved >> 1
    for s, b in ((0, _B[0]), (1, _B[1]), (2, _B[2]), (4, _B[3]), (8, _B[4]), (16, _B[5])):
        x = (x | (x >> s)) & b
        y = (y | (y >> s)) & b
    return (x | (y << 32)) & M64


def _to_u32(d):
    """C's double -> uint32_t conversion for the values geohashEncode
    produces (0 <= d <= 2**32)."""
    return int(d) & 0xFFFFFFFF


def encode(long_range, lat_range, longitude, latitude, step):
    """geohashEncode: (bits, step), or None when it fails."""
    if step > 32 or step == 0:
        return None
    if longitude > GEO_LONG_MAX or longitude < GEO_LONG_MIN or \
            latitude > GEO_LAT_MAX or latitude < GEO_LAT_MIN:
        return None
    if latitude < lat_range[0] or latitude > lat_range[1] or \
            longitude < long_range[0] or longitude > long_range[1]:
        return None
    lat_offset = (latitude - lat_range[0]) / (lat_range[1] - lat_range[0])
    long_offset = (longitude - long_range[0]) / (long_range[1] - long_range[0])
    scale = float(1 << step)
    lat_offset *= scale
    long_offset *= scale
    return interleave64(_to_u32(lat_offset), _to_u32(long_offset)), step


def encode_wgs84(longitude, latitude, step=GEO_STEP_MAX):
    return encode(LONG_RANGE, LAT_RANGE, longitude, latitude, step)


def align52(bits, step):
    return (bits << (52 - step * 2)) & M64


def score_of_py(longitude, latitude):
    """The sorted set score GEOADD stores (coordinates already validated)."""
    bits, step = encode_wgs84(longitude, latitude)
    return align52(bits, step)


def decode(long_range, lat_range, bits, step):
    """geohashDecode: (lat_min, lat_max, long_min, long_max), or None."""
    if bits == 0 and step == 0:
        return None
    sep = deinterleave64(bits)
    lat_scale = lat_range[1] - lat_range[0]
    long_scale = long_range[1] - long_range[0]
    ilato = sep & 0xFFFFFFFF
    ilono = sep >> 32
    div = float(1 << step)
    return (lat_range[0] + (float(ilato) / div) * lat_scale,
            lat_range[0] + (float((ilato + 1) & 0xFFFFFFFF) / div) * lat_scale,
            long_range[0] + (float(ilono) / div) * long_scale,
            long_range[0] + (float((ilono + 1) & 0xFFFFFFFF) / div) * long_scale)


_TWO63 = float(1 << 63)


def score_to_u64(score):
    """C's (uint64_t) cast of a double as x86-64 code performs it (a score
    GEOADD wrote is a non-negative integer below 2**53 and converts
    exactly; other scores get what the hardware gives Redis)."""
    if score != score:
        return 1 << 63
    if score < _TWO63:
        if score <= -_TWO63 - 1.0 or score == -math.inf:
            return 1 << 63
        return int(score) & M64
    t = score - _TWO63
    if t >= _TWO63:
        return 0
    return int(t) ^ (1 << 63)


def decode_score(score):
    """decodeGeohash: (longitude, latitude) of a score, clamped to the
    valid range as geohashDecodeAreaToLongLat does."""
    area = decode(LONG_RANGE, LAT_RANGE, score_to_u64(score), GEO_STEP_MAX)
    lon = (area[2] + area[3]) / 2
    if lon > GEO_LONG_MAX:
        lon = GEO_LONG_MAX
    if lon < GEO_LONG_MIN:
        lon = GEO_LONG_MIN
    lat = (area[0] + area[1]) / 2
    if lat > GEO_LAT_MAX:
        lat = GEO_LAT_MAX
    if lat < GEO_LAT_MIN:
        lat = GEO_LAT_MIN
    return lon, lat


_ALPHABET = b'0123456789bcdefghjkmnpqrstuvwxyz'


def geohash_string(score):
    """GEOHASH's 11-character string: the position re-encoded with the
    standard +-90 latitude range; the 11th character is always '0' (only
    52 bits exist)."""
    lon, lat = decode_score(score)
    r = encode(STD_LONG_RANGE, STD_LAT_RANGE, lon, lat, 26)
    bits = r[0] if r is not None else 0
    out = bytearray(11)
    for i in range(11):
        idx = 0 if i == 10 else (bits >> (52 - (i + 1) * 5)) & 0x1f
        out[i] = _ALPHABET[idx]
    return bytes(out)


# -- neighbours -------------------------------------------------------------------

def _move_x(bits, step, d):
    if d == 0:
        return bits
    x = bits & 0xaaaaaaaaaaaaaaaa
    y = bits & 0x5555555555555555
    zz = 0x5555555555555555 >> (64 - step * 2)
    if d > 0:
        x = (x + (zz + 1)) & M64
    else:
        x = x | zz
        x = (x - (zz + 1)) & M64
    x &= (0xaaaaaaaaaaaaaaaa >> (64 - step * 2))
    return x | y


def _move_y(bits, step, d):
    if d == 0:
        return bits
    x = bits & 0xaaaaaaaaaaaaaaaa
    y = bits & 0x5555555555555555
    zz = 0xaaaaaaaaaaaaaaaa >> (64 - step * 2)
    if d > 0:
        y = (y + (zz + 1)) & M64
    else:
        y = y | zz
        y = (y - (zz + 1)) & M64
    y &= (0x5555555555555555 >> (64 - step * 2))
    return x | y


def neighbors(bits, step):
    """geohashNeighbors: dict of the 8 neighbour hashes' bits."""
    def mv(dx, dy):
        return _move_y(_move_x(bits, step, dx), step, dy)
    return {
        'east': mv(1, 0), 'west': mv(-1, 0), 'south': mv(0, -1), 'north': mv(0, 1),
        'north_west': mv(-1, 1), 'north_east': mv(1, 1),
        'south_east': mv(1, -1), 'south_west': mv(-1, -1),
    }


# -- search areas -----------------------------------------------------------------

def deg_rad(ang):
    return ang * D_R


def rad_deg(ang):
    return ang / D_R


def estimate_steps_by_radius(range_meters, lat):
    if range_meters == 0:
        return 26
    step = 1
    while range_meters < MERCATOR_MAX:
        range_meters *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    if step < 1:
        step = 1
    if step > 26:
        step = 26
    return step


CIRCULAR, RECTANGLE = 1, 2


class Shape:
    """GeoShape: the centre, the kind, its size in the request's unit and
    the unit's factor to meters."""
    __slots__ = ('xy', 'type', 'radius', 'width', 'height', 'conversion', 'bounds')

    def __init__(self):
        self.xy = (0.0, 0.0)
        self.type = 0
        self.radius = self.width = self.height = 0.0
        self.conversion = 0.0
        self.bounds = None


def bounding_box(shape):
    longitude, latitude = shape.xy
    if shape.type == CIRCULAR:
        height = shape.conversion * shape.radius
        width = shape.conversion * shape.radius
    else:
        height = shape.conversion * (shape.height / 2)
        width = shape.conversion * (shape.width / 2)
    lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS)
    long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS /
                             _c_cos(deg_rad(latitude + lat_delta)))
    long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS /
                                _c_cos(deg_rad(latitude - lat_delta)))
    southern = latitude < 0
    return ((longitude - long_delta_bottom) if southern else (longitude - long_delta_top),
            latitude - lat_delta,
            (longitude + long_delta_bottom) if southern else (longitude + long_delta_top),
            latitude + lat_delta)


def _area(bits, step):
    if _area_c is not None:
        return _area_c(bits, step)
    return decode(LONG_RANGE, LAT_RANGE, bits, step)


def areas_by_shape(shape):
    """geohashCalculateAreasByShapeWGS84: the 9 boxes to search, as a list
    of (bits, step) in Redis's order (centre, N, S, E, W, NE, NW, SE, SW),
    (0, 0) for a box excluded."""
    shape.bounds = min_lon, min_lat, max_lon, max_lat = bounding_box(shape)
    longitude, latitude = shape.xy
    if shape.type == CIRCULAR:
        radius_meters = shape.radius
    else:
        radius_meters = _sqrt((shape.width / 2) * (shape.width / 2) +
                              (shape.height / 2) * (shape.height / 2))
    radius_meters *= shape.conversion
    steps = estimate_steps_by_radius(radius_meters, latitude)
    bits = encode(LONG_RANGE, LAT_RANGE, longitude, latitude, steps)[0]
    nb = neighbors(bits, steps)
    area = _area(bits, steps)
    north = _area(nb['north'], steps)
    south = _area(nb['south'], steps)
    east = _area(nb['east'], steps)
    west = _area(nb['west'], steps)
    decrease = (north[1] < max_lat or south[0] > min_lat or
                east[3] < max_lon or west[2] > min_lon)
    if steps > 1 and decrease:
        steps -= 1
        bits = encode(LONG_RANGE, LAT_RANGE, longitude, latitude, steps)[0]
        nb = neighbors(bits, steps)
        area = _area(bits, steps)
    zero = set()
    if steps >= 2:
        if area[0] < min_lat:
            zero.update(('south', 'south_west', 'south_east'))
        if area[1] > max_lat:
            zero.update(('north', 'north_east', 'north_west'))
        if area[2] < min_lon:
            zero.update(('west', 'south_west', 'north_west'))
        if area[3] > max_lon:
            zero.update(('east', 'south_east', 'north_east'))
    out = [(bits, steps)]
    for name in ('north', 'south', 'east', 'west', 'north_east', 'north_west',
                 'south_east', 'south_west'):
        out.append((0, 0) if name in zero else (nb[name], steps))
    return out


def distance(lon1d, lat1d, lon2d, lat2d):
    """geohashGetDistance: the haversine great-circle distance in meters."""
    lat1r = lat1d * D_R
    lon1r = lon1d * D_R
    lat2r = lat2d * D_R
    lon2r = lon2d * D_R
    u = _sin((lat2r - lat1r) / 2)
    v = _sin((lon2r - lon1r) / 2)
    return 2.0 * EARTH_RADIUS_IN_METERS * _asin(_sqrt(u * u + _cos(lat1r) * _cos(lat2r) * v * v))


def distance_if_in_rectangle(width_m, height_m, x1, y1, x2, y2):
    """geohashGetDistanceIfInRectangle: the distance, or None outside."""
    lon_distance = distance(x2, y2, x1, y2)
    lat_distance = distance(x2, y2, x2, y1)
    if lon_distance > width_m / 2 or lat_distance > height_m / 2:
        return None
    return distance(x1, y1, x2, y2)


def filter_points_py(items, cx, cy, circle, radius_m, width_m, height_m, limit, out):
    """geoGetPointsInRange's loop: append (dist, member, score, lon, lat) to
    ``out`` for each (score, member) inside the circle or the box; stop at
    ``limit`` points (0: none)."""
    for score, member in items:
        lon, lat = decode_score(score)
        if circle:
            d = distance(cx, cy, lon, lat)
            if d > radius_m:
                d = None
        else:
            d = distance_if_in_rectangle(width_m, height_m, cx, cy, lon, lat)
        if d is not None:
            out.append((d, member, score, lon, lat))
        if out and limit and len(out) >= limit:
            break


try:
    if os.environ.get('PYREDIS_PURE_PYTHON'):
        raise ImportError('PYREDIS_PURE_PYTHON is set')
    from ._geo import filter as filter_points, area as _area_c, encode as score_of
except ImportError:     # extension not built: the Python loops
    filter_points = filter_points_py
    _area_c = None
    score_of = score_of_py


# -- pqsort (Redis's pqsort.c: NetBSD's qsort, partial) ------------------------------
# GEORADIUS/GEOSEARCH with COUNT sort only the first COUNT results with
# Redis's own partial quicksort; which of several points at the same
# distance come first (or make the cut) is that algorithm's, so it is
# ported as is (in element units: the byte-pointer range tests reduce to
# the same comparisons).

def _med3(v, a, b, c, cmp):
    if cmp(v[a], v[b]) < 0:
        return b if cmp(v[b], v[c]) < 0 else (c if cmp(v[a], v[c]) < 0 else a)
    return b if cmp(v[b], v[c]) > 0 else (a if cmp(v[a], v[c]) < 0 else c)


def _vecswap(v, a, b, n):
    for i in range(n):
        v[a + i], v[b + i] = v[b + i], v[a + i]


def pqsort(v, cmp, lrange, rrange):
    """Sort v (a list) in place enough that positions lrange..rrange hold
    what a full sort would put there, exactly as Redis's pqsort()."""
    _pqsort(v, 0, len(v), cmp, lrange, rrange)


def _pqsort(v, a, n, cmp, lrange, rrange):
    while True:
        if n < 7:
            for pm in range(a + 1, a + n):
                pl = pm
                while pl > a and cmp(v[pl - 1], v[pl]) > 0:
                    v[pl], v[pl - 1] = v[pl - 1], v[pl]
                    pl -= 1
            return
        pm = a + n // 2
        if n > 7:
            pl = a
            pn = a + n - 1
            if n > 40:
                d = n // 8
                pl = _med3(v, pl, pl + d, pl + 2 * d, cmp)
                pm = _med3(v, pm - d, pm, pm + d, cmp)
                pn = _med3(v, pn - 2 * d, pn - d, pn, cmp)
            pm = _med3(v, pl, pm, pn, cmp)
        v[a], v[pm] = v[pm], v[a]
        pa = pb = a + 1
        pc = pd = a + n - 1
        pivot = v[a]
        while True:
            while pb <= pc:
                r = cmp(v[pb], pivot)
                if r > 0:
                    break
                if r == 0:
                    v[pa], v[pb] = v[pb], v[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                r = cmp(v[pc], pivot)
                if r < 0:
                    break
                if r == 0:
                    v[pc], v[pd] = v[pd], v[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            v[pb], v[pc] = v[pc], v[pb]
            pb += 1
            pc -= 1
        pn = a + n
        r = min(pa - a, pb - pa)
        _vecswap(v, a, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        _vecswap(v, pb, pn - r, r)
        r = pb - pa
        if r > 1:
            lo, hi = a, a + r - 1
            if not ((lrange < lo and rrange < lo) or (lrange > hi and rrange > hi)):
                _pqsort(v, a, r, cmp, lrange, rrange)
        r = pd - pc
        if r > 1:
            a = pn - r
            n = r
            lo, hi = a, a + r - 1
            if not ((lrange < lo and rrange < lo) or (lrange > hi and rrange > hi)):
                continue
        return
