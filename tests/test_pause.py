"""CLIENT PAUSE / UNPAUSE side by side with redis-server: which commands
wait, the order they run in once unpaused, errors, expiry held meanwhile."""

import re
import time

import pytest

from helpers import RawConn


@pytest.fixture
def servers(server_factory):
    return server_factory('pyredis'), server_factory('redis')


def _scenario(port):
    a, b, c, d, e = (RawConn(port) for _ in range(5))
    out = []
    for args in (('CLIENT', 'PAUSE', '-1'), ('CLIENT', 'PAUSE', 'x'),
                 ('CLIENT', 'PAUSE', '10', 'FOO'), ('CLIENT', 'PAUSE', '10', 'write', 'x'),
                 ('CLIENT', 'UNPAUSE', 'x'), ('CLIENT', 'PAUSE')):
        out.append(a.call(*args))
    a.call('SET', 'gone', 'v', 'PX', '50')
    out.append(a.call('CLIENT', 'PAUSE', '100000', 'WRITE'))
    b.send(b'GET k\r\nSET k v\r\nGET k\r\n')
    out.append(b.read_reply())          # the first GET runs; SET waits, the GET after it too
    a.send_command('PUBLISH', 'c', 'm')
    c.send_command('PFCOUNT', 'x')
    d.send_command('EVAL', 'return 1', '0')
    out.append(e.call('EVAL_RO', 'return 1', '0'))
    out += [e.call('MULTI'), e.call('GET', 'k'), e.call('EXEC'), e.call('MULTI')]
    e.send_command('SET', 'k', '1')
    f = RawConn(port)
    time.sleep(0.1)
    # Expired while paused: reported missing, not deleted.
    out += [f.call('GET', 'gone'), f.call('DBSIZE')]
    listing = f.call('CLIENT', 'LIST')
    out.append(sorted(re.findall(rb'flags=(\w+)', listing)))
    out.append(re.search(rb'blocked_clients:\d+', f.call('INFO', 'clients')).group(0))
    out.append(f.call('CLIENT', 'UNPAUSE'))
    out += [b.read_reply(), b.read_reply(), a.read_reply(), c.read_reply(), d.read_reply(),
            e.read_reply(), e.call('EXEC')]
    out.append(f.call('GET', 'gone'))
    # ALL: everything waits, CLIENT UNPAUSE too, until the timeout.
    out.append(a.call('CLIENT', 'PAUSE', '400', 'ALL'))
    a.send_command('CLIENT', 'UNPAUSE')
    b.send_command('PING')
    out += [a.read_reply(), b.read_reply()]
    # A shorter, weaker pause does not shorten or weaken the current one.
    out.append(a.call('CLIENT', 'PAUSE', '100000', 'WRITE'))
    out.append(a.call('CLIENT', 'PAUSE', '10', 'ALL'))
    # (Now ALL until the first pause's end: end it with a replica-less
    # server's only way out, waiting is not an option, so it stays paused.)
    for conn in (a, b, c, d, e, f):
        conn.close()
    return out


def test_client_pause_as_redis(servers):
    ours, theirs = servers
    assert _scenario(ours.port) == _scenario(theirs.port)


def test_redis_py_client_pause(server_factory):
    srv = server_factory('pyredis')
    r = srv.client()
    assert r.client_pause(50, all=False)
    r.set('x', 1)       # waits for the pause's end, then runs
    assert r.get('x') == b'1'
    assert r.client_unpause()
    r.close()


def _eviction_paused(port):
    """CLIENT PAUSE WRITE holds eviction back (as it holds expiry): the keys
    stay while paused although maxmemory is far exceeded; after UNPAUSE the
    next command that may grow memory evicts them all (and, at a 1-byte
    limit, still fails)."""
    a = RawConn(port)
    out = [a.call('SET', 'k%d' % i, 'v') for i in range(5)]
    out.append(a.call('CLIENT', 'PAUSE', '100000', 'WRITE'))
    out.append(a.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'))
    out.append(a.call('CONFIG', 'SET', 'maxmemory', '1'))
    out += [a.call('DBSIZE'), a.call('GET', 'k1')]
    time.sleep(0.2)                     # the cron runs meanwhile
    out += [a.call('DBSIZE'), re.search(rb'evicted_keys:\d+', a.call('INFO', 'stats')).group(0)]
    out.append(a.call('CLIENT', 'UNPAUSE'))
    out += [a.call('SET', 'x', 'y'), a.call('DBSIZE')]
    out.append(re.search(rb'evicted_keys:\d+', a.call('INFO', 'stats')).group(0))
    out.append(a.call('CONFIG', 'SET', 'maxmemory', '0'))
    a.close()
    return out


def test_eviction_held_while_paused_as_redis(servers):
    ours, theirs = servers
    assert _eviction_paused(ours.port) == _eviction_paused(theirs.port)
