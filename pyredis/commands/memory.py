"""MEMORY USAGE/STATS/DOCTOR/MALLOC-STATS/PURGE/HELP and the INFO memory
fields that come from the accounting in pyredis/memory.py.

MEMORY USAGE answers what redis-server answers for the same key and value
(Redis's accounting model, pyredis/objsize.py), sampling at most SAMPLES
elements of an aggregate (default 5, 0 = all). MEMORY STATS
reports the same figures as INFO memory, in Redis's field order. The
allocator is glibc malloc (plus pymalloc), so MALLOC-STATS answers as a
redis-server built with libc does.
"""

from . import command
from .. import memory, objsize
from ..resp import Verbatim, encode, integer, null, help_reply, SYNTAX_ERR, NOT_INT_ERR, OK
from ..util import string2ll, bytes_to_human



@command('memory|usage')
def memory_usage(c, argv):
    samples = 5
    j = 3
    while j < len(argv):
        if argv[j].lower() == b'samples' and j + 1 < len(argv):
            n = string2ll(argv[j + 1])
            if n is None:
                return NOT_INT_ERR
            if n < 0:
                return SYNTAX_ERR
            samples = n
            j += 2
        else:
            return SYNTAX_ERR
    key = argv[2]
    v = c.db.data.get(key)
    if v is None:
        return null(c.resp)
    return integer(objsize.key_usage(c.server, key, v, samples))


def memory_figures(server):
    """The numbers MEMORY STATS, MEMORY DOCTOR and INFO memory share."""
    mem = server.memory
    used = mem.refresh()
    total = mem.baseline + used             # everything the allocators hold
    rss = memory.rss_bytes()
    peak = max(mem.peak, used)
    server.used_memory_peak = peak
    keys = sum(len(db.data) for db in server.dbs)
    # Overhead: the dicts that index the keyspace (their entries, not the
    # keys and values), the way Redis counts its dict tables.
    overhead = 0
    per_db = []
    for db in server.dbs:
        if not db.data:
            continue
        main = len(db.data) * memory.KEY_OVERHEAD
        expires = len(db.expires) * memory.DICT_ENTRY
        per_db.append((db.id, main, expires))
        overhead += main + expires
    overhead = min(overhead, used)
    return {
        'used': used, 'total': total, 'rss': rss, 'peak': peak, 'keys': keys,
        'overhead': overhead, 'per_db': per_db, 'dataset': used - overhead,
    }


