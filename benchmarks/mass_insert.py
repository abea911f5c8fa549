"""Mass insertion: `redis-cli --pipe`, Redis's documented way to load data,
against pyredis and a real redis-server side by side.

A file of N SET commands in RESP (optionally with EX on every key) is piped
into each server with `redis-cli --pipe`, one server after the other,
alternating which goes first, for a few rounds; the time of each run
(the whole redis-cli process, until the server has answered every command)
is listed, with the median of each server and the ratio of the medians.

    python benchmarks/mass_insert.py                 # 1,000,000 SETs, then with EX
    python benchmarks/mass_insert.py -n 200000 --rounds 5 --modes plain
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import interleaved, start  # noqa: E402


def write_commands(path, n, ex):
    """N 'SET key:<i> value:<i> [EX 3600]' commands as RESP multibulks."""
    tail = b'$2\r\nEX\r\n$4\r\n3600\r\n' if ex else b''
    head = b'*5\r\n' if ex else b'*3\r\n'
    with open(path, 'wb') as f:
        chunk = []
        for i in range(n):
            key = b'key:%d' % i
            val = b'value:%d' % i
            chunk.append(b'%s$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n%s' % (
                head, len(key), key, len(val), val, tail))
            if len(chunk) == 10000:
                f.write(b''.join(chunk))
                chunk.clear()
        f.write(b''.join(chunk))


def pipe(port, path):
    with open(path, 'rb') as f:
        t = time.perf_counter()
        out = subprocess.run(['redis-cli', '-p', str(port), '--pipe'], stdin=f,
                             capture_output=True, text=True, check=True).stdout
        elapsed = time.perf_counter() - t
    if 'errors: 0' not in out:
        raise RuntimeError('redis-cli --pipe reported errors: %s' % out)
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--keys', type=int, default=1000000)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--modes', default='plain,ex', help='plain and/or ex (EX 3600 on every key)')
    args = ap.parse_args()
    ours, our_port = start('pyredis', [])
    theirs, their_port = start('redis', [])
    tmp = tempfile.mkdtemp(prefix='mass-insert-')
    try:
        for mode in args.modes.split(','):
            path = os.path.join(tmp, mode + '.resp')
            write_commands(path, args.keys, mode == 'ex')
            runs = interleaved({'pyredis': our_port, 'redis': their_port}, args.rounds,
                               lambda port: pipe(port, path))
            med = {k: statistics.median(v) for k, v in runs.items()}
            print('%d SETs%s via redis-cli --pipe' % (
                args.keys, ' EX 3600' if mode == 'ex' else ''))
            for kind in ('pyredis', 'redis'):
                print('  %-8s runs %s  median %.2f s' % (
                    kind, ' '.join('%.2f' % t for t in runs[kind]), med[kind]))
            print('  time ratio pyredis/redis (medians): %.2fx' % (med['pyredis'] / med['redis']),
                  flush=True)
            os.unlink(path)
    finally:
        for p in (ours, theirs):
            p.terminate()
            p.wait()
        os.rmdir(tmp)


if __name__ == '__main__':
    main()
