"""RDB persistence behaviour of a running pyredis: SAVE/BGSAVE and restart,
save points, SHUTDOWN SAVE/NOSAVE and SIGTERM, the -MISCONF gate after a
failed BGSAVE (compared with redis-server), -LOADING during start-up, a
corrupt dump, keys that expire while the server is down (master vs replica),
kill -9 during BGSAVE, and child reaping when pyredis runs as PID 1.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import redis

from helpers import ServerProcess, REDIS_SERVER, RawConn, free_port, ROOT
from pyredis import rdb

CHECK_RDB = shutil.which('redis-check-rdb')


def wait_for(pred, timeout=15, interval=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError('condition not reached in %ss' % timeout)


def dump_file(srv):
    return os.path.join(srv.dir, 'dump.rdb')


def persistence(c):
    return c.info('persistence')


def test_save_and_restart(server_factory):
    srv = server_factory('pyredis')
    c = srv.client()
    c.set('a', '1')
    c.set('t', 'x', ex=1000)
    c.execute_command('SELECT', 5)
    c.set('b', '2')
    info = persistence(c)
    assert info['rdb_changes_since_last_save'] == 3
    before = c.lastsave()
    assert c.save()
    info = persistence(c)
    assert info['rdb_changes_since_last_save'] == 0
    assert info['rdb_last_bgsave_status'] == 'ok'
    assert c.lastsave() >= before
    c.close()
    srv.stop()
    srv2 = server_factory('pyredis', cwd=srv.dir)
    c = srv2.client()
    assert c.get('a') == b'1'
    assert 990 <= c.ttl('t') <= 1000
    c.execute_command('SELECT', 5)
    assert c.get('b') == b'2'
    assert 'DB loaded from disk: ' in srv2.read_log()
    assert persistence(c)['rdb_last_load_keys_loaded'] == 3


def test_bgsave_and_in_progress_errors(server_factory):
    srv = server_factory('pyredis')
    c = srv.client()
    for i in range(50):
        c.set('k%d' % i, i)
    assert c.bgsave() in (True, b'Background saving started')
    wait_for(lambda: persistence(c)['rdb_bgsave_in_progress'] == 0)
    info = persistence(c)
    assert info['rdb_last_bgsave_status'] == 'ok'
    assert info['rdb_changes_since_last_save'] == 0
    assert rdb.load_bytes(_FakeServer(), open(dump_file(srv), 'rb').read()).keys_loaded == 50
    # A slow BGSAVE (rdb-key-save-delay, microseconds per key) to see it running.
    c.config_set('rdb-key-save-delay', 40000)
    raw = RawConn(srv.port)
    assert raw.call('BGSAVE') == b'+Background saving started\r\n'
    assert persistence(c)['rdb_bgsave_in_progress'] == 1
    assert raw.call('BGSAVE') == b'-ERR Background save already in progress\r\n'
    assert raw.call('BGSAVE', 'SCHEDULE') == b'-ERR Background save already in progress\r\n'
    assert raw.call('SAVE') == b'-ERR Background save already in progress\r\n'
    c.config_set('rdb-key-save-delay', 0)
    wait_for(lambda: persistence(c)['rdb_bgsave_in_progress'] == 0)
    assert persistence(c)['rdb_last_bgsave_status'] == 'ok'
    assert not [f for f in os.listdir(srv.dir) if f.startswith('temp-')]
    raw.close()


class _FakeDB:
    def __init__(self, i):
        self.id, self.data, self.expires, self.lru, self.scan_index = i, {}, {}, {}, None


class _FakeServer:
    config = None

    def __init__(self, n=16):
        self.dbs = [_FakeDB(i) for i in range(n)]
        self.lruclock = 0


def test_save_point_triggers_bgsave(server_factory):
    srv = server_factory('pyredis', '--save', '1', '2')
    c = srv.client()
    c.set('a', 1)
    c.set('b', 2)
    wait_for(lambda: os.path.exists(dump_file(srv)) and
             persistence(c)['rdb_changes_since_last_save'] == 0)
    assert '2 changes in 1 seconds. Saving...' in srv.read_log()
    assert 'Background saving terminated with success' in srv.read_log()


def test_shutdown_save_nosave(server_factory):
    srv = server_factory('pyredis')
    c = srv.client()
    c.set('a', 1)
    _shutdown(c, nosave=True)
    srv.proc.wait(10)
    assert not os.path.exists(dump_file(srv))
    srv2 = server_factory('pyredis', cwd=srv.dir)
    c = srv2.client()
    c.set('a', 2)
    _shutdown(c, save=True)
    srv2.proc.wait(10)
    assert srv2.proc.returncode == 0
    srv3 = server_factory('pyredis', cwd=srv.dir)
    assert srv3.client().get('a') == b'2'


def _shutdown(c, nosave=False, save=False):
    """SHUTDOWN over a raw socket (redis-py retries the lost connection)."""
    port = c.connection_pool.connection_kwargs['port']
    c.close()
    conn = RawConn(port)
    conn.send_command('SHUTDOWN', *(['NOSAVE'] if nosave else ['SAVE'] if save else []))
    assert conn.closed(10)
    conn.close()


def test_sigterm_saves_when_save_points_exist(server_factory):
    srv = server_factory('pyredis', '--save', '3600', '1')
    srv.client().set('k', 'v')
    srv.stop(signal.SIGTERM)
    assert srv.proc.returncode == 0
    assert 'Saving the final RDB snapshot before exiting.' in srv.read_log()
    srv2 = server_factory('pyredis', cwd=srv.dir)
    assert srv2.client().get('k') == b'v'
    # Without save points, SIGINT exits without writing a dump.
    srv3 = server_factory('pyredis')
    srv3.client().set('k', 'v')
    srv3.stop(signal.SIGINT)
    assert not os.path.exists(dump_file(srv3))


def test_flushall_with_save_points_saves_empty_dump(server_factory):
    srv = server_factory('pyredis', '--save', '3600', '1000')
    c = srv.client()
    c.set('a', 1)
    assert c.save()
    c.flushall()
    assert rdb.load_bytes(_FakeServer(), open(dump_file(srv), 'rb').read()).keys_loaded == 0
    assert persistence(c)['rdb_changes_since_last_save'] > 0


@pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')
def test_misconf_after_failed_bgsave_matches_redis(server_factory):
    replies = {}
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, '--save', '3600', '1', '--enable-protected-configs', 'yes')
        c = srv.client()
        raw = RawConn(srv.port)
        gone = tempfile.mkdtemp(prefix='pyredis-gone-')
        c.config_set('dir', gone)
        shutil.rmtree(gone)           # the child cannot create its temp file
        out = [raw.call('BGSAVE')]
        wait_for(lambda: persistence(c)['rdb_bgsave_in_progress'] == 0 and
                 persistence(c)['rdb_last_bgsave_status'] == 'err')
        out += [raw.call('SET', 'a', 'b'), raw.call('PING'), raw.call('GET', 'a'),
                raw.call('DEL', 'a'), raw.call('SAVE'),
                # Save points exist and the final save fails: no shutdown.
                raw.call('SHUTDOWN'), raw.call('PING')]
        # A successful save lifts the gate.
        c.config_set('dir', srv.dir)
        out.append(raw.call('BGSAVE'))
        wait_for(lambda: persistence(c)['rdb_bgsave_in_progress'] == 0)
        out += [raw.call('SET', 'a', 'b'), raw.call('PING')]
        replies[kind] = out
        raw.close()
    assert replies['pyredis'] == replies['redis']
    assert replies['pyredis'][1].startswith(b'-MISCONF ')
    assert replies['pyredis'][6] == b'-ERR Errors trying to SHUTDOWN. Check logs.\r\n'


def test_corrupt_dump_refuses_to_start(tmp_path):
    srv_data = rdb.save_to_bytes(_with_keys(100))
    corrupt = srv_data[:len(srv_data) // 2] + b'\x99' * 40 + srv_data[len(srv_data) // 2 + 40:]
    (tmp_path / 'dump.rdb').write_bytes(corrupt)
    srv = ServerProcess('pyredis', cwd=str(tmp_path), wait=False)
    try:
        assert srv.proc.wait(20) == 1
    finally:
        srv.stop()
    log = srv.read_log()
    assert 'Internal error in RDB reading offset ' in log
    assert 'Terminating server after rdb file reading failure' in log


def _with_keys(n, ttl_ms=None, expired=False):
    srv = _FakeServer()
    now = int(time.time() * 1000)
    for i in range(n):
        srv.dbs[0].data[b'key:%d' % i] = b'value:%d' % i
    if ttl_ms is not None:
        srv.dbs[0].expires[b'key:0'] = now + ttl_ms
    return srv


def test_loading_replies_while_loading(tmp_path):
    (tmp_path / 'dump.rdb').write_bytes(rdb.save_to_bytes(_with_keys(300)))
    srv = ServerProcess('pyredis', ['--key-load-delay', '5000'], cwd=str(tmp_path), wait=False)
    try:
        seen = wait_for(lambda: _ping(srv.port) == b'-LOADING Redis is loading the dataset '
                        b'in memory\r\n')
        assert seen
        conn = RawConn(srv.port)
        info = conn.call('INFO', 'persistence')
        assert b'loading:1' in info
        assert b'loading_total_bytes:' in info
        conn.close()
        wait_for(lambda: _ping(srv.port) == b'+PONG\r\n', timeout=30)
        assert srv.client().dbsize() == 300
    finally:
        srv.stop()


def _ping(port):
    try:
        conn = RawConn(port, timeout=2)
    except OSError:
        return None
    try:
        return conn.call('PING')
    except OSError:
        return None
    finally:
        conn.close()


def _expired_while_down_dump(tmp_path):
    """A dump whose key:0 expires one second after it was written; wait
    until it has (as if the server had been down meanwhile)."""
    (tmp_path / 'dump.rdb').write_bytes(rdb.save_to_bytes(_with_keys(10, ttl_ms=1000)))
    time.sleep(1.1)


def test_key_expired_while_down_is_skipped_by_master(tmp_path):
    _expired_while_down_dump(tmp_path)
    srv = ServerProcess('pyredis', cwd=str(tmp_path))
    try:
        c = srv.client()
        assert c.dbsize() == 9
        assert c.exists('key:0') == 0
        assert persistence(c)['rdb_last_load_keys_expired'] == 1
    finally:
        srv.stop()


def test_key_expired_while_down_is_kept_by_replica(tmp_path):
    _expired_while_down_dump(tmp_path)
    closed = free_port()
    srv = ServerProcess('pyredis', ['--replicaof', '127.0.0.1', str(closed)],
                        cwd=str(tmp_path))
    try:
        c = srv.client()
        # Kept (until the master's DEL), though reads treat it as missing.
        assert c.dbsize() == 10
        assert c.exists('key:0') == 0
        assert persistence(c)['rdb_last_load_keys_expired'] == 0
    finally:
        srv.stop()


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_a_key_expired_but_not_yet_deleted_is_saved(kind, tmp_path):
    """Redis 7.0 writes every key it holds, a logically expired one too
    (with its past expiry): the master that loads the file drops it and
    counts it, and feeds its DEL to the replicas that continue from it."""
    if kind == 'redis' and not REDIS_SERVER:
        pytest.skip('redis-server is not installed')
    srv = ServerProcess(kind, ['--enable-debug-command', 'yes'], cwd=str(tmp_path))
    try:
        c = srv.client()
        c.execute_command('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
        c.set('gone', 1, px=50)
        c.set('kept', 1)
        time.sleep(0.1)
        c.save()
    finally:
        srv.stop()
    assert b'gone' in (tmp_path / 'dump.rdb').read_bytes()
    srv = ServerProcess(kind, cwd=str(tmp_path))
    try:
        c = srv.client()
        assert c.keys() == [b'kept']
        assert persistence(c)['rdb_last_load_keys_expired'] == 1
    finally:
        srv.stop()


def _children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def test_kill_9_during_bgsave_leaves_previous_dump(server_factory):
    srv = server_factory('pyredis')
    c = srv.client()
    for i in range(100):
        c.set('old:%d' % i, i)
    assert c.save()
    before = open(dump_file(srv), 'rb').read()
    for i in range(100):
        c.set('new:%d' % i, i)
    c.config_set('rdb-key-save-delay', 20000)
    c.bgsave()
    # Wait until the child has started writing its temp file.
    child = wait_for(lambda: _children(srv.proc.pid))[0]
    wait_for(lambda: os.path.exists(os.path.join(srv.dir, 'temp-%d.rdb' % child)))
    os.kill(srv.proc.pid, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    srv.proc.wait(10)
    assert open(dump_file(srv), 'rb').read() == before
    if CHECK_RDB:
        out = subprocess.run([CHECK_RDB, dump_file(srv)], capture_output=True, text=True)
        assert 'RDB looks OK' in out.stdout
    srv2 = server_factory('pyredis', cwd=srv.dir)
    c = srv2.client()
    assert c.dbsize() == 100
    assert c.get('old:99') == b'99'


def test_killed_child_is_reported_and_dump_kept(server_factory):
    srv = server_factory('pyredis')
    c = srv.client()
    c.set('a', 1)
    assert c.save()
    before = open(dump_file(srv), 'rb').read()
    c.set('b', 2)
    c.config_set('rdb-key-save-delay', 500000)
    c.bgsave()
    child = wait_for(lambda: _children(srv.proc.pid))[0]
    os.kill(child, signal.SIGKILL)
    wait_for(lambda: persistence(c)['rdb_bgsave_in_progress'] == 0)
    assert persistence(c)['rdb_last_bgsave_status'] == 'err'
    assert 'Background saving terminated by signal 9' in srv.read_log()
    assert open(dump_file(srv), 'rb').read() == before
    assert not [f for f in os.listdir(srv.dir) if f.startswith('temp-')]
    # No zombie left behind.
    assert not _children(srv.proc.pid)


@pytest.mark.skipif(not shutil.which('unshare'), reason='needs unshare(1)')
def test_pid1_reaps_children_it_did_not_start(tmp_path):
    """As PID 1 (a container's init) pyredis inherits orphans: an exited one
    must not stay a zombie. The shell leaves a short-lived child behind and
    execs pyredis, which thereby becomes that child's parent."""
    port = free_port()
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    script = ('sleep 0.2 & exec %s -m pyredis --port %d --bind 127.0.0.1 --save "" --dir %s'
              % (sys.executable, port, tmp_path))
    try:
        proc = subprocess.Popen(['unshare', '--pid', '--fork', '--mount-proc', 'sh', '-c',
                                 script], stdout=open(str(tmp_path / 'log'), 'wb'), stderr=subprocess.STDOUT,
                                env=env)
    except OSError:
        pytest.skip('unshare not usable here')
    try:
        try:
            wait_for(lambda: _ping(port) == b'+PONG\r\n', timeout=15)
        except AssertionError:
            pytest.skip('cannot run a PID namespace here: %s' % (tmp_path / 'log').read_text())
        server_pid = _children(proc.pid)[0]
        c = redis.Redis(port=port)
        c.set('k', 'v')
        c.bgsave()

        def no_zombies():
            kids = _children(server_pid)
            return not kids and persistence(c)['rdb_bgsave_in_progress'] == 0
        wait_for(no_zombies, timeout=10)
        assert persistence(c)['rdb_last_bgsave_status'] == 'ok'
        c.close()
    finally:
        # unshare does not forward signals: stop the server itself.
        for pid in _children(proc.pid):
            os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')
def test_info_persistence_fields_match_redis(pyredis, real_redis):
    ours = list(pyredis.client().info('persistence'))
    theirs = list(real_redis.client().info('persistence'))
    assert ours == theirs


def test_shutdown_while_loading_does_not_overwrite_dump(tmp_path):
    original = rdb.save_to_bytes(_with_keys(300))
    (tmp_path / 'dump.rdb').write_bytes(original)
    srv = ServerProcess('pyredis', ['--key-load-delay', '5000', '--save', '3600', '1'],
                        cwd=str(tmp_path), wait=False)
    try:
        wait_for(lambda: _ping(srv.port) == b'-LOADING Redis is loading the dataset '
                 b'in memory\r\n')
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(20)
    finally:
        srv.stop()
    assert (tmp_path / 'dump.rdb').read_bytes() == original
