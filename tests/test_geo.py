"""GEO commands: raw replies compared with redis-server (RESP2 and RESP3),
on a corpus of points including the poles' limits, the antimeridian and
invalid coordinates, and a seeded random differential run of searches."""

import random

import pytest

from pyredis import geohash as gh

CITIES = [
    ('13.361389', '38.115556', 'Palermo'), ('15.087269', '37.502669', 'Catania'),
    ('2.349014', '48.864716', 'Paris'), ('-0.127758', '51.507351', 'London'),
    ('-73.935242', '40.730610', 'NewYork'), ('139.691711', '35.689487', 'Tokyo'),
    ('151.209900', '-33.865143', 'Sydney'), ('-58.381592', '-34.603722', 'BuenosAires'),
    ('179.999999', '0', 'east-edge'), ('-179.999999', '0', 'west-edge'),
    ('180', '85.05112878', 'ne-corner'), ('-180', '-85.05112878', 'sw-corner'),
    ('0', '0', 'origin'), ('179.5', '-16.5', 'Fiji'), ('-179.5', '-16.6', 'Fiji-west'),
    ('0', '85', 'north'), ('0', '-85', 'south'), ('12.5', '41.9', 'Rome'),
]


def resp3(compat):
    compat.a.call('HELLO', '3')
    compat.b.call('HELLO', '3')


def load(compat, key='g'):
    args = ['GEOADD', key]
    for lon, lat, name in CITIES:
        args += [lon, lat, name]
    compat.call(*args)


def test_geohash_matches_known_values():
    # Redis's documented examples.
    assert gh.geohash_string(gh.score_of(13.361389, 38.115556)) == b'sqc8b49rny0'
    assert gh.geohash_string(gh.score_of(15.087269, 37.502669)) == b'sqdtr74hyu0'


def test_geoadd_options_and_errors(compat):
    compat.run(
        ('GEOADD', 'g', '13.361389', '38.115556', 'Palermo'),
        ('GEOADD', 'g', 'NX', '13.4', '38.1', 'Palermo', '15.087269', '37.502669', 'Catania'),
        ('GEOADD', 'g', 'XX', 'CH', '13.4', '38.1', 'Palermo', '1', '1', 'nope'),
        ('GEOADD', 'g', 'CH', '13.5', '38.1', 'Palermo'),
        ('GEOADD', 'g', 'NX', 'XX', '1', '1', 'x'),
        ('GEOADD', 'g', '1', '1'),
        ('GEOADD', 'g', 'ch', '1', '1'),
        ('GEOADD', 'g', '181', '10', 'bad'),
        ('GEOADD', 'g', '10', '86', 'bad'),
        ('GEOADD', 'g', '-180.0001', '-85.06', 'bad'),
        ('GEOADD', 'g', 'inf', '0', 'bad'),
        ('GEOADD', 'g', 'abc', '0', 'bad'),
        ('GEOADD', 'g', '0', 'nan', 'bad'),
        ('GEOADD', 'g', '1', '1', 'a', '2', '2'),
        ('GEOADD', 'g', '1', '1', 'a', '200', '2', 'b'),
        ('ZRANGE', 'g', '0', '-1', 'WITHSCORES'),
        ('SET', 's', 'x'),
        ('GEOADD', 's', '1', '1', 'a'),
        ('GEOADD', 'g'),
        ('OBJECT', 'ENCODING', 'g'),
    )


