"""Memory accounting and the maxmemory eviction policies (evict.c + zmalloc).

Accounting
----------
Redis's ``used_memory`` is what its allocator wrapper (zmalloc) counts as
allocated. The honest Python equivalent is the allocator's view too, not a
size delta reported by every command module. Two allocators serve a CPython
process:

* glibc malloc: every allocation above 512 bytes (dict and set tables, list
  arrays, deque blocks, large strings) and everything C extensions allocate
  (hiredis readers, uvloop/libuv transport buffers). ``mallinfo2()`` gives
  the bytes in use in its arenas (``uordblks``) plus its mmapped chunks
  (``hblkhd``). The call costs about a microsecond, whatever the dataset.
* pymalloc: objects up to 512 bytes (keys, small values, tuples, floats),
  carved from 1 MiB arenas that pymalloc mmaps itself, so glibc does not see
  them. ``sys.getallocatedblocks()`` counts the live blocks; it is exact and
  drops as soon as an object is freed (unlike the arenas, which are only
  returned when completely empty), but it walks the pool headers: about
  60 us per million live objects. The average block size is calibrated from
  ``sys._debugmallocstats()`` ("bytes in allocated blocks"), about 1 ms per
  million objects, from the cron (every second, or every 5 s per million
  objects on large heaps) and whenever the block
  count moved by more than 25% since the last calibration. In between,
  the blocks allocated since the calibration are counted at the marginal
  block size observed between the last two calibrations.

    reading   = uordblks + hblkhd
                + calibrated_bytes + (blocks - calibrated_blocks) * block_size
    used      = reading - baseline          (never below 0)

``baseline`` is the reading when the server object was created: the
interpreter, the imported modules and the command table, so that an empty
server reports a few kilobytes, as an empty redis-server reports its own
small footprint. What is counted is everything the process allocates after
that: the dataset, the expires and LRU dicts, client query and reply
buffers, the replication backlog and the AOF buffer, like Redis.

Error bounds: the glibc part is exact to the byte (chunk headers included,
as jemalloc's size classes are in Redis). The pymalloc part is exact in the
block count and exact at each calibration; in between, only the blocks
allocated or freed since the last calibration are estimated, so the error
is at most (blocks changed since) x (their size minus the marginal size):
a few kilobytes per second of traffic in practice. Memory that is allocated but free inside the
allocators (fragmentation, empty pymalloc pools) is not counted, again like
Redis's used_memory; it shows in used_memory_rss and
mem_fragmentation_ratio.

The OOM gate must be O(1): ``oom_check`` runs before every ``denyoom``
command (and every command inside MULTI) while maxmemory is set. It does not
read the allocators each time: each reading computes how many commands fit
in the room left if each allocated ``guess`` bytes (at most
``REFRESH_EVERY``), and the gate only counts that down (``next()`` on
``server.oom_passes``, a ``repeat`` iterator of that length), reading the
allocators again when it runs out. ``guess`` is learnt from the readings:
what the commands let through since the previous one allocated each (at
least ``COMMAND_GUESS``; it at most doubles per reading and falls by an
eighth). Far from the limit, where a reading every 64 commands would cost a
third of a small write's time, up to REFRESH_FAR commands run between
readings, at FAR_GUESS bytes or more each. Two more bounds keep a change of
workload (small values, then 100 KB ones) from running a whole allowance at
the old guess: the bytes clients send count against half the room
(``read_overrun``: what commands store mostly arrives as their arguments),
and the pymalloc estimate is calibrated again whenever the blocks counted
since the last calibration could be off by half the room (DRIFT_ERROR bytes
each). Near the limit every command reads the allocators, so that noeviction
stops where Redis does. Eviction frees a little below the limit (at most
REFRESH_EVERY * COMMAND_GUESS, 1/64 of maxmemory for small limits) so that a
cache under eviction does not read the allocators on every write. A client's
unprocessed pipelined input is memory too and counts, as Redis's query
buffers do. With no maxmemory, ``server.oom_check`` is None and none of this
runs.

Eviction
--------
The approximations are Redis's own:

* LRU: ``db.lru`` holds each key's 24-bit LRU clock (seconds), updated by
  every lookup and write (db.py). The idle time is the distance from the
  server clock, with wrap-around.
* LFU: when an LFU policy is selected, the same field takes Redis's LFU
  meaning: 16 bits of "last decrement time" in minutes and an 8-bit
  logarithmic counter. ``db.lru`` becomes an ``LFUField`` dict whose
  ``__setitem__`` (the one db.py already calls on every access) applies
  Redis's LFUDecrAndReturn + LFULogIncr with ``lfu-log-factor`` and
  ``lfu-decay-time``; new keys start at LFU_INIT_VAL (5). Under the other
  policies db.lru stays a plain dict, so LRU pays nothing for LFU.
  Switching policy at runtime converts the dict type but not the values:
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

Sampling. A Python dict has no "random bucket" access. Skipping a random
distance with itertools.islice is O(n) per sample, which makes an eviction
cost milliseconds on a large keyspace. So each database keeps a snapshot
list of its keys (one for the keyspace, one for the expires dict), sampled
with random indexes in O(1); a sampled key that no longer exists is simply
skipped. The snapshot is rebuilt (O(n), in C) once as many samples as half
its length were drawn, or when the dict's size moved by a quarter: the
rebuild cost is thus amortised to O(1) per sample. Keys created since the
last rebuild are not candidates until the next one; they are the most
recently used, the least likely to be chosen under LRU anyway. The snapshot
keeps references to keys evicted since it was built (at most an eighth of
the keyspace): their few bytes are released at the next rebuild.

Dict tables under churn. A Python dict does not reuse the slots of deleted
keys: a cache that keeps evicting and inserting runs out of them and the
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

import ctypes
import ctypes.util
import os
import random
import re
import sys
import time
from bisect import insort
from itertools import repeat
from operator import length_hint

LRU_CLOCK_MAX = (1 << 24) - 1
LFU_INIT_VAL = 5
EVPOOL_SIZE = 16

# Bytes assumed allocated by a denyoom command between two allocator
# readings (at least: Memory.refresh learns the workload's real figure),
# and how many commands may run between two readings. Far from
# the limit the readings (tens of microseconds on a large heap) are spaced
# further, with a larger allowance per command: REFRESH_FAR commands, as
# long as each of them could allocate FAR_GUESS bytes without reaching it.
COMMAND_GUESS = 256
REFRESH_EVERY = 64
FAR_GUESS = 4096
REFRESH_FAR = 1024
# Bytes by which a block allocated or freed since the last calibration may
# be mis-sized in the estimate (Memory.refresh).
DRIFT_ERROR = 64

EVICT_OK, EVICT_RUNNING, EVICT_FAIL = 0, 1, 2

OOM_ERR = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"

# Commands that are never rejected for memory inside MULTI (processCommand).
_MULTI_EXEMPT = frozenset((b'exec', b'discard', b'quit', b'reset'))


# -- the allocators -------------------------------------------------------------

class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks',
        'uordblks', 'fordblks', 'keepcost')]


def _load_libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None, None
    mallinfo2 = getattr(libc, 'mallinfo2', None)
    if mallinfo2 is not None:
        mallinfo2.restype = _MallInfo2
        mallinfo2.argtypes = []
    trim = getattr(libc, 'malloc_trim', None)
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
    return mallinfo2, trim


_mallinfo2, _malloc_trim = _load_libc()


def malloc_in_use():
    """Bytes glibc malloc has handed out and not got back (0 elsewhere)."""
    if _mallinfo2 is None:
        return 0
    m = _mallinfo2()
    return m.uordblks + m.hblkhd


def malloc_trim():
    """MEMORY PURGE: give free heap pages back to the OS."""
    if _malloc_trim is not None:
        _malloc_trim(0)


_ALLOCATED_RE = re.compile(rb'# bytes in allocated blocks\s*=\s*([\d,]+)')


def pymalloc_allocated_bytes():
    """pymalloc's exact "bytes in allocated blocks", or None. The only API
    is sys._debugmallocstats(), which prints to the C stderr: fd 2 is
    pointed at a pipe for the duration of the call (the output is a few
    kilobytes, well under a pipe's capacity)."""
    fn = getattr(sys, '_debugmallocstats', None)
    if fn is None:
        return None
    try:
        r, w = os.pipe()
    except OSError:
        return None
    saved = os.dup(2)
    try:
        sys.stderr.flush()
        os.dup2(w, 2)
        os.close(w)
        try:
            fn()
        finally:
            os.dup2(saved, 2)
        os.set_blocking(r, False)
        out = []
        while True:
            try:
                chunk = os.read(r, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            out.append(chunk)
    finally:
        os.close(saved)
        os.close(r)
    m = _ALLOCATED_RE.search(b''.join(out))
    if m is None:
        return None
    return int(m.group(1).replace(b',', b''))


def rss_bytes():
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Memory:
    """The server's used_memory: see the module docstring."""

    def __init__(self, server):
        self.server = server
        self.block_size = 64.0      # marginal bytes per pymalloc block
        self.calib_blocks = 0
        self.calib_bytes = 0
        self.calib_time = 0.0
        self.max_drift = 1 << 62    # blocks between calibrations (refresh)
        self.calibrate()
        self.baseline = self.reading()
        self.used = 0
        # The OOM gate's passes left before the next reading (refresh): an
        # iterator, so that the gate takes one with next(), a C call, where
        # a counter would need a Python function around it.
        server.oom_passes = iter(())
        self.granted = 0            # the length oom_passes was created with
        self.unpassed = 0           # commands oom_check let through passless
        self.read_room = 0          # bytes clients may send before a reading
        self.guess = COMMAND_GUESS  # bytes per command, learnt (refresh)
        self.peak = 0

    def calibrate(self):
        """Read pymalloc's exact allocated bytes. Between two calibrations
        the blocks allocated or freed are counted at the marginal size seen
        between the last two, so a calibration corrects the estimate by
        only what that size got wrong (an average over all blocks would
        make the figure jump by its drift times the whole block count)."""
        blocks = sys.getallocatedblocks()
        nbytes = pymalloc_allocated_bytes()
        if nbytes is None:
            nbytes = int(blocks * 64)
        delta = blocks - self.calib_blocks
        if self.calib_time and abs(delta) >= 1000:
            size = (nbytes - self.calib_bytes) / delta
            self.block_size = min(max(size, 16.0), 512.0)
        self.calib_blocks = blocks
        self.calib_bytes = nbytes
        self.calib_time = time.monotonic()

    def reading(self):
        """What the allocators hold now (bytes), interpreter included."""
        blocks = sys.getallocatedblocks()
        cb = self.calib_blocks
        drift = min(cb >> 2, self.max_drift)
        if blocks > cb + drift or blocks < cb - drift:
            self.calibrate()
            cb = blocks
        return (malloc_in_use() + self.calib_bytes +
                int((blocks - cb) * self.block_size))

    def refresh(self):
        used = self.reading() - self.baseline
        if used < 0:
            used = 0
        # ``guess``: what the commands let through since the last reading
        # allocated each, at least COMMAND_GUESS. (Passes granted on a
        # fixed guess let a workload of 1 KB values, about 1.2 KB per SET,
        # overshoot the limit by REFRESH_EVERY times the difference: 4% of
        # a 2 MB limit.) One interval's figure is noisy (a query buffer
        # freed, an eviction from the timer in between, a dict doubling its
        # table: 590 KB at once for 16k keys), so the guess at most doubles
        # and falls by an eighth per reading. The commands counted are the
        # passes taken and those the gate let through without one
        # (``unpassed``): with none counted, a spike would keep the guess
        # above the room, and the room would never grant a pass again.
        server = self.server
        taken = self.granted - length_hint(server.oom_passes) + self.unpassed
        self.unpassed = 0
        if taken > 0:
            seen = max(COMMAND_GUESS, (used - self.used) // taken)
            guess = self.guess
            self.guess = (min(seen, guess << 1) if seen > guess
                          else guess - ((guess - seen) >> 3))
        self.used = used
        # Commands the OOM gate lets through on the estimate alone before
        # reading the allocators again: ``guess`` bytes each, at most
        # REFRESH_EVERY (or, far from the limit, FAR_GUESS bytes or more
        # each, at most REFRESH_FAR), none when the limit is reached.
        limit = server.config.maxmemory
        if limit and used < limit:
            room = limit - used
            guess = self.guess
            passes = max(min(REFRESH_EVERY, room // guess),
                         min(REFRESH_FAR, room // max(FAR_GUESS, guess)))
        else:
            room = passes = 0
        # Near the limit, the estimate's error must stay small beside the
        # room left: the blocks counted since the last calibration are
        # assumed off by up to DRIFT_ERROR bytes each (100-byte values on
        # the initial 64-byte marginal size: 400 KB short after 15,000
        # blocks, a fifth of a 2 MB limit).
        self.max_drift = (max(room >> 1, limit >> 6) // DRIFT_ERROR
                          if limit else 1 << 62)
        self.granted = passes
        self.read_room = room >> 1
        server.oom_passes = repeat(True, passes)
        if used > self.peak:
            self.peak = used
        return used

    def read_overrun(self):
        """Clients sent more than ``read_room`` bytes since the last reading
        (networking.Client.data_received counts them while maxmemory is
        set). Most of what commands store arrives as their arguments, at a
        cost of somewhat more than their size (10 KB values take 12 KB
        each), so the bytes read may not exceed half the room the reading
        found: beyond that the gate reads the allocators at the next
        command, and a workload of large values cannot run a whole
        allowance of passes (1024 SETs of 100 KB would be 50 times a 2 MB
        limit)."""
        server = self.server
        self.granted -= length_hint(server.oom_passes)
        server.oom_passes = iter(())

    def cron(self):
        # A calibration costs about 1 ms per million live objects: every
        # second for small heaps, every 5 s per million objects for large
        # ones (a stall of at most ~0.2% of the time).
        if self.server.config.maxmemory and (
                time.monotonic() - self.calib_time >= max(1.0, self.calib_blocks / 200000)):
            self.calibrate()


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


class LFUField(dict):
    """db.lru under an LFU policy: ``lru[key] = clock`` (what db.py does on
    every access) becomes Redis's updateLFU. Subclassed per server with the
    ``server`` class attribute, so ``type(lru)()`` makes an empty one."""
    __slots__ = ()
    server = None

    def __setitem__(self, key, _clock):
        server = self.server
        now = (server.unixtime // 60) & 0xFFFF
        field = self.get(key)
        if field is None:
            dict.__setitem__(self, key, (now << 8) | LFU_INIT_VAL)
            return
        counter = lfu_decr_and_return(server, field)
        if counter < 255:
            base = counter - LFU_INIT_VAL
            if base < 0:
                base = 0
            if random.random() < 1.0 / (base * server.config.lfu_log_factor + 1):
                counter += 1
        dict.__setitem__(self, key, (now << 8) | counter)


def _lfu_class(server):
    cls = getattr(server, '_lfu_field_class', None)
    if cls is None:
        cls = server._lfu_field_class = type('LFUField', (LFUField,), {'server': server})
    return cls


def install_clock_kind(server):
    """Make every db.lru the dict kind the current policy needs."""
    if 'lfu' in server.config.maxmemory_policy:
        cls = _lfu_class(server)
        for db in server.dbs:
            if type(db.lru) is not cls:
                db.lru = cls(db.lru)
    else:
        for db in server.dbs:
            if type(db.lru) is not dict:
                db.lru = dict(db.lru)


def lfu_frequency(server, db, key):
    """OBJECT FREQ: the decayed counter, without counting this access."""
    field = db.lru.get(key)
    if field is None:
        return LFU_INIT_VAL
    return lfu_decr_and_return(server, field)


# -- sizes (MEMORY USAGE) ----------------------------------------------------------

# A key's share of the keyspace dict and of the lru dict: an entry (hash,
# key, value pointers) plus its index slot, at the dict's ~2/3 load factor.
DICT_ENTRY = 40
KEY_OVERHEAD = 2 * DICT_ENTRY
_getsizeof = sys.getsizeof


def _sample_avg(it, n, samples, size_of):
    total = 0
    count = 0
    for x in it:
        total += size_of(x)
        count += 1
        if count >= samples:
            break
    if not count:
        return 0
    if count >= n:
        return total
    return total * n // count


def value_size(v, samples=5):
    """objectComputeSize: the value's bytes, sampling at most ``samples``
    elements of an aggregate (0: all of them) and extrapolating."""
    t = type(v)
    if t is bytes or t is bytearray:
        return _getsizeof(v)
    if samples <= 0:
        samples = 1 << 62
    if t is dict:
        return _getsizeof(v) + _sample_avg(
            v.items(), len(v), samples, lambda kv: _getsizeof(kv[0]) + _getsizeof(kv[1]))
    if t is set:
        return _getsizeof(v) + _sample_avg(v, len(v), samples, _getsizeof)
    d = getattr(v, 'dict', None)
    if isinstance(d, dict):     # ZSet: member -> score dict + (score, member) tuples
        n = len(d)
        return _getsizeof(d) + n * (8 + 56 + 24) + _sample_avg(d, n, samples, _getsizeof)
    try:
        n = len(v)
    except TypeError:
        return _getsizeof(v)
    return _getsizeof(v) + _sample_avg(iter(v), n, samples, _getsizeof)


def key_usage(key, v, samples=5):
    """MEMORY USAGE: value, key and the key's dict entries."""
    return value_size(v, samples) + _getsizeof(key) + KEY_OVERHEAD


# -- sampling and the eviction pool ------------------------------------------------

class _Snapshot:
    """Random keys of a dict in O(1) amortised: see the module docstring."""
    __slots__ = ('keys', 'draws', 'source_len')

    def __init__(self):
        self.keys = []
        self.draws = 0
        self.source_len = -1

    def sample(self, d, count):
        n = len(d)
        keys = self.keys
        sl = self.source_len
        if (self.draws * 2 >= len(keys) or n > sl + (sl >> 2) or n < sl - (sl >> 2)):
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

    def forget(self):
        self.keys = []
        self.draws = 0
        self.source_len = -1


class Evictor:
    def __init__(self, server):
        self.server = server
        self.pool = []          # ascending (score, seq, dbid, key); best at the end
        self.pooled = set()     # (dbid, key) in the pool
        self.seq = 0
        self.snap_keys = {}     # dbid -> _Snapshot of db.data
        self.snap_expires = {}  # dbid -> _Snapshot of db.expires
        self.next_db = 0
        self.timer_running = False

    def _snapshot(self, table, dbid):
        s = table.get(dbid)
        if s is None:
            s = table[dbid] = _Snapshot()
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
    if server.loading:
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
        return EVICT_OK
    config = server.config
    limit = config.maxmemory
    if not limit:
        return EVICT_OK
    mem = server.memory
    used = mem.refresh()
    if used <= limit:
        return EVICT_OK
    if compact_grown_dicts(server):
        used = mem.refresh()
        if used <= limit:
            return EVICT_OK
    policy = config.maxmemory_policy
    if policy == 'noeviction':
        return EVICT_FAIL
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
    if keys_freed and server.also_propagated and not server.in_exec:
        # As Redis 7.0, evictions reach the AOF and the replicas on their
        # own, not wrapped in a MULTI with the command that caused them.
        server.flush_propagation(wrap=False)
    if result == EVICT_OK and ev.timer_running:
        result = EVICT_RUNNING
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
        if used > limit and server.loop is not None:
            from . import log
            log.warning('WARNING: the new maxmemory value set via CONFIG SET (%d) is '
                        'smaller than the current memory usage (%d). This will result in '
                        'key eviction and/or the inability to accept new write commands '
                        'depending on the maxmemory-policy.' % (limit, used))
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

