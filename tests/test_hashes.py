"""Hash commands: raw replies compared with redis-server (errors included),
listpack -> hashtable conversion, HSCAN, random fields, keyspace events and
redis-py usage."""

import pytest
import redis

from helpers import RawConn


def resp3(compat):
    compat.a.call('HELLO', '3')
    compat.b.call('HELLO', '3')


def test_basic(compat):
    compat.run(
        ('HSET', 'h', 'a', '1', 'b', '2'), ('HSET', 'h', 'a', '3', 'c', '4'), ('HGET', 'h', 'a'),
        ('HGET', 'h', 'zz'), ('HGET', 'noh', 'a'), ('HMGET', 'h', 'a', 'zz', 'c'),
        ('HMGET', 'noh', 'a', 'b'), ('HLEN', 'h'), ('HLEN', 'noh'), ('HSTRLEN', 'h', 'a'),
        ('HSTRLEN', 'h', 'zz'), ('HSTRLEN', 'noh', 'a'), ('HEXISTS', 'h', 'a'),
        ('HEXISTS', 'h', 'zz'), ('HEXISTS', 'noh', 'a'), ('HKEYS', 'h'), ('HVALS', 'h'),
        ('HGETALL', 'h'), ('HKEYS', 'noh'), ('HVALS', 'noh'), ('HGETALL', 'noh'),
        ('HSETNX', 'h', 'a', 'x'), ('HSETNX', 'h', 'n', 'x'), ('HSETNX', 'new', 'f', 'v'),
        ('HMSET', 'h', 'm', '1', 'n', '2'), ('HGETALL', 'h'),
        ('HDEL', 'h', 'a', 'zz', 'b'), ('HDEL', 'h', 'zz'), ('HDEL', 'noh', 'a'),
        ('HDEL', 'h', 'c', 'm', 'n'), ('EXISTS', 'h'),
        ('HSET', 'h', 'a'), ('HSET', 'h', 'a', '1', 'b'), ('HMSET', 'h', 'a'), ('HSET', 'h'),
        ('HGET', 'h'), ('HDEL', 'h'), ('HSETNX', 'h', 'a'), ('HMGET', 'h'),
    )


def test_resp3(compat):
    resp3(compat)
    compat.run(('HSET', 'h', 'a', '1', 'b', '2'), ('HGETALL', 'h'), ('HGETALL', 'noh'),
               ('HGET', 'h', 'zz'), ('HMGET', 'h', 'a', 'zz'), ('HRANDFIELD', 'noh'),
               ('HRANDFIELD', 'h', '5', 'WITHVALUES'), ('HRANDFIELD', 'noh', '3', 'WITHVALUES'),
               ('HINCRBYFLOAT', 'h', 'a', '1.5'))


def test_wrongtype(compat):
    compat.call('SET', 's', 'v')
    for cmd in (('HSET', 's', 'a', '1'), ('HSETNX', 's', 'a', '1'), ('HMSET', 's', 'a', '1'),
                ('HGET', 's', 'a'), ('HMGET', 's', 'a'), ('HDEL', 's', 'a'), ('HLEN', 's'),
                ('HSTRLEN', 's', 'a'), ('HEXISTS', 's', 'a'), ('HKEYS', 's'), ('HVALS', 's'),
                ('HGETALL', 's'), ('HINCRBY', 's', 'a', '1'), ('HINCRBYFLOAT', 's', 'a', '1'),
                ('HRANDFIELD', 's'), ('HRANDFIELD', 's', '0'), ('HSCAN', 's', '0'),
                ('HSCAN', 's', 'x')):
        compat.call(*cmd)


