"""MONITOR, side by side with redis-server: the lines a monitor gets (the
timestamp and the client's port normalized), the monitor client's
restrictions, RESET, redis-py's monitor() and redis-cli monitor."""

import re
import shutil
import subprocess
import time

import pytest

from helpers import RawConn, REDIS_CLI

_STAMP = re.compile(rb'^\+\d+\.\d{6} \[(\d+) (?:127\.0\.0\.1:\d+|lua)\]', re.M)

REQUESTS = [
    b'SET k "a b\\x01\\"c\\n"', b'GET k', b'MULTI', b'SET x 1', b'INCR x', b'EXEC',
    b'EVAL "redis.call(\'set\',\'y\',\'2\') return redis.call(\'get\',\'y\')" 0',
    b'AUTH foo', b'AUTH a b', b'HELLO 2 AUTH default pw', b'HELLO 2 SETNAME n AUTH u p',
    b'HELLO 2', b'ACL SETUSER bob on >pw', b'ACL WHOAMI', b'CONFIG GET maxmemory',
    b'NOSUCH a', b'GET', b'SELECT 3', b'SET z 1', b'PING', b'DEBUG SLEEP 0', b'MULTI',
    b'SET q 1', b'NOSUCH', b'EXEC', b'MULTI', b'SET q 1', b'DISCARD', b'SLOWLOG LEN',
    b'INFO server', b'CLIENT SETNAME me', b'SET after name', b'MONITOR', b'SUBSCRIBE ch',
    b'UNSUBSCRIBE ch', b'RESET', b'EVALSHA 1234567890123456789012345678901234567890 0',
    b'SCRIPT LOAD "return 1"', b'MULTI', b'EVAL "return redis.call(\'incr\',\'x\')" 0',
    b'EXEC', b'FUNCTION LOAD "#!lua name=lib\\nredis.register_function(\'f\', '
    b'function() return redis.call(\'ping\') end)"',
    b'FCALL f 0', b'BLPOP nolist 0.01', b'WATCH k', b'UNWATCH', b'SET n 12345',
    b'QUIT',
]


def _monitor_lines(port, requests):
    m = RawConn(port)
    assert m.call('MONITOR') == b'+OK\r\n'
    c = RawConn(port)
    for req in requests:
        c.send(req + b'\r\n')
        if req != b'QUIT':
            c.read_reply()
    c.close()
    # PING from the monitor itself is shown too, after its reply: the end.
    m.send(b'PING\r\n')
    lines = []
    while True:
        line = m.read_reply()
        if line == b'+PONG\r\n':
            break
        lines.append(line)
    lines.append(m.read_reply())
    m.close()
    return [_STAMP.sub(rb'+T [\1 addr]', line) for line in lines]


def _cleanup(port):
    c = RawConn(port)
    c.call('FUNCTION', 'FLUSH')
    c.call('ACL', 'DELUSER', 'bob')
    c.close()


def test_monitor_lines_as_redis(pyredis, real_redis):
    try:
        ours = _monitor_lines(pyredis.port, REQUESTS)
        theirs = _monitor_lines(real_redis.port, REQUESTS)
    finally:
        _cleanup(pyredis.port)
        _cleanup(real_redis.port)
    assert ours == theirs
    assert b'+T [0 addr] "AUTH" "(redacted)" "(redacted)"\r\n' in ours
    assert b'+T [0 addr] "set" "y" "2"\r\n' in ours


