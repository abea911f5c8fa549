"""FUNCTION and FCALL: replies compared with redis-server (RESP2 and RESP3),
libraries persisted in the RDB (RDB_OPCODE_FUNCTION2, read by redis-server
and the reverse), in the AOF, sent to replicas, and FUNCTION DUMP payloads
exchanged both ways; redis-py's function_load/fcall."""

import os
import time

import pytest

from helpers import REDIS_SERVER, RawConn
from test_aof import server_factory  # noqa: F401 (waits for the AOF to load)
from test_replication import info, wait_for

needs_redis = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')

# "COMMAND|arg|arg", \n in an argument is a newline.
SEQUENCE = [
    'FUNCTION FLUSH',
    'FUNCTION LOAD|return 1',
    'FUNCTION LOAD|#!lua\\nreturn 1',
    'FUNCTION LOAD|#!lua name=bad-name\\nreturn 1',
    'FUNCTION LOAD|#!lua name=l1 foo=bar\\nreturn 1',
    'FUNCTION LOAD|#!js name=l1\\nreturn 1',
    'FUNCTION LOAD|#!lua name=l1\\nreturn 1',
    'FUNCTION LOAD|#!lua name=l1\\nredis.register_function("f1", function(keys, args) retur'
    'n {keys[1], args[1]} end)',
    'FUNCTION LOAD|#!lua name=l1\\nredis.register_function("f1", function() end)',
    'FUNCTION LOAD|#!lua name=l2\\nredis.register_function("f1", function() end)',
    'FUNCTION LOAD|#!lua name=l2\\nredis.register_function("bad-f", function() end)',
    'FUNCTION LOAD|#!lua name=l2\\nredis.call("ping")',
    'FUNCTION LOAD|#!lua name=l2\\nreturn +',
    'FUNCTION LOAD|#!lua name=l2\\nerror("x")',
    'FUNCTION LOAD|#!lua name=l2\\nredis.register_function{function_name="f2", callback=fun'
    'ction() return redis.call("set","x","1") end, flags={"no-writes"}, description="desc"}',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function{function_name="f3", callback=fun'
    'ction() return 1 end, flags={"bad"}}',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function{function_name="f3", callback=fun'
    'ction() return 1 end, foo=1}',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function("f3")',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function()',
    'FUNCTION LOAD|#!lua name=l3\\nlocal x = 1 x = y',
    'FUNCTION LOAD|#!lua name=l3\\nx = 1',
    'FUNCTION LOAD|#!lua name=l3\\nreturn redis.setresp(3)',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function{callback=function() end}',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function{function_name="x"}',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function(1, function() end)',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function("f", 1)',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function({function_name=1, callback=funct'
    'ion() end})',
    'FUNCTION LOAD|#!lua name=l3\\nredis.register_function("f3", function() return 3 end)\\'
    'nreturn redis.log(redis.LOG_WARNING, "loading")',
    'FUNCTION LOAD|#!lua name=l4',
    'FUNCTION LOAD|#!lua',
    'FUNCTION LOAD|#!lua name=l6 name=l7\\nredis.register_function("f7", function() return 7 end)',
    'FUNCTION LOAD|#!LUA name=l5\\nredis.register_function("f5", function() return redis.re'
    'gister_function end)',
    'FUNCTION LOAD|#!lua name=l8\\nredis.register_function("f8", function(k, a) return {#k,'
    ' #a, type(KEYS)} end)',
    'FUNCTION LOAD|#!lua name=l9\\nredis.register_function("f9", function(k, a) return nosu'
    'ch end)',
    'FUNCTION LOAD|#!lua name=l10\\nlocal function helper() return "h" end\\nredis.register'
    '_function("f10", function(k, a) return helper() .. string.upper("x") .. redis.call("pi'
    'ng")["ok"] end)',
    'FUNCTION LOAD|BAD|x',
    'FUNCTION LOAD|REPLACE|#!lua name=l5\\nredis.register_function("f5b", function() return'
    ' 55 end)',
    'FCALL|f1|1|k|a',
    'FCALL|f2|0',
    'FCALL_RO|f1|0',
    'FCALL_RO|f2|0',
    'FCALL|nosuch|0',
    'FCALL|f1|5',
    'FCALL|f1|-1',
    'FCALL|f1|x',
    'FCALL|f3|0',
    'FCALL|F3|0',
    'FCALL|f5|0',
    'FCALL|f5b|0',
    'FCALL|f8|2|a|b|c',
    'FCALL|f9|0',
    'FCALL|f10|0',
    'FUNCTION LIST|LIBRARYNAME|l1',
    'FUNCTION LIST|LIBRARYNAME|l2|WITHCODE',
    'FUNCTION LIST|LIBRARYNAME',
    'FUNCTION LIST|foo',
    'FUNCTION LIST|withcode|withcode',
    'FUNCTION LIST|LIBRARYNAME|nomatch*',
    'FUNCTION STATS',
    'FUNCTION DELETE|nosuch',
    'FUNCTION DELETE|l1',
    'FUNCTION FLUSH|bad',
    'FUNCTION KILL',
    'FUNCTION HELP',
    'FUNCTION RESTORE|bad',
    'FUNCTION RESTORE|x|y',
]

LIB = ('#!lua name=mylib\n'
       'local function helper(keys, args) return redis.call("incrby", keys[1], args[1]) end\n'
       'redis.register_function("add", helper)\n'
       'redis.register_function{function_name="peek", callback=function(keys) '
       'return redis.call("get", keys[1]) end, flags={"no-writes"}, description="read"}\n')


def _args(line):
    parts = [a.replace('\\n', '\n') for a in line.split('|')]
    return parts[0].split(' ') + parts[1:]


@needs_redis
@pytest.mark.parametrize('resp', [2, 3])
def test_function_commands_match_redis(server_factory, resp):  # noqa: F811
    ours, theirs = server_factory('pyredis'), server_factory('redis')
    a, b = RawConn(ours.port), RawConn(theirs.port)
    if resp == 3:
        a.call('HELLO', '3')
        b.call('HELLO', '3')
    for line in SEQUENCE:
        args = _args(line)
        assert a.call(*args) == b.call(*args), line
    a.close()
    b.close()


def _load(conn):
    assert conn.call('FUNCTION', 'LOAD', LIB) == b'$5\r\nmylib\r\n'


def _works(conn):
    assert conn.call('FCALL', 'add', '1', 'n', '5').startswith(b':')
    assert conn.call('FCALL_RO', 'peek', '1', 'n').startswith(b'$')


@needs_redis
def test_dump_payload_both_ways(server_factory):  # noqa: F811
    ours, theirs = server_factory('pyredis'), server_factory('redis')
    a, b = RawConn(ours.port), RawConn(theirs.port)
    _load(a)
    _load(b)
    # One library: the same payload, byte for byte.
    pa, pb = a.call('FUNCTION', 'DUMP'), b.call('FUNCTION', 'DUMP')
    assert pa == pb
    payload = pa.split(b'\r\n', 1)[1][:-2]
    for conn in (a, b):
        assert conn.call('FUNCTION', 'FLUSH') == b'+OK\r\n'
    # Ours into redis-server, redis-server's into ours.
    assert b.call('FUNCTION', 'RESTORE', payload) == b'+OK\r\n'
    assert a.call('FUNCTION', 'RESTORE', payload) == b'+OK\r\n'
    _works(a)
    _works(b)
    for conn in (a, b):
        assert conn.call('FUNCTION', 'RESTORE', payload) == \
            b'-ERR Library mylib already exists\r\n'
        assert conn.call('FUNCTION', 'RESTORE', payload, 'REPLACE') == b'+OK\r\n'
        assert conn.call('FUNCTION', 'RESTORE', payload, 'FLUSH') == b'+OK\r\n'
        assert conn.call('FUNCTION', 'RESTORE', payload[:-1] + b'x') == \
            b'-ERR DUMP payload version or checksum are wrong\r\n'
    a.close()
    b.close()


@needs_redis
def test_rdb_functions_load_into_redis_and_back(server_factory):  # noqa: F811
    ours = server_factory('pyredis')
    a = RawConn(ours.port)
    _load(a)
    a.call('SET', 'n', '5')
    assert a.call('SAVE') == b'+OK\r\n'
    a.close()
    # redis-server starts from pyredis's file.
    theirs = server_factory('redis', '--dir', ours.dir, '--dbfilename', 'dump.rdb')
    b = RawConn(theirs.port)
    _works(b)
    assert b'mylib' in b.call('FUNCTION', 'LIST')
    b.call('FUNCTION', 'LOAD', '#!lua name=theirs\nredis.register_function("t", '
           'function() return "t" end)')
    assert b.call('SAVE') == b'+OK\r\n'
    b.close()
    # And pyredis from redis-server's.
    back = server_factory('pyredis', '--dir', ours.dir, '--dbfilename', 'dump.rdb')
    c = RawConn(back.port)
    _works(c)
    assert c.call('FCALL', 't', '0') == b'$1\r\nt\r\n'
    assert c.call('DEBUG', 'RELOAD') == b'+OK\r\n'
    assert c.call('FCALL', 't', '0') == b'$1\r\nt\r\n'
    c.close()


@pytest.mark.parametrize('preamble', ['yes', 'no'])
def test_functions_survive_restart_from_aof(server_factory, preamble):  # noqa: F811
    srv = server_factory('pyredis', '--appendonly', 'yes', '--aof-use-rdb-preamble', preamble)
    a = RawConn(srv.port)
    _load(a)
    a.call('FUNCTION', 'LOAD', '#!lua name=gone\nredis.register_function("g", '
           'function() return 1 end)')
    a.call('FUNCTION', 'DELETE', 'gone')
    a.call('FCALL', 'add', '1', 'n', '5')
    a.close()
    srv.stop()
    again = server_factory('pyredis', '--appendonly', 'yes', '--aof-use-rdb-preamble', preamble,
                           port=srv.port, cwd=srv.dir)
    b = RawConn(again.port)
    assert b.call('FCALL', 'add', '1', 'n', '5') == b':10\r\n'
    assert b.call('FCALL', 'g', '0') == b'-ERR Function not found\r\n'
    # After a rewrite (an RDB preamble or FUNCTION LOAD commands) too.
    assert b.call('BGREWRITEAOF').startswith(b'+')
    wait_for(lambda: info(again, 'persistence')['aof_rewrite_in_progress'] == 0
             and info(again, 'persistence')['aof_rewrite_scheduled'] == 0, what='rewrite')
    time.sleep(0.2)
    b.close()
    again.stop()
    third = server_factory('pyredis', '--appendonly', 'yes', '--aof-use-rdb-preamble', preamble,
                           port=again.port, cwd=again.dir)
    c = RawConn(third.port)
    assert c.call('FCALL', 'add', '1', 'n', '1') == b':11\r\n'
    c.close()
    names = os.listdir(os.path.join(again.dir, 'appendonlydir'))
    assert any('.base.' in n for n in names)


@needs_redis
def test_functions_reach_a_redis_replica(server_factory):  # noqa: F811
    master = server_factory('pyredis')
    m = RawConn(master.port)
    _load(m)        # before the sync: in the RDB
    replica = server_factory('redis')
    r = RawConn(replica.port)
    r.call('REPLICAOF', '127.0.0.1', str(master.port))
    wait_for(lambda: info(replica).get('master_link_status') == 'up', what='link')
    wait_for(lambda: b'mylib' in r.call('FUNCTION', 'LIST'), what='library in the sync')
    # after it: in the stream
    m.call('FUNCTION', 'LOAD', '#!lua name=later\nredis.register_function{function_name="later", '
           'callback=function() return "later" end, flags={"no-writes"}}')
    m.call('FCALL', 'add', '1', 'n', '7')
    wait_for(lambda: r.call('GET', 'n') == b'$1\r\n7\r\n', what='fcall effects')
    assert r.call('FCALL_RO', 'peek', '1', 'n') == b'$1\r\n7\r\n'
    assert r.call('FCALL', 'later', '0') == b'$5\r\nlater\r\n'
    # A function that may write is refused on a read-only replica.
    assert r.call('FCALL', 'add', '1', 'n', '1').startswith(b'-READONLY')
    m.call('FUNCTION', 'DELETE', 'later')
    wait_for(lambda: r.call('FCALL', 'later', '0') == b'-ERR Function not found\r\n',
             what='delete')
    m.call('FUNCTION', 'FLUSH')
    wait_for(lambda: r.call('FUNCTION', 'LIST') == b'*0\r\n', what='flush')
    r.call('REPLICAOF', 'NO', 'ONE')
    m.close()
    r.close()


def test_redis_py_functions(pyredis):
    r = pyredis.client()
    r.function_flush()
    assert r.function_load(LIB) == 'mylib' or r.function_list()
    assert r.fcall('add', 1, 'n', 3) == 3
    assert r.fcall_ro('peek', 1, 'n') == b'3'
    assert r.function_load(LIB, replace=True)
    libs = r.function_list()
    assert libs[0][b'library_name'] == b'mylib' if isinstance(libs[0], dict) else True
    payload = r.function_dump()
    r.function_flush()
    assert r.function_restore(payload)
    assert r.fcall('add', 1, 'n', 1) == 4
    r.function_delete('mylib')
    assert r.function_list() == []


@needs_redis
def test_function_load_timeout_matches_redis(server_factory):  # noqa: F811
    """A library whose loading does not end is stopped after 500 ms."""
    code = '#!lua name=spin\nlocal i = 0 while true do i = i + 1 end'
    replies = []
    for kind in ('pyredis', 'redis'):
        conn = server_factory(kind).raw()
        replies.append((conn.call('FUNCTION', 'LOAD', code), conn.call('PING'),
                        conn.call('FUNCTION', 'LIST')))
        conn.close()
    assert replies[0] == replies[1]
    assert replies[0][0] == b'-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n'


@needs_redis
def test_pyredis_replica_of_redis_master_gets_functions_and_effects(server_factory):  # noqa: F811
    master = server_factory('redis')
    m = RawConn(master.port)
    _load(m)        # in the full sync's RDB
    replica = server_factory('pyredis')
    r = RawConn(replica.port)
    r.call('REPLICAOF', '127.0.0.1', str(master.port))
    wait_for(lambda: info(replica).get('master_link_status') == 'up', what='link')
    wait_for(lambda: b'mylib' in r.call('FUNCTION', 'LIST'), what='library in the sync')
    m.call('FCALL', 'add', '1', 'n', '7')
    m.call('EVAL', 'redis.call("set", "a", "1"); redis.call("set", "b", "2")', '0')
    m.call('FUNCTION', 'LOAD', '#!lua name=later\nredis.register_function{function_name="later", '
           'callback=function() return "later" end, flags={"no-writes"}}')
    wait_for(lambda: r.call('FCALL', 'later', '0') == b'$5\r\nlater\r\n', what='stream')
    assert r.call('MGET', 'n', 'a', 'b') == b'*3\r\n$1\r\n7\r\n$1\r\n1\r\n$1\r\n2\r\n'
    assert r.call('FCALL_RO', 'peek', '1', 'n') == b'$1\r\n7\r\n'
    r.call('REPLICAOF', 'NO', 'ONE')
    m.close()
    r.close()


@needs_redis
def test_function_commands_in_the_aof_match_redis(server_factory):  # noqa: F811
    from test_aof import incr_bytes
    files = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, '--appendonly', 'yes', '--appendfsync', 'always')
        conn = srv.raw()
        _load(conn)
        payload = conn.call('FUNCTION', 'DUMP').split(b'\r\n', 1)[1][:-2]
        for args in [('SCRIPT', 'LOAD', 'return 1'), ('SCRIPT', 'FLUSH'),
                     ('FCALL', 'add', '1', 'n', '2'), ('FCALL_RO', 'peek', '1', 'n'),
                     ('function', 'load', 'replace', LIB), ('FUNCTION', 'DELETE', 'mylib'),
                     ('FUNCTION', 'DELETE', 'mylib'), ('FUNCTION', 'RESTORE', payload),
                     ('FUNCTION', 'FLUSH'), ('FUNCTION', 'FLUSH', 'ASYNC')]:
            conn.call(*args)
        conn.close()
        files.append(incr_bytes(srv))
    assert files[0].split(b'\r\n') == files[1].split(b'\r\n')
