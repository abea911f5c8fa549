"""The cost of one EVALSHA in process: nanoseconds of CPU per script call
from a read to its reply, without sockets or the event loop (as
request_path.py measures plain commands), for the scripts of
scripting_bench.py.

Reads of 16 pipelined EVALSHA calls on random keys out of 100,000 are fed
to a Client of an in-process server; every run is listed and the median
kept. As in scripting_bench.py the keys of ``get`` do not exist (the
script returns false); ``get_hit`` reads keys that were set. With --ab, each test runs twice, interleaved: with the C helper
(pyredis/_scripting.c) and with the Python paths alone (ScriptHost.run and
ScriptHost.lua_call), which is what the helper saves.

    python benchmarks/scripting_path.py [-t get,get_hit,incr_expire] [--rounds 5] [--ab]
"""

import argparse
import hashlib
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from request_path import NullTransport, encode, feed_reads, requests  # noqa: E402
from scripting_bench import SCRIPTS  # noqa: E402
from pyredis import config  # noqa: E402
from pyredis.assembly import create_server  # noqa: E402
from pyredis.networking import Client, share_command_names  # noqa: E402


def run(test, batches, pipeline, use_c=True):
    server = create_server(config.Config())
    share_command_names()
    host = server.scripting
    if not use_c:
        host.redis_call = host.lua_call     # (before the Lua state is made)
        host.run_plain = None
    c = Client(server)
    c.transport = NullTransport()
    server.clients[c.id] = c
    c.update_gate()
    body = SCRIPTS['evalsha_' + test.replace('_hit', '')].encode()
    c.data_received(encode(b'SCRIPT', b'LOAD', body))
    sha = hashlib.sha1(body).hexdigest().encode()
    rnd = random.Random(1)
    reqs = [encode(b'EVALSHA', sha, b'1', b'key:%012d' % rnd.randrange(100000))
            for _ in range(pipeline * 512)]
    if test == 'get_hit':
        for r in requests('set', pipeline * 512):
            c.data_received(r)
    reads = [b''.join(reqs[i:i + pipeline]) for i in range(0, len(reqs), pipeline)]
    return feed_reads(c, reads, batches, pipeline)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-t', '--tests', default='get,get_hit,incr_expire')
    ap.add_argument('-P', '--pipeline', type=int, default=16)
    ap.add_argument('--batches', type=int, default=2000)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--ab', action='store_true',
                    help='with the C helper and without it, interleaved')
    args = ap.parse_args()
    modes = (True, False) if args.ab else (True,)
    for test in args.tests.split(','):
        runs = {m: [] for m in modes}
        for r in range(args.rounds):
            for m in (modes if r % 2 == 0 else modes[::-1]):
                runs[m].append(run(test, args.batches, args.pipeline, m))
        for m in modes:
            print('%-12s %-6s median %7.0f ns/call   runs: %s' % (
                test, 'C' if m else 'Python', statistics.median(runs[m]),
                ' '.join('%.0f' % x for x in runs[m])), flush=True)


if __name__ == '__main__':
    main()
