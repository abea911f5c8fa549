"""The quality of the approximated LRU (allkeys-lru, maxmemory-samples 5),
in the spirit of ``redis-cli --lru-test``: pyredis's GET hit ratio is
within a few points of redis-server's on the same skewed stream.

The comparison is benchmarks/lru_quality.py's (read its docstring): both
servers hold the same number of keys (redis-server at a fixed maxmemory,
pyredis's maxmemory steered until its DBSIZE matches), and one client
drives both in lockstep at a paced rate, so that their one-second LRU
clocks see the same commands in the same seconds. Comparing at a same
maxmemory instead would compare how many keys each fits in it (a key
costs pyredis more bytes), not how well each picks what to evict.

Tolerance: over four seeded runs at matched key counts the difference
(pyredis - redis-server) was -0.16 to +0.03 points (the runs are in the
commit message); an earlier run whose key counts differed by 2.7% gave
+1.2 (one percent more keys is about half a point of hit ratio here).
2 points is far above that noise and still catches an eviction that picks
its victims badly: random eviction scores about 3.5 points below both
servers on this stream.
"""

import os
import sys

import pytest

from helpers import REDIS_SERVER

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'benchmarks'))
import lru_quality  # noqa: E402

TOLERANCE = 2.0         # points of hit ratio
KEYS_TOLERANCE = 0.03   # relative difference of the mean key counts


@pytest.mark.skipif(not REDIS_SERVER, reason='needs redis-server')
def test_lru_hit_ratio_close_to_redis():
    r = lru_quality.measure(keyspace=100000, redis_maxmemory=2 * 1024 * 1024, rate=20000,
                            seed=1, warmup=10.0, seconds=12.0)
    summary = lru_quality.report(r)
    print('\nLRU test: ' + summary)
    assert abs(r['pyredis_keys'] - r['redis_keys']) <= KEYS_TOLERANCE * r['redis_keys'], \
        'key counts differ: ' + summary
    assert abs(r['pyredis'] - r['redis']) <= TOLERANCE, \
        'hit ratios differ by more than %.1f points: %s' % (TOLERANCE, summary)
