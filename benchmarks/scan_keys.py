"""Walking the keyspace: a full SCAN (COUNT 10, one round trip per call) and
KEYS *, at N keys, pyredis and redis-server side by side.

    python benchmarks/scan_keys.py [-n 1000000]
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start  # noqa: E402


def command(s, f, *args):
    s.sendall(b'*%d\r\n' % len(args) + b''.join(
        b'$%d\r\n%s\r\n' % (len(a), a) for a in args))
    return read_reply(f)


def read_reply(f):
    line = f.readline()
    kind = line[:1]
    if kind == b'*':
        return [read_reply(f) for _ in range(int(line[1:]))]
    if kind == b'$':
        n = int(line[1:])
        return None if n < 0 else f.read(n + 2)[:-2]
    return line[:-2]


def run(kind, n):
    proc, port = start(kind, [])
    try:
        with socket.create_connection(('127.0.0.1', port)) as s:
            f = s.makefile('rb')
            for base in range(0, n, 1000):
                args = [b'MSET'] + [x for i in range(base, min(n, base + 1000))
                                    for x in (b'key:%d' % i, b'v')]
                command(s, f, *args)
            t = time.perf_counter()
            cursor, seen, calls = b'0', set(), 0
            while True:
                cursor, keys = command(s, f, b'SCAN', cursor)
                seen.update(keys)
                calls += 1
                if cursor == b'0':
                    break
            scan_time = time.perf_counter() - t
            assert len(seen) == n
            t = time.perf_counter()
            assert len(command(s, f, b'KEYS', b'*')) == n
            keys_time = time.perf_counter() - t
            return scan_time, calls, keys_time
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--keys', type=int, default=1000000)
    args = ap.parse_args()
    res = {kind: run(kind, args.keys) for kind in ('pyredis', 'redis')}
    for kind, (scan_time, calls, keys_time) in res.items():
        print('%-8s full SCAN %.2f s (%d calls)   KEYS * %.3f s' % (
            kind, scan_time, calls, keys_time))
    print('ratios: SCAN %.2fx, KEYS %.2fx' % (res['pyredis'][0] / res['redis'][0],
                                              res['pyredis'][2] / res['redis'][2]))


if __name__ == '__main__':
    main()
