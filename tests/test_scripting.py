"""Lua scripting: EVAL/EVALSHA/EVAL_RO/EVALSHA_RO and SCRIPT, against the
real redis-server (raw replies compared byte for byte, RESP2 and RESP3),
and as redis-py uses them (Lock, register_script, Script in pipelines)."""

import threading
import time

import pytest
import redis

from helpers import RawConn

# Every conversion rule in both directions, the redis API and its error paths.
SCRIPTS = [
    'return 1',
    'x = 1',
    'return a',
    'return redis.call("nosuch")',
    'return redis.call("get")',
    'error("boom")',
    'error({err="X y"})',
    'return {err="My error"}',
    'return redis.error_reply("My err")',
    'redis.call("set","k2","x"); return redis.call("incr","k2")',
    'return redis.call("subscribe","x")',
    'rawset(_G,"x",1)',
    'return {ok="a\\r\\nb"}',
    'local t={} for k,v in pairs(redis) do t[#t+1]=k end table.sort(t) return t',
    'return redis.setresp(4)',
    'return redis.log(1)',
    'return redis.log("x", 1)',
    'return redis.log(9, 1)',
    'return redis.log(3, "hello", {}, 3)',
    'return redis.call()',
    'return redis.call({})',
    'return redis.call("get",{})',
    'return redis.pcall("get",{})',
    'return redis.call("get",1.5)',
    'return redis.set_repl(9)',
    'return redis.sha1hex()',
    'return redis.sha1hex(1.5)',
    'return redis.sha1hex({})',
    'return redis.call("config","get","maxmemory")',
    'return redis.call("config")',
    'return redis.call("config","nosub")',
    'return {pcall(redis.call, "nosuch")}',
    'return {pcall(redis.call, "incr", "k2")}',
    'return redis.pcall("incr", "k2")',
    'return {redis.pcall("incr", "k2")}',
    'local ok, e = pcall(error, "x"); return e',
    'local ok, e = pcall(error, {err="y"}); return e',
    'return type(redis.call)',
    'return redis.acl_check_cmd("get", "x")',
    'return redis.acl_check_cmd("nosuch")',
    'return redis.acl_check_cmd()',
    'return redis.call("evalsha", "x", 0)',
    'return redis.call("hello", 3)',
    'redis.setresp(3); return redis.call("hgetall", "nohash")',
    'redis.setresp(3); redis.call("hset","hh","a","1"); return redis.call("hgetall", "hh")',
    'redis.setresp(3); return redis.call("sismember", "s", "x")',
    'redis.setresp(3); return {redis.call("get", "nokey")}',
    'redis.setresp(3); return redis.call("zscore", "nz", "m")',
    'return redis.call("blpop", "nolist", 0)',
    'return {1, 2.5, -3.9, "x", true, false, {ok="o"}, {err="e"}}',
    'return {double=0.1}',
    'return {double=1/0}',
    'return {double=-1/0}',
    'return {big_number="123"}',
    'return {map={a=1}}',
    'return {set={a=true}}',
    'return {verbatim_string={format="txt", string="hi"}}',
    'return {verbatim_string={format="t", string="hi"}}',
    'return nil',
    'return true',
    'return false',
    'redis.setresp(3); return true',
    'redis.setresp(3); return false',
    'redis.setresp(3); return nil',
    'return cjson.null',
    'return redis.call',
    'return coroutine.create(function() end)',
    'return 1e20',
    'return -1e20',
    'return 0/0',
    'return {err=""}',
    'return {1, nil, 2}',
    'return KEYS',
    'return #ARGV',
    'return type(redis.call)',
    'return type(redis.log)',
    'return type(type)',
    'return tostring(redis.call):sub(1, 10)',
    'return tostring(cjson.null):sub(1, 10)',
    'return tostring(1)',
    'return type(tostring)',
    'return tostring(nil)',
    # conversions of command replies (RESP2 and RESP3 through redis.setresp)
    'redis.call("rpush", "l", "a", "b"); return redis.call("lrange", "l", 0, -1)',
    'redis.call("sadd", "s", "a"); redis.setresp(3); return redis.call("smembers", "s")',
    'redis.call("zadd", "z", 1.5, "m"); redis.setresp(3); '
    'return redis.call("zrange", "z", 0, -1, "withscores")',
    'redis.call("zadd", "z", 1.5, "m"); return redis.call("zrange", "z", 0, -1, "withscores")',
    'redis.setresp(3); return redis.call("zscore", "z", "m")',
    'redis.setresp(3); return {redis.call("exists", "nokey") == 0}',
    'redis.setresp(3); local t = redis.call("zscore", "zz", "m"); return type(t)',
    'redis.setresp(3); redis.call("zadd", "z", 2.5, "m"); '
    'local t = redis.call("zscore", "z", "m"); return {t.double, type(t.double)}',
    'return redis.call("ping", "x")',
    'return redis.call("set", "k", "v", "get")',
    'return redis.call("type", "k")',
    'redis.call("set","s1","x"); return redis.pcall("lpush", "s1", "y")',
    'return redis.pcall("lpush", "s1", "y")["err"]',
    'return redis.call("incrbyfloat", "f", "1.5")',
    'redis.call("set", "n", 5); return redis.call("get", "n")',
    'redis.call("set", "n", 0.1); return redis.call("get", "n")',
    'redis.call("set", "n", 1e100); return redis.call("get", "n")',
    'return redis.call("select", 1)',
    'return {redis.call("select", 1), redis.call("set", "db1", "x"), redis.call("dbsize")}',
    'return tostring(0.1)',
    'return {1.9, -1.9, 2^53, -2^62}',
    'return string.rep("a", 3)',
    'return {unpack({1, 2, 3})}',
    'return select("#", 1, 2, 3)',
    'return table.concat({"a", "b"}, ",")',
    'local t = {} for i = 1, 3 do t[#t + 1] = i * 2 end return t',
    'return coroutine.wrap(function() coroutine.yield(7) end)()',
    'return tonumber("0x10")',
    'return _VERSION',
    'return type(os)',
    'return type(io)',
    'return require',
    'return dofile',
    'return loadfile',
    'return setfenv',
    'return getfenv',
    'return newproxy',
    'return type(__redis__err__handler)',
    'return type(string.format)',
    'redis.foo = 1',
    'redis.call = nil',
    'math.pi = 3',
    '_G.x = 1',
    'local f = loadstring("y = 1"); f()',
    'return loadstring("return +")',
    'local f, e = loadstring("return +"); return e',
    'return rawget(_G, "redis") == redis',
    'return rawget(_G, "nothere")',
    'local n = 0 for k in pairs(string) do n = n + 1 end return n > 10',
    'return next({})',
    'return {next({5})}',
    'return redis.status_reply("fine")',
    'return redis.error_reply("ERR oops")',
    'return redis.error_reply("")',
    'return redis.status_reply("a\\r\\nb")',
    'return {ok="x\\0y"}',
    'return {err="x\\r\\ny"}',
    'return {err="-x"}',
    'return {err=5}',
    'return {ok=5}',
    'return {double="1.5"}',
    'return {map={[1]="a", [2]="b"}}',
    'return {1, {err="inner"}, 3}',
    'error()',
    'error(nil)',
    'error(5)',
    'error({err=5})',
    'local t = setmetatable({}, {__index=function() error("deep") end}); return t.x',
    'local function f() error("in f") end\nf()',
    '\n\nreturn nosuch',
    'return redis.call("get", KEYS[1])',
    'return {KEYS[1], ARGV[1], #KEYS, #ARGV}',
    'return redis.call("eval", "return 1", 0)',
    'return redis.call("multi")',
    'return redis.call("watch", "x")',
    'return redis.call("script", "load", "return 1")',
    'return redis.call("client", "list") ~= nil',
    'return redis.call("wait", 0, 0)',
]


