"""Many idle clients: the time to open them and the PING latency while they
are held, pyredis and a real redis-server side by side.

N connections are opened one after the other (each connect() returns once
the kernel queued it: the server must accept at that pace, or its listen
backlog overflows and a connection waits a second for a SYN retransmit);
then each sends PING in turn and waits for +PONG. Prints the time to open
them all, the slowest connect, and the PING latency p50/p99/max.

    python benchmarks/connections.py              # 10,000 clients
    python benchmarks/connections.py -n 2000
"""

import argparse
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start  # noqa: E402


def measure(port, n):
    socks, connect = [], []
    t = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        socks.append(socket.create_connection(('127.0.0.1', port)))
        connect.append(time.perf_counter() - t0)
    opened = time.perf_counter() - t
    pings = []
    try:
        for s in socks:
            t0 = time.perf_counter()
            s.sendall(b'PING\r\n')
            if s.recv(16) != b'+PONG\r\n':
                raise RuntimeError('no PONG')
            pings.append(time.perf_counter() - t0)
    finally:
        for s in socks:
            s.close()
    pings.sort()
    return opened, max(connect), pings[len(pings) // 2], pings[int(len(pings) * 0.99)], pings[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--clients', type=int, default=10000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.clients + 100:
        sys.exit('open files limit %d is too low for %d clients' % (soft, args.clients))
    extra = ['--maxclients', str(args.clients + 100)]
    for kind in ('pyredis', 'redis'):
        proc, port = start(kind, extra)
        try:
            opened, worst, p50, p99, pmax = measure(port, args.clients)
        finally:
            proc.terminate()
            proc.wait()
        print('%-8s %d clients opened in %.2f s (slowest connect %.1f ms); '
              'PING p50 %.3f ms, p99 %.3f ms, max %.3f ms' % (
                  kind, args.clients, opened, worst * 1e3, p50 * 1e3, p99 * 1e3, pmax * 1e3),
              flush=True)


if __name__ == '__main__':
    main()
