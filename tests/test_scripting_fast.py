"""redis.call's common case in C (pyredis/_scripting.c) gives what
ScriptHost.lua_call gives.

The same request streams of scripts are fed to an in-process server twice:
once with redis.call as the Lua states get it (the C Caller in front of
lua_call), once with lua_call itself. The replies, the AOF bytes, the
propagated stream, the keyspace events, the dataset, the statistics (calls,
rejected and failed calls, error replies by code, dirty), the latency
histograms' counts and the slow log must be identical, in every state that
changes what a call does: plain, AOF and replicas listening, RESP3, a
restricted ACL user, a replica link (read-only replica refusals), every
command slow, MONITOR.
"""

import pytest

from pyredis import clock, config, hdr, rdb
from pyredis.assembly import create_server
from pyredis.commands import TABLE, Command
from pyredis.networking import Client
from pyredis.notify import NotifyFlags
from pyredis.resp import CommandError
from helpers import FakeTransport as Transport

fast = pytest.importorskip('pyredis._scripting')


def req(*args):
    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


def ev(body, *keys_and_args, nkeys=None):
    n = len(keys_and_args) if nkeys is None else nkeys
    return req('EVAL', body, n, *keys_and_args)


class Events:
    def __init__(self):
        self.published = []

    def publish(self, channel, message):
        self.published.append((channel, message))
        return 0


