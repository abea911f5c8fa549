"""A Redis database: the keyspace and the expires table (db.c).

``data`` maps a key (bytes) to its value. The value's Python type is its
Redis type, so no wrapper object is needed on the hot path:

    bytes / bytearray  string (bytearray once modified in place: APPEND,
                       SETRANGE, SETBIT, which Redis reports as "raw")
    QuickList          list (listpack nodes: pyredis/_listpack.c)
    PackedHash / dict  hash (a listpack while small, then a dict)
    set                set
    ZSet               sorted set (pyredis.zset)

``expires`` maps a key to its absolute expiry time in Unix milliseconds and
only holds keys that exist in ``data``. Every read and write goes through
``lookup``/``lookup_write``, which is where lazy expiry happens: an expired
key is deleted (through Server.delete_expired, the single path that also
counts it, fires the keyspace event and propagates a DEL) and reported as
missing. On a replica the key is reported missing but kept: only the master's
DEL removes it.

``lru`` maps a key to the server's LRU clock (seconds, 24 bits) at its last
access, for OBJECT IDLETIME and the approximated-LRU eviction (under an LFU
policy: the LFU field, see evict.LFUField).

Both are one table when the C extension is built: ``data`` is a
_keyspace.Keyspace (a hash table that rehashes incrementally, as Redis's
dict, so no insert stalls the server while a big table is copied, and whose
entries hold the access time beside the value, as robj->lru) and ``lru`` a
_keyspace.LruView of its access times. ``expires`` is a Keyspace too (its
access times unused). Without the extension all three are dicts.

Random keys (RANDOMKEY, eviction's samples) come from the Keyspace's random
buckets (dictGetRandomKey), or, over a dict, from a KeySample: a Python dict
has no random-bucket access.
"""

import itertools
import random

from .notify import NotifyFlags
from .resp import WRONGTYPE_ERR
from .stream import Stream
from . import clock

try:
    from ._keyspace import Keyspace, LruView, allow_resize
except ImportError:         # without the C extension: a dict, and a dict of access times
    Keyspace = dict
    LruView = None

# The access-time table of the LRU policies (and of no policy).
PLAIN_LRU = LruView if LruView is not None else dict

NEW = NotifyFlags.NEW
KEY_MISS = NotifyFlags.KEY_MISS


