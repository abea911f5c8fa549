"""The keyspace table (pyredis/_keyspace.c): a mapping that behaves as a dict
does, rehashes incrementally, keeps each key's access time in its entry, and
gives random keys and SCAN cursors as Redis's dict does.

A stateful model test runs random operations against a Keyspace and a pair
of dicts (the values, the access times) side by side; the other tests look
at what a dict cannot show: a growing table moves its buckets a few at a
time, SCAN's guarantee across resizes, iterators that refuse a changing
table, and the server-level uses (SlotKeyspace, LFU, lazy freeing)."""

import gc
import random

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

keyspace = pytest.importorskip('pyredis._keyspace')
Keyspace, LruView = keyspace.Keyspace, keyspace.LruView

KEYS = st.binary(min_size=0, max_size=3)


class KeyspaceModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.ks = Keyspace()
        self.lru = LruView(self.ks)
        self.data = {}
        self.times = {}

    @rule(key=KEYS, value=st.integers())
    def set(self, key, value):
        self.ks[key] = value
        self.data[key] = value

    @rule(key=KEYS, t=st.integers(0, 2 ** 24))
    def touch(self, key, t):
        self.lru[key] = t
        if key in self.data:            # no entry, nowhere to keep it
            self.times[key] = t

    @rule(key=KEYS)
    def delete(self, key):
        assert self.ks.pop(key, None) == self.data.pop(key, None)
        self.times.pop(key, None)

    @rule(key=KEYS)
    def delitem(self, key):
        if key in self.data:
            del self.ks[key]
            del self.data[key]
            self.times.pop(key, None)
        else:
            with pytest.raises(KeyError):
                del self.ks[key]

    @rule(key=KEYS)
    def forget_time(self, key):
        assert self.lru.pop(key, None) == self.times.pop(key, None)

    @rule(key=KEYS)
    def read(self, key):
        assert self.ks.get(key) == self.data.get(key)
        assert (key in self.ks) == (key in self.data)
        assert self.lru.get(key, -1) == self.times.get(key, -1)
        assert (key in self.lru) == (key in self.times)

    @rule()
    def rehash_in_cron(self):
        self.ks.rehash_for(10)

    @rule()
    def shrink_in_cron(self):
        self.ks.resize_if_sparse()

    @rule()
    def popitem(self):
        if self.data:
            key, value = self.ks.popitem()
            assert self.data.pop(key) == value
            self.times.pop(key, None)

    @invariant()
    def same(self):
        assert len(self.ks) == len(self.data)
        assert dict(self.ks.items()) == self.data
        assert len(self.lru) == len(self.times)


TestKeyspaceModel = KeyspaceModel.TestCase
TestKeyspaceModel.settings = settings(max_examples=60, stateful_step_count=80, deadline=None)


def test_mapping_basics():
    ks = Keyspace()
    assert len(ks) == 0 and not ks and ks.random_key() is None
    ks[b'a'] = 1
    assert ks[b'a'] == 1 and ks.setdefault(b'a', 2) == 1 and ks.setdefault(b'b', 2) == 2
    with pytest.raises(KeyError):
        ks[b'missing']
    with pytest.raises(KeyError):
        ks.pop(b'missing')
    with pytest.raises(TypeError):
        ks[[1]] = 1                    # unhashable, as for a dict
    ks.update({b'c': 3})
    ks.update([(b'd', 4)])
    assert sorted(ks) == [b'a', b'b', b'c', b'd']
    assert sorted(ks.values()) == [1, 2, 3, 4]
    assert dict(Keyspace(ks).items()) == dict(ks.items())
    assert repr(ks) == '<pyredis._keyspace.Keyspace of 4 keys>'
    ks.clear()
    assert len(ks) == 0 and list(ks) == []


def test_str_and_bytes_keys_are_distinct_as_in_a_dict():
    ks = Keyspace()
    ks['k'] = 1
    ks[b'k'] = 2
    assert ks['k'] == 1 and ks[b'k'] == 2 and len(ks) == 2


def test_growing_moves_buckets_a_few_at_a_time():
    """Past one key per bucket the table doubles by rehashing incrementally:
    right after the insert that crossed the line both tables hold keys, and
    each further operation (or the cron's rehash_for) moves more."""
    ks = Keyspace()
    for i in range(1024):
        ks[b'k%d' % i] = i
    assert ks.tables() == (1024, 1024, 0, 0)
    ks[b'one more'] = 0                     # the new key goes to the new table
    assert ks.tables() == (1024, 1024, 2048, 1)
    assert ks[b'k0'] == 0                   # each operation moves a bucket
    size, used, target, moved = ks.tables()
    assert (size, target) == (1024, 2048)
    assert 0 < used < 1024 and used + moved == 1025
    for i in range(1024):                   # lookups find keys in either table
        assert ks[b'k%d' % i] == i
    while ks.rehash_for(1000):
        pass
    assert ks.tables() == (2048, 1025, 0, 0)


