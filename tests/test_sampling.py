"""Random members of big sets and hashes (pyredis/_sampling.c): SPOP,
SRANDMEMBER and HRANDFIELD on values past their compact encodings' limits.

The replies are random, so nothing is compared byte for byte with Redis here
(tests/test_sets.py and test_hashes.py do that for the deterministic cases):
these tests check what must hold whatever the dice say - picks are members,
distinct where they must be, every member comes out, sizes are right, the
table compaction keeps members (and a hash's order), and what a replica and
the AOF receive is unchanged. No timing assertions (benchmarks/sampling.py
measures the cost per call).
"""

import collections
import sys
import time

import pytest

from helpers import RawConn, incr_aof

try:
    from pyredis import _sampling
except ImportError:
    _sampling = None

needs_c = pytest.mark.skipif(_sampling is None, reason='pyredis._sampling is not built')


def _fill_set(r, key, n, prefix='m'):
    members = [b'%s%d' % (prefix.encode(), i) for i in range(n)]
    for i in range(0, n, 5000):
        r.sadd(key, *members[i:i + 5000])
    return set(members)


def _fill_hash(r, key, n):
    fields = {b'f%d' % i: b'v%d' % i for i in range(n)}
    items = list(fields.items())
    for i in range(0, n, 5000):
        r.hset(key, mapping=dict(items[i:i + 5000]))
    return fields


def _pipelined(r, n, *args):
    out = []
    for i in range(0, n, 2000):
        p = r.pipeline(transaction=False)
        for _ in range(min(2000, n - i)):
            p.execute_command(*args)
        out.extend(p.execute())
    return out


# -- the C module itself ------------------------------------------------------------

@needs_c
def test_dict_layout_check_passes_on_this_python():
    # The entries array is read directly only on CPython 3.11, after the
    # layout check at import; elsewhere dicts are walked (still uniform).
    if sys.version_info[:2] == (3, 11):
        assert _sampling.DICTS is True


@needs_c
@pytest.mark.parametrize('kind', ['set', 'dict'])
def test_picks_are_uniform_enough(kind):
    keys = [b'k%d' % i for i in range(2000)]
    c = set(keys) if kind == 'set' else dict.fromkeys(keys, b'v')
    counts = collections.Counter(_sampling.choice(c) for _ in range(200000))
    assert set(counts) == set(keys)
    # 100 expected per key, standard deviation 10: 7 deviations either way.
    assert 30 < min(counts.values()) and max(counts.values()) < 170
    counts = collections.Counter(_sampling.choices(c, 200000))
    assert set(counts) == set(keys)
    assert 30 < min(counts.values()) and max(counts.values()) < 170


@needs_c
def test_sparse_set_is_compacted_in_place():
    marker = b'the-marker-object' * 4
    s = {marker} | {b'x%d' % i for i in range(100000)}
    for i in range(99990):
        s.remove(b'x%d' % i)
    used, slots = _sampling.table(s)
    assert used == 11 and slots > used * 16
    before = set(s)
    refs = sys.getrefcount(marker)
    picks = {_sampling.choice(s) for _ in range(2000)}
    assert picks == before          # all 11 members seen, nothing else
    del picks
    used, slots = _sampling.table(s)
    assert used == 11 and slots <= 64
    assert s == before and marker in s and sys.getrefcount(marker) == refs
    s.add(b'new')
    s.discard(marker)
    assert len(s) == 11 and b'new' in s


@needs_c
def test_sparse_dict_is_compacted_keeping_its_order():
    d = {b'f%d' % i: b'v%d' % i for i in range(100000)}
    for i in range(100000):
        if i % 1000:
            del d[b'f%d' % i]
    assert _sampling.table(d) == (100, 100000)
    items = list(d.items())
    picks = set(_sampling.choices(d, 5000))
    assert picks == set(d)
    assert _sampling.table(d) == (100, 100)
    assert list(d.items()) == items
    d[b'late'] = b'x'
    assert list(d)[-1] == b'late' and len(d) == 101


@needs_c
def test_sample_distinct_and_sizes():
    s = {b'm%d' % i for i in range(3000)}
    for k in (0, 1, 10, 999, 1000, 1001, 2999, 3000, 5000):
        got = _sampling.sample(s, k)
        assert len(got) == min(k, 3000) and len(set(got)) == len(got) and set(got) <= s
    d = dict.fromkeys(s, b'')
    got = _sampling.sample(d, 500)
    assert len(set(got)) == 500 and set(got) <= s
    with pytest.raises(IndexError):
        _sampling.choice(set())
    with pytest.raises(TypeError):
        _sampling.choice([1, 2])
    with pytest.raises(ValueError):
        _sampling.choices(s, -1)


def test_python_fallback_without_the_extension(monkeypatch):
    from pyredis.commands import hashes
    monkeypatch.setattr(hashes, '_choice', None)
    s = {b'a', b'b', b'c', b'd'}
    assert hashes.random_member(s, True) in s
    assert set(hashes.random_sample(s, 4, True)) == s
    assert set(hashes.random_choices(s, 50, True)) <= s


# -- over a server -------------------------------------------------------------------

def test_spop_drains_a_50k_set_each_member_once(pyredis):
    r = pyredis.client()
    members = _fill_set(r, 's', 50000)
    assert r.object('encoding', 's') == b'hashtable'
    popped = _pipelined(r, 50000, 'SPOP', 's')
    assert len(popped) == 50000 and set(popped) == members
    assert r.exists('s') == 0 and r.spop('s') is None


