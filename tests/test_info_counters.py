"""INFO's error and traffic counters against redis-server.

The same sequence of requests - successes, rejections (unknown command,
arity, NOAUTH-free gates, MULTI queueing errors), failures inside handlers
(WRONGTYPE, syntax, EXECABORT), CLIENT REPLY OFF, a protocol error - goes to
a fresh pyredis and a fresh redis-server; then ``total_error_replies``,
every ``errorstat_*`` line, the calls/rejected_calls/failed_calls of every
``cmdstat_*`` line, and the network byte totals (which keep the bytes of
clients that have disconnected) must be the same.
"""

import pytest

from helpers import RawConn, encode_command, REDIS_SERVER

pytestmark = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')

SEQUENCE = [
    ('SET', 's', 'v'), ('GET', 's'), ('INCR', 's'), ('LPUSH', 's', 'x'),
    ('NOSUCHCMD', 'a', 'b'), ('GET',), ('SET', 'k', 'v', 'BADOPT'), ('CONFIG', 'NOPE'),
    ('RPUSH', 'l', 'a', 'b'), ('LRANGE', 'l', '0', '-1'), ('LINDEX', 'l', 'x'),
    ('HSET', 'h', 'f'), ('ZADD', 'z', 'nan', 'm'), ('EXPIRE', 's', 'abc'),
    ('MULTI',), ('SET', 'm', '1'), ('INCR', 's'), ('EXEC',),
    ('MULTI',), ('SET', 'm', '1'), ('GET',), ('EXEC',),
    ('MULTI',), ('MULTI',), ('DISCARD',), ('EXEC',),
    ('WATCH', 'm'), ('SELECT', '99'), ('SELECT', '1'), ('SET', 'x', 'y'), ('SELECT', '0'),
    ('ECHO', 'hi'), ('PING',), ('DEL', 's', 'l', 'h'), ('OBJECT', 'ENCODING', 'nokey'),
    ('MOVE', 'k', 'notanumber'), ('MOVE', 'k', '99999999999'), ('SELECT', 'x'),
    ('SWAPDB', '0', 'y'), ('SWAPDB', 'x', '0'),
    ('CLIENT', 'REPLY', 'OFF'), ('INCR', 'l2'), ('LPUSH', 'l2', 'x'), ('NOSUCH',),
    ('CLIENT', 'REPLY', 'ON'),
    ('CLIENT', 'REPLY', 'SKIP'), ('HGET', 'l2'), ('GET', 'l2'),
]


def run_sequence(port):
    conn = RawConn(port)
    replies = []
    for args in SEQUENCE:
        conn.send(encode_command(args))
    # CLIENT REPLY OFF/SKIP silence some of them: ask for a marker to know
    # where the replies end.
    conn.send(encode_command(('ECHO', 'end')))
    while True:
        r = conn.read_reply()
        replies.append(r)
        if r == b'$3\r\nend\r\n':
            break
    # A pipelined read of good requests and a malformed one.
    bad = RawConn(port)
    bad.send(encode_command(('SET', 'p', '1')) + b'*1\r\n$x\r\n')
    replies.append(bad.read_reply())
    replies.append(bad.read_reply())
    assert bad.closed()
    conn.close()
    return replies


def info(port, section):
    conn = RawConn(port)
    text = conn.call('INFO', section).split(b'\r\n', 1)[1].decode()
    conn.close()
    out = {}
    for line in text.split('\r\n'):
        if ':' in line and not line.startswith('#'):
            k, v = line.split(':', 1)
            out[k] = v
    return out


def command_counts(stats):
    """cmdstat lines without the timing fields, which differ."""
    out = {}
    for name, value in stats.items():
        fields = dict(f.split('=') for f in value.split(','))
        out[name] = (fields['calls'], fields['rejected_calls'], fields['failed_calls'])
    return out


def test_error_and_command_counters_match_redis(server_factory):
    ours = server_factory('pyredis')
    theirs = server_factory('redis')
    assert run_sequence(ours.port) == run_sequence(theirs.port)
    a, b = info(ours.port, 'stats'), info(theirs.port, 'stats')
    assert a['total_error_replies'] == b['total_error_replies']
    assert int(a['total_error_replies']) > 10
    assert info(ours.port, 'errorstats') == info(theirs.port, 'errorstats')
    assert command_counts(info(ours.port, 'commandstats')) == \
        command_counts(info(theirs.port, 'commandstats'))


