"""EVALSHA side by side: pyredis vs a real redis-server, same machine, same run.

Two scripts, called with EVALSHA by redis-benchmark on random keys
(-r 100000): a 1-key GET, and INCR+EXPIRE (two commands, two writes, so
the effects are wrapped in MULTI/EXEC when something listens). Each round
runs redis-benchmark on one server then the other, alternating which goes
first (compare.py's interleaved); medians and their ratio are reported.
SET and GET run alongside as the reference for the non-script path.

    python benchmarks/scripting_bench.py                  # -P 16, 3 rounds
    python benchmarks/scripting_bench.py -P 1,16 -n 200000 --rounds 5
"""

import argparse
import csv
import hashlib
import io
import os
import shlex
import socket
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import interleaved, run_benchmark, start  # noqa: E402

SCRIPTS = {
    'evalsha_get': 'return redis.call("GET", KEYS[1])',
    'evalsha_incr_expire': 'local v = redis.call("INCR", KEYS[1]) '
                           'redis.call("EXPIRE", KEYS[1], 60) return v',
}


def load_scripts(port):
    with socket.create_connection(('127.0.0.1', port)) as s:
        for body in SCRIPTS.values():
            b = body.encode()
            s.sendall(b'*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$%d\r\n%s\r\n' % (len(b), b))
            s.recv(100)


def run_script(port, name, n, clients, pipeline, keyspace):
    sha = hashlib.sha1(SCRIPTS[name].encode()).hexdigest()
    cmd = ['redis-benchmark', '-p', str(port), '-n', str(n), '-c', str(clients),
           '-P', str(pipeline), '-r', str(keyspace), '--csv',
           'EVALSHA', sha, '1', 'key:__rand_int__']
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))[1:]
    if not rows:
        raise RuntimeError('no result from redis-benchmark: %r' % out)
    return name, float(rows[-1][1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-P', '--pipelines', default='16')
    ap.add_argument('-n', '--requests', type=int, default=100000)
    ap.add_argument('-c', '--clients', type=int, default=50)
    ap.add_argument('-r', '--keyspace', type=int, default=100000)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--server-args', default='', help='extra arguments for both servers')
    args = ap.parse_args()
    extra = shlex.split(args.server_args)
    ours, our_port = start('pyredis', extra)
    theirs, their_port = start('redis', extra)
    try:
        for port in (our_port, their_port):
            load_scripts(port)
        ports = {'pyredis': our_port, 'redis': their_port}
        print('%-20s %3s  %-32s %-32s %6s' % ('test', '-P', 'pyredis rps (runs; median)',
                                                    'redis rps (runs; median)', 'ratio'))
        for pipeline in [int(p) for p in args.pipelines.split(',')]:
            jobs = [(name, lambda port, name=name: run_script(
                port, name, args.requests, args.clients, pipeline, args.keyspace))
                for name in SCRIPTS]
            jobs += [(t, lambda port, t=t: run_benchmark(
                port, t, args.requests, args.clients, pipeline, args.keyspace, []))
                for t in ('set', 'get')]
            for name, measure in jobs:
                results = interleaved(ports, args.rounds, measure)
                runs = {k: [rps for _, rps in r] for k, r in results.items()}
                med = {k: statistics.median(v) for k, v in runs.items()}
                ratio = med['pyredis'] / med['redis'] if med['redis'] else 0
                cells = ['%s; %.0f' % (' '.join('%.0f' % x for x in runs[k]), med[k])
                         for k in ('pyredis', 'redis')]
                print('%-20s %3d  %-32s %-32s %6.2f' % (name, pipeline, cells[0], cells[1],
                                                        ratio), flush=True)
    finally:
        for p in (ours, theirs):
            p.terminate()
            p.wait()


if __name__ == '__main__':
    main()