@pytest.mark.parametrize('proto', [2, 3])
def test_geopos_geohash_geodist(compat, proto):
    if proto == 3:
        resp3(compat)
    load(compat)
    names = [n for _, _, n in CITIES]
    compat.call('GEOPOS', 'g', *names, 'missing')
    compat.call('GEOHASH', 'g', *names, 'missing')
    compat.call('GEOPOS', 'nokey', 'a', 'b')
    compat.call('GEOHASH', 'nokey', 'a')
    for unit in ('m', 'km', 'mi', 'ft', 'KM', 'Mi', 'yd'):
        compat.call('GEODIST', 'g', 'Palermo', 'Catania', unit)
    for a in names:
        for b in names[::3]:
            compat.call('GEODIST', 'g', a, b)
    compat.run(
        ('GEODIST', 'g', 'Palermo', 'missing'),
        ('GEODIST', 'nokey', 'a', 'b'),
        ('GEODIST', 'g', 'a', 'b', 'km', 'extra'),
        ('ZADD', 'weird', '-5', 'neg', '1e30', 'huge', '4503599627370495', 'max'),
        ('GEOPOS', 'weird', 'neg', 'huge', 'max'),
        ('GEOHASH', 'weird', 'neg', 'huge', 'max'),
        ('SET', 's', 'x'),
        ('GEOPOS', 's', 'a'),
        ('GEOHASH', 's', 'a'),
        ('GEODIST', 's', 'a', 'b'),
    )


@pytest.mark.parametrize('proto', [2, 3])
def test_searches(compat, proto):
    if proto == 3:
        resp3(compat)
    load(compat)
    opts = [(), ('WITHDIST',), ('WITHCOORD',), ('WITHHASH',),
            ('WITHDIST', 'WITHCOORD', 'WITHHASH', 'ASC'), ('DESC', 'WITHDIST'),
            ('COUNT', '3'), ('COUNT', '2', 'DESC', 'WITHDIST'), ('COUNT', '1', 'ANY')]
    for o in opts:
        compat.call('GEORADIUS', 'g', '15', '37', '200', 'km', *o)
        compat.call('GEORADIUS_RO', 'g', '0', '0', '20000', 'km', *o)
        compat.call('GEORADIUSBYMEMBER', 'g', 'Paris', '1000', 'mi', *o)
        compat.call('GEORADIUSBYMEMBER_RO', 'g', 'Fiji', '200', 'km', *o)
        compat.call('GEOSEARCH', 'g', 'FROMLONLAT', '179.9', '-16', 'BYRADIUS', '500', 'km', *o)
        compat.call('GEOSEARCH', 'g', 'FROMMEMBER', 'London', 'BYBOX', '3000', '2000', 'km', *o)
        compat.call('GEOSEARCH', 'g', 'FROMLONLAT', '0', '84', 'BYBOX', '40000', '900', 'km', *o)
        compat.call('GEOSEARCH', 'g', 'FROMLONLAT', '-179.99', '0', 'BYRADIUS', '10', 'km', *o)
        compat.call('GEOSEARCH', 'g', 'FROMMEMBER', 'origin', 'BYRADIUS', '0', 'm', *o)


