"""SLOWLOG (slowlog.c): the commands that ran for at least
slowlog-log-slower-than microseconds, newest first, at most slowlog-max-len.

An entry is made where a command's duration is known: Server.call() and
the trusted request path's loop (_speedups.run_requests) time every command
they run, each on its own, and hand those at or above ``server.slow_ns`` to
``server.slow_call`` (this module's ``slow_call``), as Redis's call() does:
a slow command among fast ones of the same command in one pipeline is
logged with its own arguments and duration. (The trusted path reads the
clock once per command: a command's time there runs to the start of the
next one's, its reply and propagation included; see run_requests.)

The LATENCY monitor (commands/latency.py) gets the same calls.
"""

from collections import deque

from . import command
from .. import resp
from ..resp import help_reply
from ..util import string2ll
from .monitor import REDACTING, redacted
from .. import clock

MAX_ARGC = 32       # SLOWLOG_ENTRY_MAX_ARGC
MAX_STRING = 128    # SLOWLOG_ENTRY_MAX_STRING
_NEVER = 1 << 62


class SlowLog:
    def __init__(self, server):
        self.server = server
        self.entries = deque()
        self.next_id = 0

    def push(self, c, cmd, argv, duration_us):
        """slowlogPushEntryIfNeeded once the threshold is known crossed."""
        config = self.server.config
        if config.slowlog_max_len <= 0:
            return
        name = cmd.name if cmd.parent is None else cmd.parent.name
        if name in REDACTING:
            argv = [b'(redacted)' if a is None else a for a in redacted(name, argv)]
        n = len(argv)
        shown = min(n, MAX_ARGC)
        args = []
        for j in range(shown):
            if shown != n and j == shown - 1:
                args.append(b'... (%d more arguments)' % (n - shown + 1))
                break
            a = argv[j]
            if len(a) > MAX_STRING:
                a = a[:MAX_STRING] + b'... (%d more bytes)' % (len(a) - MAX_STRING)
            args.append(a)
        self.entries.appendleft((self.next_id, int(clock.time()), duration_us, args,
                                 c.addr, c.name))
        self.next_id += 1
        while len(self.entries) > config.slowlog_max_len:
            self.entries.pop()


def _entry(e):
    eid, ts, us, args, addr, name = e
    return (b'*6\r\n:%d\r\n:%d\r\n:%d\r\n' % (eid, ts, us) + resp.bulk_array(args)
            + b'$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(addr), addr, len(name), name))


@command('slowlog|get')
def slowlog_get(c, argv):
    log = c.server.slowlog
    count = 10
    if len(argv) == 3:
        count = string2ll(argv[2])
        if count is None or count < -1:
            return b'-ERR count should be greater than or equal to -1\r\n'
        if count == -1:
            count = len(log.entries)
    entries = list(log.entries)[:count]
    return b'*%d\r\n' % len(entries) + b''.join(map(_entry, entries))


@command('slowlog|len')
def slowlog_len(c, argv):
    return b':%d\r\n' % len(c.server.slowlog.entries)


@command('slowlog|reset')
def slowlog_reset(c, argv):
    c.server.slowlog.entries.clear()
    return resp.OK


SLOWLOG_HELP = [
    'GET [<count>]',
    '    Return top <count> entries from the slowlog (default: 10, -1 mean all).',
    '    Entries are made of:',
    '    id, timestamp, time in microseconds, arguments array, client IP and port,',
    '    client name',
    'LEN',
    '    Return the length of the slowlog.',
    'RESET',
    '    Reset the slowlog.',
]


@command('slowlog|help')
def slowlog_help(c, argv):
    return help_reply('SLOWLOG', SLOWLOG_HELP)


# -- the feed ------------------------------------------------------------------------

def slow_call(server, c, cmd, argv, duration_ns):
    """A command took at least ``server.slow_ns``."""
    us = duration_ns // 1000
    threshold = server.config.slowlog_log_slower_than
    if 0 <= threshold <= us and 'skip_slowlog' not in cmd.flags:
        server.slowlog.push(c, cmd, argv, us)
    for hook in server.slow_call_hooks:
        hook(c, cmd, argv, duration_ns)


def update_thresholds(server):
    """Recompute ``server.slow_ns``: the smallest duration anything wants
    to hear about."""
    config = server.config
    wanted = []
    threshold = config.slowlog_log_slower_than
    on = threshold >= 0 and config.slowlog_max_len > 0
    if on:
        wanted.append(threshold * 1000)
    wanted += [fn() for fn in server.slow_threshold_hooks]
    wanted = [w for w in wanted if w is not None]
    server.slow_ns = min(wanted) if wanted else _NEVER


def attach(server):
    server.slowlog = SlowLog(server)
    server.slow_call = lambda c, cmd, argv, d: slow_call(server, c, cmd, argv, d)
    server.slow_call_hooks = []         # fn(c, cmd, argv, duration_ns): LATENCY
    server.slow_threshold_hooks = []    # fn() -> ns or None: what LATENCY wants
    server.update_slow_thresholds = lambda: update_thresholds(server)
    for name in ('slowlog-log-slower-than', 'slowlog-max-len'):
        server.on_config_set(name, lambda s: update_thresholds(s))
    update_thresholds(server)
