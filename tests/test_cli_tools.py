"""redis-cli's tools (--latency, --stat, --bigkeys, --memkeys, --lru-test)
run against pyredis for a moment each, their output checked."""

import re
import shutil
import subprocess
import time

import pytest

from helpers import REDIS_CLI

pytestmark = pytest.mark.skipif(not REDIS_CLI or not shutil.which('stdbuf'),
                                reason='redis-cli (and stdbuf) needed')


def _run_for(port, args, seconds):
    # (stdbuf: redis-cli's output to a pipe is otherwise lost when stopped.)
    proc = subprocess.Popen(['stdbuf', '-o0', REDIS_CLI, '-p', str(port)] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(seconds)
    proc.terminate()
    return proc.communicate(timeout=10)[0].decode()


def _run(port, args):
    return subprocess.run([REDIS_CLI, '-p', str(port)] + args, capture_output=True,
                          timeout=60).stdout.decode()


def test_bigkeys_and_memkeys(pyredis):
    r = pyredis.client()
    r.execute_command('DEBUG', 'POPULATE', '200')
    r.rpush('biglist', *range(50))
    r.hset('h', mapping={'a': 1, 'b': 2})
    r.sadd('s', 1, 2, 3)
    r.zadd('z', {'m': 1})
    r.xadd('x', {'f': 'v'})
    out = _run(pyredis.port, ['--bigkeys'])
    assert 'Sampled 205 keys in the keyspace!' in out
    assert 'Biggest   list found \'"biglist"\' has 50 items' in out
    assert '200 strings with' in out and '1 zsets with 1 members' in out
    out = _run(pyredis.port, ['--memkeys'])
    assert 'Sampled 205 keys in the keyspace!' in out
    assert re.search(r'1 lists with \d+ bytes', out)
    r.close()


def _memkeys_summary(port):
    # The summary's per-type totals and biggest sizes (the progress lines
    # depend on SCAN's order, and so does which of two keys of the same
    # size is named the biggest).
    out = _run(port, ['--memkeys'])
    summary = out[out.index('-------- summary -------'):]
    return sorted(re.sub(r"'.*'", 'KEY', line) for line in summary.splitlines()
                  if re.match(r'(Sampled|\d+ \w+ with|Biggest)', line))


def test_memkeys_matches_redis(pyredis, real_redis):
    # MEMORY USAGE follows Redis's accounting, so --memkeys reports the
    # same bytes for the same dataset.
    for srv in (pyredis, real_redis):
        r = srv.client()
        p = r.pipeline(transaction=False)
        for i in range(300):
            p.set('str:%d' % i, 'v' * i)
        for i in range(20):
            p.rpush('list:%d' % i, *range(i * 10 + 1))
            p.hset('hash:%d' % i, mapping={'f%d' % j: 'x' * j for j in range(i + 1)})
            p.sadd('set:%d' % i, *range(i * 5 + 1))
            p.zadd('zset:%d' % i, {'m%d' % j: j for j in range(i + 1)})
            p.xadd('stream:%d' % i, {'f': 'v' * i})
        p.execute()
        r.close()
    ours = _memkeys_summary(pyredis.port)
    theirs = _memkeys_summary(real_redis.port)
    assert any(line.startswith('300 strings with') for line in ours), ours
    assert ours == theirs


def test_latency_stat_lru_test(pyredis):
    # --latency --raw prints min, max, avg and count when it is stopped.
    out = _run_for(pyredis.port, ['--latency', '--raw'], 2.0)
    assert re.search(r'^\d+ \d+ [\d.]+ \d+$', out.strip().splitlines()[-1]), out
    out = _run_for(pyredis.port, ['--stat', '-i', '0.3'], 1.5)
    lines = out.splitlines()
    assert lines[0].startswith('------- data ------')
    assert re.match(r'\d+\s+[\d.]+[KMG]?\s+\d+\s+\d+\s+\d+ \(\+\d+\)', lines[2])
    out = _run_for(pyredis.port, ['--lru-test', '1000'], 2.5)
    assert re.search(r'^\d+ Gets/sec \| Hits: \d+ \([\d.]+%\) \| Misses: \d+ \([\d.]+%\)$', out,
                     re.M), out
    pyredis.client().flushall()
