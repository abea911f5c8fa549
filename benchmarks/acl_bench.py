"""The cost of ACL checks: SET/GET pipelined as the default user and as a
restricted user, on one pyredis (and, with --redis, the same on a
redis-server beside it).

Ten users are loaded; the restricted one has ``~app:* +@read +@write``.
Both users' SET/GET run on the trusted request path: the default user's
from the command table itself, the restricted user's from its own table
(acl.py), where SET and GET are guards that check the key's prefix before
the real handler. Runs alternate between the two users, a few rounds; every
run is listed, then the medians and their ratio (restricted/default).

    python benchmarks/acl_bench.py                  # -P 16, 200000 requests, 5 rounds
    python benchmarks/acl_bench.py -P 1 -n 50000 --redis
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start(kind, port, folder):
    cmd = ([sys.executable, '-m', 'pyredis'] if kind == 'pyredis' else ['redis-server'])
    cmd += ['--port', str(port), '--bind', '127.0.0.1', '--save', '', '--dir', folder]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit('%s did not start' % kind)


def cli(port, *args):
    subprocess.run(['redis-cli', '-p', str(port)] + list(args), check=True,
                   stdout=subprocess.DEVNULL)


def bench(port, command, pipeline, requests, user):
    cmd = ['redis-benchmark', '-p', str(port), '-P', str(pipeline), '-n', str(requests),
           '-r', '100000', '-q', '--csv']
    if user:
        cmd += ['--user', 'app', '-a', 'secret']
    cmd += command
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = [x for x in out.splitlines() if x and not x.startswith('"test"')][-1]
    return float(line.split(',')[1].strip('"'))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-P', type=int, default=16)
    ap.add_argument('-n', type=int, default=200000)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--redis', action='store_true', help='also measure redis-server')
    args = ap.parse_args()
    if not shutil.which('redis-benchmark'):
        raise SystemExit('redis-benchmark is not installed')
    kinds = ['pyredis'] + (['redis'] if args.redis else [])
    for kind in kinds:
        folder = tempfile.mkdtemp(prefix='acl-bench-')
        port = free_port()
        proc = start(kind, port, folder)
        try:
            for i in range(10):
                cli(port, 'ACL', 'SETUSER', 'user%d' % i, 'on', '>pw%d' % i, '~u%d:*' % i,
                    '+@read', '-@dangerous')
            cli(port, 'ACL', 'SETUSER', 'app', 'on', '>secret', '~app:*', '+@read', '+@write')
            for name, command in (('SET', ['SET', 'app:__rand_int__', 'value']),
                                  ('GET', ['GET', 'app:__rand_int__'])):
                runs = {False: [], True: []}
                for r in range(args.rounds):
                    for user in ((False, True) if r % 2 == 0 else (True, False)):
                        runs[user].append(bench(port, command, args.P, args.n, user))
                base = statistics.median(runs[False])
                restricted = statistics.median(runs[True])
                print('%-8s %s -P %d: default %.0f/s, restricted %.0f/s, ratio %.2f' % (
                    kind, name, args.P, base, restricted, restricted / base))
                for user in (False, True):
                    print('    %-10s runs: %s' % ('restricted' if user else 'default',
                                                 ' '.join('%.0f' % x for x in runs[user])))
        finally:
            proc.terminate()
            proc.wait()
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
    main()
