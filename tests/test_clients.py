"""redis-py against pyredis: RESP2 and RESP3, with redis-py's pure-Python
parsers and with hiredis, plain calls and pipelines; and CLIENT LIST /
CLIENT INFO in Redis's exact format.
"""

import re
import shutil
import subprocess
import time

import pytest
import redis
import redis.connection

from helpers import RawConn, free_port
from test_replication import wait_for

PARSERS = {
    'resp2-python': (2, redis.connection._RESP2Parser),
    'resp3-python': (3, redis.connection._RESP3Parser),
    'resp2-hiredis': (2, redis.connection._HiredisParser),
    'resp3-hiredis': (3, redis.connection._HiredisParser),
}


def make_client(port, proto, parser, **kw):
    # redis-py takes the parser class through the connection pool.
    pool = redis.ConnectionPool(host='127.0.0.1', port=port, protocol=proto,
                                parser_class=parser, **kw)
    return redis.Redis(connection_pool=pool)


@pytest.fixture(params=sorted(PARSERS))
def client(request, pyredis):
    proto, parser = PARSERS[request.param]
    r = make_client(pyredis.port, proto, parser)
    conn = r.connection_pool.get_connection()
    assert isinstance(conn._parser, parser)
    r.connection_pool.release(conn)
    yield r
    r.close()


@pytest.fixture
def oracle(real_redis):
    r = redis.Redis(host='127.0.0.1', port=real_redis.port, protocol=3)
    yield r
    r.close()


def test_strings_and_keys(client):
    r = client
    assert r.ping() is True
    assert r.echo('hi') == b'hi'
    assert r.set('k', 'v') is True
    assert r.get('k') == b'v'
    assert r.get('missing') is None
    assert r.set('k', 'w', nx=True) is None
    assert r.set('k', 'w', xx=True, get=True) == b'v'
    assert r.set('n', 10, ex=100) is True
    assert r.ttl('n') == 100
    assert r.incr('n') == 11
    assert r.incrby('n', 5) == 16
    assert r.decr('n') == 15
    assert r.incrbyfloat('f', 1.5) == 1.5
    assert r.incrbyfloat('f', 0.1) == 1.6
    assert r.mset({'a': 1, 'b': 2}) is True
    assert r.mget('a', 'b', 'missing') == [b'1', b'2', None]
    assert r.msetnx({'a': 9, 'c': 3}) is False
    assert r.append('a', 'x') == 2
    assert r.strlen('a') == 2
    assert r.getrange('a', 0, 0) == b'1'
    assert r.setrange('a', 1, 'yz') == 3
    assert r.getdel('a') == b'1yz'
    assert r.getex('b', px=50000) == b'2'
    assert 0 < r.pttl('b') <= 50000
    assert r.lcs('k', 'b') == b''
    assert r.exists('k', 'b', 'missing') == 2
    assert r.type('k') == b'string'
    assert r.rename('k', 'k2') is True
    assert r.renamenx('k2', 'b') is False
    assert r.copy('k2', 'k3') is True
    assert r.move('k3', 2) is True
    assert r.expire('k2', 100, nx=True) is True
    assert r.expire('k2', 50, gt=True) is False
    assert r.persist('k2') is True
    assert r.ttl('k2') == -1
    assert r.object('encoding', 'n') == b'int'
    assert sorted(r.keys('*')) == [b'b', b'f', b'k2', b'n']
    assert sorted(r.scan_iter(match='*', count=2)) == [b'b', b'f', b'k2', b'n']
    assert r.dbsize() == 4
    assert r.delete('b', 'missing') == 1
    assert r.unlink('f') == 1
    assert r.touch('k2', 'n') == 2
    assert r.randomkey() in (b'k2', b'n')
    assert r.swapdb(0, 2) is True
    assert r.keys() == [b'k3']
    assert r.flushdb() is True
    assert r.flushall() is True
    assert r.dbsize() == 0


