"""Blocking commands with several clients. Each scenario runs against pyredis
and against redis-server and the raw replies every client received are
compared. No timing assertions: "blocked" is observed through INFO's
blocked_clients, and timeouts are only checked for their reply."""

import threading
import time

import pytest
import redis

from helpers import RawConn, incr_aof


def wait_blocked(port, n):
    conn = RawConn(port)
    try:
        for _ in range(500):
            info = conn.call('INFO', 'clients')
            if b'blocked_clients:%d\r\n' % n in info:
                return
            time.sleep(0.01)
        raise AssertionError('blocked_clients never reached %d' % n)
    finally:
        conn.close()


def both(compat, scenario):
    """Run scenario(port) on both servers (after a FLUSHALL) and compare."""
    results = []
    for srv in (compat.ours, compat.theirs):
        RawConn(srv.port).call('FLUSHALL')
        results.append(scenario(srv.port))
    assert results[0] == results[1], 'pyredis: %r\nredis:   %r' % tuple(results)
    return results[0]


def test_push_wakes_blocked_client(compat):
    def scenario(port):
        c1, c2 = RawConn(port), RawConn(port)
        c1.send_command('BLPOP', 'nokey', 'k', '0')
        wait_blocked(port, 1)
        out = [c2.call('RPUSH', 'k', 'a', 'b'), c1.read_reply(), c2.call('LRANGE', 'k', '0', '-1')]
        c1.send_command('BRPOP', 'k', '0')
        out.append(c1.read_reply())
        out.append(c2.call('EXISTS', 'k'))
        return out
    both(compat, scenario)


def test_timeouts(compat):
    def scenario(port):
        c = RawConn(port)
        out = [c.call('BLPOP', 'k', '0.05'), c.call('BRPOP', 'k', '0.01'),
               c.call('BLMOVE', 'k', 'd', 'LEFT', 'RIGHT', '0.01'),
               c.call('BRPOPLPUSH', 'k', 'd', '0.01'), c.call('BLMPOP', '0.01', '1', 'k', 'LEFT'),
               c.call('BZPOPMIN', 'k', '0.01'), c.call('BZPOPMAX', 'k', '0.01'),
               c.call('BZMPOP', '0.01', '1', 'k', 'MIN')]
        c.call('HELLO', '3')
        out += [c.call('BLPOP', 'k', '0.01'), c.call('BLMOVE', 'k', 'd', 'LEFT', 'RIGHT', '0.01'),
                c.call('BZMPOP', '0.01', '1', 'k', 'MAX')]
        return out
    both(compat, scenario)


def test_timeout_errors(compat):
    for t in ('x', '', '-1', '-0.5', 'inf', '-inf', 'nan', '1e400', '9999999999999999',
              ' 1', '1 ', '0x10z', '1e', '--1'):
        compat.run(('BLPOP', 'k', t), ('BRPOP', 'k', t), ('BLMOVE', 'k', 'd', 'LEFT', 'LEFT', t),
                   ('BRPOPLPUSH', 'k', 'd', t), ('BLMPOP', t, '1', 'k', 'LEFT'),
                   ('BZPOPMIN', 'k', t), ('BZMPOP', t, '1', 'k', 'MIN'))
    # A tiny positive timeout is rounded up to a millisecond, not "forever".
    compat.run(('BLPOP', 'k', '1e-300'), ('BLPOP', 'k', '0x0.001p0'), ('BLPOP', 'k', '0.0001'))
    compat.run(('BLMOVE', 'k', 'd', 'UP', 'LEFT', 'x'), ('BLMOVE', 'k', 'd', 'LEFT', 'UP', 'x'),
               ('BLMPOP', '0', '0', 'k', 'LEFT'), ('BLMPOP', '0', '1', 'k', 'UP'),
               ('BLMPOP', 'x', '0', 'k', 'LEFT'), ('BLMPOP', '0', '2', 'k', 'LEFT'),
               ('BLMPOP', '0', '1', 'k', 'LEFT', 'COUNT', '0'), ('BZMPOP', '0', '1', 'k', 'UP'),
               ('BZMPOP', '0', '0', 'k', 'MIN'), ('BLPOP', 'k'), ('BLMPOP', '0', '1'))


