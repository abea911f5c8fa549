"""List commands: raw replies compared with redis-server (errors included),
OBJECT ENCODING, keyspace events, and redis-py usage."""

import pytest

from helpers import RawConn


def resp3(compat):
    """Switch both connections to RESP3 (HELLO's reply has the client id)."""
    compat.a.call('HELLO', '3')
    compat.b.call('HELLO', '3')


def test_push_pop_len(compat):
    compat.run(
        ('RPUSH', 'l', 'a', 'b', 'c'), ('LPUSH', 'l', 'x', 'y'), ('LLEN', 'l'),
        ('LPUSHX', 'l', '1', '2'), ('RPUSHX', 'l', '3'), ('LPUSHX', 'nol', 'a'),
        ('RPUSHX', 'nol', 'a'), ('EXISTS', 'nol'), ('LRANGE', 'l', '0', '-1'),
        ('LPOP', 'l'), ('RPOP', 'l'), ('LPOP', 'l', '2'), ('RPOP', 'l', '2'),
        ('LPOP', 'l', '0'), ('LPOP', 'l', '100'), ('EXISTS', 'l'), ('LPOP', 'l'),
        ('LPOP', 'l', '2'), ('RPOP', 'nol', '0'), ('LLEN', 'nol'),
        ('LPOP', 'l', '-1'), ('LPOP', 'l', 'x'), ('RPOP', 'l', '1', '2'), ('LPUSH', 'l'),
        ('RPUSH', 'l'), ('LLEN', 'l', 'x'),
    )


def test_resp3_nulls(compat):
    resp3(compat)
    compat.run(('LPOP', 'nol'), ('LPOP', 'nol', '2'), ('RPOP', 'nol', '0'),
               ('LINDEX', 'nol', '0'), ('LMPOP', '1', 'nol', 'LEFT'), ('LPOS', 'nol', 'a'),
               ('RPOPLPUSH', 'nol', 'x'), ('RPUSH', 'l', 'a'), ('LINDEX', 'l', '5'),
               ('LPOS', 'l', 'b'))


def test_wrongtype(compat):
    compat.call('SET', 's', 'v')
    for cmd in (('LPUSH', 's', 'a'), ('RPUSH', 's', 'a'), ('LPUSHX', 's', 'a'),
                ('RPUSHX', 's', 'a'), ('LPOP', 's'), ('RPOP', 's', '2'), ('LLEN', 's'),
                ('LRANGE', 's', '0', '1'), ('LINDEX', 's', '0'), ('LSET', 's', '0', 'a'),
                ('LINSERT', 's', 'BEFORE', 'a', 'b'), ('LREM', 's', '0', 'a'),
                ('LTRIM', 's', '0', '1'), ('LPOS', 's', 'a'), ('LMOVE', 's', 'd', 'LEFT', 'LEFT'),
                ('RPOPLPUSH', 's', 'd'), ('LMPOP', '1', 's', 'LEFT'),
                ('BLPOP', 's', '0'), ('BRPOP', 'nol', 's', '0'),
                ('BLMOVE', 's', 'd', 'LEFT', 'LEFT', '0'), ('BRPOPLPUSH', 's', 'd', '0'),
                ('BLMPOP', '0', '1', 's', 'LEFT')):
        compat.call(*cmd)
    compat.call('RPUSH', 'l', 'a')
    compat.run(('LMOVE', 'l', 's', 'LEFT', 'LEFT'), ('RPOPLPUSH', 'l', 's'),
               ('BLMOVE', 'l', 's', 'LEFT', 'LEFT', '0'), ('LLEN', 'l'))


def test_lrange_lindex(compat):
    compat.call('RPUSH', 'l', *[str(i) for i in range(30)])
    for a, b in [('0', '-1'), ('0', '0'), ('-1', '-1'), ('-100', '100'), ('5', '3'),
                 ('28', '40'), ('30', '40'), ('-3', '-2'), ('2', '-25'), ('25', '-2'),
                 ('x', '1'), ('1', 'y'), ('1', '1.5')]:
        compat.call('LRANGE', 'l', a, b)
        compat.call('LRANGE', 'nol', a, b)
    for i in ('0', '29', '30', '-1', '-30', '-31', '15', 'x', '99999999999999999999'):
        compat.call('LINDEX', 'l', i)
    compat.call('LINDEX', 'nol', 'x')


