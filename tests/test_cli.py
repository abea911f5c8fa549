"""redis-cli against pyredis, compared with redis-cli against redis-server:
one-shot commands, -n, an interactive session through a pseudo-terminal
(prompt with the selected database, hints built from COMMAND DOCS), and
starting the server from the command line with a config file.
"""

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time

import pytest

from helpers import REDIS_CLI, ROOT, RawConn, ServerProcess, free_port

pytestmark = pytest.mark.skipif(not REDIS_CLI, reason='redis-cli is not installed')


def cli(port, *args, stdin=None):
    p = subprocess.run([REDIS_CLI, '-p', str(port)] + list(args), input=stdin,
                       capture_output=True, timeout=20)
    return p.stdout.replace(str(port).encode(), b'PORT'), p.returncode


@pytest.mark.parametrize('args', [
    ('PING',),
    ('SET', 'greeting', 'hello'),
    ('GET', 'greeting'),
    ('GET', 'missing'),
    ('INCR', 'counter'),
    ('MSET', 'a', '1', 'b', '2'),
    ('MGET', 'a', 'missing', 'b'),
    ('FOO', 'bar'),
    ('SELECT', '99'),
    ('SET', 'k', 'v', 'EX', '100', 'GET'),
    ('TTL', 'k'),
    ('LCS', 'a', 'b', 'IDX'),
    ('COMMAND', 'GETKEYS', 'MSET', 'x', '1', 'y', '2'),
    ('--no-raw', 'MGET', 'a', 'missing'),
    ('--no-raw', 'FOO'),
    ('-3', 'HELLO', '3'),
    ('-3', 'LCS', 'a', 'b', 'IDX', 'WITHMATCHLEN'),
    ('--resp3', 'GET', 'missing'),
])
def test_one_shot_commands(pyredis, real_redis, args):
    ours = cli(pyredis.port, *args)
    theirs = cli(real_redis.port, *args)
    if args[-2:] == ('HELLO', '3'):
        # The client id is the only difference.
        import re
        strip = lambda out: re.sub(rb'\nid \d+\n', b'\n', out[0])
        assert strip(ours) == strip(theirs)
        return
    assert ours == theirs


def test_dash_n_selects_database(pyredis, real_redis):
    for srv in (pyredis, real_redis):
        assert cli(srv.port, '-n', '3', 'SET', 'here', '1')[0] == b'OK\n'
        assert cli(srv.port, '-n', '3', 'DBSIZE')[0] == b'1\n'
        assert cli(srv.port, 'DBSIZE')[0] == b'0\n'
        assert cli(srv.port, '-n', '3', 'GET', 'here')[0] == b'1\n'
        assert cli(srv.port, '-n', '16', 'PING')[0] == cli(srv.port, '-n', '16', 'PING')[0]


def test_commands_from_stdin_and_pipe_mode(pyredis, real_redis):
    script = b'SET a 1\nINCR a\nGET a\nSELECT 2\nDBSIZE\nFOO\n'
    assert cli(pyredis.port, stdin=script) == cli(real_redis.port, stdin=script)
    pipe = b'SET p 1\r\nINCR p\r\nINCR p\r\n'
    ours, theirs = cli(pyredis.port, '--pipe', stdin=pipe), cli(real_redis.port, '--pipe',
                                                                stdin=pipe)
    assert ours[1] == theirs[1] == 0
    assert b'errors: 0, replies: 3' in ours[0]
    assert cli(pyredis.port, 'GET', 'p')[0] == b'3\n'


def test_scan_and_bigkeys_modes(pyredis):
    for i in range(30):
        cli(pyredis.port, 'SET', 'scan:%d' % i, 'v' * i)
    out, rc = cli(pyredis.port, '--scan', '--pattern', 'scan:1*')
    assert rc == 0
    assert sorted(out.split()) == sorted(b'scan:%d' % i for i in range(30)
                                         if str(i).startswith('1'))
    out, rc = cli(pyredis.port, '--bigkeys')
    assert rc == 0 and b"Biggest string found '\"scan:29\"' has 29 bytes" in out
    assert b'30 strings with 435 bytes (100.00% of keys, avg size 14.50)' in out