# Credentials in MONITOR lines: the same redaction as the slow log
# (test_slowlog.REDACTED_COMMANDS); ACL and CONFIG are admin commands, never
# shown. A MIGRATE with AUTH used to drop the connection that sent it.
REDACTED_REQUESTS = [
    b'MIGRATE 127.0.0.1 1 k 0 10 AUTH sekrit2',
    b'MIGRATE 127.0.0.1 1 k 0 10 COPY REPLACE AUTH2 u p',
    b'MIGRATE 127.0.0.1 1 "" 0 10 AUTH p KEYS auth k',
    b'MIGRATE 127.0.0.1 1 k 0 10 AUTH p bogus AUTH q',
    b'MIGRATE 127.0.0.1 1 k 0 10 bogus AUTH q', b'MIGRATE 127.0.0.1 1 k 0 10 AUTH',
    b'MIGRATE 127.0.0.1 1 k 0 10 AUTH2 u', b'MIGRATE 127.0.0.1 1 k 0 10 auth a AUTH2 u v',
    b'AUTH a b c', b'AUTH a', b'AUTH a b', b'HELLO 2 AUTH u p SETNAME n', b'HELLO 2 AUTH u',
    b'HELLO x AUTH u p', b'HELLO 4 AUTH u p', b'HELLO 2 AUTH u p bogus AUTH a b',
    b'CONFIG SET foo bar masterauth x', b'ACL SETUSER nobody', b'ACL DELUSER nobody',
    b'PING',
]


def test_monitor_redaction_as_redis(pyredis, real_redis):
    ours = _monitor_lines(pyredis.port, REDACTED_REQUESTS)
    theirs = _monitor_lines(real_redis.port, REDACTED_REQUESTS)
    assert ours == theirs
    assert b'+T [0 addr] "MIGRATE" "127.0.0.1" "1" "k" "0" "10" "AUTH" "(redacted)"\r\n' in ours


def test_monitor_client_restrictions(compat):
    compat.call('SET', 'k', 'v')
    compat.call('MULTI')
    compat.call('MONITOR')
    compat.call('DISCARD')
    compat.call('MONITOR')

    def both(data, n):
        out = []
        for conn in (compat.a, compat.b):
            conn.send(data)
            out.append([_STAMP.sub(rb'+T [\1 addr]', conn.read_reply()) for _ in range(n)])
        assert out[0] == out[1]
        return out[0]

    # A second MONITOR gets no reply at all: PING's is next, and its line.
    assert both(b'MONITOR\r\nPING\r\n', 2) == [b'+PONG\r\n', b'+T [0 addr] "PING"\r\n']
    both(b'*2\r\n$3\r\nGET\r\n$1\r\nk\r\n', 1)
    both(b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nw\r\n', 1)
    both(b'*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$1\r\nm\r\n', 1)
    both(b'ECHO x\r\n', 2)
    # RESET leaves monitor mode: commands run again, nothing is fed.
    assert both(b'RESET\r\n', 1) == [b'+RESET\r\n']
    compat.call('GET', 'k')
    compat.call('PING')


def test_client_list_flag_and_gate(pyredis, real_redis):
    for srv in (pyredis, real_redis):
        m = RawConn(srv.port)
        m.call('CLIENT', 'SETNAME', 'mon')
        m.call('MONITOR')
        c = srv.client()
        line = [x for x in c.client_list() if x['name'] == 'mon'][0]
        assert line['flags'] == 'O'
        # Pipelined requests of another client (the trusted path) are fed.
        p = c.pipeline(transaction=False)
        for i in range(20):
            p.set('p%d' % i, i)
        p.execute()
        fed = [m.read_reply() for _ in range(20 + 1)]    # CLIENT LIST too
        assert all(b'"set" "p' in f.lower() for f in fed[1:])
        m.close()
        time.sleep(0.1)
        assert 'O' not in [x['flags'] for x in c.client_list()]
        c.close()


def test_redis_py_monitor(pyredis):
    r = pyredis.client()
    with r.monitor() as m:
        r.set('foo', 'bar')
        r.get('foo')
        got = []
        for cmd in m.listen():
            got.append(cmd['command'])
            if cmd['command'] == 'GET foo':
                break
    assert got[-2:] == ['SET foo bar', 'GET foo']
    r.close()


@pytest.mark.skipif(not REDIS_CLI, reason='redis-cli is not installed')
def test_redis_cli_monitor(pyredis):
    proc = subprocess.Popen([shutil.which('redis-cli'), '-p', str(pyredis.port), 'monitor'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        r = pyredis.client()
        r.set('cli-key', 'with space')
        r.close()
        time.sleep(0.3)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=5)[0]
    assert out.startswith(b'OK\n')
    assert re.search(rb'^\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "cli-key" "with space"$',
                     out, re.M), out
