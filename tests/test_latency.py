"""The latency monitor against redis-server: LATENCY LATEST/HISTORY/RESET/
GRAPH/DOCTOR/HELP over the same events (times normalized)."""

import re

import pytest

from conftest import Compat


@pytest.fixture
def pair(server_factory):
    compat = Compat(server_factory('pyredis'), server_factory('redis'))
    yield compat
    compat.close()


_TIME = re.compile(rb':17\d{8}\r\n')
# DEBUG SLEEP 0.03 takes 30 ms, or a few more on a busy machine: the
# latencies (integers of 25 ms and more, and "<n>ms"/"<n> ms" in the texts)
# are compared as "a latency", the rest byte for byte.
_LATENCY = re.compile(rb':(?:2[5-9]|[3-9]\d|\d{3,4})\r\n')
_TEXT_MS = re.compile(rb'\b(?:2[5-9]|[3-9]\d|\d{3,4})( ?ms)\b')


def _normalized(reply):
    reply = _TIME.sub(b':T\r\n', reply)
    reply = _LATENCY.sub(b':MS\r\n', reply)
    return _TEXT_MS.sub(rb'N\1', reply)


def _both(pair, *args):
    a, b = _normalized(pair.a.call(*args)), _normalized(pair.b.call(*args))
    assert a == b, (args, a, b)
    return a


def test_latency_monitor_as_redis(pair):
    pair.call('LATENCY', 'DOCTOR')
    pair.call('LATENCY', 'LATEST')
    pair.call('LATENCY', 'HISTORY', 'command')
    pair.call('LATENCY', 'GRAPH', 'command')
    pair.call('LATENCY', 'RESET')
    pair.call('LATENCY', 'RESET', 'a', 'b')
    pair.call('LATENCY', 'HELP')
    pair.call('LATENCY', 'NOSUCH')
    pair.call('LATENCY')
    pair.call('CONFIG', 'SET', 'latency-monitor-threshold', '5')
    pair.call('LATENCY', 'DOCTOR')
    pair.call('DEBUG', 'SLEEP', '0.03')
    pair.call('DEBUG', 'SLEEP', '0.001')        # below the threshold
    _both(pair, 'LATENCY', 'LATEST')
    _both(pair, 'LATENCY', 'HISTORY', 'command')
    # (The graph's labels are seconds ago: compared without them.)
    graphs = [_normalized(conn.call('LATENCY', 'GRAPH', 'command')).split(b'\n')[:7]
              for conn in (pair.a, pair.b)]
    assert graphs[0] == graphs[1]
    pair.call('LATENCY', 'GRAPH', 'nosuch')
    for conn in (pair.a, pair.b):
        conn.call('CONFIG', 'SET', 'slowlog-log-slower-than', '-1')
    _both(pair, 'LATENCY', 'DOCTOR')
    for conn in (pair.a, pair.b):
        conn.call('CONFIG', 'SET', 'slowlog-log-slower-than', '100000')
    _both(pair, 'LATENCY', 'DOCTOR')
    pair.call('LATENCY', 'RESET', 'COMMAND', 'command')
    pair.call('LATENCY', 'LATEST')
    pair.call('LATENCY', 'DOCTOR')


def test_latency_graph_rendering():
    """sparkline.c's rendering of several samples, labels included."""
    from pyredis.commands.latency import _render
    out = _render([(10, '3s'), (20, '2s'), (40, '1s'), (40, '0s')], 80, 4)
    assert out == ('  ##\n'
                   '  ||\n'
                   ' o||\n'
                   '_|||\n'
                   '    \n'
                   '3210\n'
                   'ssss\n')


def _info(conn, section):
    text = conn.call('INFO', section).decode()
    return dict(line.split(':', 1) for line in text.split('\r\n') if ':' in line
                and not line.startswith(('$', '#')))


def _events(conn):
    """The names in LATENCY LATEST."""
    return set(re.findall(rb'\*4\r\n\$\d+\r\n([^\r]+)\r\n', conn.call('LATENCY', 'LATEST')))


def _wait_no_child(conn):
    import time
    for _ in range(600):
        info = _info(conn, 'persistence')
        if info['rdb_bgsave_in_progress'] == '0' and info['aof_rewrite_in_progress'] == '0':
            return
        time.sleep(0.05)
    raise AssertionError('the child did not finish')


