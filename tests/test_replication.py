"""Replication end to end, on loopback: pyredis master -> replica -> sub-replica,
expiry consistency, partial resynchronisation, WAIT, the wire protocol, and
failure cases (interop with redis-server: test_replication_interop.py).

Data is compared key by key (type, value and absolute expire time) with
``snapshot``. No timing assertions: every wait polls until a condition holds
or a generous deadline passes.
"""

import time

import pytest
import redis

from helpers import RawConn

DBS = (0, 1, 5)


def wait_for(cond, timeout=15, what='condition'):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return
        except (redis.ConnectionError, redis.TimeoutError, ConnectionError):
            pass
        time.sleep(0.05)
    raise AssertionError('timed out waiting for ' + what)


def info(srv, section='replication'):
    return srv.client().info(section)


def link_up(srv):
    return info(srv).get('master_link_status') == 'up'


def offsets_equal(master, *replicas):
    off = info(master)['master_repl_offset']
    return all(info(r)['master_repl_offset'] == off for r in replicas)


def supports_config(srv, name):
    try:
        return bool(srv.client().config_get(name))
    except redis.ResponseError:
        return False


def snapshot(srv, dbs=DBS):
    """{(db, key): (type, value, pexpiretime)} for every key."""
    out = {}
    for dbid in dbs:
        r = srv.client(db=dbid)
        for key in r.keys('*'):
            t = r.type(key)
            if t == b'string':
                v = r.get(key)
            elif t == b'list':
                v = r.lrange(key, 0, -1)
            elif t == b'hash':
                v = sorted(r.hgetall(key).items())
            elif t == b'set':
                v = sorted(r.smembers(key))
            elif t == b'zset':
                v = r.zrange(key, 0, -1, withscores=True)
            else:
                v = None
            out[(dbid, key)] = (t, v, r.execute_command('PEXPIRETIME', key))
    return out


def has_cmd(srv, name):
    """True when the server implements the command (command families land
    independently; a missing one skips its part of a test)."""
    conn = RawConn(srv.port)
    try:
        reply = conn.call('COMMAND', 'INFO', name)
    finally:
        conn.close()
    return reply not in (b'*1\r\n*-1\r\n', b'*1\r\n$-1\r\n')


def write_everything(srv, *peers):
    """Writes of every type that the server (and the peers that must apply
    them) implement, in several databases, MULTI/EXEC and keys with TTLs."""
    def has(name):
        return all(has_cmd(s, name) for s in (srv,) + peers)

    r0, r1, r5 = srv.client(db=0), srv.client(db=1), srv.client(db=5)
    r0.set('s', 'v')
    r0.set('counter', 10)
    r0.incr('counter')
    r0.incrbyfloat('counter', 1.5)
    r0.append('s', 'xyz')
    r0.set('ttl', 'x', ex=1000)
    r0.expire('s', 500)
    r0.psetex('pttl', 800000, 'y')
    r1.set('db1', 'one')
    r1.mset({'a': '1', 'b': '2'})
    r1.delete('b')
    r5.set('db5', 'five')
    r5.rename('db5', 'db5b')
    if has('rpush'):
        r0.rpush('list', 'a', 'b', 'c')
        r0.lpush('list', 'z')
        r0.lpop('list')
        r1.rpush('list1', *range(300))
    if has('hset'):
        r0.hset('hash', mapping={'f1': 'v1', 'f2': 'v2'})
        r0.hincrby('hash', 'n', 5)
        r0.hincrbyfloat('hash', 'fl', 0.25)
    if has('sadd'):
        r0.sadd('set', 'a', 'b', 'c', 'd')
        r0.srem('set', 'a')
        r0.spop('set')
    if has('zadd'):
        r0.zadd('zset', {'a': 1, 'b': 2.5, 'c': -3})
        r0.zincrby('zset', 2, 'a')
    p = r0.pipeline(transaction=True)
    p.set('tx1', 'a')
    p.incr('txn')
    p.expire('tx1', 300)
    p.execute()
    p = r1.pipeline(transaction=True)
    p.set('tx2', 'b')
    p.incr('tx2n')
    p.execute()