def test_spop_count_sizes(pyredis):
    r = pyredis.client()
    members = _fill_set(r, 's', 50000)
    seen = set()
    left = 50000
    # A few members, then more than a third of what is left (listed and
    # shuffled), then everything (DEL).
    for count in (1, 100, 4000, 30000, 10000, 5899, 10):
        got = r.spop('s', count)
        assert len(got) == min(count, left) and len(set(got)) == len(got)
        assert set(got) <= members and not (set(got) & seen)
        seen.update(got)
        left -= len(got)
        assert r.scard('s') == left
    assert left == 0 and seen == members and r.exists('s') == 0


def test_srandmember_counts(pyredis):
    r = pyredis.client()
    members = _fill_set(r, 's', 50000)
    for count in (1, 10, 5000, 16666, 16667, 30000, 49999):
        got = r.srandmember('s', count)
        assert len(got) == count and len(set(got)) == count and set(got) <= members
    got = r.srandmember('s', 60000)
    assert len(got) == 50000 and set(got) == members
    got = r.srandmember('s', -70000)
    assert len(got) == 70000 and set(got) <= members
    assert len(set(got)) < 70000        # repetitions (at least 20,000 of them)
    assert r.scard('s') == 50000
    # Past set-max-intset-entries only just: -count picks reach every member.
    small = _fill_set(r, 't', 1000)
    assert set(r.srandmember('t', -30000)) == small
    assert {r.srandmember('s') for _ in range(200)} <= members


def test_sampling_after_most_members_were_removed(pyredis):
    r = pyredis.client()
    members = _fill_set(r, 's', 50000)
    gone = sorted(members)[:49400]
    for i in range(0, len(gone), 5000):
        r.srem('s', *gone[i:i + 5000])
    left = members - set(gone)
    assert set(r.srandmember('s', -20000)) == left
    assert set(r.smembers('s')) == left and r.scard('s') == 600
    fields = _fill_hash(r, 'h', 50000)
    dropped = list(fields)[:49700]
    for i in range(0, len(dropped), 5000):
        r.hdel('h', *dropped[i:i + 5000])
    before = r.execute_command('HGETALL', 'h')
    remaining = set(fields) - set(dropped)
    assert set(r.hrandfield('h', -20000)) == remaining
    # The hash's table was compacted; its order (HGETALL's) is unchanged.
    assert r.execute_command('HGETALL', 'h') == before
    assert r.execute_command('OBJECT', 'ENCODING', 'h') == b'hashtable'


def test_hrandfield_counts(pyredis):
    r = pyredis.client()
    fields = _fill_hash(r, 'h', 50000)
    assert r.object('encoding', 'h') == b'hashtable'
    for count in (1, 10, 16666, 16667, 40000):
        got = r.hrandfield('h', count)
        assert len(got) == count and len(set(got)) == count and set(got) <= set(fields)
    got = r.hrandfield('h', 100, withvalues=True)
    pairs = dict(zip(got[::2], got[1::2]))
    assert len(pairs) == 100 and all(fields[f] == v for f, v in pairs.items())
    got = r.hrandfield('h', -60000, withvalues=True)
    assert len(got) == 120000
    assert all(fields[f] == v for f, v in zip(got[::2], got[1::2]))
    assert len(set(got[::2])) < 60000
    assert all(r.hrandfield('h') in fields for _ in range(100))
    small = _fill_hash(r, 'g', 500)
    assert set(r.hrandfield('g', -30000)) == set(small)
    # RESP3 pairs, from the same path.
    c = RawConn(pyredis.port)
    assert c.call('HELLO', '3')
    reply = c.call('HRANDFIELD', 'h', '-3', 'WITHVALUES')
    assert reply.startswith(b'*3\r\n*2\r\n$')
    c.close()


def test_big_spop_propagates_srem_to_aof(server_factory):
    srv = server_factory('pyredis', '--appendonly', 'yes', '--appendfsync', 'everysec')
    r = srv.client()
    _fill_set(r, 's', 20000)
    popped = r.spop('s', 50) + [r.spop('s')]
    r.set('end', 1)
    aof = incr_aof(srv)
    assert b'SPOP' not in aof
    for m in popped:
        assert b'*3\r\n$4\r\nSREM\r\n$1\r\ns\r\n$%d\r\n%s\r\n' % (len(m), m) in aof


def test_big_spop_replica_holds_the_same_set(server_factory):
    master = server_factory('pyredis')
    replica = server_factory('pyredis', '--replicaof', '127.0.0.1', str(master.port))
    m, rr = master.client(), replica.client()
    _fill_set(m, 's', 30000)
    _fill_hash(m, 'h', 1000)
    m.spop('s', 7)
    m.spop('s', 12000)
    for _ in range(300):
        m.spop('s')
    m.srandmember('s', -100)
    m.hrandfield('h', -100)
    m.set('end', 1)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if rr.get('end') == b'1':
                break
        except Exception:
            pass
        time.sleep(0.05)
    assert rr.get('end') == b'1'
    assert rr.scard('s') == m.scard('s') == 30000 - 7 - 12000 - 300
    assert rr.smembers('s') == m.smembers('s')
    assert rr.hgetall('h') == m.hgetall('h')