def test_forks_are_counted_and_recorded(pair):
    """BGSAVE and BGREWRITEAOF count in total_forks and set
    latest_fork_usec, as redis-server's redisFork; the fork lasting a
    millisecond or more is the "fork" latency event (with
    latency-monitor-threshold 1), whichever way that falls on each
    server. CONFIG RESETSTAT zeroes both counters."""
    for conn in (pair.a, pair.b):
        conn.call('CONFIG', 'SET', 'latency-monitor-threshold', '1')
        conn.call('DEBUG', 'POPULATE', '300000')
    for n, cmd in ((1, 'BGSAVE'), (2, 'BGREWRITEAOF')):
        for conn in (pair.a, pair.b):
            assert conn.call(cmd).startswith(b'+Background')
            _wait_no_child(conn)
            stats = _info(conn, 'stats')
            assert stats['total_forks'] == str(n)
            usec = int(stats['latest_fork_usec'])
            assert usec > 0
            if usec >= 1000:
                assert b'fork' in _events(conn)
                assert conn.call('LATENCY', 'HISTORY', 'fork').startswith(b'*')
                assert re.search(rb'\d+\. fork: .* Fork rate is \d+\.\d\d GB/sec '
                                 rb'\((terrible|poor|good|excellent)\)\.\n',
                                 conn.call('LATENCY', 'DOCTOR'))
    pair.call('CONFIG', 'RESETSTAT')
    a, b = _info(pair.a, 'stats'), _info(pair.b, 'stats')
    for field in ('total_forks', 'latest_fork_usec'):
        assert a[field] == b[field], field


def test_eviction_exceeded_time(pair):
    """total_eviction_exceeded_time / current_eviction_exceeded_time
    (milliseconds): a period over maxmemory starts when an eviction run
    cannot get under the limit (noeviction: the first OOM) and ends at the
    next run that finds memory under it (here CONFIG SET maxmemory, which
    runs one in both servers)."""
    import time
    pair.call('SET', 'k', 'v')
    for conn in (pair.a, pair.b):
        stats = _info(conn, 'stats')
        assert stats['total_eviction_exceeded_time'] == '0'
        assert stats['current_eviction_exceeded_time'] == '0'
    pair.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
    pair.call('CONFIG', 'SET', 'maxmemory', '1')
    pair.call('SET', 'k2', 'v')             # -OOM
    time.sleep(0.05)
    during = []
    for conn in (pair.a, pair.b):
        stats = _info(conn, 'stats')
        current = int(stats['current_eviction_exceeded_time'])
        assert current > 0                  # the period is running
        assert int(stats['total_eviction_exceeded_time']) >= current
        during.append(current)
    pair.call('CONFIG', 'SET', 'maxmemory', '0')
    pair.call('CONFIG', 'SET', 'maxmemory', '1gb')
    pair.call('SET', 'k2', 'v')
    for conn, current in zip((pair.a, pair.b), during):
        stats = _info(conn, 'stats')
        assert stats['current_eviction_exceeded_time'] == '0'
        assert int(stats['total_eviction_exceeded_time']) >= current
    pair.call('CONFIG', 'RESETSTAT')
    for conn in (pair.a, pair.b):
        assert _info(conn, 'stats')['total_eviction_exceeded_time'] == '0'
    pair.call('CONFIG', 'SET', 'maxmemory', '0')


AOF_EVENTS = {b'aof-write', b'aof-write-alone', b'aof-write-active-child',
              b'aof-write-pending-fsync', b'aof-fsync-always', b'aof-fstat', b'aof-rename'}


def test_aof_latency_events_as_redis(server_factory):
    """The AOF's latency events under Redis's names: a 32 MB SET with
    appendfsync always makes a write and an fdatasync of a millisecond or
    more in both servers (aof-write, aof-write-alone, aof-fsync-always);
    the same with a BGSAVE child running, aof-write-active-child. (No
    timing is asserted: the names each server lists are compared.)"""
    args = ('--appendonly', 'yes', '--appendfsync', 'always',
            '--latency-monitor-threshold', '1')
    ours, theirs = server_factory('pyredis', *args), server_factory('redis', *args)
    pair = Compat(ours, theirs)
    try:
        big = 'x' * (32 << 20)
        pair.call('SET', 'big', big)
        for conn in (pair.a, pair.b):
            events = _events(conn)
            assert {b'aof-write', b'aof-write-alone', b'aof-fsync-always'} <= events, events
            assert b'aof-write-active-child' not in events
            assert conn.call('LATENCY', 'HISTORY', 'aof-write').startswith(b'*1\r\n')
            conn.call('LATENCY', 'RESET', 'command', 'fast-command')
        # The doctor's advices for these events (its list of events is in
        # each server's dictionary order).
        advices = [conn.call('LATENCY', 'DOCTOR').split(b'advices for you:', 1)[1]
                   for conn in (pair.a, pair.b)]
        assert advices[0] == advices[1]
        assert b"Your fsync policy is set to 'always'" in advices[0]
        pair.call('DEBUG', 'POPULATE', '20')
        pair.call('CONFIG', 'SET', 'rdb-key-save-delay', '100000')
        pair.call('BGSAVE')
        pair.call('SET', 'big2', big)
        for conn in (pair.a, pair.b):
            assert b'aof-write-active-child' in _events(conn)
            conn.call('CONFIG', 'SET', 'rdb-key-save-delay', '0')
        pair.call('LATENCY', 'RESET', 'aof-write-active-child')
        pair.call('LATENCY', 'HISTORY', 'aof-write-active-child')
    finally:
        pair.close()


