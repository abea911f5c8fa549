"""PING latency of one client while another pipelines a stream of SETs
(`redis-cli --pipe`), pyredis and a real redis-server side by side.

A probe client sends PING and waits for +PONG every millisecond while
N SETs are piped in; it prints the pipe's time and the PING latency
p50/p99/max, for each server. A server that runs one client's whole
pipeline before looking at the others shows it here.

    python benchmarks/latency_probe.py            # 350,000 SETs
    python benchmarks/latency_probe.py -n 1000000
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


def probe(port, path):
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
    with open(path, 'rb') as f:
        subprocess.run(['redis-cli', '-p', str(port), '--pipe'], stdin=f, capture_output=True,
                       check=True)
    elapsed = time.perf_counter() - t
    stop.set()
    thread.join()
    latencies.sort()
    return (elapsed, len(latencies), latencies[len(latencies) // 2],
            latencies[int(len(latencies) * 0.99)], latencies[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--keys', type=int, default=350000)
    args = ap.parse_args()
    fd, path = tempfile.mkstemp(suffix='.resp')
    os.close(fd)
    try:
        write_commands(path, args.keys, False)
        for kind in ('pyredis', 'redis'):
            proc, port = start(kind, [])
            try:
                elapsed, count, p50, p99, pmax = probe(port, path)
            finally:
                proc.terminate()
                proc.wait()
            print('%-8s %d SETs piped in %.2f s; %d PINGs meanwhile: p50 %.2f ms, p99 %.2f ms, '
                  'max %.2f ms' % (kind, args.keys, elapsed, count, p50 * 1e3, p99 * 1e3,
                                   pmax * 1e3), flush=True)
    finally:
        os.unlink(path)


if __name__ == '__main__':
    main()