# Precompiled chunks are refused, as Redis's Lua refuses them.
BYTECODE = [
    'local f, e = loadstring(string.dump(function() return 1 end)) return {tostring(f), e}',
    'local f, e = loadstring(string.dump(function() return 1 end), "name") return {tostring'
    '(f), e}',
    'local f, e = loadstring(string.dump(function() return 1 end), "=name") return {tostrin'
    'g(f), e}',
    'local f, e = load(function() return nil end) return {tostring(f) ~= nil, e}',
    'local n = 0 local f, e = load(function() n = n + 1 if n == 1 then return "return 5" en'
    'd end) return f()',
    'local n = 0 local f, e = load(function() n = n + 1 if n == 1 then return string.dump(f'
    'unction() end) end end) return {tostring(f), e}',
    'local f, e = loadstring("x = = 1") return e',
    'local f, e = loadstring("x = = 1\\nfoo", "chunk") return e',
    'local f, e = loadstring(string.rep("a", 50) .. " = = 1") return e',
    'return type(string.dump)',
    'return loadstring("return KEYS[1]")()',
]


def test_bytecode_is_refused_as_redis(compat):
    _compat(compat, 2, BYTECODE)
    dumped = compat.call('EVAL', 'return string.dump(function() return 1 end)', '0')
    code = dumped.split(b'\r\n', 1)[1][:-2]
    compat.call('EVAL', code, '0')
    compat.call('SCRIPT', 'LOAD', code)
    compat.call('FUNCTION', 'LOAD', b'#!lua name=bc\n' + code)