def test_expire_and_eviction_deletions_are_timed(pair):
    """expire-del and eviction-del: deleting a set of 300,000 members
    takes a millisecond or more in both servers, whether it expires (here
    lazily, at a lookup) or is evicted."""
    import time
    members = ['m%d' % i for i in range(300000)]
    for conn in (pair.a, pair.b):
        conn.call('CONFIG', 'SET', 'latency-monitor-threshold', '1')
    for key in ('s1', 's2'):
        for i in range(0, len(members), 10000):
            pair.call('SADD', key, *members[i:i + 10000])
    pair.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
    pair.call('PEXPIRE', 's1', '1')
    time.sleep(0.01)
    pair.call('EXISTS', 's1')
    for conn in (pair.a, pair.b):
        assert b'expire-del' in _events(conn)
    pair.call('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-random')
    pair.call('CONFIG', 'SET', 'maxmemory', '1')
    pair.call('DBSIZE')
    for conn in (pair.a, pair.b):
        events = _events(conn)
        assert b'eviction-del' in events and b'eviction-cycle' in events, events
    pair.call('CONFIG', 'SET', 'maxmemory', '0')
    pair.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
    pair.call('DEBUG', 'SET-ACTIVE-EXPIRE', '1')


def _masked(raw):
    """A SLOWLOG/LATENCY reply with what differs between two servers
    masked: unix times, durations and latencies, client ports, and every
    figure of a verbatim text (with its length)."""
    raw = re.sub(rb'\*6\r\n:(\d+)\r\n:\d+\r\n:\d+\r\n', rb'*6\r\n:\1\r\n:T\r\n:D\r\n', raw)
    raw = re.sub(rb'\$\d+\r\n127\.0\.0\.1:\d+\r\n', b'$A\r\n127.0.0.1:P\r\n', raw)
    raw = re.sub(rb':17\d{8}\r\n:\d+\r\n', b':T\r\n:MS\r\n', raw)     # HISTORY, LATEST
    raw = re.sub(rb'(:T\r\n:MS\r\n):\d+\r\n', rb'\1:MAX\r\n', raw)  # LATEST's maximum
    if raw[:1] in (b'=', b'$') and b'\n' in raw[1:-2]:
        raw = re.sub(rb'\d+', b'N', raw)
    return raw


def test_slowlog_and_latency_in_resp3(pair):
    """SLOWLOG GET/LEN/HELP and LATENCY LATEST/HISTORY/DOCTOR/GRAPH/
    HISTOGRAM/HELP after HELLO 3, the same reply types and shapes as
    redis-server's (times, durations and ports masked)."""
    for conn in (pair.a, pair.b):
        conn.call('HELLO', '3')
        conn.call('CLIENT', 'SETNAME', 'r3')
        conn.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0')
        conn.call('CONFIG', 'SET', 'latency-monitor-threshold', '5')
        conn.call('SLOWLOG', 'RESET')
        conn.call('LATENCY', 'RESET')
        conn.call('CONFIG', 'RESETSTAT')
    pair.call('SET', 'a', 'b')
    pair.call('RPUSH', 'l', *['e%d' % i for i in range(40)])
    pair.call('DEBUG', 'SLEEP', '0.02')
    for args in (('SLOWLOG', 'GET'), ('SLOWLOG', 'GET', '2'), ('SLOWLOG', 'LEN'),
                 ('SLOWLOG', 'HELP'), ('LATENCY', 'LATEST'), ('LATENCY', 'HISTORY', 'command'),
                 ('LATENCY', 'HISTORY', 'nosuch'), ('LATENCY', 'DOCTOR'),
                 ('LATENCY', 'GRAPH', 'command'), ('LATENCY', 'GRAPH', 'nosuch'),
                 ('LATENCY', 'HISTOGRAM', 'nosuch'), ('LATENCY', 'HISTOGRAM', 'get'),
                 ('LATENCY', 'HELP')):
        a, b = _masked(pair.a.call(*args)), _masked(pair.b.call(*args))
        if args[:2] == ('LATENCY', 'GRAPH') and a[:1] == b'=':
            # (The labels under the graph are seconds ago.)
            a, b = a.split(b'\n')[:7], b.split(b'\n')[:7]
        assert a == b, (args, a, b)
    # A histogram's buckets depend on the durations: its head only.
    heads = [re.match(rb'%1\r\n\$3\r\nset\r\n%2\r\n\$5\r\ncalls\r\n:1\r\n'
                      rb'\$14\r\nhistogram_usec\r\n%\d+\r\n',
                      conn.call('LATENCY', 'HISTOGRAM', 'set')) for conn in (pair.a, pair.b)]
    assert all(heads), heads
