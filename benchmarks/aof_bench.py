"""AOF write throughput: pyredis vs redis-server, both with ``appendonly yes``.

Three servers on free loopback ports, each in its own temp directory:

    pyredis  --appendonly yes --appendfsync everysec
    redis    --appendonly yes --appendfsync everysec
    pyredis  (no AOF)

For each write test (SET, INCR, LPUSH; LPUSH is skipped when pyredis does
not implement it) redis-benchmark runs against each server in turn, the
order rotating every round, and the best requests/s of the rounds is kept.
The report gives the ratio pyredis/redis with the same AOF setting and the
cost of the AOF for pyredis (with AOF / without).

    python benchmarks/aof_bench.py                      # -P 16, 200000 requests, 3 rounds
    python benchmarks/aof_bench.py -n 500000 --rounds 5 --fsync always
"""

import argparse
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def call(port, payload):
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        s.sendall(payload)
        return s.recv(1 << 16)


def wait_ready(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('server exited early (%s)' % proc.returncode)
        try:
            if call(port, b'PING\r\n').startswith(b'+PONG'):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError('server did not start')


class Server:
    def __init__(self, label, kind, extra):
        self.label = label
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='aofbench-%s-' % kind)
        cmd = [shutil.which('redis-server')] if kind == 'redis' else [sys.executable, '-m',
                                                                       'pyredis']
        cmd += ['--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
                '--dir', self.dir] + extra
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env, cwd=self.dir)
        wait_ready(self.port, self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def has_command(self, name):
        reply = call(self.port, b'*3\r\n$7\r\nCOMMAND\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n' % (
            len(name), name.encode()))
        return not reply.startswith((b'*1\r\n*-1', b'*1\r\n$-1'))

    def aof_size(self):
        reply = call(self.port, b'*2\r\n$4\r\nINFO\r\n$11\r\npersistence\r\n').decode('latin-1')
        for line in reply.split('\r\n'):
            if line.startswith('aof_current_size:'):
                return int(line.split(':')[1])
        return 0


def bench(port, test, n, clients, pipeline):
    cmd = ['redis-benchmark', '-p', str(port), '-t', test, '-n', str(n), '-c', str(clients),
           '-P', str(pipeline), '-r', '100000', '--csv']
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return float(rows[1][1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', type=int, default=200000)
    ap.add_argument('-c', type=int, default=50)
    ap.add_argument('-P', type=int, default=16)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--fsync', default='everysec', choices=('always', 'everysec', 'no'))
    ap.add_argument('-t', default='set,incr,lpush')
    args = ap.parse_args()
    if not shutil.which('redis-server') or not shutil.which('redis-benchmark'):
        sys.exit('redis-server and redis-benchmark are needed (apt-get install redis-server)')
    aof = ['--appendonly', 'yes', '--appendfsync', args.fsync]
    servers = []
    try:
        servers = [Server('pyredis+aof', 'pyredis', aof), Server('redis+aof', 'redis', aof),
                   Server('pyredis', 'pyredis', [])]
        tests = [t for t in args.t.split(',')
                 if servers[0].has_command(t) or print('skipping %s: not implemented by pyredis'
                                                       % t.upper())]
        best = {(s.label, t): 0.0 for s in servers for t in tests}
        for r in range(args.rounds):
            order = servers[r % 3:] + servers[:r % 3]
            for t in tests:
                for s in order:
                    rps = bench(s.port, t, args.n, args.c, args.P)
                    best[s.label, t] = max(best[s.label, t], rps)
        print('\nappendfsync %s, -P %d, -c %d, -n %d, best of %d rounds (requests/s)\n' % (
            args.fsync, args.P, args.c, args.n, args.rounds))
        print('%-8s %14s %14s %14s %12s %14s' % ('test', 'pyredis+aof', 'redis+aof',
                                                'pyredis', 'vs redis', 'vs no-AOF'))
        for t in tests:
            a, b, c = (best['pyredis+aof', t], best['redis+aof', t], best['pyredis', t])
            print('%-8s %14.0f %14.0f %14.0f %12.2f %13.0f%%' % (
                t.upper(), a, b, c, a / b, (a / c - 1) * 100))
        print('\nAOF bytes written: pyredis %d, redis %d' % (servers[0].aof_size(),
                                                            servers[1].aof_size()))
    finally:
        for s in servers:
            s.stop()


if __name__ == '__main__':
    main()