def test_net_byte_totals_keep_disconnected_clients(server_factory):
    ours = server_factory('pyredis')
    theirs = server_factory('redis')
    totals = []
    for srv in (ours, theirs):
        for i in range(3):
            conn = RawConn(srv.port)
            conn.call('SET', 'key:%d' % i, 'x' * (100 * i))
            conn.call('GET', 'key:%d' % i)
            conn.close()
        stats = info(srv.port, 'stats')
        totals.append((int(stats['total_net_input_bytes']), int(stats['total_net_output_bytes'])))
    assert totals[0] == totals[1]
    assert totals[0][0] > 300


def test_command_durations_are_measured(pyredis):
    """usec and usec_per_call are real on every path: a fast pipelined
    command, a gated one (inside MULTI), and a rejected one."""
    conn = RawConn(pyredis.port)
    conn.call('CONFIG', 'RESETSTAT')
    conn.send(encode_command(('SET', 'a', '1')) * 50)
    for _ in range(50):
        conn.read_reply()
    conn.call('MULTI')
    conn.call('LPUSH', 'l', 'x')
    conn.call('EXEC')
    stats = info(pyredis.port, 'commandstats')
    for name in ('cmdstat_set', 'cmdstat_lpush', 'cmdstat_exec'):
        fields = dict(f.split('=') for f in stats[name].split(','))
        assert int(fields['usec']) > 0, stats[name]
        assert float(fields['usec_per_call']) > 0
    fields = dict(f.split('=') for f in stats['cmdstat_set'].split(','))
    assert fields['calls'] == '50'
    assert float(fields['usec_per_call']) == pytest.approx(int(fields['usec']) / 50, abs=0.01)


def test_counters_seen_by_info_in_the_same_pipeline(server_factory):
    """INFO pipelined after (and after itself) sees every call before it,
    as in Redis, although the inline path adds up calls per run."""
    def counts(port):
        conn = RawConn(port)
        conn.send(encode_command(('SET', 'a', '1')) * 5 + encode_command(('GET', 'a'))
                  + encode_command(('INFO', 'commandstats')) * 2
                  + encode_command(('INFO', 'stats')))
        for _ in range(6):
            conn.read_reply()
        seen = []
        for _ in range(3):
            text = conn.read_reply().split(b'\r\n', 1)[1].decode()
            fields = dict(line.split(':', 1) for line in text.split('\r\n') if ':' in line)
            seen.append(command_counts(fields) if 'cmdstat_set' in fields
                        else fields['total_commands_processed'])
        conn.close()
        return seen
    ours = server_factory('pyredis')
    theirs = server_factory('redis')
    assert counts(ours.port) == counts(theirs.port)


def test_debug_error_is_not_counted_as_an_error(compat):
    """DEBUG ERROR writes its error with addReplyProto, which bypasses the
    error statistics: after CONFIG RESETSTAT, total_error_replies stays 0,
    no errorstat line appears and DEBUG's failed_calls stays 0. (CLIENT
    REPLY SKIP silences it all the same.)"""
    compat.call('CONFIG', 'RESETSTAT')
    compat.call('DEBUG', 'ERROR', 'foo bar')
    compat.call('DEBUG', 'ERROR', 'WRONGTYPE zz')
    for conn in (compat.a, compat.b):       # (neither gets a reply)
        conn.send(encode_command(('CLIENT', 'REPLY', 'SKIP')))
        conn.send(encode_command(('DEBUG', 'ERROR', 'ERR skipped')))
    compat.call('MULTI')
    compat.call('DEBUG', 'ERROR', 'ERR in exec')
    compat.call('EXEC')
    a, b = info(compat.ours.port, 'stats'), info(compat.theirs.port, 'stats')
    assert a['total_error_replies'] == b['total_error_replies'] == '0'
    assert info(compat.ours.port, 'errorstats') == info(compat.theirs.port, 'errorstats') == {}
    assert command_counts(info(compat.ours.port, 'commandstats')) == \
        command_counts(info(compat.theirs.port, 'commandstats'))
    ours = info(compat.ours.port, 'commandstats')['cmdstat_debug']
    assert 'failed_calls=0' in ours
