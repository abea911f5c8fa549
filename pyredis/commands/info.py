"""INFO (server.c's genRedisInfoString).

INFO is assembled from sections; each is a function returning (field, value)
pairs. Subsystems in other modules provide or extend their own section
through ``server.info_sections`` (persistence: commands/persistence.py and
aof.py; replication; memory: commands/memory.py) so that this module does
not need to know about them.
"""

import os
import platform
import resource
import sys
from time import perf_counter_ns

from . import command, all_commands
from .. import resp
from ..util import bytes_to_human
from ..config import REDIS_VERSION
from ..memory import rss_bytes
from .. import clock


# -- INFO -------------------------------------------------------------------

DEFAULT_SECTIONS = ['server', 'clients', 'memory', 'persistence', 'stats', 'replication',
                    'cpu', 'modules', 'errorstats', 'cluster', 'keyspace']
ALL_SECTIONS = DEFAULT_SECTIONS[:8] + ['commandstats', 'errorstats', 'latencystats',
                                       'cluster', 'keyspace']


def info_server(server):
    uptime = int(clock.time() - server.start_time)
    config = server.config
    return [
        ('redis_version', REDIS_VERSION),
        ('redis_git_sha1', '00000000'),
        ('redis_git_dirty', 0),
        ('redis_build_id', '0'),
        ('redis_mode', 'cluster' if config.cluster_enabled else 'standalone'),
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
        ('server_time_usec', clock.time_ns() // 1000),
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
        ('cluster_connections', 0 if server.cluster is None else server.cluster.connections()),
        ('maxclients', server.config.maxclients),
        ('client_recent_max_input_buffer', 0),
        ('client_recent_max_output_buffer', max(server.output_peaks)),
        ('blocked_clients', server.blocked_clients),
        ('tracking_clients', len(server.tracking.clients)),
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
    clients_normal_replicas = server.client_memory_by_kind()
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
    ] + (server.scripting.memory_fields() if server.scripting is not None else [
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
    ]) + [
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
        ('mem_clients_slaves', clients_normal_replicas[1]),
        ('mem_clients_normal', clients_normal_replicas[0]),
        ('mem_cluster_links', 0 if server.cluster is None else server.cluster.links_memory()),
        ('mem_aof_buffer', 0),
        ('mem_allocator', 'libc'),
        ('active_defrag_running', 0),
        ('lazyfree_pending_objects', server.lazyfree.pending),
        ('lazyfreed_objects', server.lazyfree.freed),
    ]


def info_stats(server):
    st = server.stat
    pubsub = server.pubsub
    exceeded = ((perf_counter_ns() - st.eviction_exceeded_start) // 1000
                if st.eviction_exceeded_start else 0)
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
        ('evicted_clients', server.stat.evicted_clients),
        # (milliseconds: the periods over maxmemory, evict.py's perform_evictions)
        ('total_eviction_exceeded_time', (st.eviction_exceeded_us + exceeded) // 1000),
        ('current_eviction_exceeded_time', exceeded // 1000),
        ('keyspace_hits', st.keyspace_hits + sum(db.hits for db in server.dbs)),
        ('keyspace_misses', st.keyspace_misses + sum(db.misses for db in server.dbs)),
        ('pubsub_channels', pubsub.num_channels() if pubsub else 0),
        ('pubsub_patterns', pubsub.num_patterns() if pubsub else 0),
        ('pubsubshard_channels', pubsub.num_shard_channels() if pubsub else 0),
        ('latest_fork_usec', st.latest_fork_usec),
        ('total_forks', st.total_forks),
        ('migrate_cached_sockets', 0),
        ('slave_expires_tracked_keys', 0),
        ('active_defrag_hits', 0),
        ('active_defrag_misses', 0),
        ('active_defrag_key_hits', 0),
        ('active_defrag_key_misses', 0),
        ('total_active_defrag_time', 0),
        ('current_active_defrag_time', 0),
        ('tracking_total_keys', len(server.tracking.table)),
        ('tracking_total_items', server.tracking.items),
        ('tracking_total_prefixes', len(server.tracking.prefixes)),
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
    return [('cluster_enabled', int(bool(server.config.cluster_enabled)))]


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
