"""Streams on disk and on the wire: RDB (RDB_TYPE_STREAM_LISTPACKS_2) both
ways with redis-server, DUMP/RESTORE payloads byte for byte, the AOF
rewrite as Redis writes it, replication both ways, COPY/RENAME/MOVE."""

import glob
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from helpers import ServerProcess, RawConn

CHECK_RDB = shutil.which('redis-check-rdb')
CHECK_AOF = shutil.which('redis-check-aof')


def populate(conn):
    """Streams with every feature: several nodes, tombstones, trimmed
    heads, groups with PELs, consumers without pending entries, an empty
    stream with a group, integer-looking and long fields."""
    conn.call('CONFIG', 'SET', 'stream-node-max-entries', '10')
    for i in range(1, 95):
        fields = ['f', str(i), 'g', 'x' * (i % 40)] if i % 7 else ['other', str(-i * 1000)]
        conn.call('XADD', 'big', '%d-%d' % (i * 3, i % 4), *fields)
    conn.call('XDEL', 'big', '9-3', '12-0', '150-2')
    conn.call('XTRIM', 'big', 'MINID', '40')
    conn.call('XGROUP', 'CREATE', 'big', 'g1', '0')
    conn.call('XGROUP', 'CREATE', 'big', '12345', '$')
    conn.call('XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', '5', 'STREAMS', 'big', '>')
    conn.call('XREADGROUP', 'GROUP', 'g1', 'bob', 'COUNT', '3', 'STREAMS', 'big', '>')
    conn.call('XACK', 'big', 'g1', '42-2')
    conn.call('XGROUP', 'CREATECONSUMER', 'big', 'g1', 'idle-one')
    conn.call('XCLAIM', 'big', 'g1', 'carol', '0', '45-3', 'TIME', '1700000000000',
              'RETRYCOUNT', '4')
    conn.call('XGROUP', 'CREATE', 'empty', 'g', '$', 'MKSTREAM')
    conn.call('XADD', 'gone', '5-5', 'a', 'b')
    conn.call('XDEL', 'gone', '5-5')
    conn.call('XSETID', 'gone', '7-0', 'ENTRIESADDED', '3', 'MAXDELETEDID', '6-0')
    conn.call('CONFIG', 'SET', 'stream-node-max-entries', '100')


KEYS = ('big', 'empty', 'gone')


def full_info(port):
    conn = RawConn(port)
    try:
        return {k: conn.call('XINFO', 'STREAM', k, 'FULL', 'COUNT', '0') for k in KEYS}
    finally:
        conn.close()


def dumps(port):
    conn = RawConn(port)
    try:
        return {k: conn.call('DUMP', k) for k in KEYS}
    finally:
        conn.close()


def _start_with(kind, data, name='dump.rdb', extra=()):
    d = tempfile.mkdtemp(prefix='pyredis-stream-')
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)
    return ServerProcess(kind, list(extra), cwd=d)


@pytest.fixture
def redis_rdb(server_factory):
    srv = server_factory('redis')
    conn = RawConn(srv.port)
    populate(conn)
    assert conn.call('SAVE') == b'+OK\r\n'
    conn.close()
    with open(os.path.join(srv.dir, 'dump.rdb'), 'rb') as f:
        data = f.read()
    return data, full_info(srv.port), dumps(srv.port)


def test_redis_rdb_loads_with_identical_xinfo_and_dumps(redis_rdb):
    data, info, payloads = redis_rdb
    srv = _start_with('pyredis', data)
    try:
        assert full_info(srv.port) == info
        assert dumps(srv.port) == payloads
    finally:
        srv.stop()


