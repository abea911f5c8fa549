"""CLIENT TRACKING against redis-server (default, OPTIN, OPTOUT, BCAST with
prefixes, NOLOOP, REDIRECT to a RESP2 subscriber, flushes, errors, INFO),
and redis-py's client-side cache."""

import re
import time

import pytest

from helpers import RawConn


@pytest.fixture
def servers(server_factory):
    return server_factory('pyredis'), server_factory('redis')


def _read_all(conn, settle=0.03):
    """Everything the server has sent so far (replies and pushes)."""
    time.sleep(settle)
    conn.sock.settimeout(0.1)
    out = conn.buf
    conn.buf = b''
    try:
        while True:
            d = conn.sock.recv(1 << 16)
            if not d:
                break
            out += d
    except OSError:
        pass
    conn.sock.settimeout(5)
    return out


def _call(conn, *args):
    conn.send_command(*args)
    return _read_all(conn)


def _scenario(port):
    a, b, r = RawConn(port), RawConn(port), RawConn(port)
    out = []
    _call(a, 'HELLO', '3')
    for args in (('CLIENT', 'TRACKING', 'on'), ('CLIENT', 'TRACKINGINFO'),
                 ('CLIENT', 'GETREDIR'), ('GET', 'k'), ('MGET', 'k', 'k2'),
                 ('CLIENT', 'CACHING', 'yes'), ('CLIENT', 'TRACKING', 'on', 'optin'),
                 ('CLIENT', 'TRACKING', 'on', 'bcast'),
                 ('CLIENT', 'TRACKING', 'on', 'prefix', 'a'),
                 ('CLIENT', 'TRACKING', 'on', 'optin', 'optout'),
                 ('CLIENT', 'TRACKING', 'on', 'redirect', '99999'),
                 ('CLIENT', 'TRACKING', 'maybe'), ('CLIENT', 'TRACKING', 'on', 'foo')):
        out.append(_call(a, *args))
    out.append(_call(b, 'SET', 'k', '1'))
    out.append(_call(a, 'PING'))
    _call(b, 'SET', 'k2', '1')
    _call(b, 'SET', 'k', '2')          # no longer remembered: no message
    out.append(_call(a, 'PING'))
    out.append(_call(a, 'GET', 'k3'))
    out.append(_call(a, 'SET', 'k3', 'x'))     # its own write: after the reply
    _call(a, 'GET', 'k3')
    _call(b, 'FLUSHALL')
    out.append(_call(a, 'PING'))
    out.append(re.findall(rb'tracking_\w+:\d+', _call(b, 'INFO')))
    out.append(_call(a, 'CLIENT', 'TRACKING', 'off'))
    out.append(_call(a, 'CLIENT', 'TRACKINGINFO'))
    # RESP2 with REDIRECT to a subscriber of __redis__:invalidate.
    rid = int(_call(r, 'CLIENT', 'ID')[1:-2])
    _call(r, 'SUBSCRIBE', '__redis__:invalidate')
    c = RawConn(port)
    out.append(_call(c, 'CLIENT', 'TRACKING', 'on', 'REDIRECT', str(rid)))
    out.append(_call(c, 'CLIENT', 'GETREDIR') == b':%d\r\n' % rid)
    _call(c, 'GET', 'rk')
    _call(b, 'SET', 'rk', '1')
    out.append(_call(r, 'PING'))
    _call(b, 'FLUSHDB')
    out.append(_call(r, 'PING'))
    out.append(re.sub(rb'redir=\d+', b'redir=R', re.search(rb'redir=\d+', _call(
        c, 'CLIENT', 'INFO')).group(0)))
    # BCAST with prefixes.
    d = RawConn(port)
    _call(d, 'HELLO', '3')
    out.append(_call(d, 'CLIENT', 'TRACKING', 'on', 'BCAST', 'PREFIX', 'user:', 'PREFIX',
                     'obj:'))
    out.append(_call(d, 'CLIENT', 'TRACKINGINFO'))
    out.append(_call(d, 'CLIENT', 'TRACKING', 'on', 'BCAST', 'PREFIX', 'use'))
    _call(b, 'MSET', 'user:1', 'a', 'obj:2', 'b', 'other', 'c', 'user:0', 'd')
    out.append(_call(d, 'PING'))
    _call(c, 'CLIENT', 'TRACKING', 'off')
    # OPTIN / OPTOUT.
    e = RawConn(port)
    _call(e, 'HELLO', '3')
    _call(e, 'CLIENT', 'TRACKING', 'on', 'OPTIN')
    _call(e, 'GET', 'o1')
    out.append(_call(e, 'CLIENT', 'CACHING', 'yes'))
    out.append(_call(e, 'CLIENT', 'TRACKINGINFO'))
    _call(e, 'GET', 'o2')
    _call(b, 'MSET', 'o1', '1', 'o2', '2')
    out.append(_call(e, 'PING'))
    f = RawConn(port)
    _call(f, 'HELLO', '3')
    _call(f, 'CLIENT', 'TRACKING', 'on', 'OPTOUT')
    out.append(_call(f, 'CLIENT', 'CACHING', 'no'))
    _call(f, 'GET', 'p1')
    _call(f, 'GET', 'p2')
    _call(b, 'MSET', 'p1', '1', 'p2', '2')
    out.append(_call(f, 'PING'))
    # NOLOOP.
    g = RawConn(port)
    _call(g, 'HELLO', '3')
    _call(g, 'CLIENT', 'TRACKING', 'on', 'NOLOOP')
    _call(g, 'GET', 'n1')
    out.append(_call(g, 'SET', 'n1', '1'))
    _call(g, 'GET', 'n1')
    _call(b, 'SET', 'n1', '2')
    out.append(_call(g, 'PING'))
    # Expiry invalidates too.
    _call(g, 'GET', 'x1')
    _call(b, 'SET', 'x1', 'v', 'PX', '10')
    out.append(_call(g, 'PING'))
    time.sleep(0.05)
    _call(b, 'GET', 'x1')
    out.append(_call(g, 'PING'))
    for conn in (a, b, r, c, d, e, f, g):
        conn.close()
    return out