def test_server_and_connection(client):
    r = client
    assert r.client_setname('tester') is True
    assert r.client_getname() in (b'tester', 'tester')
    assert isinstance(r.client_id(), int)
    me = r.client_info()
    assert me['name'] == 'tester' and str(me['db']) == '0'
    assert any(c['name'] == 'tester' for c in r.client_list())
    assert r.client_no_evict('on') == b'OK' or r.client_no_evict('on') is True
    info = r.info()
    assert info['redis_version'] == '7.0.15'
    assert 'used_memory' in r.info('memory')
    assert isinstance(r.time()[0], int)
    assert isinstance(r.lastsave(), object)
    assert r.command_count() > 50
    assert r.command_getkeys('SET', 'a', 'b') in ([b'a'], ['a'])
    assert r.config_get('maxmemory')['maxmemory'] == '0'


def test_errors_are_raised(client):
    r = client
    r.set('s', 'abc')
    with pytest.raises(redis.ResponseError, match='not an integer'):
        r.incr('s')
    with pytest.raises(redis.ResponseError, match='DB index is out of range'):
        r.execute_command('SELECT', 99)
    with pytest.raises(redis.ResponseError, match="unknown command 'NOPE'"):
        r.execute_command('NOPE', 'x')
    with pytest.raises(redis.ResponseError, match='wrong number of arguments'):
        r.execute_command('GET')
    with pytest.raises(redis.ResponseError, match='syntax error'):
        r.execute_command('SET', 'a', 'b', 'NX', 'XX')


def test_pipelines(client):
    r = client
    with r.pipeline(transaction=False) as p:
        for i in range(500):
            p.set('p%d' % i, i)
            p.incr('counter')
        p.get('p499')
        p.execute_command('NOPE')
        p.get('counter')
        results = p.execute(raise_on_error=False)
    assert results[:4] == [True, 1, True, 2]
    assert results[-3] == b'499'
    assert isinstance(results[-2], redis.ResponseError)
    assert results[-1] == b'500'


def test_transaction_pipeline_if_multi_exists(client):
    r = client
    if r.execute_command('COMMAND', 'INFO', 'multi') in ([None], [[]], None):
        pytest.skip('MULTI is not implemented yet')
    with r.pipeline() as p:
        p.set('t', 1)
        p.incr('t')
        assert p.execute() == [True, 2]


def test_resp3_types(pyredis, oracle):
    """The same calls over RESP3 decode to the same Python values as on a
    real redis-server (maps, nulls, doubles)."""
    ours = redis.Redis(host='127.0.0.1', port=pyredis.port, protocol=3)
    for r in (ours, oracle):
        r.flushall()
        r.mset({'key1': 'ohmytext', 'key2': 'mynewtext'})
    for call in (lambda r: r.get('missing'),
                 lambda r: r.lcs('key1', 'key2', idx=True, withmatchlen=True),
                 lambda r: r.lcs('key1', 'key2', len=True),
                 lambda r: r.mget('key1', 'missing'),
                 lambda r: r.incrbyfloat('x', '1.1'),
                 lambda r: r.command_getkeysandflags('SET', 'a', 'b') if hasattr(
                     r, 'command_getkeysandflags') else None,
                 lambda r: r.execute_command('COMMAND', 'INFO', 'get'),
                 lambda r: r.execute_command('COMMAND', 'DOCS', 'get'),
                 lambda r: r.execute_command('CLIENT', 'TRACKINGINFO'),
                 lambda r: r.object('encoding', 'missing'),
                 lambda r: r.config_get('hz'),
                 lambda r: r.scan(0, match='key*', count=1000)[0]):
        assert outcome(call, ours) == outcome(call, oracle)
    ours.close()


def outcome(call, r):
    # Some of redis-py's own reply callbacks fail on RESP3 (COMMAND INFO):
    # then both servers must make them fail the same way.
    try:
        return call(r)
    except Exception as e:
        return ('raised', type(e).__name__, str(e))


CLIENT_FIELDS = ['id', 'addr', 'laddr', 'fd', 'name', 'age', 'idle', 'flags', 'db', 'sub',
                 'psub', 'ssub', 'multi', 'qbuf', 'qbuf-free', 'argv-mem', 'multi-mem', 'rbs',
                 'rbp', 'obl', 'oll', 'omem', 'tot-mem', 'events', 'cmd', 'user', 'redir',
                 'resp']


