"""What scripts do besides replying: their writes reach the AOF and the
replicas as the commands they ran (wrapped in MULTI/EXEC when more than
one, never the EVAL itself), fire keyspace events, count in INFO
commandstats, and see time frozen at the script's start. Compared with
redis-server 7.0: the AOF bytes, the replication stream bytes, the events."""

import re
import time

import pytest

from helpers import RawConn, REDIS_SERVER
from test_aof import incr_bytes, server_factory  # noqa: F401 (the fixture)
from test_replication import _readexact, _readline, info, wait_for

needs_redis = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')
# Relative TTLs are propagated as absolute Unix milliseconds: masked.
MS = re.compile(rb'\$13\r\n\d{13}')


# SPOP's member is random: propagated as SREM of it, masked.
SREM = re.compile(rb'SREM\r\n\$1\r\ns\r\n\$1\r\n[abc]')


def _same_stream(mine, real):
    def mask(b):
        return SREM.sub(b'SREM ?', MS.sub(b'MS', b)).split(b'\r\n')
    assert mask(mine) == mask(real)

# The same sequence run on both servers: scripts that write once, twice,
# never, across databases, inside MULTI, partly before an error, with
# set_repl, and read-only ones.
COMMANDS = [
    ('SET', 'before', '1'),
    ('EVAL', 'redis.call("set", KEYS[1], ARGV[1]); redis.call("set", KEYS[2], ARGV[2])',
     '2', 'a', 'b', '1', '2'),
    ('EVAL', 'return redis.call("incr", KEYS[1])', '1', 'counter'),
    ('EVAL', 'return redis.call("get", KEYS[1])', '1', 'a'),
    ('EVAL', 'redis.call("select", 3); redis.call("set", "in3", "x"); '
             'redis.call("select", 0); return redis.call("set", "in0", "y")', '0'),
    ('EVAL', 'redis.call("lpush", "l", "x"); return redis.call("nosuch")', '0'),
    ('EVAL', 'redis.call("set", "keep", "1"); redis.set_repl(redis.REPL_NONE); '
             'redis.call("set", "local", "1"); redis.set_repl(redis.REPL_ALL); '
             'redis.call("set", "again", "1")', '0'),
    ('EVAL_RO', 'return redis.call("get", "a")', '0'),
    # set_repl: each command to the AOF, the replicas, both or neither.
    ('EVAL', 'redis.set_repl(redis.REPL_AOF); redis.call("set", "ra", "1"); '
             'redis.set_repl(redis.REPL_REPLICA); redis.call("set", "rb", "2"); '
             'redis.set_repl(redis.REPL_ALL); redis.call("set", "rc", "3"); '
             'redis.set_repl(redis.REPL_NONE); redis.call("set", "rd", "4")', '0'),
    ('EVAL', 'redis.set_repl(redis.REPL_AOF); redis.call("set", "aof_only", "1")', '0'),
    ('EVAL', 'redis.set_repl(redis.REPL_SLAVE); redis.call("set", "repl_only", "1")', '0'),
    ('EVAL', 'redis.call("set", "first", "1"); redis.set_repl(redis.REPL_AOF); '
             'redis.call("set", "then_aof", "1")', '0'),
    ('MULTI',),
    ('EVAL', 'redis.set_repl(redis.REPL_AOF); redis.call("set", "in_multi", "1")', '0'),
    ('SET', 'after', '1'),
    ('EXEC',),
    ('MULTI',),
    ('SET', 'm', '1'),
    ('EVAL', 'redis.call("incr", "m"); return redis.call("incr", "m")', '0'),
    ('EXEC',),
    ('SELECT', '5'),
    ('EVAL', 'return redis.call("set", "five", "5")', '0'),
    ('EVAL', 'redis.call("set", "x", "1", "EX", 100); return redis.call("expire", "x", 200)',
     '0'),
    ('SELECT', '0'),
    ('SCRIPT', 'LOAD', 'return redis.call("hset", KEYS[1], "f", ARGV[1])'),
    ('EVALSHA', '9de5846fac56a4b9fabbf96ef68a3f3c2f708469', '1', 'h', 'v'),
    ('EVAL', 'redis.call("sadd", "s", "a", "b", "c"); return redis.call("spop", "s")', '0'),
    # A key already expired is deleted by the script's access: the DEL is
    # propagated with the script's writes.
    ('DEBUG', 'SET-ACTIVE-EXPIRE', '0'),
    ('SET', 'old', 'v', 'PXAT', '1000'),
    ('EVAL', 'redis.call("get", "old"); return redis.call("set", "new", "1")', '0'),
]


def _run(srv):
    conn = srv.raw()
    replies = [conn.call(*cmd) for cmd in COMMANDS]
    conn.close()
    return replies