def test_immediate_replies(compat):
    compat.run(('RPUSH', 'a', '1', '2', '3'), ('BLPOP', 'nokey', 'a', '0'),
               ('BRPOP', 'a', '0'), ('BLMOVE', 'a', 'd', 'LEFT', 'LEFT', '0'),
               ('RPUSH', 'a', 'x', 'y', 'z'), ('BRPOPLPUSH', 'a', 'd', '0'),
               ('BLMPOP', '0', '2', 'nokey', 'a', 'RIGHT', 'COUNT', '10'), ('EXISTS', 'a'),
               ('LRANGE', 'd', '0', '-1'), ('ZADD', 'z', '1', 'a', '2', 'b', '3', 'c'),
               ('BZPOPMIN', 'nokey', 'z', '0'), ('BZPOPMAX', 'z', '0'),
               ('BZMPOP', '0', '1', 'z', 'MIN', 'COUNT', '5'), ('EXISTS', 'z'))
    compat.a.call('HELLO', '3')
    compat.b.call('HELLO', '3')
    compat.run(('ZADD', 'z', '1.5', 'a', '2', 'b'), ('BZPOPMIN', 'z', '0'),
               ('BZMPOP', '0', '1', 'z', 'MAX'), ('RPUSH', 'l', 'a', 'b'), ('BLPOP', 'l', '0'),
               ('BLMPOP', '0', '1', 'l', 'LEFT'))


def test_fairness_first_blocked_first_served(compat):
    def scenario(port):
        clients = [RawConn(port) for _ in range(3)]
        for i, c in enumerate(clients):
            c.send_command('BLPOP', 'k', '0')
            wait_blocked(port, i + 1)
        pusher = RawConn(port)
        out = [pusher.call('RPUSH', 'k', 'a', 'b', 'c', 'd')]
        out += [c.read_reply() for c in clients]
        out.append(pusher.call('LRANGE', 'k', '0', '-1'))
        # Served one element at a time, in blocking order, also one push each.
        for i, c in enumerate(clients):
            c.send_command('BRPOP', 'q', '0')
            wait_blocked(port, i + 1)
        out.append(pusher.call('RPUSH', 'q', '1'))
        out.append(pusher.call('RPUSH', 'q', '2'))
        out.append(pusher.call('RPUSH', 'q', '3'))
        out += [c.read_reply() for c in clients]
        return out
    both(compat, scenario)


def test_disconnect_while_blocked(compat):
    def scenario(port):
        c1 = RawConn(port)
        c1.send_command('BLPOP', 'k', '0')
        wait_blocked(port, 1)
        c1.close()
        wait_blocked(port, 0)
        c2 = RawConn(port)
        c3 = RawConn(port)
        c3.send_command('BLPOP', 'k', '0')
        wait_blocked(port, 1)
        return [c2.call('RPUSH', 'k', 'a', 'b'), c3.read_reply(), c2.call('LRANGE', 'k', '0', '-1')]
    both(compat, scenario)


def test_key_created_by_rename_move_copy_swapdb(compat):
    def scenario(port):
        out = []
        c1, c2 = RawConn(port), RawConn(port)
        c2.call('RPUSH', 'tmp', 'x')
        c1.send_command('BLPOP', 'k', '0')
        wait_blocked(port, 1)
        out += [c2.call('RENAME', 'tmp', 'k'), c1.read_reply()]
        # MOVE into the blocked client's database.
        c1.call('SELECT', '1')
        c1.send_command('BLPOP', 'm', '0')
        wait_blocked(port, 1)
        out += [c2.call('RPUSH', 'm', 'y'), c2.call('MOVE', 'm', '1'), c1.read_reply()]
        # COPY.
        c1.send_command('BRPOP', 'cp', '0')
        wait_blocked(port, 1)
        out += [c2.call('RPUSH', 'src', 'z'), c2.call('COPY', 'src', 'cp', 'DB', '1'),
                c1.read_reply()]
        # SWAPDB: db 1 now holds db 0's data.
        c1.send_command('BLPOP', 'sw', '0')
        wait_blocked(port, 1)
        out += [c2.call('RPUSH', 'sw', 'w'), c2.call('SWAPDB', '0', '1'), c1.read_reply()]
        return out
    both(compat, scenario)