def test_search_errors(compat):
    load(compat)
    compat.run(
        ('GEORADIUS', 'g', '15', '37', '-1', 'km'),
        ('GEORADIUS', 'g', '15', '37', 'x', 'km'),
        ('GEORADIUS', 'g', '15', '37', '1', 'yd'),
        ('GEORADIUS', 'g', '200', '37', '1', 'km'),
        ('GEORADIUS', 'g', '15', '37', '1', 'km', 'COUNT', '0'),
        ('GEORADIUS', 'g', '15', '37', '1', 'km', 'COUNT', 'x'),
        ('GEORADIUS', 'g', '15', '37', '1', 'km', 'COUNT'),
        ('GEORADIUS', 'g', '15', '37', '1', 'km', 'ANY'),
        ('GEORADIUS', 'g', '15', '37', '1', 'km', 'STORE', 'x', 'WITHDIST'),
        ('GEORADIUS_RO', 'g', '15', '37', '1', 'km', 'STORE', 'x'),
        ('GEORADIUSBYMEMBER', 'g', 'missing', '1', 'km'),
        ('GEORADIUSBYMEMBER', 'nokey', 'missing', '1', 'km'),
        ('GEORADIUSBYMEMBER', 'nokey', 'missing', '1', 'km', 'STORE', 'd'),
        ('GEORADIUS', 'nokey', '1', '1', '1', 'km'),
        ('GEOSEARCH', 'g', 'BYRADIUS', '1', 'km'),
        ('geosearch', 'g', 'FROMLONLAT', '1', '1'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '1', '1', 'FROMMEMBER', 'Paris', 'BYRADIUS', '1', 'km'),
        ('GEOSEARCH', 'g', 'FROMMEMBER', 'missing', 'BYRADIUS', '1', 'km'),
        ('GEOSEARCH', 'nokey', 'FROMMEMBER', 'missing', 'BYRADIUS', '1', 'km'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '1', '1', 'BYRADIUS', '1', 'km', 'BYBOX', '1', '1',
         'km'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '1', '1', 'BYBOX', '-1', '1', 'km'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '1', '1', 'BYBOX', 'w', '1', 'km'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '1', '1', 'BYBOX', '1', 'h', 'km'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '1', '1', 'BYRADIUS', '1', 'km', 'STOREDIST'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '1', '1', 'BYRADIUS', '1', 'km', 'STORE', 'x'),
        ('GEOSEARCHSTORE', 'd', 'g', 'FROMLONLAT', '1', '1', 'BYRADIUS', '1', 'km', 'WITHDIST'),
        ('SET', 's', 'x'),
        ('GEOSEARCH', 's', 'FROMLONLAT', '1', '1', 'BYRADIUS', '1', 'km'),
        ('GEORADIUS', 's', 'x', '1', '1', 'km'),
    )


