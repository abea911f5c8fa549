"""The inlined common case of call() gives what call() gives.

A request a client sends runs either on the trusted path (Client._process_input,
call()'s common case inlined for speed) or through process_command and
call(). The same request sequences are fed to an in-process server twice:
once as usual, once with every command forced through process_command. The
replies, the AOF bytes, the propagated stream (what replicas get), the
keyspace events, the dataset and the statistics (calls, rejected and
failed calls, error replies by code, dirty) and the ACL LOG must be
identical, in every client state: plain, MULTI, CLIENT REPLY OFF/SKIP,
maxmemory refusing writes, AOF on, replicas attached, RESP3, the master's
link, and a restricted ACL user (whose allowed commands the trusted path
runs from the user's own table, keys checked by a guard: acl.py).
"""

import types

import pytest

from pyredis import acl as acl_module, aof as aof_module, clock, config, rdb
from pyredis.commands import TABLE
from pyredis.networking import Client
from helpers import FakeTransport as Transport
from pyredis.notify import NotifyFlags
from pyredis.assembly import create_server
from pyredis.server import Server


KEY_GUARD = acl_module.KeyGuard


def req(*args):
    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)




class Events:
    """Stands in for the pub/sub hub: records keyspace notifications."""

    def __init__(self):
        self.published = []

    def publish(self, channel, message):
        self.published.append((channel, message))
        return 0


def refuse_when_full(limit):
    """An OOM gate that refuses once the keyspace holds ``limit`` keys: as
    deterministic as a test needs, and consulted as maxmemory's is."""
    def oom_check(c, cmd):
        if sum(len(db.data) for db in c.server.dbs) >= limit:
            return b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
        return None
    return oom_check


def run(stream, state, inline):
    server = create_server(config.Config())
    saved = {cmd: cmd.inline for cmd in TABLE.values()}
    try:
        if not inline:
            for cmd in TABLE.values():
                cmd.inline = False
        for cmd in TABLE.values():
            cmd.calls = cmd.rejected_calls = cmd.failed_calls = 0
            for sub in (cmd.subcommands or {}).values():
                sub.calls = sub.rejected_calls = sub.failed_calls = 0
        events = Events()
        server.pubsub = events
        server.notify_flags = NotifyFlags.parse('KEA')
        stream_ops = []
        aof = None
        if 'aof' in state:
            aof = server.aof
            aof.state = aof_module.AOF_ON
            server.propagate_targets.append(aof.feed)
            server.targets_changed()
        if 'replicas' in state:
            server.propagate_targets.append(lambda ops: stream_ops.extend(
                (dbid, list(argv)) for dbid, argv in ops))
            server.targets_changed()
        if 'maxmemory' in state:
            server.oom_check = refuse_when_full(3)
        client = Client(server)
        client.transport = Transport()
        server.clients[client.id] = client
        if 'resp3' in state:
            client.resp = 3
        if 'master' in state:
            client.is_master = True
        if 'restricted' in state or 'prefixes' in state:
            if 'python' in state:
                # The guards' Python form, as without the C extension.
                acl_module.KeyGuard = None
            acl = server.acl
            user = acl.users[b'app'] = acl.new_user(b'app')
            for rule in PREFIXES if 'prefixes' in state else RESTRICTED:
                user.apply(rule)
            acl.changed()
            client.user = user
        client.update_gate()
        if 'prefixes' in state:
            # (Each state must be in effect.)
            assert isinstance(client.dispatch[b'SET'].proc,
                              acl_module.KeyGuard or types.FunctionType)
        for chunk in stream:
            client.data_received(chunk)
        stats = sorted((cmd.fullname, cmd.calls, cmd.rejected_calls, cmd.failed_calls)
                       for top in TABLE.values()
                       for cmd in [top] + list((top.subcommands or {}).values())
                       if cmd.calls or cmd.rejected_calls or cmd.failed_calls)
        options = rdb.Options(server.config, server)
        return {
            'replies': b''.join(client.transport.written),
            'aof': aof._encode() if aof is not None else None,
            'stream': stream_ops,
            'events': events.published,
            'dataset': [sorted((k, rdb.dump_payload(v, options)) for k, v in db.data.items())
                        for db in server.dbs],
            'expires': [sorted(db.expires.items()) for db in server.dbs],
            'stats': stats,
            'errors': (server.stat.total_error_replies, sorted(server.stat.errors.items())),
            'dirty': server.dirty,
            'acllog': [(e.count, e.reason, e.context, e.object, e.username, e.cinfo)
                       for e in server.acl.log],
        }
    finally:
        for cmd, value in saved.items():
            cmd.inline = value
        acl_module.KeyGuard = KEY_GUARD


