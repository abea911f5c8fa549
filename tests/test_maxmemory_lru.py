"""The quality of the approximated LRU, in the spirit of Redis's
``redis-cli --lru-test``: the same skewed (power-law) workload of SETs and
GETs runs against pyredis and redis-server, each with a maxmemory that holds
the same number of keys, and the hit ratios are compared.

Both servers hold about the same number of keys: the bytes per key are
measured on each server first (pyredis's keys cost more bytes than Redis's,
so a same maxmemory would compare cache sizes, not eviction quality), and
redis-server's maxmemory is set for as many keys as pyredis ended up
holding.
"""

import re
import subprocess
import time

import shutil

import pytest

from helpers import REDIS_CLI, REDIS_SERVER

STDBUF = ['stdbuf', '-oL'] if shutil.which('stdbuf') else []

KEYSPACE = 100000       # redis-cli --lru-test <keyspace>
CAPACITY = 15000        # keys each server can hold
SECONDS = 9


def _per_key_bytes(r):
    r.flushall()
    base = r.info('memory')['used_memory']
    p = r.pipeline(transaction=False)
    # As many keys as the cache will hold (dict tables grow by steps), with
    # names as long as the test's.
    step = KEYSPACE // CAPACITY
    for i in range(CAPACITY):
        p.set('lru:%d' % (i * step), 'AAAAA')
        if len(p) >= 500:
            p.execute()
    p.execute()
    per_key = (r.info('memory')['used_memory'] - base) / CAPACITY
    r.flushall()
    return base, per_key


def hit_ratio(srv, capacity):
    r = srv.client()
    base, per_key = _per_key_bytes(r)
    r.config_set('maxmemory', str(int(base + capacity * per_key)))
    r.config_set('maxmemory-policy', 'allkeys-lru')
    # stdbuf: redis-cli's stdout is a pipe here, line buffering keeps the
    # per-second lines when it is killed.
    proc = subprocess.Popen(STDBUF + [REDIS_CLI, '-p', str(srv.port), '--lru-test', str(KEYSPACE)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sizes = []
    for _ in range(SECONDS):
        time.sleep(1)
        sizes.append(r.dbsize())
    proc.kill()
    out = proc.communicate()[0].decode()
    ratios = [float(m) for m in re.findall(r'Hits: \d+ \(([\d.]+)%\)', out)]
    assert len(ratios) >= 4, out
    # Keys held in the steady state (pyredis's count moves: a Python dict
    # under churn regrows its table, which eviction pays for in keys).
    keys = int(sum(sizes[len(sizes) // 2:]) / (len(sizes) - len(sizes) // 2))
    r.config_set('maxmemory', '0')
    # The first seconds fill the cache: average the steady state.
    steady = ratios[len(ratios) // 2:]
    return sum(steady) / len(steady), keys


@pytest.mark.skipif(not (REDIS_SERVER and REDIS_CLI), reason='needs redis-server and redis-cli')
def test_lru_hit_ratio_close_to_redis(server_factory):
    ours = server_factory('pyredis')
    theirs = server_factory('redis')
    ratio_ours, keys_ours = hit_ratio(ours, CAPACITY)
    # Python dicts grow by doubling, so the keys pyredis holds are not
    # linear in maxmemory: size redis-server's cache on what pyredis held
    # on average.
    ratio_theirs, keys_theirs = hit_ratio(theirs, keys_ours)
    print('\nLRU test (%d keys, ~%d held): pyredis hit ratio %.2f%% (%d keys), '
          'redis-server %.2f%% (%d keys)' % (KEYSPACE, CAPACITY, ratio_ours, keys_ours,
                                             ratio_theirs, keys_theirs))
    assert abs(keys_ours - keys_theirs) < 0.25 * keys_theirs
    # Not worse than Redis's approximation by more than a few points. (It
    # may be better: the LRU clock has a one-second resolution, and
    # redis-server, serving several times more requests per second, has
    # many more keys tied at the same idle time.)
    assert ratio_ours > ratio_theirs - 5.0
