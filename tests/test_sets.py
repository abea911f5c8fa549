"""Set commands: raw replies compared with redis-server (errors included),
intset -> hashtable conversion and reply order, SSCAN, random members,
keyspace events and redis-py usage. Replies of hashtable-encoded sets have
no defined order: those are compared as sorted member lists."""

import pytest
import redis

from helpers import RawConn


def resp3(compat):
    compat.a.call('HELLO', '3')
    compat.b.call('HELLO', '3')


def _members(raw):
    """The bulk strings of a flat array/set reply, sorted."""
    lines = raw.split(b'\r\n')
    out = []
    i = 1
    while i < len(lines) - 1:
        if lines[i].startswith(b'$'):
            out.append(lines[i + 1])
            i += 2
        else:
            i += 1
    return lines[0][:1], int(lines[0][1:]), sorted(out)


def same_members(compat, *args):
    ra = compat.a.call(*args)
    rb = compat.b.call(*args)
    assert _members(ra) == _members(rb), (args, ra, rb)


def test_basic_intset(compat):
    compat.run(
        ('SADD', 's', '3', '1', '2', '-5', '10', '3'), ('SCARD', 's'), ('SMEMBERS', 's'),
        ('SISMEMBER', 's', '1'), ('SISMEMBER', 's', '7'), ('SISMEMBER', 'nos', '1'),
        ('SMISMEMBER', 's', '1', '7', '2'), ('SMISMEMBER', 'nos', '1'),
        ('SREM', 's', '1', '99'), ('SREM', 'nos', '1'), ('SMEMBERS', 's'),
        ('OBJECT', 'ENCODING', 's'), ('SMEMBERS', 'nos'), ('SCARD', 'nos'),
        ('SREM', 's', '2', '3', '-5', '10'), ('EXISTS', 's'),
        ('SADD', 's'), ('SREM', 's'), ('SISMEMBER', 's'), ('SMISMEMBER', 's'),
        ('SADD', 'n', '01', '1', '-0', '9223372036854775807', '9223372036854775808'),
        ('OBJECT', 'ENCODING', 'n'),
        ('SADD', 'i', '9223372036854775807', '-9223372036854775808', '0'),
        ('OBJECT', 'ENCODING', 'i'), ('SMEMBERS', 'i'),
    )


def test_resp3(compat):
    resp3(compat)
    compat.run(('SADD', 's', '2', '1'), ('SMEMBERS', 's'), ('SMEMBERS', 'nos'),
               ('SINTER', 's', 's'), ('SUNION', 's', 'nos'), ('SDIFF', 's', 'nos'),
               ('SPOP', 'nos'), ('SPOP', 'nos', '3'), ('SRANDMEMBER', 'nos'),
               ('SRANDMEMBER', 'nos', '3'), ('SRANDMEMBER', 's', '5'), ('SPOP', 's', '5'),
               ('SMISMEMBER', 's', '1'), ('SISMEMBER', 's', '1'))


def test_wrongtype(compat):
    compat.run(('SET', 'str', 'v'), ('SADD', 's', '1'))
    for cmd in (('SADD', 'str', 'a'), ('SREM', 'str', 'a'), ('SCARD', 'str'),
                ('SISMEMBER', 'str', 'a'), ('SMISMEMBER', 'str', 'a'), ('SMEMBERS', 'str'),
                ('SPOP', 'str'), ('SPOP', 'str', '2'), ('SRANDMEMBER', 'str'),
                ('SRANDMEMBER', 'str', '2'), ('SMOVE', 'str', 's', 'a'),
                ('SMOVE', 's', 'str', '1'), ('SMOVE', 'nos', 'str', '1'),
                ('SINTER', 's', 'str'), ('SINTER', 'nos', 'str'), ('SINTERSTORE', 'd', 's', 'str'),
                ('SINTERCARD', '2', 's', 'str'), ('SUNION', 'str', 's'),
                ('SUNIONSTORE', 'd', 'str'), ('SDIFF', 's', 'str'), ('SDIFFSTORE', 'd', 'str', 's'),
                ('SSCAN', 'str', '0'), ('EXISTS', 'd')):
        compat.call(*cmd)


def test_intset_to_hashtable(compat):
    members = [str(i) for i in range(512)]
    compat.run(('SADD', 'big', *members), ('OBJECT', 'ENCODING', 'big'),
               ('SADD', 'big', '512'), ('OBJECT', 'ENCODING', 'big'),
               ('SREM', 'big', '512', '1', '2'), ('OBJECT', 'ENCODING', 'big'),
               ('SADD', 'mixed', '1', '2'), ('OBJECT', 'ENCODING', 'mixed'),
               ('SADD', 'mixed', 'a'), ('OBJECT', 'ENCODING', 'mixed'),
               ('SREM', 'mixed', 'a'), ('OBJECT', 'ENCODING', 'mixed'),
               ('SADD', 'str', 'a'), ('OBJECT', 'ENCODING', 'str'),
               ('SREM', 'str', 'a'), ('SADD', 'str', '1'), ('OBJECT', 'ENCODING', 'str'),
               ('SMOVE', 'mixed', 'newdst', '1'), ('OBJECT', 'ENCODING', 'newdst'),
               ('SADD', 'w', 'x'), ('SMOVE', 'w', 'newdst2', 'x'),
               ('OBJECT', 'ENCODING', 'newdst2'), ('TYPE', 'big'))
    same_members(compat, 'SMEMBERS', 'mixed')