WRITES = (req('SET', 'a', '1') + req('INCR', 'a') + req('GET', 'a') + req('INCR', 'nope', 'x')
          + req('RPUSH', 'l', 'x', 'y') + req('LPOP', 'l') + req('INCR', 'l')
          + req('SET', 'e', 'v', 'EX', '100') + req('EXPIRE', 'a', '50') + req('GETDEL', 'e')
          + req('SADD', 's', 'm') + req('SPOP', 's') + req('HSET', 'h', 'f', 'v')
          + req('INCRBYFLOAT', 'f', '1.5') + req('MSET', 'm1', '1', 'm2', '2')
          + req('DEL', 'm1', 'missing') + req('NOSUCH') + req('GET')
          + req('SET', 'a', 'b', 'XX', 'NX')
          + req('SELECT', '2') + req('SET', 'in2', 'x') + req('INCR', 'in2') + req('SELECT', '0')
          + req('APPEND', 'a', 'tail') + req('ZADD', 'z', '1', 'm')
          + req('ZINCRBY', 'z', 'x', 'm'))

STREAMS = {
    'writes': WRITES,
    'multi': (req('MULTI') + req('SET', 't', '1') + req('INCR', 't') + req('GET') + req('EXEC')
              + req('MULTI') + req('SET', 't', '2') + req('LPUSH', 't', 'x') + req('EXEC')
              + WRITES),
    'client-reply': (req('CLIENT', 'REPLY', 'OFF') + req('SET', 'a', '1') + req('INCR', 'a')
                     + req('NOSUCH') + req('CLIENT', 'REPLY', 'ON') + req('GET', 'a')
                     + req('CLIENT', 'REPLY', 'SKIP') + req('INCR', 'a') + req('INCR', 'a')
                     + req('CLIENT', 'REPLY', 'SKIP') + req('GET') + req('GET', 'a') + WRITES),
}

# The restricted user: literal, prefix, glob, read-only and write-only
# patterns, a denied command, a second selector (MULTI's key t), a command
# allowed by a first-arg rule only.
RESTRICTED = [b'on', b'nopass', b'~a', b'~l', b'~e', b'~s', b'~h', b'~f', b'~m?', b'~in?',
              b'~z*', b'%R~nope', b'%W~wo', b'+@all', b'-spop', b'-zincrby', b'-select',
              b'+select|0', b'(~t* +@all)', b'(+get ~g*)']

ACL_STREAM = (req('SET', 'a', '1') + req('SET', 'nope', 'x') + req('SET', 'a', '2')
              + req('GET', 'nope') + req('GET', 'yy') + req('GET', 'a') + req('GET', 'g1')
              + req('SET', 'wo', 'v') + req('SET', 'wo', 'v', 'GET') + req('GET', 'wo')
              + req('MGET', 'a', 'nope', 'yy') + req('MGET', 'a', 'nope')
              + req('MSET', 'm1', '1', 't1', '2') + req('MSET', 'm1', '1', 'mxx', '2')
              + req('INCR', 'in2') + req('INCR', 'inxx') + req('SET', 't1', '1')
              + req('SPOP', 's') + req('SPOP', 't2') + req('SELECT', '0') + req('SELECT', '1')
              + req('PUBLISH', 'ch', 'm') + req('PING') + req('DEL', 'a', 'missing')
              + req('GET', 'yy') + req('GET', 'yy') + req('INCR', 'a') + req('INCR', 'nope'))

STREAMS['acl'] = ACL_STREAM

# A user with prefix patterns only: one-key commands are checked by the C
# KeyGuard (or its Python form: 'python').
PREFIXES = [b'on', b'nopass', b'~a*', b'~l*', b'~e*', b'~s*', b'~h*', b'~f*', b'~m1*', b'~m2*',
            b'~in*', b'~z*', b'~t*', b'~wo*', b'+@all', b'-spop']

STATES = ['plain', 'aof', 'replicas', 'aof+replicas', 'maxmemory', 'maxmemory+aof', 'resp3',
          'master', 'restricted', 'restricted+aof+replicas', 'restricted+maxmemory',
          'restricted+resp3', 'prefixes', 'prefixes+python', 'prefixes+aof+maxmemory']


