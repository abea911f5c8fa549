"""redis-benchmark --cluster: a six-node pyredis cluster vs a six-node
redis-server cluster (3 masters, 3 replicas each, made with
`redis-cli --cluster create`), same machine, same run.

Both clusters are started, then for each pipeline depth and test
redis-benchmark --cluster runs against one and then the other, alternating
which goes first, a few rounds, with random keys (-r 100000). Every run's
requests/s is listed, with the median of each and the ratio of the medians
(pyredis/redis). The clients and both clusters share the machine's cores:
figures are for comparison within one run only.

    python benchmarks/cluster_bench.py                  # set,get at -P 1 and -P 16
    python benchmarks/cluster_bench.py -t set,get,incr -n 200000 --rounds 5
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))

from cluster_helpers import ClusterNodes  # noqa: E402

BENCH = shutil.which('redis-benchmark')


def run(port, test, requests, clients, pipeline, keyspace):
    out = subprocess.run(
        [BENCH, '--cluster', '-h', '127.0.0.1', '-p', str(port), '-t', test,
         '-n', str(requests), '-c', str(clients), '-P', str(pipeline), '-r', str(keyspace),
         '--csv'], capture_output=True, text=True, timeout=600).stdout
    for line in out.splitlines():
        m = re.match(r'"([^"]+)","([0-9.]+)"', line)
        if m and m.group(1).lower().startswith(test.lower()):
            return float(m.group(2))
    raise RuntimeError('no figure from redis-benchmark:\n' + out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-t', default='set,get')
    ap.add_argument('-P', default='1,16')
    ap.add_argument('-n', type=int, default=100000)
    ap.add_argument('-c', type=int, default=50)
    ap.add_argument('-r', type=int, default=100000)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()
    if BENCH is None:
        sys.exit('redis-benchmark is not installed')
    clusters = {}
    try:
        for kind in ('pyredis', 'redis'):
            nodes = ClusterNodes([kind] * 6)
            clusters[kind] = nodes
            nodes.create(replicas=1)
        print('%-6s %3s  %-28s %-28s %9s %9s %6s' % ('test', '-P', 'pyredis runs', 'redis runs',
                                                    'pyredis', 'redis', 'ratio'))
        for pipeline in [int(p) for p in args.P.split(',')]:
            for test in args.t.split(','):
                figures = {'pyredis': [], 'redis': []}
                for i in range(args.rounds):
                    order = ('pyredis', 'redis') if i % 2 == 0 else ('redis', 'pyredis')
                    for kind in order:
                        figures[kind].append(run(clusters[kind][0].port, test, args.n, args.c,
                                                 pipeline, args.r))
                med = {k: statistics.median(v) for k, v in figures.items()}
                print('%-6s %3d  %-28s %-28s %9.0f %9.0f %6.2f' % (
                    test.upper(), pipeline, ' '.join('%.0f' % v for v in figures['pyredis']),
                    ' '.join('%.0f' % v for v in figures['redis']), med['pyredis'],
                    med['redis'], med['pyredis'] / med['redis']))
                sys.stdout.flush()
    finally:
        for nodes in clusters.values():
            nodes.stop()


if __name__ == '__main__':
    main()