def test_lset_linsert(compat):
    compat.call('RPUSH', 'l', 'a', 'b', 'c', 'b')
    compat.run(('LSET', 'l', '0', 'A'), ('LSET', 'l', '-1', 'Z'), ('LSET', 'l', '4', 'x'),
               ('LSET', 'l', '-5', 'x'), ('LSET', 'l', 'x', 'x'), ('LSET', 'nol', 'x', 'x'),
               ('LSET', 'nol', '0', 'x'), ('LINSERT', 'l', 'BEFORE', 'b', '1'),
               ('LINSERT', 'l', 'after', 'b', '2'), ('LINSERT', 'l', 'AFTER', 'Z', 'end'),
               ('LINSERT', 'l', 'BEFORE', 'nope', 'x'), ('LINSERT', 'nol', 'BEFORE', 'a', 'x'),
               ('LINSERT', 'l', 'MIDDLE', 'a', 'x'), ('LINSERT', 'nol', 'MIDDLE', 'a', 'x'),
               ('LRANGE', 'l', '0', '-1'))


def test_lrem_ltrim(compat):
    items = ['a', 'b', 'a', 'c', 'a', 'b', 'a']
    compat.call('RPUSH', 'l', *items)
    compat.run(('LREM', 'l', '1', 'a'), ('LREM', 'l', '-2', 'a'), ('LRANGE', 'l', '0', '-1'),
               ('LREM', 'l', '0', 'b'), ('LREM', 'l', '0', 'zz'), ('LREM', 'l', 'x', 'a'),
               ('LREM', 'nol', '0', 'a'), ('LREM', 'l', '0', 'a'), ('LREM', 'l', '0', 'c'),
               ('EXISTS', 'l'))
    for start, stop in [('1', '-2'), ('0', '100'), ('-100', '2'), ('1', '1'), ('3', '1'),
                        ('-1', '-1'), ('50', '60')]:
        compat.run(('DEL', 'l'), ('RPUSH', 'l', *[str(i) for i in range(10)]),
                   ('LTRIM', 'l', start, stop), ('LRANGE', 'l', '0', '-1'), ('EXISTS', 'l'))
    compat.run(('LTRIM', 'nol', '0', '1'), ('LTRIM', 'l', 'x', '1'), ('LTRIM', 'nol', '0', 'x'))


def test_lpos(compat):
    compat.call('RPUSH', 'l', 'a', 'b', 'c', 'a', 'b', 'c', 'a')
    for opts in [(), ('RANK', '2'), ('RANK', '-1'), ('RANK', '-2'), ('RANK', '5'),
                 ('COUNT', '0'), ('COUNT', '2'), ('COUNT', '2', 'RANK', '-1'),
                 ('COUNT', '0', 'MAXLEN', '4'), ('MAXLEN', '1'), ('MAXLEN', '0'),
                 ('RANK', '0'), ('RANK', 'x'), ('RANK', '-9223372036854775808'),
                 ('COUNT', '-1'), ('COUNT', 'x'), ('MAXLEN', '-1'), ('MAXLEN', 'x'),
                 ('FOO', '1'), ('RANK',), ('COUNT', '1', 'RANK', '9')]:
        compat.call('LPOS', 'l', 'a', *opts)
    compat.run(('LPOS', 'l', 'zz'), ('LPOS', 'l', 'zz', 'COUNT', '3'), ('LPOS', 'nol', 'a'),
               ('LPOS', 'nol', 'a', 'COUNT', '0'), ('LPOS', 'nol', 'a', 'RANK', '0'))


def test_lmove_rpoplpush(compat):
    compat.call('RPUSH', 'src', '1', '2', '3', '4')
    for a, b in [('LEFT', 'LEFT'), ('LEFT', 'RIGHT'), ('RIGHT', 'LEFT'), ('right', 'right')]:
        compat.run(('LMOVE', 'src', 'dst', a, b), ('LRANGE', 'dst', '0', '-1'))
    compat.run(('LMOVE', 'src', 'dst', 'UP', 'LEFT'), ('LMOVE', 'src', 'dst', 'LEFT', 'DOWN'),
               ('LMOVE', 'nol', 'dst', 'UP', 'LEFT'), ('LMOVE', 'nol', 'dst', 'LEFT', 'LEFT'),
               ('EXISTS', 'src'), ('RPUSH', 'r', 'a', 'b', 'c'), ('RPOPLPUSH', 'r', 'r'),
               ('LRANGE', 'r', '0', '-1'), ('LMOVE', 'r', 'r', 'LEFT', 'RIGHT'),
               ('LRANGE', 'r', '0', '-1'), ('RPOPLPUSH', 'r', 'n2'), ('RPOPLPUSH', 'nol', 'r'),
               ('RPUSH', 'one', 'x'), ('LMOVE', 'one', 'one', 'LEFT', 'RIGHT'),
               ('LRANGE', 'one', '0', '-1'))