def test_tracking_as_redis(servers):
    ours, theirs = servers
    a, b = _scenario(ours.port), _scenario(theirs.port)
    for x, y in zip(a, b):
        assert x == y
    assert len(a) == len(b)


def test_tracking_table_max_keys(server_factory):
    srv = server_factory('pyredis', '--tracking-table-max-keys', '10')
    c = RawConn(srv.port)
    _call(c, 'HELLO', '3')
    _call(c, 'CLIENT', 'TRACKING', 'on')
    for i in range(30):
        c.send_command('GET', 'key%d' % i)
    got = _read_all(c, 0.2)
    # Keys over the limit were invalidated (and forgotten) as they came.
    assert got.count(b'invalidate') == 20
    info = srv.client().info('stats')
    assert info['tracking_total_keys'] == 10
    c.close()


def test_redis_py_tracking_with_redirect(pyredis):
    """redis-py's tracking commands (its own client-side cache asks for a
    7.4 server, which neither pyredis nor redis-server 7.0 claims to be;
    the messages themselves are compared with redis-server above)."""
    import redis
    r = pyredis.client()
    p = r.pubsub()
    p.subscribe('__redis__:invalidate')
    assert p.get_message(timeout=1)['type'] == 'subscribe'
    pid = [x for x in r.client_list() if x['sub'] == '1'][0]['id']
    t = redis.Redis(host='127.0.0.1', port=pyredis.port, single_connection_client=True)
    assert t.client_tracking_on(clientid=int(pid))
    assert t.client_getredir() == int(pid)
    assert t.client_trackinginfo()[1] == [b'on']
    r.set('foo', 'bar')
    assert t.get('foo') == b'bar'
    assert r.info('stats')['tracking_total_keys'] == 1
    assert r.info('clients')['tracking_clients'] == 1
    assert t.client_tracking_off()
    assert r.info('clients')['tracking_clients'] == 0
    for x in (p, t, r):
        x.close()
