"""Long scripts: past busy-reply-threshold other clients get -BUSY while
the server keeps answering (SCRIPT KILL, FUNCTION KILL/STATS, SHUTDOWN
NOSAVE), a script that has not written is killed, one that has is
UNKILLABLE until SHUTDOWN NOSAVE. The same sequence runs on redis-server
and the replies are compared."""

import time

import pytest

from helpers import REDIS_SERVER, RawConn

needs_redis = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')

LOOP = 'local i = 0 while true do i = i + 1 end'
BUSY_EVAL = (b'-BUSY Redis is busy running a script. You can only call SCRIPT KILL or '
             b'SHUTDOWN NOSAVE.\r\n')


def _wait_busy(conn):
    """Until the server says it is busy (the threshold has passed)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        reply = conn.call('PING')
        if reply.startswith(b'-BUSY'):
            return reply
        time.sleep(0.02)
    raise AssertionError('never busy')


def _kill_sequence(srv):
    a = RawConn(srv.port, timeout=30)
    b = RawConn(srv.port, timeout=30)
    out = []
    a.send_command('EVAL', LOOP, '0')
    out.append(_wait_busy(b))
    out.append(b.call('GET', 'x'))
    out.append(b.call('SHUTDOWN'))
    out.append(b.call('FUNCTION', 'KILL'))
    out.append(b.call('NOSUCHCOMMAND'))
    # A connection made while the script runs is served too.
    c = RawConn(srv.port, timeout=30)
    out.append(c.call('PING'))
    out.append(c.call('SCRIPT', 'KILL'))
    out.append(a.read_reply())
    out.append(a.call('PING'))
    out.append(c.call('SET', 'x', '1'))
    out.append(b.call('GET', 'x'))
    out.append(b.call('SCRIPT', 'KILL'))
    for conn in (a, b, c):
        conn.close()
    return out


@needs_redis
def test_busy_and_script_kill_match_redis(server_factory):
    ours = server_factory('pyredis', '--busy-reply-threshold', '100')
    theirs = server_factory('redis', '--busy-reply-threshold', '100')
    mine, real = _kill_sequence(ours), _kill_sequence(theirs)
    assert mine == real
    assert mine[0] == BUSY_EVAL


def _function_sequence(srv):
    a = RawConn(srv.port, timeout=30)
    b = RawConn(srv.port, timeout=30)
    a.call('CONFIG', 'SET', 'lua-time-limit', '100')
    a.call('FUNCTION', 'LOAD', '#!lua name=loops\nredis.register_function{function_name="spin", '
           'callback=function() ' + LOOP + ' end, flags={"no-writes"}}')
    out = []
    a.send_command('FCALL', 'spin', '0')
    out.append(_wait_busy(b))
    out.append(b.call('SCRIPT', 'KILL'))
    stats = b.call('FUNCTION', 'STATS')
    out.append(b'spin' in stats and b'running_script' in stats)
    out.append(b.call('FUNCTION', 'KILL'))
    out.append(a.read_reply())
    out.append(b.call('FUNCTION', 'STATS'))
    a.close()
    b.close()
    return out


@needs_redis
def test_function_kill_matches_redis(server_factory):
    ours, theirs = server_factory('pyredis'), server_factory('redis')
    assert _function_sequence(ours) == _function_sequence(theirs)


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_unkillable_then_shutdown_nosave(server_factory, kind):
    if kind == 'redis' and not REDIS_SERVER:
        pytest.skip('redis-server is not installed')
    srv = server_factory(kind, '--busy-reply-threshold', '100')
    a = RawConn(srv.port, timeout=30)
    b = RawConn(srv.port, timeout=30)
    a.send_command('EVAL', 'redis.call("set", "k", "v") ' + LOOP, '0')
    _wait_busy(b)
    assert b.call('SCRIPT', 'KILL').startswith(b'-UNKILLABLE Sorry the script already executed')
    assert b.call('SHUTDOWN').startswith(b'-BUSY')
    b.send_command('SHUTDOWN', 'NOSAVE')
    assert srv.proc.wait(20) == 0
    assert a.closed() and b.closed()


def test_request_cut_across_the_script_is_not_lost(server_factory):
    """A client that had sent half a request when the script started gets
    that request run whole once the script ends."""
    srv = server_factory('pyredis', '--busy-reply-threshold', '100')
    a = RawConn(srv.port, timeout=30)
    b = RawConn(srv.port, timeout=30)
    c = RawConn(srv.port, timeout=30)
    b.send(b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n')
    time.sleep(0.1)
    a.send_command('EVAL', LOOP, '0')
    _wait_busy(c)
    b.send(b'$5\r\nvalue\r\n')
    time.sleep(0.2)
    assert c.call('SCRIPT', 'KILL') == b'+OK\r\n'
    assert a.read_reply().startswith(b'-ERR Script killed')
    assert b.read_reply() == b'+OK\r\n'
    assert c.call('GET', 'k') == b'$5\r\nvalue\r\n'
    for conn in (a, b, c):
        conn.close()


def test_redis_cli_script_kill(server_factory):
    """redis-cli, connecting while the script runs, kills it."""
    import shutil
    import subprocess
    if not shutil.which('redis-cli'):
        pytest.skip('redis-cli is not installed')
    srv = server_factory('pyredis', '--lua-time-limit', '100')
    a = RawConn(srv.port, timeout=30)
    b = RawConn(srv.port, timeout=30)
    a.send_command('EVAL', LOOP, '0')
    _wait_busy(b)
    cli = ['redis-cli', '-p', str(srv.port)]
    out = subprocess.run(cli + ['PING'], capture_output=True, text=True, timeout=30).stdout
    assert out.startswith('BUSY Redis is busy running a script.')
    out = subprocess.run(cli + ['SCRIPT', 'KILL'], capture_output=True, text=True,
                         timeout=30).stdout
    assert out == 'OK\n'
    assert a.read_reply().startswith(b'-ERR Script killed by user with SCRIPT KILL...')
    assert subprocess.run(cli + ['PING'], capture_output=True, text=True,
                          timeout=30).stdout == 'PONG\n'
    a.close()
    b.close()
