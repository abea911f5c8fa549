"""Memory accounting (zmalloc's used_memory) and a key's real size (what
eviction frees). MEMORY USAGE reports Redis's accounting model instead:
pyredis/objsize.py.

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

The eviction that acts on these figures is evict.py's.
"""


import ctypes
import ctypes.util
import os
import re
import sys
import time
from itertools import repeat
from operator import length_hint

from .values import PackedHash, QuickList

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
        self.read_at = 0.0          # time.monotonic() of the last refresh()
        # The OOM gate's passes left before the next reading (refresh): an
        # iterator, so that the gate takes one with next(), a C call, where
        # a counter would need a Python function around it.
        server.oom_passes = iter(())
        self.granted = 0            # the length oom_passes was created with
        self.unpassed = 0           # commands oom_check let through passless
        self.read_room = 0          # bytes clients may send before a reading
        self.guess = COMMAND_GUESS  # bytes per command, learnt (refresh)
        self.peak = 0
        self.expand_limited = False # keyspace tables told a room (refresh)

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

    def recent(self, max_age):
        """used_memory as last read when that was at most ``max_age``
        seconds ago, else a fresh refresh(): a fresh reading walks the
        allocator's arenas (0.15 ms at 1M objects, 2 ms at 10M), which a
        metrics scrape need not pay each time."""
        if time.monotonic() - self.read_at <= max_age:
            return self.used
        return self.refresh()

    def refresh(self):
        self.read_at = time.monotonic()
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
        # dictExpandAllowed: the keyspace tables grow within the room.
        self.set_expand_room(max(limit - used, 0) if limit else -1)
        server.oom_passes = repeat(True, passes)
        if used > self.peak:
            self.peak = used
        return used

    def set_expand_room(self, room):
        """Tell each keyspace table (_keyspace.Keyspace) how many bytes a
        bigger bucket array may take (-1: no limit)."""
        self.expand_limited = room >= 0
        for db in self.server.dbs:
            for table in (db.data, db.expires):
                set_room = getattr(table, 'set_expand_room', None)
                if set_room is not None:
                    set_room(room)

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
        if self.expand_limited and not self.server.config.maxmemory:
            self.set_expand_room(-1)        # maxmemory was turned off
        # A calibration costs about 1 ms per million live objects: every
        # second for small heaps, every 5 s per million objects for large
        # ones (a stall of at most ~0.2% of the time).
        if self.server.config.maxmemory and (
                time.monotonic() - self.calib_time >= max(1.0, self.calib_blocks / 200000)):
            self.calibrate()


# -- a key's real size (eviction's estimate of what it frees) ---------------------

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
    """The value's Python objects, sampling at most ``samples`` elements of
    an aggregate (0: all of them) and extrapolating as objectComputeSize
    does."""
    t = type(v)
    if t is bytes or t is bytearray:
        return _getsizeof(v)
    if samples <= 0:
        samples = 1 << 62
    if t is PackedHash or t is QuickList:
        return _getsizeof(v)        # listpack allocations, all counted
    if t is dict:
        return _getsizeof(v) + _sample_avg(
            v.items(), len(v), samples, lambda kv: _getsizeof(kv[0]) + _getsizeof(kv[1]))
    if t is set:
        return _getsizeof(v) + _sample_avg(v, len(v), samples, _getsizeof)
    own = getattr(v, 'memory_usage', None)
    if own is not None:         # a type that measures itself (Stream)
        return own(samples)
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
    """The Python objects of a key: value, key and the key's dict entries
    (MEMORY USAGE gives Redis's figure: objsize.key_usage)."""
    return value_size(v, samples) + _getsizeof(key) + KEY_OVERHEAD