def test_pyredis_rdb_loads_into_redis(redis_rdb, server_factory):
    _, info, payloads = redis_rdb
    ours = server_factory('pyredis')
    conn = RawConn(ours.port)
    # Rebuild from the payloads (RESTORE), then save and hand to Redis.
    for k, p in payloads.items():
        n = int(p[1:p.index(b'\r\n')])
        payload = p[p.index(b'\r\n') + 2:][:n]
        assert conn.call('RESTORE', k, '0', payload) == b'+OK\r\n'
    assert full_info(ours.port) == info
    assert conn.call('SAVE') == b'+OK\r\n'
    conn.close()
    path = os.path.join(ours.dir, 'dump.rdb')
    if CHECK_RDB:
        out = subprocess.run([CHECK_RDB, path], capture_output=True, text=True)
        assert 'RDB looks OK' in out.stdout, out.stdout + out.stderr
    with open(path, 'rb') as f:
        data = f.read()
    real = _start_with('redis', data)
    try:
        assert full_info(real.port) == info
        assert dumps(real.port) == payloads
    finally:
        real.stop()


def _base_aof(srv):
    paths = glob.glob(os.path.join(srv.dir, 'appendonlydir', '*.base.aof'))
    assert len(paths) == 1
    with open(paths[0], 'rb') as f:
        return f.read()


def test_aof_rewrite_like_redis(redis_rdb):
    data, info, _ = redis_rdb
    args = ['--appendonly', 'yes', '--aof-use-rdb-preamble', 'no']
    outs = {}
    for kind in ('pyredis', 'redis'):
        srv = _start_with(kind, data)
        try:
            conn = RawConn(srv.port)
            conn.call('CONFIG', 'SET', 'aof-use-rdb-preamble', 'no')
            for k in KEYS[1:]:
                conn.call('DEL', k)     # one key: both walk it the same way
            conn.call('CONFIG', 'SET', 'appendonly', 'yes')
            for _ in range(200):
                if b'aof_rewrite_in_progress:0' in conn.call('INFO', 'persistence') and \
                        glob.glob(os.path.join(srv.dir, 'appendonlydir', '*.base.aof')):
                    break
                time.sleep(0.05)
            conn.close()
            outs[kind] = _base_aof(srv)
        finally:
            srv.stop()
    assert outs['pyredis'] == outs['redis']
    # Both servers load pyredis's AOF into the same stream (consumers
    # that XCLAIM creates while loading are seen at load time).
    d = tempfile.mkdtemp(prefix='pyredis-stream-aof-')
    os.mkdir(os.path.join(d, 'appendonlydir'))
    with open(os.path.join(d, 'appendonlydir', 'appendonly.aof.1.base.aof'), 'wb') as f:
        f.write(outs['pyredis'])
    with open(os.path.join(d, 'appendonlydir', 'appendonly.aof.manifest'), 'w') as f:
        f.write('file appendonly.aof.1.base.aof seq 1 type b\n')
    if CHECK_AOF:
        out = subprocess.run([CHECK_AOF, os.path.join(d, 'appendonlydir',
                                                      'appendonly.aof.manifest')],
                             capture_output=True, text=True)
        assert 'is valid' in out.stdout, out.stdout + out.stderr
    loaded = {}
    for kind in ('pyredis', 'redis'):
        copy = tempfile.mkdtemp(prefix='pyredis-stream-aof-')
        shutil.copytree(os.path.join(d, 'appendonlydir'), os.path.join(copy, 'appendonlydir'))
        srv = ServerProcess(kind, args, cwd=copy)
        try:
            conn = RawConn(srv.port)
            loaded[kind] = re.sub(rb'seen-time\r\n:\d+', b'seen-time',
                                  conn.call('XINFO', 'STREAM', 'big', 'FULL', 'COUNT', '0'))
            conn.close()
        finally:
            srv.stop()
    assert loaded['pyredis'] == loaded['redis']
    assert b'pel-count\r\n:7' in loaded['redis']


