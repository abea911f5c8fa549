"""Geospatial commands (geo.c) on top of the sorted set.

A GEO set is a sorted set whose scores are 52-bit geohashes (geohash.py,
Redis's arithmetic ported exactly). GEOADD is ZADD with the coordinates
turned into scores, and is propagated as that ZADD, as Redis rewrites its
argument vector. The searches (GEORADIUS*, GEOSEARCH*) follow
georadiusGeneric step by step: the same argument parsing order (which
decides which error a client sees), the same 9 geohash boxes
(geohash.areas_by_shape), each read as a score range of the sorted set and
filtered by the exact distance or box test, the same early stop for ANY,
then sorting by distance and the reply or the STORE/STOREDIST key.

Output formats are Redis's: distances "%.4f" as bulk strings (RESP3 too),
coordinates as addReplyHumanLongDouble ("%.17Lf" with trailing zeros
stripped; a bulk string in RESP2, a double in RESP3), hashes as integers.
"""

from . import command
from . import zsets as _zsets
from .. import geohash as gh
from ..notify import NotifyFlags
from ..resp import (EMPTY_ARRAY, NULL_ARRAY, NULL_BULK, NULL3, NOT_FLOAT_ERR, NOT_INT_ERR,
                    ONE, SYNTAX_ERR, ZERO, bulk, error, integer)
from ..util import string2ll
from ..values import ZSET
from ..zset import ZSet

Z = NotifyFlags.ZSET
G = NotifyFlags.GENERIC

UNIT_ERR = b'-ERR unsupported unit provided. please use M, KM, FT, MI\r\n'
DECODE_MEMBER_ERR = b'-ERR could not decode requested zset member\r\n'
UNITS = {b'm': 1.0, b'km': 1000.0, b'ft': 0.3048, b'mi': 1609.34}

SORT_NONE, SORT_ASC, SORT_DESC = 0, 1, 2
RADIUS_COORDS, RADIUS_MEMBER, RADIUS_NOSTORE, GEOSEARCH, GEOSEARCHSTORE = 1, 2, 4, 8, 16


class _Reply(Exception):
    """An error reply found while parsing (the C code's addReply + return)."""

    def __init__(self, reply):
        self.reply = reply


def _double(arg, msg=None):
    v = _zsets.get_double(arg)
    if v is None:
        raise _Reply(error(b'ERR ' + msg) if msg else NOT_FLOAT_ERR)
    return v


_DIGITS = frozenset(b'0123456789')
_FIRST = frozenset(b'-0123456789')


def _quick_double(a):
    """A plain decimal coordinate ("13.361389", "-0.5") parsed at once;
    None for anything else (get_double then decides, with its errors):
    a digit at both ends rules out spaces, inf/nan and hex floats, and
    without an exponent (and under 300 characters) nothing overflows or
    underflows, which strtod would report and float() would not."""
    if a and a[0] in _FIRST and a[-1] in _DIGITS and len(a) < 300 and b'_' not in a \
            and b'e' not in a and b'E' not in a:
        try:
            return float(a)
        except ValueError:
            return None
    return None


def _long_lat(argv, i):
    """extractLongLatOrReply."""
    lon = _quick_double(argv[i])
    if lon is None:
        lon = _double(argv[i])
    lat = _quick_double(argv[i + 1])
    if lat is None:
        lat = _double(argv[i + 1])
    if lon < gh.GEO_LONG_MIN or lon > gh.GEO_LONG_MAX or \
            lat < gh.GEO_LAT_MIN or lat > gh.GEO_LAT_MAX:
        raise _Reply(b'-ERR invalid longitude,latitude pair %s,%s\r\n' % (
            (b'%f' % lon), (b'%f' % lat)))
    return lon, lat


def _unit(arg):
    f = UNITS.get(arg.lower())
    if f is None:
        raise _Reply(UNIT_ERR)
    return f


def _distance_arg(argv, i):
    """extractDistanceOrReply: (radius, conversion)."""
    d = _double(argv[i], b'need numeric radius')
    if d < 0:
        raise _Reply(b'-ERR radius cannot be negative\r\n')
    return d, _unit(argv[i + 1])


def _box_arg(argv, i):
    w = _double(argv[i], b'need numeric width')
    h = _double(argv[i + 1], b'need numeric height')
    if h < 0 or w < 0:
        raise _Reply(b'-ERR height or width cannot be negative\r\n')
    return w, h, _unit(argv[i + 2])


