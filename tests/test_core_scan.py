"""SCAN's guarantee: a full iteration returns every key that is present for
the whole iteration, however the keyspace changes between calls, with
MATCH, COUNT and TYPE filtering applied to what is returned.
"""

import random

import hiredis
import pytest

from helpers import RawConn, encode_command


def parse(raw):
    r = hiredis.Reader()
    r.feed(raw)
    return r.gets()


def pipeline(conn, commands):
    conn.send(b''.join(encode_command(c) for c in commands))
    return [conn.read_reply() for _ in commands]


def full_scan(conn, *options, between=None):
    cursor = b'0'
    seen = []
    calls = 0
    while True:
        cursor, keys = parse(conn.call('SCAN', cursor, *options))
        seen.extend(keys)
        calls += 1
        if between is not None:
            between(calls)
        if cursor == b'0':
            return seen, calls


@pytest.fixture(params=['pyredis', 'redis'])
def srv(request, pyredis, real_redis):
    return pyredis if request.param == 'pyredis' else real_redis


def test_scan_returns_every_key_of_a_stable_keyspace(srv):
    conn = RawConn(srv.port)
    pipeline(conn, [('SET', 'key:%d' % i, i) for i in range(1000)])
    for count in ('1', '10', '100', '5000'):
        seen, calls = full_scan(conn, 'COUNT', count)
        assert sorted(set(seen)) == sorted(b'key:%d' % i for i in range(1000))
        if count == '5000':
            assert calls == 1


def test_scan_guarantee_while_keys_are_added_and_deleted(srv):
    rng = random.Random(7)
    conn = RawConn(srv.port)
    stable = [b'stable:%d' % i for i in range(500)]
    pipeline(conn, [('SET', k, 'v') for k in stable])
    pipeline(conn, [('SET', 'temp:%d' % i, 'v') for i in range(500)])
    churn = RawConn(srv.port)

    for count in ('3', '20'):
        added = []

        def mutate(call):
            # Grow the keyspace tenfold (the table is resized under the
            # cursor), then shrink it back, deleting random keys throughout.
            cmds = []
            if call <= 10:
                new = ['new:%s:%d:%d' % (count, call, i) for i in range(1000)]
                added.extend(new)
                cmds += [('MSET',) + tuple(x for k in new[j:j + 100] for x in (k, 'v'))
                         for j in range(0, 1000, 100)]
            elif added:
                gone, added[:] = added[:1500], added[1500:]
                cmds += [('DEL',) + tuple(gone[j:j + 100]) for j in range(0, len(gone), 100)]
            cmds.append(('DEL',) + tuple('temp:%d' % rng.randrange(500) for _ in range(30)))
            pipeline(churn, cmds)

        seen, calls = full_scan(conn, 'COUNT', count, between=mutate)
        assert set(stable) <= set(seen), set(stable) - set(seen)
        assert calls > 20


def test_scan_match_filters_but_keeps_the_guarantee(srv):
    conn = RawConn(srv.port)
    pipeline(conn, [('SET', 'user:%d' % i, 'v') for i in range(300)] +
             [('SET', 'other:%d' % i, 'v') for i in range(300)])
    churn = RawConn(srv.port)
    added = [0]

    def mutate(call):
        cmds = [('SET', 'user:new:%d' % (added[0] + i), 'v') for i in range(40)]
        added[0] += 40
        cmds.append(('DEL',) + tuple('other:%d' % (call * 7 + i) for i in range(7)))
        pipeline(churn, cmds)

    seen, _ = full_scan(conn, 'MATCH', 'user:[0-9]*', 'COUNT', '25', between=mutate)
    assert set(seen) >= {b'user:%d' % i for i in range(300)}
    assert all(k.startswith(b'user:') and not k.startswith(b'user:new') for k in seen)


def test_scan_type_filter(srv):
    conn = RawConn(srv.port)
    pipeline(conn, [('SET', 's%d' % i, 'v') for i in range(100)])
    has_lists = not conn.call('RPUSH', 'l0', 'x').startswith(b'-ERR unknown')
    if has_lists:
        pipeline(conn, [('RPUSH', 'l%d' % i, 'x') for i in range(1, 50)])
    seen, _ = full_scan(conn, 'TYPE', 'string', 'COUNT', '7')
    assert sorted(set(seen)) == sorted(b's%d' % i for i in range(100))
    seen, _ = full_scan(conn, 'TYPE', 'list', 'COUNT', '7')
    assert sorted(set(seen)) == (sorted(b'l%d' % i for i in range(50)) if has_lists else [])
    seen, _ = full_scan(conn, 'TYPE', 'hash')
    assert seen == []
    seen, _ = full_scan(conn, 'TYPE', 'string', 'MATCH', 's1*', 'COUNT', '1000')
    assert sorted(seen) == sorted(k for k in (b's%d' % i for i in range(100))
                                  if k.startswith(b's1'))


def test_scan_in_other_databases_and_empty(srv):
    conn = RawConn(srv.port)
    assert parse(conn.call('SCAN', '0')) == [b'0', []]
    conn.call('SELECT', '7')
    pipeline(conn, [('SET', 'k%d' % i, 'v') for i in range(30)])
    seen, _ = full_scan(conn)
    assert sorted(seen) == sorted(b'k%d' % i for i in range(30))
    conn.call('SELECT', '0')
    assert parse(conn.call('SCAN', '0')) == [b'0', []]
    conn.call('SELECT', '7')
    conn.call('FLUSHDB')
    assert parse(conn.call('SCAN', '0')) == [b'0', []]


def test_scan_after_swapdb_and_flush_during_iteration(pyredis):
    conn = RawConn(pyredis.port)
    pipeline(conn, [('SET', 'a%d' % i, 'v') for i in range(200)])
    conn.call('SELECT', '1')
    pipeline(conn, [('SET', 'b%d' % i, 'v') for i in range(200)])
    conn.call('SELECT', '0')
    cursor, _ = parse(conn.call('SCAN', '0', 'COUNT', '10'))
    conn.call('SWAPDB', '0', '1')
    seen, _ = full_scan(conn)
    assert sorted(seen) == sorted(b'b%d' % i for i in range(200))
    # An abandoned cursor costs nothing and a stale one is still valid.
    parse(conn.call('SCAN', cursor))
    conn.call('FLUSHALL')
    assert parse(conn.call('SCAN', cursor))[1] == []
