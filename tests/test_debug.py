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


def test_debug_reload_errors_as_redis(compat):
    """DEBUG RELOAD NOSAVE with no dump file, then with a corrupt one: the
    server stays up and answers as redis-server 7.0.15."""
    import os
    paths = [os.path.join(srv.dir, 'dump.rdb') for srv in (compat.ours, compat.theirs)]
    for path in paths:
        if os.path.exists(path):
            os.unlink(path)
    try:
        compat.call('DEBUG', 'RELOAD', 'NOSAVE')
        for path in paths:
            with open(path, 'wb') as f:
                f.write(b'garbage\n')
        compat.call('DEBUG', 'RELOAD', 'NOSAVE')
        compat.call('PING')
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)


DEBUG_KNOBS = [
    ('DEBUG', 'STRINGMATCH-TEST', 'x'),
    ('DEBUG', 'LEAK', 'some string'), ('DEBUG', 'LEAK'),
    ('DEBUG', 'AOF-FLUSH-SLEEP', '0'), ('DEBUG', 'AOF-FLUSH-SLEEP'),
    ('DEBUG', 'SET-SKIP-CHECKSUM-VALIDATION', '0'), ('DEBUG', 'SET-DISABLE-DENY-SCRIPTS', '0'),
    ('DEBUG', 'PAUSE-CRON', '0'), ('DEBUG', 'PAUSE-CRON'), ('DEBUG', 'PAUSE-CRON', '0', '1'),
    ('DEBUG', 'MALLCTL', 'x'), ('DEBUG', 'MALLCTL', 'x', '1'), ('DEBUG', 'MALLCTL'),
    ('DEBUG', 'MALLCTL-STR', 'x'), ('DEBUG', 'MALLCTL-STR', 'x', 'y'),
    ('DEBUG', 'MALLCTL', 'x', '1', '2'),
    ('DEBUG', 'CLIENT-EVICTION'), ('DEBUG', 'CLIENT-EVICTION', 'x'),
    ('DEBUG', 'SDSLEN'),
]


def test_debug_knobs_as_redis(compat):
    for proto in ('2', '3'):
        for conn in (compat.a, compat.b):
            conn.call('HELLO', proto)
        for req in DEBUG_KNOBS:
            compat.call(*req)


def test_debug_stringmatch_test_as_redis(pyredis, real_redis):
    """(redis-server runs ten million cycles: a few seconds.)"""
    from helpers import RawConn
    replies = []
    for srv in (pyredis, real_redis):
        conn = RawConn(srv.port, timeout=120)
        replies.append(conn.call('DEBUG', 'STRINGMATCH-TEST'))
        conn.close()
    assert replies[0] == replies[1] == b'+Apparently Redis did not crash: test passed\r\n'


def test_debug_sdslen_as_redis(compat):
    """DEBUG SDSLEN's figures for the strings pyredis models as Redis
    allocates them: embstr values, raw values SET stored (trimmed when the
    allocation left more than a tenth spare), keys of every sds header
    size; the errors for other encodings and types."""
    values = {'key': 'hello', 'k3': 'x' * 100, 'K' * 40: 'v' * 50, 'k4': 'y' * 45,
              'k5': 'z' * 1000, 'k6': 'w' * 300, 'k7': '1' * 30, 'n': '12345', 'f': '1.5',
              'L' * 300: 'x' * 70000}
    for k, v in values.items():
        compat.call('SET', k, v)
    compat.call('INCRBYFLOAT', 'f', '1')
    compat.call('RPUSH', 'l', 'a')
    compat.call('APPEND', 'ap', 'x' * 50)
    compat.call('APPEND', 'ap', 'y' * 10)
    compat.call('APPEND', 'k5', 'y' * 10)
    compat.call('SETRANGE', 'sr', '100', 'x')
    for k in list(values) + ['ap', 'sr', 'l', 'nokey']:
        compat.call('DEBUG', 'SDSLEN', k)


def test_debug_client_eviction_buckets(compat):
    """With maxmemory-clients set, the bucket table in Redis's layout
    (the figures depend on each server's clients)."""
    import re
    compat.call('CONFIG', 'SET', 'maxmemory-clients', '100mb')
    try:
        texts = [conn.call('DEBUG', 'CLIENT-EVICTION') for conn in (compat.a, compat.b)]
        masked = [re.sub(rb'tot-mem: +\d+, clients: \d+', b'tot-mem: N, clients: N', t)
                  .split(b'\r\n', 1)[1] for t in texts]
        assert masked[0] == masked[1]
        assert masked[0].count(b'\n') == 20
    finally:
        compat.call('CONFIG', 'SET', 'maxmemory-clients', '0')


def test_debug_skip_checksum_and_deny_scripts(compat):
    """SET-SKIP-CHECKSUM-VALIDATION 1 lets RESTORE take a payload whose
    CRC is wrong (not one of a newer RDB version); SET-DISABLE-DENY-SCRIPTS
    1 lets a script call a noscript command."""
    compat.call('SET', 'foo', 'bar')
    good = compat.a.call('DUMP', 'foo')
    payload = good.split(b'\r\n')[1]
    bad = payload[:-8] + b'\0' * 8
    newer = payload[:-10] + b'\xff\x00' + payload[-8:]
    for skip in ('0', '1', '0'):
        compat.call('DEBUG', 'SET-SKIP-CHECKSUM-VALIDATION', skip)
        compat.call('RESTORE', 'r', '0', bad, 'REPLACE')
        compat.call('RESTORE', 'r', '0', newer, 'REPLACE')
        compat.call('GET', 'r')
    script = "return redis.call('client', 'getname')"
    for deny in ('0', '1', '0'):
        compat.call('DEBUG', 'SET-DISABLE-DENY-SCRIPTS', deny)
        compat.call('EVAL', script, '0')


def test_debug_pause_cron(compat):
    """PAUSE-CRON 1 stops serverCron: a key past its expiry stays in the
    keyspace (DBSIZE does not expire it) until PAUSE-CRON 0."""
    import time
    compat.call('DEBUG', 'PAUSE-CRON', '1')
    try:
        compat.call('SET', 'k', 'v', 'PX', '20')
        time.sleep(0.5)
        compat.call('DBSIZE')
    finally:
        compat.call('DEBUG', 'PAUSE-CRON', '0')
    for _ in range(100):
        if compat.a.call('DBSIZE') == compat.b.call('DBSIZE') == b':0\r\n':
            break
        time.sleep(0.05)
    compat.call('DBSIZE')


def test_debug_skip_checksum_on_rdb_load(compat):
    """DEBUG RELOAD NOSAVE of a dump whose CRC was damaged: refused, then
    loaded after SET-SKIP-CHECKSUM-VALIDATION 1."""
    import os
    paths = [os.path.join(srv.dir, 'dump.rdb') for srv in (compat.ours, compat.theirs)]
    try:
        compat.call('SET', 'k', 'v')
        compat.call('SAVE')
        for path in paths:
            with open(path, 'r+b') as f:
                f.seek(-1, os.SEEK_END)
                last = f.read(1)
                f.seek(-1, os.SEEK_END)
                f.write(bytes([last[0] ^ 0xff]))
        compat.call('DEBUG', 'RELOAD', 'NOSAVE')
        compat.call('DEBUG', 'SET-SKIP-CHECKSUM-VALIDATION', '1')
        compat.call('DEBUG', 'RELOAD', 'NOSAVE')
        compat.call('GET', 'k')
    finally:
        compat.call('DEBUG', 'SET-SKIP-CHECKSUM-VALIDATION', '0')
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)