SCRIPTS = b''.join([
    req('SET', 'a', 'va'),
    ev('return redis.call("GET", KEYS[1])', 'a'),
    ev('return redis.call("get", KEYS[1])', 'missing'),
    ev('return redis.call("GET", KEYS[1])', 'missing'),
    ev('local v = redis.call("INCR", KEYS[1]) redis.call("EXPIRE", KEYS[1], 60) return v', 'n'),
    ev('local v = redis.call("INCR", KEYS[1]) redis.call("EXPIRE", KEYS[1], 60) return v', 'n'),
    ev('return redis.call("INCRBY", KEYS[1], 1.5)', 'n'),
    ev('return redis.call("INCRBY", KEYS[1], 2^60)', 'big'),
    ev('return redis.call("INCRBY", KEYS[1], -12)', 'neg'),
    ev('return redis.call("SET", KEYS[1], 3.25)', 'f'),
    ev('return redis.call("INCR", KEYS[1])', 'a'),
    ev('return redis.pcall("INCR", KEYS[1])', 'a'),
    ev('local t = redis.pcall("LPUSH", KEYS[1], "x") return t["err"]', 'a'),
    ev('return redis.call("RPUSH", KEYS[1], "x", "y", "z")', 'l'),
    ev('return redis.call("LRANGE", KEYS[1], 0, -1)', 'l'),
    ev('return redis.call("SPOP", KEYS[1])', 'l'),
    ev('redis.call("SADD", KEYS[1], "m") return redis.call("SPOP", KEYS[1])', 's'),
    ev('return redis.call("NOSUCH", KEYS[1])', 'a'),
    ev('return redis.call("GET")'),
    ev('return redis.call("GET", KEYS[1], "extra")', 'a'),
    ev('return redis.call("GET", {})'),
    ev('return redis.call("GET", true)'),
    ev('return redis.call()'),
    ev('return redis.call("CLIENT", "LIST")'),
    ev('return redis.call("config", "get", "maxmemory")'),
    ev('redis.call("SET", KEYS[1], "1") redis.call("SET", KEYS[2], "2") '
       'redis.call("DEL", KEYS[1]) return redis.call("MGET", KEYS[1], KEYS[2])', 'x', 'y'),
    ev('redis.set_repl(redis.REPL_NONE) redis.call("SET", KEYS[1], "hidden") '
       'redis.set_repl(redis.REPL_ALL) return redis.call("SET", KEYS[2], "shown")', 'h1', 'h2'),
    ev('redis.set_repl(redis.REPL_AOF) redis.call("SET", KEYS[1], "aof") '
       'redis.set_repl(redis.REPL_REPLICA) return redis.call("SET", KEYS[2], "repl")', 'r1', 'r2'),
    ev('redis.setresp(3) return redis.call("HGETALL", KEYS[1])', 'hh'),
    ev('redis.call("HSET", KEYS[1], "f", "v") redis.setresp(3) '
       'return redis.call("HGETALL", KEYS[1])', 'hh'),
    ev('return redis.call("PING")'),
    ev('return {redis.call("TTL", KEYS[1]), redis.call("EXISTS", KEYS[1])}', 'n'),
    ev('return redis.call("SET", KEYS[1], "v", "PX", 1)', 'short'),
    ev('return redis.call("GET", KEYS[1])', 'short'),
    req('EVAL_RO', 'return redis.call("GET", KEYS[1])', 1, 'a'),
    req('EVAL_RO', 'return redis.call("SET", KEYS[1], "x")', 1, 'a'),
    ev('#!lua flags=no-writes\nreturn redis.call("SET", KEYS[1], "x")', 'a'),
    ev('#!lua\nreturn redis.call("SET", KEYS[1], "shebang")', 'a'),
    ev('return redis.call("PUBLISH", "ch", "m")'),
    req('SCRIPT', 'LOAD', 'return redis.call("GET", KEYS[1])'),
    req('EVALSHA', 'd6e4c1b7a8d0c0d5c43e8d1e3df2b3e5e2b6d6a5', 0),
    req('SELECT', 3),
    ev('return redis.call("SET", KEYS[1], "in3")', 'k3'),
    ev('return redis.call("GET", KEYS[1])', 'k3'),
    req('SELECT', 0),
    ev('return redis.call("OBJECT", "ENCODING", KEYS[1])', 'a'),
    # What run makes of a script's result: strings, numbers (truncated,
    # NaN/inf/out of range as C converts them), the rest through the Lua
    # encoder, errors with their line.
    ev('return "x"'), ev('return ""'), ev('return 3.99'), ev('return -3.99'),
    ev('return 0/0'), ev('return 1/0'), ev('return -1/0'), ev('return 2^63'),
    ev('return -2^63'), ev('return 2^62'), ev('return {1, "two", {3}}'), ev('return true'),
    ev('return false'), ev('return nil'), ev('return {ok="fine"}'), ev('return {err="bad"}'),
    ev('return redis.error_reply("MY own")'), ev('error("boom")'), ev('return x.y'),
    ev('return {double=1.5}'), ev('return ARGV[1] .. ARGV[2]', 'p', 'q', nkeys=0),
    ev('return #KEYS + #ARGV', 'k1', 'k2', 'a1', nkeys=2),
    req('SCRIPT', 'LOAD', 'return {KEYS[1], ARGV[1]}'),
    req('EVALSHA', 'd006f1a90249474274c76f5be725b8f5804a346b', 1, 'k', 'v'),
    req('EVALSHA', 'D006F1A90249474274C76F5BE725B8F5804A346B', 0, 'v'),
    req('EVALSHA', 'fc1ea9e56ba1c3f3dfd7b3c8e6b0b8e2e4dcf9c6', 1, 'k'),
    # Errors on a later line, through each way the C redis.call hands a
    # call over (lua_call, lua_reply); calls from pcall and a coroutine.
    ev('local x = 1\n\nreturn redis.call("NOSUCH", KEYS[1])', 'a'),
    ev('local x = 1\nreturn redis.call("LPUSH", KEYS[1], "x")', 'a'),
    ev('local x = 1\nreturn redis.call("GET", KEYS[1], {})', 'a'),
    ev('return {pcall(redis.call, "LPUSH", KEYS[1], "x")}', 'a'),
    ev('return {pcall(redis.call, "GET", KEYS[1])}', 'a'),
    ev('return coroutine.wrap(function() return redis.call("INCR", KEYS[1]) end)()', 'n'),
    ev('local t = {} for i = 1, 3 do t[i] = redis.call("INCR", KEYS[1]) end return t', 'n'),
    # Results that are not tables, as the caller's and the script's RESP say.
    ev('redis.setresp(3) return true'), ev('redis.setresp(3) return false'),
    ev('redis.setresp(3) return nil'), ev('return cjson.null'), ev('return redis.call'),
    ev('return coroutine.create(function() end)'),
    ev('return redis.call("GET", KEYS[1])', 'no-such-key'),
    # Number arguments as luaArgsToRedisArgv writes them (%.17g).
    # (Not -0: lupa hands it to lua_call as the integer 0; see
    # test_scripting.py's test_number_arguments_match_redis.)
    ev('local t = {} for i, v in ipairs({60, -7, 0, 0.5, 2^53, -2^53, 1e15, 1e16, 1e17, '
       '123456789012345678, 2^63, -2^63, 1/3}) do '
       'redis.call("SET", KEYS[1], v) t[i] = redis.call("GET", KEYS[1]) end return t', 'num'),
    # KEYS and ARGV of any length.
    ev('return {#KEYS, #ARGV, KEYS[#KEYS], ARGV[#ARGV]}', *range(20000), nkeys=7000),
])

STATES = ['plain', 'aof+replicas', 'resp3', 'restricted', 'replica', 'slowlog', 'monitor',
          'latency-off']


