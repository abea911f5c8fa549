"""Random sampling as the data grows, pyredis and redis-server side by side.

keys: 1,000 RANDOMKEY calls (one round trip each) at 10k, 100k and 1M
keys. Each run is in a fresh server, filled with MSET; the time
includes the first call, which may build a sampling structure. --rounds
runs of each server, alternating which goes first; every run is listed
with the medians and their ratio.

members: one set and one hash of N members/fields each (SADD/HSET in
batches of 1,000), then 1,000 calls (one round trip each) of each of:
SPOP + SADD of the popped member back (so the size stays N), SRANDMEMBER,
SRANDMEMBER key 100, SRANDMEMBER key -100, HRANDFIELD, HRANDFIELD key -100.
Redis picks random buckets of its hash tables (dictGetFairRandomKey), so
its cost per call does not depend on N; a server that walks the value to
pick a member shows a time growing with N. Both servers are filled once
per size; the timed loops then alternate between them for --rounds rounds,
and the report lists every run, the medians, the median time per call and
the ratio.

    python benchmarks/sampling.py [--what keys,members] [--sizes 10000,100000,1000000]
                                  [--calls 1000] [--rounds 3]
"""

import argparse
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start  # noqa: E402


def encode(*args):
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


def read_reply(f):
    line = f.readline()
    kind = line[:1]
    if kind == b'$':
        n = int(line[1:])
        return f.read(n + 2)[:-2] if n >= 0 else None
    if kind in (b'*', b'~'):
        return [read_reply(f) for _ in range(max(int(line[1:]), 0))]
    if kind == b'-':
        raise RuntimeError(line.decode())
    return line


def run_keys(kind, size, calls):
    proc, port = start(kind, [])
    try:
        with socket.create_connection(('127.0.0.1', port)) as s:
            f = s.makefile('rb')
            for base in range(0, size, 1000):
                keys = range(base, min(size, base + 1000))
                args = [b'MSET'] + [b'key:%d' % i for i in keys for _ in (0, 1)]
                s.sendall(encode(*args))
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


def keys_main(args):
    for size in args.sizes:
        runs = {'pyredis': [], 'redis': []}
        for r in range(args.rounds):
            for kind in (('pyredis', 'redis') if r % 2 == 0 else ('redis', 'pyredis')):
                runs[kind].append(run_keys(kind, size, args.calls))
        med = {k: statistics.median(v) for k, v in runs.items()}
        print('%9d keys: %d RANDOMKEY  pyredis %s; median %.3f s  redis %s; median %.3f s'
              '  ratio %.2fx' % (
                  size, args.calls, ' '.join('%.3f' % x for x in runs['pyredis']),
                  med['pyredis'], ' '.join('%.3f' % x for x in runs['redis']), med['redis'],
                  med['pyredis'] / med['redis']), flush=True)


def fill(sock, f, size):
    """A set 's' and a hash 'h' of ``size`` members/fields, pipelined."""
    sent = 0
    for base in range(0, size, 1000):
        ids = range(base, min(size, base + 1000))
        sock.sendall(encode(b'SADD', b's', *[b'member:%d' % i for i in ids])
                     + encode(b'HSET', b'h', *[x for i in ids
                                                for x in (b'field:%d' % i, b'v%d' % i)]))
        sent += 2
        if sent >= 64:
            for _ in range(sent):
                read_reply(f)
            sent = 0
    for _ in range(sent):
        read_reply(f)
    sock.sendall(encode(b'SCARD', b's') + encode(b'HLEN', b'h'))
    assert read_reply(f) == b':%d\r\n' % size and read_reply(f) == b':%d\r\n' % size


def spop_sadd(sock, f, calls):
    for _ in range(calls):
        sock.sendall(b'*2\r\n$4\r\nSPOP\r\n$1\r\ns\r\n')
        m = read_reply(f)
        sock.sendall(encode(b'SADD', b's', m))
        read_reply(f)


def repeat(*args):
    req = encode(*args)

    def loop(sock, f, calls):
        for _ in range(calls):
            sock.sendall(req)
            read_reply(f)
    return loop


OPS = [
    ('SPOP+SADD', spop_sadd),
    ('SRANDMEMBER', repeat(b'SRANDMEMBER', b's')),
    ('SRANDMEMBER 100', repeat(b'SRANDMEMBER', b's', b'100')),
    ('SRANDMEMBER -100', repeat(b'SRANDMEMBER', b's', b'-100')),
    ('HRANDFIELD', repeat(b'HRANDFIELD', b'h')),
    ('HRANDFIELD -100', repeat(b'HRANDFIELD', b'h', b'-100')),
]


def members_main(args):
    print('%-9s %-17s %-34s %-34s %8s %8s %6s' % (
        'members', 'op (x%d)' % args.calls, 'pyredis s (runs; median)',
        'redis s (runs; median)', 'py us', 'redis us', 'ratio'))
    for size in args.sizes:
        conns = {}
        procs = []
        try:
            for kind in ('pyredis', 'redis'):
                proc, port = start(kind, [])
                procs.append(proc)
                sock = socket.create_connection(('127.0.0.1', port))
                f = sock.makefile('rb')
                t = time.perf_counter()
                fill(sock, f, size)
                conns[kind] = (sock, f)
                print('%9d filled %s in %.1f s' % (size, kind, time.perf_counter() - t),
                      flush=True)
            for name, op in OPS:
                runs = {'pyredis': [], 'redis': []}
                for r in range(args.rounds):
                    order = ['pyredis', 'redis'] if r % 2 == 0 else ['redis', 'pyredis']
                    for kind in order:
                        sock, f = conns[kind]
                        t = time.perf_counter()
                        op(sock, f, args.calls)
                        runs[kind].append(time.perf_counter() - t)
                med = {k: statistics.median(v) for k, v in runs.items()}
                cells = ['%s; %.3f' % (' '.join('%.3f' % x for x in runs[k]), med[k])
                         for k in ('pyredis', 'redis')]
                print('%9d %-17s %-34s %-34s %8.1f %8.1f %6.2f' % (
                    size, name, cells[0], cells[1], med['pyredis'] / args.calls * 1e6,
                    med['redis'] / args.calls * 1e6, med['pyredis'] / med['redis']),
                    flush=True)
        finally:
            for sock, f in conns.values():
                f.close()
                sock.close()
            for proc in procs:
                proc.terminate()
                proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--what', default='keys,members',
                    help='keys (RANDOMKEY) and/or members (SPOP/SRANDMEMBER/HRANDFIELD)')
    ap.add_argument('--sizes', default='10000,100000,1000000')
    ap.add_argument('--calls', type=int, default=1000)
    ap.add_argument('--rounds', type=int, default=3,
                    help='runs per size (keys) and per op (members)')
    args = ap.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(',')]
    what = args.what.split(',')
    if 'keys' in what:
        keys_main(args)
    if 'members' in what:
        members_main(args)


if __name__ == '__main__':
    main()
