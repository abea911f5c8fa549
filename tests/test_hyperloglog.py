"""HyperLogLog: byte compatibility with redis-server (the same commands give
the same strings, sparse and dense; strings move between the servers with
GET/SET and keep counting the same), PFCOUNT/PFMERGE results and errors."""

import random

import pytest

from pyredis.commands import hyperloglog as hll


def _elements(seed, n):
    rnd = random.Random(seed)
    return ['e%d-%d' % (seed, rnd.randrange(10 ** 9)) for _ in range(n)]


def test_murmurhash_and_pattern():
    # Known MurmurHash64A values (seed 0xadc83b19) computed by the C code.
    assert hll.murmurhash64a(b'') == hll.murmurhash64a(bytearray())
    idx, count = hll.pat_len(b'hello')
    assert 0 <= idx < 16384 and 1 <= count <= 51


def test_dense_pack_roundtrip():
    rnd = random.Random(1)
    regs = bytearray(rnd.randrange(64) for _ in range(16384))
    packed = hll.dense_pack(regs)
    assert len(packed) == 12288
    assert hll.dense_unpack(bytes(packed)) == regs
    for i in (0, 1, 2, 3, 4, 5, 16383):
        assert hll.dense_get(packed, 0, i) == regs[i]


def test_pfadd_bytes_identical_sparse(compat):
    compat.call('PFADD', 'h')
    compat.call('GET', 'h')
    for chunk in range(20):
        compat.call('PFADD', 'h', *_elements(chunk, 7))
        compat.call('GET', 'h')
    compat.call('PFCOUNT', 'h')
    compat.call('GET', 'h')   # the cached cardinality is now valid
    compat.call('PFADD', 'h', 'e0-1')


def test_pfadd_bytes_identical_promotion_to_dense(compat):
    # Grows through the whole sparse range into dense (hll-sparse-max-bytes).
    for chunk in range(30):
        compat.call('PFADD', 'h', *_elements(100 + chunk, 100))
        if chunk % 5 == 0:
            compat.call('GET', 'h')
            compat.call('PFCOUNT', 'h')
    compat.call('GET', 'h')
    compat.call('PFCOUNT', 'h')
    compat.call('STRLEN', 'h')


def test_small_sparse_max_bytes_promotes_early(compat):
    compat.call('CONFIG', 'SET', 'hll-sparse-max-bytes', '100')
    try:
        for chunk in range(5):
            compat.call('PFADD', 'h', *_elements(200 + chunk, 10))
            compat.call('GET', 'h')
    finally:
        compat.call('CONFIG', 'SET', 'hll-sparse-max-bytes', '3000')


def _move(src, dst, key, newkey):
    raw = src.get(key)
    dst.set(newkey, raw)
    return raw


@pytest.mark.parametrize('n', [5, 300, 5000])
def test_strings_move_between_servers(pyredis, real_redis, n):
    ours, theirs = pyredis.client(), real_redis.client()
    elems = _elements(n, n)
    ours.pfadd('a', *elems)
    theirs.pfadd('b', *elems)
    # pyredis -> redis
    raw = _move(ours, theirs, 'a', 'a')
    assert raw[:4] == b'HYLL' and raw[4] == (1 if n < 1000 else 0)
    assert theirs.pfcount('a') == ours.pfcount('a') == theirs.pfcount('b')
    # redis -> pyredis
    _move(theirs, ours, 'b', 'b')
    assert ours.pfcount('b') == theirs.pfcount('b')
    # Both keep working on the moved strings, identically.
    more = _elements(n + 1, 50)
    ours.pfadd('b', *more)
    theirs.pfadd('a', *more)
    assert ours.get('b') == theirs.get('a')
    assert ours.pfcount('b') == theirs.pfcount('a')


def test_pfcount_and_merge(compat):
    compat.call('PFADD', 's1', *_elements(1, 20))
    compat.call('PFADD', 's2', *_elements(2, 40))
    compat.call('PFADD', 'd1', *_elements(3, 3000))
    compat.call('PFADD', 'd2', *_elements(4, 2000))
    compat.run(
        ('PFCOUNT', 's1', 's2'), ('PFCOUNT', 's1', 'd1', 'nokey'), ('PFCOUNT', 'nokey'),
        ('PFCOUNT', 'nokey', 'nokey2'),
        ('PFMERGE', 'm1', 's1', 's2'), ('GET', 'm1'), ('PFCOUNT', 'm1'),
        ('PFMERGE', 'm2', 's1', 'd1'), ('GET', 'm2'), ('PFCOUNT', 'm2'),
        ('PFMERGE', 'd2', 'd1'), ('GET', 'd2'), ('PFCOUNT', 'd2'),
        ('PFMERGE', 's1', 's2', 'nokey'), ('GET', 's1'),
        ('PFMERGE', 'empty'), ('GET', 'empty'), ('PFCOUNT', 'empty'),
        ('PFMERGE', 'empty2', 'nokey'), ('GET', 'empty2'),
    )
    # Larger sparse merges, into an empty and into a non-empty destination,
    # one of them crossing hll-sparse-max-bytes on the way.
    compat.call('PFADD', 's3', *_elements(5, 500))
    compat.call('PFADD', 's4', *_elements(6, 700))
    compat.run(('PFMERGE', 'm3', 's3'), ('GET', 'm3'), ('PFMERGE', 's3', 's4'), ('GET', 's3'),
               ('PFMERGE', 'm4', 's4', 's1', 's2'), ('GET', 'm4'), ('PFCOUNT', 'm4'))


def test_errors(compat):
    compat.run(
        ('SET', 'str', 'not an hll'), ('ZADD', 'z', '1', 'a'),
        ('PFADD', 'str', 'a'), ('PFADD', 'z', 'a'), ('PFCOUNT', 'str'), ('PFCOUNT', 'z'),
        ('PFCOUNT', 'str', 'nokey'), ('PFCOUNT', 'nokey', 'z'), ('PFMERGE', 'str', 'nokey'),
        ('PFMERGE', 'dst', 'str'), ('PFMERGE', 'dst', 'z'), ('EXISTS', 'dst'),
        ('SET', 'bad', 'HYLL\x02' + '\x00' * 20), ('PFCOUNT', 'bad'),
        ('SET', 'baddense', 'HYLL\x00' + '\x00' * 20), ('PFADD', 'baddense', 'x'),
        # A sparse HLL whose opcodes do not cover the 16384 registers.
        ('SET', 'corrupt', 'HYLL\x01' + '\x00' * 11 + '\x7f\x00'),
        ('PFCOUNT', 'corrupt'), ('PFADD', 'corrupt', 'a', 'b', 'c'),
        ('PFMERGE', 'x', 'corrupt'),
        ('PFADD',), ('PFCOUNT',),
    )


def test_keyspace_event(pyredis):
    r = pyredis.client()
    r.config_set('notify-keyspace-events', 'KEA')
    p = r.pubsub()
    p.psubscribe('__keyevent@0__:*')
    p.get_message(timeout=1)
    r.pfadd('h', 'a')
    r.pfmerge('h2', 'h')
    got = []
    for _ in range(2):
        m = p.get_message(timeout=2)
        got.append((m['channel'], m['data']))
    assert got == [(b'__keyevent@0__:pfadd', b'h'), (b'__keyevent@0__:pfadd', b'h2')]
    p.close()