def test_algebra(compat):
    compat.run(('SADD', 'a', '1', '2', '3', '4', '5'), ('SADD', 'b', '4', '5', '6'),
               ('SADD', 'c', '5', '7'), ('SADD', 'x', 'p', 'q', '5', '1'))
    for op in ('SINTER', 'SUNION', 'SDIFF'):
        for keys in (('a', 'b'), ('a', 'b', 'c'), ('b', 'a'), ('a', 'nos'), ('nos', 'a'),
                     ('a',), ('a', 'x'), ('x', 'a'), ('c', 'a', 'b')):
            same_members(compat, op, *keys)
            compat.call(op + 'STORE', 'dst', *keys)
            same_members(compat, 'SMEMBERS', 'dst')
            compat.call('OBJECT', 'ENCODING', 'dst')
    # Intset results come back in ascending order: compare exactly.
    compat.run(('SINTER', 'a', 'b'), ('SUNION', 'a', 'b', 'c'), ('SDIFF', 'a', 'b'),
               ('SINTERSTORE', 'dst', 'nos', 'a'), ('EXISTS', 'dst'),
               ('SET', 'dst', 'string'), ('SUNIONSTORE', 'dst', 'a'), ('TYPE', 'dst'),
               ('SDIFFSTORE', 'dst', 'a', 'a'), ('EXISTS', 'dst'),
               ('SINTERSTORE', 'a', 'a', 'b'), ('SMEMBERS', 'a'))
    compat.run(('SINTERCARD', '2', 'a', 'b'), ('SINTERCARD', '1', 'x'),
               ('SINTERCARD', '2', 'x', 'nos'), ('SINTERCARD', '1', 'x', 'LIMIT', '2'),
               ('SINTERCARD', '1', 'x', 'LIMIT', '0'), ('SINTERCARD', '0', 'x'),
               ('SINTERCARD', 'x', 'x'), ('SINTERCARD', '3', 'x'),
               ('SINTERCARD', '1', 'x', 'LIMIT', '-1'), ('SINTERCARD', '1', 'x', 'LIMIT', 'x'),
               ('SINTERCARD', '1', 'x', 'LIMIT'), ('SINTERCARD', '1', 'x', 'FOO', '1'),
               ('SINTERCARD', '1', 'nos'))


def test_smove(compat):
    compat.run(('SADD', 's', '1', '2', 'a'), ('SADD', 'd', '2'),
               ('SMOVE', 's', 'd', '1'), ('SMOVE', 's', 'd', '2'), ('SMOVE', 's', 'd', '99'),
               ('SMOVE', 's', 's', 'a'), ('SMOVE', 's', 's', 'zz'), ('SMOVE', 'nos', 'd', '1'),
               ('SMOVE', 's', 'new', 'a'), ('EXISTS', 's'), ('SMEMBERS', 'd'),
               ('SMEMBERS', 'new'))


def test_spop_srandmember(compat):
    compat.run(('SADD', 's', '1', '2', '3', '4', '5'), ('SPOP', 's', '-1'), ('SPOP', 's', 'x'),
               ('SPOP', 's', '0'), ('SPOP', 's', '1', '2'), ('SPOP', 'nos'), ('SPOP', 'nos', '2'),
               ('SRANDMEMBER', 's', 'x'), ('SRANDMEMBER', 's', '0'),
               ('SRANDMEMBER', 's', '1', '2'), ('SRANDMEMBER', 'nos'),
               ('SRANDMEMBER', 'nos', '5'), ('SRANDMEMBER', 'nos', '-5'),
               ('SRANDMEMBER', 's', '-9223372036854775808'),
               ('SRANDMEMBER', 's', '10'), ('SRANDMEMBER', 's', '5'), ('SPOP', 's', '10'),
               ('EXISTS', 's'), ('SADD', 'one', 'x'), ('SPOP', 'one'), ('EXISTS', 'one'))


def test_random_shapes(pyredis):
    r = pyredis.client()
    members = {str(i).encode() for i in range(50)} | {b'm%d' % i for i in range(50)}
    r.sadd('s', *members)
    assert r.srandmember('s') in members
    got = r.srandmember('s', 10)
    assert len(got) == 10 and len(set(got)) == 10 and set(got) <= members
    got = r.srandmember('s', -300)
    assert len(got) == 300 and set(got) <= members
    assert set(r.srandmember('s', 1000)) == members
    popped = r.spop('s', 30)
    assert len(set(popped)) == 30 and set(popped) <= members
    assert r.scard('s') == 70
    one = r.spop('s')
    assert one in members and one not in popped
    assert r.scard('s') == 69
    rest = r.spop('s', 100)
    assert len(rest) == 69 and not r.exists('s')
    # SPOP is uniform enough that every member of a small set shows up.
    seen = set()
    for _ in range(200):
        r.sadd('t', 'a', 'b', 'c')
        seen.add(r.spop('t'))
        r.delete('t')
    assert seen == {b'a', b'b', b'c'}


