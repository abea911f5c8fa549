"""Time from process start to the first PONG, pyredis and redis-server.

Each run starts a fresh server on a free port with an empty dataset and
polls it with PING until it answers. Three cases:

- ``pyredis``: as installed (pip compiles the package's bytecode when it
  installs it; here ``compileall`` does it first);
- ``pyredis-cold``: every module compiled from source at start-up, as when
  bytecode is never written (PYTHONDONTWRITEBYTECODE with an empty cache);
- ``redis``: redis-server;
- ``embedded``: ``pyredis.serve()`` in a fresh Python process, from before
  ``import pyredis`` to the first PONG, and ``embedded-next``: a second
  server in the same process.

Runs are interleaved (one of each, in turn) and all listed, with the median.

    python benchmarks/startup.py [-n 11]
"""

import argparse
import compileall
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


def first_pong(cmd, env, workdir):
    port = free_port()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd + ['--port', str(port), '--bind', '127.0.0.1', '--save', '',
                                   '--dir', workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            cwd=workdir)
    try:
        while True:
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
                    s.sendall(b'PING\r\n')
                    if s.recv(16) == b'+PONG\r\n':
                        return time.perf_counter() - t
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError('%s exited' % cmd[0])
                time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait()


EMBEDDED = r"""
import socket, sys, time
t = time.perf_counter()
import pyredis
def pong(server):
    with socket.create_connection((server.host, server.port)) as s:
        s.sendall(b'PING\r\n')
        assert s.recv(16) == b'+PONG\r\n'
first = pyredis.serve()
pong(first)
t1 = time.perf_counter()
second = pyredis.serve()
pong(second)
t2 = time.perf_counter()
second.stop()
first.stop()
print(t1 - t, t2 - t1)
"""


def embedded(env):
    out = subprocess.run([sys.executable, '-c', EMBEDDED], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--runs', type=int, default=11)
    args = ap.parse_args()
    compileall.compile_dir(os.path.join(ROOT, 'pyredis'), quiet=1)
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    empty_cache = tempfile.mkdtemp(prefix='pycache-empty-')
    cold_env = dict(env, PYTHONDONTWRITEBYTECODE='1', PYTHONPYCACHEPREFIX=empty_cache)
    warm_env = dict(env)
    warm_env.pop('PYTHONDONTWRITEBYTECODE', None)
    cases = [('pyredis', [sys.executable, '-m', 'pyredis'], warm_env),
             ('pyredis-cold', [sys.executable, '-m', 'pyredis'], cold_env)]
    if shutil.which('redis-server'):
        cases.append(('redis', [shutil.which('redis-server')], env))
    times = {name: [] for name, _, _ in cases}
    times['embedded'] = []
    times['embedded-next'] = []
    workdir = tempfile.mkdtemp(prefix='bench-startup-')
    try:
        for _ in range(args.runs):
            for name, cmd, case_env in cases:
                times[name].append(first_pong(cmd, case_env, workdir))
            first, nxt = embedded(warm_env)
            times['embedded'].append(first)
            times['embedded-next'].append(nxt)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(empty_cache, ignore_errors=True)
    for name, runs in times.items():
        print('%-13s median %.3f s   runs: %s' % (
            name, statistics.median(runs), ' '.join('%.3f' % t for t in runs)))


if __name__ == '__main__':
    main()
