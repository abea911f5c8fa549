"""The latency monitor (latency.c, sparkline.c): LATENCY LATEST, HISTORY,
RESET, GRAPH, DOCTOR, HELP.

Events are recorded by ``server.latency_add(event, ms)`` when ``ms`` is at
least latency-monitor-threshold (0: off): one time series per event, 160
samples of (unix second, milliseconds), a sample per second at most (the
highest of that second), and the all-time maximum.

Where events come from: "command" and "fast-command" (a command with the
fast flag) from each command's own duration, which Server.call() and the
trusted request path hand to slowlog.py's ``slow_call``; "expire-cycle" from
the active expiry cycle, "eviction-cycle" from the eviction loop;
"expire-del" and "eviction-del" from each deletion
(Server._delete_and_propagate); "fork" from every fork (Server.forked); the
AOF's ("aof-write" with one of "aof-write-alone", "aof-write-active-child",
"aof-write-pending-fsync"; "aof-fsync-always", "aof-fstat", "aof-rename")
from aof.py; "rdb-unlink-temp-file" when a killed BGSAVE's temp file is
removed. Redis 7.0.15's other events are not recorded here:
"command-unblocking" (the reply to a client a blocking command released),
"while-blocked-cron" (the cron's work while a long script or a load runs),
"module-acquire-GIL" (modules' GIL, after each sleep), "eviction-lazyfree"
(a wait for the lazyfree thread, which pyredis does not have) and, in a
build with active defragmentation, "active-defrag-cycle";
"aof-rewrite-diff-write" only survives in the doctor's advice.

LATENCY HISTOGRAM and INFO latencystats read the per-command HDR histograms
(hdr.py) that Server.call() and the trusted request path fill with each
call's duration while latency-tracking is on (``server.latency_tracking``;
off, recording costs one attribute test per command or run of one command).
"""


from . import command, all_commands, lookup
from .. import hdr, resp
from ..config import fmt_percentile
from ..resp import help_reply
from .. import clock

TS_LEN = 160    # LATENCY_TS_LEN
GRAPH_COLS = 80


class Series:
    __slots__ = ('samples', 'idx', 'max')

    def __init__(self):
        self.samples = [(0, 0)] * TS_LEN
        self.idx = 0
        self.max = 0

    def add(self, ms):
        """latencyAddSample."""
        now = int(clock.time())
        if ms > self.max:
            self.max = ms
        prev = (self.idx + TS_LEN - 1) % TS_LEN
        t, latency = self.samples[prev]
        if t == now:
            if ms > latency:
                self.samples[prev] = (now, ms)
            return
        self.samples[self.idx] = (now, ms)
        self.idx = (self.idx + 1) % TS_LEN

    def in_order(self):
        """The samples, oldest first."""
        out = []
        for j in range(TS_LEN):
            s = self.samples[(self.idx + j) % TS_LEN]
            if s[0]:
                out.append(s)
        return out


def add_sample(server, event, ms):
    """latencyAddSampleIfNeeded."""
    threshold = server.config.latency_monitor_threshold
    if threshold and ms >= threshold:
        series = server.latency_events.get(event)
        if series is None:
            series = server.latency_events[event] = Series()
        series.add(ms)