def _compat(compat, resp, scripts, numkeys=('1', 'k1', 'a1')):
    if resp == 3:
        compat.a.call('HELLO', '3')
        compat.b.call('HELLO', '3')
    for body in scripts:
        compat.call('FLUSHALL')
        compat.call('EVAL', body, *numkeys)


@pytest.mark.parametrize('resp', [2, 3])
def test_conversions_and_errors_match_redis(compat, resp):
    _compat(compat, resp, SCRIPTS)


@pytest.mark.parametrize('resp', [2, 3])
def test_eval_ro_and_shebang_flags_match_redis(compat, resp):
    if resp == 3:
        compat.a.call('HELLO', '3')
        compat.b.call('HELLO', '3')
    compat.call('SET', 'k', 'v')
    for cmd, body in [
            ('EVAL_RO', 'return redis.call("get", KEYS[1])'),
            ('EVAL_RO', 'return redis.call("set", KEYS[1], "x")'),
            ('EVAL_RO', 'return redis.pcall("set", KEYS[1], "x")'),
            ('EVAL_RO', '#!lua\nreturn 1'),
            ('EVAL_RO', '#!lua flags=no-writes\nreturn redis.call("get", KEYS[1])'),
            ('EVAL', '#!lua flags=no-writes\nreturn redis.call("set", KEYS[1], "x")'),
            ('EVAL', '#!lua flags=no-writes,allow-oom\nreturn 1'),
            ('EVAL', '#!lua flags=\nreturn redis.call("set", KEYS[1], "y")'),
            ('EVAL', '#!lua flags=bad\nreturn 1'),
            ('EVAL', '#!lua name=x\nreturn 1'),
            ('EVAL', '#!luax\nreturn 1'),
            ('EVAL', '#!lua'),
            ('EVAL', '#! lua\nreturn 1'),
            ('EVAL', '#!lua flags=allow-stale,no-cluster,allow-cross-slot-keys\nreturn 1'),
            ('EVAL', '#!lua\nreturn nosuch'),
            ('EVAL', '#!lua\nreturn redis.call("publish", "c", "m")'),
            ('EVAL_RO', 'return redis.call("publish", "c", "m")'),
            ('EVAL', 'return +'),
            ('EVAL', 'return "unfinished'),
    ]:
        compat.call(cmd, body, '1', 'k')


