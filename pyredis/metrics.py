"""Prometheus metrics: an HTTP /metrics endpoint with redis_exporter's names.

``metrics-port`` (0: off) and ``metrics-bind`` start prometheus-client's own
HTTP server in a thread. A scrape must not hold up the commands, and the
data may only be read from the event loop (nothing there is locked): so the
HTTP thread asks the loop for a snapshot - the INFO fields and the command
counters, plain numbers copied in well under a millisecond (the clients'
memory is the clients cron's running sum, not a walk of every client) - and
turns it into the exposition format itself, off the loop, letting go of the
GIL between metric families so the loop never waits long for it.

The names and labels are those of redis_exporter (redis_up,
redis_commands_total{cmd}, redis_db_keys{db}, ...), the values those of
INFO, so dashboards made for Redis show pyredis unchanged. prometheus-client
is imported only when the endpoint is on.
"""

import concurrent.futures
import sys
import threading
import time

from . import log
from .commands import all_commands
from .commands.info import SECTIONS

SWITCH_INTERVAL = 0.0005     # seconds: the longest the loop waits for the GIL
RECENT_READING = 1.0        # seconds: how old a scrape's used_memory may be

# INFO field -> (redis_exporter gauge name, help).
GAUGES = {
    'uptime_in_seconds': 'uptime_in_seconds',
    'process_id': 'process_id',
    'connected_clients': 'connected_clients',
    'blocked_clients': 'blocked_clients',
    'tracking_clients': 'tracking_clients',
    'maxclients': 'max_clients',
    'client_recent_max_input_buffer': 'client_recent_max_input_buffer_bytes',
    'client_recent_max_output_buffer': 'client_recent_max_output_buffer_bytes',
    'used_memory': 'memory_used_bytes',
    'used_memory_rss': 'memory_used_rss_bytes',
    'used_memory_peak': 'memory_used_peak_bytes',
    'used_memory_lua': 'memory_used_lua_bytes',
    'used_memory_scripts': 'memory_used_scripts_bytes',
    'used_memory_startup': 'memory_used_startup_bytes',
    'used_memory_dataset': 'memory_used_dataset_bytes',
    'maxmemory': 'memory_max_bytes',
    'mem_fragmentation_ratio': 'mem_fragmentation_ratio',
    'lazyfree_pending_objects': 'lazyfree_pending_objects',
    'loading': 'loading_dump_file',
    'rdb_changes_since_last_save': 'rdb_changes_since_last_save',
    'rdb_bgsave_in_progress': 'rdb_bgsave_in_progress',
    'rdb_last_save_time': 'rdb_last_save_timestamp_seconds',
    'rdb_last_bgsave_time_sec': 'rdb_last_bgsave_duration_sec',
    'aof_enabled': 'aof_enabled',
    'aof_rewrite_in_progress': 'aof_rewrite_in_progress',
    'aof_last_rewrite_time_sec': 'aof_last_rewrite_duration_sec',
    'connected_slaves': 'connected_slaves',
    'master_repl_offset': 'master_repl_offset',
    'slave_repl_offset': 'slave_repl_offset',
    'repl_backlog_size': 'replication_backlog_bytes',
    'pubsub_channels': 'pubsub_channels',
    'pubsub_patterns': 'pubsub_patterns',
    'latest_fork_usec': 'latest_fork_usec',
    'instantaneous_ops_per_sec': 'instantaneous_ops',
    'instantaneous_input_kbps': 'instantaneous_input_kbps',
    'instantaneous_output_kbps': 'instantaneous_output_kbps',
}

# INFO field -> redis_exporter counter name (without the _total suffix,
# which the exposition adds).
COUNTERS = {
    'total_connections_received': 'connections_received',
    'total_commands_processed': 'commands_processed',
    'rejected_connections': 'rejected_connections',
    'total_net_input_bytes': 'net_input_bytes',
    'total_net_output_bytes': 'net_output_bytes',
    'expired_keys': 'expired_keys',
    'evicted_keys': 'evicted_keys',
    'keyspace_hits': 'keyspace_hits',
    'keyspace_misses': 'keyspace_misses',
    'used_cpu_sys': 'cpu_sys_seconds',
    'used_cpu_user': 'cpu_user_seconds',
    'total_error_replies': 'total_error_replies',
}

