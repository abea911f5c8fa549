"""MULTI / EXEC / DISCARD / WATCH / UNWATCH.

Compatibility tests send the same sequences to pyredis and to a real
redis-server and compare the raw replies; scenarios that need two
connections (a writer invalidating a watcher) run the same script on both
servers. The race test runs optimistic-locking increments from two threads
and checks that none is lost. Propagation is checked in-process: an EXEC
must reach the AOF/replicas as one MULTI ... EXEC unit.
"""

import threading
import time

import pytest

from helpers import RawConn


def _compare(pyredis, real_redis, script, conns=2, setup=()):
    """Run ``script`` (a list of (connection index, command args)) on both
    servers, each on its own fresh connections, and compare every reply."""
    results = []
    for srv in (pyredis, real_redis):
        cs = [RawConn(srv.port) for _ in range(conns)]
        out = []
        try:
            for args in setup:
                cs[0].call(*args)
            for i, args in script:
                out.append((i, args, cs[i].call(*args)))
        finally:
            for c in cs:
                c.close()
        results.append(out)
    for (i, args, ours), (_, _, theirs) in zip(*results):
        assert ours == theirs, 'conn %d %r:\n pyredis: %r\n redis:   %r' % (i, args, ours, theirs)
    return [r for _, _, r in results[0]]


def test_basic_exec(compat):
    compat.call('MULTI')
    compat.call('SET', 'a', '1')
    compat.call('INCR', 'a')
    compat.call('GET', 'a')
    assert compat.call('EXEC') == b'*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n'
    compat.call('GET', 'a')


def test_empty_exec_and_discard(compat):
    compat.call('MULTI')
    assert compat.call('EXEC') == b'*0\r\n'
    compat.call('MULTI')
    compat.call('SET', 'a', '1')
    assert compat.call('DISCARD') == b'+OK\r\n'
    compat.call('EXISTS', 'a')


def test_errors_outside_multi(compat):
    compat.call('EXEC')
    compat.call('DISCARD')
    compat.call('EXEC', 'extra')
    compat.call('DISCARD', 'extra')
    compat.call('MULTI', 'extra')
    compat.call('WATCH')
    compat.call('UNWATCH', 'x')
    compat.call('UNWATCH')


def test_nested_multi_and_watch_inside_multi(compat):
    compat.call('MULTI')
    compat.call('MULTI')
    compat.call('WATCH', 'x')
    compat.call('SET', 'a', 'b')
    # Neither error poisons the transaction.
    compat.call('EXEC')


def test_queue_time_errors_abort(compat):
    compat.call('MULTI')
    compat.call('SET', 'a', '1')
    compat.call('NOSUCHCOMMAND', 'x')
    compat.call('INCR', 'a')
    assert compat.call('EXEC').startswith(b'-EXECABORT')
    compat.call('GET', 'a')
    compat.call('MULTI')
    compat.call('SET', 'a')
    assert compat.call('EXEC').startswith(b'-EXECABORT')
    compat.call('MULTI')
    compat.call('CONFIG', 'NOSUCHSUB')
    compat.call('EXEC')
    # The client is out of MULTI after the abort.
    compat.call('EXEC')


def test_runtime_errors_do_not_roll_back(compat):
    compat.call('SET', 'str', 'abc')
    compat.call('MULTI')
    compat.call('SET', 'a', '1')
    compat.call('INCR', 'str')
    compat.call('EXPIRE', 'a', 'notanumber')
    compat.call('INCR', 'a')
    compat.call('EXEC')
    compat.call('GET', 'a')


def test_exec_in_resp3(compat):
    for conn in (compat.a, compat.b):
        conn.call('HELLO', '3')     # the reply holds the client id
    compat.call('MULTI')
    compat.call('SET', 'a', '1')
    compat.call('GET', 'nokey')
    compat.call('EXEC')
    compat.call('WATCH', 'a')
    compat.call('SET', 'a', '2')
    compat.call('MULTI')
    compat.call('GET', 'a')
    assert compat.call('EXEC') == b'_\r\n'


def test_watch_by_own_writes_and_unwatch(compat):
    compat.call('WATCH', 'a', 'b', 'a')
    compat.call('SET', 'b', 'x')
    compat.call('MULTI')
    compat.call('GET', 'b')
    assert compat.call('EXEC') == b'*-1\r\n'
    # EXEC unwatched everything: the same transaction now goes through.
    compat.call('MULTI')
    compat.call('GET', 'b')
    compat.call('EXEC')
    compat.call('WATCH', 'a')
    compat.call('SET', 'a', '1')
    compat.call('UNWATCH')
    compat.call('MULTI')
    compat.call('GET', 'a')
    compat.call('EXEC')
    # DISCARD unwatches too.
    compat.call('WATCH', 'a')
    compat.call('MULTI')
    compat.call('DISCARD')
    compat.call('SET', 'a', '2')
    compat.call('MULTI')
    compat.call('GET', 'a')
    compat.call('EXEC')