def skip_if_snapshot_unsupported(master):
    """Full syncs of a dataset need pyredis.rdb to serialise every value
    type; a type it does not handle yet is an integration gap, not a
    replication failure."""
    log = master.read_log()
    if 'Write error saving DB for SYNC' in log:
        pytest.skip('pyredis.rdb cannot serialise this dataset yet: ' +
                    log[log.index('Write error saving DB for SYNC'):][:200])


def start_pyredis(server_factory, *args, **kw):
    # No diskless-sync delay: each full sync starts at once.
    return server_factory('pyredis', '--repl-diskless-sync-delay', '0', *args, **kw)


def make_replica(replica, master):
    replica.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    wait_for(lambda: link_up(replica), what='link up')


# -- pyredis -> pyredis -------------------------------------------------------------

def test_chain_stream_every_type(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory)
    sub = start_pyredis(server_factory)
    make_replica(replica, master)
    make_replica(sub, replica)
    write_everything(master)
    wait_for(lambda: offsets_equal(master, replica, sub), what='offsets')
    snap = snapshot(master)
    assert len(snap) > 10
    assert snapshot(replica) == snap
    assert snapshot(sub) == snap
    # The whole chain shares the master's replid and offset (PSYNC2).
    mi, ri, si = info(master), info(replica), info(sub)
    assert mi['master_replid'] == ri['master_replid'] == si['master_replid']
    assert ri['role'] == si['role'] == 'slave'
    assert mi['connected_slaves'] == 1 and ri['connected_slaves'] == 1
    # Replicas are read-only; the master client can write.
    with pytest.raises(redis.ReadOnlyError):
        replica.client().set('x', 1)
    # FLUSHALL and SWAPDB reach the chain too.
    master.client().swapdb(0, 1)
    wait_for(lambda: offsets_equal(master, replica, sub), what='offsets')
    assert snapshot(sub) == snapshot(master)
    master.client().flushall()
    wait_for(lambda: offsets_equal(master, replica, sub), what='offsets')
    assert snapshot(sub) == {} and snapshot(replica) == {}


def test_full_sync_carries_existing_data(server_factory):
    master = start_pyredis(server_factory)
    write_everything(master)
    replica = start_pyredis(server_factory)
    replica.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    try:
        wait_for(lambda: link_up(replica), timeout=5, what='link up')
    except AssertionError:
        skip_if_snapshot_unsupported(master)
        raise
    wait_for(lambda: offsets_equal(master, replica), what='offsets')
    assert snapshot(replica) == snapshot(master)
    sub = start_pyredis(server_factory)
    make_replica(sub, replica)
    wait_for(lambda: offsets_equal(master, replica, sub), what='offsets')
    assert snapshot(sub) == snapshot(master)


