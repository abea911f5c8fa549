"""DEBUG subcommands compared with redis-server."""


def test_debug_populate(compat):
    compat.call('SET', 'key:3', 'mine')
    compat.call('DEBUG', 'POPULATE', '10')
    compat.call('DEBUG', 'POPULATE', '5', 'p', '3')
    compat.call('DEBUG', 'POPULATE', '3', 'q', '12')
    compat.call('MGET', *['key:%d' % i for i in range(11)])
    compat.call('MGET', 'p:0', 'p:4', 'q:0', 'q:2')
    compat.call('DBSIZE')
    for args in (('-1',), ('x',), ('1', 'p', '-1'), ('1', 'p', 'x'), ('1', 'p', '1', 'extra')):
        compat.call('DEBUG', 'POPULATE', *args)


def _dataset(call):
    call('SET', 's', 'v')
    call('SET', 'n', '123')
    call('SET', 'big', 'x' * 100)
    call('APPEND', 'ap', '12')
    call('SET', 'ex', 'v', 'EX', '1000')
    call('RPUSH', 'l', 'a', 'b', '1', '-5', 'x' * 70)
    call('RPUSH', 'biglist', *[str(i) * (i % 7 + 1) for i in range(600)])
    call('SADD', 'iset', '1', '2', '3', '-9')
    call('SADD', 'sset', 'a', 'b', '1')
    call('SADD', 'bigset', *['m%d' % i for i in range(700)])
    call('HSET', 'h', 'f', 'v', 'g', '1')
    call('HSET', 'bigh', *[x for i in range(600) for x in ('f%d' % i, 'v%d' % i)])
    call('ZADD', 'z', '1.5', 'a', '2', 'b', '0.1', 'c', '-0', 'd', 'inf', 'e', '-inf', 'f',
         '1e20', 'g', '3.141592653589793', 'h', '12345678901234567', 'i')
    call('ZADD', 'bigz', *[x for i in range(300) for x in ('%r' % (i / 7.0), 'm%d' % i)])
    call('XADD', 'x', '1-1', 'f', 'v', 'g', 'w')
    call('XADD', 'x', '2-5', 'f', 'v2')
    call('XADD', 'x', '3-0', 'other', 'field')
    call('XDEL', 'x', '2-5')
    call('PEXPIRE', 'l', '100000')
    call('SELECT', '3')
    call('SET', 's', 'v')
    call('ZADD', 'z', '1', 'a')
    call('SELECT', '0')


def test_debug_digest_as_redis(compat):
    compat.call('DEBUG', 'DIGEST')
    _dataset(compat.call)
    compat.call('DEBUG', 'DIGEST')
    compat.call('DEBUG', 'DIGEST-VALUE', 's', 'n', 'big', 'ap', 'ex', 'l', 'biglist', 'iset',
                'sset', 'bigset', 'h', 'bigh', 'z', 'bigz', 'x', 'nokey')
    compat.call('DEBUG', 'DIGEST-VALUE')
    # Same content, other order or database: other digests.
    compat.call('DEL', 'l')
    compat.call('RPUSH', 'l', 'b', 'a', '1', '-5', 'x' * 70)
    compat.call('DEBUG', 'DIGEST')
    compat.call('MOVE', 's', '5')
    compat.call('DEBUG', 'DIGEST')
    compat.call('FLUSHALL')
    compat.call('DEBUG', 'DIGEST')


def test_debug_digest_survives_reload(server_factory):
    srv = server_factory('pyredis')
    r = srv.client()
    _dataset(lambda *a: r.execute_command(*a))
    before = r.execute_command('DEBUG', 'DIGEST')
    r.execute_command('DEBUG', 'RELOAD')
    assert r.execute_command('DEBUG', 'DIGEST') == before
    r.close()
