"""The maxmemory eviction policies and the OOM gate (evict.c).

Used memory is measured by pyredis/memory.py (see there for how, and for how
the OOM gate keeps its check O(1)). The approximations are Redis's own:

* LRU: ``db.lru`` holds each key's 24-bit LRU clock (seconds), updated by
  every lookup and write (db.py). The idle time is the distance from the
  server clock, with wrap-around.
* LFU: when an LFU policy is selected, the same field takes Redis's LFU
  meaning: 16 bits of "last decrement time" in minutes and an 8-bit
  logarithmic counter. ``db.lru`` becomes an ``LFUField`` (db.lru's plain
  kind, subclassed) whose
  ``__setitem__`` (the one db.py already calls on every access) applies
  Redis's LFUDecrAndReturn + LFULogIncr with ``lfu-log-factor`` and
  ``lfu-decay-time``; new keys start at LFU_INIT_VAL (5). Under the other
  policies db.lru stays the plain kind, so LRU pays nothing for LFU.
  Switching policy at runtime converts the table's type but not the values:
  as in Redis, the clocks take some time to adjust.
* ``maxmemory-samples`` keys are sampled per database per round into an
  eviction pool of the 16 best candidates (sorted by idle time, by
  255-frequency for LFU, by expiry time for volatile-ttl); the best one that
  still exists is evicted. allkeys-* sample the keyspace, volatile-* the
  expires dict; the random policies pick a random key, rotating over the
  databases.
* ``maxmemory-eviction-tenacity`` bounds the time one eviction run may take
  (Redis's formula: 50 us per unit up to 10, then +15% per unit, 100 =
  unlimited); when the budget runs out the command is still allowed and the
  eviction continues from the event loop until memory is under the limit.

Sampling. The keyspace table (db.py: _keyspace.Keyspace) gives random keys
from random buckets, as Redis's dict does. The expires table, and the
keyspace without the C extension, are dicts, which have no "random bucket"
access. Skipping a random distance with itertools.islice is O(n) per
sample, which makes an eviction cost milliseconds on a large keyspace. So each database has a db.KeySample
of its keys (one for the keyspace, one for the expires dict): a snapshot
list sampled with random indexes in O(1); a sampled key that no longer
exists is simply skipped. The snapshot is rebuilt (O(n), in C) once as many
samples as half its length were drawn, or when the dict's size moved by a
quarter: the rebuild cost is thus amortised to O(1) per sample. Keys created since the
last rebuild are not candidates until the next one; they are the most
recently used, the least likely to be chosen under LRU anyway. The snapshot
keeps references to keys evicted since it was built (at most an eighth of
the keyspace): their few bytes are released at the next rebuild.

Dict tables under churn (the expires dict; every table without the C
extension: a Keyspace frees each deleted entry and the cron shrinks its
table). A Python dict does not reuse the slots of deleted keys: a cache that keeps evicting and inserting runs out of them and the
dict resizes to three times its live keys, twice the table a copy would
need. At the limit that doubling (the keyspace and the LRU dict together)
would be paid for in keys - a large part of the cache evicted at once,
then refilled when the cron compacts the emptied dict, and so on. Redis
avoids the same trap by not expanding its keyspace table when that would
exceed maxmemory (dictExpandAllowed). Here, before evicting, a dict that
holds at least 1.5 times its compact size is rebuilt (compact_grown_dicts);
the cron only rebuilds dicts sparser than churn alone makes them
(compact_dicts). The cache then holds a steady number of keys.

Evicted keys are deleted through Server.delete_evicted, the same path as
expired keys: ``evicted_keys`` is counted, the ``evicted`` keyspace event
fires, a DEL is propagated to the AOF and the replicas. A replica does not
evict (replica-ignore-maxmemory yes): its master's DELs do.
"""

import random
import sys
import time
from bisect import insort

from .db import KeySample, PLAIN_LRU, new_lru
from .memory import COMMAND_GUESS, REFRESH_EVERY, Memory, key_usage

LRU_CLOCK_MAX = (1 << 24) - 1
LFU_INIT_VAL = 5
EVPOOL_SIZE = 16

EVICT_OK, EVICT_RUNNING, EVICT_FAIL = 0, 1, 2