def test_hincrby(compat):
    compat.run(
        ('HINCRBY', 'h', 'n', '5'), ('HINCRBY', 'h', 'n', '-10'), ('HGET', 'h', 'n'),
        ('HINCRBY', 'h', 'n', 'x'), ('HINCRBY', 'h', 'n', '1.5'),
        ('HINCRBY', 'h', 'n', '9223372036854775807'), ('HSET', 'h', 'big', '9223372036854775807'),
        ('HINCRBY', 'h', 'big', '1'), ('HINCRBY', 'h', 'big', '-1'),
        ('HSET', 'h', 'neg', '-9223372036854775808'), ('HINCRBY', 'h', 'neg', '-1'),
        ('HSET', 'h', 's', 'abc'), ('HINCRBY', 'h', 's', '1'), ('HSET', 'h', 'sp', ' 1'),
        ('HINCRBY', 'h', 'sp', '1'), ('HINCRBY', 'noh', 'f', 'x'), ('EXISTS', 'noh'),
        ('HINCRBY', 'noh2', 'f', '3'), ('HGETALL', 'noh2'),
    )


def test_hincrbyfloat(compat):
    compat.run(
        ('HINCRBYFLOAT', 'h', 'f', '1.5'), ('HINCRBYFLOAT', 'h', 'f', '0.1'),
        ('HINCRBYFLOAT', 'h', 'f', '-1.6'), ('HINCRBYFLOAT', 'h', 'f', '5e3'),
        ('HINCRBYFLOAT', 'h', 'f', '-5000'), ('HINCRBYFLOAT', 'h', 'f', '3.0e-2'),
        ('HINCRBYFLOAT', 'h', 'f', 'x'), ('HINCRBYFLOAT', 'h', 'f', 'inf'),
        ('HINCRBYFLOAT', 'h', 'f', '-inf'), ('HINCRBYFLOAT', 'h', 'f', 'nan'),
        ('HINCRBYFLOAT', 'h', 'f', ' 1'), ('HSET', 'h', 's', 'abc'),
        ('HINCRBYFLOAT', 'h', 's', '1'), ('HSET', 'h', 'i', '10'),
        ('HINCRBYFLOAT', 'h', 'i', '0.25'), ('HINCRBYFLOAT', 'h', 'i', '-0.25'),
        ('HGETALL', 'h'), ('HINCRBYFLOAT', 'noh', 'f', 'x'), ('EXISTS', 'noh'),
    )


def test_hrandfield_errors_and_shapes(compat):
    compat.run(
        ('HSET', 'h', 'a', '1'), ('HRANDFIELD', 'h'), ('HRANDFIELD', 'h', '1'),
        ('HRANDFIELD', 'h', '-1', 'WITHVALUES'), ('HRANDFIELD', 'h', '0'),
        ('HRANDFIELD', 'h', 'x'), ('HRANDFIELD', 'h', '1', 'WITHVALUE'),
        ('HRANDFIELD', 'h', '1', 'WITHVALUES', 'x'), ('HRANDFIELD', 'h', 'x', 'foo'),
        ('HRANDFIELD', 'h', '-9223372036854775808'),
        ('HRANDFIELD', 'h', '-4611686018427387904', 'WITHVALUES'),
        ('HRANDFIELD', 'h', '4611686018427387904', 'WITHVALUES'),
        ('HRANDFIELD', 'noh'), ('HRANDFIELD', 'noh', '5'), ('HRANDFIELD', 'noh', '-5'),
        ('HSET', 'h2', 'a', '1', 'b', '2', 'c', '3'),
        ('HRANDFIELD', 'h2', '3', 'WITHVALUES'), ('HRANDFIELD', 'h2', '10'),
    )


def _parse(conn, *args):
    """A reply decoded with redis-py's parser-free approach: compare sizes."""
    r = conn.call(*args)
    return r


