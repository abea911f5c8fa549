"""Throughput of the data-type commands: pyredis vs a real redis-server.

The ten redis-benchmark tests of the data types (LPUSH, RPUSH, LPOP, RPOP,
SADD, HSET, SPOP, ZADD, LRANGE_100, LRANGE_600) at -P 16 with 50 clients,
run with benchmarks/compare.py's machinery: both servers started side by
side with the same arguments, each test run against one then the other,
the order alternating between rounds; every run is listed, and the ratio
is of the medians.

Two differences from compare.py's per-test loop, both so that the numbers
mean what redis-benchmark means by them:

- The dataset is flushed once per round and server, not before every test:
  the tests run in redis-benchmark's own order, so LPOP/RPOP pop the
  elements LPUSH/RPUSH pushed (as in one ``redis-benchmark -t ...`` run)
  instead of hitting a missing key.
- For LRANGE_100/LRANGE_600 redis-benchmark first runs "LPUSH (needed to
  benchmark LRANGE)" to fill the list and prints it as its own row: the
  row kept is the one named after the test, not the first one.

    python benchmarks/datatypes.py                 # -n 200000, 2 rounds
    python benchmarks/datatypes.py -n 100000 --rounds 3 -t lpush,lrange_100
"""

import argparse
import csv
import io
import os
import shlex
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare import start, flush  # noqa: E402

TESTS = 'lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,lrange_600'
# The targets: the ratio pyredis/redis each test must reach.
TARGETS = {'lrange_100': 0.35, 'lrange_600': 0.35}
DEFAULT_TARGET = 0.5


def run_test(port, test, n, clients, pipeline, extra):
    """requests/s of one redis-benchmark test (the row named after it)."""
    cmd = ['redis-benchmark', '-p', str(port), '-t', test, '-n', str(n), '-c', str(clients),
           '-P', str(pipeline), '--csv'] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))[1:]
    for row in rows:
        # "LRANGE_100 (first 100 elements)" -> "LRANGE_100"
        if row and row[0].split(' ')[0].lower() == test:
            return float(row[1])
    raise RuntimeError('no %s row from redis-benchmark: %r' % (test, out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-t', '--tests', default=TESTS)
    ap.add_argument('-P', '--pipeline', type=int, default=16)
    ap.add_argument('-n', '--requests', type=int, default=200000)
    ap.add_argument('-c', '--clients', type=int, default=50)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--server-args', default='', help='extra arguments for both servers')
    ap.add_argument('--bench-args', default='', help='extra arguments for redis-benchmark')
    args = ap.parse_args()
    tests = args.tests.split(',')
    extra = shlex.split(args.server_args)
    bench_extra = shlex.split(args.bench_args)
    ours, our_port = start('pyredis', extra)
    theirs, their_port = start('redis', extra)
    runs = {t: {'pyredis': [], 'redis': []} for t in tests}
    try:
        for r in range(args.rounds):
            order = [('pyredis', our_port), ('redis', their_port)]
            if r % 2:
                order.reverse()
            for port in (our_port, their_port):
                flush(port)
            for test in tests:
                # Alternate per test too, so neither server always runs
                # right after the other's load.
                for kind, port in order:
                    rps = run_test(port, test, args.requests, args.clients, args.pipeline,
                                   bench_extra)
                    runs[test][kind].append(rps)
                order.reverse()
    finally:
        for p in (ours, theirs):
            p.terminate()
            p.wait()
    print('%-12s %4s %12s %12s %7s %7s  %s' % ('test', '-P', 'pyredis rps', 'redis rps',
                                              'ratio', 'target', 'runs (pyredis / redis)'))
    for test in tests:
        ours_m = statistics.median(runs[test]['pyredis'])
        theirs_m = statistics.median(runs[test]['redis'])
        ratio = ours_m / theirs_m if theirs_m else 0.0
        target = TARGETS.get(test, DEFAULT_TARGET)
        print('%-12s %4d %12.0f %12.0f %7.2f %7s  %s / %s' % (
            test.upper(), args.pipeline, ours_m, theirs_m, ratio,
            ('>=%.2f' % target) + ('' if ratio >= target else ' !'),
            ' '.join('%.0f' % v for v in runs[test]['pyredis']),
            ' '.join('%.0f' % v for v in runs[test]['redis'])))


if __name__ == '__main__':
    main()