# Status fields exported as 1 (ok/up) or 0.
STATUS = {
    'rdb_last_bgsave_status': ('rdb_last_bgsave_status', 'ok'),
    'aof_last_bgrewrite_status': ('aof_last_bgrewrite_status', 'ok'),
    'master_link_status': ('master_link_up', 'up'),
}

INFO_LABELS = ('redis_version', 'redis_mode', 'os', 'arch_bits', 'role', 'run_id',
               'tcp_port', 'process_id', 'maxmemory_policy', 'executable', 'config_file')

SNAPSHOT_SECTIONS = ('server', 'clients', 'memory', 'persistence', 'stats', 'replication',
                     'cpu')


def snapshot(server):
    """The numbers a scrape exports, read in the event loop's thread.
    used_memory is the last reading when it is under a second old (INFO
    itself reads afresh): scrapes back to back would otherwise walk the
    allocator's arenas each time."""
    fields = {}
    fresh = server.__dict__.get('used_memory')
    memory = getattr(server, 'memory', None)
    if fresh is not None and memory is not None:
        server.used_memory = lambda: memory.recent(RECENT_READING)
    try:
        for name in SNAPSHOT_SECTIONS:
            fn = server.info_sections.get(name) or SECTIONS[name]
            for k, v in fn(server):
                fields[k] = v
    finally:
        if fresh is not None:
            server.used_memory = fresh
    commands = []
    for cmd in all_commands():
        for x in (cmd.subcommands.values() if cmd.subcommands is not None else (cmd,)):
            if x.calls or x.rejected_calls or x.failed_calls:
                commands.append((x.fullname, x.calls, x.duration, x.rejected_calls,
                                 x.failed_calls))
    dbs = [(db.id, len(db.data), len(db.expires), db.avg_ttl) for db in server.dbs]
    errors = dict(server.stat.errors)
    return fields, commands, dbs, errors


class ServerCollector:
    """A prometheus-client collector whose numbers come from the server's
    event loop, asked from the HTTP thread."""

    def __init__(self, server):
        self.server = server

    def collect(self):
        # The formatting runs in the HTTP thread, which holds the GIL between
        # I/O calls; left alone it would keep the event loop waiting for up
        # to a switch interval (5 ms). Letting go of the GIL after each
        # family (sleep(0) releases it, and a waiting loop takes it) keeps
        # each hold to one family's formatting.
        for family in self._families():
            yield family
            time.sleep(0)

    def _families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        fut = concurrent.futures.Future()

        def take():
            try:
                fut.set_result(snapshot(self.server))
            except Exception as e:     # reported to the scrape, not the loop
                fut.set_exception(e)

        self.server.loop.call_soon_threadsafe(take)
        fields, commands, dbs, errors = fut.result(timeout=10)
        yield GaugeMetricFamily('redis_up', 'Information about the Redis instance', value=1)
        info = GaugeMetricFamily('redis_instance_info', 'Information about the Redis instance',
                                 labels=INFO_LABELS)
        info.add_metric([str(fields.get(k, '')) for k in INFO_LABELS], 1)
        yield info
        for field, name in GAUGES.items():
            if field in fields:
                yield GaugeMetricFamily('redis_' + name, field + ' metric',
                                        value=float(fields[field]))
        for field, name in COUNTERS.items():
            if field in fields:
                yield CounterMetricFamily('redis_' + name, field + ' metric',
                                          value=float(fields[field]))
        for field, (name, good) in STATUS.items():
            if field in fields:
                yield GaugeMetricFamily('redis_' + name, field + ' metric',
                                        value=1 if fields[field] == good else 0)
        calls = CounterMetricFamily('redis_commands', 'Total number of calls per command',
                                    labels=['cmd'])
        duration = CounterMetricFamily('redis_commands_duration_seconds',
                                       'Total amount of time in seconds spent per command',
                                       labels=['cmd'])
        rejected = CounterMetricFamily('redis_commands_rejected_calls',
                                       'Total number of errors prior command execution per '
                                       'command', labels=['cmd'])
        failed = CounterMetricFamily('redis_commands_failed_calls',
                                     'Total number of errors within command execution per '
                                     'command', labels=['cmd'])
        for name, n, ns, n_rejected, n_failed in commands:
            calls.add_metric([name], n)
            duration.add_metric([name], ns / 1e9)
            rejected.add_metric([name], n_rejected)
            failed.add_metric([name], n_failed)
        yield calls
        yield duration
        yield rejected
        yield failed
        keys = GaugeMetricFamily('redis_db_keys', 'Total number of keys by DB', labels=['db'])
        expiring = GaugeMetricFamily('redis_db_keys_expiring',
                                     'Total number of expiring keys by DB', labels=['db'])
        avg_ttl = GaugeMetricFamily('redis_db_avg_ttl_seconds', 'Avg TTL in seconds',
                                    labels=['db'])
        for dbid, n, n_expiring, ttl_ms in dbs:
            keys.add_metric(['db%d' % dbid], n)
            expiring.add_metric(['db%d' % dbid], n_expiring)
            if n:
                avg_ttl.add_metric(['db%d' % dbid], ttl_ms / 1000)
        yield keys
        yield expiring
        yield avg_ttl
        errs = CounterMetricFamily('redis_errors', 'Total number of errors per error type',
                                   labels=['err'])
        for code, n in sorted(errors.items()):
            errs.add_metric([code.decode('latin-1')], n)
        yield errs