def test_unwatch_queued_inside_multi(compat):
    compat.call('WATCH', 'a')
    compat.call('SET', 'a', '1')
    compat.call('MULTI')
    compat.call('UNWATCH')
    compat.call('EXEC')


def test_reads_do_not_invalidate(pyredis, real_redis):
    script = [(0, ('WATCH', 'k')), (1, ('GET', 'k')), (1, ('EXISTS', 'k')),
              (1, ('SET', 'other', '1')), (0, ('MULTI',)), (0, ('GET', 'k')), (0, ('EXEC',))]
    r = _compare(pyredis, real_redis, script, setup=[('SET', 'k', 'v')])
    assert r[-1] == b'*1\r\n$1\r\nv\r\n'


WRITES = [
    ('SET', 'k', 'new'),
    ('SET', 'k', 'v'),                    # same value: still a write
    ('DEL', 'k'),
    ('UNLINK', 'k'),
    ('APPEND', 'k', 'x'),
    ('SETRANGE', 'k', '0', 'z'),
    ('EXPIRE', 'k', '100'),
    ('PEXPIREAT', 'k', '1'),              # in the past: deletes
    ('PERSIST', 'k'),
    ('RENAME', 'k', 'k2'),
    ('RENAME', 'src', 'k'),
    ('MOVE', 'k', '1'),
    ('COPY', 'src', 'k', 'REPLACE'),
    ('GETDEL', 'k'),
    ('GETEX', 'k', 'EX', '100'),
    ('GETSET', 'k', 'x'),
    ('MSET', 'k', 'x', 'other', 'y'),
    ('FLUSHDB',),
    ('FLUSHALL',),
    ('SWAPDB', '0', '1'),
]


@pytest.mark.parametrize('write', WRITES, ids=lambda w: ' '.join(w))
def test_watch_invalidated_by_write(pyredis, real_redis, write):
    setup = [('SET', 'k', 'v'), ('SET', 'src', 's'), ('EXPIRE', 'k', '1000')]
    script = [(0, ('WATCH', 'k')), (1, write), (0, ('MULTI',)), (0, ('SET', 'k', 'mine')),
              (0, ('EXEC',)), (0, ('GET', 'k'))]
    r = _compare(pyredis, real_redis, script, setup=setup)
    assert r[4] == b'*-1\r\n'


NON_WRITES = [
    ('SET', 'k', 'x', 'NX'),              # condition fails: no write
    ('DEL', 'nokey'),
    ('EXPIRE', 'nokey', '10'),
    ('PERSIST', 'k'),                      # k has no TTL
    ('SETNX', 'k', 'x'),
    ('SWAPDB', '0', '0'),
    ('RENAME', 'k', 'k'),
]


@pytest.mark.parametrize('op', NON_WRITES, ids=lambda w: ' '.join(w))
def test_watch_survives_non_writes(pyredis, real_redis, op):
    script = [(0, ('WATCH', 'k')), (1, op), (0, ('MULTI',)), (0, ('GET', 'k')), (0, ('EXEC',))]
    _compare(pyredis, real_redis, script, setup=[('SET', 'k', 'v')])


def test_watch_missing_key_then_flush_and_swap(pyredis, real_redis):
    # Keys that exist in neither database are not touched by FLUSHDB/SWAPDB.
    for op in (('FLUSHDB',), ('SWAPDB', '0', '1'), ('FLUSHALL',)):
        script = [(0, ('WATCH', 'missing')), (1, op), (0, ('MULTI',)), (0, ('PING',)),
                  (0, ('EXEC',))]
        r = _compare(pyredis, real_redis, script, setup=[('SET', 'k', 'v')])
        assert r[-1] == b'*1\r\n+PONG\r\n'


def test_watch_in_other_db_and_swapdb(pyredis, real_redis):
    script = [(0, ('SELECT', '1')), (0, ('WATCH', 'k')), (1, ('SET', 'k', 'db0')),
              (0, ('MULTI',)), (0, ('PING',)), (0, ('EXEC',)),
              (0, ('WATCH', 'k')), (1, ('SWAPDB', '0', '1')), (0, ('MULTI',)), (0, ('PING',)),
              (0, ('EXEC',))]
    r = _compare(pyredis, real_redis, script)
    assert r[5] == b'*1\r\n+PONG\r\n'
    assert r[-1] == b'*-1\r\n'