class Database:
    __slots__ = ('id', 'server', 'data', 'expires', 'lru', 'avg_ttl',
                 'expire_scan', 'expire_scan_pos', 'watched', 'blocking_keys',
                 'scan_index', 'lruclock', 'hits', 'misses', 'key_sample')

    def __init__(self, server, dbid):
        self.id = dbid
        self.server = server
        self.data = Keyspace()
        self.expires = Keyspace()
        self.lru = new_lru(PLAIN_LRU, self.data)
        # The server's LRU clock, copied here by the cron so that a lookup
        # reads one attribute; keyspace hits/misses are summed by INFO.
        self.lruclock = int(clock.time()) & ((1 << 24) - 1)
        self.hits = 0
        self.misses = 0
        self.avg_ttl = 0
        # Active expiry walks a snapshot of the expires keys, a batch per
        # cron run, the way Redis walks its dict with a scan cursor.
        self.expire_scan = None
        self.expire_scan_pos = 0
        # key -> clients WATCHing it / clients blocked on it.
        self.watched = {}
        self.blocking_keys = {}
        # Buckets for SCAN (pyredis.scan), built by the first SCAN.
        self.scan_index = None
        self.key_sample = KeySample()     # RANDOMKEY's

    # -- reads and writes -------------------------------------------------

    def lookup(self, key):
        """lookupKeyRead: the value, or None if missing or expired; counts
        keyspace hits and misses."""
        expires = self.expires
        if expires and key in expires and expires[key] <= clock.time() * 1000:
            if self.server.expire_if_needed(self, key):
                self.misses += 1
                if self.server.notify_flags & KEY_MISS:
                    self.server.notify(KEY_MISS, b'keymiss', key, self.id)
                return None
        v = self.data.get(key)
        if v is not None:
            self.lru[key] = self.lruclock
            self.hits += 1
        else:
            self.misses += 1
            if self.server.notify_flags & KEY_MISS:
                self.server.notify(KEY_MISS, b'keymiss', key, self.id)
        return v

    def lookup_notouch(self, key, notify=True):
        """lookupKeyReadWithFlags(LOOKUP_NOTOUCH): like lookup (expiry, hit
        and miss statistics, keymiss events unless not ``notify``:
        LOOKUP_NONOTIFY) but the key's access time is left alone (TTL, TYPE,
        EXISTS, OBJECT)."""
        expires = self.expires
        if expires and key in expires and expires[key] <= clock.time() * 1000:
            if self.server.expire_if_needed(self, key):
                self.misses += 1
                if notify and self.server.notify_flags & KEY_MISS:
                    self.server.notify(KEY_MISS, b'keymiss', key, self.id)
                return None
        v = self.data.get(key)
        if v is not None:
            self.hits += 1
        else:
            self.misses += 1
            if notify and self.server.notify_flags & KEY_MISS:
                self.server.notify(KEY_MISS, b'keymiss', key, self.id)
        return v

    def lookup_write(self, key):
        """lookupKeyWrite: like lookup, without the hit/miss statistics."""
        expires = self.expires
        if expires and key in expires and expires[key] <= clock.time() * 1000:
            if self.server.expire_if_needed(self, key):
                return None
        v = self.data.get(key)
        if v is not None:
            self.lru[key] = self.lruclock
        return v

    def lookup_typed(self, key, kind, write=False, create=None):
        """lookupKeyRead/lookupKeyWrite and checkType, the typed lookup of
        every data type family: (value or None, None), or (None,
        WRONGTYPE_ERR) when the key holds another type. ``kind`` is one of
        values.STRING, LIST, HASH, SET, ZSET. With ``create`` (a write), a
        missing key gets ``create()``, added empty: the caller fills it."""
        v = self.lookup_write(key) if write else self.lookup(key)
        if v is None:
            if create is not None:
                v = create()
                self.add(key, v)
            return v, None
        if v.__class__ in kind:
            return v, None
        return None, WRONGTYPE_ERR

    def exists(self, key):
        """Existence check that honours expiry but does not touch the LRU."""
        when = self.expires.get(key)
        if when is not None and when <= clock.time() * 1000:
            if self.server.expire_if_needed(self, key):
                return False
        return key in self.data

    def set(self, key, value, keepttl=False):
        """setKey: store a value, dropping any TTL unless keepttl."""
        if self.scan_index is not None and key not in self.data:
            self.scan_index.add(key)
        if self.server.notify_flags & NEW and key not in self.data:
            self.server.notify(NEW, b'new', key, self.id)
        if self.blocking_keys and key in self.blocking_keys and \
                self.data.get(key).__class__ is Stream:
            # An overwritten stream is a deleted one for XREADGROUP.
            self.server.signal_key_ready(self, key)
        self.data[key] = value
        self.lru[key] = self.lruclock
        if not keepttl and self.expires:
            self.expires.pop(key, None)
        if self.watched:
            self.server.signal_modified(self, key)

    def add(self, key, value):
        """dbAdd: store a value under a key known not to exist."""
        if self.scan_index is not None:
            self.scan_index.add(key)
        if self.server.notify_flags & NEW:
            self.server.notify(NEW, b'new', key, self.id)
        self.data[key] = value
        self.lru[key] = self.lruclock
        if self.watched:
            self.server.signal_modified(self, key)
        if self.blocking_keys and key in self.blocking_keys:
            self.server.signal_key_ready(self, key)

    def delete(self, key, lazy=False):
        """dbDelete: remove a key and its TTL; True if it existed. ``lazy``
        (UNLINK...): a big value is freed in slices (pyredis.lazyfree)."""
        v = self.data.pop(key, None)
        if v is None:
            return False
        if lazy:
            self.server.lazyfree.free(v)
        if v.__class__ is Stream and self.blocking_keys and key in self.blocking_keys:
            # Clients blocked in XREADGROUP on it are told it is gone.
            self.server.signal_key_ready(self, key)
        self.lru.pop(key, None)
        if self.expires:
            self.expires.pop(key, None)
        if self.scan_index is not None:
            self.scan_index.remove(key)
        if self.watched:
            self.server.signal_modified(self, key)
        return True

    def set_expire(self, key, when_ms):
        self.expires[key] = when_ms

    def persist(self, key):
        return self.expires.pop(key, None) is not None

    def get_expire(self, key):
        """Absolute expiry in ms, or -1 when the key has none."""
        return self.expires.get(key, -1)

    def is_expired(self, key):
        when = self.expires.get(key)
        return when is not None and when <= clock.time() * 1000

    def random_key(self):
        """A random key that is not expired (expired samples are removed,
        as in dbRandomKey; on a replica they may be returned after many
        tries so the loop always ends)."""
        data = self.data
        tries = 0
        while data:
            key = self.key_sample.one(data)
            if key in self.expires:
                tries += 1
                if self.server.masterhost and tries > 100:
                    return key
                if self.is_expired(key) and self.server.expire_if_needed(self, key):
                    continue
            return key
        return None

    def signal_deleted_streams(self, replaced_with=None):
        """scanDatabaseForDeletedStreams: the streams clients wait on that
        this database is about to lose (flushed, or swapped with
        ``replaced_with``) are signalled, so that XREADGROUP is told."""
        for key in list(self.blocking_keys):
            if self.data.get(key).__class__ is Stream and (
                    replaced_with is None or
                    replaced_with.data.get(key).__class__ is not Stream):
                self.server.signal_key_ready(self, key)

    def clear(self, lazy=False):
        """Drop every key; ``lazy``: the old tables are freed in slices."""
        removed = len(self.data)
        if lazy:
            self.server.lazyfree.free_tables((self.data, self.expires, self.lru), removed)
        if self.watched:
            self.server.touch_all_watched_keys_in_db(self)
        if self.blocking_keys:
            self.signal_deleted_streams()
        # Same kind of keyspace: in cluster mode, cluster.slots.SlotKeyspace;
        # same kind of access times: under an LFU policy, evict.LFUField.
        self.data = type(self.data)()
        self.expires = Keyspace()
        self.lru = new_lru(type(self.lru), self.data)
        self.avg_ttl = 0
        self.scan_index = None
        self.expire_scan = None
        self.expire_scan_pos = 0
        self.key_sample.forget()
        return removed


