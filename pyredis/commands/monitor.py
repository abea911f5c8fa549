"""MONITOR (replicationFeedMonitors in replication.c, monitorCommand).

A monitor is a client that gets one status line per command the server
runs: ``+<seconds>.<microseconds> [<db> <addr>] "arg" "arg"...``, the
arguments quoted as sdscatrepr does, the database being the client's after
the command ran (a SELECT shows the new one).

The feed lives in Server.call() (``server.monitor_feed``), after the
command ran, so it sees every command run by any path: a client's, the
ones EXEC runs (then EXEC itself, after them), the ones a script runs
(ScriptClient's ``monitor_source`` makes them ``[<db> lua]``). The trusted
request path in networking.py, which inlines call(), has no feed: while a
monitor exists ``Server.gated`` is set (Server.update_gate), so every
command takes process_command and call(), and the trusted path costs
nothing more when nobody monitors.

As Redis: admin commands are never shown; EVAL/EVALSHA/FCALL and their
_RO forms (flagged skip_monitor) are shown before they run, so their
script's commands follow them; commands refused before running (unknown,
arity, queued in MULTI) are not shown; AUTH's arguments, HELLO's AUTH
username and password and MIGRATE's AUTH/AUTH2 credentials are shown as
"(redacted)" (redacted() also hides ACL SETUSER's rules and CONFIG SET's
secrets, for the slow log: both are admin commands, never shown here). A
monitor client cannot run commands that read or write the keyspace (it is
a replica to Redis: "Replica can't interact with the keyspace"), is not
closed by ``timeout``, shows the O flag in CLIENT LIST, and leaves monitor
mode with RESET.
"""

import re

from . import command
from .. import clock
from ..config import BY_NAME
from ..util import string2ll

REDACTED = b'"(redacted)"'

# Scripting commands: fed when called, before the commands their script runs.
FED_BEFORE = frozenset((b'eval', b'evalsha', b'eval_ro', b'evalsha_ro', b'fcall', b'fcall_ro'))

_NEEDS_ESCAPE = re.compile(rb'[^\x20-\x7e]|["\\]')
_ESCAPES = {ord('\\'): b'\\\\', ord('"'): b'\\"', ord('\n'): b'\\n', ord('\r'): b'\\r',
            ord('\t'): b'\\t', 7: b'\\a', 8: b'\\b'}
_REPR = [_ESCAPES.get(i, bytes((i,)) if 32 <= i < 127 else b'\\x%02x' % i) for i in range(256)]


def quoted(arg):
    """sdscatrepr: the argument in double quotes, escaped."""
    if _NEEDS_ESCAPE.search(arg) is None:
        return b'"' + arg + b'"'
    return b'"' + b''.join([_REPR[ch] for ch in arg]) + b'"'


def redacted(name, argv):
    """The arguments with credentials hidden, None in their place: what the
    commands' own redactClientCommandArgument calls leave in Redis's
    original_argv, each where the command's parsing reaches it (a parsing
    error before a credential leaves it in clear, one after it does not).
    ``name`` is the command's (a container's for a subcommand); only the
    commands in REDACTING hide anything."""
    n = len(argv)
    if name == b'auth':
        # authCommand answers a syntax error for more than 3 arguments first.
        return [argv[0]] + [None] * (n - 1) if n <= 3 else argv
    args = list(argv)
    if name == b'hello':
        # helloCommand returns on a bad protocol version before its options.
        if n >= 2:
            ver = string2ll(args[1])
            if ver is None or not 2 <= ver <= 3:
                return argv
        i = 2
        while i < n:
            opt = args[i].lower()
            if opt == b'auth' and i + 2 < n:
                args[i + 1] = args[i + 2] = None
                i += 3
            elif opt == b'setname' and i + 1 < n:
                i += 2
            else:
                break
    elif name == b'migrate':
        # migrateCommand's option walk: it stops at KEYS or at a syntax error.
        i = 6
        while i < n:
            opt = args[i].lower()
            if opt in (b'copy', b'replace'):
                i += 1
            elif opt == b'auth' and i + 1 < n:
                args[i + 1] = None
                i += 2
            elif opt == b'auth2' and i + 2 < n:
                args[i + 1] = args[i + 2] = None
                i += 3
            else:
                break
    elif name == b'acl':
        if n >= 3 and args[1].lower() == b'setuser':
            args[2:] = [None] * (n - 2)
    elif name == b'config':
        # configSetCommand looks at every pair, even past an error, so that
        # a failing CONFIG SET shows no secret either.
        if n >= 4 and not n % 2 and args[1].lower() == b'set':
            for i in range(2, n, 2):
                d = BY_NAME.get(args[i].decode('utf-8', 'surrogateescape').lower())
                if d is not None and d.sensitive:
                    args[i + 1] = None
    return args


# The commands whose arguments redacted() may hide.
REDACTING = frozenset((b'auth', b'hello', b'migrate', b'acl', b'config'))


def feed(server, c, cmd, argv, before):
    """replicationFeedMonitors for one command. ``before``: called before
    the command runs (only the scripting commands are fed then)."""
    if server.loading:
        return
    name = cmd.name if cmd.parent is None else cmd.parent.name
    if before != (name in FED_BEFORE):
        return
    if cmd.admin or (not before and 'skip_monitor' in cmd.flags):
        return
    source = c.monitor_source
    if source is None:
        source = (b'unix:%s' % server.config.unixsocket.encode()) if c.unix else c.addr
    us = clock.time_ns() // 1000
    if name in REDACTING:
        argv = redacted(name, argv)
    line = b'+%d.%06d [%d %s] %s\r\n' % (
        us // 1000000, us % 1000000, c.db.id, source,
        b' '.join([REDACTED if a is None else quoted(a) for a in argv]))
    for m in list(server.monitors.values()):
        if m.closing:
            continue
        m.out.append(line)
        if m is not c:
            _schedule(server, m)


def _schedule(server, m):
    pending = server.monitor_pending
    if not pending:
        if server.loop is None:
            m.flush()
            return
        server.loop.call_soon(_flush, server)
    pending.add(m)


def _flush(server):
    pending, server.monitor_pending = server.monitor_pending, set()
    for m in pending:
        if m.out and not m.closing:
            m.flush()


def stop_monitoring(c):
    """The client leaves monitor mode (RESET, disconnection)."""
    server = c.server
    if server.monitors.pop(c.id, None) is not None:
        server.update_gate()


@command('monitor')
def monitor(c, argv):
    server = c.server
    # A replica (or a monitor already) ignores it, with no reply at all.
    if c.is_replica or c.id in server.monitors or c.is_master:
        return None
    server.monitors[c.id] = c
    server.update_gate()
    return b'+OK\r\n'


def attach(server):
    server.monitor_feed = lambda c, cmd, argv, before: feed(server, c, cmd, argv, before)
    server.monitor_pending = set()
    server.reset_hooks.append(stop_monitoring)
    server.client_close_hooks.append(stop_monitoring)