def test_key_created_inside_multi_exec(compat):
    def scenario(port):
        c1, c2 = RawConn(port), RawConn(port)
        c1.send_command('BLPOP', 'k', '0')
        wait_blocked(port, 1)
        out = [c2.call('MULTI'), c2.call('RPUSH', 'k', 'a', 'b'), c2.call('LLEN', 'k'),
               c2.call('LPOP', 'k'), c2.call('EXEC'), c1.read_reply(),
               c2.call('LRANGE', 'k', '0', '-1')]
        return out
    both(compat, scenario)


def test_blocking_commands_inside_multi_do_not_block(compat):
    for resp in ('2', '3'):
        compat.a.call('HELLO', resp)
        compat.b.call('HELLO', resp)
        compat.run(('MULTI',), ('BLPOP', 'k', '0'), ('BRPOP', 'k', '0'),
                   ('BLMOVE', 'k', 'd', 'LEFT', 'LEFT', '0'), ('BRPOPLPUSH', 'k', 'd', '0'),
                   ('BLMPOP', '0', '1', 'k', 'LEFT'), ('BZPOPMIN', 'k', '0'),
                   ('BZPOPMAX', 'k', '0'), ('BZMPOP', '0', '1', 'k', 'MIN'), ('EXEC',))
    compat.run(('RPUSH', 'k', 'a'), ('MULTI',), ('BLPOP', 'k', '0'), ('BLPOP', 'k', '0'),
               ('EXEC',))


def test_wrong_type_keeps_waiting(compat):
    def scenario(port):
        c1, c2 = RawConn(port), RawConn(port)
        c1.send_command('BLPOP', 'k', '0')
        wait_blocked(port, 1)
        out = [c2.call('SET', 'k', 'str'), c2.call('DEL', 'k'), c2.call('ZADD', 'k', '1', 'm'),
               c2.call('DEL', 'k'), c2.call('RPUSH', 'k', 'v'), c1.read_reply()]
        # A BZPOPMIN client is not served by a list, and vice versa.
        c1.send_command('BZPOPMIN', 'z', '0')
        wait_blocked(port, 1)
        out += [c2.call('RPUSH', 'z', 'x'), c2.call('DEL', 'z'), c2.call('ZADD', 'z', '2', 'b', '1', 'a'),
                c1.read_reply(), c2.call('ZRANGE', 'z', '0', '-1')]
        return out
    both(compat, scenario)


def test_served_variants(compat):
    def scenario(port):
        out = []
        c1, c2 = RawConn(port), RawConn(port)
        c1.send_command('BLMOVE', 'src', 'dst', 'RIGHT', 'LEFT', '0')
        wait_blocked(port, 1)
        out += [c2.call('RPUSH', 'src', 'a', 'b'), c1.read_reply(), c2.call('LRANGE', 'dst', '0', '-1')]
        c1.send_command('BRPOPLPUSH', 'e', 'dst', '0')
        wait_blocked(port, 1)
        out += [c2.call('LPUSH', 'e', 'c'), c1.read_reply(), c2.call('LRANGE', 'dst', '0', '-1'),
                c2.call('EXISTS', 'e')]
        c1.send_command('BLMPOP', '0', '2', 'm1', 'm2', 'RIGHT', 'COUNT', '2')
        wait_blocked(port, 1)
        out += [c2.call('RPUSH', 'm2', '1', '2', '3'), c1.read_reply()]
        c1.send_command('BZPOPMAX', 'z1', 'z2', '0')
        wait_blocked(port, 1)
        out += [c2.call('ZADD', 'z2', '1', 'a', '2', 'b'), c1.read_reply()]
        c1.send_command('BZMPOP', '0', '1', 'z3', 'MIN', 'COUNT', '5')
        wait_blocked(port, 1)
        out += [c2.call('ZADD', 'z3', '1', 'a', '2', 'b'), c1.read_reply(), c2.call('EXISTS', 'z3')]
        # BLMOVE into a key of the wrong type: the error, nothing popped.
        c1.send_command('BLMOVE', 'w', 'str', 'LEFT', 'LEFT', '0')
        wait_blocked(port, 1)
        out += [c2.call('SET', 'str', 'x'), c2.call('RPUSH', 'w', 'v'), c1.read_reply(),
                c2.call('LRANGE', 'w', '0', '-1')]
        # BLMOVE chains: a client waiting on the destination is served too.
        c3 = RawConn(port)
        c1.send_command('BLMOVE', 'ch1', 'ch2', 'LEFT', 'LEFT', '0')
        wait_blocked(port, 1)
        c3.send_command('BLPOP', 'ch2', '0')
        wait_blocked(port, 2)
        out += [c2.call('RPUSH', 'ch1', 'v'), c1.read_reply(), c3.read_reply(),
                c2.call('EXISTS', 'ch1', 'ch2')]
        return out
    both(compat, scenario)


