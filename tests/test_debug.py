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


DEBUG_REQUESTS = [
    ('DEBUG', 'ERROR', 'foo bar'), ('DEBUG', 'ERROR', '-WRONGTYPE x y'), ('DEBUG', 'ERROR'),
    ('DEBUG', 'PROTOCOL', 'foo'), ('DEBUG', 'PROTOCOL'), ('DEBUG', 'JMAP'),
    ('DEBUG', 'LOG', 'hello'), ('DEBUG', 'CHANGE-REPL-ID'),
    ('DEBUG', 'REPLYBUFFER', 'PEAK-RESET-TIME', 'NEVER'),
    ('DEBUG', 'REPLYBUFFER', 'PEAK-RESET-TIME', 'RESET'),
    ('DEBUG', 'REPLYBUFFER', 'PEAK-RESET-TIME', '100'),
    ('DEBUG', 'REPLYBUFFER', 'PEAK-RESET-TIME', 'x'), ('DEBUG', 'REPLYBUFFER', 'RESIZING', '0'),
    ('DEBUG', 'REPLYBUFFER', 'foo'), ('DEBUG', 'REPLYBUFFER', 'foo', 'bar'),
    ('RPUSH', 'l', 'a', 'b', 'c'), ('DEBUG', 'LISTPACK', 'l'), ('HSET', 'h', 'a', 'b'),
    ('DEBUG', 'LISTPACK', 'h'), ('DEBUG', 'LISTPACK', 'nokey'), ('SET', 's', 'v'),
    ('DEBUG', 'LISTPACK', 's'), ('DEBUG', 'QUICKLIST', 'l'), ('DEBUG', 'QUICKLIST', 'h'),
    ('DEBUG', 'SET-ACTIVE-EXPIRE', '1'), ('DEBUG', 'SLEEP', '0'), ('DEBUG', 'HELP'),
    ('DEBUG', 'NOSUCH'),
] + [('DEBUG', 'PROTOCOL', t) for t in (
    'string', 'integer', 'double', 'bignum', 'null', 'array', 'set', 'map', 'attrib', 'push',
    'verbatim', 'true', 'false')]

PFDEBUG_REQUESTS = [
    ('PFADD', 'hll', 'a', 'b', 'c'), ('PFDEBUG', 'ENCODING', 'hll'), ('PFDEBUG', 'DECODE', 'hll'),
    ('PFDEBUG', 'GETREG', 'hll'), ('PFDEBUG', 'ENCODING', 'hll'), ('PFDEBUG', 'DECODE', 'hll'),
    ('PFDEBUG', 'TODENSE', 'hll'), ('PFADD', 'hll2', *['e%d' % i for i in range(300)]),
    ('PFDEBUG', 'DECODE', 'hll2'), ('PFDEBUG', 'TODENSE', 'hll2'), ('PFCOUNT', 'hll2'),
    ('PFDEBUG', 'GETREG', 'hll2'), ('PFDEBUG', 'foo', 'hll'), ('PFDEBUG', 'GETREG', 'hll', 'x'),
    ('PFDEBUG', 'foo', 'hll', 'x'), ('PFDEBUG', 'GETREG', 'nokey'), ('SET', 's', 'v'),
    ('PFDEBUG', 'GETREG', 's'), ('RPUSH', 'l', 'a'), ('PFDEBUG', 'GETREG', 'l'),
    ('PFSELFTEST',), ('PFSELFTEST', 'x'),
]


def test_debug_subcommands(compat):
    for proto in ('2', '3'):
        for conn in (compat.a, compat.b):
            conn.call('HELLO', proto)
        for req in DEBUG_REQUESTS + PFDEBUG_REQUESTS:
            compat.call(*req)
        compat.call('FLUSHALL')


def test_debug_htstats_as_redis(compat):
    """The empty tables' text and every error as redis-server, in RESP2 and
    RESP3 (a verbatim string)."""
    compat.call('DEBUG', 'HTSTATS', '0')
    for args in (('16',), ('-1',), ('x',), (), ('0', 'full')):
        compat.call('DEBUG', 'HTSTATS', *args)
    compat.a.call('HELLO', '3')         # (the client ids differ)
    compat.b.call('HELLO', '3')
    compat.call('DEBUG', 'HTSTATS', '0')


def test_debug_htstats_figures(pyredis):
    """With keys, the figures that do not depend on the hash function are
    Redis's: table sizes (powers of two, one key per bucket at most before
    growing), element counts, and a distribution that adds up to the
    table size."""
    import re
    r = pyredis.client()
    r.execute_command('DEBUG', 'POPULATE', '3000')
    r.expire('key:1', 100)
    while r.execute_command('DEBUG', 'HTSTATS', '0').count(b'rehashing target'):
        r.get('key:2')                       # each lookup moves a bucket
    text = r.execute_command('DEBUG', 'HTSTATS', '0').decode()
    main, expires = text.split('[Expires HT]\n')
    assert main.startswith('[Dictionary HT]\nHash table 0 stats (main hash table):\n'
                           ' table size: 4096\n number of elements: 3000\n')
    shares = re.findall(r'^   (\d+): (\d+) \((\d+\.\d\d)%\)$', main, re.M)
    assert sum(int(n) for _, n, _ in shares) == 4096
    assert sum(int(length) * int(n) for length, n, _ in shares) == 3000
    slots = int(re.search(r'different slots: (\d+)', main).group(1))
    assert re.search(r'avg chain length \(computed\): %.2f' % (3000 / slots), main)
    assert expires.startswith('Hash table 0 stats (main hash table):\n table size: 4\n'
                              ' number of elements: 1\n different slots: 1\n'
                              ' max chain length: 1\n')
