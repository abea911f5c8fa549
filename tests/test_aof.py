"""AOF persistence: Redis 7.0's multi-part layout, durability, loading rules,
rewrite, and interop with a real redis-server in both directions.

Every test starts its own servers in their own directories (server_factory)
and talks to them over sockets. Interop tests skip only when redis-server is
not installed.
"""

import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from helpers import REDIS_SERVER, RawConn, ServerProcess, encode_command

REDIS_CHECK_AOF = shutil.which('redis-check-aof')
needs_redis = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')


@pytest.fixture
def server_factory(server_factory):
    """The shared factory, returning once the dataset is loaded: a server
    answers -LOADING while it replays its AOF, as Redis does."""
    def start(kind='pyredis', *args, **kw):
        srv = server_factory(kind, *args, **kw)
        conn = srv.raw()
        wait_for(lambda: not conn.call('PING').startswith(b'-LOADING'))
        conn.close()
        return srv
    return start


def aof_dir(srv):
    return os.path.join(srv.dir, 'appendonlydir')


def manifest(srv):
    with open(os.path.join(aof_dir(srv), 'appendonly.aof.manifest'), 'rb') as f:
        return f.read()


def manifest_files(srv):
    """[(name, seq, type)] from the manifest."""
    out = []
    for line in manifest(srv).decode().splitlines():
        p = line.split()
        out.append((p[1], int(p[3]), p[5]))
    return out


def incr_bytes(srv):
    data = b''
    for name, _, t in manifest_files(srv):
        if t == 'i':
            with open(os.path.join(aof_dir(srv), name), 'rb') as f:
                data += f.read()
    return data


