"""SLOWLOG against redis-server: entries (ids, argument trimming to 32
arguments and 128 bytes, redaction, client address and name), GET/LEN/
RESET/HELP, slowlog-max-len; and slow commands on the trusted path."""

import re

import pytest

from conftest import Compat


@pytest.fixture
def pair(server_factory):
    compat = Compat(server_factory('pyredis'), server_factory('redis'))
    yield compat
    compat.close()


def _entries(conn, count='-1'):
    """SLOWLOG GET as (id, argv, addr-is-this-host, name) tuples: timestamps,
    durations and ports differ between the two servers."""
    raw = conn.call('SLOWLOG', 'GET', count)
    out = []
    for m in re.finditer(rb'\*6\r\n:(\d+)\r\n:(\d+)\r\n:(\d+)\r\n\*(\d+)\r\n', raw):
        pos = m.end()
        args = []
        for _ in range(int(m.group(4))):
            n = int(raw[pos + 1:raw.index(b'\r\n', pos)])
            pos = raw.index(b'\r\n', pos) + 2
            args.append(raw[pos:pos + n])
            pos += n + 2
        addr_len = int(raw[pos + 1:raw.index(b'\r\n', pos)])
        pos = raw.index(b'\r\n', pos) + 2
        addr = raw[pos:pos + addr_len]
        pos += addr_len + 2
        name_len = int(raw[pos + 1:raw.index(b'\r\n', pos)])
        pos = raw.index(b'\r\n', pos) + 2
        name = raw[pos:pos + name_len]
        assert int(m.group(2)) > 1700000000 and int(m.group(3)) >= 0
        out.append((int(m.group(1)), args, addr.startswith(b'127.0.0.1:'), name))
    return out


def test_slowlog_entries_as_redis(pair):
    pair.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0')
    pair.call('SET', 'a', 'b')
    pair.call('CLIENT', 'SETNAME', 'me')
    pair.call('GET', 'a')
    pair.call('RPUSH', 'l', *['e%d' % i for i in range(40)])
    pair.call('RPUSH', 'l', *['e%d' % i for i in range(31)])
    pair.call('RPUSH', 'l', *['e%d' % i for i in range(30)])
    pair.call('SET', 'big', 'x' * 200)
    pair.call('SET', 'edge', 'y' * 128)
    pair.call('AUTH', 'nosuchpass')
    for conn in (pair.a, pair.b):
        conn.call('HELLO', '2', 'AUTH', 'default', 'any')
    pair.call('MULTI')
    pair.call('SET', 'm', '1')
    pair.call('INCR', 'm')
    pair.call('EXEC')
    pair.call('NOSUCHCOMMAND')
    pair.call('SLOWLOG', 'LEN')
    ours, theirs = _entries(pair.a), _entries(pair.b)
    assert ours == theirs
    assert [b'... (11 more arguments)' in e[1] for e in ours].count(True) == 1
    pair.call('SLOWLOG', 'GET', '0')
    pair.call('SLOWLOG', 'GET', '-2')
    pair.call('SLOWLOG', 'GET', 'x')
    pair.call('SLOWLOG', 'HELP')
    pair.call('SLOWLOG', 'RESET')
    pair.call('SLOWLOG', 'LEN')
    pair.call('SLOWLOG', 'NOSUCH')
    pair.call('SLOWLOG')
    pair.call('CONFIG', 'SET', 'slowlog-max-len', '3')
    for i in range(5):
        pair.call('SET', 'k%d' % i, 'v')
    assert _entries(pair.a) == _entries(pair.b)
    pair.call('SLOWLOG', 'LEN')
    pair.call('CONFIG', 'SET', 'slowlog-log-slower-than', '-1')
    pair.call('SLOWLOG', 'RESET')
    pair.call('SET', 'x', 'y')
    pair.call('SLOWLOG', 'LEN')


