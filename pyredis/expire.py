"""Active expiry: Redis's activeExpireCycle (expire.c), run from the cron.

Lazy expiry (db.py) only removes keys that are touched; this cycle finds
the others. Each cron run visits the databases in turn, starting where the
previous run stopped. In each database it looks at batches of 20 keys that
have a TTL (more with a higher ``active-expire-effort``), deletes the ones
that are past due, and keeps going while more than 10% of a batch was
expired - a sign that many more are waiting. The run stops when it has used
its time budget (25% of the cron period), which is counted in
``expired_time_cap_reached_count``.

Redis walks its expires hash table with a scan cursor, and so does this
cycle: the expires table is a _keyspace.Keyspace (db.py), and each database
keeps its dictScan cursor (expire_scan_pos) between runs. Without the C
extension the table is a dict, which cannot be iterated while it changes:
then each database keeps a snapshot list of the keys that had a TTL when a
pass began, walks it batch by batch across cron runs, skips keys that are
gone or no longer volatile, and takes a new snapshot when it reaches the end
(one list copy per full pass, O(1) per key; keys given a TTL after the
snapshot are seen in the next pass, as keys added behind Redis's cursor
are).

A run that used up its budget leaves expired keys behind: then, as Redis
runs a fast cycle from beforeSleep, a fast cycle of FAST_DURATION runs
every 2 * FAST_DURATION between the cron's runs until a cycle ends within
its budget (asyncio has no hook before the loop sleeps, so a timer stands
in for it). Under a backlog of expired keys the cycle thus takes up to
about half the CPU, as Redis's does, not a quarter.

All deletions go through Server.delete_expired, so they are counted,
notified (``expired`` event) and propagated as DEL like lazy ones.
"""

import time
from . import clock

KEYS_PER_LOOP = 20
ACCEPTABLE_STALE = 10       # percent
SLOW_TIME_PERC = 25         # percent of the cron period
FAST_DURATION = 0.001       # seconds (ACTIVE_EXPIRE_CYCLE_FAST_DURATION)
DBS_PER_CALL = 16


class ExpireState:
    """The cycle's memory between cron runs (static variables in expire.c)."""

    def __init__(self):
        self.current_db = 0
        self.timelimit_exit = False
        self.fast_timer = None      # the next fast cycle, when one is due


def _scan_batch(db, expires, num):
    """The next ``num`` keys of the expires table (a _keyspace.Keyspace)
    from the database's cursor, visiting at most 20 buckets per key, as
    activeExpireCycle drives dictScan; the cursor wraps to 0 at the end of
    a pass. Returns (keys, buckets' worth looked at: 0 when the table had
    nothing left in this pass)."""
    cursor, keys = expires.scan(db.expire_scan_pos, num, num * 20)
    db.expire_scan_pos = cursor
    return keys, len(keys) or (cursor != 0)


def _snapshot_batch(db, expires, num):
    """The same over a dict (no C extension): the next ``num`` keys that
    still have a TTL from a snapshot list of the keys that had one when the
    pass began. As Redis bounds the empty buckets it visits, the stale
    entries (keys deleted since) looked at per batch are bounded. Returns
    (keys, entries looked at)."""
    scan = db.expire_scan
    pos = db.expire_scan_pos
    if scan is None or pos >= len(scan):
        scan = db.expire_scan = list(expires)
        pos = 0
    max_checked = num * 20
    checked = 0
    n = len(scan)
    keys = []
    while len(keys) < num and checked < max_checked and pos < n:
        key = scan[pos]
        pos += 1
        checked += 1
        if key in expires:
            keys.append(key)
    db.expire_scan_pos = pos
    if pos >= n:
        db.expire_scan = None
    return keys, checked


def active_expire_cycle(server, fast=False):
    """One cycle: the slow one from the cron, or a fast one."""
    state = server.expire_state
    effort = server.config.active_expire_effort - 1
    keys_per_loop = KEYS_PER_LOOP + KEYS_PER_LOOP // 4 * effort
    slow_time_perc = SLOW_TIME_PERC + 2 * effort
    acceptable_stale = ACCEPTABLE_STALE - effort
    dbs = server.dbs
    dbnum = len(dbs)
    dbs_per_call = DBS_PER_CALL
    if dbs_per_call > dbnum or state.timelimit_exit:
        dbs_per_call = dbnum
    hz = server.hz or 1
    if fast:
        timelimit = FAST_DURATION + FAST_DURATION / 4 * effort
    else:
        timelimit = slow_time_perc / 100.0 / hz        # seconds
    start = time.perf_counter()
    state.timelimit_exit = False
    total_sampled = total_expired = 0
    iteration = 0
    delete_expired = server.delete_expired

    for _ in range(dbs_per_call):
        if state.timelimit_exit:
            break
        db = dbs[state.current_db % dbnum]
        state.current_db += 1
        while True:
            expires = db.expires
            if not expires:
                db.avg_ttl = 0
                db.expire_scan = None
                break
            iteration += 1
            now = clock.time() * 1000
            expired = sampled = 0
            ttl_sum = ttl_samples = 0
            num = min(len(expires), keys_per_loop)
            if expires.__class__ is not dict:
                keys, checked = _scan_batch(db, expires, num)
            else:
                keys, checked = _snapshot_batch(db, expires, num)
            for key in keys:
                when = expires.get(key)
                if when is None:
                    continue        # (deleted by an earlier one's expiry)
                sampled += 1
                if when <= now:
                    delete_expired(db, key)
                    expired += 1
                else:
                    ttl_sum += when - now
                    ttl_samples += 1
            total_expired += expired
            total_sampled += sampled
            if ttl_samples:
                avg = ttl_sum / ttl_samples
                db.avg_ttl = (db.avg_ttl / 50) * 49 + avg / 50 if db.avg_ttl else avg
            if iteration & 0xf == 0 and time.perf_counter() - start > timelimit:
                state.timelimit_exit = True
                server.stat.expired_time_cap_reached_count += 1
                break
            if sampled == 0 and checked == 0:
                break
            if sampled and expired * 100 // sampled <= acceptable_stale:
                break
        if server.also_propagated:
            # Each active expiry is its own DEL, not one transaction.
            server.flush_propagation(wrap=False)

    elapsed = time.perf_counter() - start
    if state.timelimit_exit and state.fast_timer is None and server.loop is not None:
        state.fast_timer = server.loop.call_later(
            2 * (FAST_DURATION + FAST_DURATION / 4 * effort), _fast_cycle, server)
    server.stat.expire_cycle_time_used += elapsed
    if server.latency_add is not None:
        server.latency_add(b'expire-cycle', int(elapsed * 1000))
    current_perc = total_expired / total_sampled if total_sampled else 0.0
    server.stat.expired_stale_perc = current_perc * 0.05 + server.stat.expired_stale_perc * 0.95


def _fast_cycle(server):
    """activeExpireCycle(ACTIVE_EXPIRE_CYCLE_FAST): only while the last
    cycle left keys behind; it arms the next one itself if it does too."""
    state = server.expire_state
    state.fast_timer = None
    if (state.timelimit_exit and server.masterhost is None and server.active_expire_enabled
            and not server.shutting_down and not server.pause_type):
        active_expire_cycle(server, fast=True)