def human_double(d, r):
    """addReplyHumanLongDouble of a double: "%.17Lf" (a double widened to
    long double prints as its own exact value, which Python's "%.17f"
    rounds the same way), trailing zeros and dot stripped."""
    s = b'%.17f' % d
    if b'.' in s:
        s = s.rstrip(b'0').rstrip(b'.')
    if s == b'-0':
        s = b'0'
    if r == 3:
        return b',%s\r\n' % s
    return b'$%d\r\n%s\r\n' % (len(s), s)


def _dist_reply(d):
    s = b'%.4f' % d
    return b'$%d\r\n%s\r\n' % (len(s), s)


def _lookup(c, key, write=False):
    z, err = c.db.lookup_typed(key, ZSET, write)
    if err:
        raise _Reply(err)
    return z


def _member_pos(z, member):
    s = z.dict.get(member)
    if s is None:
        return None
    return gh.decode_score(s)


# -- GEOADD ---------------------------------------------------------------------------

@command('geoadd')
def geoadd(c, argv):
    # GEOADD key lon lat member on an existing sorted set without a TTL:
    # what zsets.zadd's own fast path does, for the one score.
    if len(argv) != 5 or argv[2][:1] in b'nNxXcC':    # not NX/XX/CH
        return geoadd_generic(c, argv)
    key = argv[1]
    db = c.db
    z = db.data.get(key)
    if z.__class__ is not ZSet or z.big is None or (db.expires and key in db.expires):
        return geoadd_generic(c, argv)
    try:
        lon, lat = _long_lat(argv, 2)
    except _Reply as e:
        return e.reply
    bits = gh.score_of(lon, lat)
    score = float(bits)
    member = argv[4]
    sbits = b'%d' % bits
    if c.server.propagate_targets:
        c.propagate_argv = [[b'zadd', key, sbits, member]]
    db.lru[key] = db.lruclock
    cur = z.dict.get(member)
    if cur is not None and cur == score:
        return ZERO
    server = c.server
    if cur is None:
        _zsets.zset_add(server, z, member, score)
    else:
        z.add(member, score)
    server.dirty += 1
    if db.watched:
        server.signal_modified(db, key)
    if server.notify_flags:
        server.notify(Z, b'zadd', key, db.id)
    return ZERO if cur is not None else ONE


def geoadd_generic(c, argv):
    longidx = 2
    n = len(argv)
    xx = nx = False
    while longidx < n:
        o = argv[longidx].lower()
        if o == b'nx':
            nx = True
        elif o == b'xx':
            xx = True
        elif o != b'ch':
            break
        longidx += 1
    if (n - longidx) % 3 or (xx and nx):
        return SYNTAX_ERR
    zargv = [b'zadd'] + list(argv[1:longidx])
    try:
        for i in range(longidx, n, 3):
            lon, lat = _long_lat(argv, i)
            zargv.append(b'%d' % gh.score_of(lon, lat))
            zargv.append(argv[i + 2])
    except _Reply as e:
        return e.reply
    # Redis replaces the command's arguments with the ZADD it runs, so that
    # is what reaches the AOF and the replicas.
    c.propagate_argv = [zargv]
    return _zsets.zadd_generic(c, zargv, False)


# -- GEORADIUS / GEOSEARCH -------------------------------------------------------------

def _points_in_box(z, bits, step, shape, out, limit):
    """membersOfGeoHashBox + geoGetPointsInRange: members whose score is in
    the box's range [min, max), kept when inside the shape."""
    lo = gh.align52(bits, step)
    hi = gh.align52((bits + 1) & gh.M64, step)
    start, end = _zsets.score_ranks(z, float(lo), False, float(hi), True)
    if start >= end:
        return
    cx, cy = shape.xy
    conv = shape.conversion
    gh.filter_points(z.iter_range(start, end - 1), cx, cy, shape.type == gh.CIRCULAR,
                     shape.radius * conv, shape.width * conv, shape.height * conv, limit, out)


def _search(z, shape, limit):
    boxes = gh.areas_by_shape(shape)
    out = []
    last = 0
    for i, (bits, step) in enumerate(boxes):
        if bits == 0 and step == 0:
            continue
        # With a huge radius adjacent boxes can be the same one: skipped
        # when equal to the one processed just before (as Redis).
        if last and boxes[i] == boxes[last]:
            continue
        if out and limit and len(out) >= limit:
            break
        _points_in_box(z, bits, step, shape, out, limit)
        last = i
    return out


def georadius_generic(c, argv, src_index, flags):
    try:
        return _georadius(c, argv, src_index, flags)
    except _Reply as e:
        return e.reply


