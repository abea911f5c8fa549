"""Per-operation cost of XADD, XRANGE (100 entries) and XDEL as a stream grows.

Runs in-process (no server, no sockets): it drives the command handlers of
pyredis.commands.streams with a minimal client object, so what is measured
is argument parsing + the stream structure (pyredis.stream: listpack-sized
nodes, found by bisect) + reply encoding. For each size (10k, 100k, 1M
entries) it builds the stream through XADD, then times, in CPU time of this
process (time.process_time, so other processes competing for the CPU do
not inflate the numbers) and keeping the best of several batches:

    XADD     XADD key * field value (a new entry at the end)
    XRANGE   XRANGE key <random existing ID> + COUNT 100 (a seek, then 100)
    XDEL     XDEL key <random existing ID> (a seek and a flag)

A structure with O(log N) seeks and O(1) appends shows a near-constant cost
per operation across the sizes (the bigger heap costs a little in cache
misses); an O(N) one would be 100x slower at 1M than at 10k.

    python benchmarks/stream_scaling.py [--sizes 10000,100000,1000000] [--ops 20000]
"""

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyredis import assembly  # noqa: E402
from pyredis.commands import TABLE  # noqa: E402


class _Config:
    stream_node_max_bytes = 4096
    stream_node_max_entries = 100


class _Stat:
    keyspace_hits = keyspace_misses = 0


class _Server:
    notify_flags = 0
    dirty = 0
    lruclock = 0
    config = _Config()
    stat = _Stat()
    propagate_targets = []

    def expire_if_needed(self, db, key):
        return True

    def key_modified(self, db, key, cls, event, changes=1):
        self.dirty += changes

    def hold_until_served(self, c):
        pass


class _Client:
    def __init__(self):
        from pyredis.db import Database
        self.server = _Server()
        self.db = Database(self.server, 0)
        self.resp = 2
        self.propagate_argv = None
        self.is_master = False
        self.transport = object()


def _best(fn, batches, repeat):
    best = float('inf')
    for _ in range(repeat):
        for batch in batches:
            t0 = time.process_time()
            fn(batch)
            best = min(best, (time.process_time() - t0) / len(batch))
    return best


def run(sizes, ops, repeat):
    assembly.load_commands()
    xadd = TABLE[b'xadd'].proc
    xrange_ = TABLE[b'xrange'].proc
    xdel = TABLE[b'xdel'].proc
    rnd = random.Random(42)
    print('%10s %12s %14s %12s %8s' % ('entries', 'XADD us/op', 'XRANGE100 us/op',
                                       'XDEL us/op', 'nodes'))
    for size in sizes:
        c = _Client()
        key = b's'
        # Built with explicit increasing IDs (the same path as '*').
        for i in range(1, size + 1):
            xadd(c, [b'XADD', key, b'%d-0' % i, b'field', b'value %d' % i])
        s = c.db.data[key]
        batch = max(ops // 10, 1)
        next_ms = [size + 1]

        def add_batch(argvs):
            for argv in argvs:
                xadd(c, argv)

        adds = []
        for _ in range(10):
            lst = []
            for _ in range(batch):
                lst.append([b'XADD', key, b'%d-0' % next_ms[0], b'field', b'value'])
                next_ms[0] += 1
            adds.append(lst)
        t_xadd = float('inf')
        for batch_argvs in adds:
            t0 = time.process_time()
            add_batch(batch_argvs)
            t_xadd = min(t_xadd, (time.process_time() - t0) / len(batch_argvs))
        n = next_ms[0] - 1

        ranges = [[[b'XRANGE', key, b'%d-0' % rnd.randrange(1, n - 200), b'+', b'COUNT',
                    b'100'] for _ in range(max(batch // 10, 1))] for _ in range(10)]

        def range_batch(argvs):
            for argv in argvs:
                xrange_(c, argv)
        t_xrange = _best(range_batch, ranges, repeat)

        dels = [[[b'XDEL', key, b'%d-0' % rnd.randrange(1, n)] for _ in range(batch)]
                for _ in range(10)]

        def del_batch(argvs):
            for argv in argvs:
                xdel(c, argv)
        t_xdel = _best(del_batch, dels, 1)
        print('%10d %12.2f %14.2f %12.2f %8d' % (size, t_xadd * 1e6, t_xrange * 1e6,
                                                 t_xdel * 1e6, len(s.nodes)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sizes', default='10000,100000,1000000')
    ap.add_argument('--ops', type=int, default=20000)
    ap.add_argument('--repeat', type=int, default=3)
    args = ap.parse_args()
    run([int(x) for x in args.sizes.split(',')], args.ops, args.repeat)


if __name__ == '__main__':
    main()