def test_lmpop(compat):
    compat.run(('RPUSH', 'a', '1', '2', '3'), ('RPUSH', 'b', '4', '5'),
               ('LMPOP', '2', 'nol', 'a', 'LEFT'), ('LMPOP', '2', 'a', 'b', 'RIGHT', 'COUNT', '5'),
               ('LMPOP', '1', 'a', 'left'), ('LMPOP', '3', 'x', 'y', 'b', 'LEFT', 'count', '1'),
               ('LMPOP', '1', 'b', 'RIGHT', 'COUNT', '10'), ('LMPOP', '1', 'b', 'LEFT'),
               ('LMPOP', '0', 'a', 'LEFT'), ('LMPOP', 'x', 'a', 'LEFT'),
               ('LMPOP', '-1', 'a', 'LEFT'), ('LMPOP', '2', 'a', 'LEFT'),
               ('LMPOP', '1', 'a', 'UP'), ('LMPOP', '1', 'a', 'LEFT', 'COUNT', '0'),
               ('LMPOP', '1', 'a', 'LEFT', 'COUNT', 'x'),
               ('LMPOP', '1', 'a', 'LEFT', 'COUNT', '1', 'COUNT', '1'),
               ('LMPOP', '1', 'a', 'LEFT', 'FOO'), ('LMPOP', '1', 'a', 'LEFT', 'COUNT'),
               ('LMPOP', '1'))


def test_encoding_is_quicklist(compat):
    compat.run(('RPUSH', 'l', 'a'), ('OBJECT', 'ENCODING', 'l'),
               ('RPUSH', 'big', *['x' * 100] * 200), ('OBJECT', 'ENCODING', 'big'),
               ('TYPE', 'l'))


def test_keyspace_events(compat):
    """The same events, in the same order, from both servers."""
    subs = []
    for srv in (compat.ours, compat.theirs):
        conn = RawConn(srv.port)
        conn.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')
        sub = RawConn(srv.port)
        sub.call('PSUBSCRIBE', '__key*__:*')
        subs.append(sub)
        conn.close()
    cmds = [('RPUSH', 'l', 'a', 'b', 'c', 'd'), ('LPUSH', 'l', 'z'), ('LPOP', 'l'),
            ('RPOP', 'l', '1'), ('LSET', 'l', '0', 'A'), ('LINSERT', 'l', 'AFTER', 'A', 'B'),
            ('LREM', 'l', '1', 'B'), ('LTRIM', 'l', '0', '1'), ('LMOVE', 'l', 'm', 'LEFT', 'RIGHT'),
            ('RPOPLPUSH', 'l', 'm'), ('LMPOP', '1', 'm', 'LEFT', 'COUNT', '5'),
            ('LPUSHX', 'nol', 'a'), ('SET', 'end', '1')]
    compat.run(*cmds)
    events = []
    for sub in subs:
        got = []
        while True:
            msg = sub.read_reply()
            got.append(msg)
            if b'end' in msg and b'keyevent' in msg:
                break
        events.append(got)
        sub.close()
    assert events[0] == events[1]


def test_redis_py(pyredis):
    r = pyredis.client()
    assert r.rpush('q', 'a', 'b', 'c') == 3
    assert r.lpush('q', 'z') == 4
    assert r.lrange('q', 0, -1) == [b'z', b'a', b'b', b'c']
    assert r.lpop('q') == b'z'
    assert r.rpop('q', 2) == [b'c', b'b']
    assert r.lmove('q', 'q2', 'LEFT', 'RIGHT') == b'a'
    assert not r.exists('q')
    assert r.lpos('q2', 'a') == 0
    assert r.lmpop(1, 'q2', direction='LEFT', count=3) == [b'q2', [b'a']]
    assert r.llen('q2') == 0
    r.rpush('w', 1, 2, 3, 2)
    assert r.lrem('w', 0, 2) == 2
    assert r.linsert('w', 'BEFORE', 3, 9) == 3
    assert r.lindex('w', 1) == b'9'
    assert r.ltrim('w', 0, 0)
    assert r.lrange('w', 0, -1) == [b'1']
    r.set('s', 'x')
    import redis
    with pytest.raises(redis.ResponseError, match='WRONGTYPE'):
        r.lpush('s', 1)


