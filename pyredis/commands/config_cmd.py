"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP (config.c's command side).

The directive table and its parsing live in pyredis.config; this module is
the command surface. CONFIG SET is atomic as in Redis 7.0: every name/value
pair is validated first, then all are stored, then their apply functions
run; if one apply fails, the old values are restored and re-applied.
"""

from . import command
from .. import resp
from ..resp import OK, error, help_reply
from ..config import BY_NAME, ConfigError, config_get

# directive name -> function(server) run after a CONFIG SET changed it.
APPLY = {}


def apply_hz(server):
    hz = server.config.hz
    server.config.hz = max(1, min(hz, 500))
    server.hz = server.config.hz


def apply_notify(server):
    from ..notify import NotifyFlags
    server.notify_flags = NotifyFlags.parse(server.config.notify_keyspace_events) or 0


def apply_loglevel(server):
    from .. import log
    log.logger.level = log.LEVELS[server.config.loglevel]


APPLY['hz'] = apply_hz
APPLY['notify-keyspace-events'] = apply_notify
APPLY['loglevel'] = apply_loglevel


@command('config|get')
def config_get_cmd(c, argv):
    pairs = config_get(c.server.config, [a.decode('utf-8', 'surrogateescape') for a in argv[2:]])
    out = {k.encode(): v.encode('utf-8', 'surrogateescape') for k, v in pairs.items()}
    return resp.encode(out, c.resp)


@command('config|set')
def config_set_cmd(c, argv):
    if len(argv) % 2:
        return b"-ERR wrong number of arguments for 'config|set' command\r\n"
    server = c.server
    config = server.config
    changes = []
    seen = set()
    for i in range(2, len(argv), 2):
        name = argv[i].decode('utf-8', 'surrogateescape').lower()
        d = BY_NAME.get(name)
        if d is None:
            return error(b"ERR Unknown option or number of arguments for CONFIG SET - '%s'" %
                         argv[i])
        if not d.mutable:
            return error(b"ERR CONFIG SET failed (possibly related to argument '%s') - can't "
                         b"set immutable config" % argv[i])
        if d.name in seen:
            return error(b"ERR CONFIG SET failed (possibly related to argument '%s') - "
                         b"duplicate parameter" % argv[i])
        seen.add(d.name)
        raw = argv[i + 1].decode('utf-8', 'surrogateescape')
        try:
            args = [raw]
            if d.multi_arg:
                from ..util import split_args
                args = [a.decode('utf-8', 'surrogateescape')
                        for a in (split_args(argv[i + 1]) or [])] or ['']
            value = d.convert(args)
            if d.name == 'notify-keyspace-events':
                from ..notify import NotifyFlags
                flags = NotifyFlags.parse(value)
                if flags is None:
                    raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
                value = NotifyFlags.format(flags)
        except ConfigError as e:
            return error(b"ERR CONFIG SET failed (possibly related to argument '%s') - %s" % (
                argv[i], str(e).encode()))
        changes.append((d, value))
    old = [(d, getattr(config, d.attr)) for d, _ in changes]
    for d, value in changes:
        setattr(config, d.attr, value)
    try:
        for d, _ in changes:
            fn = APPLY.get(d.name)
            if fn is not None:
                fn(server)
    except ConfigError as e:
        for d, value in old:
            setattr(config, d.attr, value)
        for d, _ in changes:
            fn = APPLY.get(d.name)
            if fn is not None:
                try:
                    fn(server)
                except ConfigError:
                    pass
        return error(b"ERR CONFIG SET failed (possibly related to argument '%s') - %s" % (
            changes[0][0].name.encode(), str(e).encode()))
    return OK


@command('config|resetstat')
def config_resetstat(c, argv):
    from ..server import Stats
    server = c.server
    server.stat = Stats()
    for cmd in server_commands():
        cmd.calls = cmd.rejected_calls = cmd.failed_calls = 0
    return OK


def server_commands():
    from . import TABLE
    for cmd in TABLE.values():
        yield cmd
        if cmd.subcommands:
            yield from cmd.subcommands.values()


@command('config|rewrite')
def config_rewrite(c, argv):
    rewrite = getattr(c.server, 'config_rewrite', None)
    if c.server.config.config_file is None:
        return b'-ERR The server is running without a config file\r\n'
    if rewrite is None:
        return b'-ERR Rewriting config file: not supported yet\r\n'
    err = rewrite()
    if err:
        return error(b'ERR Rewriting config file: ' + err.encode())
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
