"""Expiration: lazy expiry on access, the active expire cycle in the cron,
and the INFO fields that report them, checked on pyredis and, where the
behaviour is deterministic, on a real redis-server the same way.
"""

import time

import hiredis
import pytest

from helpers import RawConn, encode_command


def parse(raw):
    r = hiredis.Reader()
    r.feed(raw)
    return r.gets()


def info(conn, section):
    text = parse(conn.call('INFO', section)).decode()
    out = {}
    for line in text.split('\r\n'):
        if ':' in line:
            k, v = line.split(':', 1)
            out[k] = v
    return out


def wait_until(predicate, timeout=10, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.fixture(params=['pyredis', 'redis'])
def srv(request, pyredis, real_redis):
    s = pyredis if request.param == 'pyredis' else real_redis
    conn = RawConn(s.port)
    yield s
    conn.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')


def test_expired_keys_stay_counted_until_touched(srv):
    conn = RawConn(srv.port)
    assert conn.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0') == b'+OK\r\n'
    before = int(info(conn, 'stats')['expired_keys'])
    for i in range(5):
        conn.call('SET', 'k%d' % i, 'v', 'PX', '30')
    conn.call('SET', 'keep', 'v')
    time.sleep(0.3)
    # Nobody touched them: they are still in the keyspace.
    assert conn.call('DBSIZE') == b':6\r\n'
    assert info(conn, 'keyspace')['db0'].startswith('keys=6,expires=5,')
    assert int(info(conn, 'stats')['expired_keys']) == before
    # KEYS hides them without deleting them.
    assert conn.call('KEYS', '*') == b'*1\r\n$4\r\nkeep\r\n'
    assert conn.call('DBSIZE') == b':6\r\n'
    # Each kind of access deletes the one it touches.
    assert conn.call('GET', 'k0') == b'$-1\r\n'
    assert conn.call('DBSIZE') == b':5\r\n'
    assert conn.call('EXISTS', 'k1') == b':0\r\n'
    assert conn.call('TTL', 'k2') == b':-2\r\n'
    assert conn.call('SET', 'k3', 'new', 'NX') == b'+OK\r\n'
    # k0..k3 expired (the SET NX found k3 expired and made a new one).
    assert conn.call('DBSIZE') == b':3\r\n'
    assert int(info(conn, 'stats')['expired_keys']) == before + 4
    # A full SCAN meets the last one and expires it.
    cursor = b'0'
    while True:
        cursor, _ = parse(conn.call('SCAN', cursor))
        if cursor == b'0':
            break
    assert conn.call('DBSIZE') == b':2\r\n'
    assert int(info(conn, 'stats')['expired_keys']) == before + 5
    assert conn.call('GET', 'k4') == b'$-1\r\n'


def test_lazy_expiry_replies_match_redis(compat):
    compat.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
    try:
        compat.run(('SET', 'a', '1', 'PX', '20'), ('SET', 'b', '2', 'PX', '20'),
                   ('SET', 'c', '3', 'PX', '20'), ('SET', 'd', '4', 'PX', '20'),
                   ('SET', 'e', '5', 'PX', '20'), ('SET', 'f', '5', 'PX', '20'))
        time.sleep(0.2)
        compat.run(('DBSIZE',), ('KEYS', '*'), ('GET', 'a'), ('DBSIZE',), ('TTL', 'b'),
                   ('PTTL', 'b'), ('EXPIRETIME', 'c'), ('DBSIZE',), ('APPEND', 'd', 'x'),
                   ('GET', 'd'), ('TTL', 'd'), ('INCR', 'e'), ('TTL', 'e'),
                   ('SET', 'f', 'v', 'XX'), ('EXISTS', 'f'), ('DBSIZE',),
                   ('DEL', 'd'), ('RANDOMKEY',), ('DBSIZE',))
    finally:
        compat.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')


def test_active_expiry_in_every_database(srv):
    """10,000 keys with a 100 ms TTL spread over the 16 databases disappear
    without any access to them, while the server keeps answering."""
    conn = RawConn(srv.port)
    stats = info(conn, 'stats')
    before = int(stats['expired_keys'])
    cap_before = int(stats['expired_time_cap_reached_count'])
    payload = []
    for db in range(16):
        payload.append(encode_command(('SELECT', str(db))))
        for i in range(625):
            payload.append(encode_command(('SET', 'key:%d:%d' % (db, i), 'v', 'PX', '100')))
    payload.append(encode_command(('SELECT', '0')))
    conn.send(b''.join(payload))
    for _ in range(len(payload)):
        assert conn.read_reply() == b'+OK\r\n'
    watcher = RawConn(srv.port)
    pings = 0

    def all_gone():
        nonlocal pings
        assert watcher.call('PING') == b'+PONG\r\n'
        pings += 1
        # INFO keyspace does not touch the keys.
        return not any(k.startswith('db') for k in info(watcher, 'keyspace'))
    assert wait_until(all_gone, timeout=20), info(watcher, 'keyspace')
    assert pings > 0
    stats = info(watcher, 'stats')
    assert int(stats['expired_keys']) == before + 10000
    assert int(stats['expired_time_cap_reached_count']) >= cap_before
    assert float(stats['expired_stale_perc']) >= 0
    assert int(stats['expire_cycle_cpu_milliseconds']) >= 0


def test_active_expiry_can_be_turned_off_and_on(srv):
    conn = RawConn(srv.port)
    conn.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
    for i in range(50):
        conn.call('SET', 'x%d' % i, 'v', 'PX', '10')
    time.sleep(0.5)
    assert conn.call('DBSIZE') == b':50\r\n'
    conn.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')
    assert wait_until(lambda: conn.call('DBSIZE') == b':0\r\n', timeout=10)


def test_active_expiry_keeps_keys_that_have_not_expired(srv):
    conn = RawConn(srv.port)
    for i in range(200):
        conn.call('SET', 'short%d' % i, 'v', 'PX', '50')
        conn.call('SET', 'long%d' % i, 'v', 'EX', '1000')
    conn.call('SET', 'plain', 'v')
    assert wait_until(lambda: conn.call('DBSIZE') == b':201\r\n', timeout=10)
    time.sleep(0.3)
    assert conn.call('DBSIZE') == b':201\r\n'


def test_info_keyspace_avg_ttl(srv):
    """avg_ttl is estimated by the active cycle from the keys it samples."""
    conn = RawConn(srv.port)
    for i in range(100):
        conn.call('SET', 'k%d' % i, 'v', 'EX', '1000')
    conn.call('SET', 'plain', 'v')

    def avg_ttl():
        line = info(conn, 'keyspace').get('db0', '')
        assert line.startswith('keys=101,expires=100,avg_ttl=')
        return int(line.rsplit('=', 1)[1])
    assert wait_until(lambda: avg_ttl() > 0, timeout=10)
    assert 900 * 1000 < avg_ttl() <= 1000 * 1000


def test_expire_stats_fields_present(srv):
    stats = info(RawConn(srv.port), 'stats')
    for field in ('expired_keys', 'expired_stale_perc', 'expired_time_cap_reached_count',
                  'expire_cycle_cpu_milliseconds', 'evicted_keys'):
        assert field in stats
    float(stats['expired_stale_perc'])
    int(stats['expire_cycle_cpu_milliseconds'])


def test_hz_drives_the_cycle(pyredis):
    conn = RawConn(pyredis.port)
    try:
        assert conn.call('CONFIG', 'SET', 'hz', '100') == b'+OK\r\n'
        assert wait_until(lambda: info(conn, 'server')['hz'] == '100', timeout=5)
        for i in range(100):
            conn.call('SET', 'h%d' % i, 'v', 'PX', '20')
        assert wait_until(lambda: conn.call('DBSIZE') == b':0\r\n', timeout=10)
    finally:
        conn.call('CONFIG', 'SET', 'hz', '10')


def test_expiry_in_the_past_deletes_at_once(compat):
    compat.run(('SET', 'a', '1'), ('EXPIRE', 'a', '-1'), ('EXISTS', 'a'),
               ('SET', 'a', '1'), ('PEXPIREAT', 'a', '1'), ('EXISTS', 'a'),
               ('SET', 'a', '1', 'EX', '100'), ('GETEX', 'a', 'PXAT', '1'), ('EXISTS', 'a'),
               ('SET', 'a', '1', 'PXAT', '1'), ('EXISTS', 'a'), ('DBSIZE',))