def _watch_scenario(port, setup, write):
    """EXEC's reply after another client ran ``write`` on a WATCHed key."""
    a, b = RawConn(port), RawConn(port)
    a.call('FLUSHALL')
    for cmd in setup:
        a.call(*cmd)
    a.call('WATCH', 'k')
    b.call(*write)
    a.call('MULTI')
    a.call('PING')
    reply = a.call('EXEC')
    a.close()
    b.close()
    return reply


@pytest.mark.parametrize('setup, write', [
    ([('RPUSH', 'k', 'a', 'b')], ('RPUSH', 'k', 'c')),
    ([('RPUSH', 'k', 'a', 'b')], ('LPOP', 'k')),
    ([('RPUSH', 'k', 'a', 'b')], ('LSET', 'k', '0', 'x')),
    ([('RPUSH', 'k', 'a', 'b')], ('LREM', 'k', '0', 'zz')),
    ([('RPUSH', 'k', 'a', 'b')], ('LTRIM', 'k', '0', '-1')),
    ([('RPUSH', 'k', 'a', 'b')], ('LINSERT', 'k', 'BEFORE', 'zz', 'x')),
    ([('RPUSH', 'k', 'a', 'b')], ('LMOVE', 'k', 'o', 'LEFT', 'LEFT')),
    ([('RPUSH', 'o', 'a')], ('LMOVE', 'o', 'k', 'LEFT', 'LEFT')),
    ([('HSET', 'k', 'f', '1')], ('HSET', 'k', 'g', '2')),
    ([('HSET', 'k', 'f', '1')], ('HSETNX', 'k', 'f', '2')),
    ([('HSET', 'k', 'f', '1')], ('HINCRBY', 'k', 'f', '2')),
    ([('HSET', 'k', 'f', '1', 'g', '2')], ('HDEL', 'k', 'f')),
    ([('HSET', 'k', 'f', '1')], ('HDEL', 'k', 'zz')),
    ([('SADD', 'k', '1')], ('SADD', 'k', '2')),
    ([('SADD', 'k', '1')], ('SADD', 'k', '1')),
    ([('SADD', 'k', '1', '2')], ('SREM', 'k', '1')),
    ([('SADD', 'k', '1', '2')], ('SPOP', 'k')),
    ([('SADD', 'k', '1', '2')], ('SMOVE', 'k', 'o', '1')),
    ([('SADD', 'o', '1')], ('SMOVE', 'o', 'k', '1')),
    ([('SADD', 'o', '1')], ('SINTERSTORE', 'k', 'o')),
])
def test_writes_invalidate_watch(compat, setup, write):
    ours = _watch_scenario(compat.ours.port, setup, write)
    theirs = _watch_scenario(compat.theirs.port, setup, write)
    assert ours == theirs


