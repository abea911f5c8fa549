"""The request path's own cost, in process: nanoseconds of CPU per command
from a read to its replies, without sockets or the event loop.

A Client of an in-process server is fed reads of 16 pipelined commands
(as redis-benchmark -P 16 sends them, random keys out of 100,000), and the
process CPU time per command is measured. It shows what parsing, dispatch,
the handler and the reply cost, which is most of what separates pyredis
from redis-server in `compare.py -P 16`, and is steady enough to compare two
versions of the code on a busy machine (every run listed, the median kept).

With --acl, ten ACL users are loaded (as benchmarks/acl_bench.py does) and
each test runs twice, interleaved: as the default user and as the user
restricted to ``~app:* +@read +@write`` (keys are then app:..., for both).

With --ab 'directive value', each test runs twice, interleaved: with the
default configuration and with that directive set (e.g. --ab
'latency-tracking no' shows what the per-command histograms cost).

With --fresh, each run is what compare.py measures: an empty keyspace
(compare.py flushes the servers before each run) and --requests requests
of random keys out of 100,000 (redis-benchmark -r 100000), the reads not
repeated: SET and INCR add most of their keys to growing tables that do
not fit in the caches, and GET finds nothing. Without it the same 512
reads repeat over keys that stay in the caches: the code's own cost,
without the memory's.

    python benchmarks/request_path.py [-t set,get,incr] [--rounds 7] [--acl]
                                      [--ab 'directive value'] [--fresh]
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


def requests(test, n, keyspace=100000, prefix=b'key:'):
    rnd = random.Random(1)
    key = lambda: prefix + b'%012d' % rnd.randrange(keyspace)  # noqa: E731
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


def feed_reads(c, reads, batches, pipeline):
    """Feed the reads to the client, again and again until ``batches`` reads
    were fed: the CPU nanoseconds per command."""
    t = time.process_time()
    n = 0
    feed = c.data_received
    while n < batches:
        for data in reads:
            feed(data)
        n += len(reads)
    return (time.process_time() - t) / (n * pipeline) * 1e9


def load_users(c):
    """Ten users and the restricted one, as acl_bench.py loads them."""
    for i in range(10):
        c.data_received(encode(b'ACL', b'SETUSER', b'user%d' % i, b'on', b'>pw%d' % i,
                               b'~u%d:*' % i, b'+@read', b'-@dangerous'))
    c.data_received(encode(b'ACL', b'SETUSER', b'app', b'on', b'>secret', b'~app:*',
                           b'+@read', b'+@write'))


def run(test, batches, pipeline, user=None, setting=None, fresh=0):
    conf = config.Config()
    if setting:
        name, _, value = setting.partition(' ')
        conf.set(name, [value])
    server = create_server(conf)
    share_command_names()
    c = Client(server)
    c.transport = NullTransport()
    server.clients[c.id] = c
    c.update_gate()
    prefix = b'key:'
    if user is not None:
        load_users(c)
        prefix = b'app:'
        if user == 'restricted':
            c.data_received(encode(b'AUTH', b'app', b'secret'))
            assert c.user.name == b'app'
    reqs = requests(test, fresh or pipeline * 512, prefix=prefix)
    reads = [b''.join(reqs[i:i + pipeline]) for i in range(0, len(reqs), pipeline)]
    if fresh:
        batches = len(reads)
    elif test == 'get':
        for r in requests('set', pipeline * 512, prefix=prefix):
            c.data_received(r)
    return feed_reads(c, reads, batches, pipeline)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-t', '--tests', default='set,get,incr,lpush,mset')
    ap.add_argument('-P', '--pipeline', type=int, default=16)
    ap.add_argument('--batches', type=int, default=20000)
    ap.add_argument('--rounds', type=int, default=7)
    ap.add_argument('--acl', action='store_true',
                    help='ten users loaded; the default and the restricted user interleaved')
    ap.add_argument('--fresh', action='store_true',
                    help='as compare.py: an empty keyspace, the reads not repeated')
    ap.add_argument('--requests', type=int, default=100000,
                    help='with --fresh: the requests of a run')
    ap.add_argument('--ab', metavar="'DIRECTIVE VALUE'",
                    help='each test with the defaults and with this set, interleaved')
    args = ap.parse_args()
    users = ('default', 'restricted') if args.acl else (None,)
    if args.ab:
        users = (None, args.ab)
    for test in args.tests.split(','):
        runs = {u: [] for u in users}
        for r in range(args.rounds):
            for u in (users if r % 2 == 0 else users[::-1]):
                if args.ab:
                    runs[u].append(run(test, args.batches, args.pipeline, setting=u,
                                       fresh=args.fresh and args.requests))
                else:
                    runs[u].append(run(test, args.batches, args.pipeline, u,
                                       fresh=args.fresh and args.requests))
        for u in users:
            print('%-6s %-10s median %7.0f ns/command   runs: %s' % (
                test, u or '', statistics.median(runs[u]),
                ' '.join('%.0f' % x for x in runs[u])), flush=True)


if __name__ == '__main__':
    main()
