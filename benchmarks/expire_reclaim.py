"""Active expiry's reclaim rate, pyredis and redis-server side by side.

N keys are loaded with TTLs spread evenly over the next S seconds (SET ...
PX), then nothing touches them: only the active expire cycle removes them.
A probe polls DBSIZE every 50 ms; the report gives the time from the end
of the load until the keyspace is empty (1 + S seconds at best) and the peak
rate of removal (keys/s over one second).
Runs alternate between the servers.

    python benchmarks/expire_reclaim.py [-n 1000000] [--spread 5] [--rounds 1]
"""

import argparse
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start  # noqa: E402


def call(sock, f, *args):
    sock.sendall(b'*%d\r\n' % len(args) + b''.join(
        b'$%d\r\n%s\r\n' % (len(a), a) for a in args))
    return f.readline()


def run(kind, n, spread):
    proc, port = start(kind, [])
    try:
        with socket.create_connection(('127.0.0.1', port)) as s:
            f = s.makefile('rb')
            batch = 1000
            for base in range(0, n, batch):
                out = []
                for i in range(base, min(n, base + batch)):
                    ttl = b'%d' % (1000 + i * spread * 1000 // n)
                    key = b'key:%d' % i
                    out.append(b'*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n$2\r\nPX\r\n$%d\r\n%s\r\n'
                               % (len(key), key, len(ttl), ttl))
                s.sendall(b''.join(out))
                for _ in out:
                    f.readline()
            # The last key is due 1 + spread seconds after the end of the load
            # (the ideal time to an empty keyspace, from there).
            t0 = time.time()
            samples = []
            while True:
                now = time.time()
                size = int(call(s, f, b'DBSIZE')[1:])
                samples.append((now, size))
                if size == 0 or now - t0 > spread + 60:
                    break
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait()
    done = samples[-1][0] - t0
    peak = 0
    j = 0
    for i, (t, size) in enumerate(samples):
        while samples[j][0] < t - 1.0:
            j += 1
        if t - samples[j][0] > 0.5:
            peak = max(peak, (samples[j][1] - size) / (t - samples[j][0]))
    return done, peak


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--keys', type=int, default=1000000)
    ap.add_argument('--spread', type=int, default=5)
    ap.add_argument('--rounds', type=int, default=1)
    args = ap.parse_args()
    results = {'pyredis': [], 'redis': []}
    for _ in range(args.rounds):
        for kind in ('pyredis', 'redis'):
            results[kind].append(run(kind, args.keys, args.spread))
            done, peak = results[kind][-1]
            print('%-8s empty after %.1f s, peak %.0f keys/s' % (kind, done, peak), flush=True)
    p = statistics.median(r[1] for r in results['pyredis'])
    r = statistics.median(r[1] for r in results['redis'])
    print('median peak rate: pyredis %.0f keys/s, redis %.0f keys/s, ratio %.2fx' % (p, r, p / r))


if __name__ == '__main__':
    main()