class Terminal:
    """redis-cli in a pseudo-terminal, as a person would use it."""

    def __init__(self, port):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 200, 0, 0))
        env = dict(os.environ, TERM='xterm', HOME=os.environ.get('TMPDIR', '/tmp'))
        env['REDISCLI_HISTFILE'] = '/dev/null'
        self.proc = subprocess.Popen([REDIS_CLI, '-p', str(port)], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.port = port

    def read_until(self, marker, timeout=10, quiet=0.3):
        """Read until ``marker`` was shown and the screen then stayed still
        for ``quiet`` seconds (the hints are redrawn at each key)."""
        out = b''
        deadline = time.time() + timeout
        last = time.time()
        while time.time() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    out += os.read(self.master, 4096)
                except OSError:
                    break
                last = time.time()
            elif marker in out and time.time() - last > quiet:
                return out
        raise AssertionError('%r not seen in %r' % (marker, out))

    def type(self, text):
        os.write(self.master, text)

    def close(self):
        self.type(b'\x15quit\r')
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def session(port):
    """Type a few things; return what the screen showed at each step, with
    the port number replaced."""
    term = Terminal(port)
    prompt = b'127.0.0.1:%d> ' % port
    shown = []
    try:
        shown.append(term.read_until(prompt))
        term.type(b'SELECT 3\r')
        shown.append(term.read_until(b'127.0.0.1:%d[3]> ' % port))
        term.type(b'SET ')
        shown.append(term.read_until(b'SET \x1b[0;90;49mkey'))
        term.type(b'\x15GETEX k ')
        shown.append(term.read_until(b'GETEX k \x1b[0;90;49m'))
        term.type(b'\x15SET k "a b"\r')
        shown.append(term.read_until(b'OK'))
        term.type(b'GET k\r')
        shown.append(term.read_until(b'"a b"'))
        term.type(b'LCS k k IDX\r')
        shown.append(term.read_until(b'"len"'))
        term.type(b'FOO\r')
        shown.append(term.read_until(b'(error)'))
    finally:
        term.close()
    return [s.replace(str(port).encode(), b'PORT') for s in shown]


def test_interactive_session_prompt_and_hints(pyredis, real_redis):
    ours = session(pyredis.port)
    # The prompt shows the selected database.
    assert ours[1].endswith(b'127.0.0.1:PORT[3]> ')
    # Typing "SET " shows the arguments, from COMMAND DOCS.
    assert (b'SET \x1b[0;90;49mkey value [NX|XX] [GET] [EX seconds|PX milliseconds|'
            b'EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]') in ours[2]
    assert ours == session(real_redis.port)


def _server_cmd():
    exe = shutil.which('pyredis-server')
    return [exe] if exe else [sys.executable, '-m', 'pyredis']


def test_server_started_with_config_file_and_port(tmp_path):
    conf = tmp_path / 'my.conf'
    unused = free_port()
    conf.write_text('# a test configuration\nport %d\ndatabases 4\nhz 20\n'
                    'requirepass "s3cret"\nsave ""\n' % unused)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    log = open(tmp_path / 'log', 'wb')
    proc = subprocess.Popen(_server_cmd() + [str(conf), '--port', str(port), '--bind',
                                             '127.0.0.1', '--maxclients', '77'],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 15
        while True:
            try:
                conn = RawConn(port)
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None, \
                    (tmp_path / 'log').read_text()
                time.sleep(0.05)
        assert conn.call('PING') == b'-NOAUTH Authentication required.\r\n'
        assert conn.call('AUTH', 's3cret') == b'+OK\r\n'
        assert conn.call('SELECT', '4') == b'-ERR DB index is out of range\r\n'
        assert conn.call('SELECT', '3') == b'+OK\r\n'
        assert conn.call('CONFIG', 'GET', 'hz') == b'*2\r\n$2\r\nhz\r\n$2\r\n20\r\n'
        assert conn.call('CONFIG', 'GET', 'maxclients') == \
            b'*2\r\n$10\r\nmaxclients\r\n$2\r\n77\r\n'
        assert conn.call('CONFIG', 'GET', 'port') == \
            b'*2\r\n$4\r\nport\r\n$%d\r\n%d\r\n' % (len(str(port)), port)
        out, rc = cli(port, '-a', 's3cret', '--no-auth-warning', '-n', '2', 'SET', 'x', '1')
        assert (out, rc) == (b'OK\n', 0)
        assert b'config_file:%s' % str(conf).encode() in conn.call('INFO', 'server')
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    with pytest.raises(OSError):
        RawConn(unused, timeout=1)