@pytest.mark.parametrize('fill', ['-2', '-1', '3', '128'])
def test_quicklist_nodes_match_redis(compat, fill):
    # A list is kept as Redis's quicklist: listpack nodes filled by the same
    # rule (list-max-listpack-size, taken at creation), pushed and popped at
    # both ends in place. DUMP writes the nodes themselves, so the payload is
    # redis-server's byte for byte, for RPUSH- and LPUSH-built lists alike;
    # edits in the middle (LSET, LINSERT, LREM, LTRIM) across node borders
    # give the same replies.
    compat.call('CONFIG', 'SET', 'list-max-listpack-size', fill)
    elems = ['e%d' % i for i in range(300)] + ['12', '-5', '', 'x' * 100, '70000']
    compat.run(('RPUSH', 'r', *elems), ('LPUSH', 'l', *elems), ('DUMP', 'r'), ('DUMP', 'l'))
    for i in range(0, 40):
        compat.run(('LPUSH', 'm', 'h%d' % i), ('RPUSH', 'm', 't%d' % i))
    compat.run(('LPOP', 'm', '7'), ('RPOP', 'm', '5'), ('DUMP', 'm'),
               ('LRANGE', 'r', '0', '-1'), ('LRANGE', 'l', '-50', '-3'),
               ('LRANGE', 'r', '100', '220'), ('LINDEX', 'l', '150'), ('LINDEX', 'r', '-151'),
               ('LSET', 'r', '150', 'y' * 70), ('LSET', 'r', '-1', '99'),
               ('LINSERT', 'r', 'BEFORE', 'e200', 'ins1'), ('LINSERT', 'r', 'AFTER', 'e0', '7'),
               ('LINSERT', 'l', 'BEFORE', 'e299', 'z' * 60),
               ('LREM', 'r', '2', 'e10'), ('LREM', 'l', '-1', 'e20'), ('LREM', 'r', '0', '12'),
               ('LPOS', 'r', 'e250'), ('LPOS', 'l', 'e5', 'RANK', '-1'),
               ('LRANGE', 'r', '0', '-1'), ('LRANGE', 'l', '0', '-1'),
               ('LTRIM', 'r', '37', '-41'), ('LRANGE', 'r', '0', '-1'), ('LLEN', 'r'),
               ('LTRIM', 'l', '-10', '-1'), ('LRANGE', 'l', '0', '-1'),
               ('LMOVE', 'r', 'l', 'LEFT', 'RIGHT'), ('RPOPLPUSH', 'l', 'new'),
               ('DEBUG', 'DIGEST-VALUE', 'r', 'l', 'm', 'new'), ('OBJECT', 'ENCODING', 'r'))
    compat.run(('DEBUG', 'RELOAD'), ('LRANGE', 'r', '0', '-1'), ('LRANGE', 'm', '0', '-1'),
               ('DEBUG', 'DIGEST'), ('SORT', 'r', 'ALPHA', 'LIMIT', '0', '20'),
               ('SORT', 'r', 'ALPHA', 'STORE', 's'), ('LRANGE', 's', '0', '-1'),
               # (the servers outlive the test: the default back)
               ('CONFIG', 'SET', 'list-max-listpack-size', '-2'))


def test_quicklist_against_deque():
    # The C quicklist under random deque operations: same contents either
    # way round, and an RPUSH-built list splits into the nodes rdb.py's
    # quicklist_nodes computes for Redis's fill rule.
    import random
    from collections import deque
    from pyredis import rdb
    from pyredis.values import QuickList
    if not hasattr(QuickList, 'nodes'):
        pytest.skip('pyredis._listpack not built')
    rnd = random.Random(5)
    vals = [b'', b'0', b'-1', b'127', b'128', b'-4096', b'32767', b'2147483648',
            b'9223372036854775807', b'abc', b'x' * 63, b'y' * 64, b'z' * 300, b'w' * 9000]
    for fill in (-2, -1, 1, 5):
        q, d = QuickList(fill), deque()
        for i in range(4000):
            op = rnd.random()
            v = rnd.choice(vals) + (b'%d' % rnd.randrange(50) if rnd.random() < .5 else b'')
            if op < .25:
                q.append(v)
                d.append(v)
            elif op < .5:
                q.appendleft(v)
                d.appendleft(v)
            elif op < .6 and d:
                assert q.pop() == d.pop()
            elif op < .7 and d:
                assert q.popleft() == d.popleft()
            elif op < .78:
                k = rnd.randrange(-len(d) - 2, len(d) + 2)
                q.insert(k, v)
                d.insert(k, v)
            elif op < .85 and d:
                k = rnd.randrange(len(d))
                q[k] = v
                d[k] = v
            elif op < .9 and d:
                k = rnd.randrange(len(d))
                del q[k]
                del d[k]
            elif op < .95 and d:
                k = rnd.randrange(len(d))
                assert q[k] == d[k] and q[-1] == d[-1]
            elif op < .955:
                a, b = rnd.randrange(len(d) + 3), rnd.randrange(len(d) + 3)
                q.trim(a, b)
                d = deque(list(d)[a:b])
            assert len(q) == len(d)
            if i % 400 == 0:
                assert list(q) == list(d) and list(reversed(q)) == list(reversed(d))
                assert q == d and q.copy() == d
                a = rnd.randrange(len(d) + 1)
                assert q.range(a, a + 50) == list(d)[a:a + 50]
        items = [rnd.choice(vals) for _ in range(2000)]
        assert QuickList(fill, items).nodes() == rdb.quicklist_nodes(items, fill)


