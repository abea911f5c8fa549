"""Lazy freeing: how long FLUSHALL ASYNC and UNLINK of big values block,
pyredis and redis-server side by side.

Cases (each run on a freshly filled dataset in the same two servers):
  flushall-async  1M keys from DEBUG POPULATE, then FLUSHALL ASYNC
  flushall-sync   the same with a plain FLUSHALL (the blocking reference)
  unlink-set      a 1M-member set (pipelined SADDs), then UNLINK
  unlink-hash     a 1M-field hash (pipelined HSETs), then UNLINK

For each run: ``reply`` is the time from sending the command to its reply;
``ping`` the time until a PING sent on a second connection right after that
reply is answered; ``freed`` the time from sending the command until INFO's
lazyfree_pending_objects is back to 0 (polled every 2 ms on the second
connection), and ``max poll`` the longest of those polls' round trips, the
worst stall a client saw while the memory was being freed. The runs
alternate which server goes first; every run is listed with the medians.

    python benchmarks/lazyfree_bench.py [-n 1000000] [--rounds 3]
                                        [--cases flushall-async,unlink-set]
"""

import argparse
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start  # noqa: E402

CASES = ('flushall-async', 'flushall-sync', 'unlink-set', 'unlink-hash')


def encode(*args):
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port))
        self.f = self.sock.makefile('rb')

    def reply(self):
        line = self.f.readline()
        if line[:1] == b'$':
            n = int(line[1:])
            return self.f.read(n + 2)[:-2] if n >= 0 else None
        if line[:1] == b'-':
            raise RuntimeError(line.decode().strip())
        return line.strip()

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self.reply()

    def close(self):
        self.f.close()
        self.sock.close()


def pending(conn):
    text = conn.call(b'INFO', b'memory').decode()
    for line in text.split('\r\n'):
        if line.startswith('lazyfree_pending_objects:'):
            return int(line.split(':')[1])
    raise RuntimeError('no lazyfree_pending_objects in INFO')


def fill_collection(conn, kind, n):
    batch, sent = 1000, 0
    for base in range(0, n, batch):
        ids = range(base, min(n, base + batch))
        if kind == 'set':
            conn.sock.sendall(encode(b'SADD', b'big', *[b'member:%d' % i for i in ids]))
        else:
            conn.sock.sendall(encode(b'HSET', b'big', *[x for i in ids
                                                         for x in (b'field:%d' % i, b'v%d' % i)]))
        sent += 1
        if sent == 32:
            for _ in range(sent):
                conn.reply()
            sent = 0
    for _ in range(sent):
        conn.reply()


def prepare(conn, case, n):
    conn.call(b'FLUSHALL')
    if case.startswith('flushall'):
        conn.call(b'DEBUG', b'POPULATE', b'%d' % n)
        size = int(conn.call(b'DBSIZE')[1:])
    else:
        fill_collection(conn, case.split('-')[1], n)
        size = int(conn.call(b'SCARD' if case == 'unlink-set' else b'HLEN', b'big')[1:])
    if size != n:
        raise RuntimeError('%s: filled %d, expected %d' % (case, size, n))


def measure(port, case, n):
    a, b = Conn(port), Conn(port)
    try:
        prepare(a, case, n)
        time.sleep(0.3)     # let the fill's cron work (rehashing) settle
        cmd = {'flushall-async': (b'FLUSHALL', b'ASYNC'), 'flushall-sync': (b'FLUSHALL',),
               'unlink-set': (b'UNLINK', b'big'), 'unlink-hash': (b'UNLINK', b'big')}[case]
        req = encode(*cmd)
        t0 = time.perf_counter()
        a.sock.sendall(req)
        a.reply()
        t_reply = time.perf_counter() - t0
        b.call(b'PING')
        t_ping = time.perf_counter() - t0
        worst = 0.0
        while True:
            t = time.perf_counter()
            left = pending(b)
            worst = max(worst, time.perf_counter() - t)
            if left == 0:
                break
            time.sleep(0.002)
        t_freed = time.perf_counter() - t0
        return t_reply, t_ping, t_freed, worst
    finally:
        a.close()
        b.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--size', type=int, default=1000000)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--cases', default=','.join(CASES))
    args = ap.parse_args()
    servers = {}
    try:
        for kind in ('pyredis', 'redis'):
            servers[kind] = start(kind, ['--enable-debug-command', 'yes'])
        print('%-15s %-8s %s' % ('case', 'server', 'runs: reply / ping / freed / max poll (ms)'))
        for case in args.cases.split(','):
            runs = {'pyredis': [], 'redis': []}
            for r in range(args.rounds):
                for kind in (('pyredis', 'redis') if r % 2 == 0 else ('redis', 'pyredis')):
                    runs[kind].append(measure(servers[kind][1], case, args.size))
            for kind in ('pyredis', 'redis'):
                cells = '  '.join('%.1f/%.1f/%.1f/%.1f' % tuple(x * 1e3 for x in run)
                                  for run in runs[kind])
                med = [statistics.median(run[i] for run in runs[kind]) * 1e3 for i in range(4)]
                print('%-15s %-8s %s   median %.1f/%.1f/%.1f/%.1f' % (
                    case, kind, cells, *med), flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait()


if __name__ == '__main__':
    main()
