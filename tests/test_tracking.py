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


# -- the trusted path and call() remember the same keys -----------------------------------

def _req(*args):
    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


# Reads with keys at plain positions (GET, MGET, LCS...), found by the key
# specs (ZUNION, SINTERCARD, SORT_RO, XREAD), failing ones (arity, type),
# keyless and write commands; the tracking client's own write; CLIENT
# CACHING before some; other clients' writes to all of them.
_READS = (_req('GET', 'k1') + _req('MGET', 'k2', 'k3') + _req('EXISTS', 'k4', 'k4')
          + _req('STRLEN', 'k5') + _req('LCS', 'k6', 'k7') + _req('HGET', 'h', 'f')
          + _req('ZUNION', '2', 'z1', 'z2') + _req('SINTERCARD', '1', 's1')
          + _req('SORT_RO', 'l1') + _req('XREAD', 'STREAMS', 'x1', '0') + _req('GET')
          + _req('LRANGE', 'k1', '0', '1') + _req('PING') + _req('DBSIZE'))
_STREAM = (_READS + _req('CLIENT', 'CACHING', 'yes') + _req('GET', 'c1')
           + _req('GET', 'c2') + _req('CLIENT', 'CACHING', 'no') + _req('GET', 'c3')
           + _req('MGET', 'c4', 'c5') + _req('SET', 'k1', 'own') + _req('GET', 'k1')
           + _req('GET', 'a:1') + _req('SET', 'a:2', 'x') + _req('GET', 'k9'))
_WRITES = (_req('MSET', 'k1', '1', 'k2', '2', 'k3', '3', 'k4', '4', 'k5', '5', 'k6', '6',
                'c1', '1', 'c2', '2', 'c3', '3', 'c4', '4', 'c5', '5', 'a:1', '1')
           + _req('SADD', 's1', 'm') + _req('ZADD', 'z2', '1', 'm') + _req('RPUSH', 'l1', '1')
           + _req('XADD', 'x1', '1-1', 'f', 'v') + _req('HSET', 'h', 'f', 'v'))

_MODES = [(), ('OPTIN',), ('OPTOUT',), ('NOLOOP',), ('BCAST',), ('BCAST', 'PREFIX', 'a:'),
          ('BCAST', 'NOLOOP')]


def _paths_run(options, resp3, redirect, inline, split):
    from pyredis import config
    from pyredis.assembly import create_server
    from pyredis.commands import TABLE
    from pyredis.networking import Client
    from helpers import FakeTransport
    server = create_server(config.Config())
    saved = {cmd: cmd.inline for cmd in TABLE.values()}
    try:
        if not inline:
            for cmd in TABLE.values():
                cmd.inline = False
        clients = []
        for _ in range(3):
            c = Client(server)
            c.transport = FakeTransport()
            server.clients[c.id] = c
            clients.append(c)
        a, b, r = clients
        r.data_received(_req('SUBSCRIBE', '__redis__:invalidate'))
        if resp3:
            a.data_received(_req('HELLO', '3'))
        on = ['CLIENT', 'TRACKING', 'on'] + list(options)
        if redirect:
            on += ['REDIRECT', r.id]
        a.data_received(_req(*on))
        assert not a.gated
        chunks = [_STREAM[i:i + 11] for i in range(0, len(_STREAM), 11)] if split else [_STREAM]
        for chunk in chunks:
            a.data_received(chunk)
        table = {k: sorted(v) for k, v in server.tracking.table.items()}
        items = server.tracking.items
        b.data_received(_WRITES)
        server.tracking._broadcast()
        a.data_received(_req('PING'))
        return {'a': b''.join(a.transport.written), 'r': b''.join(r.transport.written),
                'table': table, 'items': items, 'after': dict(server.tracking.table)}
    finally:
        for cmd, value in saved.items():
            cmd.inline = value


@pytest.mark.parametrize('options', _MODES, ids=lambda o: '-'.join(o) or 'default')
@pytest.mark.parametrize('how', ['resp3', 'resp2-redirect', 'resp3-redirect'])
def test_trusted_path_remembers_what_call_remembers(options, how):
    """A tracking client's commands run on the trusted path (run_requests,
    tracking.remember_keys in C); call() (every command forced through
    process_command) must remember the same keys and send the same
    messages, in the same places among the replies."""
    resp3, redirect = how.startswith('resp3'), how.endswith('redirect')
    expected = _paths_run(options, resp3, redirect, inline=False, split=False)
    assert expected['a'] and (expected['r'] if redirect else True)
    if 'BCAST' not in options:
        assert expected['table']
    for split in (False, True):
        got = _paths_run(options, resp3, redirect, inline=True, split=split)
        assert got == expected