def test_hrandfield_random_counts(pyredis):
    r = pyredis.client()
    fields = {('f%d' % i).encode(): str(i).encode() for i in range(20)}
    r.hset('h', mapping=fields)
    got = r.hrandfield('h', 5)
    assert len(got) == 5 and len(set(got)) == 5 and set(got) <= set(fields)
    got = r.hrandfield('h', -50)
    assert len(got) == 50 and set(got) <= set(fields)
    got = r.hrandfield('h', 8, withvalues=True)
    assert len(got) == 16
    for f, v in zip(got[::2], got[1::2]):
        assert fields[f] == v
    assert len(r.hrandfield('h', -3, withvalues=True)) == 6
    assert r.hrandfield('h') in fields
    r3 = pyredis.client(protocol=3)
    pairs = r3.hrandfield('h', 4, withvalues=True)
    assert len(pairs) == 4 and all(len(p) == 2 and fields[p[0]] == p[1] for p in pairs)


def test_listpack_to_hashtable(compat):
    # Field count: hash-max-listpack-entries (512 in Redis 7.0) fields stay a
    # listpack, one more converts.
    compat.call('HSET', 'h', *[x for i in range(512) for x in ('f%d' % i, 'v')])
    compat.call('OBJECT', 'ENCODING', 'h')
    compat.call('HGETALL', 'h')
    compat.call('HSCAN', 'h', '0')
    compat.call('HSET', 'h', 'one-more', 'v')
    compat.call('OBJECT', 'ENCODING', 'h')
    # One-way: deleting back under the limit keeps the hashtable.
    compat.call('HDEL', 'h', 'one-more', 'f1', 'f2')
    compat.call('OBJECT', 'ENCODING', 'h')
    # Value and field lengths (64 bytes), by each writing command.
    long = 'x' * 65
    compat.run(('HSET', 'v', 'a', 'x' * 64), ('OBJECT', 'ENCODING', 'v'),
               ('HSET', 'v', 'b', long), ('OBJECT', 'ENCODING', 'v'),
               ('HSET', 'f', long, '1'), ('OBJECT', 'ENCODING', 'f'),
               ('HSETNX', 'nx', 'a', long), ('OBJECT', 'ENCODING', 'nx'),
               ('HSET', 'nx2', 'a', '1'), ('HSETNX', 'nx2', 'a', long),
               ('OBJECT', 'ENCODING', 'nx2'),
               ('HMSET', 'm', 'a', '1', 'b', long), ('OBJECT', 'ENCODING', 'm'),
               ('HINCRBY', 'i', long, '1'), ('OBJECT', 'ENCODING', 'i'),
               ('HINCRBYFLOAT', 'fl', long, '1.5'), ('OBJECT', 'ENCODING', 'fl'),
               ('HSET', 'small', 'a', '1'), ('OBJECT', 'ENCODING', 'small'),
               ('TYPE', 'h'), ('TYPE', 'small'))


def test_hscan(compat):
    compat.run(('HSET', 'h', 'a', '1', 'b', '2', 'ab', '3'), ('HSCAN', 'h', '0'),
               ('HSCAN', 'h', '0', 'MATCH', 'a*'), ('HSCAN', 'h', '0', 'COUNT', '1'),
               ('HSCAN', 'h', '0', 'COUNT', '0'), ('HSCAN', 'h', '0', 'COUNT', 'x'),
               ('HSCAN', 'h', '0', 'TYPE', 'string'), ('HSCAN', 'h', '0', 'MATCH'),
               ('HSCAN', 'h', 'x'), ('HSCAN', 'h', '-1'), ('HSCAN', 'noh', '0'),
               ('HSCAN', 'noh', '0', 'COUNT', '0'), ('HSCAN', 'noh', 'x'))