def run(state, use_c):
    server = create_server(config.Config())
    host = server.scripting
    assert type(host.redis_call).__name__ == 'Caller'
    if not use_c:
        host.redis_call = host.lua_call     # (before the Lua state is made)
        host.run_plain = None
    for cmd in TABLE.values():
        for c in [cmd] + list((cmd.subcommands or {}).values()):
            c.calls = c.rejected_calls = c.failed_calls = 0
            c.hist = None
    events = Events()
    server.pubsub = events
    server.notify_flags = NotifyFlags.parse('KEA')
    stream_ops = []
    aof = None
    if 'aof' in state:
        aof = server.aof
        from pyredis import aof as aof_module
        aof.state = aof_module.AOF_ON
        server.propagate_targets.append(aof.feed)
    if 'replicas' in state:
        server.propagate_targets.append(lambda ops: stream_ops.extend(
            (dbid, list(argv)) for dbid, argv in ops))
    server.targets_changed()
    client = Client(server)
    client.transport = Transport()
    server.clients[client.id] = client
    if state == 'resp3':
        client.resp = 3
    if state == 'restricted':
        acl = server.acl
        user = acl.users[b'app'] = acl.new_user(b'app')
        for rule in (b'on', b'nopass', b'~a', b'~n', b'~l', b'~x', b'~y', b'+@all',
                     b'-spop', b'-incrby'):
            user.apply(rule)
        acl.changed()
        client.user = user
    if state == 'replica':
        # A replica whose link is up: writes from scripts are refused.
        server.masterhost = '127.0.0.1'
        server.update_gate()
    # Every command in the slow log, or none (no timing decides).
    server.config.set('slowlog-log-slower-than', ['0' if state == 'slowlog' else '-1'])
    server.config.set('slowlog-max-len', ['1000'])
    server.config_apply['slowlog-log-slower-than'](server)
    if state == 'latency-off':
        server.latency_tracking = False
    watcher = None
    if state == 'monitor':
        watcher = Client(server)
        watcher.transport = Transport()
        server.clients[watcher.id] = watcher
        watcher.update_gate()
        watcher.data_received(req('MONITOR'))
    client.update_gate()
    client.data_received(SCRIPTS)
    written = b''.join(client.transport.written)
    stats = sorted((cmd.fullname, cmd.calls, cmd.rejected_calls, cmd.failed_calls,
                    sum(cmd.hist.values()) if cmd.hist else 0)
                   for top in TABLE.values()
                   for cmd in [top] + list((top.subcommands or {}).values())
                   if cmd.calls or cmd.rejected_calls or cmd.failed_calls)
    options = rdb.Options(server.config, server)
    return {
        'replies': written,
        'aof': aof._encode() if aof is not None else None,
        'stream': stream_ops,
        'events': events.published,
        'dataset': [sorted((k, rdb.dump_payload(v, options)) for k, v in db.data.items())
                    for db in server.dbs],
        'expires': [sorted(db.expires.items()) for db in server.dbs],
        'stats': stats,
        'errors': (server.stat.total_error_replies, sorted(server.stat.errors.items())),
        'dirty': server.dirty,
        'slowlog': [e[3] for e in server.slowlog.entries],
        'monitor': (b''.join(watcher.transport.written).count(b'[0 lua]')
                    if watcher is not None else None),
    }


@pytest.mark.parametrize('state', STATES)
def test_c_caller_matches_lua_call(state, monkeypatch):
    # Expiry times are absolute: both runs must see the same clock.
    monkeypatch.setattr(clock, 'time', lambda: 1_800_000_000.0)
    monkeypatch.setattr(clock, 'time_ns', lambda: 1_800_000_000 * 10 ** 9)
    a = run(state, True)
    b = run(state, False)
    for key in a:
        assert a[key] == b[key], key
    # (Each state must be in effect, or the comparison proves little.)
    replies = a['replies']
    assert b'-ERR' in replies and (state == 'replica' or b':2\r\n' in replies)
    assert (state == 'aof+replicas') == bool(a['aof']) == bool(a['stream'])
    if a['stream']:
        assert [b'MULTI'] in [argv for _, argv in a['stream']]
    assert (state == 'restricted') == (b'-ERR The user executing the script can' in replies)
    assert (state == 'replica') == (b'READONLY' in replies)
    assert (state == 'slowlog') == bool(a['slowlog'])
    assert (state == 'monitor') == bool(a['monitor'])
    assert (state == 'latency-off') == (sum(s[4] for s in a['stats']) == 0)


