"""Many idle clients: the time to open them and the PING latency while they
are held, pyredis and a real redis-server side by side.

N connections are opened one after the other (each connect() returns once
the kernel queued it: the server must accept at that pace, or its listen
backlog overflows and a connection waits a second for a SYN retransmit);
then each sends PING in turn and waits for +PONG. Prints the time to open
them all, the slowest connect, how many connects waited for a SYN
retransmit (over 0.5 s: the listen queue was full), the PING latency
p50/p99/max, and the server's CPU time for the run; with several rounds
(the two servers alternate which goes first) every run and the medians.

    python benchmarks/connections.py              # 10,000 clients, 3 rounds
    python benchmarks/connections.py -n 2000 --rounds 1
"""

import argparse
import os
import resource
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start  # noqa: E402


def cpu_seconds(pid):
    """utime + stime of a process (Linux /proc), or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, ValueError, IndexError):
        return None


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
    retried = sum(1 for t in connect if t > 0.5)
    return (opened, max(connect), retried,
            pings[len(pings) // 2], pings[int(len(pings) * 0.99)], pings[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--clients', type=int, default=10000)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.clients + 100:
        sys.exit('open files limit %d is too low for %d clients' % (soft, args.clients))
    extra = ['--maxclients', str(args.clients + 100)]
    kinds = ['pyredis', 'redis']
    results = {kind: [] for kind in kinds}
    for r in range(args.rounds):
        for kind in (kinds if r % 2 == 0 else kinds[::-1]):
            proc, port = start(kind, extra)
            try:
                before = cpu_seconds(proc.pid)
                opened, worst, retried, p50, p99, pmax = measure(port, args.clients)
                after = cpu_seconds(proc.pid)
            finally:
                proc.terminate()
                proc.wait()
            cpu = after - before if before is not None and after is not None else float('nan')
            results[kind].append((opened, p99))
            print('%-8s %d clients opened in %.2f s (slowest connect %.1f ms, %d waited for a '
                  'SYN retransmit); PING p50 %.3f ms, p99 %.3f ms, max %.3f ms; server CPU %.2f s'
                  % (kind, args.clients, opened, worst * 1e3, retried, p50 * 1e3, p99 * 1e3,
                     pmax * 1e3, cpu), flush=True)
    if args.rounds > 1:
        for kind in kinds:
            print('%-8s median: opened in %.2f s, PING p99 %.3f ms' % (
                kind, statistics.median(o for o, _ in results[kind]),
                statistics.median(p for _, p in results[kind]) * 1e3))


if __name__ == '__main__':
    main()