def test_lazy_expiry_reaches_replica_as_del(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory)
    make_replica(replica, master)
    m, r = master.client(), replica.client()
    m.execute_command('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
    m.set('k', 'v', px=150)
    m.set('other', 'x')
    wait_for(lambda: offsets_equal(master, replica), what='offsets')
    time.sleep(0.3)
    # Expired on both clocks: the replica hides it but keeps it.
    assert r.get('k') is None
    assert r.exists('k') == 0
    assert r.ttl('k') == -2
    assert r.dbsize() == 2
    assert r.get('k') is None and r.dbsize() == 2
    # The master expires it on access and propagates the DEL.
    assert m.get('k') is None
    wait_for(lambda: offsets_equal(master, replica), what='offsets')
    assert r.dbsize() == 1
    assert info(master, 'stats')['expired_keys'] == 1
    assert info(replica, 'stats')['expired_keys'] == 0


def test_active_expiry_reaches_replica_as_del(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory)
    make_replica(replica, master)
    m, r = master.client(), replica.client()
    m.execute_command('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
    for i in range(20):
        m.set('k%d' % i, 'v', px=100)
    wait_for(lambda: offsets_equal(master, replica), what='offsets')
    time.sleep(0.3)
    assert r.dbsize() == 20
    assert r.mget(['k%d' % i for i in range(20)]) == [None] * 20
    # The replica has no active expiry of its own.
    time.sleep(0.3)
    assert r.dbsize() == 20
    m.execute_command('DEBUG', 'SET-ACTIVE-EXPIRE', '1')
    wait_for(lambda: r.dbsize() == 0, what='DELs from the active expire cycle')
    assert m.dbsize() == 0


def test_wait_and_role(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory)
    m = master.client()
    assert m.execute_command('WAIT', 0, 0) == 0
    assert m.execute_command('WAIT', 1, 50) == 0
    make_replica(replica, master)
    m.set('a', 1)
    assert m.execute_command('WAIT', 1, 0) == 1
    assert m.execute_command('WAIT', 2, 100) == 1
    role = m.execute_command('ROLE')
    assert role[0] == b'master' and role[1] == info(master)['master_repl_offset']
    # The replica's acked offset (the GETACK sent for WAIT is acked by the
    # next periodic ACK, as in Redis).
    assert role[2][0][:2] == [b'127.0.0.1', str(replica.port).encode()]
    wait_for(lambda: m.execute_command('ROLE')[2][0][2] == str(
        info(master)['master_repl_offset']).encode(), what='periodic ACK')
    rrole = replica.client().execute_command('ROLE')
    assert rrole[:4] == [b'slave', b'127.0.0.1', master.port, b'connected']
    with pytest.raises(redis.ResponseError, match='WAIT cannot be used with replica'):
        replica.client().execute_command('WAIT', 1, 0)
    line = info(master)['slave0']
    assert line['ip'] == '127.0.0.1' and line['port'] == replica.port
    assert line['state'] == 'online'


def test_partial_resync_after_client_kill(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory)
    make_replica(replica, master)
    m = master.client()
    m.set('a', 1)
    wait_for(lambda: offsets_equal(master, replica), what='offsets')
    m.client_kill_filter(_type='replica')
    m.set('b', 2)            # written while the replica is away
    m.rpush('l', 1, 2) if has_cmd(master, 'rpush') else m.set('l', 'x')
    wait_for(lambda: info(master, 'stats')['sync_partial_ok'] == 1, what='partial resync')
    wait_for(lambda: offsets_equal(master, replica), what='offsets')
    assert info(master, 'stats')['sync_full'] == 1
    assert snapshot(replica) == snapshot(master)
    # The same from the replica's side: CLIENT KILL TYPE master.
    r = replica.client()
    assert [c['flags'] for c in r.client_list() if c['flags'] == 'M'] == ['M']
    assert r.client_kill_filter(_type='master') == 1
    m.set('c', 3)
    wait_for(lambda: info(master, 'stats')['sync_partial_ok'] == 2, what='partial resync')
    wait_for(lambda: r.get('c') == b'3', what='stream after the partial resync')
    assert info(master, 'stats')['sync_full'] == 1


def test_replicaof_no_one_promotes_and_keeps_data(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory)
    sub = start_pyredis(server_factory)
    make_replica(replica, master)
    make_replica(sub, replica)
    master.client().set('k', 'v')
    wait_for(lambda: offsets_equal(master, replica, sub), what='offsets')
    old_id = info(replica)['master_replid']
    off = info(replica)['master_repl_offset']
    assert replica.client().execute_command('REPLICAOF', 'NO', 'ONE') == b'OK'
    ri = info(replica)
    assert ri['role'] == 'master'
    assert ri['master_replid2'] == old_id and ri['second_repl_offset'] == off + 1
    assert replica.client().get('k') == b'v'
    replica.client().set('new', 'w')
    # The sub-replica continues with the new history without a full sync.
    wait_for(lambda: sub.client().get('new') == b'w', what='sub-replica follows')
    assert info(replica, 'stats')['sync_partial_ok'] >= 1
    assert info(replica, 'stats')['sync_full'] == 1      # the sub-replica's first sync


def test_master_disappears_stale_data(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory)
    make_replica(replica, master)
    master.client().set('k', 'v')
    wait_for(lambda: replica.client().get('k') == b'v', what='write')
    master.stop()
    wait_for(lambda: not link_up(replica), what='link down')
    ri = info(replica)
    assert ri['master_link_status'] == 'down'
    assert replica.client().get('k') == b'v'
    if not supports_config(replica, 'replica-serve-stale-data'):
        return
    replica.client().config_set('replica-serve-stale-data', 'no')
    conn = replica.raw()
    assert conn.call('GET', 'k') == (b"-MASTERDOWN Link with MASTER is down and "
                                     b"replica-serve-stale-data is set to 'no'.\r\n")
    conn.close()
    assert info(replica)['role'] == 'slave'     # 'stale' commands still run


def test_master_restart_full_sync(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory)
    make_replica(replica, master)
    master.client().set('k', 'v')
    wait_for(lambda: replica.client().get('k') == b'v', what='write')
    port = master.port
    master.stop()
    wait_for(lambda: not link_up(replica), what='link down')
    master2 = start_pyredis(server_factory, port=port)
    wait_for(lambda: link_up(replica), what='link up again')
    # A new master has a new replid: the replica resynced from scratch.
    assert info(master2, 'stats')['sync_full'] == 1
    assert info(replica)['master_replid'] == info(master2)['master_replid']
    master2.client().set('after', 1)
    wait_for(lambda: replica.client().get('after') == b'1', what='stream')
    assert replica.client().get('k') is None


def test_wrong_masterauth_logs_and_retries(server_factory):
    master = start_pyredis(server_factory, '--requirepass', 'secret')
    replica = start_pyredis(server_factory, '--masterauth', 'wrong')
    replica.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    wait_for(lambda: replica.read_log().count('Unable to AUTH to MASTER') >= 2,
             what='AUTH failures logged and retried')
    assert not link_up(replica)
    if supports_config(replica, 'masterauth'):
        replica.client().config_set('masterauth', 'secret')
        wait_for(lambda: link_up(replica), what='link up with the right password')


def test_raw_psync_protocol(server_factory):
    """What a replica sees on the wire: +FULLRESYNC, the payload, then the
    stream with a SELECT, and +CONTINUE with the missing bytes."""
    master = start_pyredis(server_factory)
    conn = RawConn(master.port)
    assert conn.call('REPLCONF', 'listening-port', '1') == b'+OK\r\n'
    assert conn.call('REPLCONF', 'capa', 'psync2') == b'+OK\r\n'
    conn.send_command('PSYNC', '?', '-1')
    line = _readline(conn)
    assert line.startswith(b'+FULLRESYNC ')
    replid, offset = line.split()[1], int(line.split()[2])
    assert len(replid) == 40 and offset == 0
    head = _readline(conn).lstrip(b'\n')   # newlines: keepalives before the RDB
    assert head.startswith(b'$') and not head.startswith(b'$EOF:')  # no capa eof
    size = int(head[1:])
    payload = _readexact(conn, size)
    assert payload.startswith(b'REDIS')
    master.client().set('k', 'v')
    stream = b'*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n'
    assert _readexact(conn, len(stream)) == stream
    assert info(master)['master_repl_offset'] == len(stream)
    conn.send_command('REPLCONF', 'ACK', str(len(stream)))   # no reply to an ACK
    wait_for(lambda: info(master)['slave0']['offset'] == len(stream), what='ack')
    conn.close()
    # A second replica continues from the middle of the backlog.
    conn2 = RawConn(master.port)
    conn2.call('REPLCONF', 'capa', 'psync2')
    conn2.send_command('PSYNC', replid, str(offset + 1 + 25))
    assert _readline(conn2) == b'+CONTINUE ' + replid
    assert _readexact(conn2, len(stream) - 25) == stream[25:]
    conn2.close()


def _readline(conn):
    while b'\r\n' not in conn.buf:
        conn._fill()
    line, conn.buf = conn.buf.split(b'\r\n', 1)
    return line


def _readexact(conn, n):
    while len(conn.buf) < n:
        conn._fill()
    data, conn.buf = conn.buf[:n], conn.buf[n:]
    return data


# -- more failure cases --------------------------------------------------------------

def test_replica_restart_partial_resync(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory, '--replicaof', '127.0.0.1', str(master.port))
    wait_for(lambda: link_up(replica), what='link up')
    m = master.client()
    m.set('a', 1)
    m.set('volatile', 'x', ex=1000)
    master.client(db=1).set('in-db1', 'y')
    wait_for(lambda: offsets_equal(master, replica), what='offsets')
    assert replica.client().save()
    port, dirname = replica.port, replica.dir
    replica.stop()
    # Written while the replica is down, first in db 1 where the stream
    # already is (so without a SELECT): the RDB's repl-stream-db must be right.
    master.client(db=1).set('gap', 'z')
    m.set('gap0', 'w')
    replica2 = start_pyredis(server_factory, '--replicaof', '127.0.0.1', str(master.port),
                             port=port, cwd=dirname)
    wait_for(lambda: link_up(replica2), what='link up after restart')
    wait_for(lambda: offsets_equal(master, replica2), what='offsets')
    stats = info(master, 'stats')
    assert stats['sync_full'] == 1 and stats['sync_partial_ok'] == 1
    assert snapshot(replica2) == snapshot(master)


class FakeMaster:
    """A master that dies in the middle of the RDB transfer."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            try:
                self.handle(conn)
            except OSError:
                pass
            conn.close()

    def handle(self, conn):
        buf = b''
        while b'PSYNC' not in buf.upper():
            data = conn.recv(4096)
            if not data:
                return
            buf += data
            # One reply per complete command seen so far.
            n = buf.upper().count(b'PING') + buf.upper().count(b'REPLCONF')
            conn.sendall(b'+OK\r\n' * (n - getattr(self, '_sent', 0)))
            self._sent = n
        self._sent = 0
        conn.sendall(b'+FULLRESYNC ' + b'a' * 40 + b' 100\r\n$100000\r\nREDIS0010' + b'x' * 500)

    def close(self):
        self.stopped = True
        self.sock.close()


def test_link_dropped_mid_rdb_keeps_data_and_retries(server_factory):
    fake = FakeMaster()
    try:
        replica = start_pyredis(server_factory)
        replica.client().set('old', 'data')
        replica.client().execute_command('REPLICAOF', '127.0.0.1', fake.port)
        wait_for(lambda: fake.connections >= 2, what='a retry after the dropped transfer')
        assert 'I/O error trying to sync with MASTER' in replica.read_log()
        assert not link_up(replica)
        # Nothing was flushed: the payload never arrived whole.
        assert replica.client().get('old') == b'data'
    finally:
        fake.close()
    master = start_pyredis(server_factory)
    master.client().set('new', 'data')
    replica.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    wait_for(lambda: link_up(replica), what='link up with a real master')
    assert replica.client().get('new') == b'data'
    assert replica.client().get('old') is None


# -- sync variants, min-replicas ----------------------------------------------------

def test_diskless_replicas_share_one_snapshot(server_factory):
    master = server_factory('pyredis', '--repl-diskless-sync-delay', '30',
                            '--repl-diskless-sync-max-replicas', '2')
    master.client().set('k', 'v')
    r1, r2 = start_pyredis(server_factory), start_pyredis(server_factory)
    r1.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    wait_for(lambda: info(master)['connected_slaves'] == 1, what='first replica waiting')
    assert info(master)['slave0']['state'] == 'wait_bgsave'
    assert r1.client().execute_command('ROLE')[3] == b'handshake'
    r2.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    # The second replica reaches max-replicas: the snapshot starts at once.
    wait_for(lambda: link_up(r1) and link_up(r2), what='both links up')
    assert master.read_log().count('Starting BGSAVE for SYNC') == 1
    assert r1.client().get('k') == r2.client().get('k') == b'v'


def test_legacy_sync(server_factory):
    master = start_pyredis(server_factory)
    master.client().set('k', 'v')
    conn = RawConn(master.port)
    conn.send_command('SYNC')
    head = _readline(conn)
    while head == b'' or head == b'\n':
        head = _readline(conn)
    assert head.startswith(b'$')
    payload = _readexact(conn, int(head[1:]))
    assert payload.startswith(b'REDIS') and b'k' in payload
    master.client().set('k2', 'v2')
    expect = b'*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$2\r\nv2\r\n'
    assert _readexact(conn, len(expect)) == expect
    conn.close()




def test_repl_timeout_both_sides(server_factory):
    import signal
    master = start_pyredis(server_factory, '--repl-timeout', '1',
                           '--repl-ping-replica-period', '1')
    replica = start_pyredis(server_factory, '--repl-timeout', '1')
    make_replica(replica, master)
    # A master that stops answering: the replica gives up on the link.
    master.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: 'MASTER timeout' in replica.read_log(), what='replica-side timeout')
    finally:
        master.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: link_up(replica), what='link up again')
    # A replica that stops acknowledging: the master drops it.
    replica.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: 'Disconnecting timedout replica' in master.read_log(),
                 what='master-side timeout')
    finally:
        replica.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: link_up(replica), what='link up again')


def test_replica_output_buffer_limit(server_factory):
    master = start_pyredis(server_factory, '--client-output-buffer-limit',
                           'replica', '1mb', '0', '0')
    conn = RawConn(master.port)
    conn.send_command('PSYNC', '?', '-1')       # and then never read
    wait_for(lambda: info(master)['connected_slaves'] == 1, what='replica attached')
    r = master.client()
    value = b'x' * (1 << 20)
    for i in range(40):
        r.set('big%d' % i, value)
        if info(master)['connected_slaves'] == 0:
            break
    wait_for(lambda: info(master)['connected_slaves'] == 0, what='slow replica dropped')
    assert 'overcoming of output buffer limits' in master.read_log()
    conn.close()


def test_sub_replica_full_sync_mid_stream_database(server_factory):
    """A sub-replica's full sync from a replica whose stream is in db 3:
    the RDB's repl-stream-db puts the next commands (sent without a SELECT)
    in the right database."""
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory)
    make_replica(replica, master)
    m3 = master.client(db=3)
    m3.set('a', 1)
    wait_for(lambda: offsets_equal(master, replica), what='offsets')
    sub = start_pyredis(server_factory)
    make_replica(sub, replica)
    m3.set('b', 2)              # no SELECT: the master's stream is still in db 3
    wait_for(lambda: offsets_equal(master, replica, sub), what='offsets')
    assert sub.client(db=3).get('b') == b'2'
    assert snapshot(sub, dbs=(0, 3)) == snapshot(master, dbs=(0, 3))


def test_replica_announce_ip_port(server_factory):
    master = start_pyredis(server_factory)
    replica = start_pyredis(server_factory, '--replica-announce-ip', '10.1.2.3',
                            '--replica-announce-port', '1234', '--replica-priority', '7')
    make_replica(replica, master)
    line = info(master)['slave0']
    assert (line['ip'], line['port']) == ('10.1.2.3', 1234)
    assert master.client().execute_command('ROLE')[2][0][:2] == [b'10.1.2.3', b'1234']
    assert info(replica)['slave_priority'] == 7


def test_psync_refused_with_pending_output(pyredis, real_redis):
    """PSYNC pipelined behind another command (whose reply is not written
    yet) is refused, as syncCommand refuses it; the client stays a normal
    client."""
    replies = []
    for srv in (pyredis, real_redis):
        conn = RawConn(srv.port)
        conn.send(b'*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$1\r\nx\r\n'
                  b'*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n')
        replies.append((conn.read_reply(), conn.read_reply(), conn.call('PING')))
        conn.close()
    assert replies[0] == replies[1] == (
        b'+OK\r\n', b'-ERR SYNC and PSYNC are invalid with pending output\r\n', b'+PONG\r\n')