def test_popitem_empties_a_table_in_the_middle_of_a_rehash():
    """What lazy freeing does to a FLUSHALL ASYNC'd keyspace."""
    ks = Keyspace()
    for i in range(1025):
        ks[i] = i
    assert ks.tables()[2]                   # rehashing
    popped = {}
    while ks:
        key, value = ks.popitem()
        popped[key] = value
    assert popped == {i: i for i in range(1025)}
    with pytest.raises(KeyError):
        ks.popitem()


def test_the_cron_shrinks_a_sparse_table():
    ks = Keyspace()
    for i in range(4096):
        ks[i] = i
    for i in range(4000):
        del ks[i]
    assert ks.tables()[0] == 4096           # deleting never resizes by itself
    assert ks.resize_if_sparse()
    while ks.rehash_for(1000):
        pass
    assert ks.tables() == (128, 96, 0, 0)
    assert sorted(ks) == list(range(4000, 4096))
    assert not ks.resize_if_sparse()


def test_resizing_waits_while_a_child_saves():
    """allow_resize(False) (a fork's child is saving): a table grows only
    past five keys per bucket (dict_force_resize_ratio) and never shrinks."""
    ks = Keyspace()
    try:
        keyspace.allow_resize(False)
        for i in range(4 * 6):
            ks[i] = i
        assert ks.tables() == (4, 24, 0, 0)     # 6 per bucket: not yet...
        ks[b'x'] = 1
        assert ks.tables() == (4, 24, 32, 1)    # ...past 5: it grows anyway
        assert not Keyspace(ks).resize_if_sparse()
    finally:
        keyspace.allow_resize(True)


def test_scan_returns_every_key_present_throughout_across_resizes():
    """dictScan's guarantee: a key present from the first call to the last is
    returned (perhaps twice), whatever resizing happened between calls."""
    rng = random.Random(7)
    for trial in range(20):
        ks = Keyspace()
        stable = set()
        for i in range(rng.randrange(1, 3000)):
            ks[b'stable%d' % i] = i
            stable.add(b'stable%d' % i)
        seen = set()
        cursor = 0
        extra = 0
        while True:
            cursor, keys = ks.scan(cursor, 10)
            seen.update(keys)
            # Between calls: grow (start and do rehashes) or shrink.
            for _ in range(rng.randrange(0, 40) if extra < 4000 else 0):
                ks[b'extra%d' % extra] = 0
                extra += 1
            if rng.random() < 0.1:
                for k in [k for k in list(ks) if k.startswith(b'extra')][:rng.randrange(500)]:
                    del ks[k]
                ks.resize_if_sparse()
            if rng.random() < 0.3:
                ks.rehash_for(50)
            if cursor == 0:
                break
        assert stable <= seen, trial


def test_random_key_and_sample():
    ks = Keyspace()
    keys = [b'k%d' % i for i in range(50)]
    for k in keys:
        ks[k] = 1
    drawn = {ks.random_key() for _ in range(5000)}
    assert drawn == set(keys)               # every key can come out
    sample = ks.sample(20)
    assert len(sample) == 20 and set(sample) <= set(keys)
    assert Keyspace().sample(5) == []
    # While rehashing too.
    for i in range(50, 65):
        ks[b'k%d' % i] = 1
    assert ks.tables()[2]
    assert {ks.random_key() for _ in range(5000)} == {b'k%d' % i for i in range(65)}


def test_iterating_a_changing_keyspace_raises():
    ks = Keyspace()
    for i in range(100):
        ks[i] = i
    with pytest.raises(RuntimeError):
        for k in ks:
            ks[k + 1000] = 0
    with pytest.raises(RuntimeError):
        for k, v in ks.items():
            del ks[k]
    for k in ks:                            # replacing a value is allowed
        ks[k] = -1


def test_iterators_pause_rehashing():
    """Lookups during an iteration do not move buckets (the iterator would
    see a key twice or never); the rehash resumes when it ends."""
    ks = Keyspace()
    for i in range(65):
        ks[i] = i
    before = ks.tables()
    assert before[2]
    it = iter(ks)
    for i in range(65):
        assert ks[i] == i
        assert ks.rehash_for(1000)          # paused: still rehashing
    assert ks.tables() == before
    assert sorted(it) == list(range(65))
    while ks.rehash_for(1000):
        pass
    assert ks.tables()[2] == 0


def test_lru_view_keeps_access_times_in_the_entries():
    ks = Keyspace()
    lru = LruView(ks)
    lru[b'absent'] = 5                     # no entry: nothing kept
    assert b'absent' not in lru and len(lru) == 0
    ks[b'k'] = b'v'
    assert lru.get(b'k') is None           # none until set
    lru[b'k'] = 7
    ks[b'k'] = b'w'                         # overwriting keeps it (set it again)
    assert lru[b'k'] == 7
    del ks[b'k']
    ks[b'k'] = b'v'
    assert b'k' not in lru                  # a new entry starts without one
    assert lru.keyspace is ks
    with pytest.raises(TypeError):
        LruView({})


