"""The server clock moved by tests: from Python (an embedded server's
``clock``) and from a client (DEBUG CLOCK), with what the skipped time
brings happening at once."""

import threading
import time

import pytest

import pyredis
from pyredis import clock

from helpers import RawConn


@pytest.fixture
def server():
    with pyredis.serve(enable_debug_command='yes') as s:
        yield s
    clock.reset()


def wait_for(predicate, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_expiry_without_sleeping(server):
    r = server.client()
    r.set('session', 'x', ex=3600)
    r.set('kept', 'y')
    server.clock.advance(1800)
    assert r.ttl('session') == 1800
    server.clock.advance(1801)
    assert r.get('session') is None               # lazily
    r.set('other', 'z', ex=60)
    server.clock.advance(61)
    # Actively too: the expire cycle runs when the clock moves.
    assert wait_for(lambda: r.dbsize() == 1)
    assert r.info('stats')['expired_keys'] == 2


def test_frozen_clock(server):
    r = server.client()
    server.clock.freeze()
    r.set('k', 'v', px=50)
    time.sleep(0.2)
    assert r.get('k') == b'v'                     # no time passes while frozen
    assert r.pttl('k') == 50
    before = r.time()
    time.sleep(0.05)
    assert r.time() == before
    server.clock.resume()
    assert wait_for(lambda: r.get('k') is None)


def test_blocking_timeout_after_advance(server):
    r = server.client()
    got = []
    t = threading.Thread(target=lambda: got.append(server.client().blpop('q', timeout=60)))
    t.start()
    assert wait_for(lambda: r.info('clients')['blocked_clients'] == 1)
    server.clock.advance(60)
    t.join(10)
    assert got == [None]


def test_stream_ids_follow_the_clock(server):
    r = server.client()
    first = int(r.xadd('s', {'f': 'v'}).split(b'-')[0])
    server.clock.advance(3600)
    second = int(r.xadd('s', {'f': 'v'}).split(b'-')[0])
    assert second - first >= 3600 * 1000


def test_save_point_after_advance(tmp_path):
    with pyredis.serve(dir=str(tmp_path), save=[3600, 1]) as s:
        r = s.client()
        r.set('k', 'v')
        assert r.lastsave() is not None
        s.clock.advance(3601)
        assert wait_for(lambda: (tmp_path / 'dump.rdb').exists(), 10)
    clock.reset()


def test_debug_clock_from_a_client(server):
    conn = server.client()
    conn.set('k', 'v', ex=100)
    assert conn.execute_command('DEBUG', 'CLOCK', 'ADVANCE', '101') == b'OK'
    assert conn.get('k') is None
    ms, frozen = conn.execute_command('DEBUG', 'CLOCK', 'GET')
    assert frozen == 0 and ms >= (time.time() + 100) * 1000
    assert conn.execute_command('DEBUG', 'CLOCK', 'FREEZE') == b'OK'
    assert conn.execute_command('DEBUG', 'CLOCK', 'GET')[1] == 1
    assert conn.execute_command('DEBUG', 'CLOCK', 'RESET') == b'OK'
    with pytest.raises(Exception, match='forward'):
        conn.execute_command('DEBUG', 'CLOCK', 'ADVANCE', '-1')
    with pytest.raises(Exception, match='Usage'):
        conn.execute_command('DEBUG', 'CLOCK', 'SIDEWAYS')


def test_debug_clock_refused_by_default():
    with pyredis.serve() as s:
        with pytest.raises(Exception, match='DEBUG command not allowed'):
            s.client().execute_command('DEBUG', 'CLOCK', 'ADVANCE', '10')


# -- what reads the clock besides expiry: each follows it when it moves --------------

def test_lru_idle_time_follows_the_clock(server):
    r = server.client()
    r.set('k', 'v')
    server.clock.advance(100)
    # The LRU clock is the cron's (LRU_CLOCK_RESOLUTION: a second): the
    # moved clock reaches it at once, not at the next tick.
    assert r.object('idletime', 'k') >= 100
    r.get('k')
    assert r.object('idletime', 'k') < 100
    # Moved by a client: the next command of the same connection sees it.
    r.execute_command('DEBUG', 'CLOCK', 'ADVANCE', '200')
    assert r.object('idletime', 'k') >= 200


def test_lfu_counter_decays_with_the_clock(server):
    r = server.client()
    r.config_set('maxmemory-policy', 'allkeys-lfu')
    r.config_set('lfu-decay-time', 1)                # a point a minute
    r.set('k', 'v')
    for _ in range(200):
        r.get('k')
    # Frozen, so that no real minute boundary passes between the reads.
    server.clock.freeze()
    before = r.object('freq', 'k')
    assert before > 5                                # LFU_INIT_VAL, then hits
    server.clock.advance(3 * 60)
    assert r.object('freq', 'k') == before - 3       # OBJECT FREQ decays as it reads
    server.clock.advance(24 * 3600)
    assert r.object('freq', 'k') == 0


def test_slowlog_timestamps_follow_the_clock(server):
    r = server.client()
    r.config_set('slowlog-log-slower-than', 0)
    r.slowlog_reset()
    r.set('a', 1)
    server.clock.advance(1000)
    r.set('b', 2)
    by_arg = {tuple(e['command'].split()): e['start_time'] for e in r.slowlog_get(10)}
    assert by_arg[(b'SET', b'b', b'2')] - by_arg[(b'SET', b'a', b'1')] >= 1000


def test_acl_log_ages_and_groups_by_the_clock(server):
    r = server.client()
    r.acl_log_reset()
    r.acl_setuser('alice', enabled=True, passwords=['+secret'], commands=['+get'], keys=['*'])
    conn = RawConn(server.port)

    def failed_auth():
        # (A raw AUTH: redis-py retries a failed one as a connection error.)
        assert conn.call('AUTH', 'alice', 'wrong').startswith(b'-WRONGPASS')
    failed_auth()
    failed_auth()
    [entry] = r.acl_log()
    assert entry['count'] == 2 and entry['reason'] == 'auth'
    server.clock.advance(100)
    [entry] = r.acl_log()
    assert entry['age-seconds'] >= 100
    # Past ACL_LOG_GROUPING_MAX_TIME_DELTA (60 s) the same failure is a new entry.
    failed_auth()
    newer, older = r.acl_log()
    assert (newer['count'], older['count']) == (1, 2)
    assert newer['age-seconds'] < 100 <= older['age-seconds']
    conn.close()


def test_latency_samples_are_stamped_by_the_clock(server):
    r = server.client()
    r.config_set('latency-monitor-threshold', 1)
    r.latency_reset()
    def latest():
        # (Other events, an expire cycle's on a busy machine, may be there.)
        return {e[0]: e[1] for e in r.execute_command('LATENCY', 'LATEST')}[b'command']
    r.execute_command('DEBUG', 'SLEEP', '0.01')
    earlier = latest()
    server.clock.advance(1000)
    r.execute_command('DEBUG', 'SLEEP', '0.01')
    assert latest() - earlier >= 1000
    # The samples, a moved clock apart (the history keeps one a second; a
    # busy machine may add one of another command over the threshold).
    history = r.execute_command('LATENCY', 'HISTORY', 'command')
    assert len(history) >= 2 and history[-1][0] - history[0][0] >= 1000


def test_client_list_idle_and_age_follow_the_clock(server):
    r = server.client()
    other = server.client()
    other.client_setname('other')
    server.clock.advance(100)
    clients = {c['name']: c for c in r.client_list()}
    assert int(clients['other']['age']) >= 100
    assert int(clients['other']['idle']) >= 100
    other.ping()
    clients = {c['name']: c for c in r.client_list()}
    assert int(clients['other']['idle']) < 100 <= int(clients['other']['age'])


# (No AOF test here: auto-aof-rewrite-percentage is a size trigger - the
# cron compares the file's growth since the last rewrite, whatever the
# time - so moving the clock brings no rewrite, in Redis as in pyredis.)