def _wait_gone(conn, key):
    # Poll with EXISTS on the real key space (no timing assertion).
    deadline = time.time() + 10
    while time.time() < deadline:
        if conn.call('EXISTS', key) == b':0\r\n':
            return
        time.sleep(0.02)
    raise AssertionError('key did not expire')


def _expiry_scenario(srv, touch, active):
    a, b = RawConn(srv.port), RawConn(srv.port)
    try:
        b.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1' if active else '0')
        b.call('SET', 'k', 'v', 'PX', '300')
        a.call('WATCH', 'k')
        time.sleep(0.35)
        while b.call('PTTL', 'k') not in (b':-2\r\n',) and touch:
            time.sleep(0.02)
        if not touch:
            # Wait on the clock alone: the key is expired but not deleted
            # (active expiry off) or deleted by the cron (active expiry on).
            deadline = time.time() + 10
            while active and time.time() < deadline:
                if b.call('DBSIZE') == b':0\r\n':
                    break
                time.sleep(0.02)
        a.call('MULTI')
        a.call('PING')
        return a.call('EXEC')
    finally:
        b.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')
        a.close()
        b.close()


@pytest.mark.parametrize('touch,active', [(True, False), (False, False), (False, True)],
                         ids=['lazy-expiry', 'expired-not-deleted', 'active-expiry'])
def test_watched_key_that_expires_fails_exec(pyredis, real_redis, touch, active):
    ours = _expiry_scenario(pyredis, touch, active)
    theirs = _expiry_scenario(real_redis, touch, active)
    assert ours == theirs == b'*-1\r\n'


def _already_expired_scenario(srv, op):
    a, b = RawConn(srv.port), RawConn(srv.port)
    try:
        b.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
        b.call('SET', 'k', 'v', 'PX', '50')
        time.sleep(0.1)
        a.call('WATCH', 'k')       # watched while already logically expired
        b.call(*op)
        a.call('MULTI')
        a.call('PING')
        return a.call('EXEC')
    finally:
        b.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')
        a.close()
        b.close()


@pytest.mark.parametrize('op', [('GET', 'k'), ('FLUSHDB',), ('SWAPDB', '0', '1'),
                                ('SET', 'k', 'again')], ids=lambda o: ' '.join(o))
def test_watch_on_already_expired_key(pyredis, real_redis, op):
    ours = _already_expired_scenario(pyredis, op)
    theirs = _already_expired_scenario(real_redis, op)
    assert ours == theirs


def test_multi_state_in_client_list_and_reset(pyredis):
    c = RawConn(pyredis.port)
    c.call('WATCH', 'k')
    c.call('MULTI')
    c.call('SET', 'k', '1')
    c.call('SET', 'k', '2')
    c.send(b'*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n')
    # CLIENT INFO is queued too; RESET leaves the transaction.
    assert c.read_reply() == b'+QUEUED\r\n'
    assert c.call('RESET') == b'+RESET\r\n'
    info = c.call('CLIENT', 'INFO')
    assert b' multi=-1 ' in info and b'flags=N ' in info
    other = RawConn(pyredis.port)
    other.call('SET', 'k', 'changed')
    # RESET dropped the WATCH as well.
    c.call('MULTI')
    c.call('GET', 'k')
    assert c.call('EXEC') == b'*1\r\n$7\r\nchanged\r\n'
    c.close()
    other.close()


def test_queued_commands_in_client_list(compat):
    compat.call('MULTI')
    compat.call('SET', 'a', '1')
    compat.call('SET', 'a', '2')
    for conn in (compat.a, compat.b):
        conn.send(b'*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n')
        assert conn.read_reply() == b'+QUEUED\r\n'
    out = [conn.call('EXEC') for conn in (compat.a, compat.b)]
    for o in out:
        assert b' multi=3 ' in o and b'flags=x ' in o


def test_pubsub_inside_multi(compat):
    compat.call('MULTI')
    compat.call('SUBSCRIBE', 'ch')
    compat.call('SSUBSCRIBE', 'sch')
    compat.call('PSUBSCRIBE', 'p*')
    compat.call('EXEC')
    compat.call('GET', 'a')
    compat.call('RESET')


def test_watch_multi_race_two_clients(pyredis):
    """Two clients increment one counter with WATCH/MULTI/EXEC optimistic
    locking, in parallel threads: every increment lands exactly once, and
    the conflicts show up as aborted EXECs that were retried."""
    import redis
    pyredis.client().set('counter', 0)
    per_thread = 150
    retries = [0, 0]

    def worker(idx):
        r = pyredis.client()
        for _ in range(per_thread):
            while True:
                with r.pipeline() as p:
                    try:
                        p.watch('counter')
                        v = int(p.get('counter'))
                        p.multi()
                        p.set('counter', v + 1)
                        p.execute()
                        break
                    except redis.WatchError:
                        retries[idx] += 1
        r.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert int(pyredis.client().get('counter')) == 2 * per_thread


