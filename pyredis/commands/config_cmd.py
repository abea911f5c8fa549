"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP (config.c's command side),
and the functions that apply a directive's new value to the running server.

The directive table and its parsing live in pyredis.config; this module is
the command surface. CONFIG SET is atomic as in Redis 7.0: every
name/value pair is checked (known, mutable, not protected, not duplicated),
then every value is converted, then all are stored, then the apply
functions of the directives that actually changed run (each function once,
even when several directives share it); if one apply fails, the old values
are restored and re-applied, and the reply names the directive.

Runtime behaviour for a directive (for the modules that implement RDB, AOF,
replication, eviction...) is a function the module's attach(server) gives
to ``server.on_config_set(name, fn)``: it runs after CONFIG SET changed the
value; it raises ConfigError('text') to refuse.
"""

import errno
import os

from . import command
from .. import config as config_mod, log, resp
from ..resp import OK, SYNTAX_ERR, error, help_reply
from ..config import BY_NAME, ConfigError, config_get
from ..networking import update_keepalive, update_tcp_listeners
from ..resp import LOADING_ERR

# names already reported as having no effect (said once per process)
_no_effect_logged = set()


def log_no_effect(server, names):
    for name in names:
        if (name not in config_mod.EFFECTIVE and name not in server.config_apply
                and name not in _no_effect_logged):
            _no_effect_logged.add(name)
            log.notice("Directive '%s' is accepted and stored but has no effect in pyredis"
                       % name)


# -- apply functions ------------------------------------------------------------

def apply_hz(server):
    # As Redis: hz is a hint, out-of-range values are capped, not refused.
    server.config.hz = max(1, min(server.config.hz, 500))
    server.hz = server.config.hz


def apply_notify(server):
    from ..notify import NotifyFlags
    server.notify_flags = NotifyFlags.parse(server.config.notify_keyspace_events) or 0


def apply_loglevel(server):
    log.logger.level = log.LEVELS[server.config.loglevel]


def apply_dir(server):
    # (_set_dir checked that it is a directory; a server embedded among
    # others names its files by its dir instead: Server.path.)
    if server.owns_process:
        try:
            os.chdir(server.config.dir)
        except OSError as e:
            raise ConfigError(e.strerror)


def apply_maxmemory(server):
    config = server.config
    if config.maxmemory:
        used = getattr(server, 'used_memory', None)
        used = used() if callable(used) else used
        if used and config.maxmemory < used:
            log.warning('WARNING: the new maxmemory value set via CONFIG SET (%d) is smaller '
                        'than the current memory usage (%d). This will result in key eviction '
                        'and/or the inability to accept new write commands depending on the '
                        'maxmemory-policy.' % (config.maxmemory, used))


def apply_maxclients(server):
    wanted = server.config.maxclients
    got = adjust_open_files_limit(server.config)
    if got != wanted:
        raise ConfigError('The operating system is not able to handle the specified number '
                          'of clients, try with %d' % got)


MIN_RESERVED_FDS = 32


def adjust_open_files_limit(config):
    """adjustOpenFilesLimit: raise RLIMIT_NOFILE to maxclients + 32, or to
    the highest limit the system allows under it (trying 16 descriptors
    less at a time, as Redis, so the figures and log lines are Redis's),
    and lower maxclients to what that leaves. Returns the resulting
    maxclients."""
    import resource
    maxfiles = config.maxclients + MIN_RESERVED_FDS
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError) as e:
        log.warning('Unable to obtain the current NOFILE limit (%s), assuming 1024 and setting '
                    'the max clients configuration accordingly.' % (
                        getattr(e, 'strerror', None) or e))
        config.maxclients = 1024 - MIN_RESERVED_FDS
        return config.maxclients
    if soft == resource.RLIM_INFINITY or soft >= maxfiles:
        return config.maxclients
    best = maxfiles
    error = 0
    while best > soft:
        # Redis sets both limits to the one it tries; the hard limit is
        # kept here when it is higher (no lower ceiling for CONFIG SET
        # maxclients in an embedded server), which succeeds and fails in
        # the same cases.
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (
                best, hard if hard == resource.RLIM_INFINITY or best <= hard else best))
            break
        except (OSError, ValueError) as e:
            error = getattr(e, 'errno', None) or errno.EPERM
        if best < 16:
            best = soft
            break
        best -= 16
    best = max(best, soft)
    if best < maxfiles:
        old = config.maxclients
        if best <= MIN_RESERVED_FDS:
            log.warning("Your current 'ulimit -n' of %d is not enough for the server to "
                        "start. Please increase your open file limit to at least %d. "
                        "Exiting." % (soft, maxfiles))
            raise SystemExit(1)
        config.maxclients = best - MIN_RESERVED_FDS
        log.warning('You requested maxclients of %d requiring at least %d max file '
                    'descriptors.' % (old, maxfiles))
        log.warning("Server can't set maximum open files to %d because of OS error: "
                    "%s." % (maxfiles, os.strerror(error)))
        log.warning("Current maximum open files is %d. maxclients has been reduced to %d "
                    "to compensate for low ulimit. If you need higher maxclients increase "
                    "'ulimit -n'." % (best, config.maxclients))
    else:
        log.notice('Increased maximum number of open files to %d (it was originally set '
                   'to %d).' % (maxfiles, soft))
    return config.maxclients


def apply_port(server):
    try:
        update_tcp_listeners(server)
    except OSError:
        raise ConfigError('Unable to listen on this port. Check server logs.')


def apply_bind(server):
    try:
        update_tcp_listeners(server)
    except OSError:
        raise ConfigError('Failed to bind to specified addresses.')


def apply_output_limits(server):
    for c in list(server.clients.values()):
        c.update_output_class()


def attach(server):
    for name, fn in (('hz', apply_hz), ('notify-keyspace-events', apply_notify),
                     ('loglevel', apply_loglevel), ('dir', apply_dir),
                     ('maxmemory', apply_maxmemory), ('maxclients', apply_maxclients),
                     ('port', apply_port), ('bind', apply_bind),
                     ('tcp-keepalive', update_keepalive),
                     ('client-output-buffer-limit', apply_output_limits)):
        server.on_config_set(name, fn)


# -- the commands --------------------------------------------------------------------

@command('config|get')
def config_get_cmd(c, argv):
    pairs = config_get(c.server.config, [a.decode('utf-8', 'surrogateescape') for a in argv[2:]])
    out = {k.encode('utf-8', 'surrogateescape'): v.encode('utf-8', 'surrogateescape')
           for k, v in pairs.items()}
    return resp.encode(out, c.resp)


def _fail(name, reason=None):
    if isinstance(name, str):
        name = name.encode('utf-8', 'surrogateescape')
    if reason is None:
        return error(b"ERR CONFIG SET failed (possibly related to argument '%s')" % name)
    return error(b"ERR CONFIG SET failed (possibly related to argument '%s') - %s" % (
        name, reason.encode('utf-8', 'surrogateescape')))


@command('config|set')
def config_set_cmd(c, argv):
    if len(argv) % 2:
        return SYNTAX_ERR
    server = c.server
    config = server.config
    items = []              # (registered name, directive, value string)
    first_error = None
    deny_loading = False
    for i in range(2, len(argv), 2):
        typed = argv[i]
        name = typed.decode('utf-8', 'surrogateescape').lower()
        d = BY_NAME.get(name)
        if d is None:
            if first_error is None:
                first_error = error(b"ERR Unknown option or number of arguments for CONFIG "
                                    b"SET - '%s'" % typed)
            continue
        if first_error is not None:
            continue
        if not d.mutable or (d.protected and not config_mod.allow_protected_action(
                server.config.enable_protected_configs, c)):
            first_error = _fail(typed, "can't set immutable config" if not d.mutable
                                else "can't set protected config")
            continue
        if server.loading and d.deny_loading:
            deny_loading = True
            first_error = b''
            continue
        if any(n == name for n, _, _ in items):
            first_error = _fail(typed, 'duplicate parameter')
            continue
        items.append((name, d, argv[i + 1].decode('utf-8', 'surrogateescape')))
    if deny_loading:
        return LOADING_ERR
    if first_error is not None:
        return first_error
    # Convert every value first: nothing is stored unless all are valid.
    new_values = []
    for name, d, raw in items:
        if d.multi_arg:
            args = raw.split(' ') if raw else []
        else:
            args = [raw]
        try:
            value = d.convert(args, config, loading=False)
        except ConfigError as e:
            return _fail(name, str(e))
        new_values.append((d, value))
    old = {d.attr: getattr(config, d.attr) for d, _ in new_values}
    changed = []
    for d, value in new_values:
        if getattr(config, d.attr) != value:
            changed.append(d)
        setattr(config, d.attr, value)
        config.explicit.add(d.name)
    fns = []
    for d in changed:
        fn = c.server.config_apply.get(d.name)
        if fn is not None and all(f is not fn for f, _ in fns):
            fns.append((fn, d))
    for fn, d in fns:
        try:
            fn(server)
        except ConfigError as e:
            log.warning('Failed applying new configuration. Possibly related to new %s '
                        'setting. Restoring previous settings.' % d.name)
            for attr, value in old.items():
                setattr(config, attr, value)
            for fn2, _ in fns:
                try:
                    fn2(server)
                except ConfigError as e2:
                    log.warning('Failed applying restored failed CONFIG SET command: %s' % e2)
            return _fail(d.name, str(e))
    log_no_effect(server, [d.name for d in changed])
    return OK


@command('config|resetstat')
def config_resetstat(c, argv):
    from ..server import Stats
    server = c.server
    server.stat = Stats()
    for cmd in server_commands():
        cmd.calls = cmd.rejected_calls = cmd.failed_calls = 0
        cmd.duration = 0
    for hook in server.resetstat_hooks:
        hook(server)
    return OK


def server_commands():
    from . import TABLE
    seen = set()
    for cmd in TABLE.values():
        if id(cmd) in seen:
            continue
        seen.add(id(cmd))
        yield cmd
        if cmd.subcommands:
            yield from cmd.subcommands.values()


@command('config|rewrite')
def config_rewrite(c, argv):
    server = c.server
    config = server.config
    if config.config_file is None:
        return b'-ERR The server is running without a config file\r\n'
    # REPLICAOF at runtime changes the server, not the directive: sync it
    # (Sentinel's failover sends REPLICAOF then CONFIG REWRITE so that a
    # restarted server keeps its new role).
    repl = server.replication
    if repl.masterhost is None:
        config.replicaof = None
    else:
        config.replicaof = (repl.masterhost, repl.masterport)
    # With an aclfile the users live there, and 'user' lines go.
    err = config_mod.rewrite(config, users=[] if config.aclfile else server.acl.user_lines())
    if err:
        log.warning('CONFIG REWRITE failed: %s' % err)
        return error(b'ERR Rewriting config file: ' + err.encode())
    log.warning('CONFIG REWRITE executed with success.')
    return OK


CONFIG_HELP = [
    'GET <pattern>',
    '    Return parameters matching the glob-like <pattern> and their values.',
    'SET <directive> <value>',
    '    Set the configuration <directive> to <value>.',
    'RESETSTAT',
    '    Reset statistics reported by the INFO command.',
    'REWRITE',
    '    Rewrite the configuration file.',
]


@command('config|help')
def config_help(c, argv):
    return help_reply('CONFIG', CONFIG_HELP)
