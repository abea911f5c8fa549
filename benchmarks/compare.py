"""Side-by-side throughput: pyredis vs a real redis-server, same machine, same run.

Starts both servers on free loopback ports (no persistence), then for each
pipeline depth and each test runs redis-benchmark against one and then the
other, alternating which goes first, a few rounds, with random keys
(-r 100000 unless told otherwise). It lists every run's requests/s, and
reports the median of each server and the ratio of the medians
(pyredis/redis), and for each depth the geometric mean of the ratios.

    python benchmarks/compare.py          # set,get,incr,lpush,lrange_100,mset at -P 1 and -P 16
    python benchmarks/compare.py -t set,get -P 16 -n 200000 --rounds 5
    python benchmarks/compare.py --server-args "--appendonly yes" ...

Extra server arguments (--server-args) go to both servers, so the two are
always compared under the same configuration. For an A/B of pyredis itself,
``--reference pyredis --pyredis-args "..."`` compares a pyredis started with
those arguments against a plain one (e.g. the metrics endpoint on and off):

    python benchmarks/compare.py -t set,get -P 16 --reference pyredis \
        --pyredis-args "--metrics-port 9121"
"""

import argparse
import csv
import io
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_ready(port, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('server exited early')
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5) as s:
                s.sendall(b'PING\r\n')
                if s.recv(16).startswith(b'+PONG'):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('server did not start')


def rss(pid):
    """A process's resident set size in bytes (VmRSS)."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    return 0


def start(kind, extra):
    port = free_port()
    workdir = tempfile.mkdtemp(prefix='bench-%s-' % kind)
    if kind == 'redis':
        cmd = [shutil.which('redis-server')]
    else:
        cmd = [sys.executable, '-m', 'pyredis']
    cmd += ['--port', str(port), '--bind', '127.0.0.1', '--save', '', '--dir', workdir]
    cmd += extra
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, cwd=workdir)
    wait_ready(port, proc)
    return proc, port


def run_benchmark(port, test, n, clients, pipeline, keyspace, extra):
    cmd = ['redis-benchmark', '-p', str(port), '-t', test, '-n', str(n), '-c', str(clients),
           '-P', str(pipeline), '-r', str(keyspace), '--csv'] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))[1:]
    if not rows:
        raise RuntimeError('no result from redis-benchmark: %r' % out)
    # The last row is the test itself (LRANGE_* first report the LPUSH
    # that fills the list).
    return rows[-1][0], float(rows[-1][1])


def flush(port):
    with socket.create_connection(('127.0.0.1', port)) as s:
        s.sendall(b'FLUSHALL\r\n')
        s.recv(16)


def interleaved(ports, rounds, measure):
    """``measure(port)`` on each server ({kind: port}), ``rounds`` times,
    alternating which goes first, each time on a flushed server. Returns
    {kind: [result of each round]}."""
    runs = {kind: [] for kind in ports}
    for r in range(rounds):
        order = list(ports.items())
        if r % 2:
            order.reverse()
        for kind, port in order:
            flush(port)
            runs[kind].append(measure(port))
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-t', '--tests', default='set,get,incr,lpush,lrange_100,mset')
    ap.add_argument('-P', '--pipelines', default='1,16')
    ap.add_argument('-n', '--requests', type=int, default=100000)
    ap.add_argument('-c', '--clients', type=int, default=50)
    ap.add_argument('-r', '--keyspace', type=int, default=100000,
                    help="redis-benchmark's -r: random keys out of this many")
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--server-args', default='', help='extra arguments for both servers')
    ap.add_argument('--bench-args', default='', help='extra arguments for redis-benchmark')
    ap.add_argument('--pyredis-args', default='', help='extra arguments for pyredis only')
    ap.add_argument('--reference', choices=('redis', 'pyredis'), default='redis',
                    help='what pyredis is compared with (pyredis: a plain one, for A/B)')
    args = ap.parse_args()
    extra = shlex.split(args.server_args)
    bench_extra = shlex.split(args.bench_args)
    ours, our_port = start('pyredis', extra + shlex.split(args.pyredis_args))
    theirs, their_port = start(args.reference, extra)
    try:
        print('%-12s %3s  %-32s %-32s %6s' % ('test', '-P', 'pyredis rps (runs; median)',
                                                    '%s rps (runs; median)' % args.reference,
                                                    'ratio'))
        for pipeline in [int(p) for p in args.pipelines.split(',')]:
            ratios = []
            for test in args.tests.split(','):
                results = interleaved(
                    {'pyredis': our_port, 'redis': their_port}, args.rounds,
                    lambda port: run_benchmark(port, test, args.requests, args.clients,
                                               pipeline, args.keyspace, bench_extra))
                name = results['pyredis'][-1][0]
                runs = {kind: [rps for _, rps in r] for kind, r in results.items()}
                med = {k: statistics.median(v) for k, v in runs.items()}
                ratio = med['pyredis'] / med['redis'] if med['redis'] else 0
                ratios.append(ratio)
                cells = ['%s; %.0f' % (' '.join('%.0f' % x for x in runs[k]), med[k])
                         for k in ('pyredis', 'redis')]
                print('%-12s %3d  %-32s %-32s %6.2f' % (name[:12], pipeline, cells[0], cells[1],
                                                        ratio), flush=True)
            print('%-12s %3d  geometric mean of the ratios: %.2f' % (
                'all', pipeline, statistics.geometric_mean(ratios)), flush=True)
    finally:
        for p in (ours, theirs):
            p.terminate()
            p.wait()


if __name__ == '__main__':
    main()
