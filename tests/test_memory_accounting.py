"""used_memory against the process's real growth: for a large dataset of
each type (200k elements), the growth of INFO used_memory stays within 25%
of the growth of the RSS (/proc/<pid>/statm), the accounting being what the
allocators hold (see pyredis/memory.py)."""

import os

import pytest

N = 200000
BATCH = 2000


def rss(pid):
    with open('/proc/%d/statm' % pid) as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def load_strings(r):
    p = r.pipeline(transaction=False)
    for i in range(N):
        p.set('key:%d' % i, 'value:%d:%s' % (i, 'x' * 40))
        if len(p) >= BATCH:
            p.execute()
    p.execute()


def _chunks(cmd):
    def load(r):
        p = r.pipeline(transaction=False)
        for start in range(0, N, BATCH):
            cmd(p, range(start, start + BATCH))
            if len(p) >= 10:
                p.execute()
        p.execute()
    return load


# Elements of ~60 bytes: the growth must dwarf the free memory the process
# already had (import-time garbage), which the heap reuses without the RSS
# growing.
PAD = 'x' * 48
load_list = _chunks(lambda p, rng: p.rpush('list', *('element:%d:%s' % (i, PAD) for i in rng)))
load_hash = _chunks(lambda p, rng: p.hset('hash', mapping={'field:%d:%s' % (i, PAD): 'v%d' % i
                                                           for i in rng}))
load_set = _chunks(lambda p, rng: p.sadd('set', *('member:%d:%s' % (i, PAD) for i in rng)))
load_zset = _chunks(lambda p, rng: p.zadd('zset', {'member:%d:%s' % (i, PAD): i * 1.5
                                                   for i in rng}))


@pytest.mark.parametrize('load', [load_strings, load_list, load_hash, load_set, load_zset],
                         ids=['strings', 'list', 'hash', 'set', 'zset'])
def test_used_memory_tracks_rss(server_factory, load):
    srv = server_factory('pyredis')
    r = srv.client()
    pid = srv.proc.pid
    r.set('warmup', 'x')

    def measure():
        # Freed heap memory the allocator kept resident (start-up garbage,
        # the tables a growing dict or set left behind) is in the RSS but
        # not in used_memory: give it back first, as MEMORY PURGE does for
        # Redis's jemalloc.
        assert r.memory_purge()
        return r.info('memory')['used_memory'], rss(pid)

    used0, rss0 = measure()
    load(r)
    used1, rss1 = measure()
    grew_used, grew_rss = used1 - used0, rss1 - rss0
    print('%s: used_memory +%d, RSS +%d (%.1f%%)' % (load.__name__, grew_used, grew_rss,
                                                     (grew_used - grew_rss) * 100.0 / grew_rss))
    assert grew_rss > 5 * 1024 * 1024
    assert abs(grew_used - grew_rss) <= 0.25 * grew_rss, (grew_used, grew_rss)


def test_empty_server_reports_little(server_factory):
    srv = server_factory('pyredis')
    r = srv.client()
    assert r.info('memory')['used_memory'] < 1024 * 1024
    r.set('a', 'x' * 100000)
    assert r.info('memory')['used_memory'] >= 100000