# databasesCron's share per run (CRON_DBS_PER_CALL) and its rehashing
# budget per database (incrementallyRehash: 1 ms).
CRON_DBS_PER_CALL = 16
REHASH_US = 1000


def databases_cron(server):
    """databasesCron's table upkeep: shrink tables under 10% full
    (tryResizeHashTables) and, with activerehashing, give one database
    that is rehashing a millisecond of it, so that a table that grew
    finishes moving even if no command touches it. Neither while a child
    process saves: every page the parent rewrote would be copied (the
    tables do not grow then either unless badly overfull)."""
    if LruView is None:
        return
    child = bool(getattr(server, 'child_handlers', None))
    allow_resize(not child)
    if child:
        return
    dbs = server.dbs
    n = min(CRON_DBS_PER_CALL, len(dbs))
    start = server.resize_db
    for j in range(n):
        db = dbs[(start + j) % len(dbs)]
        db.data.resize_if_sparse()
        db.expires.resize_if_sparse()
    server.resize_db = (start + n) % len(dbs)
    if server.config.activerehashing:
        for _ in range(n):
            db = dbs[server.rehash_db]
            # (incrementallyRehash: the keyspace first, else the expires.)
            if db.data.rehash_for(REHASH_US) or db.expires.rehash_for(REHASH_US):
                break
            server.rehash_db = (server.rehash_db + 1) % len(dbs)


def holds_lfu(lru):
    """Whether a db.lru holds LFU fields (an evict.LFUField: an LFU policy
    is in force) rather than LRU clocks."""
    return getattr(type(lru), 'holds_lfu', False)


def new_lru(kind, keyspace, old=None):
    """A ``kind`` of access-time table (PLAIN_LRU or evict.LFUField) for
    ``keyspace``: the view of its entries' access times, or, without the C
    extension, a dict of them (a copy of ``old`` if given)."""
    if LruView is not None:
        return kind(keyspace)
    return kind(old) if old is not None else kind()


class KeySample:
    """Random keys of a dict in O(1) amortised.

    Skipping a random distance into a dict (itertools.islice) is O(n) per
    key: 7.5 ms per RANDOMKEY at 1M keys. Instead a list of the dict's keys
    is taken (O(n), in C) and indexed at random; a listed key deleted since
    is skipped by the caller's check. The list is taken again once as many
    keys were drawn as half its length, or when the dict grew or shrank by
    a quarter, so that keys added since get their chance and the cost of
    taking it stays O(1) per key drawn."""
    __slots__ = ('keys', 'draws', 'source_len')

    def __init__(self):
        self.forget()

    def sample(self, d, count):
        """``count`` random keys of ``d`` (with repeats; keys deleted from
        ``d`` since the list was taken may be among them)."""
        if d.__class__ is not dict and LruView is not None and isinstance(d, Keyspace):
            return d.sample(count)      # random buckets: no list needed
        n = len(d)
        keys = self.keys
        sl = self.source_len
        if self.draws * 2 >= len(keys) or n > sl + (sl >> 2) or n < sl - (sl >> 2):
            keys = self.keys = list(d)
            self.draws = 0
            self.source_len = n
        if not keys:
            return []
        self.draws += count
        size = len(keys)
        if count >= size:
            return keys[:]
        rnd = random.random
        return [keys[int(rnd() * size)] for _ in range(count)]

    def one(self, d):
        """A random key of the non-empty dict ``d``."""
        if d.__class__ is not dict and LruView is not None and isinstance(d, Keyspace):
            return d.random_key()
        for _ in range(16):
            keys = self.sample(d, 1)
            if keys and keys[0] in d:
                return keys[0]
        # Mostly deleted since the list was taken: skip into the dict.
        return next(itertools.islice(iter(d), random.randrange(len(d)), None))

    def forget(self):
        self.keys = []
        self.draws = 0
        self.source_len = -1