def _command_latency(server, c, cmd, argv, duration_ns):
    add_sample(server, b'fast-command' if 'fast' in cmd.flags else b'command',
               duration_ns // 1000000)


def _wanted_ns(server):
    threshold = server.config.latency_monitor_threshold
    return threshold * 1000000 if threshold else None


# -- LATENCY -----------------------------------------------------------------------------

@command('latency|latest')
def latency_latest(c, argv):
    events = c.server.latency_events
    out = [b'*%d\r\n' % len(events)]
    for name, series in events.items():
        t, ms = series.samples[(series.idx + TS_LEN - 1) % TS_LEN]
        out.append(b'*4\r\n$%d\r\n%s\r\n:%d\r\n:%d\r\n:%d\r\n' % (
            len(name), name, t, ms, series.max))
    return b''.join(out)


@command('latency|history')
def latency_history(c, argv):
    series = c.server.latency_events.get(argv[2])
    samples = series.in_order() if series is not None else []
    return b'*%d\r\n' % len(samples) + b''.join(
        b'*2\r\n:%d\r\n:%d\r\n' % s for s in samples)


@command('latency|reset')
def latency_reset(c, argv):
    events = c.server.latency_events
    if len(argv) == 2:
        n = len(events)
        events.clear()
        return b':%d\r\n' % n
    n = 0
    for name in argv[2:]:
        for event in list(events):
            if event.lower() == name.lower():
                del events[event]
                n += 1
    return b':%d\r\n' % n


@command('latency|graph')
def latency_graph(c, argv):
    series = c.server.latency_events.get(argv[2])
    if series is None:
        return resp.error(b"ERR No samples available for event '%s'" % argv[2])
    return resp.encode(resp.Verbatim(_graph(argv[2], series)), c.resp)


@command('latency|doctor')
def latency_doctor(c, argv):
    return resp.encode(resp.Verbatim(_report(c.server)), c.resp)


@command('latency|histogram')
def latency_histogram(c, argv):
    if len(argv) == 2:
        cmds = _tracked(all_commands())
    else:
        cmds = []
        for name in argv[2:]:
            # lookupCommandBySds: a name or container|sub; a container
            # brings its subcommands; an unknown name nothing.
            parts = name.split(b'|')
            cmd = lookup(parts[0]) if len(parts) <= 2 else None
            if cmd is not None and cmd.implemented() and len(parts) == 2:
                sub = cmd.subcommands.get(parts[1].lower()) if cmd.subcommands else None
                cmd = sub if sub is not None and sub.proc is not None else None
            if cmd is not None and cmd.implemented():
                cmds += _tracked([cmd])
    r = c.resp
    out = [resp.map_header(len(cmds), r)]
    for cmd in cmds:
        name = cmd.fullname.encode()
        buckets = hdr.log_buckets(cmd.hist)
        out.append(b'$%d\r\n%s\r\n%s$5\r\ncalls\r\n:%d\r\n$14\r\nhistogram_usec\r\n%s' % (
            len(name), name, resp.map_header(2, r), sum(cmd.hist.values()),
            resp.map_header(len(buckets), r)))
        out.extend(b':%d\r\n:%d\r\n' % b for b in buckets)
    return b''.join(out)


def _tracked(cmds):
    """The commands among ``cmds`` (and their subcommands) with a histogram."""
    out = []
    for cmd in cmds:
        if cmd.hist:
            out.append(cmd)
        if cmd.subcommands:
            out += [s for s in cmd.subcommands.values() if s.hist]
    return out


def info_latencystats(server):
    """genRedisInfoStringLACStats."""
    if not server.config.latency_tracking:
        return []
    percentiles = server.config.latency_tracking_info_percentiles
    out = []
    for cmd in _tracked(all_commands()):
        out.append(('latency_percentiles_usec_%s' % cmd.fullname, ','.join(
            'p%s=%.3f' % (fmt_percentile(p), hdr.value_at_percentile(cmd.hist, p) / 1000.0)
            for p in percentiles)))
    return out


def _reset_histograms(server):
    """CONFIG RESETSTAT drops the histograms (resetCommandTableStats)."""
    for cmd in _tracked(all_commands()):
        cmd.hist = None


def _tracking_changed(server):
    server.latency_tracking = bool(server.config.latency_tracking)


LATENCY_HELP = [
    'DOCTOR',
    '    Return a human readable latency analysis report.',
    'GRAPH <event>',
    '    Return an ASCII latency graph for the <event> class.',
    'HISTORY <event>',
    '    Return time-latency samples for the <event> class.',
    'LATEST',
    '    Return the latest latency samples for all events.',
    'RESET [<event> ...]',
    '    Reset latency data of one or more <event> classes.',
    '    (default: reset all data for all event classes)',
    'HISTOGRAM [COMMAND ...]',
    '    Return a cumulative distribution of latencies in the format of a histogram for the '
    'specified command names.',
    '    If no commands are specified then all histograms are replied.',
]


@command('latency|help')
def latency_help(c, argv):
    return help_reply('LATENCY', LATENCY_HELP)


# -- GRAPH (sparkline.c) ----------------------------------------------------------------

def _graph(event, series):
    now = int(clock.time())
    samples = []
    for t, ms in series.in_order():
        elapsed = now - t
        if elapsed < 60:
            label = '%ds' % elapsed
        elif elapsed < 3600:
            label = '%dm' % (elapsed // 60)
        elif elapsed < 3600 * 24:
            label = '%dh' % (elapsed // 3600)
        else:
            label = '%dd' % (elapsed // (3600 * 24))
        samples.append((ms, label))
    values = [ms for ms, _ in samples]
    high, low = (max(values), min(values)) if values else (0, 0)
    out = ['%s - high %d ms, low %d ms (all time high %d ms)\n' % (
        event.decode('latin-1'), high, low, series.max), '-' * GRAPH_COLS + '\n']
    out.append(_render(samples, GRAPH_COLS, 4))
    return ''.join(out).encode('latin-1')


def _render(samples, columns, rows):
    """sparklineRender with SPARKLINE_FILL."""
    if not samples:
        return ''
    values = [v for v, _ in samples]
    # (sparklineSequenceAddSample's min/max: "else if" as in the C code.)
    lo = hi = values[0]
    for v in values[1:]:
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
    parts = []
    for j in range(0, len(samples), columns):
        if j:
            parts.append('\n')
        parts.append(_render_range(samples[j:j + columns], lo, hi, rows,
                                   any(label for _, label in samples)))
    return ''.join(parts)


def _render_range(samples, lo, hi, rows, labels):
    charset_fill = '_o#'
    nchars = len(charset_fill)
    relmax = float(hi - lo) or 1.0
    steps = nchars * rows
    out = []
    row = 0
    while True:
        more = False
        chars = [' '] * len(samples)
        for j, (value, label) in enumerate(samples):
            step = int(int((value - lo) * steps) / relmax)
            step = max(0, min(step, steps - 1))
            if row < rows:
                idx = step - (rows - row - 1) * nchars
                more = True
                if 0 <= idx < nchars:
                    chars[j] = charset_fill[idx]
                elif idx >= nchars:
                    chars[j] = '|'
            else:
                if labels and row - rows < 1:
                    more = True
                    break
                k = row - rows - 1
                if label and len(label) > k:
                    more = True
                    chars[j] = label[k]
        if not more:
            break
        row += 1
        out.append(''.join(chars) + '\n')
    return ''.join(out)


# -- DOCTOR ------------------------------------------------------------------------------

def _analyze(series):
    """analyzeLatencyForEvent: (samples, avg, mad, period)."""
    samples = [s for s in series.samples if s[0]]
    if not samples:
        return 0, 0, 0, 0
    n = len(samples)
    avg = sum(ms for _, ms in samples) // n
    period = int(clock.time()) - min(t for t, _ in samples) or 1
    mad = sum(abs(avg - ms) for _, ms in samples) // n
    return n, avg, mad, period


# createLatencyReport's advices on the AOF and the disk, in its order.
_DISK_ADVICES = [
    ('local_disk', '- It is strongly advised to use local disks for persistence, especially '
                   'if you are using AOF. Remote disks provided by platform-as-a-service '
                   'providers are known to be slow.\n'),
    ('ssd', '- SSD disks are able to reduce fsync latency, and total time needed for '
            'snapshotting and AOF log rewriting (resulting in smaller memory usage). With '
            'extremely high write load SSD '
            'disks can be a good option. However Redis should perform reasonably with high '
            'load using normal disks. Use this advice as a last resort.\n'),
    ('data_writeback', '- Mounting ext3/4 filesystems with data=writeback can provide a '
                       'performance boost compared to data=ordered, however this mode of '
                       'operation provides less guarantees, and sometimes it can happen that '
                       'after a hard crash the AOF file will have a half-written command at '
                       'the end and will require to be repaired before Redis restarts.\n'),
    ('disk_contention', '- Try to lower the disk contention. This is often caused by other '
                        'disk intensive processes running in the same computer (including '
                        'other Redis instances).\n'),
    ('no_appendfsync', "- Assuming from the point of view of data safety this is viable in "
                       "your environment, you could try to enable the "
                       "'no-appendfsync-on-rewrite' option, so that fsync will not be "
                       "performed while there is a child rewriting the AOF file or producing "
                       "an RDB file (the moment where there is high disk contention).\n"),
    ('relax_fsync_policy', "- Your fsync policy is set to 'always'. It is very hard to get "
                           "good performances with such a setup, if possible try to relax "
                           "the fsync policy to 'onesec'.\n"),
    ('write_load_info', '- Latency during the AOF atomic rename operation or when the final '
                        'difference is flushed to the AOF file at the end of the rewrite, '
                        'sometimes is caused by very high write load, causing the AOF buffer '
                        'to get very large. If possible try to send less commands to '
                        'accomplish the same work, or use Lua scripts to group multiple '
                        'operations into a single EVALSHA call.\n'),
]


def _report(server):
    config = server.config
    events = server.latency_events
    threshold = config.latency_monitor_threshold
    if not events and not threshold:
        return (b"I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this "
                b"Redis instance. You may use \"CONFIG SET latency-monitor-threshold "
                b"<milliseconds>.\" in order to enable it. If we weren't in a deep space "
                b"mission I'd suggest to take a look at "
                b"https://redis.io/topics/latency-monitor.\n")
    advise = set()
    advices = 0
    out = []
    for num, (event, series) in enumerate(events.items(), 1):
        if num == 1:
            out.append("Dave, I have observed latency spikes in this Redis instance. You don't "
                       "mind talking about it, do you Dave?\n\n")
        n, avg, mad, period = _analyze(series)
        name = event.decode('latin-1')
        out.append('%d. %s: %d latency spikes (average %dms, mean deviation %dms, period '
                   '%.2f sec). Worst all time event %dms.' % (
                       num, name, n, avg, mad, period / n if n else 0.0, series.max))
        lname = name.lower()
        if lname == 'fork':
            rate = server.stat.fork_rate
            if rate < 10:
                quality = 'terrible'
            elif rate < 25:
                quality = 'poor'
            elif rate < 100:
                quality = 'good'
            else:
                quality = 'excellent'
            if rate < 25:
                advise.add('better_vm')
                advices += 1
            out.append(' Fork rate is %.2f GB/sec (%s).' % (rate, quality))
        elif lname == 'command':
            if config.slowlog_log_slower_than < 0:
                advise.add('slowlog_enabled')
                advices += 1
            elif config.slowlog_log_slower_than // 1000 > threshold:
                advise.add('slowlog_tuning')
                advices += 1
            advise.update(('slowlog_inspect', 'large_objects'))
            advices += 2
        elif lname == 'fast-command':
            advise.add('scheduler')
            advices += 1
        elif lname == 'aof-write-pending-fsync':
            advise.update(('local_disk', 'disk_contention', 'ssd', 'data_writeback'))
            advices += 4
        elif lname == 'aof-write-active-child':
            advise.update(('no_appendfsync', 'data_writeback', 'ssd'))
            advices += 3
        elif lname == 'aof-write-alone':
            advise.update(('local_disk', 'data_writeback', 'ssd'))
            advices += 3
        elif lname == 'aof-fsync-always':
            advise.add('relax_fsync_policy')
            advices += 1
        elif lname in ('aof-fstat', 'rdb-unlink-temp-file'):
            advise.update(('disk_contention', 'local_disk'))
            advices += 2
        elif lname in ('aof-rewrite-diff-write', 'aof-rename'):
            advise.update(('write_load_info', 'data_writeback', 'ssd', 'local_disk'))
            advices += 4
        elif lname == 'expire-cycle':
            advise.update(('hz', 'large_objects'))
            advices += 2
        elif lname == 'eviction-del':
            advise.add('large_objects')
            advices += 1
        elif lname == 'eviction-cycle':
            advise.add('mass_eviction')
            advices += 1
        out.append('\n')
    if not events and not advices:
        out.append('Dave, no latency spike was observed during the lifetime of this Redis '
                   'instance, not in the slightest bit. I honestly think you ought to sit down '
                   'calmly, take a stress pill, and think things over.\n')
    elif events and not advices:
        out.append("\nWhile there are latency events logged, I'm not able to suggest any easy "
                   "fix. Please use the Redis community to get some help, providing this report "
                   "in your help request.\n")
    else:
        out.append('\nI have a few advices for you:\n\n')
        if 'better_vm' in advise:
            out.append('- If you are using a virtual machine, consider upgrading it with a '
                       'faster one using a hypervisior that provides less latency during '
                       'fork() calls. Xen is known to have poor fork() performance. Even in '
                       'the context of the same VM provider, certain kinds of instances can '
                       'execute fork faster than others.\n')
        if 'slowlog_enabled' in advise:
            out.append("- There are latency issues with potentially slow commands you are "
                       "using. Try to enable the Slow Log Redis feature using the command "
                       "'CONFIG SET slowlog-log-slower-than %d'. If the Slow log is disabled "
                       "Redis is not able to log slow commands execution for you.\n"
                       % (threshold * 1000))
        if 'slowlog_tuning' in advise:
            out.append("- Your current Slow Log configuration only logs events that are "
                       "slower than your configured latency monitor threshold. Please use "
                       "'CONFIG SET slowlog-log-slower-than %d'.\n" % (threshold * 1000))
        if 'slowlog_inspect' in advise:
            out.append('- Check your Slow Log to understand what are the commands you are '
                       'running which are too slow to execute. Please check '
                       'https://redis.io/commands/slowlog for more information.\n')
        if 'scheduler' in advise:
            out.append('- The system is slow to execute Redis code paths not containing '
                       'system calls. This usually means the system does not provide Redis '
                       'CPU time to run for long periods. You should try to:\n'
                       '  1) Lower the system load.\n'
                       '  2) Use a computer / VM just for Redis if you are running other '
                       'software in the same system.\n'
                       '  3) Check if you have a "noisy neighbour" problem.\n'
                       "  4) Check with 'redis-cli --intrinsic-latency 100' what is the "
                       'intrinsic latency in your system.\n'
                       '  5) Check if the problem is allocator-related by recompiling Redis '
                       'with MALLOC=libc, if you are using Jemalloc. However this may create '
                       'fragmentation problems.\n')
        for what, text in _DISK_ADVICES:
            if what in advise and (what != 'relax_fsync_policy'
                                   or config.appendfsync == 'always'):
                out.append(text)
        if 'hz' in advise and config.hz < 100:
            out.append("- In order to make the Redis keys expiring process more incremental, "
                       "try to set the 'hz' configuration parameter to 100 using "
                       "'CONFIG SET hz 100'.\n")
        if 'large_objects' in advise:
            out.append('- Deleting, expiring or evicting (because of maxmemory policy) large '
                       'objects is a blocking operation. If you have very large objects that '
                       'are often deleted, expired, or evicted, try to fragment those objects '
                       'into multiple smaller objects.\n')
        if 'mass_eviction' in advise:
            out.append("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or "
                       "allocation of large objects via sets or sorted sets intersections, "
                       "STORE option of SORT, Redis Cluster large keys migrations (RESTORE "
                       "command), may create sudden memory pressure forcing the server to "
                       "block trying to evict keys. \n")
    return ''.join(out).encode('latin-1')


def attach(server):
    server.latency_events = {}
    server.info_sections['latencystats'] = info_latencystats
    server.resetstat_hooks.append(_reset_histograms)
    server.on_config_set('latency-tracking', _tracking_changed)
    _tracking_changed(server)
    server.latency_add = lambda event, ms: add_sample(server, event, ms)
    server.slow_call_hooks.append(
        lambda c, cmd, argv, d: _command_latency(server, c, cmd, argv, d))
    server.slow_threshold_hooks.append(lambda: _wanted_ns(server))
    server.on_config_set('latency-monitor-threshold',
                         lambda s: s.update_slow_thresholds())
    server.update_slow_thresholds()