def test_copy_rename_move(redis_rdb, server_factory):
    data, info, _ = redis_rdb
    for kind in ('pyredis', 'redis'):
        srv = _start_with(kind, data)
        try:
            conn = RawConn(srv.port)
            assert conn.call('COPY', 'big', 'big2') == b':1\r\n'
            assert conn.call('XINFO', 'STREAM', 'big2', 'FULL', 'COUNT', '0') == info['big']
            conn.call('XADD', 'big2', '999-0', 'new', 'entry')
            assert conn.call('XINFO', 'STREAM', 'big', 'FULL', 'COUNT', '0') == info['big']
            assert conn.call('RENAME', 'big2', 'big3') == b'+OK\r\n'
            assert conn.call('MOVE', 'big3', '1') == b':1\r\n'
            conn.call('SELECT', '1')
            assert conn.call('TYPE', 'big3') == b'+stream\r\n'
            assert conn.call('XLEN', 'big3') == conn.call('XLEN', 'big3')
            conn.close()
        finally:
            srv.stop()


def _wait_sync(port):
    conn = RawConn(port)
    try:
        for _ in range(300):
            if b'master_link_status:up' in conn.call('INFO', 'replication'):
                return
            time.sleep(0.05)
    finally:
        conn.close()
    raise AssertionError('replica did not sync')


def _wait_offset(master, replica):
    m, r = RawConn(master), RawConn(replica)
    try:
        for _ in range(300):
            mi = m.call('INFO', 'replication')
            ri = r.call('INFO', 'replication')
            mo = [l for l in mi.split(b'\r\n') if l.startswith(b'master_repl_offset:')]
            ro = [l for l in ri.split(b'\r\n') if l.startswith(b'master_repl_offset:')]
            if mo and mo == ro:
                return
            time.sleep(0.05)
    finally:
        m.close()
        r.close()


@pytest.mark.parametrize('master_kind', ['pyredis', 'redis'])
def test_replication_both_ways(redis_rdb, server_factory, master_kind):
    """A pyredis and a redis-server replica of the same master (pyredis or
    redis-server) end with the same streams: the full sync's RDB, then
    XADD *, approximate trims and the consumer group effects."""
    data, info, _ = redis_rdb
    master = _start_with(master_kind, data)
    try:
        replicas = [server_factory('pyredis'), server_factory('redis')]
        for rep in replicas:
            conn = RawConn(rep.port)
            conn.call('REPLICAOF', '127.0.0.1', str(master.port))
            conn.close()
            _wait_sync(rep.port)
            _wait_offset(master.port, rep.port)
            assert full_info(rep.port) == info
        m = RawConn(master.port)
        m.call('XADD', 'big', 'MAXLEN', '~', '20', '*', 'live', '1')
        m.call('XADD', 'big', '*', 'live', '2')
        m.call('XREADGROUP', 'GROUP', 'g1', 'dave', 'STREAMS', 'big', '>')
        m.call('XREADGROUP', 'GROUP', '12345', 'erin', 'NOACK', 'STREAMS', 'big', '>')
        m.call('XAUTOCLAIM', 'big', 'g1', 'frank', '0', '0', 'COUNT', '3')
        m.call('XTRIM', 'big', 'MINID', '~', '100')
        m.call('XGROUP', 'DESTROY', 'empty', 'g')
        m.close()
        for rep in replicas:
            _wait_offset(master.port, rep.port)
        ours, theirs = full_info(replicas[0].port), full_info(replicas[1].port)
        # Consumers a replica creates are seen at its own clock.
        for d in (ours, theirs):
            for k in d:
                d[k] = re.sub(rb'seen-time\r\n:\d+', b'seen-time', d[k])
        assert ours == theirs
        assert b'dave' in ours['big'] and b'erin' in ours['big']
    finally:
        master.stop()


def _mask(info):
    return {k: re.sub(rb'seen-time\r\n:\d+', b'seen-time', v) for k, v in info.items()}