def test_hscan_hashtable_guarantee(pyredis):
    """Every field present for the whole iteration is returned, also when the
    hash grows and shrinks between calls."""
    r = pyredis.client()
    r.hset('h', mapping={'f%d' % i: i for i in range(1000)})
    assert r.object('encoding', 'h') == b'hashtable'
    seen = {}
    cursor = 0
    calls = 0
    while True:
        cursor, chunk = r.hscan('h', cursor, count=50)
        seen.update(chunk)
        calls += 1
        if calls == 3:
            r.hset('h', mapping={'g%d' % i: i for i in range(3000)})
        if calls == 8:
            r.hdel('h', *['g%d' % i for i in range(3000)])
        if cursor == 0:
            break
    assert calls > 5
    assert {('f%d' % i).encode() for i in range(1000)} <= set(seen)
    assert all(v == k[1:] for k, v in seen.items())
    assert sorted(r.hscan_iter('h', match='f99*')) == sorted(
        (('f99%s' % s).encode(), ('99%s' % s).encode()) for s in [''] + list(range(10)))


def test_keyspace_events(compat):
    subs = []
    for srv in (compat.ours, compat.theirs):
        conn = RawConn(srv.port)
        conn.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA')
        conn.close()
        sub = RawConn(srv.port)
        sub.call('PSUBSCRIBE', '__key*__:*')
        subs.append(sub)
    compat.run(('HSET', 'h', 'a', '1', 'b', '2'), ('HSETNX', 'h', 'a', '1'),
               ('HSETNX', 'h', 'c', '1'), ('HMSET', 'h', 'd', '1'), ('HINCRBY', 'h', 'a', '1'),
               ('HINCRBYFLOAT', 'h', 'a', '1.5'), ('HDEL', 'h', 'zz'), ('HDEL', 'h', 'a'),
               ('HDEL', 'h', 'b', 'c', 'd'), ('SET', 'end', '1'))
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
    assert r.hset('user:1', mapping={'name': 'ann', 'age': 30}) == 2
    assert r.hgetall('user:1') == {'name': 'ann', 'age': '30'}
    assert r.hincrby('user:1', 'age', 1) == 31
    assert r.hincrbyfloat('user:1', 'score', 2.5) == 2.5
    assert r.hmget('user:1', ['name', 'nope']) == ['ann', None]
    assert r.hkeys('user:1') == ['name', 'age', 'score']
    assert r.hexists('user:1', 'name')
    assert r.hdel('user:1', 'name', 'age', 'score') == 3
    assert not r.exists('user:1')
    r3 = pyredis.client(protocol=3, decode_responses=True)
    r3.hset('m', 'k', 'v')
    assert r3.hgetall('m') == {'k': 'v'}
    r.set('s', 'x')
    with pytest.raises(redis.ResponseError, match='WRONGTYPE'):
        r.hget('s', 'a')


def test_object_state_forgets_deleted_containers():
    """The side table pins only live containers once swept (unit test)."""
    from pyredis.commands.hashes import ObjectState
    state = ObjectState()
    live, dead = {b'f': b'v'}, {b'g': b'v'}
    state.mark_converted(live)
    state.mark_converted(dead)
    state.set_index(live, None)
    del dead
    state.sweep()
    assert list(state.entries) == [id(live)]
    assert state.converted(live) and not state.converted({})