@pytest.mark.parametrize('state', STATES)
@pytest.mark.parametrize('name', sorted(STREAMS))
def test_inline_path_matches_call(name, state, monkeypatch):
    # Expiry times are absolute: both runs must see the same clock.
    monkeypatch.setattr(clock, 'time', lambda: 1_800_000_000.0)
    monkeypatch.setattr(clock, 'time_ns', lambda: 1_800_000_000 * 10 ** 9)
    data = STREAMS[name]
    expected = run([data], state, inline=False)
    # (Each state must be in effect, or the comparison proves little.)
    assert expected['replies'] and expected['events'] and expected['stats']
    assert ('maxmemory' in state) == (b'-OOM' in expected['replies'])
    assert ('aof' in state) == bool(expected['aof'])
    assert ('replicas' in state) == bool(expected['stream'])
    assert ('restricted' in state or 'prefixes' in state) == (
        b'-NOPERM' in expected['replies']) == bool(expected['acllog'])
    got = run([data], state, inline=True)
    for key in expected:
        assert got[key] == expected[key], key
    # Split into small reads (requests cut anywhere): the same again. (The
    # ACL LOG's client-info shows the replies not yet written, which depend
    # on the reads: compared with the full path fed the same reads.)
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
    got = run(chunks, state, inline=True)
    for key in expected:
        if key != 'acllog':
            assert got[key] == expected[key], key
    assert got['acllog'] == run(chunks, state, inline=False)['acllog']


def test_inline_path_is_taken(monkeypatch):
    """The comparison above means something only if the trusted path runs
    the common commands itself."""
    calls = []
    real = Server.process_command
    monkeypatch.setattr(Server, 'process_command',
                        lambda self, c, argv: (calls.append(argv[0]), real(self, c, argv)))
    run([req('SET', 'a', '1') + req('GET', 'a') + req('INCR', 'a')], 'plain', inline=True)
    assert calls == []
    run([req('SET', 'a', '1') + req('GET', 'a')], 'plain', inline=False)
    assert calls == [b'SET', b'GET']
    # A restricted user's commands too, denied keys included (SPOP is
    # allowed by a selector, for other keys); what is not in its table (a
    # command with channels) takes process_command.
    calls.clear()
    got = run([req('SET', 'a', '1') + req('GET', 'a') + req('MGET', 'a', 'in1')
               + req('SET', 'a', 'x', 'GET') + req('GET', 'yy') + req('SPOP', 's')
               + req('PUBLISH', 'c', 'm')], 'restricted', inline=True)
    assert calls == [b'PUBLISH']
    assert got['replies'].count(b'-NOPERM') == 3
    # With prefix patterns only, one-key commands are checked in C.
    for state in ('prefixes', 'prefixes+python'):
        calls.clear()
        got = run([req('SET', 'a', '1') + req('GET', 'a') + req('GET', 'yy')
                   + req('SET', 'yy', 'x')], state, inline=True)
        assert calls == []
        assert got['replies'] == (b'+OK\r\n$1\r\n1\r\n' + 2 * (
            b'-NOPERM this user has no permissions to access one of the keys used as '
            b'arguments\r\n'))
    server = create_server(config.Config())
    user = server.acl.new_user(b'app')
    for rule in PREFIXES:
        user.apply(rule)
    user.update()
    guard = user.table()[b'SET']
    assert guard.real is TABLE[b'set'] and guard.proc is not guard.real.proc
    if KEY_GUARD is not None:
        assert isinstance(guard.proc, KEY_GUARD)


def test_command_error_is_the_reply_on_both_paths(monkeypatch):
    """A handler may raise CommandError(reply): the reply is sent and
    counted as a failed call, whichever path ran the command."""
    from pyredis.resp import CommandError
    for inline in (True, False):
        got = run([req('MOVE', 'k', 'notanumber') + req('MOVE', 'k', '99999999999')
                   + req('SELECT', 'x') + req('SWAPDB', '0', 'y')], 'plain', inline)
        assert got['replies'] == (b'-ERR value is not an integer or out of range\r\n'
                                  b'-ERR value is out of range, value must between -2147483648 '
                                  b'and 2147483647\r\n'
                                  b'-ERR value is not an integer or out of range\r\n'
                                  b'-ERR invalid second DB index\r\n')
        assert ('move', 2, 0, 2) in got['stats'] and ('swapdb', 1, 0, 1) in got['stats']
        assert got['errors'][0] == 4
    assert issubclass(CommandError, Exception)