def _georadius(c, argv, src_index, flags):
    storekey = None
    storedist = False
    z = _lookup(c, argv[src_index])
    shape = gh.Shape()
    if flags & RADIUS_COORDS:
        base_args = 6
        shape.type = gh.CIRCULAR
        shape.xy = _long_lat(argv, 2)
        shape.radius, shape.conversion = _distance_arg(argv, base_args - 2)
    elif flags & RADIUS_MEMBER and z is None:
        base_args = 5
    elif flags & RADIUS_MEMBER:
        base_args = 5
        shape.type = gh.CIRCULAR
        xy = _member_pos(z, argv[2])
        if xy is None:
            return DECODE_MEMBER_ERR
        shape.xy = xy
        shape.radius, shape.conversion = _distance_arg(argv, base_args - 2)
    else:
        base_args = 2
        if flags & GEOSEARCHSTORE:
            base_args = 3
            storekey = argv[1]
    withdist = withhash = withcoords = False
    frommember = fromloc = byradius = bybox = False
    sort = SORT_NONE
    any_ = False
    count = 0
    remaining = len(argv) - base_args
    i = 0
    search = flags & GEOSEARCH
    nostore = flags & RADIUS_NOSTORE
    while i < remaining:
        arg = argv[base_args + i].lower()
        if arg == b'withdist':
            withdist = True
        elif arg == b'withhash':
            withhash = True
        elif arg == b'withcoord':
            withcoords = True
        elif arg == b'any':
            any_ = True
        elif arg == b'asc':
            sort = SORT_ASC
        elif arg == b'desc':
            sort = SORT_DESC
        elif arg == b'count' and i + 1 < remaining:
            count = string2ll(argv[base_args + i + 1])
            if count is None:
                return NOT_INT_ERR
            if count <= 0:
                return b'-ERR COUNT must be > 0\r\n'
            i += 1
        elif arg == b'store' and i + 1 < remaining and not nostore and not search:
            storekey = argv[base_args + i + 1]
            storedist = False
            i += 1
        elif arg == b'storedist' and i + 1 < remaining and not nostore and not search:
            storekey = argv[base_args + i + 1]
            storedist = True
            i += 1
        elif arg == b'storedist' and search and flags & GEOSEARCHSTORE:
            storedist = True
        elif arg == b'frommember' and i + 1 < remaining and search and not fromloc:
            if z is None:
                frommember = True
                i += 2
                continue
            xy = _member_pos(z, argv[base_args + i + 1])
            if xy is None:
                return DECODE_MEMBER_ERR
            shape.xy = xy
            frommember = True
            i += 1
        elif arg == b'fromlonlat' and i + 2 < remaining and search and not frommember:
            shape.xy = _long_lat(argv, base_args + i + 1)
            fromloc = True
            i += 2
        elif arg == b'byradius' and i + 2 < remaining and search and not bybox:
            shape.radius, shape.conversion = _distance_arg(argv, base_args + i + 1)
            shape.type = gh.CIRCULAR
            byradius = True
            i += 2
        elif arg == b'bybox' and i + 3 < remaining and search and not byradius:
            shape.width, shape.height, shape.conversion = _box_arg(argv, base_args + i + 1)
            shape.type = gh.RECTANGLE
            bybox = True
            i += 3
        else:
            return SYNTAX_ERR
        i += 1
    if storekey is not None and (withdist or withhash or withcoords):
        return error(b'ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options'
                     % (b'GEOSEARCHSTORE' if flags & GEOSEARCHSTORE
                        else b'STORE option in GEORADIUS'))
    if search and not (frommember or fromloc):
        return error(b'ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for %s'
                     % argv[0])
    if search and not (byradius or bybox):
        return error(b'ERR exactly one of BYRADIUS and BYBOX can be specified for %s'
                     % argv[0])
    if any_ and not count:
        return b'-ERR the ANY argument requires COUNT argument\r\n'
    db = c.db
    server = c.server
    if z is None:
        if storekey is not None:
            if db.lookup_write(storekey) is not None and db.delete(storekey):
                server.key_modified(db, storekey, G, b'del')
            return ZERO
        return EMPTY_ARRAY
    if count and sort == SORT_NONE and not any_:
        sort = SORT_ASC
    points = _search(z, shape, count if any_ else 0)
    if not points and storekey is None:
        return EMPTY_ARRAY
    returned = len(points) if not count or len(points) < count else count
    if sort != SORT_NONE:
        if returned == len(points):
            # glibc's qsort (a merge sort for arrays this size): stable.
            points.sort(key=_by_dist, reverse=sort == SORT_DESC)
        else:
            gh.pqsort(points, _cmp_asc if sort == SORT_ASC else _cmp_desc, 0, returned - 1)
    conv = shape.conversion
    if storekey is None:
        r = c.resp
        opts = withdist + withcoords + withhash
        if not opts:
            return b'*%d\r\n' % returned + b''.join([bulk(p[1]) for p in points[:returned]])
        out = [b'*%d\r\n' % returned]
        for d, member, score, lon, lat in points[:returned]:
            if opts:
                out.append(b'*%d\r\n' % (opts + 1))
            out.append(b'$%d\r\n%s\r\n' % (len(member), member))
            if withdist:
                out.append(_dist_reply(d / conv))
            if withhash:
                out.append(b':%d\r\n' % _as_long_long(score))
            if withcoords:
                out.append(b'*2\r\n')
                out.append(human_double(lon, r))
                out.append(human_double(lat, r))
        return b''.join(out)
    if returned:
        tuples = sorted(((d / conv) if storedist else score, member)
                        for d, member, score, lon, lat in points[:returned])
        _zsets.store_zset(c, db, storekey, _zsets.new_zset_from_tuples(server, tuples))
        server.key_modified(db, storekey, Z,
                            b'geosearchstore' if search else b'georadiusstore', returned)
    elif db.lookup_write(storekey) is not None and db.delete(storekey):
        server.key_modified(db, storekey, G, b'del')
    return integer(returned)