OOM_ERR = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"

# Commands that are never rejected for memory inside MULTI (processCommand).
_MULTI_EXEMPT = frozenset((b'exec', b'discard', b'quit', b'reset'))


# -- LFU ------------------------------------------------------------------------

def lfu_time_in_minutes(server):
    return (server.unixtime // 60) & 0xFFFF


def lfu_decr_and_return(server, field):
    """LFUDecrAndReturn: the counter decayed by the minutes elapsed since
    its last decrement, lfu-decay-time minutes per unit."""
    ldt = field >> 8
    counter = field & 255
    decay = server.config.lfu_decay_time
    if decay:
        now = lfu_time_in_minutes(server)
        elapsed = now - ldt if now >= ldt else 65535 - ldt + now
        periods = elapsed // decay
        if periods:
            counter = counter - periods if counter > periods else 0
    return counter


class LFUField(PLAIN_LRU):
    """db.lru under an LFU policy: ``lru[key] = clock`` (what db.py does on
    every access) becomes Redis's updateLFU. Subclassed per server with the
    ``server`` class attribute, so that db.new_lru(type(lru), ...) makes
    another one."""
    __slots__ = ()
    server = None
    holds_lfu = True

    def __setitem__(self, key, _clock):
        server = self.server
        now = (server.unixtime // 60) & 0xFFFF
        field = self.get(key)
        if field is None:
            PLAIN_LRU.__setitem__(self, key, (now << 8) | LFU_INIT_VAL)
            return
        counter = lfu_decr_and_return(server, field)
        if counter < 255:
            base = counter - LFU_INIT_VAL
            if base < 0:
                base = 0
            if random.random() < 1.0 / (base * server.config.lfu_log_factor + 1):
                counter += 1
        PLAIN_LRU.__setitem__(self, key, (now << 8) | counter)


def _lfu_class(server):
    cls = getattr(server, '_lfu_field_class', None)
    if cls is None:
        cls = server._lfu_field_class = type('LFUField', (LFUField,), {'server': server})
    return cls


def install_clock_kind(server):
    """Make every db.lru the kind the current policy needs."""
    cls = _lfu_class(server) if 'lfu' in server.config.maxmemory_policy else PLAIN_LRU
    for db in server.dbs:
        if type(db.lru) is not cls:
            db.lru = new_lru(cls, db.data, db.lru)


def lfu_frequency(server, db, key):
    """OBJECT FREQ: the decayed counter, without counting this access."""
    field = db.lru.get(key)
    if field is None:
        return LFU_INIT_VAL
    return lfu_decr_and_return(server, field)


# -- sampling and the eviction pool ------------------------------------------------

class Evictor:
    def __init__(self, server):
        self.server = server
        self.pool = []          # ascending (score, seq, dbid, key); best at the end
        self.pooled = set()     # (dbid, key) in the pool
        self.seq = 0
        self.snap_keys = {}     # dbid -> KeySample of db.data
        self.snap_expires = {}  # dbid -> KeySample of db.expires
        self.next_db = 0
        self.timer_running = False

    def _snapshot(self, table, dbid):
        s = table.get(dbid)
        if s is None:
            s = table[dbid] = KeySample()
        return s

    def forget(self):
        self.pool = []
        self.pooled = set()
        for s in self.snap_keys.values():
            s.forget()
        for s in self.snap_expires.values():
            s.forget()

    def populate(self, db, policy, allkeys, samples):
        """evictionPoolPopulate: score ``samples`` sampled keys and keep the
        EVPOOL_SIZE best in the pool (higher score = better candidate)."""
        server = self.server
        src = db.data if allkeys else db.expires
        snap = self._snapshot(self.snap_keys if allkeys else self.snap_expires, db.id)
        keys = snap.sample(src, samples)
        lru = db.lru
        data = db.data
        if policy == 'lru':
            clock = server.lruclock
            # estimateObjectIdleTime, in ms as Redis (1 s resolution).
            scored = [(((clock - lru.get(k, clock)) & LRU_CLOCK_MAX) * 1000, k)
                      for k in keys if k in data]
        elif policy == 'lfu':
            scored = [(255 - lfu_decr_and_return(server, lru.get(k, LFU_INIT_VAL)), k)
                      for k in keys if k in data]
        else:   # ttl: the sooner it expires, the better
            expires = db.expires
            scored = [(-expires[k], k) for k in keys if k in expires]
        pool = self.pool
        pooled = self.pooled
        dbid = db.id
        for score, key in scored:
            # A full pool takes no candidate that is not strictly better
            # than its worst (Redis: k == 0 when pool[0].idle >= idle).
            if len(pool) >= EVPOOL_SIZE and score <= pool[0][0]:
                continue
            if (dbid, key) in pooled:
                continue
            self.seq += 1
            # Equal scores: the newer entry goes left of the older ones,
            # like Redis's insertion before the first element not smaller.
            insort(pool, (score, -self.seq, dbid, key))
            pooled.add((dbid, key))
            if len(pool) > EVPOOL_SIZE:
                e = pool.pop(0)
                pooled.discard((e[2], e[3]))

    def select(self, policy_name):
        """The next key to evict as (db, key), or None when there is none."""
        server = self.server
        allkeys = policy_name.startswith('allkeys')
        kind = policy_name.split('-', 1)[1]
        dbs = server.dbs
        if kind == 'random':
            n = len(dbs)
            for _ in range(n):
                self.next_db = (self.next_db + 1) % n
                db = dbs[self.next_db]
                src = db.data if allkeys else db.expires
                if not src:
                    continue
                snap = self._snapshot(self.snap_keys if allkeys else self.snap_expires, db.id)
                for _ in range(8):
                    ks = snap.sample(src, 1)
                    if ks and ks[0] in src:
                        return db, ks[0]
                # The snapshot is stale: take a fresh one next time.
                snap.forget()
                ks = snap.sample(src, 1)
                if ks:
                    return db, ks[0]
            return None
        samples = server.config.maxmemory_samples
        while True:
            total = 0
            for db in dbs:
                src = db.data if allkeys else db.expires
                if src:
                    total += len(src)
                    self.populate(db, kind, allkeys, samples)
            if not total:
                return None
            pool = self.pool
            while pool:
                _, _, dbid, key = pool.pop()
                self.pooled.discard((dbid, key))
                db = dbs[dbid]
                if key in (db.data if allkeys else db.expires):
                    return db, key
            # Every pooled key is gone: sample again.


def time_limit_us(tenacity):
    """evictionTimeLimitUs."""
    if tenacity <= 10:
        return 50 * tenacity
    if tenacity < 100:
        return int(500.0 * 1.15 ** (tenacity - 10))
    return None     # unlimited


def is_safe_to_evict(server):
    if server.loading or server.pause_type:     # (CLIENT PAUSE)
        return False
    if server.masterhost and server.config.replica_ignore_maxmemory:
        return False
    return True


def perform_evictions(server):
    """performEvictions: evict until used_memory <= maxmemory. Returns
    EVICT_OK, EVICT_RUNNING (the time budget ran out; the rest continues
    from the event loop) or EVICT_FAIL (noeviction, or nothing left that
    the policy may evict)."""
    if not is_safe_to_evict(server):
        return EVICT_OK     # (as if not triggered: the metrics stay as they are)
    config = server.config
    limit = config.maxmemory
    if not limit:
        return _exceeded_metrics(server, EVICT_OK)
    mem = server.memory
    used = mem.refresh()
    if used <= limit:
        return _exceeded_metrics(server, EVICT_OK)
    if compact_grown_dicts(server):
        used = mem.refresh()
        if used <= limit:
            return _exceeded_metrics(server, EVICT_OK)
    policy = config.maxmemory_policy
    if policy == 'noeviction':
        return _exceeded_metrics(server, EVICT_FAIL)
    ev = server.evictor
    budget = time_limit_us(config.maxmemory_eviction_tenacity)
    start = time.monotonic()
    result = EVICT_OK
    keys_freed = 0
    # Free a little below the limit, so that the next commands run on the
    # O(1) estimate instead of reading the allocators one by one.
    target = limit - min(REFRESH_EVERY * COMMAND_GUESS, limit >> 6)
    tofree = used - target
    freed = 0
    while True:
        if freed >= tofree:
            # The estimates say enough was freed: ask the allocators.
            used = mem.refresh()
            if used <= limit:
                break
            tofree = used - target
            freed = 0
        pick = ev.select(policy)
        if pick is None:
            result = EVICT_FAIL
            # (cant_free: Redis waits here, within the time budget, for
            # the lazyfree thread's pending jobs, and records the wait as
            # "eviction-lazyfree". lazyfree.py frees in slices from the
            # event loop, so there is nothing to wait for.)
            break
        db, key = pick
        freed += key_usage(key, db.data[key])
        server.delete_evicted(db, key)
        keys_freed += 1
        if keys_freed % 16 == 0:
            used = mem.refresh()
            if used <= target:
                break
            tofree = used - target
            freed = 0
            if budget is not None and (time.monotonic() - start) * 1e6 > budget:
                start_eviction_timer(server)
                result = EVICT_RUNNING
                break
    if server.latency_add is not None:
        server.latency_add(b'eviction-cycle', int((time.monotonic() - start) * 1000))
    if keys_freed and server.also_propagated and not server.in_exec:
        # As Redis 7.0, evictions reach the AOF and the replicas on their
        # own, not wrapped in a MULTI with the command that caused them.
        server.flush_propagation(wrap=False)
    if result == EVICT_OK and ev.timer_running:
        result = EVICT_RUNNING
    return _exceeded_metrics(server, result)


def _exceeded_metrics(server, result):
    """performEvictions' update_metrics: a period over maxmemory starts at
    the first run that could not get under the limit (RUNNING or FAIL) and
    ends at the next one that finds memory under it; INFO stats shows the
    periods as total_eviction_exceeded_time and
    current_eviction_exceeded_time."""
    st = server.stat
    if result == EVICT_OK:
        if st.eviction_exceeded_start:
            st.eviction_exceeded_us += (time.perf_counter_ns() - st.eviction_exceeded_start) // 1000
            st.eviction_exceeded_start = 0
    elif not st.eviction_exceeded_start:
        st.eviction_exceeded_start = time.perf_counter_ns()
    return result


def start_eviction_timer(server):
    ev = server.evictor
    if ev.timer_running or server.loop is None:
        return
    ev.timer_running = True
    server.loop.call_soon(_eviction_timer, server)


def _eviction_timer(server):
    ev = server.evictor
    ev.timer_running = False
    if server.shutting_down:
        return
    perform_evictions(server)   # re-arms itself while the budget runs out


# -- the OOM gate and configuration --------------------------------------------------

def make_oom_check(server):
    """server.oom_check: called for denyoom commands and for every command
    in MULTI while maxmemory is set. O(1) unless the estimate says the
    limit is reached (see the module docstring)."""
    memory = server.memory

    def oom_check(c, cmd):
        # The common case: the estimate has room for this command. (The
        # trusted request path takes its pass itself, inline.)
        if next(server.oom_passes, False):
            return None
        memory.unpassed += 1
        if perform_evictions(server) != EVICT_FAIL:
            return None
        if cmd.denyoom:
            return OOM_ERR
        if c.multi is not None:
            if cmd.name == b'exec':
                # EXEC is denied when it would run a denyoom command.
                if any(q.denyoom for q, _ in c.multi):
                    return OOM_ERR
                return None
            if cmd.parent is None and cmd.name in _MULTI_EXEMPT:
                return None
            return OOM_ERR
        return None

    return oom_check


def apply_maxmemory(server):
    """CONFIG SET maxmemory / maxmemory-policy (and start-up)."""
    install_clock_kind(server)
    limit = server.config.maxmemory
    if limit:
        if server.oom_check is None:
            server.oom_check = make_oom_check(server)
            server.update_gate()
        used = server.memory.refresh()
        if server.loop is not None:
            if used > limit:
                from . import log
                log.warning('WARNING: the new maxmemory value set via CONFIG SET (%d) is '
                            'smaller than the current memory usage (%d). This will result in '
                            'key eviction and/or the inability to accept new write commands '
                            'depending on the maxmemory-policy.' % (limit, used))
            # (updateMaxmemory runs it in any case: under the new limit, it
            # ends a period over maxmemory in the INFO stats.)
            perform_evictions(server)
    elif server.oom_check is not None:
        server.oom_check = None
        server.update_gate()


def _flush_hook(server, db):
    server.evictor.forget()
    install_clock_kind(server)


# A dict holding more than this many bytes per key (plus a floor) is
# rebuilt by the cron when maxmemory is set (see compact_dicts). A dict
# that churn resized holds 3 to 6 slots per key, at most 20 bytes per slot
# (4-byte index + 2/3 of a 24-byte entry): up to 120 bytes per key. Above
# that it was emptied by deletions; below it, a rebuild would only be
# undone by the next churn resize (an O(n) copy for nothing).
SPARSE_BYTES_PER_KEY = 128
SPARSE_FLOOR = 64 * 1024


def compact_dicts(server):
    """Redis's tryResizeHashTables. A Python dict never shrinks when keys
    are deleted, and one that keeps deleting and inserting (a cache under
    eviction) regrows to three times its live entries: its table can hold
    the memory that eviction is trying to free, and with maxmemory set a
    keyspace emptied by evictions could be left with no room for any key.
    Rebuilding a sparse dict (O(n), in C, rare) gives the memory back."""
    getsizeof = sys.getsizeof
    for db in server.dbs:
        for attr in ('data', 'lru', 'expires'):
            d = getattr(db, attr)
            if not isinstance(d, dict):
                continue        # a Keyspace (and its LruView) shrinks itself
            if getsizeof(d) > SPARSE_BYTES_PER_KEY * len(d) + SPARSE_FLOOR:
                setattr(db, attr, type(d)(d))


# Dicts smaller than this are not worth compacting under memory pressure.
GROWN_FLOOR = 64 * 1024
_DICT_HEADER = 96       # sys.getsizeof of a dict beyond its table


def compact_dict_bytes(n):
    """sys.getsizeof of ``dict(d)`` for a ``d`` of n keys that has holes:
    CPython sizes the copy for n (estimate_log2_keysize: 1.5 n slots,
    rounded up to a power of two), its index entries 1, 2, 4 or 8 bytes
    wide by table size, 2/3 of the slots as 24-byte entries."""
    log2 = max(3, ((n * 3 + 1) // 2 - 1).bit_length())
    size = 1 << log2
    width = 1 if log2 < 8 else 2 if log2 < 16 else 4 if log2 < 32 else 8
    return _DICT_HEADER + size * width + ((size << 1) // 3) * 24


def compact_grown_dicts(server):
    """Redis's dictExpandAllowed, after the fact. Under churn a Python
    dict runs out of entry slots (deleted ones are not reused) and resizes
    to three times its live keys: twice the table a copy would need. At
    the memory limit that doubling (megabytes for the keyspace and the LRU
    dict together) would be paid for in keys, and the cache would lose a
    large part of its contents at once - Redis does not expand its
    keyspace table when that would exceed maxmemory. So before evicting,
    a dict holding at least 1.5 times its compact size is rebuilt (O(n)
    in C, once per resize: the copy has room for as many inserts as
    the table's free slots). Returns whether anything was rebuilt."""
    getsizeof = sys.getsizeof
    rebuilt = False
    for db in server.dbs:
        if not db.data:
            continue
        for attr in ('data', 'lru', 'expires'):
            d = getattr(db, attr)
            if not isinstance(d, dict):
                continue        # a Keyspace has no slots that deletions leave unused
            size = getsizeof(d)
            if size >= GROWN_FLOOR and 2 * size >= 3 * compact_dict_bytes(len(d)):
                setattr(db, attr, type(d)(d))
                rebuilt = True
    return rebuilt


def _cron(server):
    server.memory.cron()
    install_clock_kind(server)
    if server.config.maxmemory:
        compact_dicts(server)


def attach(server):
    """The accounting and the evictor of a new Server."""
    server.memory = Memory(server)
    server.evictor = Evictor(server)
    server.used_memory = server.memory.refresh
    server.lfu_frequency = lambda db, key: lfu_frequency(server, db, key)
    server.cron_hooks.append(lambda: _cron(server))
    apply_maxmemory(server)
    for name in ('maxmemory', 'maxmemory-policy'):
        server.on_config_set(name, apply_maxmemory)
    server.flush_hooks.append(_flush_hook)