@needs_redis
def test_aof_holds_the_effects_as_redis_writes_them(server_factory):  # noqa: F811
    ours = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'always')
    theirs = server_factory('redis', '--appendonly', 'yes', '--appendfsync', 'always')
    ra, rb = _run(ours), _run(theirs)
    # (SPOP's member is random: the reply is masked, the AOF compared up to it.)
    assert [r for r in ra if not r.startswith(b'$1\r\n')] == \
        [r for r in rb if not r.startswith(b'$1\r\n')]
    _same_stream(incr_bytes(ours), incr_bytes(theirs))


def _psync(port):
    conn = RawConn(port)
    conn.call('REPLCONF', 'capa', 'psync2')
    conn.send_command('PSYNC', '?', '-1')
    assert _readline(conn).startswith(b'+FULLRESYNC ')
    # A master sends bare newlines as keepalives until the RDB is ready.
    size = int(_readline(conn).lstrip(b'\n')[1:])
    _readexact(conn, size)
    return conn


@needs_redis
def test_replication_stream_matches_redis(server_factory):  # noqa: F811
    ours = server_factory('pyredis')
    theirs = server_factory('redis')
    streams = []
    for srv in (ours, theirs):
        conn = _psync(srv.port)
        start = info(srv)['master_repl_offset']
        _run(srv)
        length = info(srv)['master_repl_offset'] - start
        streams.append(_readexact(conn, length))
        conn.close()
    mine, real = streams
    _same_stream(mine, real)
    assert b'EVAL' not in mine and b'MULTI' in mine


@needs_redis
def test_redis_replica_gets_the_effects(server_factory):  # noqa: F811
    master = server_factory('pyredis')
    replica = server_factory('redis')
    rc = replica.raw()
    rc.call('REPLICAOF', '127.0.0.1', str(master.port))
    wait_for(lambda: info(replica).get('master_link_status') == 'up', what='link')
    m = master.client()
    m.eval('redis.call("set", "a", "1"); redis.call("set", "b", "2"); '
           'redis.call("lpush", "l", "x", "y")', 0)
    m.eval('redis.call("set", "local", "1"); redis.set_repl(redis.REPL_NONE); '
           'redis.call("set", "local", "2")', 0)
    wait_for(lambda: rc.call('GET', 'local') == b'$1\r\n1\r\n', what='replicated')
    assert rc.call('MGET', 'a', 'b') == b'*2\r\n$1\r\n1\r\n$1\r\n2\r\n'
    assert rc.call('LRANGE', 'l', '0', '-1') == b'*2\r\n$1\r\ny\r\n$1\r\nx\r\n'
    assert m.get('local') == b'2'
    rc.call('REPLICAOF', 'NO', 'ONE')
    rc.close()


@needs_redis
def test_keyspace_events_from_scripts_match_redis(server_factory):  # noqa: F811
    events = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, '--notify-keyspace-events', 'KEA')
        sub = srv.raw()
        sub.call('PSUBSCRIBE', '__key*__:*')
        conn = srv.raw()
        conn.call('EVAL', 'redis.call("set", "a", "1"); redis.call("incr", "a"); '
                          'redis.call("expire", "a", 100); redis.call("del", "a"); '
                          'redis.call("hset", "h", "f", "v")', '0')
        conn.call('PING')
        got = [sub.read_reply() for _ in range(10)]
        events.append(got)
        sub.close()
        conn.close()
    assert events[0] == events[1]


@needs_redis
def test_time_is_frozen_during_a_script(server_factory):  # noqa: F811
    # A key that expires while the script runs stays visible to it.
    script = ('redis.call("set", "k", "v", "PX", 20); local t = redis.call("time"); '
              'local start = t[1] * 1000000 + t[2]; local now = start; '
              'while now - start < 60000 do t = redis.call("time"); '
              'now = t[1] * 1000000 + t[2] end; '
              'return {redis.call("exists", "k"), redis.call("get", "k")}')
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind)
        conn = srv.raw()
        assert conn.call('EVAL', script, '0') == b'*2\r\n:1\r\n$1\r\nv\r\n', kind
        time.sleep(0.1)
        assert conn.call('EXISTS', 'k') == b':0\r\n', kind
        conn.close()


@needs_redis
def test_commandstats_count_script_calls_as_redis(server_factory):  # noqa: F811
    out = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind)
        conn = srv.raw()
        conn.call('CONFIG', 'RESETSTAT')
        for cmd in COMMANDS:
            conn.call(*cmd)
        stats = {}
        for line in conn.call('INFO', 'commandstats').decode().split('\r\n'):
            if line.startswith('cmdstat_'):
                name, rest = line.split(':', 1)
                fields = dict(f.split('=') for f in rest.split(','))
                stats[name] = (fields['calls'], fields['rejected_calls'],
                               fields['failed_calls'])
        errs = sorted(x for x in conn.call('INFO', 'errorstats').decode().split('\r\n')
                      if x.startswith('errorstat'))
        out.append((stats, errs))
        conn.close()
    assert out[0] == out[1]