def _as_long_long(score):
    if -9.223372036854775808e18 <= score < 9.223372036854775808e18:
        return int(score)
    return -(1 << 63)


def _cmp_asc(a, b):
    """sort_gp_asc."""
    a, b = a[0], b[0]
    return 1 if a > b else (0 if a == b else -1)


def _cmp_desc(a, b):
    return -_cmp_asc(a, b)


def _by_dist(p):
    return p[0]


@command('georadius')
def georadius(c, argv):
    return georadius_generic(c, argv, 1, RADIUS_COORDS)


@command('georadiusbymember')
def georadiusbymember(c, argv):
    return georadius_generic(c, argv, 1, RADIUS_MEMBER)


@command('georadius_ro')
def georadius_ro(c, argv):
    return georadius_generic(c, argv, 1, RADIUS_COORDS | RADIUS_NOSTORE)


@command('georadiusbymember_ro')
def georadiusbymember_ro(c, argv):
    return georadius_generic(c, argv, 1, RADIUS_MEMBER | RADIUS_NOSTORE)


@command('geosearch')
def geosearch(c, argv):
    return georadius_generic(c, argv, 1, GEOSEARCH)


@command('geosearchstore')
def geosearchstore(c, argv):
    return georadius_generic(c, argv, 2, GEOSEARCH | GEOSEARCHSTORE)


# -- GEOHASH / GEOPOS / GEODIST -----------------------------------------------------------

@command('geohash')
def geohash(c, argv):
    z, err = c.db.lookup_typed(argv[1], ZSET)
    if err:
        return err
    null = NULL_BULK if c.resp == 2 else NULL3
    out = [b'*%d\r\n' % (len(argv) - 2)]
    d = z.dict if z is not None else {}
    for m in argv[2:]:
        s = d.get(m)
        if s is None:
            out.append(null)
        else:
            out.append(b'$11\r\n%s\r\n' % gh.geohash_string(s))
    return b''.join(out)


@command('geopos')
def geopos(c, argv):
    z, err = c.db.lookup_typed(argv[1], ZSET)
    if err:
        return err
    r = c.resp
    null = NULL_ARRAY if r == 2 else NULL3
    out = [b'*%d\r\n' % (len(argv) - 2)]
    d = z.dict if z is not None else {}
    for m in argv[2:]:
        s = d.get(m)
        if s is None:
            out.append(null)
        else:
            lon, lat = gh.decode_score(s)
            out.append(b'*2\r\n' + human_double(lon, r) + human_double(lat, r))
    return b''.join(out)


@command('geodist')
def geodist(c, argv):
    to_meter = 1.0
    if len(argv) == 5:
        to_meter = UNITS.get(argv[4].lower())
        if to_meter is None:
            return UNIT_ERR
    elif len(argv) > 5:
        return SYNTAX_ERR
    z, err = c.db.lookup_typed(argv[1], ZSET)
    if err:
        return err
    null = NULL_BULK if c.resp == 2 else NULL3
    if z is None:
        return null
    s1 = z.dict.get(argv[2])
    s2 = z.dict.get(argv[3])
    if s1 is None or s2 is None:
        return null
    x1, y1 = gh.decode_score(s1)
    x2, y2 = gh.decode_score(s2)
    return _dist_reply(gh.distance(x1, y1, x2, y2) / to_meter)
