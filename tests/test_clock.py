"""The server clock moved by tests: from Python (an embedded server's
``clock``) and from a client (DEBUG CLOCK), with what the skipped time
brings happening at once."""

import threading
import time

import pytest

import pyredis
from pyredis import clock


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