# Each command hides its credentials where its own parsing reaches them
# (redactClientCommandArgument): ACL SETUSER every argument from the user
# name on; CONFIG SET the value of each sensitive directive, past an unknown
# option or a duplicate too, but not with an odd argument count; MIGRATE's
# AUTH/AUTH2 up to KEYS or a syntax error; AUTH in clear past 3 arguments
# (the syntax error comes first); HELLO nothing after a bad protocol version.
REDACTED_COMMANDS = [
    ['ACL', 'SETUSER', 'x'], ['acl', 'setuser', 'y', 'on', '>pw', '~*'],
    ['ACL', 'SETUSER', 'z', 'bogus'],
    ['CONFIG', 'SET', 'masterauth', 'x'], ['config', 'set', 'foo', 'bar', 'masterauth', 'x'],
    ['config', 'set', 'requirepass', '', 'masterauth', 'y', 'masterauth', 'z'],
    ['config', 'set', 'MasterAuth', 'q', 'MASTERUSER', 'w'],
    ['config', 'set', 'masterauth', 'x', 'maxmemory'],
    ['config', 'set', 'maxmemory', '0', 'masteruser', 'mu'],
    ['CONFIG', 'SET', 'masterauth', '', 'masteruser', ''],
    ['MIGRATE', '127.0.0.1', '1', 'k', '0', '10', 'AUTH', 'sekrit2'],
    ['MIGRATE', '127.0.0.1', '1', 'k', '0', '10', 'COPY', 'REPLACE', 'AUTH2', 'u', 'p'],
    ['MIGRATE', '127.0.0.1', '1', '', '0', '10', 'AUTH', 'p', 'KEYS', 'auth', 'k'],
    ['MIGRATE', '127.0.0.1', '1', 'k', '0', '10', 'AUTH', 'p', 'bogus', 'AUTH', 'q'],
    ['MIGRATE', '127.0.0.1', '1', 'k', '0', '10', 'bogus', 'AUTH', 'q'],
    ['MIGRATE', '127.0.0.1', '1', 'k', '0', '10', 'AUTH'],
    ['MIGRATE', '127.0.0.1', '1', 'k', '0', '10', 'AUTH2', 'u'],
    ['MIGRATE', '127.0.0.1', '1', 'k', '0', '10', 'auth', 'a', 'AUTH2', 'u', 'v'],
    ['AUTH', 'a', 'b', 'c'], ['AUTH', 'a'], ['AUTH', 'a', 'b'],
    ['HELLO', '2', 'AUTH', 'u', 'p', 'SETNAME', 'n'],
    ['HELLO', '2', 'SETNAME', 'n', 'AUTH', 'u', 'p'],
    ['CLIENT', 'SETNAME', ''],
    ['HELLO', '2', 'AUTH', 'u'], ['HELLO', 'x', 'AUTH', 'u', 'p'],
    ['HELLO', '4', 'AUTH', 'u', 'p'],
    ['HELLO', '2', 'AUTH', 'u', 'p', 'bogus', 'AUTH', 'a', 'b'],
]


def test_redaction_as_redis(pair):
    pair.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0')
    pair.call('CONFIG', 'SET', 'slowlog-max-len', '1000')
    pair.call('SLOWLOG', 'RESET')
    for args in REDACTED_COMMANDS:
        pair.call(*args)
    ours, theirs = _entries(pair.a), _entries(pair.b)
    assert ours == theirs
    logged = [b' '.join(e[1]) for e in ours]
    assert b'MIGRATE 127.0.0.1 1 k 0 10 AUTH (redacted)' in logged
    assert not any(b'sekrit2' in line or b'>pw' in line for line in logged)


def test_slow_commands_on_the_trusted_path(server_factory):
    """With the default kind of threshold (not a gate), a slow command among
    pipelined fast ones is logged with its own arguments."""
    srv = server_factory('pyredis')
    r = srv.client()
    r.execute_command('DEBUG', 'POPULATE', '200000')
    r.config_set('slowlog-log-slower-than', '2000')     # 2 ms
    r.slowlog_reset()
    p = r.pipeline(transaction=False)
    p.get('key:1')
    p.get('key:2')
    p.keys('*')
    p.get('key:3')
    p.dbsize()
    p.execute()
    entries = r.slowlog_get()
    assert [e['command'] for e in entries][-1] == b'KEYS *'
    assert entries[-1]['duration'] >= 2000
    assert entries[-1]['client_address'].startswith(b'127.0.0.1:')
    r.close()
