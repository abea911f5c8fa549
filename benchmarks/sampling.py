"""Random sampling as the keyspace grows: 1,000 RANDOMKEY calls (one round
trip each) at 10k, 100k and 1M keys, pyredis and redis-server side by side.

Redis picks a random bucket of its hash table, O(1) at any size; a server
that walks its keyspace to pick one shows a time growing with the keys.
Each size is run in a fresh server, filled with MSET; the time
includes the first call, which may build a sampling structure.

    python benchmarks/sampling.py [--sizes 10000,100000,1000000] [--calls 1000]
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start  # noqa: E402



def run(kind, size, calls):
    proc, port = start(kind, [])
    try:
        with socket.create_connection(('127.0.0.1', port)) as s:
            f = s.makefile('rb')
            for base in range(0, size, 1000):
                keys = range(base, min(size, base + 1000))
                args = [b'MSET'] + [b'key:%d' % i for i in keys for _ in (0, 1)]
                s.sendall(b'*%d\r\n' % len(args)
                          + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args))
                assert f.readline() == b'+OK\r\n'
            req = b'*1\r\n$9\r\nRANDOMKEY\r\n'
            t = time.perf_counter()
            for _ in range(calls):
                s.sendall(req)
                line = f.readline()
                f.read(int(line[1:]) + 2)
            return time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', default='10000,100000,1000000')
    ap.add_argument('--calls', type=int, default=1000)
    args = ap.parse_args()
    for size in [int(x) for x in args.sizes.split(',')]:
        times = {kind: run(kind, size, args.calls) for kind in ('pyredis', 'redis')}
        print('%9d keys: %d RANDOMKEY  pyredis %.3f s  redis %.3f s  ratio %.2fx' % (
            size, args.calls, times['pyredis'], times['redis'],
            times['pyredis'] / times['redis']), flush=True)


if __name__ == '__main__':
    main()
