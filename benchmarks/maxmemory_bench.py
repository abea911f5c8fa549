"""The cost of maxmemory accounting on the hot path.

One pyredis server on a free loopback port, no persistence, measured
without maxmemory and with a maxmemory far above the dataset (so the OOM
gate and the accounting run before every write but nothing is evicted):
CONFIG SET maxmemory switches between the two before each run. (Two
server processes with identical settings measured up to 20% apart on a
busy machine; one process differs only in the setting.) For each round
redis-benchmark runs SET and GET at -P 16 in both settings, alternating
which goes first; the best requests/s of each and the ratio are reported.
``--evict`` adds a second server with maxmemory 2mb and allkeys-lru, where
every SET also evicts a key (the price of eviction itself, for
information).

    python benchmarks/maxmemory_bench.py
    python benchmarks/maxmemory_bench.py -n 200000 --rounds 5 --evict
"""

import argparse
import csv
import io
import os
import shutil
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


def start(args):
    port = free_port()
    d = tempfile.mkdtemp(prefix='maxmemory-bench-')
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.Popen([sys.executable, '-m', 'pyredis', '--port', str(port),
                             '--bind', '127.0.0.1', '--save', '', '--dir', d] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5) as s:
                s.sendall(b'PING\r\n')
                if s.recv(10).startswith(b'+PONG'):
                    return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit('server did not start')


def set_maxmemory(port, value):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
        s.sendall(b'*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$9\r\nmaxmemory\r\n$%d\r\n%s\r\n'
                  % (len(value), value))
        if not s.recv(100).startswith(b'+OK'):
            raise SystemExit('CONFIG SET maxmemory %s failed' % value.decode())


def bench(port, tests, n, pipeline, keyspace, size):
    out = subprocess.run(['redis-benchmark', '-p', str(port), '-t', tests, '-n', str(n),
                          '-P', str(pipeline), '-r', str(keyspace), '-d', str(size),
                          '--csv'], capture_output=True, text=True, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return {row[0]: float(row[1]) for row in rows[1:] if row}


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('-t', default='set,get')
    p.add_argument('-n', type=int, default=200000)
    p.add_argument('-P', type=int, default=16)
    p.add_argument('-r', type=int, default=100000, help='keyspace (redis-benchmark -r)')
    p.add_argument('-d', type=int, default=100, help='value size')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--evict', action='store_true')
    a = p.parse_args()
    if not shutil.which('redis-benchmark'):
        raise SystemExit('redis-benchmark is not installed')
    shared = start([])
    servers = [shared]
    # (name, port, maxmemory to CONFIG SET before the run or None)
    configs = [('no maxmemory', shared[1], b'0'), ('maxmemory 4gb', shared[1], b'4gb')]
    try:
        if a.evict:
            evicting = start(['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'])
            servers.append(evicting)
            configs.append(('maxmemory 2mb allkeys-lru (evicting)', evicting[1], None))
        best = {name: {} for name, _, _ in configs}
        for rnd in range(a.rounds):
            order = configs if rnd % 2 == 0 else configs[::-1]
            for name, port, maxmemory in order:
                if maxmemory is not None:
                    set_maxmemory(port, maxmemory)
                for test, rps in bench(port, a.t, a.n, a.P, a.r, a.d).items():
                    best[name][test] = max(best[name].get(test, 0), rps)
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait()
    base = best['no maxmemory']
    print('redis-benchmark -P %d -n %d -r %d -d %d, best of %d rounds (requests/s)'
          % (a.P, a.n, a.r, a.d, a.rounds))
    for name, _, _ in configs:
        print('  %-40s %s' % (name, '  '.join(
            '%s %9.0f (%5.1f%%)' % (t, rps, 100.0 * rps / base[t])
            for t, rps in sorted(best[name].items()))))


if __name__ == '__main__':
    main()
