"""GET throughput with and without CLIENT TRACKING, pyredis and redis-server.

Each of --clients connections (threads, raw sockets) sends pipelines of
--pipeline GETs of one key and reads the replies, for --seconds; the same
run with every connection in CLIENT TRACKING on (RESP2, no redirect: the
keys are remembered, nothing is sent back) gives the ratio tracking /
plain. A tracking client's commands run on pyredis's trusted request path
(run_requests, with tracking.py's after_call/after_command and the C
remember_keys), so the ratio is the cost of remembering the keys.

    python benchmarks/tracking_bench.py [--seconds 3] [--clients 4] [--pipeline 16]
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start(kind):
    port = free_port()
    d = tempfile.mkdtemp(prefix='tracking-bench-')
    cmd = ([sys.executable, '-m', 'pyredis'] if kind == 'pyredis'
           else [shutil.which('redis-server')])
    cmd += ['--port', str(port), '--bind', '127.0.0.1', '--save', '', '--dir', d]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    for _ in range(200):
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5) as s:
                s.sendall(b'PING\r\n')
                if s.recv(10).startswith(b'+PONG'):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError('%s did not start' % kind)


def run(port, tracking, clients, pipeline, seconds):
    batch = b'*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n' * pipeline
    want = len(b'$1\r\nx\r\n') * pipeline
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i):
        s = socket.create_connection(('127.0.0.1', port))
        if tracking:
            s.sendall(b'CLIENT TRACKING on\r\n')
            assert s.recv(100) == b'+OK\r\n'
        n = 0
        while time.monotonic() < stop:
            s.sendall(batch)
            got = 0
            while got < want:
                got += len(s.recv(65536))
            n += pipeline
        counts[i] = n
        s.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=3)
    ap.add_argument('--clients', type=int, default=4)
    ap.add_argument('--pipeline', type=int, default=16)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()
    for kind in ('pyredis', 'redis'):
        proc, port = start(kind)
        try:
            with socket.create_connection(('127.0.0.1', port)) as s:
                s.sendall(b'SET key x\r\n')
                s.recv(10)
            plain, tracked = [], []
            for _ in range(args.rounds):
                plain.append(run(port, False, args.clients, args.pipeline, args.seconds))
                tracked.append(run(port, True, args.clients, args.pipeline, args.seconds))
            p, t = sorted(plain)[len(plain) // 2], sorted(tracked)[len(tracked) // 2]
            print('%-8s GET -P %d x%d: plain %9.0f/s  tracking %9.0f/s  ratio %.2f' % (
                kind, args.pipeline, args.clients, p, t, t / p))
        finally:
            proc.terminate()
            proc.wait()


if __name__ == '__main__':
    main()
