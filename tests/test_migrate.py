"""MIGRATE across implementations: pyredis -> redis-server, redis-server ->
pyredis and pyredis -> pyredis, each compared with redis-server ->
redis-server (the source's replies byte for byte, what the target holds
after), plus the cached connections, AUTH/AUTH2, -IOERR, propagation as
DEL, and RESTORE-ASKING in cluster mode."""

import os
import time

import pytest

import pyredis
from pyredis.cluster.state import MASTER, MYSELF, ClusterNode

from cluster_helpers import cluster_port, wait_for
from helpers import REDIS_SERVER, RawConn, ServerProcess, free_port
from test_cluster_keyspace import HandState

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason='redis-server is not installed')


@pytest.fixture(scope='module')
def servers():
    started = {k: ServerProcess(k) for k in ('pyredis', 'redis')}
    started['pyredis2'] = ServerProcess('pyredis')
    started['redis2'] = ServerProcess('redis')
    try:
        yield started
    finally:
        for s in started.values():
            s.stop()


def _target_state(port):
    out = []
    for db in (0, 3):
        conn = RawConn(port)
        conn.call('SELECT', db)
        keys = sorted(conn.call('KEYS', '*').split(b'\r\n')[2::2])
        for k in keys:
            pttl = int(conn.call('PTTL', k)[1:-2])
            out.append((db, k, conn.call('TYPE', k), conn.call('DUMP', k),
                        pttl if pttl < 0 else pttl // 10000))
        conn.close()
    return out


def _scenario(src_port, dst_port):
    """The replies of the source, and the target's keys after."""
    for port in (src_port, dst_port):
        RawConn(port).call('FLUSHALL')
    src = RawConn(src_port)
    replies = []
    setup = [('SET', 'k1', 'v1'), ('RPUSH', 'l', 1, 2, 3), ('SET', 'e', 'x', 'PX', 500000),
             ('HSET', 'h', 'f', 'v'), ('ZADD', 'z', 1, 'a', 2, 'b'), ('SADD', 's', 'm'),
             ('XADD', 'x', '1-1', 'f', 'v'), ('SET', 'n', 12345)]
    for cmd in setup:
        src.call(*cmd)
    steps = [
        ('MIGRATE', '127.0.0.1', dst_port, 'k1', 0, 1000),
        ('MIGRATE', '127.0.0.1', dst_port, '', 3, 1000, 'COPY', 'KEYS', 'l', 'e', 'nokey'),
        ('MIGRATE', '127.0.0.1', dst_port, '', 3, 1000, 'KEYS', 'l', 'h'),
        ('MIGRATE', '127.0.0.1', dst_port, '', 3, 1000, 'REPLACE', 'KEYS', 'l', 'z', 's'),
        ('MIGRATE', '127.0.0.1', dst_port, 'x', 0, 1000, 'REPLACE'),
        ('MIGRATE', '127.0.0.1', dst_port, 'n', 0, 0, 'COPY'),
        ('SET', 'k1', 'v2'),
        ('MIGRATE', '127.0.0.1', dst_port, 'k1', 0, 1000),
        ('MIGRATE', '127.0.0.1', dst_port, 'k1', 0, 1000, 'COPY', 'REPLACE'),
        ('MIGRATE', '127.0.0.1', dst_port, 'nokey', 0, 1000),
        ('MIGRATE', '127.0.0.1', dst_port, 'k1', 'x', 1000),
        ('MIGRATE', '127.0.0.1', dst_port, 'k1', 0, 'y'),
        ('MIGRATE', '127.0.0.1', dst_port, 'k1', 0, 1000, 'KEYS', 'a'),
        ('MIGRATE', '127.0.0.1', dst_port, '', 0, 1000, 'foo'),
        ('MIGRATE', '127.0.0.1', dst_port, '', 0, 1000, 'AUTH'),
        ('MIGRATE', '127.0.0.1', dst_port, '', 0, 1000, 'AUTH2', 'u'),
        ('MIGRATE', '127.0.0.1', dst_port, 'k1', 0, 1000, 'AUTH', 'pw'),
        ('MIGRATE', '127.0.0.1', dst_port, 'k1', 99, 1000, 'COPY'),
        ('EXISTS', 'k1', 'l', 'e', 'h', 'z', 's', 'x', 'n'),
    ]
    for cmd in steps:
        replies.append((cmd[3:], src.call(*cmd)))
    return replies, _target_state(dst_port)


@pytest.mark.parametrize('source,target', [('pyredis', 'redis'), ('redis', 'pyredis'),
                                           ('pyredis', 'pyredis2')])
def test_migrate_across_implementations(servers, source, target):
    want = _scenario(servers['redis'].port, servers['redis2'].port)
    got = _scenario(servers[source].port, servers[target].port)
    assert got[0] == want[0]
    assert got[1] == want[1]


def test_migrate_connection_errors_as_redis(servers):
    dead = free_port()
    for kind in ('pyredis', 'redis'):
        RawConn(servers[kind].port).call('SET', 'k', 'v')
    for cmd in [('MIGRATE', '127.0.0.1', dead, 'k', 0, 100),
                ('MIGRATE', 'no-such-host.invalid', 1, 'k', 0, 100),
                ('MIGRATE', '127.0.0.1', 'notaport', 'k', 0, 100),
                ('EXISTS', 'k')]:
        assert (RawConn(servers['pyredis'].port).call(*cmd)
                == RawConn(servers['redis'].port).call(*cmd)), cmd


def test_migrate_timeout_reading_is_ioerr(servers):
    # A target that accepts and never answers.
    import socket
    with socket.socket() as lsock:
        lsock.bind(('127.0.0.1', 0))
        lsock.listen(5)
        port = lsock.getsockname()[1]
        for kind in ('pyredis', 'redis'):
            conn = RawConn(servers[kind].port)
            conn.call('SET', 'slow', 'v')
            assert conn.call('MIGRATE', '127.0.0.1', port, 'slow', 0, 200) == \
                b'-IOERR error or timeout reading to target instance\r\n'
            assert conn.call('EXISTS', 'slow') == b':1\r\n'


@pytest.mark.parametrize('target', ['redis', 'pyredis'])
def test_migrate_auth_and_auth2(target):
    dst = ServerProcess(target, args=['--requirepass', 'secret'])
    src = ServerProcess('pyredis')
    try:
        d = RawConn(dst.port)
        d.call('AUTH', 'secret')
        d.call('ACL', 'SETUSER', 'mover', 'on', '>pw2', '~*', '+@all')
        s = RawConn(src.port)
        s.call('MSET', 'a', 1, 'b', 2, 'c', 3)
        assert s.call('MIGRATE', '127.0.0.1', dst.port, 'a', 0, 1000) == (
            b'-ERR Target instance replied with error: NOAUTH Authentication required.\r\n')
        assert s.call('MIGRATE', '127.0.0.1', dst.port, 'a', 0, 1000, 'AUTH', 'wrong').startswith(
            b'-ERR Target instance replied with error: WRONGPASS')
        assert s.call('MIGRATE', '127.0.0.1', dst.port, 'a', 0, 1000, 'AUTH', 'secret') == \
            b'+OK\r\n'
        assert s.call('MIGRATE', '127.0.0.1', dst.port, '', 0, 1000, 'AUTH2', 'mover', 'pw2',
                      'KEYS', 'b', 'c') == b'+OK\r\n'
        assert d.call('MGET', 'a', 'b', 'c') == b'*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n'
        assert s.call('DBSIZE') == b':0\r\n'
    finally:
        src.stop()
        dst.stop()


def _stat(conn, field):
    info = conn.call('INFO', 'all').decode()
    for line in info.split('\r\n'):
        if line.startswith(field + ':'):
            return int(line.split(':')[1])


def test_migrate_caches_connections_and_closes_idle_ones():
    dst = ServerProcess('redis')
    try:
        with pyredis.serve() as src:
            r = src.client()
            stats = RawConn(dst.port)
            before = _stat(stats, 'total_connections_received')
            for i in range(5):
                r.set('k%d' % i, i)
                assert r.execute_command('MIGRATE', '127.0.0.1', dst.port, 'k%d' % i, 0,
                                         1000) == b'OK'
            # One connection for the five, SELECT sent once.
            assert _stat(stats, 'total_connections_received') == before + 1
            assert _stat(stats, 'connected_clients') == 2
            # The target drops it: the next MIGRATE retries on a new one.
            stats.call('CLIENT', 'KILL', 'TYPE', 'normal')
            r.set('again', 1)
            assert r.execute_command('MIGRATE', '127.0.0.1', dst.port, 'again', 0,
                                     1000) == b'OK'
            assert RawConn(dst.port).call('EXISTS', 'again') == b':1\r\n'
            # Unused for more than 10 seconds: the cron closes it.
            clock = src.clock
            clock.freeze()
            try:
                clock.advance(11)
                wait_for(lambda: _stat(stats, 'connected_clients') == 1 and
                         not src.server.migrate_sockets.cache, 10, what='the idle close')
            finally:
                clock.reset()
    finally:
        dst.stop()


def test_migrate_is_propagated_as_del(tmp_path):
    dst = ServerProcess('redis')
    try:
        with pyredis.serve(dir=str(tmp_path), appendonly=True) as src:
            with pyredis.serve(replicaof=['127.0.0.1', src.port]) as rep:
                r = src.client()
                r.mset({'a': 1, 'b': 2, 'c': 3})
                wait_for(lambda: rep.client().dbsize() == 3, 20, what='the replica')
                assert r.execute_command('MIGRATE', '127.0.0.1', dst.port, '', 0, 1000,
                                         'KEYS', 'a', 'b', 'missing') == b'OK'
                assert r.execute_command('MIGRATE', '127.0.0.1', dst.port, 'c', 0, 1000,
                                         'COPY') == b'OK'
                wait_for(lambda: rep.client().keys() == [b'c'], 20, what='the DEL')
                aof_dir = os.path.join(str(tmp_path), 'appendonlydir')
                text = b''
                for name in sorted(os.listdir(aof_dir)):
                    if name.endswith('.incr.aof'):
                        with open(os.path.join(aof_dir, name), 'rb') as f:
                            text += f.read()
                assert b'*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n' in text
                assert b'MIGRATE' not in text
    finally:
        dst.stop()


def test_migrate_sends_restore_asking_in_cluster_mode():
    dst = ServerProcess('redis')
    s = pyredis.serve(cluster_port(), cluster_enabled=True)
    try:
        st = HandState(s.server.config)
        me = ClusterNode(flags=MASTER | MYSELF)
        me.ip, me.port = '127.0.0.1', s.port
        st.myself = me
        st.add_node(me)
        for i in range(16384):
            st.add_slot(me, i)
        st.state_ok = True
        s.server.cluster = st
        mon = RawConn(dst.port)
        mon.call('MONITOR')
        r = s.client()
        r.set('k', 'v')
        assert r.execute_command('MIGRATE', '127.0.0.1', dst.port, 'k', 0, 1000) == b'OK'
        seen = b''
        deadline = time.time() + 10
        while b'RESTORE-ASKING' not in seen and time.time() < deadline:
            seen += mon.sock.recv(65536)
        assert b'"RESTORE-ASKING" "k" "0"' in seen
    finally:
        s.stop()
        dst.stop()
