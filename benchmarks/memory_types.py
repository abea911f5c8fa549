"""Memory per element of each data type, pyredis and redis-server side by side.

Each dataset is loaded into a fresh server; the report gives the growth of
RSS (and of INFO's used_memory) divided by the number of elements:

    strings      N keys, 16-byte values
    strings-ex   the same with EX 3600
    hashes       N/10 hashes of 10 small fields
    lists        10 lists of N/10 elements
    sets         N/10 sets of 10 members
    zsets        10 sorted sets of N/10 members

    python benchmarks/memory_types.py [-n 1000000] [--only hashes,sets]
"""

import argparse
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start  # noqa: E402


def enc(*args):
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


def commands(name, n):
    value = b'v' * 16
    if name == 'strings':
        return n, (enc(b'SET', b'key:%d' % i, value) for i in range(n))
    if name == 'strings-ex':
        return n, (enc(b'SET', b'key:%d' % i, value, b'EX', b'3600') for i in range(n))
    if name == 'hashes':
        return n, (enc(b'HSET', b'h:%d' % i, *[x for f in range(10)
                                                 for x in (b'field%d' % f, b'val%d' % f)])
                   for i in range(n // 10))
    if name == 'lists':
        return n, (enc(b'RPUSH', b'list:%d' % (i % 10), *[b'element:%d' % j
                                                         for j in range(i, i + 100)])
                   for i in range(0, n, 100))
    if name == 'sets':
        return n, (enc(b'SADD', b's:%d' % i, *[b'member:%d' % m for m in range(10)])
                   for i in range(n // 10))
    if name == 'zsets':
        return n, (enc(b'ZADD', b'z:%d' % (i % 10), *[x for j in range(i, i + 100)
                                                       for x in (b'%d' % j, b'm:%d' % j)])
                   for i in range(0, n, 100))
    raise SystemExit('unknown dataset %r' % name)


def info_memory(s, f):
    s.sendall(enc(b'INFO', b'memory'))
    size = int(f.readline()[1:])
    text = f.read(size + 2).decode()
    fields = dict(line.split(':', 1) for line in text.split('\r\n') if ':' in line)
    return int(fields['used_memory_rss']), int(fields['used_memory'])


def measure(kind, name, n):
    proc, port = start(kind, [])
    try:
        with socket.create_connection(('127.0.0.1', port)) as s:
            f = s.makefile('rb')
            rss0, used0 = info_memory(s, f)
            elements, cmds = commands(name, n)
            batch = []
            for cmd in cmds:
                batch.append(cmd)
                if len(batch) == 500:
                    s.sendall(b''.join(batch))
                    for _ in batch:
                        f.readline()
                    batch = []
            if batch:
                s.sendall(b''.join(batch))
                for _ in batch:
                    f.readline()
            rss1, used1 = info_memory(s, f)
            return (rss1 - rss0) / elements, (used1 - used0) / elements
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', type=int, default=1000000)
    ap.add_argument('--only', default='strings,strings-ex,hashes,lists,sets,zsets')
    args = ap.parse_args()
    print('%-11s %14s %14s %7s   %s' % ('dataset', 'pyredis B/el', 'redis B/el', 'ratio',
                                       'used_memory B/el (pyredis / redis)'))
    for name in args.only.split(','):
        ours = measure('pyredis', name, args.n)
        theirs = measure('redis', name, args.n)
        print('%-11s %14.1f %14.1f %6.2fx   %.1f / %.1f' % (
            name, ours[0], theirs[0], ours[0] / theirs[0], ours[1], theirs[1]), flush=True)


if __name__ == '__main__':
    main()