def test_eval_arguments_match_redis(compat):
    for args in [('return 1', '-1'), ('return 1', '2', 'a'), ('return 1', 'abc'),
                 ('return 1', '1.5'), ('return 1', '99999999999999999999'), ('return 1',),
                 ('return {KEYS[1], ARGV[1], ARGV[2]}', '1', 'a', 'b', 'c'),
                 ('return {#KEYS, #ARGV}', '0'),
                 ('return KEYS', '3', 'a', 'b', 'c')]:
        compat.call('EVAL', *args)
    compat.call('EVALSHA', 'ffffffffffffffffffffffffffffffffffffffff', '0')
    compat.call('EVALSHA', 'short', '0')
    compat.call('EVALSHA_RO', 'ffffffffffffffffffffffffffffffffffffffff', '0')


def test_many_arguments_match_redis(compat):
    """KEYS and ARGV of any length (not bounded by the Lua C stack), on
    every way a run goes: a plain script (the C run), a script with a
    shebang (ScriptHost.run), a function."""
    args = [str(i) for i in range(20000)]
    body = 'return {#KEYS, #ARGV, KEYS[1], ARGV[#ARGV]}'
    compat.call('EVAL', body, '3', *args)
    compat.call('EVAL', '#!lua\n' + body, '3', *args)
    compat.call('FUNCTION', 'LOAD', 'REPLACE', '#!lua name=many\nredis.register_function('
                '"many", function(k, a) return {#k, #a, k[1], a[#a]} end)')
    compat.call('FCALL', 'many', '3', *args)
    compat.call('FUNCTION', 'DELETE', 'many')


def test_number_arguments_match_redis(compat):
    """redis.call's number arguments as luaArgsToRedisArgv writes them
    (%.17g), -0 included, on a command's first call (ScriptHost.lua_call
    learns it) and on the later ones (the C redis.call)."""
    body = ('local z = 0 local t = {} for i, v in ipairs({60, -7, 0, -z, 0.5, 2^53, 1e15, '
            '1e16, 1e17, 123456789012345678, 2^63, -2^63, 1/3, 1/0, -1/0}) do '
            'redis.call("SET", KEYS[1], v) t[i] = redis.call("GET", KEYS[1]) end return t')
    compat.call('EVAL', body, '1', 'num')
    compat.call('EVAL', 'local z = 0 return redis.call("SET", KEYS[1], -z)', '1', 'neg0')
    compat.call('GET', 'neg0')


def test_script_subcommands_match_redis(compat):
    sha = compat.call('SCRIPT', 'LOAD', 'return ARGV[1]')
    sha = sha.split(b'\r\n')[1].decode()
    compat.call('SCRIPT', 'EXISTS', sha, sha.upper(), 'nope')
    compat.call('EVALSHA', sha, '0', 'hello')
    compat.call('EVALSHA', sha.upper(), '0', 'hello')
    compat.call('EVALSHA_RO', sha, '0', 'ro')
    compat.call('SCRIPT', 'LOAD', 'return +')
    compat.call('SCRIPT', 'LOAD', '#!lua flags=bad\nreturn 1')
    compat.call('SCRIPT', 'HELP')
    compat.call('SCRIPT', 'KILL')
    compat.call('SCRIPT', 'FLUSH', 'bad')
    compat.call('SCRIPT', 'FLUSH', 'sync', 'extra')
    compat.call('SCRIPT', 'FLUSH', 'ASYNC')
    compat.call('SCRIPT', 'EXISTS', sha)
    compat.call('EVALSHA', sha, '0', 'gone')
    compat.call('EVAL', 'return ARGV[1]', '0', 'cached')
    compat.call('SCRIPT', 'EXISTS', sha)
    compat.call('SCRIPT', 'FLUSH')
    compat.call('SCRIPT')
    compat.call('SCRIPT', 'NOSUCH')
    compat.call('SCRIPT', 'LOAD')
    compat.call('SCRIPT', 'DEBUG', 'bad')
    compat.call('SCRIPT', 'DEBUG', 'no')
    # A transaction queues and runs scripts like any command.
    compat.call('MULTI')
    compat.call('EVAL', 'return redis.call("incr", KEYS[1])', '1', 'ctr')
    compat.call('EVAL', 'return redis.call("nosuch")', '0')
    compat.call('EXEC')