def test_sscan(compat):
    compat.run(('SADD', 's', '5', '1', '10', '3'), ('SSCAN', 's', '0'),
               ('SSCAN', 's', '0', 'MATCH', '1*'), ('SSCAN', 's', '0', 'COUNT', '1'),
               ('SSCAN', 's', '0', 'COUNT', '0'), ('SSCAN', 's', 'x'), ('SSCAN', 'nos', '0'),
               ('SSCAN', 'nos', '0', 'COUNT', '0'), ('SSCAN', 's', '0', 'TYPE', 'set'),
               ('SSCAN', 's', '0', 'MATCH'))


def test_sscan_hashtable(pyredis):
    r = pyredis.client()
    r.sadd('s', *['m%d' % i for i in range(2000)])
    seen = set()
    cursor = 0
    calls = 0
    while True:
        cursor, chunk = r.sscan('s', cursor, count=100)
        seen.update(chunk)
        calls += 1
        if calls == 2:
            r.sadd('s', *['n%d' % i for i in range(5000)])
        if calls == 6:
            r.srem('s', *['n%d' % i for i in range(5000)])
        if cursor == 0:
            break
    assert calls > 5
    assert {b'm%d' % i for i in range(2000)} <= seen
    assert set(r.sscan_iter('s', match='m199*')) == {b'm199'} | {b'm199%d' % i for i in range(10)}


def test_keyspace_events(compat):
    subs = []
    for srv in (compat.ours, compat.theirs):
        conn = RawConn(srv.port)
        conn.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')
        conn.close()
        sub = RawConn(srv.port)
        sub.call('PSUBSCRIBE', '__key*__:*')
        subs.append(sub)
    compat.run(('SADD', 's', '1', '2', '3'), ('SADD', 's', '1'), ('SREM', 's', '9'),
               ('SREM', 's', '1'), ('SMOVE', 's', 'd', '2'), ('SADD', 'o', '1'),
               ('SINTERSTORE', 'i', 's', 'o'), ('SUNIONSTORE', 'u', 's', 'd'),
               ('SDIFFSTORE', 'u', 's', 's'), ('SADD', 'p', '1'), ('SPOP', 'p'),
               ('SADD', 'p', '1', '2'), ('SPOP', 'p', '5'), ('SET', 'end', '1'))
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
    r = pyredis.client(decode_responses=True)
    assert r.sadd('tags', 'a', 'b', 'c') == 3
    assert r.smembers('tags') == {'a', 'b', 'c'}
    assert r.sismember('tags', 'a')
    assert r.smismember('tags', ['a', 'z']) == [1, 0]
    r.sadd('other', 'b', 'z')
    assert r.sinter('tags', 'other') == {'b'}
    assert r.sunion('tags', 'other') == {'a', 'b', 'c', 'z'}
    assert r.sdiff('tags', 'other') == {'a', 'c'}
    assert r.sintercard(2, ['tags', 'other']) == 1
    assert r.smove('tags', 'other', 'a')
    assert r.scard('other') == 3
    r3 = pyredis.client(protocol=3, decode_responses=True)
    assert r3.smembers('other') == {'a', 'b', 'z'}
    r.set('str', 'x')
    with pytest.raises(redis.ResponseError, match='WRONGTYPE'):
        r.sadd('str', 'a')


def test_saved_and_reloaded(compat):
    """Sets, hashes and lists go through an RDB round trip (DEBUG RELOAD)
    with the encodings Redis gives them after loading."""
    compat.run(('SADD', 'ints', '3', '1', '2'), ('SADD', 'strs', 'a', 'b'),
               ('SADD', 'shrunk', 'x', '1'), ('SREM', 'shrunk', 'x'),
               ('HSET', 'h', 'f', 'v'), ('HSET', 'hbig', 'f', 'x' * 100),
               ('RPUSH', 'l', 'a', 'b'), ('OBJECT', 'ENCODING', 'shrunk'))
    compat.call('DEBUG', 'RELOAD')
    compat.run(('SMEMBERS', 'ints'), ('OBJECT', 'ENCODING', 'ints'),
               ('OBJECT', 'ENCODING', 'strs'), ('OBJECT', 'ENCODING', 'shrunk'),
               ('SMEMBERS', 'shrunk'), ('HGETALL', 'h'), ('OBJECT', 'ENCODING', 'hbig'),
               ('LRANGE', 'l', '0', '-1'))
    same_members(compat, 'SMEMBERS', 'strs')
