"""Test helpers: start servers on free ports, talk raw RESP, compare replies.

Every server a test starts listens on 127.0.0.1 on a free port and is
stopped by the fixture that started it, also when the test fails.
"""

import glob
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REDIS_SERVER = shutil.which('redis-server')
REDIS_CLI = shutil.which('redis-cli')


def _ephemeral_low():
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_EPHEMERAL_LOW = _ephemeral_low()
_handed_out = set()
_random = random.Random()


def free_port():
    """A loopback port nothing listens on, for a server a test starts.

    Taken below the kernel's ephemeral range (with its cluster bus port,
    +10000, below it too) when the range leaves room: a port that bind(0)
    hands out comes from that range, and between this check and the
    server's own bind it can become the local port of some outgoing
    connection (EADDRINUSE). Never the same port twice in one process."""
    high = _EPHEMERAL_LOW - 10000
    for _ in range(200 if high > 11000 else 0):
        port = _random.randrange(10000, high)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class ServerProcess:
    """A pyredis or redis-server child process."""

    def __init__(self, kind='pyredis', args=(), config_text=None, port=None, cwd=None,
                 wait=True, stdin=None):
        self.kind = kind
        self.port = port or free_port()
        self.dir = cwd or tempfile.mkdtemp(prefix='pyredis-test-')
        cmd = self.command(kind)
        if config_text is not None:
            path = os.path.join(self.dir, 'test.conf')
            with open(path, 'w') as f:
                f.write(config_text)
            cmd.append(path)
        cmd += ['--port', str(self.port), '--bind', '127.0.0.1', '--dir', self.dir]
        if not any(a == '--save' for a in args):
            cmd += ['--save', '']
        if kind == 'redis':
            cmd += ['--enable-debug-command', 'yes']
        else:
            cmd += ['--enable-debug-command', 'yes']
        cmd += list(args)
        self.cmd = cmd
        self.logpath = os.path.join(self.dir, 'server.log')
        self.log = open(self.logpath, 'ab')
        env = dict(os.environ)
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.dir, env=env,
                                     stdin=subprocess.PIPE if stdin is not None else None)
        if stdin is not None:
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
        if wait:
            self.wait_ready()

    @staticmethod
    def command(kind):
        if kind == 'redis':
            return [REDIS_SERVER]
        return [sys.executable, '-m', 'pyredis']

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('server exited with %s:\n%s' % (
                    self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.5) as s:
                    s.sendall(b'PING\r\n')
                    data = s.recv(100)
                    if data.startswith((b'+PONG', b'-NOAUTH', b'-LOADING')):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError('server did not start:\n' + self.read_log())

    def read_log(self):
        try:
            with open(self.logpath, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def client(self, **kw):
        import redis
        return redis.Redis(host='127.0.0.1', port=self.port, **kw)

    def raw(self):
        return RawConn(self.port)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def kill(self):
        self.stop(signal.SIGKILL)


class RawConn:
    """A socket speaking raw RESP: send bytes or commands, read whole replies
    as the exact bytes the server sent."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.buf = b''

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_command(self, *args):
        self.sock.sendall(encode_command(args))

    def call(self, *args):
        self.send_command(*args)
        return self.read_reply()

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError('connection closed')
        self.buf += data

    def _line(self, pos):
        while True:
            i = self.buf.find(b'\r\n', pos)
            if i >= 0:
                return i
            self._fill()

    def read_reply(self):
        end = self._skip(0)
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def _skip(self, pos):
        while len(self.buf) <= pos:
            self._fill()
        t = self.buf[pos:pos + 1]
        nl = self._line(pos)
        head = self.buf[pos + 1:nl]
        pos = nl + 2
        if t in b'$=!':
            n = int(head)
            if n < 0:
                return pos
            while len(self.buf) < pos + n + 2:
                self._fill()
            return pos + n + 2
        if t in b'*~>':
            n = int(head)
            for _ in range(max(n, 0)):
                pos = self._skip(pos)
            return pos
        if t == b'%' or t == b'|':
            for _ in range(int(head) * 2):
                pos = self._skip(pos)
            return pos
        return pos

    def closed(self, timeout=2):
        """True when the server closes the connection (reads until EOF)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    return True
                self.buf += data
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True


def incr_aof(srv, last=b'$3\r\nend\r\n$1\r\n1\r\n', timeout=10):
    """The server's incremental AOF file, once it ends with ``last`` (by
    default the propagation of a ``SET end 1`` the test sent after the
    commands it checks)."""
    deadline = time.monotonic() + timeout
    while True:
        files = glob.glob(os.path.join(srv.dir, 'appendonlydir', '*.incr.aof'))
        if files:
            with open(files[0], 'rb') as f:
                data = f.read()
            if data.endswith(last):
                return data
        if time.monotonic() > deadline:
            raise AssertionError('AOF not written in ' + srv.dir)
        time.sleep(0.02)


def encode_command(args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = b'%d' % a
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


class FakeTransport:
    """An asyncio transport that records what an in-process Client writes."""

    def __init__(self):
        self.written = []
        self.closed = False

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    abort = close

    def get_write_buffer_size(self):
        return 0     # the peer takes everything at once

    def get_extra_info(self, name, default=None):
        return default

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass
