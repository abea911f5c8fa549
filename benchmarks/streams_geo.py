"""Throughput of stream and geo commands: pyredis vs a real redis-server.

Four redis-benchmark runs of arbitrary commands at -P 16 with 50 clients,
with benchmarks/compare.py's machinery (both servers started side by side
with the same arguments, the order alternating between rounds; every run is
printed and the ratio is of the medians):

    XADD        XADD mystream * field value
    XRANGE_100  XRANGE xr - + COUNT 100        (xr prefilled with 100 entries)
    GEOADD      GEOADD geo <lon> <lat> member:__rand_int__   (-r 100000)
    GEOSEARCH   GEOSEARCH geosearch FROMLONLAT 13.36 38.11 BYRADIUS 50 km
                (geosearch prefilled with 1000 points around Sicily, ~60 of
                them within the radius)

    python benchmarks/streams_geo.py                 # -n 200000, 3 rounds
    python benchmarks/streams_geo.py -n 100000 --rounds 3 -t xadd,geosearch
"""

import argparse
import csv
import io
import os
import random
import shlex
import socket
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare import start, flush  # noqa: E402

TESTS = {
    'xadd': (['XADD', 'mystream', '*', 'field', 'value'], []),
    'xrange_100': (['XRANGE', 'xr', '-', '+', 'COUNT', '100'], []),
    'geoadd': (['GEOADD', 'geo', '13.361389', '38.115556', 'member:__rand_int__'],
               ['-r', '100000']),
    'geosearch': (['GEOSEARCH', 'geosearch', 'FROMLONLAT', '13.36', '38.11', 'BYRADIUS',
                   '50', 'km'], []),
}
TARGETS = {'xadd': 0.4, 'xrange_100': 0.35, 'geoadd': 0.35, 'geosearch': 0.35}


def _command(args):
    out = b'*%d\r\n' % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out


def prefill(port):
    """The keys XRANGE and GEOSEARCH read (the same data on both servers)."""
    rnd = random.Random(7)
    cmds = [['DEL', 'xr', 'geosearch', 'mystream', 'geo']]
    for i in range(1, 101):
        cmds.append(['XADD', 'xr', '%d-0' % i, 'field', 'value %d' % i])
    for i in range(1000):
        cmds.append(['GEOADD', 'geosearch', '%.6f' % rnd.uniform(12.4, 15.6),
                     '%.6f' % rnd.uniform(36.7, 38.3), 'p%d' % i])
    with socket.create_connection(('127.0.0.1', port)) as s:
        s.sendall(b''.join(_command(c) for c in cmds))
        s.sendall(b'*1\r\n$4\r\nPING\r\n')
        buf = b''
        while not buf.endswith(b'+PONG\r\n'):
            buf += s.recv(65536)


def run_test(port, test, n, clients, pipeline):
    cmd, extra = TESTS[test]
    argv = ['redis-benchmark', '-p', str(port), '-n', str(n), '-c', str(clients),
            '-P', str(pipeline), '--csv'] + extra + cmd
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows = [r for r in csv.reader(io.StringIO(out))][1:]
    return float(rows[0][1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-t', '--tests', default=','.join(TESTS))
    ap.add_argument('-P', '--pipeline', type=int, default=16)
    ap.add_argument('-n', '--requests', type=int, default=200000)
    ap.add_argument('-c', '--clients', type=int, default=50)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--server-args', default='', help='extra arguments for both servers')
    args = ap.parse_args()
    tests = args.tests.split(',')
    extra = shlex.split(args.server_args)
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
                prefill(port)
            for test in tests:
                for kind, port in order:
                    rps = run_test(port, test, args.requests, args.clients, args.pipeline)
                    runs[test][kind].append(rps)
                order.reverse()
    finally:
        for p in (ours, theirs):
            p.terminate()
            p.wait()
    print('%-12s %4s %-28s %-28s %7s %7s' % ('test', '-P', 'pyredis runs (rps)',
                                              'redis runs (rps)', 'ratio', 'target'))
    for test in tests:
        ours_runs, theirs_runs = runs[test]['pyredis'], runs[test]['redis']
        mine, other = statistics.median(ours_runs), statistics.median(theirs_runs)
        ratio = mine / other if other else 0.0
        target = TARGETS[test]
        print('%-12s %4d %-28s %-28s %7.2f %7s' % (
            test.upper(), args.pipeline, ' '.join('%.0f' % x for x in ours_runs),
            ' '.join('%.0f' % x for x in theirs_runs), ratio,
            ('>=%.2f' % target) + ('' if ratio >= target else ' !')))


if __name__ == '__main__':
    main()
