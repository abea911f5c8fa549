"""PING latency of a pyredis server while its /metrics endpoint is scraped
in a tight loop, against the same server left alone.

The server holds 1,000,000 keys over 16 databases (DEBUG POPULATE) and
1000 idle clients besides the probe, so that a scrape's snapshot (INFO's
sections, which walk the clients, and the 16 databases' counts) has
something to read. A probe client sends PING and waits for +PONG every
millisecond; a scraper in its own process (so that it does not share the
probe's interpreter lock) GETs /metrics back to back. Phases of --seconds
each alternate quiet / scraped, --rounds times; for each phase the probe's
p50/p99/max and the scrapes' count and mean time are printed.

The snapshot is taken in the event loop, in one go; the rendering of the
exposition text runs in prometheus-client's HTTP thread, which shares the
server's interpreter lock with the loop - both show in the probe's max.

    python benchmarks/metrics_scrape.py
    python benchmarks/metrics_scrape.py --keys 200000 --clients 100 --seconds 5

One run of the defaults (2 cores shared with other work, load average
about 3: noisy): quiet p50 0.03 ms, p99 0.56-0.59 ms, max 2.4-6.2 ms;
scraped (about 355 scrapes/s of 11 KB, 3.0 ms each) p50 1.0-1.1 ms, p99
3.7-3.8 ms, max 10.7-11.7 ms. A tight loop of scrapes does hold commands
up by more than a millisecond: the snapshot alone takes about 1 ms in the
loop with 1000 clients (INFO memory's part 0.75 ms of it), and the
rendering thread contends for the interpreter lock.

Those figures predate two changes: past 128 clients, INFO's client memory
is the clients cron's running sums instead of a walk of every client
(snapshot about 0.7 ms, memory section 0.34 ms), and the HTTP thread lets
go of the interpreter lock after each metric family, with a 0.5 ms switch
interval while the endpoint runs. The run reported with them (shared
machine again): scraped p50 0.07 ms, p99 1.7-1.9 ms, max 6-7 ms; quiet
max 3.8-4.4 ms.
"""

import argparse
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import free_port, start  # noqa: E402

DATABASES = 16

SCRAPER = r'''
import sys, time, urllib.request
url, seconds = sys.argv[1], float(sys.argv[2])
times = []
size = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        size = len(r.read())
    times.append(time.perf_counter() - t)
times.sort()
print(len(times), sum(times) / len(times), times[-1], size)
'''


def command(s, *args):
    s.sendall(b'*%d\r\n' % len(args) + b''.join(
        b'$%d\r\n%s\r\n' % (len(a), a) for a in (x if isinstance(x, bytes) else str(x).encode()
                                                   for x in args)))
    reply = b''
    while not reply.endswith(b'\r\n'):
        reply += s.recv(4096)
    if reply.startswith(b'-'):
        raise RuntimeError(reply.decode().strip())
    return reply


def fill(port, keys):
    per_db = keys // DATABASES
    with socket.create_connection(('127.0.0.1', port)) as s:
        for db in range(DATABASES):
            command(s, 'SELECT', db)
            command(s, 'DEBUG', 'POPULATE', per_db, 'key', 16)
            # Some keys with a TTL, for redis_db_keys_expiring.
            for i in range(0, per_db, 100):
                command(s, 'EXPIRE', 'key:%d' % i, 3600)


def probe(port, seconds):
    latencies = []
    with socket.create_connection(('127.0.0.1', port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            s.sendall(b'PING\r\n')
            if s.recv(16) != b'+PONG\r\n':
                raise RuntimeError('no PONG')
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.001)
    latencies.sort()
    return (len(latencies), latencies[len(latencies) // 2],
            latencies[int(len(latencies) * 0.99)], latencies[-1])


def phase(port, metrics_port, seconds, scraped):
    scraper = None
    if scraped:
        scraper = subprocess.Popen(
            [sys.executable, '-c', SCRAPER, 'http://127.0.0.1:%d/metrics' % metrics_port,
             str(seconds + 0.5)], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)             # the scraper's interpreter started, scraping
    result = probe(port, seconds)
    scrapes = None
    if scraper is not None:
        out, _ = scraper.communicate()
        n, mean, worst, size = out.split()
        scrapes = (int(n), float(mean), float(worst), int(size))
    return result, scrapes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--keys', type=int, default=1_000_000)
    ap.add_argument('--clients', type=int, default=1000)
    ap.add_argument('--seconds', type=float, default=10)
    ap.add_argument('--rounds', type=int, default=2)
    args = ap.parse_args()
    metrics_port = free_port()
    proc, port = start('pyredis', ['--metrics-port', str(metrics_port), '--databases',
                                   str(DATABASES), '--enable-debug-command', 'yes'])
    idle = []
    try:
        t = time.perf_counter()
        fill(port, args.keys)
        for _ in range(args.clients):
            idle.append(socket.create_connection(('127.0.0.1', port)))
        with socket.create_connection(('127.0.0.1', port)) as s:
            clients = command(s, 'INFO', 'clients').decode()
            connected = [line for line in clients.split('\r\n')
                         if line.startswith('connected_clients:')][0]
        print('%d keys over %d databases, %d idle clients (%s) in %.1f s' % (
            args.keys, DATABASES, args.clients, connected, time.perf_counter() - t), flush=True)
        for r in range(args.rounds):
            for scraped in ((False, True) if r % 2 == 0 else (True, False)):
                (count, p50, p99, pmax), scrapes = phase(port, metrics_port, args.seconds,
                                                         scraped)
                line = '%-7s %5d PINGs: p50 %.3f ms, p99 %.3f ms, max %.3f ms' % (
                    'scraped' if scraped else 'quiet', count, p50 * 1e3, p99 * 1e3,
                    pmax * 1e3)
                if scrapes:
                    line += ('; %d scrapes (%.1f/s) of %d bytes, mean %.1f ms, max %.1f ms'
                             % (scrapes[0], scrapes[0] / args.seconds, scrapes[3],
                                scrapes[1] * 1e3, scrapes[2] * 1e3))
                print(line, flush=True)
    finally:
        for s in idle:
            s.close()
        proc.terminate()
        proc.wait()


if __name__ == '__main__':
    main()