def test_c_caller_takes_the_common_call():
    """The Caller runs a plain call itself (lua_call is not asked), and
    hands a refused one to lua_call."""
    server = create_server(config.Config())
    host = server.scripting
    asked = []
    general = host.lua_call

    def lua_call(*args):
        asked.append(args)
        return general(*args)
    host.redis_call = fast.Caller(host, server, host.plain, lua_call, host.lua_reply,
                                  CommandError, hdr.record, Command, Client)
    client = Client(server)
    client.transport = Transport()
    server.clients[client.id] = client
    client.update_gate()
    body = 'redis.call("SET", KEYS[1], "1") return redis.call("INCR", KEYS[1])'
    for _ in range(3):
        client.data_received(ev(body, 'k'))
    client.data_received(ev('return redis.call("NOSUCH")'))
    assert b''.join(client.transport.written).startswith(b':2\r\n:2\r\n:2\r\n-ERR')
    # The first SET of the first run is looked up by lua_call (host.plain
    # learns it), and every refusal goes there.
    assert asked[0] == (b'SET', b'k', b'1')
    assert (b'NOSUCH',) in asked
    assert len(asked) <= 3


def test_python_error_in_the_c_call_is_a_script_error():
    """An error of Python itself inside the C redis.call reaches the
    script as lupa hands it any Python callable's error: an error with
    the script's line, or pcall's false; the server goes on."""
    server = create_server(config.Config())
    host = server.scripting
    client = Client(server)
    client.transport = Transport()
    server.clients[client.id] = client
    client.update_gate()
    client.data_received(ev('return redis.call("SET", KEYS[1], "v")', 'k'))
    assert host.eval_state.binding is not None
    host.client.out = ()        # (the C call refuses to read the reply)
    client.data_received(ev('local x = 1\nreturn redis.call("GET", KEYS[1])', 'k'))
    client.data_received(ev('return {pcall(redis.call, "GET", KEYS[1])}', 'k'))
    host.client.out = []
    client.data_received(ev('return redis.call("GET", KEYS[1])', 'k'))
    replies = b''.join(client.transport.written).split(b'\r\n')
    assert replies[1].startswith(b'-ERR ') and b' script: ' in replies[1]
    assert replies[1].endswith(b', on @user_script:2.')
    assert replies[2:4] == [b'*2', b'$-1']
    assert replies[-3:] == [b'$1', b'v', b'']


def test_evalsha_handler_takes_the_common_request(monkeypatch):
    """EVALSHA's C handler runs the common request itself (evalsha is not
    asked) and hands every other one, errors included, to evalsha."""
    from pyredis.commands import lookup, scripting
    from pyredis.scripting.host import ScriptHost
    asked = []

    def evalsha(c, argv):
        asked.append(tuple(argv[1:3]))
        return scripting.evalsha(c, argv)
    handler = fast.EvalSha(evalsha, scripting.finish_run, scripting.Script, ScriptHost, Client)
    server = create_server(config.Config())
    monkeypatch.setattr(lookup(b'evalsha'), 'proc', handler)
    client = Client(server)
    client.transport = Transport()
    server.clients[client.id] = client
    client.update_gate()
    body = 'return {KEYS[1], ARGV[1]}'
    client.data_received(req('SCRIPT', 'LOAD', body))
    sha = client.transport.written[-1].split(b'\r\n')[1]
    for args in [(sha, 1, 'k', 'v'), (sha, 0, 'v'), (sha, 2, 'k', 'v'), (sha, 1, 'k', 'v')]:
        client.data_received(req('EVALSHA', *args))
    # (The first run makes the script client: evalsha's.)
    assert asked == [(sha, b'1')]
    del asked[:]
    refused = [(sha.upper(), b'1'), (sha, b'01'), (sha, b'16'), (sha, b'-1'), (sha, b'3'),
               (b'f' * 40, b'0'), (b'short', b'0')]
    for name, n in refused:
        client.data_received(req('EVALSHA', name, n, 'k', 'v'))
    assert asked == refused
    replies = b''.join(client.transport.written[1:])
    assert replies == (b'*2\r\n$1\r\nk\r\n$1\r\nv\r\n' b'*0\r\n' b'*1\r\n$1\r\nk\r\n'
                       b'*2\r\n$1\r\nk\r\n$1\r\nv\r\n' b'*2\r\n$1\r\nk\r\n$1\r\nv\r\n'
                       b'-ERR value is not an integer or out of range\r\n'
                       b"-ERR Number of keys can't be greater than number of args\r\n"
                       b"-ERR Number of keys can't be negative\r\n"
                       b"-ERR Number of keys can't be greater than number of args\r\n"
                       b'-NOSCRIPT No matching script. Please use EVAL.\r\n'
                       b'-NOSCRIPT No matching script. Please use EVAL.\r\n')