def _fields(line):
    return [f.split('=', 1) for f in line.split(' ')]


def test_client_list_format_matches_redis(pyredis, real_redis):
    lines = {}
    for srv in (pyredis, real_redis):
        conn = RawConn(srv.port)
        conn.call('CLIENT', 'SETNAME', 'lister')
        conn.call('SELECT', '3')
        raw = conn.call('CLIENT', 'LIST')
        text = raw.split(b'\r\n', 1)[1][:-2].decode()
        assert text.endswith('\n')
        mine = [ln for ln in text.splitlines() if ' name=lister ' in ln]
        assert len(mine) == 1
        lines[srv.kind] = mine[0]
        info = conn.call('CLIENT', 'INFO').split(b'\r\n', 1)[1][:-2].decode()
        assert info.endswith('\n') and ' name=lister ' in info
        assert [k for k, _ in _fields(info.strip())] == CLIENT_FIELDS
    ours, theirs = _fields(lines['pyredis']), _fields(lines['redis'])
    assert [k for k, _ in ours] == [k for k, _ in theirs] == CLIENT_FIELDS
    o, t = dict(ours), dict(theirs)
    for key in ('name', 'age', 'idle', 'flags', 'db', 'sub', 'psub', 'ssub', 'multi',
                'multi-mem', 'obl', 'oll', 'omem', 'events', 'cmd', 'user', 'redir', 'resp'):
        assert o[key] == t[key], key
    assert re.fullmatch(r'127\.0\.0\.1:\d+', o['addr'])
    assert o['laddr'] == '127.0.0.1:%d' % pyredis.port
    for key in ('id', 'fd', 'qbuf', 'qbuf-free', 'argv-mem', 'rbs', 'rbp', 'tot-mem'):
        assert o[key].isdigit(), key


def test_client_list_flags_and_types(pyredis, real_redis):
    for srv in (pyredis, real_redis):
        watcher = RawConn(srv.port)
        other = RawConn(srv.port)
        other.call('CLIENT', 'SETNAME', 'other')
        other.call('CLIENT', 'NO-EVICT', 'ON')
        text = watcher.call('CLIENT', 'LIST', 'TYPE', 'normal').decode()
        line = [ln for ln in text.splitlines() if 'name=other' in ln][0]
        assert ' flags=e ' in line
        assert ' cmd=client|no-evict ' in line
        assert watcher.call('CLIENT', 'LIST', 'TYPE', 'pubsub') in (b'$0\r\n\r\n',)
        ident = other.call('CLIENT', 'ID')[1:-2].decode()
        text = watcher.call('CLIENT', 'LIST', 'ID', ident, '999999').decode()
        assert text.count('\n') == 3 and 'id=%s ' % ident in text


def test_hiredis_and_python_parsers_see_the_same_values(pyredis):
    values = []
    for name in sorted(PARSERS):
        proto, parser = PARSERS[name]
        r = make_client(pyredis.port, proto, parser, decode_responses=True)
        r.set('x', 'é')
        values.append((r.get('x'), r.mget('x', 'nope'), r.incrbyfloat('fl', 0.5) > 0,
                       r.exists('x'), r.ttl('x')))
        r.close()
    assert all(v[0] == 'é' for v in values)
    assert all(v[1] == ['é', None] for v in values)


def test_unix_socket_client_in_client_list(server_factory, tmp_path):
    import socket
    lines = {}
    for kind in ('pyredis', 'redis'):
        path = str(tmp_path / ('%s.sock' % kind))
        srv = server_factory(kind, '--unixsocket', path)
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.sendall(b'CLIENT INFO\r\n')
        data = b''
        while not data.endswith(b'\n\r\n'):
            data += s.recv(4096)
        s.close()
        fields = dict(_fields(data.split(b'\r\n', 1)[1][:-3].decode()))
        assert fields['addr'] == fields['laddr'] == path + ':0'
        lines[kind] = fields
    assert lines['pyredis']['flags'] == lines['redis']['flags'] == 'U'