def test_listpack_bytes_match_redis(compat):
    # A small hash is held as the listpack Redis holds: DUMP (which writes it
    # unchanged) gives the same payload, integers encoded as Redis encodes
    # them, through updates in place (longer, shorter, int <-> string) and
    # deletions; DEBUG RELOAD keeps the encodings and contents.
    values = ['0', '127', '128', '-1', '-4096', '4095', '-4097', '32767', '-32769',
              '8388607', '8388608', '2147483647', '2147483648', '-9223372036854775808',
              '9223372036854775808', '01', '-0', '', 'abc', 'x' * 63, 'y' * 64]
    compat.call('HSET', 'h', *[x for i, v in enumerate(values) for x in (v or 'e%d' % i, v)])
    compat.call('DUMP', 'h')
    compat.run(('HSET', 'h', '127', 'x' * 60), ('HSET', 'h', 'abc', '5'),
               ('HSETNX', 'h', 'new', '-7'), ('HINCRBY', 'h', '0', '1000'),
               ('HINCRBYFLOAT', 'h', '-1', '0.25'), ('HDEL', 'h', '128', 'zz', '-4096'),
               ('DUMP', 'h'), ('HGETALL', 'h'), ('HKEYS', 'h'), ('HVALS', 'h'),
               ('HSCAN', 'h', '0', 'MATCH', '*1*'), ('HSTRLEN', 'h', '-32769'),
               ('HEXISTS', 'h', '8388607'), ('HMGET', 'h', '0', '-0', '01', 'new'),
               ('OBJECT', 'ENCODING', 'h'), ('DEBUG', 'DIGEST-VALUE', 'h'))
    compat.run(('HSET', 'big', *[x for i in range(600) for x in ('f%d' % i, str(i))]),
               ('OBJECT', 'ENCODING', 'big'), ('HSET', 'long', 'a', 'z' * 65),
               ('DEBUG', 'RELOAD'), ('OBJECT', 'ENCODING', 'h'), ('DUMP', 'h'),
               ('OBJECT', 'ENCODING', 'big'), ('OBJECT', 'ENCODING', 'long'),
               ('HGETALL', 'h'), ('DEBUG', 'DIGEST'))
    # RESTORE of a listpack payload keeps it one; with a lower limit it converts.
    payload = compat.a.call('DUMP', 'h')
    compat.run(('CONFIG', 'SET', 'hash-max-listpack-entries', '4'),
               ('RESTORE', 'h2', '0', payload[payload.index(b'\r\n') + 2:-2]),
               ('OBJECT', 'ENCODING', 'h2'), ('HLEN', 'h2'),
               ('HSET', 's', 'a', '1', 'b', '2', 'c', '3', 'd', '4'),
               ('OBJECT', 'ENCODING', 's'), ('HSET', 's', 'e', '5'),
               ('OBJECT', 'ENCODING', 's'), ('CONFIG', 'SET', 'hash-max-listpack-entries', '0'),
               ('HSET', 'z', 'a', '1'), ('OBJECT', 'ENCODING', 'z'),
               # (the servers outlive the test: the default back)
               ('CONFIG', 'SET', 'hash-max-listpack-entries', '512'))


def test_packed_hash_against_dict():
    # The C listpack against a dict under random edits: same contents, same
    # order, and the blob is the listpack lp_build writes for those items.
    import random
    from pyredis.values import PackedHash
    from pyredis.rdb import lp_build_items
    if PackedHash is None:
        pytest.skip('pyredis._listpack not built')
    rnd = random.Random(7)
    vals = [b'', b'0', b'-1', b'127', b'128', b'-4096', b'4095', b'-4097', b'32767',
            b'-32769', b'8388607', b'2147483648', b'9223372036854775807',
            b'-9223372036854775808', b'9223372036854775808', b'01', b'-0', b'abc',
            b'x' * 63, b'y' * 64, b'z' * 4095, b'w' * 4096, b'q' * 20000]
    h, d = PackedHash(), {}
    for i in range(5000):
        f = rnd.choice(vals[:12]) + (b'%d' % rnd.randrange(30) if rnd.random() < .5 else b'')
        if rnd.random() < .6:
            v = rnd.choice(vals)
            assert h.set(f, v) == (f not in d)
            d[f] = v
        else:
            assert h.pop(f, None) == d.pop(f, None)
        assert len(h) == len(d)
        if i % 250 == 0:
            assert h.items() == list(d.items()) and h == d
            flat = [x for kv in d.items() for x in kv]
            assert h.blob() == lp_build_items(flat)
            assert PackedHash(h.blob()) == d
    for f, v in d.items():
        assert h[f] == v and f in h and h.get(f) == v
    assert h.get(b'nope') is None and b'nope' not in h
    with pytest.raises(ValueError):
        PackedHash(b'\x07\x00\x00\x00\x01\x00\xff')
