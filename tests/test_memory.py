"""MEMORY commands against redis-server (replies compared byte for byte
where they do not depend on the allocator), MEMORY USAGE/STATS shapes, the
OOM/OBJECT error strings."""

import pytest


def test_memory_help_and_errors(compat):
    compat.run(
        ('MEMORY', 'HELP'),
        ('MEMORY', 'help'),
        ('MEMORY',),
        ('MEMORY', 'nosuch'),
        ('MEMORY', 'USAGE'),
        ('MEMORY', 'DOCTOR', 'extra'),
        ('MEMORY', 'PURGE'),
        ('MEMORY', 'HELP', 'extra'),
        ('MEMORY', 'STATS', 'extra'),
        ('MEMORY', 'MALLOC-STATS', 'extra'),
    )


def test_memory_usage_errors(compat):
    compat.run(
        ('SET', 'foo', 'bar'),
        ('MEMORY', 'USAGE', 'nokey'),
        ('MEMORY', 'USAGE', 'nokey', 'SAMPLES', '5'),
        ('MEMORY', 'USAGE', 'foo', 'SAMPLES'),
        ('MEMORY', 'USAGE', 'foo', 'SAMPLES', 'x'),
        ('MEMORY', 'USAGE', 'foo', 'SAMPLES', '-1'),
        ('MEMORY', 'USAGE', 'foo', 'bar', '1'),
        ('MEMORY', 'USAGE', 'foo', 'SAMPLES', '1', 'SAMPLES'),
        ('MEMORY', 'USAGE', 'nokey', 'SAMPLES', 'x'),
    )


def test_memory_doctor_empty(server_factory, real_redis):
    # Fresh servers: the session ones hold what earlier tests left behind
    # (cached scripts, function libraries...), which can take redis-server
    # past the 5 MB under which it calls itself empty.
    ours = server_factory('pyredis').raw()
    theirs = server_factory('redis').raw()
    for args in [('MEMORY', 'DOCTOR'), ('HELLO', '3'), ('MEMORY', 'DOCTOR')]:
        a, b = ours.call(*args), theirs.call(*args)
        if args[0] == 'MEMORY':
            assert a == b
    ours.close()
    theirs.close()


def test_memory_usage_values(pyredis):
    r = pyredis.client()
    r.set('s', 'x' * 1000)
    r.rpush('l', *range(1000))
    r.hset('h', mapping={'f%d' % i: i for i in range(1000)})
    r.sadd('set', *range(1000))
    r.zadd('z', {'m%d' % i: i for i in range(1000)})
    assert 1000 < r.memory_usage('s') < 1300
    for key in ('l', 'h', 'set', 'z'):
        exact = r.memory_usage(key, samples=0)
        sampled = r.memory_usage(key)
        # (a list of small integers is a listpack of 3 bytes per element,
        # redis-server says 3200)
        assert 1000 * (2 if key == 'l' else 20) < exact < 1000 * 300, (key, exact)
        assert 0.5 * exact < sampled < 2 * exact, (key, exact, sampled)
    assert r.memory_usage('nokey') is None


def test_memory_stats_shape(pyredis):
    r = pyredis.client()
    r.set('a', 'b')
    conn = pyredis.raw()
    raw = conn.call('MEMORY', 'STATS')
    conn.close()
    for field in (b'peak.allocated', b'total.allocated', b'startup.allocated',
                  b'keys.count', b'dataset.bytes', b'fragmentation', b'db.0',
                  b'overhead.hashtable.main'):
        assert b'$%d\r\n%s\r\n' % (len(field), field) in raw
    assert raw.startswith(b'*')
    assert b'$10\r\nkeys.count\r\n:1\r\n' in raw
    r3 = pyredis.client(protocol=3)
    stats3 = r3.execute_command('MEMORY', 'STATS')
    assert isinstance(stats3, dict)


def test_memory_malloc_stats_and_purge(pyredis):
    r = pyredis.client()
    assert r.execute_command('MEMORY', 'MALLOC-STATS') == \
        b'Stats not supported for the current allocator'
    assert r.execute_command('MEMORY', 'PURGE') in (b'OK', 'OK', True)


def _policy(compat, policy):
    compat.call('CONFIG', 'SET', 'maxmemory-policy', policy)


def test_object_freq_idletime_errors(compat):
    compat.call('SET', 'k', 'v')
    try:
        compat.call('OBJECT', 'FREQ', 'k')
        _policy(compat, 'allkeys-lfu')
        compat.call('OBJECT', 'IDLETIME', 'k')
        compat.call('OBJECT', 'FREQ', 'nokey')
        compat.call('SET', 'n', 'v')
        compat.call('OBJECT', 'FREQ', 'n')
        _policy(compat, 'volatile-lfu')
        compat.call('OBJECT', 'IDLETIME', 'n')
        _policy(compat, 'allkeys-lru')
        compat.call('OBJECT', 'FREQ', 'k')
    finally:
        _policy(compat, 'noeviction')


def test_oom_error_matches(compat):
    compat.call('SET', 'k', 'v')
    try:
        compat.call('CONFIG', 'SET', 'maxmemory', '1')
        compat.run(
            ('SET', 'x', 'y'),
            ('GET', 'k'),
            ('LPUSH', 'l', 'a'),
            ('DEL', 'k'),
            ('MULTI',),
            ('GET', 'k'),
            ('EXEC',),
            ('MULTI',),
            ('DISCARD',),
        )
    finally:
        compat.call('CONFIG', 'SET', 'maxmemory', '0')


@pytest.mark.parametrize('policy', ['volatile-lru', 'volatile-lfu', 'volatile-random',
                                    'volatile-ttl', 'allkeys-lru', 'allkeys-lfu',
                                    'allkeys-random', 'noeviction'])
def test_config_policies(compat, policy):
    try:
        compat.call('CONFIG', 'SET', 'maxmemory-policy', policy)
        compat.call('CONFIG', 'GET', 'maxmemory-policy')
    finally:
        compat.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