def test_resp3_served_and_timeout(compat):
    def scenario(port):
        c1, c2 = RawConn(port), RawConn(port)
        c1.call('HELLO', '3')
        c1.send_command('BZPOPMIN', 'z', '0')
        wait_blocked(port, 1)
        out = [c2.call('ZADD', 'z', '1.5', 'a'), c1.read_reply()]
        c1.send_command('BLMPOP', '0', '1', 'l', 'LEFT')
        wait_blocked(port, 1)
        out += [c2.call('RPUSH', 'l', 'x'), c1.read_reply(), c1.call('BLPOP', 'l', '0.01')]
        return out
    both(compat, scenario)


def test_pipelined_requests_wait_for_the_blocked_one(compat):
    def scenario(port):
        c1, c2 = RawConn(port), RawConn(port)
        c1.send(b'*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n'
                b'*2\r\n$4\r\nLLEN\r\n$1\r\nk\r\n')
        wait_blocked(port, 1)
        out = [c2.call('RPUSH', 'k', 'a', 'b')]
        out += [c1.read_reply() for _ in range(3)]
        return out
    both(compat, scenario)


def test_client_unblock(compat):
    def scenario(port):
        c1, c2 = RawConn(port), RawConn(port)
        cid = c1.call('CLIENT', 'ID')[1:-2].decode()
        out = [c2.call('CLIENT', 'UNBLOCK', cid), c2.call('CLIENT', 'UNBLOCK', 'x'),
               c2.call('CLIENT', 'UNBLOCK', cid, 'FOO'), c2.call('CLIENT', 'UNBLOCK', '99999')]
        c1.send_command('BLPOP', 'k', '0')
        wait_blocked(port, 1)
        out += [c2.call('CLIENT', 'UNBLOCK', cid), c1.read_reply()]
        c1.send_command('BLMOVE', 'k', 'd', 'LEFT', 'LEFT', '0')
        wait_blocked(port, 1)
        out += [c2.call('CLIENT', 'UNBLOCK', cid, 'ERROR'), c1.read_reply(), c1.call('PING')]
        return out
    both(compat, scenario)


def test_info_and_client_list(pyredis):
    c1 = RawConn(pyredis.port)
    c1.send_command('BLPOP', 'k', '0')
    wait_blocked(pyredis.port, 1)
    r = pyredis.client()
    line = [l for l in r.client_list() if l['cmd'] == 'blpop']
    assert line and 'b' in line[0]['flags']
    r.rpush('k', 'v')
    assert c1.read_reply() == b'*2\r\n$1\r\nk\r\n$1\r\nv\r\n'
    assert r.info('clients')['blocked_clients'] == 0


def test_many_blocked_then_disconnect_all(pyredis):
    conns = []
    for i in range(50):
        c = RawConn(pyredis.port)
        c.send_command('BLPOP', 'k%d' % (i % 5), 'shared', '0')
        conns.append(c)
    wait_blocked(pyredis.port, 50)
    for c in conns:
        c.close()
    wait_blocked(pyredis.port, 0)
    r = pyredis.client()
    r.rpush('shared', 'v')
    assert r.lrange('shared', 0, -1) == [b'v']