def _listen_backlog(port):
    """The backlog of the socket listening on ``port`` (ss's Send-Q)."""
    out = subprocess.run(['ss', '-ltnH', 'sport = :%d' % port], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[2])


@pytest.mark.skipif(shutil.which('ss') is None, reason='ss (iproute2) is not installed')
def test_listen_backlog_is_tcp_backlog(server_factory):
    """The listening socket keeps the tcp-backlog it was opened with (the
    event loop would otherwise listen again with 100, and a burst of
    connections beyond it waits a second per SYN retransmit), at start-up
    and after CONFIG SET port, as redis-server's does."""
    ours = server_factory('pyredis', '--tcp-backlog', '300')
    theirs = server_factory('redis', '--tcp-backlog', '300')
    assert _listen_backlog(ours.port) == _listen_backlog(theirs.port) == 300
    new_port = free_port()
    conn = RawConn(ours.port)
    assert conn.call('CONFIG', 'SET', 'port', str(new_port)) == b'+OK\r\n'
    conn.close()
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            assert _listen_backlog(new_port) == 300
            break
        except (IndexError, subprocess.CalledProcessError):
            time.sleep(0.05)
    else:
        raise AssertionError('no listener on the new port')


def _client_line(raw, name):
    text = raw.split(b'\r\n', 1)[1][:-2].decode()
    return dict(_fields(next(ln for ln in text.splitlines() if ' name=%s ' % name in ln)))


MEMORY_FIELDS = ('qbuf', 'qbuf-free', 'argv-mem', 'multi-mem', 'rbs', 'rbp', 'obl', 'oll',
                 'omem', 'tot-mem', 'events', 'cmd', 'multi', 'sub', 'psub')


def test_client_memory_fields_as_redis(server_factory):
    """qbuf, qbuf-free, argv-mem, multi-mem, rbs, rbp, obl, tot-mem: the same
    figures as redis-server 7.0.15 for the same clients (a fresh one, one
    in MULTI with two queued commands, a subscriber, one with a pending
    reply), once the reply buffers were resized by the cron."""
    seen = {}
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind)
        conns = [RawConn(srv.port) for _ in range(4)]
        try:
            lister, multi, sub, other = conns
            for conn, name in zip(conns, ('lister', 'multi', 'sub', 'other')):
                conn.call('CLIENT', 'SETNAME', name)
            # A new client: 16 KB reply buffer, its peak full.
            fresh = _client_line(lister.call('CLIENT', 'LIST', 'ID', lister.call(
                'CLIENT', 'ID')[1:-2].decode()), 'lister')
            multi.call('MULTI')
            multi.call('SET', 'a', 'bbb')
            multi.call('GET', 'a')
            sub.call('SUBSCRIBE', 'c1', 'c2', 'c3')
            sub.read_reply()
            sub.read_reply()
            # The cron shrinks every reply buffer to 1 KB within a tick or
            # two of its first peak reset (at once for a new client); the
            # lister's own replies (over 1 KB) fill it, so it grows again.
            wait_for(lambda: all(_client_line(lister.call('CLIENT', 'LIST'), n)['rbs'] == '1024'
                                 for n in ('multi', 'sub', 'other')),
                     what='reply buffers resized')
            other.call('PING')
            lines = {n: _client_line(lister.call('CLIENT', 'LIST'), n)
                     for n in ('lister', 'multi', 'sub', 'other')}
            # The caller's own line, with a reply of its pipeline pending.
            lister.send(b'*1\r\n$4\r\nPING\r\n')
            lister.read_reply()
            info = lister.call('CLIENT', 'INFO').split(b'\r\n', 1)[1][:-2].decode()
            lines['info'] = dict(_fields(info.strip()))
            lines['fresh'] = fresh
            seen[kind] = {n: {k: line[k] for k in MEMORY_FIELDS} for n, line in lines.items()}
        finally:
            for conn in conns:
                conn.close()
    for name in seen['redis']:
        for k in MEMORY_FIELDS:
            if k == 'rbp' and name in ('multi', 'lister', 'info'):
                # The lister's peak is its own CLIENT LIST replies, whose
                # lengths differ (ids, fds, ports); the others' peaks restart
                # every 5 s, not in step in the two servers.
                continue
            assert seen['pyredis'][name][k] == seen['redis'][name][k], (name, k, seen)