def test_copy_from_keeps_access_times():
    ks = Keyspace()
    lru = LruView(ks)
    for i in range(10):
        ks[i] = i
        lru[i] = 100 + i
    copy = Keyspace(ks)
    assert [LruView(copy)[i] for i in range(10)] == list(range(100, 110))

    class Sub(Keyspace):
        __slots__ = ('seen',)

        def __setitem__(self, key, value):
            self.seen += 1
            Keyspace.__setitem__(self, key, value)
    sub = Sub()
    sub.seen = 0
    sub.copy_from(ks)                       # raw: no __setitem__ per key
    assert sub.seen == 0 and LruView(sub)[3] == 103
    sub.update(ks)                          # through __setitem__
    assert sub.seen == 10


def test_not_tracked_by_the_garbage_collector():
    """A full collection would otherwise visit every entry of every
    keyspace (a million keys: tens of milliseconds)."""
    ks = Keyspace()
    ks[b'k'] = [1, 2]
    assert not gc.is_tracked(ks)


def test_slot_keyspace_on_the_keyspace():
    from pyredis.cluster.slots import SlotKeyspace, keyslot
    base = Keyspace()
    lru = LruView(base)
    base[b'{a}1'] = 1
    lru[b'{a}1'] = 42
    sk = SlotKeyspace(base)
    assert LruView(sk)[b'{a}1'] == 42
    assert sk.count_in_slot(keyslot(b'a')) == 1
    sk[b'{a}2'] = 2
    sk.pop(b'{a}1')
    assert sk.keys_in_slot(keyslot(b'a')) == [b'{a}2']
    sk.popitem()
    assert sk.count_in_slot(keyslot(b'a')) == 0


def test_server_keyspace_types_and_lfu_switch(pyredis):
    """Over the wire: the LFU policy's field lives in the same entries (OBJECT
    FREQ after switching policies), RANDOMKEY and SCAN see every key, and
    FLUSHALL ASYNC frees the table in slices."""
    r = pyredis.client()
    r.mset({'k%d' % i: i for i in range(200)})
    p = r.pipeline(transaction=False)
    for _ in range(20000):
        p.randomkey()
    assert set(p.execute()) == {b'k%d' % i for i in range(200)}
    seen = set()
    for k in r.scan_iter(count=7):
        seen.add(k)
    assert seen == {b'k%d' % i for i in range(200)}
    r.config_set('maxmemory-policy', 'allkeys-lfu')
    try:
        r.set('fresh', 1)
        assert r.object('freq', 'fresh') == 5
        for _ in range(20):
            r.get('fresh')
        assert r.object('freq', 'fresh') > 5
    finally:
        r.config_set('maxmemory-policy', 'noeviction')
    r.set('k', 1)
    assert r.object('idletime', 'k') == 0
    assert r.flushall(asynchronous=True)
    assert r.dbsize() == 0


def test_the_cron_finishes_a_rehash_and_shrinks_the_expires_table(pyredis):
    """databasesCron: a table left in the middle of a rehash by the last
    write is finished by the cron (activerehashing), and an expires table
    emptied by PERSIST is shrunk (tryResizeHashTables), for both tables."""
    import time
    r = pyredis.client()
    p = r.pipeline(transaction=False)
    for i in range(1025):
        p.set('k%d' % i, 1, ex=1000)
    p.execute()

    def tables():
        text = r.execute_command('DEBUG', 'HTSTATS', '0').decode()
        return text.count('rehashing target'), text
    deadline = time.time() + 10
    while tables()[0] and time.time() < deadline:
        time.sleep(0.05)
    assert tables()[0] == 0
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.persist('k%d' % i)
    p.execute()
    shrunk = '[Expires HT]\nHash table 0 stats (main hash table):\n table size: 32\n'
    deadline = time.time() + 10
    while shrunk not in tables()[1] and time.time() < deadline:
        time.sleep(0.05)
    assert shrunk in tables()[1]


def test_under_maxmemory_a_table_grows_only_within_the_room():
    """dictExpandAllowed: with no room for the bigger bucket array a table
    stays as it is up to 1.618 keys per bucket, then grows anyway; with the
    room, it grows at one key per bucket and the room shrinks by what it
    took."""
    ks = Keyspace()
    ks.set_expand_room(0)
    for i in range(7):
        ks[i] = i
    assert ks.tables() == (4, 7, 0, 0)      # 1.5 per bucket before the 7th: not yet
    ks[7] = 7
    assert ks.tables() == (4, 7, 8, 1)      # 1.75 before the 8th: grows anyway
    small = Keyspace()
    small.set_expand_room(8 * 8 + 8 * 16)   # a table of 8 pointers and one of 16
    for i in range(5):
        small[i] = i
    assert small.tables() == (4, 4, 8, 1)   # grew
    while small.rehash_for(1000):
        pass
    for i in range(5, 9):
        small[i] = i
    assert small.tables() == (8, 8, 16, 1)  # grew again: the room is used up
    while small.rehash_for(1000):
        pass
    for i in range(9, 17):
        small[i] = i
    assert small.tables() == (16, 17, 0, 0)  # no room left for 32 pointers
    small.set_expand_room(-1)               # no limit
    small[17] = 17
    assert small.tables()[2] == 32