def test_tracking_clients_take_the_trusted_path(monkeypatch):
    from pyredis.server import Server
    calls = []
    real = Server.process_command
    monkeypatch.setattr(Server, 'process_command',
                        lambda self, c, argv: (calls.append(argv[0]), real(self, c, argv)))
    _paths_run((), True, False, inline=True, split=False)
    # Containers (CLIENT, HELLO, SUBSCRIBE's context) and arity errors only.
    assert set(calls) <= {b'SUBSCRIBE', b'HELLO', b'CLIENT', b'GET', b'PING'}
    assert calls.count(b'GET') == 1     # the arity error


def test_remember_keys_c_and_python():
    from pyredis.tracking import remember_keys_py
    try:
        from pyredis._speedups import remember_keys
    except ImportError:
        pytest.skip('no C extension')
    argv = [b'MGET', b'a', b'b', b'a', b'c']
    for first, last, step in ((1, 1, 1), (1, -1, 1), (1, -1, 2), (2, 10, 1), (5, -1, 1),
                              (1, -2, 1), (3, 2, 1)):
        t1, t2 = {b'b': {7: None}}, {b'b': {7: None}}
        for cid in (7, 8, 7):
            assert remember_keys(t1, cid, argv, first, last, step) == \
                remember_keys_py(t2, cid, argv, first, last, step)
        assert t1 == t2


@pytest.mark.parametrize('options', _MODES, ids=lambda o: '-'.join(o) or 'default')
def test_tracking_modes_as_redis(servers, options):
    """The stream above over sockets, pyredis against redis-server: RESP3
    pushes in a RESP3 client's replies, and RESP2 messages to the
    subscriber it redirects to (what each remembered shows in what each
    sends when the keys are written)."""
    outs = []
    for srv in servers:
        out = []
        for resp3 in (True, False):
            a, b, r = RawConn(srv.port), RawConn(srv.port), RawConn(srv.port)
            rid = int(_call(r, 'CLIENT', 'ID')[1:-2])
            _call(r, 'SUBSCRIBE', '__redis__:invalidate')
            on = ['CLIENT', 'TRACKING', 'on'] + list(options)
            if resp3:
                _call(a, 'HELLO', '3')
            else:
                on += ['REDIRECT', str(rid)]
            out.append(_call(a, *on))
            a.sock.sendall(_STREAM)
            out.append(_read_all(a, 0.1))
            b.sock.sendall(_WRITES)
            _read_all(b, 0.1)
            out.append(_call(a, 'PING'))
            out.append(_read_all(r))
            _call(b, 'FLUSHALL')
            for conn in (a, b, r):
                conn.close()
        outs.append(out)
    for x, y in zip(*outs):
        assert x.split(b">") == y.split(b">")


def test_client_list_tracking_flags_as_redis(servers):
    """CLIENT LIST/INFO flags: t for a tracking client, B in BCAST mode, R
    once its redirect target is gone (after the first message for it)."""
    seen = []
    for srv in servers:
        a, b, r, w = (RawConn(srv.port) for _ in range(4))
        rid = _call(r, 'CLIENT', 'ID')[1:-2].decode()
        _call(a, 'HELLO', '3')
        _call(a, 'CLIENT', 'TRACKING', 'on', 'REDIRECT', rid)
        _call(b, 'CLIENT', 'TRACKING', 'on', 'BCAST')
        _call(a, 'GET', 'k')
        flags = [re.search(rb'flags=(\w+)', _call(c, 'CLIENT', 'INFO')).group(1) for c in (a, b)]
        r.close()
        time.sleep(0.1)
        _call(w, 'SET', 'k', '1')
        out = _call(a, 'CLIENT', 'INFO')
        flags.append(re.search(rb'flags=(\w+)', out).group(1))
        _call(a, 'CLIENT', 'TRACKING', 'off')
        flags.append(re.search(rb'flags=(\w+)', _call(a, 'CLIENT', 'INFO')).group(1))
        seen.append(flags)
        for c in (a, b, w):
            c.close()
    assert seen[0] == seen[1] == [b't', b'tB', b'tR', b'N']


