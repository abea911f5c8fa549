"""SAVE and start-up load of an RDB with 1,000,000 keys of mixed types, for
pyredis and for redis-server, and the ratio.

The dataset is generated once as an RDB file (70% strings, 10% lists, 10%
hashes, 5% sets, 5% sorted sets, small collections of 10 elements, 10% of
the keys with a TTL) and both servers start on a copy of it, so they load
and then save exactly the same data:

    load   the "DB loaded from disk: N seconds" figure from each log
    SAVE   the wall time of a SAVE command (best of --runs)

    python benchmarks/rdb_bench.py [--keys 1000000] [--runs 2]
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pyredis import rdb, crc64, lzf  # noqa: E402
from pyredis.zset import ZSet  # noqa: E402


class _DB:
    def __init__(self, i):
        self.id, self.data, self.expires, self.lru, self.scan_index = i, {}, {}, {}, None


class _Server:
    config = None

    def __init__(self):
        self.dbs = [_DB(0)]
        self.lruclock = 0


def build_dataset(n):
    srv = _Server()
    data = srv.dbs[0].data
    expires = srv.dbs[0].expires
    far = int(time.time() * 1000) + 86400 * 1000
    for i in range(n):
        kind = i % 20
        key = b'key:%d' % i
        if kind < 14:
            data[key] = b'value-%d-%s' % (i, b'x' * (i % 40))
        elif kind < 16:
            data[key] = deque(b'item-%d' % j for j in range(10))
        elif kind < 18:
            data[key] = {b'field-%d' % j: b'v%d' % (i + j) for j in range(10)}
        elif kind < 19:
            data[key] = {b'%d' % (i + j) for j in range(10)}
        else:
            z = ZSet()
            for j in range(10):
                z.add(b'member-%d' % j, j * 1.5)
            data[key] = z
        if i % 10 == 0:
            expires[key] = far
    return srv


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def command(port, *args, timeout=600):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(b''.join([b'*%d\r\n' % len(args)] +
                           [b'$%d\r\n%s\r\n' % (len(a), a) for a in
                            (x if isinstance(x, bytes) else str(x).encode() for x in args)]))
        buf = b''
        while not buf.endswith(b'\r\n'):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf


def start(kind, dump, port):
    d = tempfile.mkdtemp(prefix='rdb-bench-')
    shutil.copy(dump, os.path.join(d, 'dump.rdb'))
    if kind == 'redis':
        cmd = ['redis-server']
    else:
        cmd = [sys.executable, '-m', 'pyredis']
    cmd += ['--port', str(port), '--bind', '127.0.0.1', '--dir', d, '--save', '']
    logpath = os.path.join(d, 'log')
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, stdout=open(logpath, 'w'), stderr=subprocess.STDOUT, cwd=d,
                            env=env)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if command(port, 'PING', timeout=5).startswith(b'+PONG'):
                break
        except OSError:
            pass
        time.sleep(0.05)
    log = open(logpath).read()
    m = re.search(r'DB loaded from disk: ([0-9.]+) seconds', log)
    return proc, d, float(m.group(1)) if m else None


def measure(kind, dump, runs):
    port = free_port()
    proc, d, load = start(kind, dump, port)
    try:
        keys = int(command(port, 'DBSIZE')[1:])
        saves = []
        for _ in range(runs):
            t = time.time()
            reply = command(port, 'SAVE')
            assert reply == b'+OK\r\n', reply
            saves.append(time.time() - t)
        size = os.path.getsize(os.path.join(d, 'dump.rdb'))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)
    return {'load': load, 'save': min(saves), 'keys': keys, 'size': size}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--keys', type=int, default=1000000)
    ap.add_argument('--runs', type=int, default=2)
    args = ap.parse_args()
    print('CRC64 and LZF accelerated (C extension): %s / %s' % (crc64.ACCELERATED,
                                                                lzf.ACCELERATED))
    t = time.time()
    srv = build_dataset(args.keys)
    work = tempfile.mkdtemp(prefix='rdb-bench-')
    dump = os.path.join(work, 'dump.rdb')
    rdb.save_to_file(srv, dump)
    del srv
    print('dataset: %d keys, %.1f MB RDB, generated in %.1fs' % (
        args.keys, os.path.getsize(dump) / 1e6, time.time() - t))
    results = {}
    for kind in ('redis', 'pyredis'):
        results[kind] = r = measure(kind, dump, args.runs)
        print('%-8s load %.3fs  SAVE %.3fs  (%d keys, dump %.1f MB)' % (
            kind, r['load'], r['save'], r['keys'], r['size'] / 1e6))
    a, b = results['pyredis'], results['redis']
    print('ratio pyredis/redis: load %.1fx  SAVE %.1fx' % (
        a['load'] / max(b['load'], 1e-3), a['save'] / max(b['save'], 1e-3)))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