def test_infinite_sizes_search_everything(compat):
    # An infinite radius or box (or one that overflows to infinity in
    # metres) gives NaN bounds in Redis's C arithmetic, and every point.
    load(compat)
    compat.run(
        ('GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', 'inf', 'km'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '+inf', 'm', 'WITHDIST', 'ASC'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1e308', 'km', 'WITHDIST',
         'ASC'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYBOX', 'inf', 'inf', 'km', 'ASC'),
        ('GEOSEARCH', 'g', 'FROMLONLAT', '0', '0', 'BYBOX', '1e308', '2', 'km', 'ASC'),
        ('GEORADIUS', 'g', '0', '0', 'inf', 'km', 'ASC'),
        ('GEORADIUSBYMEMBER', 'g', 'Palermo', 'inf', 'km', 'ASC'),
        ('GEOSEARCHSTORE', 'd', 'g', 'FROMLONLAT', '0', '0', 'BYRADIUS', 'inf', 'km'),
        ('ZCARD', 'd'),
    )


def test_store(compat):
    load(compat)
    compat.run(
        ('GEORADIUS', 'g', '15', '37', '500', 'km', 'STORE', 'st'),
        ('ZRANGE', 'st', '0', '-1', 'WITHSCORES'),
        ('OBJECT', 'ENCODING', 'st'),
        ('GEORADIUS', 'g', '15', '37', '500', 'km', 'STOREDIST', 'sd', 'DESC', 'COUNT', '1'),
        ('ZRANGE', 'sd', '0', '-1', 'WITHSCORES'),
        ('GEOSEARCHSTORE', 'gs', 'g', 'FROMMEMBER', 'Paris', 'BYRADIUS', '2000', 'km'),
        ('ZRANGE', 'gs', '0', '-1', 'WITHSCORES'),
        ('GEOSEARCHSTORE', 'gs', 'g', 'FROMMEMBER', 'Paris', 'BYRADIUS', '2000', 'km',
         'STOREDIST'),
        ('ZRANGE', 'gs', '0', '-1', 'WITHSCORES'),
        ('GEOSEARCHSTORE', 'gs', 'g', 'FROMMEMBER', 'Paris', 'BYRADIUS', '1', 'm'),
        ('EXISTS', 'gs'),
        ('GEOSEARCHSTORE', 'gs', 'nokey', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'm'),
        ('SET', 'str', 'x'),
        ('GEORADIUS', 'g', '15', '37', '500', 'km', 'STORE', 'str'),
        ('TYPE', 'str'),
        ('GEORADIUS', 'nokey', '15', '37', '500', 'km', 'STORE', 'str'),
        ('EXISTS', 'str'),
    )


def test_random_differential(compat):
    rnd = random.Random(1234)
    args = ['GEOADD', 'r']
    for i in range(600):
        lon = rnd.uniform(-180, 180)
        lat = rnd.uniform(-85.05112878, 85.05112878)
        args += ['%.6f' % lon, '%.6f' % lat, 'p%d' % i]
    compat.call(*args)
    # A dense cluster (many points per box), one big enough for a skiplist.
    args = ['GEOADD', 'r']
    for i in range(300):
        args += ['%.6f' % rnd.uniform(2, 2.5), '%.6f' % rnd.uniform(48.5, 49), 'c%d' % i]
    compat.call(*args)
    for _ in range(150):
        lon = '%.4f' % rnd.uniform(-180, 180)
        lat = '%.4f' % rnd.uniform(-85, 85)
        if rnd.random() < 0.3:
            lon, lat = '%.4f' % rnd.uniform(2, 2.5), '%.4f' % rnd.uniform(48.5, 49)
        unit = rnd.choice(['m', 'km', 'mi', 'ft'])
        size = '%g' % (10 ** rnd.uniform(0, 4) * (1000 if unit in ('m', 'ft') else 1))
        extra = rnd.choice([(), ('ASC',), ('DESC', 'WITHDIST'), ('WITHCOORD', 'WITHHASH')])
        if rnd.random() < 0.5:
            compat.call('GEORADIUS', 'r', lon, lat, size, unit, 'WITHDIST', *extra)
            compat.call('GEOSEARCH', 'r', 'FROMLONLAT', lon, lat, 'BYBOX', size,
                        '%g' % (float(size) / 2), unit, 'WITHDIST', *extra)
        else:
            m = 'p%d' % rnd.randrange(600)
            compat.call('GEORADIUSBYMEMBER', 'r', m, size, unit, 'WITHDIST', *extra)
            compat.call('GEOSEARCH', 'r', 'FROMMEMBER', m, 'BYRADIUS', size, unit,
                        'COUNT', '5', *extra)


def test_geoadd_propagates_as_zadd(server_factory):
    master = server_factory('pyredis', '--appendonly', 'yes')
    r = master.client()
    r.geoadd('g', (13.361389, 38.115556, 'Palermo'))
    r.geoadd('g', (15.087269, 37.502669, 'Catania'), nx=True, ch=True)
    r.execute_command('CONFIG', 'SET', 'appendfsync', 'always')
    r.set('flush', '1')
    import glob
    import os
    data = b''
    for path in sorted(glob.glob(os.path.join(master.dir, 'appendonlydir', '*.incr.aof'))):
        with open(path, 'rb') as f:
            data += f.read()
    assert b'$4\r\nzadd\r\n$1\r\ng\r\n$16\r\n3479099956230698\r\n$7\r\nPalermo\r\n' in data
    assert b'$4\r\nzadd\r\n$1\r\ng\r\n$2\r\nNX\r\n$2\r\nCH\r\n' in data


def test_c_and_python_arithmetic_agree():
    """pyredis/_geo.c (when built) and geohash.py give the same doubles."""
    try:
        from pyredis import _geo
    except ImportError:
        pytest.skip('the _geo extension is not built')
    rnd = random.Random(3)
    for _ in range(3000):
        lon = rnd.uniform(-180, 180)
        lat = rnd.uniform(-85.05112878, 85.05112878)
        score = gh.score_of_py(lon, lat)
        assert _geo.encode(lon, lat) == score
        step = rnd.randrange(1, 27)
        bits = gh.encode_wgs84(lon, lat, step)[0]
        assert _geo.area(bits, step) == gh.decode(gh.LONG_RANGE, gh.LAT_RANGE, bits, step)
        assert _geo.decode(float(score)) == gh.decode_score(float(score))
        args = (rnd.uniform(-180, 180), rnd.uniform(-85, 85), lon, lat)
        assert _geo.distance(*args) == gh.distance(*args)
    for edge in ((180.0, 85.05112878), (-180.0, -85.05112878), (0.0, 0.0)):
        assert _geo.encode(*edge) == gh.score_of_py(*edge)
    items = [(float(gh.score_of_py(rnd.uniform(10, 20), rnd.uniform(30, 40))), b'm%d' % i)
             for i in range(500)]
    for circle in (True, False):
        for limit in (0, 7):
            a, b = [], []
            _geo.filter(items, 15.0, 35.0, circle, 300000.0, 500000.0, 200000.0, limit, a)
            gh.filter_points_py(items, 15.0, 35.0, circle, 300000.0, 500000.0, 200000.0,
                                limit, b)
            assert a == b and a


def test_geoadd_fast_path_edges(compat):
    compat.run(
        ('GEOADD', 'g', '1', '1', 'a'),
        ('GEOADD', 'g', '1', '1', 'a'),
        ('GEOADD', 'g', '1.5', '1', 'a'),
        ('GEOADD', 'g', 'NX', '1', '1'),
        ('GEOADD', 'g', 'ch', '1', '1'),
        ('GEOADD', 'g', 'nan', '1', 'b'),
        ('GEOADD', 'g', '1', '91', 'b'),
        ('GEOADD', 'g', ' 1', '1', 'b'),
        ('ZRANGE', 'g', '0', '-1', 'WITHSCORES'),
        ('OBJECT', 'ENCODING', 'g'),
        ('SET', 's', 'x'),
        ('GEOADD', 's', '1', '1', 'a'),
    )


def test_ties_sorted_as_redis(compat):
    """Points at the same distance: a full sort keeps their order (glibc's
    merge sort), COUNT sorts with Redis's partial quicksort (pqsort)."""
    args = ['GEOADD', 'big']
    for i in range(300):
        args += ['%f' % (2 + (i % 7) * 0.001), '%f' % (48 + (i % 5) * 0.001), 'p%d' % i]
    compat.call(*args)
    compat.call('GEOADD', 'g', '1', '1', 'a', '1', '1', 'b', '1', '1', 'c', '1', '1', 'd',
                '1.0001', '1', 'f', '0.9999', '1', 'h', '1', '1.0001', 'i')
    for count in ([], ['COUNT', '1'], ['COUNT', '2'], ['COUNT', '3'], ['COUNT', '10'],
                  ['COUNT', '57'], ['COUNT', '150']):
        for order in ('ASC', 'DESC'):
            compat.call('GEOSEARCH', 'big', 'FROMLONLAT', '2.003', '48.002', 'BYRADIUS', '1',
                        'km', order, *count)
            compat.call('GEOSEARCH', 'g', 'FROMLONLAT', '1', '1', 'BYRADIUS', '10', 'km',
                        order, *count)
            compat.call('GEORADIUS', 'big', '2.001', '48.001', '500', 'm', order, 'WITHDIST',
                        *count)


def test_coordinate_parsing_edges(compat):
    compat.run(
        ('GEOADD', 'g', '1', '1', 'a'),
        ('GEOADD', 'g', '1e999', '1', 'b'),
        ('GEOADD', 'g', '1e-999', '1', 'b'),
        ('GEOADD', 'g', '1E1', '1', 'c'),
        ('GEOADD', 'g', '0x10', '1', 'd'),
        ('GEOADD', 'g', '1_0', '1', 'e'),
        ('GEOADD', 'g', '-0', '-0.0', 'f'),
        ('GEOADD', 'g', '00012.5', '1', 'h'),
        ('GEOADD', 'g', '1.', '.5', 'i'),
        ('GEOADD', 'g', '-', '1', 'j'),
        ('GEOADD', 'g', '1 ', '1', 'k'),
        ('ZRANGE', 'g', '0', '-1', 'WITHSCORES'),
    )