def test_watch_conflict_is_detected_deterministically(pyredis):
    import redis
    a, b = pyredis.client(), pyredis.client()
    a.set('balance', 100)
    with a.pipeline() as p:
        p.watch('balance')
        v = int(p.get('balance'))
        b.decrby('balance', 30)            # the other client wins the race
        p.multi()
        p.set('balance', v - 50)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert int(a.get('balance')) == 70


# -- propagation (in-process: the sans-IO server with a capturing target) -----

@pytest.fixture
def local_server():
    from pyredis import config as config_mod
    from pyredis.assembly import create_server
    srv = create_server(config_mod.load(None, []))
    ops = []
    srv.propagate_targets.append(ops.extend)
    return srv, ops


def _client(srv):
    from pyredis.networking import Client
    c = Client(srv)
    srv.clients[c.id] = c
    c.authenticated = True
    c.update_gate()
    return c


def _run(srv, c, *args):
    c.out = []
    srv.process_command(c, [a.encode() if isinstance(a, str) else a for a in args])
    return b''.join(c.out)


def test_exec_propagated_as_one_unit(local_server):
    srv, ops = local_server
    c = _client(srv)
    for cmd in (('MULTI',), ('SET', 'a', '1'), ('GET', 'a'), ('INCR', 'a'),
                ('EXPIRE', 'a', '100'), ('EXEC',)):
        _run(srv, c, *cmd)
    names = [argv[0].upper() for _, argv in ops]
    assert names == [b'MULTI', b'SET', b'INCR', b'PEXPIREAT', b'EXEC']


def test_exec_with_single_write_is_not_wrapped(local_server):
    srv, ops = local_server
    c = _client(srv)
    for cmd in (('MULTI',), ('SET', 'a', '1'), ('GET', 'a'), ('EXEC',)):
        _run(srv, c, *cmd)
    assert [argv for _, argv in ops] == [[b'SET', b'a', b'1']]


def test_exec_without_writes_propagates_nothing(local_server):
    srv, ops = local_server
    c = _client(srv)
    for cmd in (('MULTI',), ('GET', 'a'), ('EXEC',), ('MULTI',), ('SET', 'a', '1'),
                ('DISCARD',)):
        _run(srv, c, *cmd)
    assert ops == []


def test_watch_state_released_on_disconnect(local_server):
    srv, ops = local_server
    c = _client(srv)
    _run(srv, c, 'WATCH', 'a', 'b')
    db = srv.dbs[0]
    assert set(db.watched) == {b'a', b'b'}
    srv.remove_client(c)
    assert db.watched == {}


def test_exec_reaches_the_aof_as_one_unit(server_factory):
    import glob
    import os
    srv = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'always')
    c = RawConn(srv.port)
    for cmd in (('MULTI',), ('SET', 'a', '1'), ('GET', 'a'), ('INCR', 'a'), ('EXEC',),
                ('MULTI',), ('SET', 'b', '1'), ('EXEC',)):
        c.call(*cmd)
    c.close()
    deadline = time.time() + 10
    data = b''
    while time.time() < deadline:
        files = glob.glob(os.path.join(srv.dir, 'appendonlydir', '*.incr.aof'))
        data = b''.join(open(f, 'rb').read() for f in files)
        if b'$1\r\nb\r\n' in data:
            break
        time.sleep(0.05)
    assert (b'*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n'
            b'*2\r\n$4\r\nINCR\r\n$1\r\na\r\n*1\r\n$4\r\nEXEC\r\n'
            b'*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n') in data


def test_exec_checked_against_queued_write_flags(server_factory):
    """A server that turned read-only replica after the commands were
    queued rejects the EXEC as a whole (execCommandAbort), as Redis does
    with the union of the queued commands' flags."""
    from helpers import free_port, REDIS_SERVER
    if not REDIS_SERVER:
        pytest.skip('redis-server is not installed')
    nowhere = str(free_port())
    replies = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind)
        a, b = RawConn(srv.port), RawConn(srv.port)
        out = [a.call('MULTI'), a.call('SET', 'x', '1'), a.call('GET', 'x')]
        b.call('REPLICAOF', '127.0.0.1', nowhere)
        out.append(a.call('EXEC'))
        out += [a.call('MULTI'), a.call('GET', 'x')]
        out.append(a.call('EXEC'))
        b.call('REPLICAOF', 'NO', 'ONE')
        replies.append(out)
        a.close()
        b.close()
    assert replies[0] == replies[1]
    assert replies[0][3].startswith(b'-EXECABORT Transaction discarded because of: READONLY')
