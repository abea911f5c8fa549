"""The request path's own cost, in process: nanoseconds of CPU per command
from a read to its replies, without sockets or the event loop.

A Client of an in-process server is fed reads of 16 pipelined commands
(as redis-benchmark -P 16 sends them, random keys out of 100,000), and the
process CPU time per command is measured. It shows what parsing, dispatch,
the handler and the reply cost, which is most of what separates pyredis
from redis-server in `compare.py -P 16`, and is steady enough to compare two
versions of the code on a busy machine (every run listed, the median kept).

    python benchmarks/request_path.py [-t set,get,incr] [--rounds 7]
"""

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyredis import config  # noqa: E402
from pyredis.assembly import create_server  # noqa: E402
from pyredis.networking import Client, share_command_names  # noqa: E402


class NullTransport:
    def write(self, data):
        pass

    def is_closing(self):
        return False

    def get_write_buffer_size(self):
        return 0

    def get_extra_info(self, name, default=None):
        return default

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def close(self):
        pass


def encode(*args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


def requests(test, n, keyspace=100000):
    rnd = random.Random(1)
    key = lambda: b'key:%012d' % rnd.randrange(keyspace)  # noqa: E731
    if test == 'set':
        return [encode(b'SET', key(), b'xxx') for _ in range(n)]
    if test == 'get':
        return [encode(b'GET', key()) for _ in range(n)]
    if test == 'incr':
        return [encode(b'INCR', key()) for _ in range(n)]
    if test == 'lpush':
        return [encode(b'LPUSH', b'mylist', b'xxx') for _ in range(n)]
    if test == 'mset':
        return [encode(b'MSET', *[x for _ in range(10) for x in (key(), b'xxx')])
                for _ in range(n)]
    raise SystemExit('unknown test %r' % test)


def run(test, batches, pipeline):
    server = create_server(config.Config())
    share_command_names()
    c = Client(server)
    c.transport = NullTransport()
    server.clients[c.id] = c
    c.update_gate()
    reqs = requests(test, pipeline * 512)
    reads = [b''.join(reqs[i:i + pipeline]) for i in range(0, len(reqs), pipeline)]
    if test == 'get':
        for r in requests('set', pipeline * 512):
            c.data_received(r)
    t = time.process_time()
    n = 0
    feed = c.data_received
    while n < batches:
        for data in reads:
            feed(data)
        n += len(reads)
    return (time.process_time() - t) / (n * pipeline) * 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-t', '--tests', default='set,get,incr,lpush,mset')
    ap.add_argument('-P', '--pipeline', type=int, default=16)
    ap.add_argument('--batches', type=int, default=20000)
    ap.add_argument('--rounds', type=int, default=7)
    args = ap.parse_args()
    for test in args.tests.split(','):
        runs = [run(test, args.batches, args.pipeline) for _ in range(args.rounds)]
        print('%-6s median %7.0f ns/command   runs: %s' % (
            test, statistics.median(runs), ' '.join('%.0f' % r for r in runs)), flush=True)


if __name__ == '__main__':
    main()
