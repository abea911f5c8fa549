"""Server commands: DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, INFO, TIME, LASTSAVE,
SHUTDOWN, DEBUG, COMMAND and its subcommands.

INFO is assembled from sections; each is a function returning (field, value)
pairs. Subsystems in other modules provide or extend their own section
through ``server.info_sections`` (persistence: commands/persistence.py and
aof.py; replication; memory: evict.py) so that this module does not need to
know about them. LASTSAVE lives with the persistence commands.
"""

import os
import platform
import re
import resource
import sys
import time

from . import command, all_commands, lookup, TABLE
from .. import facts
from .. import resp
from ..resp import OK, integer, error, help_reply, SYNTAX_ERR
from ..util import string2ll, bytes_to_human, glob_match, c_string
from ..config import REDIS_VERSION
from ..evict import rss_bytes
from .connection import get_int


@command('dbsize')
def dbsize(c, argv):
    return integer(len(c.db.data))


def _flush_mode(argv):
    if len(argv) > 2:
        return None
    if len(argv) == 2 and argv[1].lower() not in (b'sync', b'async'):
        return None
    return True


@command('flushdb')
def flushdb(c, argv):
    if _flush_mode(argv) is None:
        return SYNTAX_ERR
    server = c.server
    server.dirty += len(c.db.data) + 1
    c.db.clear()
    for hook in server.flush_hooks:
        hook(server, c.db)
    return OK


@command('flushall')
def flushall(c, argv):
    if _flush_mode(argv) is None:
        return SYNTAX_ERR
    server = c.server
    for db in server.dbs:
        server.dirty += len(db.data)
        db.clear()
        for hook in server.flush_hooks:
            hook(server, db)
    server.dirty += 1
    for hook in server.flushall_hooks:
        hook(server)
    return OK


@command('swapdb')
def swapdb(c, argv):
    a = get_int(argv[1], b'ERR invalid first DB index')
    if a.__class__ is bytes:
        return a
    b = get_int(argv[2], b'ERR invalid second DB index')
    if b.__class__ is bytes:
        return b
    server = c.server
    n = len(server.dbs)
    if a < 0 or a >= n or b < 0 or b >= n:
        return b'-ERR DB index is out of range\r\n'
    if a != b:
        da, db = server.dbs[a], server.dbs[b]
        # WATCHed keys of both databases may now see different values.
        server.touch_all_watched_keys_in_db(da, db)
        server.touch_all_watched_keys_in_db(db, da)
        for attr in ('data', 'expires', 'lru', 'avg_ttl', 'expire_scan', 'expire_scan_pos',
                     'scan_index'):
            va, vb = getattr(da, attr), getattr(db, attr)
            setattr(da, attr, vb)
            setattr(db, attr, va)
        for d in (da, db):
            for key in d.blocking_keys:
                if key in d.data:
                    server.signal_key_ready(d, key)
        server.dirty += 1
    return OK


@command('time')
def time_(c, argv):
    t = time.time_ns() // 1000
    s, us = divmod(t, 1000000)
    return resp.bulk_array([b'%d' % s, b'%d' % us])


@command('shutdown')
def shutdown(c, argv):
    save = None
    now = force = abort = False
    for a in argv[1:]:
        o = a.lower()
        if o == b'nosave':
            save = False
        elif o == b'save':
            save = True
        elif o == b'now':
            now = True
        elif o == b'force':
            force = True
        elif o == b'abort':
            abort = True
        else:
            return SYNTAX_ERR
    if abort:
        if save is not None or now or force:
            return SYNTAX_ERR
        return b'-ERR No shutdown in progress.\r\n'
    if save is True and c.server.config.save == [] and False:
        pass
    err = c.server.shutdown(save=save, now=now)
    if err:
        return error(err.encode() if isinstance(err, str) else err)
    return None


# -- INFO -------------------------------------------------------------------

DEFAULT_SECTIONS = ['server', 'clients', 'memory', 'persistence', 'stats', 'replication',
                    'cpu', 'modules', 'errorstats', 'cluster', 'keyspace']