@pytest.mark.parametrize('writer', ['redis', 'pyredis'])
def test_aof_with_streams_loads_in_both(server_factory, writer):
    """An AOF (the commands as written, XREADGROUP's effects included) from
    either server loads into both with the same streams; consumers that
    XCLAIM creates while loading are seen at load time."""
    args = ['--appendonly', 'yes', '--aof-use-rdb-preamble', 'no', '--appendfsync', 'always']
    src = server_factory(writer, *args)
    conn = RawConn(src.port)
    populate(conn)
    conn.call('XREADGROUP', 'GROUP', 'g1', 'zed', 'NOACK', 'COUNT', '2', 'STREAMS', 'big', '>')
    before = _mask(full_info(src.port))
    conn.close()
    src.stop()
    loaded = {}
    for kind in ('pyredis', 'redis'):
        d = tempfile.mkdtemp(prefix='pyredis-stream-aof-')
        shutil.copytree(os.path.join(src.dir, 'appendonlydir'), os.path.join(d, 'appendonlydir'))
        srv = ServerProcess(kind, args, cwd=d)
        try:
            loaded[kind] = _mask(full_info(srv.port))
        finally:
            srv.stop()
    assert loaded['pyredis'] == loaded['redis']
    # The entries, IDs, counters and PELs are the writer's.
    for k in KEYS:
        strip = rb'radix-tree-(keys|nodes)\r\n:\d+'
        assert re.sub(strip, b'', loaded['redis'][k]) == re.sub(strip, b'', before[k])


def test_rdb_stream_listpacks_v1_loads():
    """RDB_TYPE_STREAM_LISTPACKS (Redis 5/6): no first ID, tombstone ID,
    entries-added nor entries-read, which are derived as Redis derives them."""
    from pyredis import rdb, stream as st
    s = st.Stream()
    for i in range(1, 8):
        s.append((i << 64) | 1, [b'f', b'%d' % i], 4096, 3)
    s.delete((2 << 64) | 1)
    g = s.create_group(b'grp', (5 << 64) | 1, 5)
    c = g.consumers[b'alice'] = st.Consumer(b'alice', 1700000000000)
    nack = st.Nack(c, 1700000000123)
    g.pel.add((4 << 64) | 1, nack)
    c.pel.add((4 << 64) | 1, nack)
    enc = rdb.encode_len
    body = [enc(len(s.nodes))]
    for node in s.nodes:
        body.append(rdb._encode_blob(node.master.to_bytes(16, 'big'), False))
        body.append(rdb._encode_blob(node.listpack(), False))
    body += [enc(s.length), enc(s.last_id >> 64), enc(s.last_id & st.M64), enc(1),
             rdb.encode_string(b'grp', False), enc(5), enc(1), enc(1),
             ((4 << 64) | 1).to_bytes(16, 'big'), (1700000000123).to_bytes(8, 'little'),
             enc(1), enc(1), rdb.encode_string(b'alice', False),
             (1700000000000).to_bytes(8, 'little'), enc(1), ((4 << 64) | 1).to_bytes(16, 'big')]
    payload = bytes([st.TYPE_STREAM_LISTPACKS]) + b''.join(body) + bytes((9, 0))
    payload += rdb.crc64(payload).to_bytes(8, 'little')
    assert rdb.verify_dump_payload(payload)
    v = rdb.load_dump_payload(payload)
    assert v.length == 6 and v.entries_added == 6 and v.max_deleted == 0
    assert v.first_id == (1 << 64) | 1 and v.last_id == (7 << 64) | 1
    lg = v.group(b'grp')
    # entries_read estimated: the group's last ID is inside the stream,
    # after no tombstone Redis knows of, so it is unknown.
    assert lg.entries_read == v.estimate_distance((5 << 64) | 1)
    assert lg.pel.get((4 << 64) | 1).consumer is lg.consumers[b'alice']
    assert [fv for _, fv in v.iter_range(0, st.MAX_ID)][0] == (b'f', b'1')


def test_maxmemory_evicts_streams(server_factory):
    srv = server_factory('pyredis', '--maxmemory', '10mb', '--maxmemory-policy', 'allkeys-lru')
    r = srv.client()
    pipe = r.pipeline(transaction=False)
    for k in range(400):
        for i in range(1, 200):
            pipe.xadd('s%d' % k, {'field': 'v' * 100}, id='%d-0' % i)
        pipe.execute()
    assert r.dbsize() < 400
    assert r.type('s399') == b'stream' and r.xlen('s399') == 199
    assert r.info('stats')['evicted_keys'] > 0