@command('memory|stats')
def memory_stats(c, argv):
    f = memory_figures(c.server)
    used, total, rss = f['used'], f['total'], f['rss']
    out = {
        b'peak.allocated': f['peak'],
        b'total.allocated': used,
        b'startup.allocated': 0,
        b'replication.backlog': 0,
        b'clients.slaves': 0,
        b'clients.normal': 0,
        b'cluster.links': 0,
        b'aof.buffer': 0,
        b'lua.caches': 0,
        b'functions.caches': 0,
    }
    for dbid, main, expires in f['per_db']:
        out[b'db.%d' % dbid] = {b'overhead.hashtable.main': main,
                                b'overhead.hashtable.expires': expires}
    keys = f['keys']
    out.update({
        b'overhead.total': f['overhead'],
        b'keys.count': keys,
        b'keys.bytes-per-key': (used // keys) if keys else 0,
        b'dataset.bytes': f['dataset'],
        b'dataset.percentage': f['dataset'] * 100.0 / used if used else 0.0,
        b'peak.percentage': used * 100.0 / f['peak'] if f['peak'] else 0.0,
        b'allocator.allocated': total,
        b'allocator.active': total,
        b'allocator.resident': rss,
        b'allocator-fragmentation.ratio': 1.0,
        b'allocator-fragmentation.bytes': 0,
        b'allocator.rss-ratio': rss / total if total else 0.0,
        b'allocator.rss-bytes': rss - total,
        b'rss-overhead.ratio': 1.0,
        b'rss-overhead.bytes': 0,
        b'fragmentation': rss / total if total else 0.0,
        b'fragmentation.bytes': rss - total,
    })
    return encode(out, c.resp)


EMPTY_REPORT = (
    b"Hi Sam, this instance is empty or is using very little memory, my issues detector "
    b"can't be used in these conditions. Please, leave for your mission on Earth and fill "
    b"it with some data. The new Sam and I will be back to our programming as soon as I "
    b"finished rebooting.\n")
NO_ISSUES_REPORT = (b"Hi Sam, I can't find any memory issue in your instance. I can only "
                    b"account for what occurs on this base.\n")


def doctor_report(server):
    f = memory_figures(server)
    if f['used'] < 5 * 1024 * 1024:
        return EMPTY_REPORT
    issues = []
    if f['peak'] / f['used'] > 1.5:
        issues.append(
            b" * Peak memory: In the past this instance used more than 150% the memory "
            b"that is currently using. The allocator is normally not able to release memory "
            b"after a peak, so you can expect to see a big fragmentation ratio, however this "
            b"is actually harmless and is only due to the memory peak, and if the Redis "
            b"instance Resident Set Size (RSS) is currently bigger than expected, the memory "
            b"will be used as soon as you fill the Redis instance with more data. If the "
            b"memory peak was only occasional and you want to try to reclaim memory, please "
            b"try the MEMORY PURGE command, otherwise the only other option is to shutdown "
            b"and restart the instance.\n\n")
    if f['total'] and f['rss'] / f['total'] > 1.4 and f['rss'] - f['total'] > 10 << 20:
        issues.append(
            b" * High total RSS: This instance has a memory fragmentation and RSS overhead "
            b"greater than 1.4 (this means that the Resident Set Size of the Redis process "
            b"is much larger than the sum of the logical allocations Redis performed). This "
            b"problem is usually due either to a large peak memory (check if there is a "
            b"peak memory entry above in the report) or may result from a workload that "
            b"causes the allocator to fragment memory a lot. If the problem is a large peak "
            b"memory, then there is no issue. Otherwise, make sure you are using the Jemalloc "
            b"allocator and not the default libc malloc.\n\n")
    if not issues:
        return NO_ISSUES_REPORT
    return (b"Sam, I detected a few issues in this Redis instance memory implants:\n\n" +
            b''.join(issues) +
            b"I'm here to keep you safe, Sam. I want to help you.\n")


@command('memory|doctor')
def memory_doctor(c, argv):
    return encode(Verbatim(doctor_report(c.server)), c.resp)


@command('memory|malloc-stats')
def memory_malloc_stats(c, argv):
    return encode(Verbatim(b'Stats not supported for the current allocator'), c.resp)


@command('memory|purge')
def memory_purge(c, argv):
    memory.malloc_trim()
    return OK


MEMORY_HELP = [
    'DOCTOR',
    '    Return memory problems reports.',
    'MALLOC-STATS',
    '    Return internal statistics report from the memory allocator.',
    'PURGE',
    '    Attempt to purge dirty pages for reclamation by the allocator.',
    'STATS',
    '    Return information about the memory usage of the server.',
    'USAGE <key> [SAMPLES <count>]',
    '    Return memory in bytes used by <key> and its value. Nested values are',
    '    sampled up to <count> times (default: 5, 0 means sample all).',
]


@command('memory|help')
def memory_help(c, argv):
    return help_reply('MEMORY', MEMORY_HELP)


# -- INFO memory ---------------------------------------------------------------------

def info_memory(server):
    """The generic INFO memory section with the allocator-derived fields:
    the ratios are RSS over everything the allocators hold (interpreter
    included), since RSS includes it too."""
    from .info import info_memory as generic
    pairs = generic(server)
    mem = server.memory
    total = mem.baseline + mem.used
    rss = memory.rss_bytes()
    server.used_memory_startup = 0
    fixed = {
        'allocator_allocated': total,
        'allocator_active': total,
        'allocator_resident': rss,
        'allocator_rss_ratio': '%.2f' % (rss / total if total else 0),
        'allocator_rss_bytes': rss - total,
        'mem_fragmentation_ratio': '%.2f' % (rss / total if total else 0),
        'mem_fragmentation_bytes': rss - total,
        'used_memory_peak': mem.peak,
        'used_memory_peak_human': bytes_to_human(mem.peak).decode(),
        'used_memory_peak_perc': '%.2f%%' % (mem.used * 100.0 / mem.peak if mem.peak else 0),
    }
    return [(k, fixed.get(k, v)) for k, v in pairs]


def attach(server):
    server.info_sections['memory'] = info_memory