def test_debug_object_quicklist_fields(compat):
    # DEBUG OBJECT describes the list's own nodes, as redis-server does.
    import re
    compat.call('CONFIG', 'SET', 'list-max-listpack-size', '-1')
    compat.run(('LPUSH', 'l', *['element:%d' % i for i in range(2000)]),
               ('RPUSH', 'l', *['%d' % i for i in range(1000)]), ('LPOP', 'l', '10'))
    out = []
    for conn in (compat.a, compat.b):
        reply = conn.call('DEBUG', 'OBJECT', 'l')
        out.append(re.sub(rb'Value at:0x[0-9a-f]+|lru:\d+ lru_seconds_idle:\d+', b'', reply))
    compat.call('CONFIG', 'SET', 'list-max-listpack-size', '-2')
    assert out[0] == out[1] and b'ql_nodes:' in out[0], out


def test_hscan_listpack_match(compat):
    compat.run(('HSET', 'h', *[x for i in range(100) for x in ('f%d' % i, str(i))]),
               ('HSCAN', 'h', '0', 'MATCH', 'f1*'), ('HSCAN', 'h', '0', 'COUNT', '2'),
               ('HSCAN', 'h', '0', 'MATCH', 'nothing'))


@pytest.mark.parametrize('fill', ['2', '3', '4', '-1', '-2'])
def test_quicklist_node_boundaries_random(compat, fill):
    # Seeded random sequences of every list write, against redis-server,
    # comparing DUMP after each step: DUMP carries each node's listpack, so
    # equal bytes mean the same node boundaries (quicklist.c's inserts,
    # splits with merging, in-place deletes, replaces), not only the same
    # elements. Elements mix small strings, integers and big strings (up to
    # past the 8 KB node limit; none near the 1 GB plain-node threshold).
    import random
    rnd = random.Random(20 + int(fill))
    small = ['a', 'b', 'c', '1', '-7', '300', '70000']
    sized = ['x' * 40, 'y' * 200, 'z' * 1500, 'w' * 5000, 'v' * 9000]

    def elem():
        return rnd.choice(small) if rnd.random() < 0.75 else rnd.choice(sized)

    compat.call('CONFIG', 'SET', 'list-max-listpack-size', fill)
    try:
        for step in range(300):
            key, other = rnd.sample(['a', 'b'], 2)
            op = rnd.randrange(14)
            if op == 0:
                cmd = ('RPUSH', key, *[elem() for _ in range(rnd.randint(1, 6))])
            elif op == 1:
                cmd = ('LPUSH', key, *[elem() for _ in range(rnd.randint(1, 6))])
            elif op == 2:
                cmd = (rnd.choice(['LPUSHX', 'RPUSHX']), key, elem(), elem())
            elif op == 3:
                cmd = (rnd.choice(['LPOP', 'RPOP']), key, str(rnd.randint(1, 4)))
            elif op in (4, 5, 6):
                cmd = ('LINSERT', key, rnd.choice(['BEFORE', 'AFTER']),
                       rnd.choice(small + sized[:2]), elem())
            elif op == 7:
                cmd = ('LSET', key, str(rnd.randint(-8, 8)), elem())
            elif op in (8, 9):
                cmd = ('LREM', key, str(rnd.choice([-2, -1, 0, 1, 2])), rnd.choice(small))
            elif op == 10:
                cmd = ('LTRIM', key, str(rnd.randint(0, 2)), str(-rnd.randint(1, 3)))
            elif op == 11:
                cmd = ('LMOVE', key, other, rnd.choice(['LEFT', 'RIGHT']),
                       rnd.choice(['LEFT', 'RIGHT']))
            elif op == 12:
                cmd = ('BLMOVE', key, other, rnd.choice(['LEFT', 'RIGHT']),
                       rnd.choice(['LEFT', 'RIGHT']), '0.001')
            else:
                cmd = ('RPOPLPUSH', key, other)
            compat.call(*cmd)
            for k in ('a', 'b'):
                compat.run(('DUMP', k), ('OBJECT', 'ENCODING', k))
            if rnd.random() < 0.03:
                compat.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')
    finally:
        compat.call('CONFIG', 'SET', 'list-max-listpack-size', '-2')