# A waiting thread asks the holder of the GIL to let go after the switch
# interval (5 ms by default): the HTTP thread's Python work between two
# releases could hold the event loop that long. While any endpoint runs, the
# interval is SWITCH_INTERVAL. The interval belongs to the process (servers
# embedded in one process share it): the number of endpoints running is
# counted, and the process's own interval comes back with the last one. (A
# shorter interval costs only while two threads want the GIL at once: more
# hand-overs between them.)
_switch = {'users': 0, 'saved': None}
_switch_lock = threading.Lock()     # (embedded servers start and stop in their own threads)


def _shorten_switch_interval(delta):
    with _switch_lock:
        _switch['users'] += delta
        if delta > 0 and _switch['users'] == 1:
            _switch['saved'] = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch['saved'], SWITCH_INTERVAL))
        elif delta < 0 and _switch['users'] == 0:
            sys.setswitchinterval(_switch['saved'])


class Metrics:
    """The endpoint's life: started with the server, moved by CONFIG SET
    metrics-port / metrics-bind, stopped at shutdown."""

    def __init__(self, server):
        self.server = server
        self.registry = None
        self.httpd = None
        self.address = None
        self.short_switch = False       # counted in _shorten_switch_interval

    def start(self):
        config = self.server.config
        if not config.metrics_port:
            return
        # (Imported only when used: a server without metrics starts faster.)
        from prometheus_client import CollectorRegistry, start_http_server
        if self.registry is None:
            self.registry = CollectorRegistry(auto_describe=False)
            self.registry.register(ServerCollector(self.server))
        try:
            self.httpd, _ = start_http_server(config.metrics_port, config.metrics_bind,
                                              self.registry)
        except OSError as e:
            log.warning('Could not start the metrics endpoint on %s:%d: %s' % (
                config.metrics_bind, config.metrics_port, e.strerror))
            return
        if not self.short_switch:
            self.short_switch = True
            _shorten_switch_interval(+1)
        self.address = self.httpd.server_address[:2]
        log.notice('Metrics served on http://%s:%d/metrics' % self.address)

    def stop(self, then=None):
        """Close the endpoint; ``then`` runs in the loop once it is closed.
        (shutdown() waits for the serving thread to notice, up to half a
        second: another thread waits for it, not the loop.)"""
        httpd, self.httpd = self.httpd, None
        if self.short_switch:
            self.short_switch = False
            _shorten_switch_interval(-1)
        if httpd is None:
            if then is not None:
                then()
            return
        loop = self.server.loop

        def close():
            httpd.shutdown()
            httpd.server_close()
            if then is not None:
                loop.call_soon_threadsafe(then)

        threading.Thread(target=close, daemon=True).start()

    def restart(self, server):
        self.stop(then=self.start)


def attach(server):
    server.metrics = m = Metrics(server)
    server.startup_hooks.append(m.start)
    server.shutdown_hooks.append(lambda save: m.stop())
    server.on_config_set('metrics-port', m.restart)
    server.on_config_set('metrics-bind', m.restart)