def test_random_and_errorstats_match_redis(server_factory):
    ours, theirs = server_factory('pyredis'), server_factory('redis')
    a, b = RawConn(ours.port), RawConn(theirs.port)
    # rand48 from the same initial state as a fresh redis-server.
    for body in ['return {math.random(100), math.random(100), tostring(math.random())}',
                 'return {math.random(5, 10), math.random(1000000)}',
                 'math.randomseed(42); return {math.random(1000000), math.random(3)}',
                 'return math.random(0)', 'return math.random(3, 1)',
                 'return math.random(1, 2, 3)']:
        assert a.call('EVAL', body, '0') == b.call('EVAL', body, '0'), body
    for body in ['return redis.call("incr", "s")', 'return redis.call("nosuch")',
                 'return {err="MYERR x"}', 'return redis.pcall("nosuch")',
                 'error("x")', 'return redis.call("set", "s", "x")',
                 'return redis.call("lpush", "s", "x")']:
        assert a.call('EVAL', body, '0') == b.call('EVAL', body, '0'), body

    def section(conn, name):
        lines = conn.call('INFO', name).decode().split('\r\n')
        return sorted(x for x in lines if x.startswith(('errorstat', 'total_error')))
    assert section(a, 'errorstats') == section(b, 'errorstats')
    sa = [x for x in a.call('INFO', 'stats').decode().split('\r\n')
          if x.startswith('total_error_replies')]
    sb = [x for x in b.call('INFO', 'stats').decode().split('\r\n')
          if x.startswith('total_error_replies')]
    assert sa == sb

    def stats(conn):
        out = {}
        for line in conn.call('INFO', 'commandstats').decode().split('\r\n'):
            if line.startswith('cmdstat_'):
                name, rest = line.split(':', 1)
                fields = dict(f.split('=') for f in rest.split(','))
                out[name] = (fields['calls'], fields['rejected_calls'], fields['failed_calls'])
        return out
    assert stats(a) == stats(b)
    a.close()
    b.close()


# -- redis-py ----------------------------------------------------------------------

def test_redis_py_lock(pyredis):
    r = pyredis.client()
    lock = r.lock('resource', timeout=5)
    assert lock.acquire(blocking=False)
    assert r.get('resource') == lock.local.token
    other = r.lock('resource', timeout=5, thread_local=False)
    assert not other.acquire(blocking=False)
    assert not other.acquire(blocking=True, blocking_timeout=0.3)
    assert lock.extend(10)
    assert 5000 < r.pttl('resource') <= 15000
    assert lock.reacquire()
    assert 4000 < r.pttl('resource') <= 5000
    assert lock.owned()
    lock.release()
    assert r.get('resource') is None
    # The release and extend scripts find another owner's token.
    assert lock.acquire()
    r.set('resource', 'someone else')
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        lock.extend(1)
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        lock.reacquire()
    with pytest.raises(redis.exceptions.LockNotOwnedError):
        lock.release()
    r.delete('resource')
    # A waiter gets the lock once the holder releases it.
    assert lock.acquire()
    got = []

    def wait():
        got.append(other.acquire(blocking=True, blocking_timeout=5))
    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.2)
    lock.release()
    t.join()
    assert got == [True]
    other.release()
    with r.lock('ctx', timeout=2):
        assert r.exists('ctx')
    assert not r.exists('ctx')