def test_redis_py_worker_queue(pyredis):
    """A job queue: workers BLPOP in threads, a producer RPUSHes."""
    r = pyredis.client()
    results = []

    def worker():
        conn = pyredis.client()
        while True:
            item = conn.blpop(['jobs'], timeout=5)
            if item is None or item[1] == b'stop':
                return
            results.append(item[1])

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(30):
        r.rpush('jobs', 'job%d' % i)
    for _ in threads:
        r.rpush('jobs', 'stop')
    for t in threads:
        t.join(10)
    assert sorted(results) == sorted(b'job%d' % i for i in range(30))
    assert r.blpop(['jobs'], timeout=0.01) is None
    assert r.brpoplpush('none', 'x', timeout=0.01) is None
    r.rpush('src', 'a')
    assert r.blmove('src', 'dst', 0.01, 'LEFT', 'RIGHT') == b'a'
    r.zadd('z', {'m': 1})
    assert r.bzpopmin('z', timeout=0.01) == (b'z', b'm', 1.0)


# -- propagation -------------------------------------------------------------

def test_propagated_forms_match_redis(server_factory):
    """The AOF (what replicas get too) holds the same deterministic commands:
    BLPOP as LPOP, BLMPOP as [LR]POP count, BLMOVE/BRPOPLPUSH served later as
    LMOVE/RPOPLPUSH, BZPOPMIN as ZPOPMIN, HINCRBYFLOAT as HSET, SPOP as SREM
    or DEL."""
    if not __import__('helpers').REDIS_SERVER:
        pytest.skip('redis-server is not installed')
    aofs = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, '--appendonly', 'yes', '--appendfsync', 'always',
                             '--aof-use-rdb-preamble', 'yes')
        c1, c2 = RawConn(srv.port), RawConn(srv.port)
        c2.call('RPUSH', 'l', 'a', 'b', 'c', 'd')
        c2.call('BLPOP', 'nokey', 'l', '0')
        c2.call('BRPOP', 'l', '0')
        c2.call('BLMPOP', '0', '1', 'l', 'RIGHT', 'COUNT', '5')
        c2.call('RPUSH', 'l', 'x', 'y')
        c2.call('BLMOVE', 'l', 'd', 'LEFT', 'RIGHT', '0')
        c2.call('BRPOPLPUSH', 'l', 'd', '0')
        c2.call('LMPOP', '1', 'd', 'LEFT', 'COUNT', '1')
        for cmd in (('BLMOVE', 's', 'd', 'RIGHT', 'LEFT', '0'), ('BRPOPLPUSH', 's', 'd', '0'),
                    ('BLPOP', 's', '0'), ('BRPOP', 's', '0'),
                    ('BLMPOP', '0', '1', 's', 'LEFT', 'COUNT', '3')):
            c1.send_command(*cmd)
            wait_blocked(srv.port, 1)
            c2.call('RPUSH', 's', 'p')
            c1.read_reply()
        c2.call('ZADD', 'z', '1', 'a', '2', 'b', '3', 'c')
        c2.call('BZPOPMIN', 'z', '0')
        c2.call('BZMPOP', '0', '1', 'z', 'MAX', 'COUNT', '1')
        c1.send_command('BZPOPMAX', 'z2', '0')
        wait_blocked(srv.port, 1)
        c2.call('ZADD', 'z2', '5', 'm')
        c1.read_reply()
        c3 = RawConn(srv.port)
        c1.send_command('BLPOP', 'two', '0')
        wait_blocked(srv.port, 1)
        c3.send_command('BRPOP', 'two', '0')
        wait_blocked(srv.port, 2)
        c2.call('RPUSH', 'two', '1', '2', '3')
        c1.read_reply()
        c3.read_reply()
        c3.close()
        c1.send_command('BLPOP', 'tx', '0')
        wait_blocked(srv.port, 1)
        c2.call('MULTI')
        c2.call('RPUSH', 'tx', '1')
        c2.call('RPUSH', 'tx', '2')
        c2.call('EXEC')
        c1.read_reply()
        c2.call('HINCRBYFLOAT', 'h', 'f', '1.5')
        c2.call('HINCRBYFLOAT', 'h', 'f', '0.1')
        c2.call('SADD', 'one', 'x')
        c2.call('SPOP', 'one')
        c2.call('SADD', 'all', '1', '2', '3')
        c2.call('SPOP', 'all', '3')
        c2.call('SET', 'end', '1')
        aofs.append(incr_aof(srv))
        c1.close()
        c2.close()
    assert _commands(aofs[0]) == _commands(aofs[1])


