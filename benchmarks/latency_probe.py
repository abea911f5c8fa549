"""PING latency of one client while another loads the server, pyredis and
a real redis-server side by side.

A probe client sends PING and waits for +PONG every millisecond while the
load runs; it prints the load's time and the PING latency p50/p99/max, for
each server. The loads:

- ``pipe``: N SETs piped in with `redis-cli --pipe`. A server that runs one
  client's whole pipeline before looking at the others shows it here.
- ``setrange``: `SETRANGE k 536870911 1` (a 512 MB string, the largest
  allowed) then `DEL k`, five times: one huge allocation's stall.

    python benchmarks/latency_probe.py            # 350,000 SETs
    python benchmarks/latency_probe.py -n 1000000
    python benchmarks/latency_probe.py --load setrange
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start  # noqa: E402
from mass_insert import write_commands  # noqa: E402


def pipe_load(port, path):
    with open(path, 'rb') as f:
        subprocess.run(['redis-cli', '-p', str(port), '--pipe'], stdin=f, capture_output=True,
                       check=True)


def setrange_load(port, rounds=5):
    with socket.create_connection(('127.0.0.1', port)) as s:
        for _ in range(rounds):
            s.sendall(b'*4\r\n$8\r\nSETRANGE\r\n$1\r\nk\r\n$9\r\n536870911\r\n$1\r\n1\r\n')
            if s.recv(64) != b':536870912\r\n':
                raise RuntimeError('SETRANGE failed')
            s.sendall(b'*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n')
            if s.recv(64) != b':1\r\n':
                raise RuntimeError('DEL failed')


def probe(port, load):
    latencies = []
    stop = threading.Event()

    def ping():
        with socket.create_connection(('127.0.0.1', port)) as s:
            while not stop.is_set():
                t0 = time.perf_counter()
                s.sendall(b'PING\r\n')
                if s.recv(16) != b'+PONG\r\n':
                    raise RuntimeError('no PONG')
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.001)

    thread = threading.Thread(target=ping)
    thread.start()
    time.sleep(0.2)
    t = time.perf_counter()
    load(port)
    elapsed = time.perf_counter() - t
    stop.set()
    thread.join()
    latencies.sort()
    return (elapsed, len(latencies), latencies[len(latencies) // 2],
            latencies[int(len(latencies) * 0.99)], latencies[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--keys', type=int, default=350000)
    ap.add_argument('--load', choices=('pipe', 'setrange'), default='pipe')
    args = ap.parse_args()
    fd, path = tempfile.mkstemp(suffix='.resp')
    os.close(fd)
    if args.load == 'pipe':
        write_commands(path, args.keys, False)
        load, what = (lambda port: pipe_load(port, path)), '%d SETs piped' % args.keys
    else:
        load, what = setrange_load, '5 SETRANGEs of 512 MB'
    try:
        for kind in ('pyredis', 'redis'):
            proc, port = start(kind, [])
            try:
                elapsed, count, p50, p99, pmax = probe(port, load)
            finally:
                proc.terminate()
                proc.wait()
            print('%-8s %s in %.2f s; %d PINGs meanwhile: p50 %.2f ms, p99 %.2f ms, '
                  'max %.2f ms' % (kind, what, elapsed, count, p50 * 1e3, p99 * 1e3,
                                   pmax * 1e3), flush=True)
    finally:
        os.unlink(path)


if __name__ == '__main__':
    main()