def test_client_list_query_buffer_and_argv_as_redis(server_factory):
    """qbuf of the client running CLIENT LIST/INFO is its whole read
    (pipelined requests before and after it, inline lines as sent), a
    blocked client's argv-mem is its blocked command's and its qbuf the
    requests sent after it, as sent, and a request not
    whole yet shows the arguments read so far (argv-mem) and the bytes
    after them (qbuf), as redis-server 7.0.15 shows them."""
    fields = ('qbuf', 'qbuf-free', 'argv-mem', 'tot-mem', 'cmd', 'flags')
    parts = {'header': b'*3\r', 'count': b'*3\r\n', 'bulk-header': b'*3\r\n$5\r\nBLPOP\r\n$1',
             'bulk': b'*3\r\n$5\r\nBLPOP\r\n$1\r\nl', 'args': b'*3\r\n$5\r\nBLPOP\r\n$1\r\nl\r\n',
             'inline': b'GET k'}
    seen = {}
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind)
        conns = [RawConn(srv.port) for _ in range(3 + len(parts))]
        try:
            lister, blocked, blocked_inline = conns[:3]
            for conn, name in zip(conns, ['lister', 'blocked', 'blocked-inline'] + list(parts)):
                conn.call('CLIENT', 'SETNAME', name)
            got = {}
            lister.send(b'*1\r\n$4\r\nPING\r\n*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n'
                        b'*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n'
                        + b'v' * 100 + b'\r\n')
            lister.read_reply()
            got['pipelined'] = lister.read_reply()
            lister.read_reply()
            lister.read_reply()
            lister.send(b'CLIENT INFO\r\nPING\r\n')
            got['inline'] = lister.read_reply()
            lister.read_reply()
            for key in ('pipelined', 'inline'):
                got[key] = dict(_fields(got[key].split(b'\r\n', 1)[1][:-2].decode().strip()))
            blocked.send(b'*3\r\n$5\r\nBLPOP\r\n$8\r\nsomelist\r\n$1\r\n0\r\n')
            # (What follows a blocked command waits in the query buffer.)
            blocked_inline.send(b'BLPOP otherlist 0\r\nPING\r\nECHO  x\r\n')
            for conn, data in zip(conns[3:], parts.values()):
                conn.send(data)
            wait_for(lambda: b'cmd=blpop' in lister.call('CLIENT', 'LIST'), what='blocked')
            time.sleep(0.1)
            listing = lister.call('CLIENT', 'LIST')
            for name in ['blocked', 'blocked-inline'] + list(parts):
                got[name] = _client_line(listing, name)
            seen[kind] = {n: {k: line[k] for k in fields} for n, line in got.items()}
        finally:
            for conn in conns:
                conn.close()
    assert seen['pyredis'] == seen['redis']


def test_clients_memory_with_many_clients(pyredis):
    """Past 128 clients INFO's mem_clients_normal is the clients cron's
    running sum (updateClientMemUsage), not a walk of every client: it
    counts the clients the cron has seen and drops those gone."""
    import socket
    r = redis.Redis(port=pyredis.port)

    def clients_memory():
        return r.info('memory')['mem_clients_normal']

    base = clients_memory()     # (the exact sum: one or two clients)
    socks = [socket.create_connection(('127.0.0.1', pyredis.port)) for _ in range(200)]
    try:
        # An idle client holds its fixed 1 KB; the cron sees each client
        # within about a second.
        wait_for(lambda: clients_memory() >= base + 200 * 1024, timeout=10)
        for s in socks[140:]:
            s.close()
        wait_for(lambda: clients_memory() < base + 160 * 1024, timeout=10)
        assert clients_memory() >= base + 140 * 1024
    finally:
        for s in socks:
            s.close()