ALL_SECTIONS = DEFAULT_SECTIONS[:8] + ['commandstats', 'errorstats', 'latencystats',
                                       'cluster', 'keyspace']


def info_server(server):
    uptime = int(time.time() - server.start_time)
    config = server.config
    return [
        ('redis_version', REDIS_VERSION),
        ('redis_git_sha1', '00000000'),
        ('redis_git_dirty', 0),
        ('redis_build_id', '0'),
        ('redis_mode', 'standalone'),
        ('os', '%s %s %s' % (platform.system(), platform.release(), platform.machine())),
        ('arch_bits', 64),
        ('monotonic_clock', 'POSIX clock_gettime'),
        ('multiplexing_api', 'epoll'),
        ('atomicvar_api', 'c11-builtin'),
        ('gcc_version', '0.0.0'),
        ('process_id', os.getpid()),
        ('process_supervised', 'no'),
        ('run_id', server.run_id),
        ('tcp_port', config.port),
        ('server_time_usec', time.time_ns() // 1000),
        ('uptime_in_seconds', uptime),
        ('uptime_in_days', uptime // 86400),
        ('hz', server.hz),
        ('configured_hz', config.hz),
        ('lru_clock', server.lruclock),
        ('executable', os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ''),
        ('config_file', config.config_file or ''),
        ('io_threads_active', 0),
    ]


def info_clients(server):
    clients = server.clients.values()
    return [
        ('connected_clients', sum(1 for c in clients if not c.is_replica)),
        ('cluster_connections', 0),
        ('maxclients', server.config.maxclients),
        ('client_recent_max_input_buffer', 0),
        ('client_recent_max_output_buffer', 0),
        ('blocked_clients', server.blocked_clients),
        ('tracking_clients', 0),
        ('clients_in_timeout_table', getattr(server, 'clients_in_timeout_table', 0)),
    ]


def used_memory(server):
    """The memory module replaces this with its own accounting."""
    return rss_bytes()


def info_memory(server):
    used = server.used_memory() if hasattr(server, 'used_memory') else used_memory(server)
    rss = rss_bytes()
    peak = max(getattr(server, 'used_memory_peak', 0), used)
    server.used_memory_peak = peak
    try:
        total = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (ValueError, OSError):
        total = 0
    maxmemory = server.config.maxmemory
    # Redis's own breakdown: the memory in use when the server became ready
    # is its startup overhead, the rest is the dataset.
    startup = getattr(server, 'used_memory_startup', None)
    if startup is None:
        startup = server.used_memory_startup = used
    startup = min(startup, used)
    dataset = used - startup
    return [
        ('used_memory', used),
        ('used_memory_human', bytes_to_human(used).decode()),
        ('used_memory_rss', rss),
        ('used_memory_rss_human', bytes_to_human(rss).decode()),
        ('used_memory_peak', peak),
        ('used_memory_peak_human', bytes_to_human(peak).decode()),
        ('used_memory_peak_perc', '%.2f%%' % (used * 100.0 / peak if peak else 0)),
        ('used_memory_overhead', startup),
        ('used_memory_startup', startup),
        ('used_memory_dataset', dataset),
        ('used_memory_dataset_perc', '%.2f%%' % (dataset * 100.0 / used if used else 0)),
        ('allocator_allocated', used),
        ('allocator_active', used),
        ('allocator_resident', rss),
        ('total_system_memory', total),
        ('total_system_memory_human', bytes_to_human(total).decode()),
        ('used_memory_lua', 0),
        ('used_memory_vm_eval', 0),
        ('used_memory_lua_human', '0B'),
        ('used_memory_scripts_eval', 0),
        ('number_of_cached_scripts', 0),
        ('number_of_functions', 0),
        ('number_of_libraries', 0),
        ('used_memory_vm_functions', 0),
        ('used_memory_vm_total', 0),
        ('used_memory_vm_total_human', '0B'),
        ('used_memory_functions', 0),
        ('used_memory_scripts', 0),
        ('used_memory_scripts_human', '0B'),
        ('maxmemory', maxmemory),
        ('maxmemory_human', bytes_to_human(maxmemory).decode()),
        ('maxmemory_policy', server.config.maxmemory_policy),
        ('allocator_frag_ratio', '1.00'),
        ('allocator_frag_bytes', 0),
        ('allocator_rss_ratio', '%.2f' % (rss / used if used else 0)),
        ('allocator_rss_bytes', rss - used),
        ('rss_overhead_ratio', '1.00'),
        ('rss_overhead_bytes', 0),
        ('mem_fragmentation_ratio', '%.2f' % (rss / used if used else 0)),
        ('mem_fragmentation_bytes', rss - used),
        ('mem_not_counted_for_evict', 0),
        ('mem_replication_backlog', 0),
        ('mem_total_replication_buffers', 0),
        ('mem_clients_slaves', 0),
        ('mem_clients_normal', 0),
        ('mem_cluster_links', 0),
        ('mem_aof_buffer', 0),
        ('mem_allocator', 'libc'),
        ('active_defrag_running', 0),
        ('lazyfree_pending_objects', 0),
        ('lazyfreed_objects', 0),
    ]


def info_stats(server):
    st = server.stat
    pubsub = server.pubsub
    return [
        ('total_connections_received', st.numconnections),
        ('total_commands_processed', server.total_commands()),
        ('instantaneous_ops_per_sec', st.instantaneous_ops),
        ('total_net_input_bytes', sum(c.tot_net_in for c in server.clients.values())
         + st.net_input_bytes),
        ('total_net_output_bytes', sum(c.tot_net_out for c in server.clients.values())
         + st.net_output_bytes),
        ('total_net_repl_input_bytes', 0),
        ('total_net_repl_output_bytes', 0),
        ('instantaneous_input_kbps', '0.00'),
        ('instantaneous_output_kbps', '0.00'),
        ('instantaneous_input_repl_kbps', '0.00'),
        ('instantaneous_output_repl_kbps', '0.00'),
        ('rejected_connections', st.rejected_conn),
        ('sync_full', 0),
        ('sync_partial_ok', 0),
        ('sync_partial_err', 0),
        ('expired_keys', st.expired_keys),
        ('expired_stale_perc', '%.2f' % (st.expired_stale_perc * 100)),
        ('expired_time_cap_reached_count', st.expired_time_cap_reached_count),
        ('expire_cycle_cpu_milliseconds', int(st.expire_cycle_time_used * 1000)),
        ('evicted_keys', st.evicted_keys),
        ('evicted_clients', 0),
        ('total_eviction_exceeded_time', 0),
        ('current_eviction_exceeded_time', 0),
        ('keyspace_hits', st.keyspace_hits + sum(db.hits for db in server.dbs)),
        ('keyspace_misses', st.keyspace_misses + sum(db.misses for db in server.dbs)),
        ('pubsub_channels', pubsub.num_channels() if pubsub else 0),
        ('pubsub_patterns', pubsub.num_patterns() if pubsub else 0),
        ('pubsubshard_channels', pubsub.num_shard_channels() if pubsub else 0),
        ('latest_fork_usec', 0),
        ('total_forks', 0),
        ('migrate_cached_sockets', 0),
        ('slave_expires_tracked_keys', 0),
        ('active_defrag_hits', 0),
        ('active_defrag_misses', 0),
        ('active_defrag_key_hits', 0),
        ('active_defrag_key_misses', 0),
        ('total_active_defrag_time', 0),
        ('current_active_defrag_time', 0),
        ('tracking_total_keys', 0),
        ('tracking_total_items', 0),
        ('tracking_total_prefixes', 0),
        ('unexpected_error_replies', 0),
        ('total_error_replies', st.total_error_replies),
        ('dump_payload_sanitizations', 0),
        ('total_reads_processed', 0),
        ('total_writes_processed', 0),
        ('io_threaded_reads_processed', 0),
        ('io_threaded_writes_processed', 0),
        ('reply_buffer_shrinks', 0),
        ('reply_buffer_expands', 0),
    ]


def info_replication(server):
    return [
        ('role', 'master'),
        ('connected_slaves', 0),
        ('master_failover_state', 'no-failover'),
        ('master_replid', server.run_id),
        ('master_replid2', '0' * 40),
        ('master_repl_offset', 0),
        ('second_repl_offset', -1),
        ('repl_backlog_active', 0),
        ('repl_backlog_size', 1048576),
        ('repl_backlog_first_byte_offset', 0),
        ('repl_backlog_histlen', 0),
    ]


def info_cpu(server):
    self_ = resource.getrusage(resource.RUSAGE_SELF)
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return [
        ('used_cpu_sys', '%.6f' % self_.ru_stime),
        ('used_cpu_user', '%.6f' % self_.ru_utime),
        ('used_cpu_sys_children', '%.6f' % child.ru_stime),
        ('used_cpu_user_children', '%.6f' % child.ru_utime),
        ('used_cpu_sys_main_thread', '%.6f' % self_.ru_stime),
        ('used_cpu_user_main_thread', '%.6f' % self_.ru_utime),
    ]


def info_commandstats(server):
    out = []
    for cmd in all_commands():
        cmds = list(cmd.subcommands.values()) if cmd.subcommands is not None else [cmd]
        for x in cmds:
            if x.calls or x.rejected_calls or x.failed_calls:
                usec = x.duration // 1000
                out.append(('cmdstat_%s' % x.fullname,
                            'calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,'
                            'failed_calls=%d' % (x.calls, usec, usec / x.calls if x.calls else 0,
                                                 x.rejected_calls, x.failed_calls)))
    return out


def info_errorstats(server):
    return [('errorstat_%s' % code.decode('latin-1'), 'count=%d' % n)
            for code, n in sorted(server.stat.errors.items())]


def info_keyspace(server):
    out = []
    for db in server.dbs:
        if db.data:
            out.append(('db%d' % db.id, 'keys=%d,expires=%d,avg_ttl=%d' % (
                len(db.data), len(db.expires), int(db.avg_ttl))))
    return out


def info_cluster(server):
    return [('cluster_enabled', 0)]


def info_empty(server):
    return []


SECTIONS = {
    'server': info_server, 'clients': info_clients, 'memory': info_memory,
    'stats': info_stats,
    'replication': info_replication, 'cpu': info_cpu, 'modules': info_empty,
    'commandstats': info_commandstats, 'errorstats': info_errorstats,
    'latencystats': info_empty, 'cluster': info_cluster, 'keyspace': info_keyspace,
}


def gen_info(server, names):
    wanted = []
    if not names:
        wanted = DEFAULT_SECTIONS
    else:
        for n in names:
            n = n.lower()
            if n in ('all', 'everything'):
                wanted += ALL_SECTIONS
            elif n == 'default':
                wanted += DEFAULT_SECTIONS
            else:
                wanted.append(n)
    seen = set()
    parts = []
    for name in wanted:
        if name in seen:
            continue
        seen.add(name)
        fn = server.info_sections.get(name) or SECTIONS.get(name)
        if fn is None:
            continue
        lines = ['# %s' % name.capitalize() if name != 'cpu' else '# CPU']
        for k, v in fn(server):
            lines.append('%s:%s' % (k, v))
        parts.append('\r\n'.join(lines) + '\r\n')
    return '\r\n'.join(parts).encode()


@command('info')
def info(c, argv):
    text = gen_info(c.server, [a.decode('latin-1') for a in argv[1:]])
    return resp.encode(resp.Verbatim(text), c.resp)


# -- DEBUG --------------------------------------------------------------------

DEBUG_DENIED = (b'-ERR DEBUG command not allowed. If the enable-debug-command option is set '
                b'to "local", you can run it from a local connection, otherwise you need to '
                b'set this option in the configuration file, and then restart the server.\r\n')


def debug_allowed(c):
    mode = getattr(c.server.config, 'enable_debug_command', 'no')
    if mode in ('yes', True):
        return True
    if mode == 'local':
        return c.unix or c.addr.startswith(b'127.') or c.addr.startswith(b'::1')
    return False


def _serialized_length(server, v):
    """rdbSavedObjectLen: the size of the value in an RDB file."""
    try:
        from .. import rdb
        return len(rdb.encode_value(v, rdb.Options(server.config))[1])
    except Exception:
        return len(v) if isinstance(v, (bytes, bytearray)) else 0


# Redis 7.0's own DEBUG HELP text (not every subcommand exists here).
DEBUG_HELP = [
    'AOF-FLUSH-SLEEP <microsec>',
    '    Server will sleep before flushing the AOF, this is used for testing.',
    'ASSERT',
    '    Crash by assertion failed.',
    'CHANGE-REPL-ID',
    '    Change the replication IDs of the instance.',
    '    Dangerous: should be used only for testing the replication subsystem.',
    'CONFIG-REWRITE-FORCE-ALL',
    '    Like CONFIG REWRITE but writes all configuration options, including',
    '    keywords not listed in original configuration file or default values.',
    'CRASH-AND-RECOVER [<milliseconds>]',
    '    Hard crash and restart after a <milliseconds> delay (default 0).',
    'DIGEST',
    '    Output a hex signature representing the current DB content.',
    'DIGEST-VALUE <key> [<key> ...]',
    '    Output a hex signature of the values of all the specified keys.',
    'ERROR <string>',
    '    Return a Redis protocol error with <string> as message. Useful for clients',
    '    unit tests to simulate Redis errors.',
    'LEAK <string>',
    '    Create a memory leak of the input string.',
    'LOG <message>',
    '    Write <message> to the server log.',
    'HTSTATS <dbid>',
    '    Return hash table statistics of the specified Redis database.',
    'HTSTATS-KEY <key>',
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    'LOADAOF',
    '    Flush the AOF buffers on disk and reload the AOF in memory.',
    'REPLICATE <string>',
    '    Replicates the provided string to replicas, allowing data divergence.',
    'MALLCTL <key> [<val>]',
    '    Get or set a malloc tuning integer.',
    'MALLCTL-STR <key> [<val>]',
    '    Get or set a malloc tuning string.',
    'OBJECT <key>',
    '    Show low level info about `key` and associated value.',
    'DROP-CLUSTER-PACKET-FILTER <packet-type>',
    '    Drop all packets that match the filtered type. Set to -1 allow all packets.',
    'OOM',
    '    Crash the server simulating an out-of-memory error.',
    'PANIC',
    '    Crash the server simulating a panic.',
    'POPULATE <count> [<prefix>] [<size>]',
    '    Create <count> string keys named key:<num>. If <prefix> is specified then',
    "    it is used instead of the 'key' prefix. These are not propagated to",
    '    replicas. Cluster slots are not respected so keys not belonging to the',
    '    current node can be created in cluster mode.',
    'PROTOCOL <type>',
    '    Reply with a test value of the specified type. <type> can be: string,',
    '    integer, double, bignum, null, array, set, map, attrib, push, verbatim,',
    '    true, false.',
    'RELOAD [option ...]',
    '    Save the RDB on disk and reload it back to memory. Valid <option> values:',
    '    * MERGE: conflicting keys will be loaded from RDB.',
    '    * NOFLUSH: the existing database will not be removed before load, but',
    '      conflicting keys will generate an exception and kill the server.',
    '    * NOSAVE: the database will be loaded from an existing RDB file.',
    '    Examples:',
    '    * DEBUG RELOAD: verify that the server is able to persist, flush and reload',
    '      the database.',
    '    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an',
    '      existing RDB file.',
    '    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB',
    '      file to the database.',
    'RESTART [<milliseconds>]',
    '    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).',
    'SDSLEN <key>',
    '    Show low level SDS string info representing `key` and value.',
    'SEGFAULT',
    '    Crash the server with sigsegv.',
    'SET-ACTIVE-EXPIRE <0|1>',
    '    Setting it to 0 disables expiring keys in background when they are not',
    '    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the',
    '    default.',
    'QUICKLIST-PACKED-THRESHOLD <size>',
    '    Sets the threshold for elements to be inserted as plain vs packed nodes',
    '    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.',
    'SET-SKIP-CHECKSUM-VALIDATION <0|1>',
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    'SLEEP <seconds>',
    '    Stop the server for <seconds>. Decimals allowed.',
    'STRINGMATCH-TEST',
    '    Run a fuzz tester against the stringmatchlen() function.',
    'STRUCTSIZE',
    '    Return the size of different Redis core C structures.',
    'LISTPACK <key>',
    '    Show low level info about the listpack encoding of <key>.',
    'QUICKLIST <key> [<0|1>]',
    '    Show low level info about the quicklist encoding of <key>.',
    '    The optional argument (0 by default) sets the level of detail',
    'CLIENT-EVICTION',
    '    Show low level client eviction pools info (maxmemory-clients).',
    'PAUSE-CRON <0|1>',
    '    Stop periodic cron job processing.',
    'REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>',
    '    Sets the time (in milliseconds) to wait between client reply buffer peak resets.',
    '    In case NEVER is provided the last observed peak will never be reset',
    '    In case RESET is provided the peak reset time will be restored to the default value',
    'REPLYBUFFER RESIZING <0|1>',
    '    Enable or disable the reply buffer resize cron job',
    'CLUSTERLINK KILL <to|from|all> <node-id>',
    '    Kills the link based on the direction to/from (both) with the provided node.',
]




@command('debug')
def debug(c, argv):
    if not debug_allowed(c):
        return DEBUG_DENIED
    sub = argv[1].lower()
    server = c.server
    if sub == b'sleep' and len(argv) == 3:
        from ..util import strtod
        # As nanosleep(): a negative or unparsable time sleeps not at all.
        secs = strtod(argv[2]) or 0
        if secs > 0:
            time.sleep(secs)
        return OK
    if sub == b'set-active-expire' and len(argv) == 3:
        # atoi(): "x" or "00" turn it off as surely as "0".
        m = re.match(rb'\s*([+-]?\d+)', argv[2])
        server.active_expire_enabled = bool(m and int(m.group(1)))
        return OK
    if sub == b'object' and len(argv) == 3:
        db = c.db
        if argv[2] not in db.data:
            return b'-ERR no such key\r\n'
        from .keys import object_refcount
        from ..values import object_encoding
        v = db.data[argv[2]]
        enc = object_encoding(server, v)
        lru = db.lru.get(argv[2], server.lruclock)
        idle = (server.lruclock - lru) & ((1 << 24) - 1)
        refcount = int(object_refcount(c, [b'object', b'refcount', argv[2]])[1:-2])
        return resp.status(b'Value at:0x%x refcount:%d encoding:%s serializedlength:%d '
                           b'lru:%d lru_seconds_idle:%d' % (
                               id(v), refcount, enc, _serialized_length(server, v), lru, idle))
    if sub == b'jmap' or sub == b'log':
        return OK
    if sub == b'change-repl-id':
        return OK
    handler = server.debug_subcommands.get(sub)
    if handler is not None:
        return handler(c, argv)
    if sub == b'help' and len(argv) == 2:
        return help_reply('DEBUG', DEBUG_HELP)
    return error(b"ERR unknown subcommand or wrong number of arguments for '%s'. Try DEBUG HELP."
                 % c_string(argv[1])[:128])


# -- COMMAND ------------------------------------------------------------------

# Redis lists commands and subcommands in the order of its command dict,
# which depends on the hash seed of each start; pyredis shows the
# implemented ones in facts.py's order (by name).
_SPEC_ORDER = {name: i for i, name in enumerate(facts.INFO)}


def implemented_commands():
    return sorted(all_commands(), key=lambda x: _SPEC_ORDER.get(x.fullname, 1 << 30))


def implemented_subcommands(cmd):
    """cmd's implemented subcommands, in Redis's order."""
    order = {s[0]: i for i, s in enumerate(cmd.info[9])}
    subs = [s for s in cmd.subcommands.values() if s.proc is not None]
    return sorted(subs, key=lambda s: order.get(s.fullname.encode(), 1 << 30))


def command_info(cmd):
    info = list(cmd.info)
    if cmd.subcommands is not None:
        info[9] = [command_info(s) for s in implemented_subcommands(cmd)]
    return info


@command('command')
def command_(c, argv):
    return resp.encode([command_info(x) for x in implemented_commands()], c.resp)


@command('command|count')
def command_count(c, argv):
    return integer(len(all_commands()))


@command('command|list')
def command_list(c, argv):
    names = []
    for x in implemented_commands():
        names.append(x.fullname.encode())
        if x.subcommands:
            names.extend(s.fullname.encode() for s in implemented_subcommands(x))
    if len(argv) == 2:
        return resp.bulk_array(names)
    if len(argv) == 5 and argv[2].lower() == b'filterby':
        kind, val = argv[3].lower(), argv[4]
        if kind == b'pattern':
            names = [n for n in names if glob_match(val, n, nocase=True)]
        elif kind == b'aclcat':
            cat = b'@' + val.lower()
            names = [n for n in names if cat in [x.encode() for x in _find(n).info[6]]]
        elif kind == b'module':
            names = []
        else:
            return SYNTAX_ERR
        return resp.bulk_array(names)
    return SYNTAX_ERR


def _find(fullname):
    parts = fullname.split(b'|')
    cmd = TABLE.get(parts[0])
    if len(parts) == 2 and cmd is not None and cmd.subcommands:
        return cmd.subcommands.get(parts[1])
    return cmd


def _lookup_for_info(name):
    cmd = _find(name.lower())
    if cmd is None or not cmd.implemented():
        return None
    return cmd


@command('command|info')
def command_info_cmd(c, argv):
    if len(argv) == 2:
        return command_(c, argv)
    out = []
    for name in argv[2:]:
        cmd = _lookup_for_info(name)
        out.append(command_info(cmd) if cmd is not None else None)
    return resp.encode(out, c.resp)


def command_docs(cmd):
    docs = dict(cmd.docs or {})
    if cmd.subcommands is not None and b'subcommands' in docs:
        docs[b'subcommands'] = {s.fullname.encode(): command_docs(s)
                                for s in implemented_subcommands(cmd)}
    return docs


@command('command|docs')
def command_docs_cmd(c, argv):
    out = {}
    if len(argv) == 2:
        for x in implemented_commands():
            out[x.fullname.encode()] = command_docs(x)
    else:
        for name in argv[2:]:
            cmd = _lookup_for_info(name)
            if cmd is not None:
                out[cmd.fullname.encode()] = command_docs(cmd)
    return resp.encode(out, c.resp)


def get_keys(argv):
    """Keys of a full command line, as COMMAND GETKEYS finds them: a list of
    (position, flags) pairs, or an error reply (getKeysSubcommandImpl)."""
    cmd = lookup(argv[0])
    if cmd is not None and cmd.subcommands is not None and len(argv) >= 2:
        cmd = cmd.subcommands.get(argv[1].lower())
    if cmd is None:
        return b'-ERR Invalid command specified\r\n'
    specs = cmd.info[8]
    has_keyspec = any('not_key' not in s[b'flags'] for s in specs)
    if not has_keyspec and cmd.keys_proc is None and cmd.fullname not in KEY_FLAG_PROCS:
        return b'-ERR The command has no key arguments\r\n'
    if len(argv) < cmd.min_args or len(argv) > cmd.max_args:
        return b'-ERR Invalid number of arguments specified for command\r\n'
    keys = None
    if has_keyspec and not any('variable_flags' in s[b'flags'] for s in specs):
        keys = keys_from_specs(specs, argv)
    if keys is None:
        # The command's own key finder, as Redis falls back to getkeys_proc.
        proc = KEY_FLAG_PROCS.get(cmd.fullname)
        if proc is not None:
            keys = proc(argv)
        elif cmd.keys_proc is not None:
            found = cmd.keys_proc(argv)
            if found.__class__ is bytes:
                return found
            flags = tuple(specs[0][b'flags']) if specs else ()
            keys = [(i, flags) for i in found]
        elif has_keyspec:
            keys = keys_from_specs(specs, argv) or []
        else:
            keys = []
    if not keys and 'no_mandatory_keys' not in cmd.flags:
        return b'-ERR Invalid arguments specified for command\r\n'
    return keys


def keys_from_specs(specs, argv):
    """getKeysUsingKeySpecs: the keys every key spec finds, or None when a
    spec does not apply (Redis then asks the command's key finder)."""
    argc = len(argv)
    out = []
    for spec_ in specs:
        bs, fk = spec_[b'begin_search'], spec_[b'find_keys']
        if bs[b'type'] == b'index':
            first = bs[b'spec'][b'index']
        elif bs[b'type'] == b'keyword':
            keyword = bs[b'spec'][b'keyword'].lower()
            startfrom = bs[b'spec'][b'startfrom']
            if startfrom > 0:
                candidates = range(startfrom, argc)
            else:
                candidates = range(argc + startfrom, 0, -1)
            first = 0
            for i in candidates:
                if i >= argc or i < 1:
                    break
                if argv[i].lower() == keyword:
                    first = i + 1
                    break
            if not first:
                continue
        else:
            return None
        if fk[b'type'] == b'range':
            lastkey, limit = fk[b'spec'][b'lastkey'], fk[b'spec'][b'limit']
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
            step = fk[b'spec'][b'keystep']
        elif fk[b'type'] == b'keynum':
            idx = first + fk[b'spec'][b'keynumidx']
            if idx >= argc:
                return None
            numkeys = string2ll(argv[idx])
            if numkeys is None or numkeys < 0:
                return None
            first += fk[b'spec'][b'firstkey']
            last = first + numkeys - 1
            step = fk[b'spec'][b'keystep']
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        if 'incomplete' in spec_[b'flags']:
            return None
        flags = tuple(spec_[b'flags'])
        out.extend((i, flags) for i in range(first, last + 1, step))
    return out


def _set_key_flags(argv):
    # setGetKeys: with GET the key is also read.
    for a in argv[3:]:
        if a.lower() == b'get':
            return [(1, ('RW', 'access', 'update'))]
    return [(1, ('OW', 'update'))]


def _bitfield_key_flags(argv):
    # bitfieldGetKeys: read-only unless a SET/INCRBY (or a syntax error).
    i = 2
    while i < len(argv):
        left = len(argv) - i - 1
        arg = argv[i].lower()
        if arg == b'get' and left >= 2:
            i += 3
        elif arg == b'overflow' and left >= 1:
            i += 2
        else:
            return [(1, ('RW', 'access', 'update'))]
    return [(1, ('RO', 'access'))]


# Commands whose key flags depend on the arguments (getkeys_proc in Redis).
KEY_FLAG_PROCS = {'set': _set_key_flags, 'bitfield': _bitfield_key_flags}


@command('command|getkeys')
def command_getkeys(c, argv):
    keys = get_keys(argv[2:])
    if keys.__class__ is bytes:
        return keys
    return resp.bulk_array([argv[2 + i] for i, _ in keys])


@command('command|getkeysandflags')
def command_getkeysandflags(c, argv):
    keys = get_keys(argv[2:])
    if keys.__class__ is bytes:
        return keys
    return resp.encode([[argv[2 + i], flags] for i, flags in keys], c.resp)


COMMAND_HELP = [
    '(no subcommand)',
    '    Return details about all Redis commands.',
    'COUNT',
    '    Return the total number of commands in this Redis server.',
    'LIST',
    '    Return a list of all commands in this Redis server.',
    'INFO [<command-name> ...]',
    '    Return details about multiple Redis commands.',
    '    If no command names are given, documentation details for all',
    '    commands are returned.',
    'DOCS [<command-name> ...]',
    '    Return documentation details about multiple Redis commands.',
    '    If no command names are given, documentation details for all',
    '    commands are returned.',
    'GETKEYS <full-command>',
    '    Return the keys from a full Redis command.',
    'GETKEYSANDFLAGS <full-command>',
    '    Return the keys and the access flags from a full Redis command.',
]


@command('command|help')
def command_help(c, argv):
    return help_reply('COMMAND', COMMAND_HELP)


def _reset_db_stats(server):
    # Keyspace hits/misses are counted per database on the lookup path.
    for db in server.dbs:
        db.hits = db.misses = 0


def attach(server):
    server.resetstat_hooks.append(_reset_db_stats)
