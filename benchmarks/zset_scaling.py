"""Per-operation cost of ZADD, ZRANK and ZRANGE as a sorted set grows.

Runs in-process (no server, no sockets): it drives the command handlers of
pyredis.commands.zsets with a minimal client object, so what is measured is
argument parsing + the sorted set structure (pyredis.zset) + reply encoding.
For each size (10k, 100k, 1M members) it builds the set, then times, in
CPU time of this process (time.process_time, so other processes competing
for the CPU do not inflate the numbers) and keeping the best of several
batches:

    ZADD    adding new members with random scores (and removing them again,
            untimed, so the set keeps its size)
    ZRANK   the rank of random existing members
    ZRANGE  ZRANGE key <random start> <start+9> (10 elements) WITHSCORES

An O(log N) structure shows near-constant cost per operation across the
three sizes (a 100x bigger set costs a small constant more, most of it
cache misses on a bigger heap); an O(N) one is 100x slower at 1M than at
10k. The last column is that O(N) reference: bisect.insort into one flat
sorted list of (score, member) tuples, the structure this module replaces.

    python benchmarks/zset_scaling.py [--sizes 10000,100000,1000000] [--ops 20000]
"""

import argparse
import bisect
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyredis import assembly  # noqa: E402
from pyredis.commands import TABLE  # noqa: E402
from pyredis.zset import ZSet  # noqa: E402


class _Config:
    zset_max_listpack_entries = 128
    zset_max_listpack_value = 64


class _Stat:
    keyspace_hits = keyspace_misses = 0


class _Server:
    notify_flags = 0
    dirty = 0
    lruclock = 0
    config = _Config()
    stat = _Stat()

    def expire_if_needed(self, db, key):
        return True




class _Client:
    def __init__(self):
        from pyredis.db import Database
        self.server = _Server()
        self.db = Database(self.server, 0)
        self.resp = 2
        self.propagate_argv = None


def _best(fn, batches, repeat):
    """Best per-operation time over ``repeat`` runs of each batch (the
    minimum filters out noise from other processes on the machine)."""
    best = float('inf')
    for _ in range(repeat):
        for batch in batches:
            t0 = time.process_time()
            fn(batch)
            best = min(best, (time.process_time() - t0) / len(batch))
    return best


def run(sizes, ops, repeat):
    assembly.load_commands()
    zadd = TABLE[b'zadd'].proc
    zrank = TABLE[b'zrank'].proc
    zrange = TABLE[b'zrange'].proc
    zrem = TABLE[b'zrem'].proc
    rnd = random.Random(42)
    print('%10s %14s %14s %14s %18s' % ('members', 'ZADD us/op', 'ZRANK us/op',
                                         'ZRANGE us/op', 'flat insort us/op'))
    for size in sizes:
        c = _Client()
        key = b'z'
        # Build the set directly (bulk loading through ZADD would only make
        # the benchmark slower to start, not the numbers different).
        z = ZSet()
        z.big = True
        for i in range(size):
            z.add(b'member:%d' % i, rnd.random() * size)
        c.db.data[key] = z
        batch = max(ops // 10, 1)

        def add_batch(argvs):
            for argv in argvs:
                zadd(c, argv)

        def timed_zadd(argvs):
            t0 = time.process_time()
            add_batch(argvs)
            dt = time.process_time() - t0
            # Remove them again (untimed) so the set keeps its size.
            zrem(c, [b'ZREM', key] + [a[3] for a in argvs])
            return dt

        t_zadd = float('inf')
        for r in range(repeat):
            for b in range(10):
                argvs = [[b'ZADD', key, b'%r' % (rnd.random() * size), b'new:%d:%d' % (b, i)]
                         for i in range(batch)]
                t_zadd = min(t_zadd, timed_zadd(argvs) / batch)
        assert len(z) == size

        ranks = [[[b'ZRANK', key, b'member:%d' % rnd.randrange(size)] for _ in range(batch)]
                 for _ in range(10)]

        def rank_batch(argvs):
            for argv in argvs:
                zrank(c, argv)
        t_zrank = _best(rank_batch, ranks, repeat)

        ranges = []
        for _ in range(10):
            lst = []
            for _ in range(batch):
                start = rnd.randrange(size - 10)
                lst.append([b'ZRANGE', key, b'%d' % start, b'%d' % (start + 9), b'WITHSCORES'])
            ranges.append(lst)

        def range_batch(argvs):
            for argv in argvs:
                zrange(c, argv)
        t_zrange = _best(range_batch, ranges, repeat)

        flat = list(z.iter_tuples())
        t_flat = float('inf')
        for _ in range(repeat):
            items = [(rnd.random() * size, b'new:%d' % i) for i in range(200)]
            t0 = time.process_time()
            for item in items:
                bisect.insort(flat, item)
            t_flat = min(t_flat, (time.process_time() - t0) / len(items))
            for item in items:
                del flat[bisect.bisect_left(flat, item)]
        del flat
        print('%10d %14.2f %14.2f %14.2f %18.2f' % (size, t_zadd * 1e6, t_zrank * 1e6,
                                                   t_zrange * 1e6, t_flat * 1e6))
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', default='10000,100000,1000000')
    p.add_argument('--ops', type=int, default=20000)
    p.add_argument('--repeat', type=int, default=3)
    a = p.parse_args()
    run([int(s) for s in a.sizes.split(',')], a.ops, a.repeat)


if __name__ == '__main__':
    main()
