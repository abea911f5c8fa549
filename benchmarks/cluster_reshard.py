"""redis-cli --cluster reshard: how long moving N slots takes between
pyredis nodes and between redis-server nodes, same machine.

For each implementation a three-master cluster is made with
`redis-cli --cluster create` (no replicas; --replicas 1 adds three), a few
keys are written per slot when --keys is given, and then slots go from the
first master to the second and back, alternating pyredis and redis-server
runs, several rounds. Each reshard's wall time is printed, then the medians
and their ratio. The reshard is mostly CLUSTER SETSLOT (IMPORTING, MIGRATING,
NODE on each master), so the figure follows what a node does on a slot
change (nodes.conf saves, PONG broadcasts) more than the key transfer.

    python benchmarks/cluster_reshard.py                # 300 slots, 3 rounds
    python benchmarks/cluster_reshard.py --slots 1000 --rounds 5 --keys 2
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))

from cluster_helpers import ClusterNodes, cli, node_id  # noqa: E402
from helpers import REDIS_CLI  # noqa: E402


def populate(nodes, keys_per_slot):
    """About keys_per_slot keys in each slot, written through redis-cli -c."""
    if not keys_per_slot:
        return
    lines = ''.join('SET key:%d %d\n' % (i, i) for i in range(16384 * keys_per_slot))
    subprocess.run([REDIS_CLI, '-c', '-p', str(nodes[0].port)], input=lines.encode(),
                   capture_output=True, timeout=600, check=True)


def reshard(nodes, src, dst, slots):
    t = time.perf_counter()
    cli('--cluster', 'reshard', '127.0.0.1:%d' % nodes[0].port, '--cluster-from',
        node_id(src), '--cluster-to', node_id(dst), '--cluster-slots', slots,
        '--cluster-yes', timeout=900)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--slots', type=int, default=300)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--keys', type=int, default=0, help='keys per slot (about)')
    ap.add_argument('--replicas', type=int, default=0)
    ap.add_argument('--only', choices=('pyredis', 'redis'))
    args = ap.parse_args()
    kinds = [args.only] if args.only else ['pyredis', 'redis']
    clusters = {}
    times = {k: [] for k in kinds}
    try:
        for kind in kinds:
            nodes = ClusterNodes([kind] * (3 * (1 + args.replicas)))
            clusters[kind] = nodes
            nodes.create(replicas=args.replicas)
            populate(nodes, args.keys)
        for i in range(args.rounds):
            order = kinds if i % 2 == 0 else kinds[::-1]
            for kind in order:
                nodes = clusters[kind]
                masters = nodes.nodes[:3]
                # Back and forth, so every round starts from the same layout.
                for src, dst in ((masters[0], masters[1]), (masters[1], masters[0])):
                    nodes.wait_agree()
                    took = reshard(nodes, src, dst, args.slots)
                    times[kind].append(took)
                    print('round %d %-7s %d slots %d->%d: %.2f s' % (
                        i + 1, kind, args.slots, src.port, dst.port, took))
                    sys.stdout.flush()
        med = {k: statistics.median(v) for k, v in times.items()}
        for kind in kinds:
            print('%-7s runs: %s  median %.2f s' % (
                kind, ' '.join('%.2f' % t for t in times[kind]), med[kind]))
        if len(kinds) == 2:
            print('ratio pyredis/redis: %.1f' % (med['pyredis'] / med['redis']))
    finally:
        for nodes in clusters.values():
            nodes.stop()


if __name__ == '__main__':
    main()
