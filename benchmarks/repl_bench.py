"""Master throughput with one replica attached: pyredis vs redis-server.

Starts a pyredis master with a pyredis replica, and a redis-server master
with a redis-server replica (no persistence, loopback, diskless sync without
delay). First each master runs once with no replica (the baseline), then the
replicas attach; once both links are up it runs redis-benchmark against each
master in turn (alternating which goes first, a few rounds) and reports the
best requests/s of each, the ratio pyredis/redis, and the replica's lag once
the run is over: the bytes of stream not yet applied right after the last
reply (master_repl_offset - replica offset) and the time the replica needs
to catch up completely.

    python benchmarks/repl_bench.py                         # set,incr,lpush at -P 16
    python benchmarks/repl_bench.py -t set -n 500000 -P 16 --rounds 3
"""

import argparse
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def call(port, *args):
    """One command over a raw socket; returns the reply's text."""
    req = b'*%d\r\n' % len(args) + b''.join(
        b'$%d\r\n%s\r\n' % (len(a), a) for a in (x.encode() for x in args))
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        s.sendall(req)
        data = b''
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            data += chunk
            if data.startswith(b'$'):
                n = int(data[1:data.index(b'\r\n')])
                if len(data) >= data.index(b'\r\n') + 2 + n + 2:
                    break
            elif data.endswith(b'\r\n'):
                break
    return data.decode('latin-1')


def info(port):
    text = call(port, 'INFO', 'replication')
    out = {}
    for line in text.split('\r\n'):
        if ':' in line:
            k, v = line.split(':', 1)
            out[k] = v
    return out


def start(kind, extra=()):
    port = free_port()
    workdir = tempfile.mkdtemp(prefix='repl-bench-%s-' % kind)
    if kind == 'redis':
        cmd = [shutil.which('redis-server')]
    else:
        cmd = [sys.executable, '-m', 'pyredis']
    cmd += ['--port', str(port), '--bind', '127.0.0.1', '--save', '', '--dir', workdir,
            '--repl-diskless-sync-delay', '0'] + list(extra)
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, cwd=workdir)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if call(port, 'PING').startswith('+PONG'):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError('%s did not start' % kind)


def wait_link(replica_port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if info(replica_port).get('master_link_status') == 'up':
            return
        time.sleep(0.05)
    raise RuntimeError('replica link did not come up')


def bench(port, tests, n, pipeline, clients):
    out = subprocess.run(
        [shutil.which('redis-benchmark'), '-p', str(port), '-t', tests, '-n', str(n),
         '-P', str(pipeline), '-c', str(clients), '--csv', '-r', '100000'],
        capture_output=True, text=True, check=True).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return {r[0]: float(r[1]) for r in rows[1:] if len(r) > 1}


def lag_after(master_port, replica_port):
    """(bytes behind right after the run, seconds to catch up)."""
    m = int(info(master_port)['master_repl_offset'])
    r = int(info(replica_port).get('master_repl_offset', 0))
    behind = max(0, m - r)
    start = time.time()
    while int(info(replica_port).get('master_repl_offset', 0)) < m:
        if time.time() - start > 120:
            break
        time.sleep(0.01)
    return behind, time.time() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-t', default='set,incr,lpush')
    ap.add_argument('-n', type=int, default=200000)
    ap.add_argument('-P', type=int, default=16)
    ap.add_argument('-c', type=int, default=50)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--no-baseline', action='store_true',
                    help='skip the run against masters without a replica')
    args = ap.parse_args()
    procs = []
    try:
        pm, pm_port = start('pyredis')
        pr, pr_port = start('pyredis')
        rm, rm_port = start('redis')
        rr, rr_port = start('redis')
        procs = [pm, pr, rm, rr]
        base = {'pyredis': {}, 'redis': {}}
        if not args.no_baseline:
            # The same masters before their replicas attach: the cost of
            # replication itself.
            for kind, mport in (('pyredis', pm_port), ('redis', rm_port)):
                base[kind] = bench(mport, args.t, args.n, args.P, args.c)
                call(mport, 'FLUSHALL')
        call(pr_port, 'REPLICAOF', '127.0.0.1', str(pm_port))
        call(rr_port, 'REPLICAOF', '127.0.0.1', str(rm_port))
        wait_link(pr_port)
        wait_link(rr_port)
        best = {'pyredis': {}, 'redis': {}}
        lags = {'pyredis': [], 'redis': []}
        for rnd in range(args.rounds):
            order = [('pyredis', pm_port, pr_port), ('redis', rm_port, rr_port)]
            if rnd % 2:
                order.reverse()
            for kind, mport, rport in order:
                res = bench(mport, args.t, args.n, args.P, args.c)
                lags[kind].append(lag_after(mport, rport))
                for test, rps in res.items():
                    best[kind][test] = max(best[kind].get(test, 0), rps)
        print('master throughput with one replica attached, -P %d -c %d -n %d, best of %d'
              % (args.P, args.c, args.n, args.rounds))
        print('%-10s %14s %14s %8s' % ('test', 'pyredis rps', 'redis rps', 'ratio'))
        for test in best['redis']:
            p, r = best['pyredis'].get(test, 0), best['redis'][test]
            print('%-10s %14.0f %14.0f %8.3f' % (test, p, r, p / r if r else 0))
        if not args.no_baseline:
            print('same masters without a replica (one run):')
            for test in base['redis']:
                p, r = base['pyredis'].get(test, 0), base['redis'][test]
                print('%-10s %14.0f %14.0f %8.3f' % (test, p, r, p / r if r else 0))
        for kind in ('pyredis', 'redis'):
            behind = max(b for b, _ in lags[kind])
            catch = max(t for _, t in lags[kind])
            print('%s replica lag after a run: at most %d bytes behind, caught up in %.3f s'
                  % (kind, behind, catch))
        for kind, mport, rport in (('pyredis', pm_port, pr_port), ('redis', rm_port, rr_port)):
            mi, ri = info(mport), info(rport)
            print('%s: master offset %s, replica offset %s, link %s' % (
                kind, mi['master_repl_offset'], ri['master_repl_offset'],
                ri['master_link_status']))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == '__main__':
    main()
