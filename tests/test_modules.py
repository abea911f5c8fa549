"""Commands written in Python (pyredis/modules): MODULE LOAD/LOADEX/LIST/
UNLOAD against redis-server's replies, the example modules end to end over
real sockets (redis-py, raw RESP, redis-cli), and a test module for the
API's corners: replies in RESP2/RESP3, typed keys, blocking, propagation.
"""

import os
import subprocess
import time

import pytest
import redis

from helpers import ROOT, RawConn

TESTKIT = os.path.join(ROOT, 'tests', 'pymodules', 'testkit.py')
RATELIMIT = 'pyredis.modules.examples.ratelimit'
JSONDOC = 'pyredis.modules.examples.jsondoc'


def _wait(cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def _aof_text(srv):
    d = os.path.join(srv.dir, 'appendonlydir')
    out = b''
    for name in sorted(os.listdir(d)):
        if name.endswith('.aof'):
            with open(os.path.join(d, name), 'rb') as f:
                out += f.read()
    return out


# -- MODULE against redis-server ---------------------------------------------------------

def test_module_command_replies_match_redis(server_factory):
    ours = server_factory('pyredis', '--enable-module-command', 'yes')
    theirs = server_factory('redis', '--enable-module-command', 'yes')
    a, b = RawConn(ours.port), RawConn(theirs.port)
    for cmd in (['MODULE', 'LIST'], ['MODULE', 'LOAD', '/nonexistent/module.so'],
                ['MODULE', 'LOAD', '/nonexistent/module.so', 'a', 'b'],
                ['MODULE', 'LOADEX', '/nonexistent/module.so', 'CONFIG', 'x', 'y', 'ARGS', 'z'],
                ['MODULE', 'LOADEX', '/nonexistent/module.so', 'FOO'],
                ['MODULE', 'UNLOAD', 'nosuchmodule'], ['MODULE', 'HELP'], ['MODULE'],
                ['MODULE', 'FOO'], ['MODULE', 'LIST', 'x'], ['MODULE', 'UNLOAD'],
                ['COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'nosuchmodule']):
        assert a.call(*cmd) == b.call(*cmd), cmd
    a.call('HELLO', '3')
    b.call('HELLO', '3')
    assert a.call('MODULE', 'LIST') == b.call('MODULE', 'LIST') == b'*0\r\n'


def test_module_load_is_a_protected_action_as_in_redis(server_factory):
    ours = server_factory('pyredis')
    theirs = server_factory('redis')
    a, b = RawConn(ours.port), RawConn(theirs.port)
    for cmd in (['MODULE', 'LOAD', RATELIMIT], ['MODULE', 'UNLOAD', 'x'],
                ['MODULE', 'LOADEX', RATELIMIT], ['MODULE', 'LIST']):
        assert a.call(*cmd) == b.call(*cmd), cmd
    assert b'MODULE command not allowed' in a.call('MODULE', 'LOAD', RATELIMIT)


# -- the rate limiter ----------------------------------------------------------------------

def test_ratelimit_loaded_and_introspected(server_factory):
    srv = server_factory('pyredis', '--enable-module-command', 'yes')
    r = srv.client()
    count = r.command_count()
    raw = srv.raw()
    with pytest.raises(redis.ResponseError, match='unknown command'):
        r.execute_command('RATELIMIT.HIT', 'k', 3, 10000)
    assert r.execute_command('MODULE', 'LOAD', RATELIMIT) == b'OK'
    assert raw.call('MODULE', 'LIST') == (
        b'*1\r\n*8\r\n$4\r\nname\r\n$9\r\nratelimit\r\n$3\r\nver\r\n:1\r\n$4\r\npath\r\n'
        b'$34\r\npyredis.modules.examples.ratelimit\r\n$4\r\nargs\r\n*0\r\n')
    assert r.command_count() == count + 2
    hits = [r.execute_command('RATELIMIT.HIT', 'k', 3, 10000) for _ in range(4)]
    assert [h[:2] for h in hits] == [[1, 2], [1, 1], [1, 0], [0, 0]]
    assert all(0 < h[2] <= 10000 for h in hits)
    assert r.execute_command('RATELIMIT.PEEK', 'k', 3)[0] == 0
    assert r.type('k') == b'string' and r.get('k') == b'3'
    assert 0 < r.pttl('k') <= 10000
    # Arity, errors, WRONGTYPE as the table and the API give them.
    assert raw.call('RATELIMIT.HIT', 'k') == \
        b"-ERR wrong number of arguments for 'ratelimit.hit' command\r\n"
    assert raw.call('RATELIMIT.HIT', 'k', 'x', '1') == \
        b'-ERR limit is not an integer or out of range\r\n'
    r.rpush('list', 'a')
    assert raw.call('RATELIMIT.HIT', 'list', '1', '1') == \
        b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'
    # COMMAND INFO / DOCS / GETKEYS / LIST, as Redis shows a module command.
    assert raw.call('COMMAND', 'INFO', 'ratelimit.hit') == (
        b'*1\r\n*10\r\n$13\r\nratelimit.hit\r\n:4\r\n*4\r\n+write\r\n+denyoom\r\n+module\r\n'
        b'+fast\r\n:1\r\n:1\r\n:1\r\n*2\r\n+@write\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n'
        b'$5\r\nflags\r\n*3\r\n+RW\r\n+access\r\n+update\r\n$12\r\nbegin_search\r\n*4\r\n'
        b'$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n'
        b'$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n'
        b'$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n')
    docs = raw.call('COMMAND', 'DOCS', 'ratelimit.peek')
    assert docs.startswith(b'*2\r\n$14\r\nratelimit.peek\r\n*12\r\n$7\r\nsummary\r\n')
    assert b'$5\r\ngroup\r\n$6\r\nmodule\r\n' in docs
    assert b'$6\r\nmodule\r\n$9\r\nratelimit\r\n' in docs
    assert r.command_getkeys('RATELIMIT.HIT', 'a', '1', '2') in ([b'a'], ['a'])
    assert raw.call('COMMAND', 'LIST', 'FILTERBY', 'MODULE', 'ratelimit') in (
        b'*2\r\n$13\r\nratelimit.hit\r\n$14\r\nratelimit.peek\r\n',
        b'*2\r\n$14\r\nratelimit.peek\r\n$13\r\nratelimit.hit\r\n')
    assert b'ratelimit.hit' in raw.call('COMMAND', 'LIST')
    assert b'ratelimit.peek' in raw.call('COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'read')
    assert b'module:name=ratelimit,ver=1' in raw.call('INFO', 'modules')
    # redis-cli talks to it like any command.
    out = subprocess.run(['redis-cli', '-p', str(srv.port), 'RATELIMIT.HIT', 'cli', '5',
                          '60000'], capture_output=True, text=True, timeout=10).stdout
    assert out.splitlines()[:2] == ['1', '4']
    # Unloaded: gone from the table.
    assert r.execute_command('MODULE', 'UNLOAD', 'ratelimit') == b'OK'
    assert r.command_count() == count
    assert raw.call('RATELIMIT.HIT', 'k', '1', '1').startswith(
        b"-ERR unknown command 'RATELIMIT.HIT'")
    assert raw.call('MODULE', 'LIST') == b'*0\r\n'
    assert raw.call('MODULE', 'UNLOAD', 'ratelimit') == \
        b'-ERR Error unloading module: no such module with that name\r\n'
    # And loaded again, from its file this time.
    path = os.path.join(ROOT, 'pyredis', 'modules', 'examples', 'ratelimit.py')
    assert r.execute_command('MODULE', 'LOAD', path) == b'OK'
    assert r.execute_command('RATELIMIT.HIT', 'k2', 1, 1000)[0] == 1


def test_ratelimit_replicated_as_effects(server_factory):
    master = server_factory('pyredis', '--loadmodule', RATELIMIT, '--appendonly', 'yes')
    replica = server_factory('pyredis', '--loadmodule', RATELIMIT, '--replicaof',
                             '127.0.0.1', str(master.port))
    m, rep = master.client(), replica.client()
    assert _wait(lambda: rep.info('replication')['master_link_status'] == 'up')
    m.execute_command('RATELIMIT.HIT', 'rl', 2, 50000)
    m.execute_command('RATELIMIT.HIT', 'rl', 2, 50000)
    m.execute_command('RATELIMIT.HIT', 'rl', 2, 50000)     # refused: not propagated
    m.set('fence', 1)
    assert _wait(lambda: rep.get('fence') == b'1')
    assert rep.get('rl') == b'2'
    assert rep.execute_command('PEXPIRETIME', 'rl') == m.execute_command('PEXPIRETIME', 'rl')
    aof = _aof_text(master)
    assert b'RATELIMIT' not in aof.upper()
    assert b'PEXPIREAT' in aof and b'INCRBY' in aof
    # A replica refuses the write (read-only), serves the read.
    with pytest.raises(redis.ReadOnlyError):
        rep.execute_command('RATELIMIT.HIT', 'rl', 2, 50000)
    assert rep.execute_command('RATELIMIT.PEEK', 'rl', 5)[0] == 3


def test_module_commands_obey_acl_multi_scripts_oom(server_factory):
    srv = server_factory('pyredis', '--enable-module-command', 'yes')
    r = srv.client()
    r.execute_command('ACL', 'SETUSER', 'early', 'on', 'nopass', '-@all', '+@write', '~*')
    r.execute_command('MODULE', 'LOAD', RATELIMIT)
    r.execute_command('ACL', 'SETUSER', 'limited', 'on', 'nopass', '-@all', '+ratelimit.hit',
                      '~rl:*')
    r.execute_command('ACL', 'SETUSER', 'writers', 'on', 'nopass', '-@all', '+@write', '~*')
    assert b'ratelimit.hit' in r.execute_command('ACL', 'CAT', 'write')
    lim = srv.client(username='limited', password='x')
    assert lim.execute_command('RATELIMIT.HIT', 'rl:a', 5, 1000)[0] == 1
    with pytest.raises(redis.exceptions.NoPermissionError, match='keys'):
        lim.execute_command('RATELIMIT.HIT', 'other', 5, 1000)
    with pytest.raises(redis.exceptions.NoPermissionError, match="'ratelimit.peek'"):
        lim.execute_command('RATELIMIT.PEEK', 'rl:a', 5)
    # +@write given after the load covers the module's write command; given
    # before it, not (Redis 7.0's ACL bitmaps).
    assert srv.client(username='writers', password='x').execute_command(
        'RATELIMIT.HIT', 'w', 1, 1000)[0] == 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        srv.client(username='early', password='x').execute_command('RATELIMIT.HIT', 'w', 1,
                                                                    1000)
    assert any(b'+ratelimit.hit' in u for u in r.acl_list() if isinstance(u, bytes)) or \
        any('+ratelimit.hit' in u for u in r.acl_list())
    # MULTI queues it; EXEC runs it.
    p = r.pipeline(transaction=True)
    p.execute_command('RATELIMIT.HIT', 'tx', 1, 5000)
    p.execute_command('RATELIMIT.HIT', 'tx', 1, 5000)
    assert [x[0] for x in p.execute()] == [1, 0]
    # From a script.
    assert r.eval("return redis.call('RATELIMIT.HIT', KEYS[1], 2, 5000)", 1, 'lua')[:2] == \
        [1, 1]
    # maxmemory: refused as denyoom, the read still served.
    r.config_set('maxmemory', 1)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        r.execute_command('RATELIMIT.HIT', 'oom', 1, 1000)
    assert r.execute_command('RATELIMIT.PEEK', 'oom', 1) == [1, -1]
    r.config_set('maxmemory', 0)


def test_module_writes_fire_events_watch_and_tracking(server_factory):
    srv = server_factory('pyredis', '--loadmodule', RATELIMIT, '--notify-keyspace-events',
                         'KEA')
    r = srv.client()
    p = r.pubsub()
    p.psubscribe('__keyevent@0__:*')
    p.get_message(timeout=2)
    r.execute_command('RATELIMIT.HIT', 'ev', 3, 10000)
    r.execute_command('RATELIMIT.HIT', 'ev', 3, 10000)
    events = []
    while True:
        msg = p.get_message(timeout=1)
        if msg is None:
            break
        events.append(msg['channel'].split(b':')[-1])
    assert events == [b'set', b'expire', b'incrby']
    # WATCH sees a module's write.
    other = srv.client()
    with r.pipeline() as pipe:
        pipe.watch('ev')
        other.execute_command('RATELIMIT.HIT', 'ev', 3, 10000)
        pipe.multi()
        pipe.get('ev')
        with pytest.raises(redis.WatchError):
            pipe.execute()
    # Client-side caching: a tracked key written by a module is invalidated.
    raw = srv.raw()
    raw.call('HELLO', '3')
    raw.call('CLIENT', 'TRACKING', 'on')
    raw.call('GET', 'ev')
    other.execute_command('RATELIMIT.HIT', 'ev', 9, 10000)
    assert raw.read_reply() == b'>2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nev\r\n'


# -- the JSON document type ----------------------------------------------------------------

def _fill_docs(r):
    assert r.execute_command('JSON.SET', 'doc', '$', '{"a":{"b":[1,2,{"c":true}]},"n":1.5}') \
        == b'OK'
    assert r.execute_command('JSON.SET', 'doc', '$.a.x', '"hi"', 'NX') == b'OK'
    assert r.execute_command('JSON.SET', 'doc', '$.a.x', '"ho"', 'NX') is None
    assert r.execute_command('JSON.SET', 'doc', '.a.b[0]', '10', 'XX') == b'OK'
    r.execute_command('JSON.SET', 'gone', '$', '[1]')
    assert r.execute_command('JSON.DEL', 'gone') == 1
    r.execute_command('JSON.SET', 'ttl', '$', '{"t":1}')
    r.pexpire('ttl', 100000)


DOC = b'{"a":{"b":[10,2,{"c":true}],"x":"hi"},"n":1.5}'


def _check_docs(r):
    assert r.execute_command('JSON.GET', 'doc') == DOC
    assert r.exists('gone') == 0
    assert r.execute_command('JSON.GET', 'ttl') == b'{"t":1}'
    assert 0 < r.pttl('ttl') <= 100000
    assert r.type('doc') == b'PyJSONdoc'


def test_jsondoc_commands(server_factory):
    srv = server_factory('pyredis', '--loadmodule', JSONDOC, '--enable-module-command', 'yes')
    r = srv.client()
    _fill_docs(r)
    _check_docs(r)
    assert r.execute_command('JSON.GET', 'doc', '$.a.b[2].c') == b'[true]'
    assert r.execute_command('JSON.GET', 'doc', '$.nope') == b'[]'
    assert r.execute_command('JSON.GET', 'doc', '.a.x', '$.n') == b'{".a.x":"hi","$.n":[1.5]}'
    assert r.execute_command('JSON.TYPE', 'doc', '$.a') == [b'object']
    assert r.execute_command('JSON.TYPE', 'doc', '.n') == b'number'
    assert r.execute_command('JSON.TYPE', 'nokey') is None
    assert r.execute_command('JSON.GET', 'nokey') is None
    with pytest.raises(redis.ResponseError, match='new objects must be created at the root'):
        r.execute_command('JSON.SET', 'newkey', '$.a', '1')
    r.set('str', 'v')
    with pytest.raises(redis.ResponseError, match='WRONGTYPE'):
        r.execute_command('JSON.GET', 'str')
    assert r.object('encoding', 'doc') == b'raw'
    out = subprocess.run(['redis-cli', '-p', str(srv.port), 'JSON.GET', 'doc', '$.a.x'],
                         capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == '["hi"]'
    out = subprocess.run(['redis-cli', '-p', str(srv.port), 'TYPE', 'doc'],
                         capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == 'PyJSONdoc'
    assert r.scan(0, _type='PyJSONdoc')[1] == [b'doc'] or \
        sorted(r.scan_iter(_type='pyjsondoc')) == [b'doc', b'ttl']
    assert sorted(r.scan_iter(_type='pyjsondoc')) == [b'doc', b'ttl']
    assert r.memory_usage('doc') > len(DOC)
    assert len(r.execute_command('DEBUG', 'DIGEST-VALUE', 'doc')[0]) == 40
    assert r.rename('doc', 'renamed') and r.execute_command('JSON.GET', 'renamed') == DOC
    r.rename('renamed', 'doc')
    # COPY, DUMP/RESTORE keep the document.
    assert r.copy('doc', 'doc2')
    r.restore('doc3', 0, r.dump('doc'))
    assert r.execute_command('JSON.GET', 'doc3') == DOC == r.execute_command('JSON.GET', 'doc2')
    with pytest.raises(redis.ResponseError, match="the module exports one or more module-side "
                                                   "data types, can't unload"):
        r.execute_command('MODULE', 'UNLOAD', 'jsondoc')


def test_jsondoc_persists_in_rdb(server_factory, tmp_path):
    srv = server_factory('pyredis', '--loadmodule', JSONDOC)
    _fill_docs(srv.client())
    srv.client().save()
    srv.stop()
    rdb = os.path.join(srv.dir, 'dump.rdb')
    check = subprocess.run(['redis-check-rdb', rdb], capture_output=True, text=True)
    assert 'RDB looks OK' in check.stdout, check.stdout
    again = server_factory('pyredis', '--loadmodule', JSONDOC, cwd=srv.dir)
    _check_docs(again.client())
    again.stop()
    # Without the module the file cannot be loaded, as Redis says.
    without = server_factory('pyredis', cwd=srv.dir, wait=False)
    without.proc.wait(20)
    assert without.proc.returncode != 0
    assert ("The RDB file contains module data I can't load: no matching module type "
            "'PyJSONdoc'") in without.read_log()
    theirs = server_factory('redis', cwd=srv.dir, wait=False)
    theirs.proc.wait(20)
    assert ("The RDB file contains module data I can't load: no matching module type "
            "'PyJSONdoc'") in theirs.read_log()


@pytest.mark.parametrize('preamble', ['yes', 'no'])
def test_jsondoc_persists_in_aof(server_factory, preamble):
    srv = server_factory('pyredis', '--loadmodule', JSONDOC, '--appendonly', 'yes',
                         '--aof-use-rdb-preamble', preamble)
    r = srv.client()
    _fill_docs(r)
    srv.stop()
    again = server_factory('pyredis', '--loadmodule', JSONDOC, '--appendonly', 'yes',
                           '--aof-use-rdb-preamble', preamble, cwd=srv.dir)
    r = again.client()
    _check_docs(r)
    # Rewritten: the base is an RDB preamble or JSON.SET commands.
    r.bgrewriteaof()
    assert _wait(lambda: r.info('persistence')['aof_rewrite_in_progress'] == 0
                 and r.info('persistence')['aof_rewrite_scheduled'] == 0)
    base = [n for n in os.listdir(os.path.join(srv.dir, 'appendonlydir')) if '.base.' in n]
    assert base
    with open(os.path.join(srv.dir, 'appendonlydir', base[0]), 'rb') as f:
        body = f.read()
    if preamble == 'yes':
        assert body.startswith(b'REDIS')
    else:
        assert b'JSON.SET' in body
    r.execute_command('JSON.SET', 'after', '$', '"rewrite"')
    again.stop()
    third = server_factory('pyredis', '--loadmodule', JSONDOC, '--appendonly', 'yes',
                           '--aof-use-rdb-preamble', preamble, cwd=srv.dir)
    r = third.client()
    _check_docs(r)
    assert r.execute_command('JSON.GET', 'after') == b'"rewrite"'


def test_jsondoc_reaches_a_replica(server_factory):
    master = server_factory('pyredis', '--loadmodule', JSONDOC)
    m = master.client()
    m.execute_command('JSON.SET', 'before', '$', '{"synced":"by the RDB"}')
    replica = server_factory('pyredis', '--loadmodule', JSONDOC, '--replicaof', '127.0.0.1',
                             str(master.port))
    rep = replica.client()
    assert _wait(lambda: rep.info('replication')['master_link_status'] == 'up')
    _fill_docs(m)
    m.set('fence', 1)
    assert _wait(lambda: rep.get('fence') == b'1')
    _check_docs(rep)
    assert rep.execute_command('JSON.GET', 'before') == b'{"synced":"by the RDB"}'


# -- the API's corners (tests/pymodules/testkit.py) ----------------------------------------

def test_replies_in_resp2_and_resp3(server_factory):
    srv = server_factory('pyredis', '--loadmodule', TESTKIT, 'arg1')
    raw = srv.raw()
    assert raw.call('TESTKIT.REPLIES') == (
        b'*13\r\n$4\r\nbulk\r\n+simple\r\n:42\r\n$3\r\n1.5\r\n$3\r\ninf\r\n:1\r\n:0\r\n$-1\r\n'
        b'*-1\r\n*2\r\n$1\r\nk\r\n:1\r\n*1\r\n$1\r\nm\r\n$3\r\ntxt\r\n-ERR inner\r\n')
    raw.call('HELLO', '3')
    assert raw.call('TESTKIT.REPLIES') == (
        b'*13\r\n$4\r\nbulk\r\n+simple\r\n:42\r\n,1.5\r\n,inf\r\n#t\r\n#f\r\n_\r\n_\r\n'
        b'%1\r\n$1\r\nk\r\n:1\r\n~1\r\n$1\r\nm\r\n=7\r\ntxt:txt\r\n-ERR inner\r\n')
    assert raw.call('TESTKIT.ERROR') == b'-CUSTOM something went wrong\r\n'
    assert b'errorstat_CUSTOM:count=1' in raw.call('INFO', 'errorstats')
    assert raw.call('MODULE', 'LIST').endswith(b'$4\r\nargs\r\n*1\r\n$4\r\narg1\r\n')
    # Refused by its flags inside a script.
    assert b'This Redis command is not allowed from script' in raw.call(
        'EVAL', "return redis.pcall('TESTKIT.ADMIN')", '0')


def test_typed_keys_and_effects(server_factory):
    srv = server_factory('pyredis', '--loadmodule', TESTKIT, '--appendonly', 'yes')
    r = srv.client()
    raw = srv.raw()
    assert raw.call('TESTKIT.TYPES', 't') == (
        b'*7\r\n*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\n1\r\n:1\r\n'
        b'$3\r\n1.5\r\n:1\r\n+list\r\n:3\r\n')
    assert r.get('t:s') == b'v' and r.lrange('t:l', 0, -1) == [b'z', b'a', b'b']
    assert r.hgetall('t:h') == {b'f': b'1'} and r.smembers('t:set') == {b'x'}
    assert r.zrange('t:z', 0, -1, withscores=True) == [(b'm', 1.5)]
    assert r.exists('t:d') == 0 and 0 < r.ttl('t:e') <= 100
    aof = _aof_text(srv)
    # Effects, in one MULTI/EXEC.
    assert b'TESTKIT' not in aof
    for word in (b'MULTI', b'RPUSH', b'LPUSH', b'HSET', b'HDEL', b'SADD', b'SREM', b'ZADD',
                 b'ZREM', b'PEXPIREAT', b'DEL', b'EXEC'):
        assert word in aof, word
    # Verbatim by default; ctx.replicate's command alone.
    r.execute_command('TESTKIT.VERBATIM', 'vb', 'x')
    r.execute_command('TESTKIT.REPLICATE', 'rp')
    aof = _aof_text(srv)
    assert b'TESTKIT.VERBATIM' in aof and b'replicated' in aof
    assert b'TESTKIT.REPLICATE' not in aof
    # ctx.call: any command through call(), its writes as effects.
    # (A null array comes back as None, a null bulk to the client.)
    assert raw.call('TESTKIT.CALL', 'cnt', 'hh') == (
        b'*5\r\n:5\r\n:1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n$-1\r\n$-1\r\n')
    assert raw.call('TESTKIT.CALL', 'cnt', 'hh') == (
        b'*5\r\n:10\r\n:0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n'
        b'+WRONGTYPE Operation against a key holding the wrong kind of value\r\n$-1\r\n')
    aof = _aof_text(srv)
    assert b'TESTKIT.CALL' not in aof and b'INCRBY' in aof
    srv.stop()
    again = server_factory('pyredis', '--loadmodule', TESTKIT, '--appendonly', 'yes',
                           cwd=srv.dir)
    r = again.client()
    assert r.lrange('t:l', 0, -1) == [b'z', b'a', b'b'] and r.get('vb') == b'3'
    assert r.get('cnt') == b'10' and r.hgetall('hh') == {b'f': b'v'}
    assert r.get('rp') == b'replicated'


def test_blocked_module_client(server_factory):
    srv = server_factory('pyredis', '--loadmodule', TESTKIT, '--appendonly', 'yes')
    r = srv.client()
    waiter = srv.raw()
    wid = int(waiter.call('CLIENT', 'ID')[1:-2])
    waiter.send_command('TESTKIT.BLOCK', '0')
    assert _wait(lambda: r.info('clients')['blocked_clients'] == 1)
    # MODULE UNLOAD waits for it.
    assert r.execute_command('TESTKIT.UNBLOCK', wid, 'hello') == 1
    assert waiter.read_reply() == b'*2\r\n$9\r\nunblocked\r\n$5\r\nhello\r\n'
    assert r.get('unblocked-by') == b'hello'
    assert b'unblocked-by' in _aof_text(srv)
    # Timed out: its on_timeout's reply.
    assert waiter.call('TESTKIT.BLOCK', '50') == b'+TIMEDOUT\r\n'
    # CLIENT UNBLOCK, as for BLPOP: TIMEOUT gives on_timeout's reply, ERROR
    # the UNBLOCKED error.
    waiter.send_command('TESTKIT.BLOCK', '0')
    assert _wait(lambda: r.info('clients')['blocked_clients'] == 1)
    assert r.client_unblock(wid) == 1
    assert waiter.read_reply() == b'+TIMEDOUT\r\n'
    waiter.send_command('TESTKIT.BLOCK', '0')
    assert _wait(lambda: r.info('clients')['blocked_clients'] == 1)
    assert r.client_unblock(wid, error=True) == 1
    assert waiter.read_reply() == b'-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n'
    # Without a timeout callback CLIENT UNBLOCK leaves it, as Redis does.
    waiter.send_command('TESTKIT.BLOCKFOREVER')
    assert _wait(lambda: r.info('clients')['blocked_clients'] == 1)
    assert r.client_unblock(wid) == 0
    assert r.execute_command('TESTKIT.UNBLOCK', wid, 'late') == 1
    assert waiter.read_reply() == b'*2\r\n$9\r\nunblocked\r\n$4\r\nlate\r\n'
    # Answered from another thread (handed to the event loop).
    assert waiter.call('TESTKIT.THREAD', '20') == b'+from-thread\r\n'
    assert r2_script(r).startswith(b'Blocking module command called from Lua script')
    # Inside MULTI it cannot block.
    p = r.pipeline(transaction=True)
    p.execute_command('TESTKIT.BLOCK', '0')
    with pytest.raises(redis.ResponseError,
                       match='Blocking module command called from transaction'):
        p.execute()


def test_unload_refused_while_blocked_and_failed_loads(server_factory):
    srv = server_factory('pyredis', '--enable-module-command', 'yes')
    r = srv.client()
    assert r.execute_command('MODULE', 'LOAD', TESTKIT) == b'OK'
    waiter = srv.raw()
    waiter.send_command('TESTKIT.BLOCKFOREVER')
    assert _wait(lambda: r.info('clients')['blocked_clients'] == 1)
    with pytest.raises(redis.ResponseError, match='Error unloading module: the module has '
                                                   'blocked clients. Please wait them '
                                                   'unblocked and try again'):
        r.execute_command('MODULE', 'UNLOAD', 'testkit')
    waiter.close()
    assert _wait(lambda: r.info('clients')['blocked_clients'] == 0)
    assert r.execute_command('MODULE', 'UNLOAD', 'testkit') == b'OK'
    # on_load refusing, and LOADEX's CONFIG/ARGS.
    with pytest.raises(redis.ResponseError, match='Error loading the extension'):
        r.execute_command('MODULE', 'LOAD', TESTKIT, 'fail')
    assert r.execute_command('MODULE', 'LOADEX', TESTKIT, 'CONFIG', 'testkit.x', '1', 'ARGS',
                             'a', 'b') == b'OK'
    assert r.execute_command('MODULE', 'LIST')[0][b'args'] == [b'a', b'b']
    with pytest.raises(redis.ResponseError, match='Error loading the extension'):
        r.execute_command('MODULE', 'LOAD', TESTKIT)    # already loaded
    assert 'Module %s failed to load' % TESTKIT in srv.read_log()


def test_loadmodule_failure_stops_the_server(server_factory):
    srv = server_factory('pyredis', '--loadmodule', '/nonexistent/module.py', wait=False)
    srv.proc.wait(20)
    assert srv.proc.returncode != 0
    assert "Can't load module from /nonexistent/module.py: server aborting" in srv.read_log()


def test_loadmodule_lines_in_redis_conf(server_factory):
    srv = server_factory('pyredis', config_text='loadmodule %s first second\n'
                         'testkit.mode fast\nloadmodule %s\n' % (TESTKIT, RATELIMIT))
    r = srv.client()
    assert [m[b'name'] for m in r.execute_command('MODULE', 'LIST')] == [b'testkit',
                                                                          b'ratelimit']
    assert r.execute_command('TESTKIT.CONFIGS') in (
        [[b'first', b'second'], [b'testkit.mode', b'fast']],
        [[b'first', b'second'], {b'testkit.mode': b'fast'}])
    assert r.execute_command('RATELIMIT.HIT', 'k', 1, 1000)[0] == 1


def r2_script(r):
    try:
        r.eval("return redis.call('TESTKIT.BLOCK', '0')", 0)
    except redis.ResponseError as e:
        return str(e).split(' script:')[0].encode()
    return None
