"""Failover time under the real Redis Sentinel: pyredis set vs redis-server set.

Each round starts a master and two replicas (all pyredis, or all
redis-server), three redis-sentinel processes with the same settings for
both kinds (``sentinel monitor mymaster ... 2``, down-after-milliseconds,
failover-timeout; Sentinel's own periods left at their defaults unless
--fast-periods), and a redis-py ``Sentinel(...).master_for(...)`` client
writing SETs in a loop. The master is killed with SIGKILL; the figure is
the time from the kill to the first SET acknowledged by the new master
(the client asks the Sentinels again after each failed attempt, 20 ms
apart). Also shown: when the Sentinels switched (GET-MASTER-ADDR-BY-NAME
changed on the first one). Rounds alternate between the kinds; every run
is listed, then the medians.

    python benchmarks/sentinel_failover.py [--rounds 3] [--down-after 1000]

Most of the figure is Sentinel's: down-after-milliseconds, the vote, the
INFO polling while it waits for the promotion. The server's part is
answering INFO/PING, running the promotion transaction and accepting
clients.
"""

import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'tests'))

import redis  # noqa: E402
from redis.sentinel import Sentinel  # noqa: E402

from helpers import ServerProcess  # noqa: E402
from sentinel_helpers import NAME, REDIS_SENTINEL, SentinelSet, wait_for  # noqa: E402


def one_round(kind, args):
    servers = []
    sset = None
    try:
        master = ServerProcess(kind, ['--repl-diskless-sync-delay', '0'])
        servers.append(master)
        for _ in range(2):
            servers.append(ServerProcess(kind, ['--repl-diskless-sync-delay', '0',
                                                '--replicaof', '127.0.0.1', str(master.port)]))
        for r in servers[1:]:
            wait_for(lambda: r.client().info('replication')['master_link_status'] == 'up', 30)
        debug = ({'info-period': 500, 'publish-period': 500, 'ask-period': 500}
                 if args.fast_periods else None)
        sset = SentinelSet(master.port, down_after=args.down_after,
                           failover_timeout=args.failover_timeout, loglevel='notice',
                           debug=debug)
        wait_for(lambda: all(len(sset.replicas(p)) == 2 and len(sset.sentinels(p)) == 2
                             for p in sset.ports), 60, 0.2, 'discovery')
        client = Sentinel(sset.addrs(), socket_timeout=0.5).master_for(NAME, socket_timeout=0.5)
        for i in range(200):
            client.set('warm:%d' % i, i)

        switched = []

        def watch():
            while not switched:
                try:
                    if sset.master_addr()[1] != master.port:
                        switched.append(time.perf_counter())
                except (redis.RedisError, OSError):
                    pass
                time.sleep(0.01)

        t_kill = time.perf_counter()
        master.kill()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        n = 0
        while True:
            n += 1
            try:
                # The old master is dead and replicas answer READONLY: a
                # SET that succeeds was taken by the new master.
                client.set('after', n)
                t_ok = time.perf_counter()
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
                pass
            if time.perf_counter() - t_kill > 120:
                raise RuntimeError('no failover in 120 s')
            time.sleep(0.02)
        watcher.join(5)
        return t_ok - t_kill, (switched[0] - t_kill) if switched else float('nan')
    finally:
        if sset:
            sset.cleanup()
        for s in servers:
            s.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--down-after', type=int, default=1000)
    ap.add_argument('--failover-timeout', type=int, default=3000)
    ap.add_argument('--fast-periods', action='store_true',
                    help="SENTINEL DEBUG info-period/publish-period/ask-period 500 ms")
    args = ap.parse_args()
    if not REDIS_SENTINEL:
        sys.exit('redis-sentinel is not installed (apt-get install redis-sentinel)')
    print('down-after-milliseconds %d, failover-timeout %d, %s Sentinel periods' % (
        args.down_after, args.failover_timeout,
        'shortened' if args.fast_periods else 'default'))
    results = {'pyredis': [], 'redis': []}
    for rnd in range(args.rounds):
        for kind in ('pyredis', 'redis'):
            write, switch = one_round(kind, args)
            results[kind].append(write)
            print('round %d %-8s kill -> first write on the new master %.3f s '
                  '(Sentinels switched at %.3f s)' % (rnd + 1, kind, write, switch),
                  flush=True)
    for kind, runs in results.items():
        print('%-8s median %.3f s over %d runs: %s' % (
            kind, statistics.median(runs), len(runs), ' '.join('%.3f' % r for r in runs)))


if __name__ == '__main__':
    main()