def test_redis_py_register_script_and_pipelines(pyredis):
    r = pyredis.client()
    r.script_flush()
    incr_by = r.register_script('return redis.call("incrby", KEYS[1], ARGV[1])')
    assert incr_by(keys=['n'], args=[5]) == 5
    assert incr_by(keys=['n'], args=[2]) == 7
    assert r.script_exists(incr_by.sha) == [True]
    r.script_flush()
    # A pipeline loads the script again when the cache was flushed.
    with r.pipeline() as pipe:
        incr_by(keys=['n'], args=[1], client=pipe)
        pipe.get('n')
        incr_by(keys=['n'], args=[1], client=pipe)
        assert pipe.execute() == [8, b'8', 9]
    with r.pipeline(transaction=False) as pipe:
        incr_by(keys=['m'], args=[1], client=pipe)
        assert pipe.execute() == [1]
    assert r.eval('return {1, "two", {3}}', 0) == [1, b'two', [3]]
    assert r.evalsha(incr_by.sha, 1, 'n', 1) == 10
    with pytest.raises(redis.exceptions.ResponseError, match='Unknown Redis command'):
        r.eval('return redis.call("nosuch")', 0)
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha('0' * 40, 0)
    assert r.eval_ro('return redis.call("get", KEYS[1])', 1, 'n') == b'10'
    assert r.script_load('return 42') == r.register_script('return 42').sha


def test_redis_py_resp3(pyredis):
    r = pyredis.client(protocol=3)
    r.hset('h', 'f', 'v')
    assert r.eval('redis.setresp(3); return redis.call("hgetall", KEYS[1])', 1, 'h') == \
        {b'f': b'v'}
    assert r.eval('return {double=1.5}', 0) == 1.5
    assert r.eval('return true', 0) == 1
    assert r.eval('redis.setresp(3); return true', 0) is True
    assert r.eval('redis.setresp(3); return false', 0) is False


def test_info_memory_scripting_fields(server_factory):
    """The counts match redis-server's; the sizes are present and move."""
    out = []
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind)
        conn = srv.raw()
        conn.call('EVAL', 'return 1', '0')
        conn.call('SCRIPT', 'LOAD', 'return 2')
        conn.call('FUNCTION', 'LOAD', '#!lua name=a\nredis.register_function("f", '
                  'function() return 1 end)\nredis.register_function("g", function() end)')
        fields = dict(line.split(':', 1) for line in
                      conn.call('INFO', 'memory').decode().split('\r\n') if ':' in line)
        out.append(fields)
        conn.close()
    ours, theirs = out
    for name in ('number_of_cached_scripts', 'number_of_functions', 'number_of_libraries'):
        assert ours[name] == theirs[name], name
    for name in ('used_memory_lua', 'used_memory_vm_eval', 'used_memory_vm_functions',
                 'used_memory_scripts_eval',
                 'used_memory_vm_total', 'used_memory_functions', 'used_memory_scripts'):
        assert int(ours[name]) > 0, name
    assert ours['used_memory_lua_human'].endswith('K')


OOM_CASES = [
    ('EVAL', 'return redis.call("set", "a", "1")'),
    ('EVAL', 'return redis.call("get", "x")'),
    ('EVAL', 'redis.call("del", "nokey"); return redis.call("set", "a", "1")'),
    ('EVAL', '#!lua\nreturn redis.call("get", "x")'),
    ('EVAL', '#!lua flags=no-writes\nreturn redis.call("get", "x")'),
    ('EVAL', '#!lua flags=allow-oom\nreturn redis.call("set", "a", "2")'),
    ('EVAL', 'return redis.pcall("set", "a", "1")'),
    ('EVAL_RO', 'return redis.call("get", "x")'),
]


def test_oom_decisions_match_redis(server_factory):
    """Under maxmemory: a script that may write is refused before it runs
    unless allow-oom; a flagless one gets -OOM at its first denyoom command,
    not after it has written."""
    out = []
    for kind in ('pyredis', 'redis'):
        conn = server_factory(kind).raw()
        conn.call('SET', 'x', 'y')
        conn.call('CONFIG', 'SET', 'maxmemory', '1')
        out.append([conn.call(cmd, body, '0') for cmd, body in OOM_CASES])
        conn.call('CONFIG', 'SET', 'maxmemory', '0')
        conn.close()
    assert out[0] == out[1]