def _script_reads(port):
    """Keys read by a script (EVAL, EVAL_RO, FCALL) are the caller's reads
    (call() remembers them for server.script_caller), in default and OPTIN
    modes; a script's own writes invalidate the other clients."""
    a, b = RawConn(port), RawConn(port)
    out = [_call(a, 'HELLO', '3')[:1], _call(a, 'CLIENT', 'TRACKING', 'on')]
    out.append(_call(a, 'EVAL', 'return redis.call("get", KEYS[1])', '1', 's1'))
    out.append(_call(a, 'EVAL_RO', 'return redis.call("exists", KEYS[1])', '1', 's2'))
    out.append(_call(a, 'FUNCTION', 'LOAD', 'REPLACE',
                     '#!lua name=tlib\nredis.register_function{function_name="tget", '
                     'callback=function(k) return redis.call("get", k[1]) end, '
                     'flags={"no-writes"}}'))
    out.append(_call(a, 'FCALL_RO', 'tget', '1', 's3'))
    out.append(_call(a, 'EVAL', 'redis.call("set", KEYS[1], "x") return 1', '1', 's4'))
    for key in ('s1', 's2', 's3', 's4'):
        _call(b, 'SET', key, 'v')
    out.append(_call(a, 'PING'))
    out.append(_call(a, 'CLIENT', 'TRACKING', 'on', 'optin'))
    out.append(_call(a, 'EVAL', 'return redis.call("get", KEYS[1])', '1', 's5'))
    out.append(_call(a, 'CLIENT', 'CACHING', 'yes'))
    out.append(_call(a, 'EVAL', 'return redis.call("get", KEYS[1])', '1', 's6'))
    _call(b, 'SET', 's5', 'v')
    _call(b, 'SET', 's6', 'v')
    out.append(_call(a, 'PING'))
    a.close()
    b.close()
    return out


def test_script_reads_are_the_callers_as_redis(servers):
    ours, theirs = servers
    assert _script_reads(ours.port) == _script_reads(theirs.port)


def _eviction_invalidation(port):
    """A RESP3 tracking client and a RESP2 one redirected to a subscriber
    read keys that maxmemory then evicts."""
    a, b, sub, admin = RawConn(port), RawConn(port), RawConn(port), RawConn(port)
    out = []
    _call(a, 'HELLO', '3')
    sub_id = _call(sub, 'CLIENT', 'ID')[1:-2].decode()
    out.append(_call(sub, 'SUBSCRIBE', '__redis__:invalidate'))
    out.append(_call(a, 'CLIENT', 'TRACKING', 'on'))
    out.append(_call(b, 'CLIENT', 'TRACKING', 'on', 'REDIRECT', sub_id))
    out.append(_call(admin, 'SET', 'k', 'v'))
    out.append(_call(a, 'GET', 'k'))
    out.append(_call(b, 'GET', 'k'))
    out.append(_call(admin, 'CONFIG', 'SET', 'maxmemory-policy', 'allkeys-random'))
    out.append(_call(admin, 'CONFIG', 'SET', 'maxmemory', '1'))
    out.append(_call(admin, 'DBSIZE'))
    out.append(_read_all(a))            # the invalidation push
    out.append(_read_all(sub))          # the message on the redirect
    out.append(_call(admin, 'CONFIG', 'SET', 'maxmemory', '0'))
    for conn in (a, b, sub, admin):
        conn.close()
    return out


def test_eviction_invalidates_tracked_keys_as_redis(servers):
    ours, theirs = servers
    assert _eviction_invalidation(ours.port) == _eviction_invalidation(theirs.port)


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_redis_py_client_side_cache_invalidated_by_another_client(kind, request,
                                                                  monkeypatch):
    """redis-py's client-side cache (protocol=3, cache_config): a value read
    once is served from the cache, and a write from another client
    invalidates it (CLIENT TRACKING's push) so the next read sees the new
    value. redis-py enables its cache only for servers that report 7.4 or
    later; its version gate is lowered here for both 7.0 servers alike."""
    import redis
    from redis.cache import CacheConfig
    from redis.connection import CacheProxyConnection
    monkeypatch.setattr(CacheProxyConnection, 'MIN_ALLOWED_VERSION', '7.0.0')
    # (Only this run's server: the pyredis run needs no redis-server.)
    srv = request.getfixturevalue('pyredis' if kind == 'pyredis' else 'real_redis')
    cached = redis.Redis(port=srv.port, protocol=3, cache_config=CacheConfig())
    writer = redis.Redis(port=srv.port)
    try:
        writer.set('csc:k', 'v1')
        assert cached.get('csc:k') == b'v1'
        assert cached.get('csc:k') == b'v1'
        cache = cached.get_cache()
        assert cache.size == 1                      # served from the cache
        tracking = writer.execute_command('CLIENT', 'LIST')
        assert b'flags=t' in tracking               # the cache's connection tracks
        writer.set('csc:k', 'v2')
        deadline = time.time() + 5
        while cached.get('csc:k') != b'v2':
            assert time.time() < deadline, 'the cached value was never invalidated'
            time.sleep(0.01)
        writer.delete('csc:k')
        deadline = time.time() + 5
        while cached.get('csc:k') is not None:
            assert time.time() < deadline, 'the deleted key stayed cached'
            time.sleep(0.01)
    finally:
        cached.close()
        writer.close()
        writer = redis.Redis(port=srv.port)
        writer.delete('csc:k')
        writer.close()