def wait_for(cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError('condition not met in %ss' % timeout)


def info_field(conn, name):
    text = conn.call('INFO', 'persistence').decode()
    m = re.search(r'^%s:(\S*)' % name, text, re.M)
    return m.group(1) if m else None


def wait_rewrite(conn):
    wait_for(lambda: info_field(conn, 'aof_rewrite_in_progress') == '0'
             and info_field(conn, 'aof_rewrite_scheduled') == '0')


def restart(server_factory, srv, kind='pyredis', *args):
    """Stop ``srv`` cleanly and start ``kind`` on the same directory."""
    srv.stop()
    return server_factory(kind, '--appendonly', 'yes', *args, cwd=srv.dir)


def check_aof(srv):
    if not REDIS_CHECK_AOF:
        pytest.skip('redis-check-aof is not installed')
    path = os.path.join(aof_dir(srv), 'appendonly.aof.manifest')
    res = subprocess.run([REDIS_CHECK_AOF, path], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert 'All AOF files and manifest are valid' in res.stdout


def dataset(conn, dbs=(0, 1, 2)):
    """{(db, key): (type, value, has_ttl)} read with plain commands."""
    out = {}
    for db in dbs:
        conn.call('SELECT', db)
        keys = _array(conn.call('KEYS', '*'))
        for k in keys:
            t = conn.call('TYPE', k)
            if t == b'+string\r\n':
                v = conn.call('GET', k)
            elif t == b'+list\r\n':
                v = conn.call('LRANGE', k, 0, -1)
            elif t == b'+hash\r\n':
                v = sorted(_array(conn.call('HGETALL', k)))
            elif t == b'+set\r\n':
                v = sorted(_array(conn.call('SMEMBERS', k)))
            elif t == b'+zset\r\n':
                v = conn.call('ZRANGE', k, 0, -1, 'WITHSCORES')
            else:
                v = None
            pttl = int(conn.call('PTTL', k)[1:-2])
            out[(db, k)] = (t, v, pttl > 0)
    conn.call('SELECT', 0)
    return out


def _array(reply):
    """Elements of a flat RESP2 array of bulk strings."""
    lines = reply.split(b'\r\n')
    out = []
    i = 1
    while i < len(lines) - 1:
        if lines[i].startswith(b'$'):
            out.append(lines[i + 1])
            i += 2
        else:
            i += 1
    return out


def pyredis_has(conn, *names):
    for name in names:
        r = conn.call('COMMAND', 'INFO', name)
        if r == b'*1\r\n*-1\r\n' or r.startswith(b'*1\r\n$-1'):
            return False
    return True


# -- layout and format -------------------------------------------------------------

def test_layout_manifest_and_deterministic_commands(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'always')
    c = srv.raw()
    files = manifest_files(srv)
    base = files[0]
    assert base[0] in ('appendonly.aof.1.base.rdb', 'appendonly.aof.1.base.aof')
    assert files == [(base[0], 1, 'b'), ('appendonly.aof.1.incr.aof', 1, 'i')]
    assert manifest(srv) == (b'file %s seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 '
                             b'type i\n' % base[0].encode())
    assert c.call('SET', 'k', 'v', 'EX', '100') == b'+OK\r\n'
    c.call('SET', 'n', '10')
    c.call('EXPIRE', 'n', '100')
    c.call('INCRBYFLOAT', 'f', '1.5')
    c.call('SELECT', '3')
    c.call('set', 'x', 'y')
    data = incr_bytes(srv)
    assert data.startswith(b'*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n')
    assert re.search(rb'\*5\r\n\$3\r\nSET\r\n\$1\r\nk\r\n\$1\r\nv\r\n\$4\r\nPXAT\r\n\$13\r\n\d{13}\r\n',
                     data)
    assert re.search(rb'\*3\r\n\$9\r\nPEXPIREAT\r\n\$1\r\nn\r\n\$13\r\n\d{13}\r\n', data)
    assert b'*4\r\n$3\r\nSET\r\n$1\r\nf\r\n$3\r\n1.5\r\n$7\r\nKEEPTTL\r\n' in data
    # The command as typed, after a SELECT for the new database.
    assert data.endswith(b'*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n'
                         b'*3\r\n$3\r\nset\r\n$1\r\nx\r\n$1\r\ny\r\n')
    check_aof(srv)


@needs_redis
def test_incr_file_bytes_match_redis(server_factory):
    """The same commands produce the same incr file as redis-server 7.0."""
    ours = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'always')
    theirs = server_factory('redis', '--appendonly', 'yes', '--appendfsync', 'always')
    when = int(time.time() * 1000) + 500000
    cmds = [('SET', 'a', '1'), ('SET', 'b', 'x', 'PXAT', when), ('INCR', 'a'),
            ('APPEND', 'b', 'yz'), ('PEXPIREAT', 'a', when), ('EXPIREAT', 'a', when // 1000),
            ('PERSIST', 'a'), ('SELECT', '2'), ('MSET', 'k1', 'v1', 'k2', 'v2'),
            ('DEL', 'k1', 'nokey'), ('DEL', 'nokey'), ('GET', 'k2'), ('SELECT', '0'),
            ('SETNX', 'a', 'no'), ('GETDEL', 'b'), ('INCRBY', 'c', '5'),
            ('MULTI',), ('SET', 'm', '1'), ('INCR', 'm'), ('EXEC',),
            ('SET', 'exp', 'v', 'PX', '100000'), ('GETEX', 'exp', 'PERSIST'),
            # A transaction spanning databases, then one entered from another.
            ('SELECT', '1'), ('SET', 'z', '0'), ('MULTI',), ('SET', 'a', '1'),
            ('SELECT', '0'), ('SET', 'b', '2'), ('EXEC',), ('SET', 'c', '3'),
            ('SELECT', '2'), ('MULTI',), ('SET', 'q', '1'), ('SET', 'w', '2'), ('EXEC',),
            ('MULTI',), ('SET', 'single', '1'), ('GET', 'single'), ('EXEC',),
            # Expiry: a TTL already in the past deletes at once, a lazy expiry
            # inside a write is a DEL wrapped with it, one on a read is a DEL.
            ('DEBUG', 'SET-ACTIVE-EXPIRE', '0'), ('SET', 'k', '5', 'PXAT', '1000'),
            ('SET', 'k2', '5'), ('PEXPIREAT', 'k2', '1000'), ('INCR', 'k'),
            ('SET', 'k3', 'v', 'PXAT', '1000'), ('GET', 'k3')]
    a, b = ours.raw(), theirs.raw()
    for cmd in cmds:
        ra, rb = a.call(*cmd), b.call(*cmd)
        assert ra == rb, cmd
    _compare_incr_files(ours, theirs)


def _compare_incr_files(ours, theirs):
    mine, real = incr_bytes(ours), incr_bytes(theirs)
    # Relative TTLs become absolute: mask the milliseconds they were given.
    mask = re.compile(rb'PXAT\r\n\$13\r\n\d{13}')
    mine, real = mask.sub(b'PXAT', mine), mask.sub(b'PXAT', real)
    assert mine.split(b'\r\n') == real.split(b'\r\n')


def test_pipelined_writes_across_databases_match_redis(server_factory):
    """Writes arriving in one read (and so written to the AOF together, in
    runs per database) still get a SELECT exactly where Redis puts one."""
    ours = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'everysec')
    theirs = server_factory('redis', '--appendonly', 'yes', '--appendfsync', 'everysec')
    cmds = [('SET', 'a', '1'), ('INCR', 'a'), ('LPUSH', 'l', 'x'), ('SELECT', '1'),
            ('SET', 'a', '2'), ('GET', 'a'), ('RPUSH', 'l', 'y'), ('SELECT', '0'),
            ('SET', 'b', '3'), ('MULTI',), ('SET', 'm', '1'), ('SELECT', '2'),
            ('INCR', 'm'), ('EXEC',), ('SET', 'c', '4'), ('SELECT', '0'),
            ('SET', 'exp', 'v', 'PX', '100000'), ('SET', 'd', '5'), ('HSET', 'h', 'f', 'v')]
    for _ in range(3):
        for srv in (ours, theirs):
            conn = srv.raw()
            conn.send(b''.join(encode_command(cmd) for cmd in cmds))
            replies = [conn.read_reply() for _ in cmds]
            conn.close()
        assert len(replies) == len(cmds)
    _compare_incr_files(ours, theirs)


def test_timestamp_annotations(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes', '--aof-timestamp-enabled', 'yes',
                         '--aof-use-rdb-preamble', 'no')
    c = srv.raw()
    c.call('SET', 'a', '1')
    wait_for(lambda: b'#TS:' in incr_bytes(srv))
    assert re.match(rb'#TS:\d{10}\r\n\*2\r\n\$6\r\nSELECT', incr_bytes(srv))
    c.call('BGREWRITEAOF')
    wait_rewrite(c)
    base = manifest_files(srv)[0][0]
    assert base.endswith('.base.aof')
    with open(os.path.join(aof_dir(srv), base), 'rb') as f:
        assert re.match(rb'#TS:\d{10}\r\n', f.read())
    c.call('SET', 'b', '2')
    check_aof(srv)
    srv2 = restart(server_factory, srv)
    c2 = srv2.raw()
    assert c2.call('MGET', 'a', 'b') == b'*2\r\n$1\r\n1\r\n$1\r\n2\r\n'


# -- restart, durability ------------------------------------------------------------

def test_restart_restores_data_and_ttls(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes')
    c = srv.raw()
    c.call('SET', 'plain', 'v')
    c.call('SET', 'ttl', 'v', 'EX', '1000')
    c.call('SELECT', '1')
    c.call('INCRBY', 'counter', '41')
    c.call('INCR', 'counter')
    c.call('SELECT', '0')
    before = dataset(c)
    srv2 = restart(server_factory, srv)
    c2 = srv2.raw()
    assert dataset(c2) == before
    assert 0 < int(c2.call('TTL', 'ttl')[1:-2]) <= 1000


def test_appendfsync_always_survives_kill9(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'always')
    c = srv.raw()
    for i in range(30):
        assert c.call('SET', 'key:%d' % i, 'value:%d' % i) == b'+OK\r\n'
    # Pipelined batch: each reply has been preceded by its fsync.
    c.send(b'*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n' * 50)
    for _ in range(50):
        c.read_reply()
    srv.kill()
    srv2 = server_factory('pyredis', '--appendonly', 'yes', cwd=srv.dir)
    c2 = srv2.raw()
    assert c2.call('DBSIZE') == b':31\r\n'
    assert c2.call('GET', 'key:29') == b'$8\r\nvalue:29\r\n'
    assert c2.call('GET', 'ctr') == b'$2\r\n50\r\n'


def test_write_precedes_reply_kill9(server_factory):
    """Without fsync the write(2) still happens before the reply, so a
    process crash (not an OS crash) loses nothing acknowledged. (With
    everysec Redis, and pyredis, may send replies while a write waits for a
    slow background fsync, so that policy is not tested here.)"""
    srv = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'no')
    c = srv.raw()
    for i in range(100):
        c.call('SET', 'k%d' % i, i)
    srv.kill()
    srv2 = server_factory('pyredis', '--appendonly', 'yes', cwd=srv.dir)
    assert srv2.raw().call('DBSIZE') == b':100\r\n'


# -- loading rules --------------------------------------------------------------------

def _prepare_incr(tmpdir, content, base=None):
    d = os.path.join(tmpdir, 'appendonlydir')
    os.makedirs(d)
    lines = b''
    if base is not None:
        with open(os.path.join(d, 'appendonly.aof.1.base.aof'), 'wb') as f:
            f.write(base)
        lines += b'file appendonly.aof.1.base.aof seq 1 type b\n'
    with open(os.path.join(d, 'appendonly.aof.1.incr.aof'), 'wb') as f:
        f.write(content)
    lines += b'file appendonly.aof.1.incr.aof seq 1 type i\n'
    with open(os.path.join(d, 'appendonly.aof.manifest'), 'wb') as f:
        f.write(lines)
    return os.path.join(d, 'appendonly.aof.1.incr.aof')


GOOD = (b'*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n'
        b'*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n')


def _start_expect_exit(tmp_path, *args):
    srv = ServerProcess('pyredis', ('--appendonly', 'yes') + args, cwd=str(tmp_path),
                        wait=False)
    try:
        rc = srv.proc.wait(20)
    finally:
        srv.stop()
    return rc, srv.read_log()


def test_truncated_tail_loaded_and_truncated(server_factory, tmp_path):
    path = _prepare_incr(str(tmp_path), GOOD + b'*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1')
    srv = server_factory('pyredis', '--appendonly', 'yes', '--aof-load-truncated', 'yes',
                         cwd=str(tmp_path))
    c = srv.raw()
    assert c.call('MGET', 'a', 'b', 'c') == b'*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n'
    assert os.path.getsize(path) == len(GOOD)
    log = srv.read_log()
    assert 'Truncating the AOF appendonly.aof.1.incr.aof at offset %d' % len(GOOD) in log
    assert 'loaded anyway because aof-load-truncated is enabled' in log
    # The server goes on appending after the cut.
    c.call('SET', 'd', '4')
    srv2 = restart(server_factory, srv)
    assert srv2.raw().call('MGET', 'a', 'd') == b'*2\r\n$1\r\n1\r\n$1\r\n4\r\n'


def test_truncated_tail_refused_when_disabled(tmp_path):
    tail = b'*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1'
    path = _prepare_incr(str(tmp_path), GOOD + tail)
    rc, log = _start_expect_exit(tmp_path, '--aof-load-truncated', 'no')
    assert rc == 1
    assert 'Unexpected end of file reading the append only file appendonly.aof.1.incr.aof' in log
    assert os.path.getsize(path) == len(GOOD) + len(tail)


def test_corrupt_middle_refuses_with_offset(tmp_path):
    bad = GOOD.replace(b'*3\r\n$3\r\nSET\r\n$1\r\nb', b'x3\r\n$3\r\nSET\r\n$1\r\nb')
    _prepare_incr(str(tmp_path), bad)
    rc, log = _start_expect_exit(tmp_path, '--aof-load-truncated', 'yes')
    assert rc == 1
    assert ('Bad file format reading the append only file appendonly.aof.1.incr.aof' in log)
    offset = GOOD.index(b'*3\r\n$3\r\nSET\r\n$1\r\nb')
    assert 'at offset %d' % offset in log


def test_truncated_file_that_is_not_last_is_fatal(tmp_path):
    _prepare_incr(str(tmp_path), GOOD, base=b'*3\r\n$3\r\nSET\r\n$1\r\nz\r\n$1')
    rc, log = _start_expect_exit(tmp_path, '--aof-load-truncated', 'yes')
    assert rc == 1
    assert 'the truncated file is not the last file' in log


def test_incomplete_multi_is_reverted(server_factory, tmp_path):
    tail = b'*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n'
    path = _prepare_incr(str(tmp_path), GOOD + tail)
    srv = server_factory('pyredis', '--appendonly', 'yes', cwd=str(tmp_path))
    assert srv.raw().call('EXISTS', 'a', 'b', 'c') == b':2\r\n'
    assert 'Revert incomplete MULTI/EXEC transaction' in srv.read_log()
    assert os.path.getsize(path) == len(GOOD)


def test_legacy_single_file_is_migrated(server_factory, tmp_path):
    with open(os.path.join(str(tmp_path), 'appendonly.aof'), 'wb') as f:
        f.write(GOOD)
    srv = server_factory('pyredis', '--appendonly', 'yes', cwd=str(tmp_path))
    c = srv.raw()
    assert c.call('MGET', 'a', 'b') == b'*2\r\n$1\r\n1\r\n$1\r\n2\r\n'
    assert not os.path.exists(os.path.join(str(tmp_path), 'appendonly.aof'))
    assert manifest_files(srv) == [('appendonly.aof', 1, 'b'),
                                   ('appendonly.aof.1.incr.aof', 1, 'i')]
    assert 'Successfully migrated an old-style AOF file' in srv.read_log()
    c.call('SET', 'c', '3')
    check_aof(srv)


def test_bad_manifest_is_fatal(tmp_path):
    d = os.path.join(str(tmp_path), 'appendonlydir')
    os.makedirs(d)
    with open(os.path.join(d, 'appendonly.aof.manifest'), 'wb') as f:
        f.write(b'file appendonly.aof.1.incr.aof seq 1\n')
    rc, log = _start_expect_exit(tmp_path)
    assert rc == 1
    assert 'Invalid AOF manifest file format' in log


def test_aof_takes_precedence_over_rdb(server_factory, tmp_path):
    srv = server_factory('pyredis', '--appendonly', 'yes', cwd=str(tmp_path))
    c = srv.raw()
    c.call('SET', 'from', 'aof')
    srv.stop()
    if not REDIS_SERVER:
        pytest.skip('redis-server is not installed')
    rdbsrv = server_factory('redis', '--save', '60 1')
    r = rdbsrv.raw()
    r.call('SET', 'from', 'rdb')
    r.call('SET', 'only', 'rdb')
    r.call('SAVE')
    rdbsrv.stop()
    shutil.copy(os.path.join(rdbsrv.dir, 'dump.rdb'), os.path.join(str(tmp_path), 'dump.rdb'))
    srv2 = server_factory('pyredis', '--appendonly', 'yes', cwd=str(tmp_path))
    assert srv2.raw().call('MGET', 'from', 'only') == b'*2\r\n$3\r\naof\r\n$-1\r\n'


# -- expiry ------------------------------------------------------------------------------

def test_expiry_dels_and_rewrite_keeps_the_untouched_expired(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes', '--aof-use-rdb-preamble', 'no',
                         '--hz', '100')
    c = srv.raw()
    c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
    c.call('SET', 'lazy', 'v', 'PX', '30')
    c.call('SET', 'keep', 'v', 'EX', '1000')
    c.call('SET', 'forever', 'v')
    time.sleep(0.1)
    assert c.call('GET', 'lazy') == b'$-1\r\n'          # lazy expiry
    wait_for(lambda: b'*2\r\n$3\r\nDEL\r\n$4\r\nlazy\r\n' in incr_bytes(srv))
    c.call('SET', 'active', 'v', 'PX', '30')
    c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')
    wait_for(lambda: c.call('DBSIZE') == b':2\r\n')     # active expiry
    wait_for(lambda: b'*2\r\n$3\r\nDEL\r\n$6\r\nactive\r\n' in incr_bytes(srv))
    # An expired key that nobody touched yet is still written by a rewrite,
    # with its PEXPIREAT, as redis-server 7.0 writes it (the RDB too).
    c.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
    c.call('SET', 'stale', 'v', 'PX', '20')
    time.sleep(0.05)
    assert c.call('BGREWRITEAOF') == b'+Background append only file rewriting started\r\n'
    wait_rewrite(c)
    files = manifest_files(srv)
    assert files[0] == ('appendonly.aof.2.base.aof', 2, 'b')
    with open(os.path.join(aof_dir(srv), files[0][0]), 'rb') as f:
        base = f.read()
    assert b'keep' in base and b'forever' in base
    assert b'lazy' not in base and b'active' not in base
    assert b'$5\r\nstale\r\n$13\r\n' in base         # SET stale v, PEXPIREAT stale <when>
    check_aof(srv)
    srv2 = restart(server_factory, srv)
    c2 = srv2.raw()
    assert sorted(_array(c2.call('KEYS', '*'))) == [b'forever', b'keep']
    assert int(c2.call('TTL', 'keep')[1:-2]) > 0


# -- rewrite -------------------------------------------------------------------------------

def test_bgrewriteaof_replies_and_info(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes')
    c = srv.raw()
    c.call('SET', 'a', '1')
    assert info_field(c, 'aof_enabled') == '1'
    for f in ('aof_rewrite_in_progress', 'aof_rewrite_scheduled', 'aof_last_bgrewrite_status',
              'aof_current_size', 'aof_base_size', 'aof_rewrites', 'aof_last_write_status',
              'aof_pending_bio_fsync', 'aof_buffer_length', 'aof_delayed_fsync'):
        assert info_field(c, f) is not None, f
    assert c.call('BGREWRITEAOF') == b'+Background append only file rewriting started\r\n'
    r = c.call('BGREWRITEAOF')
    assert r in (b'-ERR Background append only file rewriting already in progress\r\n',
                 b'+Background append only file rewriting started\r\n')
    wait_rewrite(c)
    assert info_field(c, 'aof_last_bgrewrite_status') == 'ok'
    assert int(info_field(c, 'aof_rewrites')) >= 1
    assert int(info_field(c, 'aof_base_size')) > 0
    files = manifest_files(srv)
    assert [t for _, _, t in files] == ['b', 'i']
    assert sorted(os.listdir(aof_dir(srv))) == sorted(
        [n for n, _, _ in files] + ['appendonly.aof.manifest'])
    check_aof(srv)


def test_bgrewriteaof_compat(compat):
    compat.call('BGREWRITEAOF', 'extra')
    assert compat.call('BGREWRITEAOF') == b'+Background append only file rewriting started\r\n'
    wait_rewrite(compat.a)
    wait_rewrite(compat.b)


def test_rewrite_under_continuous_writes_loses_nothing(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes')
    # A dataset big enough for the child to take a while, so that the
    # rewrites overlap with the writes.
    pre = srv.raw()
    pre.send(b''.join(b'*3\r\n$3\r\nSET\r\n$%d\r\npre:%d\r\n$20\r\n%s\r\n' % (
        len(b'pre:%d' % i), i, b'x' * 20) for i in range(10000)))
    for _ in range(10000):
        pre.read_reply()
    stop = threading.Event()
    acked = []

    def writer():
        conn = RawConn(srv.port)
        i = 0
        while not stop.is_set():
            batch = range(i, i + 20)
            conn.send(b''.join(b'*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$1\r\nv\r\n' % (
                len(b'k%d' % j), j) for j in batch))
            for _ in batch:
                assert conn.read_reply() == b'+OK\r\n'
            conn.call('INCR', 'ops')
            i += 20
            acked.append(i)
        conn.close()

    t = threading.Thread(target=writer)
    t.start()
    c = srv.raw()
    try:
        for _ in range(3):
            time.sleep(0.2)
            r = c.call('BGREWRITEAOF')
            assert r.startswith((b'+Background', b'-ERR Background'))
            wait_rewrite(c)
        time.sleep(0.2)
    finally:
        stop.set()
        t.join()
    total = acked[-1]
    assert c.call('DBSIZE') == b':%d\r\n' % (total + 1 + 10000)
    srv2 = restart(server_factory, srv)
    c2 = srv2.raw()
    assert c2.call('DBSIZE') == b':%d\r\n' % (total + 1 + 10000)
    assert c2.call('GET', 'ops') == b'$%d\r\n%d\r\n' % (len(b'%d' % (total // 20)), total // 20)


def test_config_set_appendonly_yes_creates_base_by_rewrite(server_factory):
    srv = server_factory('pyredis')
    c = srv.raw()
    c.call('SET', 'before', '1')
    c.call('SELECT', '1')
    c.call('SET', 'other', 'db')
    c.call('SELECT', '0')
    assert c.call('CONFIG', 'SET', 'appendonly', 'yes') == b'+OK\r\n'
    c.call('SET', 'after', '2')
    wait_rewrite(c)
    assert info_field(c, 'aof_enabled') == '1'
    c.call('SET', 'later', '3')
    files = manifest_files(srv)
    assert [t for _, _, t in files] == ['b', 'i']
    check_aof(srv)
    before = dataset(c)
    srv2 = restart(server_factory, srv)
    assert dataset(srv2.raw()) == before
    # And off again: the file stops growing.
    c2 = srv2.raw()
    assert c2.call('CONFIG', 'SET', 'appendonly', 'no') == b'+OK\r\n'
    size = len(incr_bytes(srv2))
    c2.call('SET', 'ignored', 'x')
    assert info_field(c2, 'aof_enabled') == '0'
    assert len(incr_bytes(srv2)) == size


def test_auto_rewrite_on_growth(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes', '--auto-aof-rewrite-min-size', '1kb',
                         '--auto-aof-rewrite-percentage', '100', '--hz', '50')
    c = srv.raw()
    for i in range(100):
        c.call('SET', 'key:%d' % i, 'x' * 20)
    wait_for(lambda: int(info_field(c, 'aof_rewrites')) >= 1)
    wait_rewrite(c)
    assert 'Starting automatic rewriting of AOF on' in srv.read_log()
    check_aof(srv)


# -- interop with redis-server -------------------------------------------------------------

def _fill(conn, with_types):
    when = int(time.time() * 1000) + 3600000
    conn.call('SET', 's1', 'hello')
    conn.call('SET', 'n', '100')
    conn.call('INCRBY', 'n', '23')
    conn.call('APPEND', 's1', ' world')
    conn.call('SET', 'ttl1', 'v', 'EX', '5000')
    conn.call('SET', 'ttl2', 'v')
    conn.call('PEXPIREAT', 'ttl2', when)
    conn.call('SET', 'gone', 'v')
    conn.call('DEL', 'gone')
    conn.call('INCRBYFLOAT', 'fl', '3.25')
    conn.call('MULTI')
    conn.call('SET', 'tx1', 'a')
    conn.call('INCR', 'tx2')
    conn.call('EXEC')
    conn.call('SELECT', '1')
    conn.call('MSET', 'a', '1', 'b', '2')
    conn.call('SELECT', '2')
    conn.call('SET', 'bin', b'\x00\xff\r\n binary')
    if 'list' in with_types:
        conn.call('RPUSH', 'list', 'a', 'b', 'c')
        conn.call('LPUSH', 'list', 'z')
    if 'zset' in with_types:
        conn.call('ZADD', 'zs', '1.5', 'a', '-2', 'b', 'inf', 'c')
    if 'hash' in with_types:
        conn.call('HSET', 'h', 'f1', 'v1', 'f2', 'v2')
    if 'set' in with_types:
        conn.call('SADD', 'st', 'x', 'y', '1')
    conn.call('SELECT', '0')


def _types(conn):
    out = set()
    for t, cmd in (('list', 'rpush'), ('zset', 'zadd'), ('hash', 'hset'), ('set', 'sadd')):
        if pyredis_has(conn, cmd):
            out.add(t)
    return out


@needs_redis
@pytest.mark.parametrize('preamble', ['no', 'yes'])
def test_redis_aof_loaded_by_pyredis(server_factory, preamble):
    probe = server_factory('pyredis')
    types = _types(probe.raw())
    probe.stop()
    real = server_factory('redis', '--appendonly', 'yes', '--aof-use-rdb-preamble', preamble)
    r = real.raw()
    _fill(r, types)
    # A rewrite in the middle, then more commands in the new incr file.
    assert r.call('BGREWRITEAOF').startswith(b'+Background')
    wait_rewrite(r)
    r.call('SELECT', '1')
    r.call('SET', 'after', 'rewrite')
    r.call('DEL', 'a')
    r.call('SELECT', '0')
    expected = dataset(r)
    real.stop()
    ours = server_factory('pyredis', '--appendonly', 'yes', cwd=real.dir)
    c = ours.raw()
    assert dataset(c) == expected
    assert abs(int(c.call('TTL', 'ttl1')[1:-2]) - 5000) < 100


@needs_redis
@pytest.mark.parametrize('rewrite,preamble', [(False, 'yes'), (True, 'yes'), (True, 'no')])
def test_pyredis_aof_loaded_by_redis(server_factory, rewrite, preamble):
    ours = server_factory('pyredis', '--appendonly', 'yes', '--aof-use-rdb-preamble', preamble)
    c = ours.raw()
    types = _types(c)
    _fill(c, types)
    if rewrite:
        assert c.call('BGREWRITEAOF').startswith(b'+Background')
        wait_rewrite(c)
        c.call('SET', 'after', 'rewrite')
    expected = dataset(c)
    pttl = int(c.call('PTTL', 'ttl2')[1:-2])
    ours.stop()
    check_aof(ours)
    real = server_factory('redis', '--appendonly', 'yes', cwd=ours.dir)
    r = real.raw()
    assert dataset(r) == expected
    assert abs(int(r.call('PTTL', 'ttl2')[1:-2]) - pttl) < 5000
    assert abs(int(r.call('TTL', 'ttl1')[1:-2]) - 5000) < 100


def test_config_set_appendfsync_and_debug_loadaof(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'no')
    c = srv.raw()
    assert c.call('CONFIG', 'SET', 'appendfsync', 'always') == b'+OK\r\n'
    c.call('SET', 'a', '1')
    c.call('RPUSH' if pyredis_has(c, 'rpush') else 'SET', 'b', '2')
    before = dataset(c)
    assert c.call('DEBUG', 'LOADAOF') == b'+OK\r\n'
    assert dataset(c) == before
    srv.kill()
    srv2 = server_factory('pyredis', '--appendonly', 'yes', cwd=srv.dir)
    assert dataset(srv2.raw()) == before


def test_bgrewriteaof_scheduled_while_bgsave_runs(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes')
    c = srv.raw()
    if not c.call('CONFIG', 'SET', 'rdb-key-save-delay', '200000').startswith(b'+OK'):
        pytest.skip('rdb-key-save-delay is not supported')
    for i in range(3):
        c.call('SET', 'k%d' % i, 'v')
    assert c.call('BGSAVE') == b'+Background saving started\r\n'
    assert c.call('BGREWRITEAOF') == b'+Background append only file rewriting scheduled\r\n'
    assert info_field(c, 'aof_rewrite_scheduled') == '1'
    c.call('CONFIG', 'SET', 'rdb-key-save-delay', '0')
    wait_for(lambda: info_field(c, 'aof_rewrites') == '1')
    wait_rewrite(c)
    assert info_field(c, 'aof_last_bgrewrite_status') == 'ok'
    assert c.call('BGSAVE').startswith(b'+Background saving started')


def test_write_error_denies_writes_until_solved(tmp_path, monkeypatch):
    """In-process: a failing write(2) keeps the data, answers -MISCONF to
    writes, and both clear once a write succeeds again."""
    monkeypatch.chdir(tmp_path)
    from pyredis import config as config_mod
    from pyredis.assembly import create_server
    server = create_server(config_mod.load(None, [['appendonly', 'yes'], ['save', '']]))
    a = server.aof
    good = os.open('incr.aof', os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    a.fd = os.open(os.devnull, os.O_RDONLY)         # write(2) fails with EBADF
    a.feed([(0, [b'SET', b'k', b'v'])])
    a.flush()
    assert not a.last_write_ok
    assert server.write_denied_reason.startswith(b'-MISCONF Errors writing to the AOF file: ')
    os.close(a.fd)
    a.fd = good
    a.flush()
    assert a.last_write_ok and server.write_denied_reason is None
    with open('incr.aof', 'rb') as f:
        assert f.read() == (b'*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n'
                            b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n')
    os.close(good)


@needs_redis
def test_custom_names_match_redis(server_factory):
    args = ('--appendonly', 'yes', '--appendfilename', 'data.aof', '--appenddirname', 'aofs',
            '--aof-use-rdb-preamble', 'no')
    listings = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, *args)
        c = srv.raw()
        c.call('SET', 'a', '1')
        c.call('BGREWRITEAOF')
        wait_rewrite(c)
        c.call('SET', 'b', '2')
        d = os.path.join(srv.dir, 'aofs')
        with open(os.path.join(d, 'data.aof.manifest'), 'rb') as f:
            listings.append((sorted(os.listdir(d)), f.read()))
        srv.stop()
    assert listings[0] == listings[1]
    assert listings[0][1] == (b'file data.aof.2.base.aof seq 2 type b\n'
                              b'file data.aof.2.incr.aof seq 2 type i\n')


@needs_redis
def test_legacy_file_with_rdb_preamble(server_factory, tmp_path):
    """A pre-7.0 appendonly.aof: an RDB preamble followed by commands."""
    real = server_factory('redis', '--appendonly', 'yes', '--aof-use-rdb-preamble', 'yes')
    r = real.raw()
    r.call('SET', 'from', 'preamble')
    r.call('SET', 'ttl', 'v', 'EX', '1000')
    r.call('BGREWRITEAOF')
    wait_rewrite(r)
    real.stop()
    base = [n for n, _, t in manifest_files(real) if t == 'b'][0]
    assert base.endswith('.rdb')
    with open(os.path.join(aof_dir(real), base), 'rb') as f:
        preamble = f.read()
    with open(os.path.join(str(tmp_path), 'appendonly.aof'), 'wb') as f:
        f.write(preamble + b'*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n'
                b'*3\r\n$3\r\nSET\r\n$4\r\ntail\r\n$3\r\naof\r\n')
    srv = server_factory('pyredis', '--appendonly', 'yes', cwd=str(tmp_path))
    c = srv.raw()
    assert c.call('MGET', 'from', 'tail') == b'*2\r\n$8\r\npreamble\r\n$3\r\naof\r\n'
    assert int(c.call('TTL', 'ttl')[1:-2]) > 900
    log = srv.read_log()
    assert 'Reading RDB preamble from AOF file...' in log
    assert 'Reading the remaining AOF tail...' in log


def test_replica_aof_restarts_from_the_synced_dataset(server_factory):
    """A replica with appendonly yes rewrites its AOF after a full sync, so
    a restart without the master has the master's data (restartAOFAfterSYNC)."""
    master = server_factory('pyredis')
    m = master.raw()
    for i in range(50):
        m.call('SET', 'k%d' % i, 'v%d' % i)
    replica = server_factory('pyredis', '--appendonly', 'yes', '--replicaof', '127.0.0.1',
                             str(master.port))
    r = replica.raw()
    wait_for(lambda: r.call('DBSIZE') == b':50\r\n')
    m.call('SET', 'after', 'sync')
    wait_for(lambda: r.call('GET', 'after') == b'$4\r\nsync\r\n')
    wait_rewrite(r)
    replica.kill()
    master.stop()
    again = server_factory('pyredis', '--appendonly', 'yes', cwd=replica.dir)
    c = again.raw()
    assert c.call('DBSIZE') == b':51\r\n'
    assert c.call('GET', 'k7') == b'$2\r\nv7\r\n'
    assert c.call('GET', 'after') == b'$4\r\nsync\r\n'


def test_pack_commands_matches_the_general_encoder():
    """The C encoder of propagated commands gives the bytes of the general
    one, and refuses (TypeError) what it does not handle itself."""
    speedups = pytest.importorskip('pyredis._speedups')
    from pyredis import aof, replication
    cmds = [[b'SET', b'k', b'v'], (b'LPUSH', b'x' * 1000, b''), [b'EXEC'],
            [b'A' * 12345], [b'\r\n*1\r\n', b'\x00']]
    expected = b''.join(b'*%d\r\n' % len(c) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in c)
                        for c in cmds)
    assert speedups.pack_commands(cmds) == expected
    assert speedups.pack_commands([]) == b''
    for bad in ([[1]], [[bytearray(b'x')]], [b'SET'], 5):
        with pytest.raises(TypeError):
            speedups.pack_commands(bad)
    # The callers fall back to the general encoder for other arguments.
    assert aof.encode_command([b'SET', bytearray(b'k'), memoryview(b'v')]) == \
        b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n'
    assert replication.encode_command([b'SET', bytearray(b'k'), b'v']) == \
        b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n'