REPLICA_CASES = [
    ('EVAL', 'return redis.call("set", "a", "1")', '0'),
    ('EVAL', 'return redis.call("get", "a")', '0'),
    ('EVAL', 'return redis.pcall("set", "a", "1")', '0'),
    ('EVAL', '#!lua\nreturn redis.call("get", "a")', '0'),
    ('EVAL', '#!lua flags=no-writes\nreturn redis.call("get", "a")', '0'),
    ('EVAL_RO', 'return redis.call("get", "a")', '0'),
    ('EVAL', 'return redis.call("publish", "c", "m")', '0'),
    ('CONFIG', 'SET', 'replica-serve-stale-data', 'no'),
    ('EVAL', 'return 1', '0'),
    ('EVAL', '#!lua flags=no-writes\nreturn 1', '0'),
    ('EVAL', '#!lua flags=no-writes,allow-stale\nreturn redis.call("get", "a")', '0'),
    ('EVAL', '#!lua flags=no-writes,allow-stale\nreturn redis.call("info", "server") ~= nil',
     '0'),
]


def test_read_only_and_stale_replica_match_redis(server_factory):
    """On a replica whose master is unreachable: writes refused as
    READONLY, and with replica-serve-stale-data no, MASTERDOWN unless the
    script allows stale data, then only stale-flagged commands."""
    out = []
    for kind in ('pyredis', 'redis'):
        conn = server_factory(kind, '--replicaof', '127.0.0.1', '1').raw()
        out.append([conn.call(*args) for args in REPLICA_CASES])
        conn.close()
    assert out[0] == out[1]


def test_error_replies_raised_by_redis_call_match_redis(compat):
    """A command's error reply in redis.call, made into the Lua error in C
    (no Python exception through lupa): uncaught, caught by pcall (a string,
    as Redis's error handler leaves it), in redis.pcall (the table), from a
    fast EVALSHA and a plain EVAL, with the error statistics after."""
    compat.call('CONFIG', 'RESETSTAT')
    compat.call('HSET', 'h', 'f', 'v')
    compat.call('SET', 's', 'x')
    for body in ("return redis.call('INCR', KEYS[1])",
                 "return redis.call('LPUSH', KEYS[1], 'a')",
                 "local ok, e = pcall(redis.call, 'INCR', KEYS[1]) return {tostring(ok), e}",
                 "local ok, e = pcall(redis.call, 'INCR', KEYS[1]) return type(e)",
                 "local e = redis.pcall('INCR', KEYS[1]) return e",
                 "local e = redis.pcall('INCR', KEYS[1]) return e.err",
                 "return redis.call('INCRBY', 's', 1)",
                 "return redis.call('SETEX', 's', -1, 'v')",
                 "local ok = pcall(redis.call, 'INCR', 'h') return redis.call('GET', 's')"):
        compat.call('EVAL', body, '1', 'h')
        sha = compat.call('SCRIPT', 'LOAD', body)
        compat.call('EVALSHA', sha[sha.index(b'\n') + 1:-2], '1', 'h')
    compat.call('INFO', 'errorstats')


def test_error_replies_do_not_grow_the_lua_heap(pyredis):
    """lupa keeps an entry for every Python exception raised into Lua and
    never frees it (about 20 bytes each); an error reply in redis.call is
    raised in C, so a script that keeps failing leaves the heap as it was."""
    r = pyredis.client()
    r.hset('h', 'f', 'v')
    failing = r.script_load("local ok = pcall(redis.call, 'INCR', KEYS[1]) return 1")
    heap = r.script_load("collectgarbage('collect') return collectgarbage('count')")
    p = r.pipeline(transaction=False)
    for _ in range(2000):
        p.evalsha(failing, 1, 'h')
    p.execute()
    before = r.evalsha(heap, 0)
    for _ in range(5):
        p = r.pipeline(transaction=False)
        for _ in range(4000):
            p.evalsha(failing, 1, 'h')
        p.execute()
    assert r.evalsha(heap, 0) - before < 50     # KB: 20k errors leaked ~400 KB before
