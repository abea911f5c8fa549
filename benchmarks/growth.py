"""Growth: memory and throughput at 10k, 100k, 1M (and 10M) keys, pyredis and
redis-server side by side, so the cost per key can be seen to stay flat.

For each size, a fresh pyredis and a fresh redis-server are started and
filled with N string keys named as redis-benchmark names them
(``key:%012d``, so its random keys hit the filled ones) holding
--data-size bytes (16), by pipelined MSETs of 1,000 keys. DEBUG POPULATE
would be faster, but its keys are ``key:N``: redis-benchmark's GETs would all
miss and its SETs would double the keyspace.

Memory: RSS (/proc/<pid>/status) and INFO's used_memory, before and after
the fill; the growth divided by N is the cost per key.

Throughput: redis-benchmark SET and GET at -P 16 with -r N (random keys out
of the filled ones; a SET overwrites a key with a value of the same size,
so the keyspace stays at N), -n --requests, -c 50, on the filled servers,
--rounds runs each alternating which server goes first. Every run is listed,
with the medians and the ratio pyredis/redis.

    python benchmarks/growth.py                         # 10k, 100k, 1M keys
    python benchmarks/growth.py --sizes 10000000        # 10M (about 2-3 GB in each)
    python benchmarks/growth.py --sizes 100000 --rounds 5 -n 500000
"""

import argparse
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import rss, run_benchmark, start  # noqa: E402

BATCH = 1000        # keys per MSET
IN_FLIGHT = 16      # MSETs sent before their replies are read


def info_field(port, name):
    with socket.create_connection(('127.0.0.1', port)) as s:
        s.sendall(b'*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n')
        f = s.makefile('rb')
        n = int(f.readline()[1:])
        text = f.read(n + 2).decode()
    for line in text.split('\r\n'):
        if line.startswith(name + ':'):
            return int(line.split(':', 1)[1])
    raise RuntimeError('no %s in INFO' % name)


def fill(port, n, size):
    """N keys key:%012d -> size bytes, by pipelined MSETs. Returns seconds."""
    val = b'x' * size
    with socket.create_connection(('127.0.0.1', port)) as s:
        f = s.makefile('rb')
        t = time.perf_counter()
        pending = 0
        for base in range(0, n, BATCH):
            top = min(n, base + BATCH)
            body = b''.join([b'$16\r\nkey:%012d\r\n$%d\r\n%s\r\n' % (i, size, val)
                             for i in range(base, top)])
            s.sendall(b'*%d\r\n$4\r\nMSET\r\n' % (1 + 2 * (top - base)) + body)
            pending += 1
            if pending >= IN_FLIGHT:
                for _ in range(pending):
                    if f.readline() != b'+OK\r\n':
                        raise RuntimeError('MSET failed')
                pending = 0
        for _ in range(pending):
            if f.readline() != b'+OK\r\n':
                raise RuntimeError('MSET failed')
        elapsed = time.perf_counter() - t
        s.sendall(b'*1\r\n$6\r\nDBSIZE\r\n')
        got = int(f.readline()[1:])
        if got != n:
            raise RuntimeError('DBSIZE %d after filling %d keys' % (got, n))
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', default='10000,100000,1000000',
                    help='key counts, comma separated (10000000 for 10M)')
    ap.add_argument('-d', '--data-size', type=int, default=16, help='value bytes')
    ap.add_argument('-n', '--requests', type=int, default=200000,
                    help="redis-benchmark's -n per run")
    ap.add_argument('-P', '--pipeline', type=int, default=16)
    ap.add_argument('-c', '--clients', type=int, default=50)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()
    kinds = ('pyredis', 'redis')
    summary = []
    for n in [int(x) for x in args.sizes.split(',')]:
        procs = {}
        try:
            mem = {}
            for kind in kinds:
                proc, port = start(kind, [])
                procs[kind] = (proc, port)
                time.sleep(0.2)         # let the start settle before the baseline
                rss0, used0 = rss(proc.pid), info_field(port, 'used_memory')
                secs = fill(port, n, args.data_size)
                time.sleep(0.2)
                rss1, used1 = rss(proc.pid), info_field(port, 'used_memory')
                mem[kind] = ((rss1 - rss0) / n, (used1 - used0) / n)
                print('%9d keys  %-8s fill %6.2f s (%7.0f keys/s)  RSS %7.1f -> %7.1f MB'
                      ' (%6.1f B/key)  used_memory %7.1f -> %7.1f MB (%6.1f B/key)' % (
                          n, kind, secs, n / secs, rss0 / 1e6, rss1 / 1e6, mem[kind][0],
                          used0 / 1e6, used1 / 1e6, mem[kind][1]), flush=True)
            rps = {}
            for test in ('set', 'get'):
                runs = {kind: [] for kind in kinds}
                for r in range(args.rounds):
                    for kind in (kinds if r % 2 == 0 else kinds[::-1]):
                        _, value = run_benchmark(procs[kind][1], test, args.requests,
                                                 args.clients, args.pipeline, n,
                                                 ['-d', str(args.data_size)])
                        runs[kind].append(value)
                med = {k: statistics.median(v) for k, v in runs.items()}
                rps[test] = med
                print('%9d keys  %-3s -P %d -r %d  pyredis %s; median %.0f   redis %s; median'
                      ' %.0f   ratio %.2f' % (
                          n, test.upper(), args.pipeline, n,
                          ' '.join('%.0f' % x for x in runs['pyredis']), med['pyredis'],
                          ' '.join('%.0f' % x for x in runs['redis']), med['redis'],
                          med['pyredis'] / med['redis']), flush=True)
            # The keyspace must still hold N keys (SETs overwrote, not added).
            for kind in kinds:
                with socket.create_connection(('127.0.0.1', procs[kind][1])) as s:
                    s.sendall(b'*1\r\n$6\r\nDBSIZE\r\n')
                    if int(s.makefile('rb').readline()[1:]) != n:
                        print('  warning: %s DBSIZE changed during the runs' % kind)
            summary.append((n, mem, rps))
        finally:
            for proc, _ in procs.values():
                proc.terminate()
                proc.wait()
    print()
    print('%9s  %-26s %-26s %-22s %-22s' % ('keys', 'RSS B/key py / redis', 'used_memory B/key',
                                             'SET rps py / redis', 'GET rps py / redis'))
    for n, mem, rps in summary:
        print('%9d  %7.1f / %7.1f (%4.2fx)   %7.1f / %7.1f (%4.2fx)   %7.0f / %7.0f   %7.0f / %7.0f'
              % (n, mem['pyredis'][0], mem['redis'][0], mem['pyredis'][0] / mem['redis'][0],
                 mem['pyredis'][1], mem['redis'][1], mem['pyredis'][1] / mem['redis'][1],
                 rps['set']['pyredis'], rps['set']['redis'],
                 rps['get']['pyredis'], rps['get']['redis']))


if __name__ == '__main__':
    main()