def _commands(aof):
    """The commands of a RESP AOF, one joined line each."""
    out = []
    lines = aof.split(b'\r\n')
    i = 0
    while i < len(lines) - 1:
        n = int(lines[i][1:])
        out.append(b' '.join(lines[i + 2:i + 2 + 2 * n:2]))
        i += 1 + 2 * n
    return out


def test_spop_count_propagates_srem(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'always')
    r = srv.client()
    r.sadd('s', *range(10))
    popped = r.spop('s', 3)
    single = r.spop('s')
    r.set('end', 1)
    aof = incr_aof(srv)
    for m in popped + [single]:
        assert b'*3\r\n$4\r\nSREM\r\n$1\r\ns\r\n$1\r\n%s\r\n' % m in aof
    assert b'SPOP' not in aof


def test_keyspace_events_of_served_clients(compat):
    def scenario(port):
        admin = RawConn(port)
        admin.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')
        sub = RawConn(port)
        sub.call('PSUBSCRIBE', '__keyevent@*')
        c1, c2 = RawConn(port), RawConn(port)
        for cmd, push in ((('BLPOP', 'a', '0'), ('RPUSH', 'a', '1')),
                          (('BLMOVE', 'b', 'c', 'RIGHT', 'LEFT', '0'), ('RPUSH', 'b', '1')),
                          (('BLMPOP', '0', '1', 'd', 'LEFT', 'COUNT', '2'), ('RPUSH', 'd', '1', '2', '3')),
                          (('BZPOPMIN', 'z', '0'), ('ZADD', 'z', '1', 'm'))):
            c1.send_command(*cmd)
            wait_blocked(port, 1)
            c2.call(*push)
            c1.read_reply()
        c2.call('SET', 'end', '1')
        events = []
        while True:
            msg = sub.read_reply()
            events.append(msg)
            if msg.endswith(b'$3\r\nend\r\n'):
                break
        admin.call('CONFIG', 'SET', 'notify-keyspace-events', '')
        return events
    both(compat, scenario)


def test_pipelined_pusher_does_not_overtake_blocked_clients(compat):
    """Redis serves blocked clients right after the command that made their
    key ready, before the pusher's next pipelined request."""
    def scenario(port):
        c1, c2 = RawConn(port), RawConn(port)
        c1.send_command('BLPOP', 'k', '0')
        wait_blocked(port, 1)
        c2.send(b'*3\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$1\r\na\r\n*2\r\n$4\r\nLPOP\r\n$1\r\nk\r\n'
                b'*2\r\n$4\r\nLLEN\r\n$1\r\nk\r\n*3\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$1\r\nb\r\n')
        out = [c2.read_reply() for _ in range(4)] + [c1.read_reply()]
        c1.send_command('BLMOVE', 'm', 'k', 'LEFT', 'LEFT', '0')
        wait_blocked(port, 1)
        c2.send(b'*3\r\n$5\r\nLPUSH\r\n$1\r\nm\r\n$1\r\nx\r\n*2\r\n$6\r\nEXISTS\r\n$1\r\nm\r\n')
        out += [c2.read_reply() for _ in range(2)] + [c1.read_reply()]
        out.append(c2.call('LRANGE', 'k', '0', '-1'))
        return out
    both(compat, scenario)


def test_info_clients_in_timeout_table(compat):
    def scenario(port):
        c1, c2, c3 = RawConn(port), RawConn(port), RawConn(port)
        c1.send_command('BLPOP', 'k', '100')
        c2.send_command('BLPOP', 'k', '0')
        wait_blocked(port, 2)
        info = c3.call('INFO', 'clients')
        out = [l for l in info.split(b'\r\n') if l.startswith((b'blocked', b'clients_in'))]
        c3.call('RPUSH', 'k', 'a', 'b')
        c1.read_reply()
        c2.read_reply()
        info = c3.call('INFO', 'clients')
        return out + [l for l in info.split(b'\r\n') if l.startswith((b'blocked', b'clients_in'))]
    both(compat, scenario)
