"""The command line and process start-up, as redis-server has them:

    pyredis-server [/path/to/redis.conf] [--directive value ...] [-]

A first argument that does not start with '-' is the config file. Every
'--name' starts a directive line whose arguments run up to the next
'--name' (so '--save 900 1 300 10' works); as in Redis, an option name with
no value yet takes the next word as its value even when it starts with
'--' ('--requirepass --secret'), and '--save' with nothing after it means
'save ""'. The options are turned into config text (values quoted) and
read after the file and after standard input ('-' as the first or last
argument), so they win, and errors in them are reported with the line
numbers Redis reports.

Start-up then follows Redis's order: logging (file or stdout, syslog),
daemonize, the pid file, the open-files limit for maxclients, the working
directory, rename-command, and the server itself.
"""

import asyncio
import os
import sys

from . import acl, config as config_mod, log
from .config import REDIS_VERSION, FatalConfigError, OpenError, repr_string

USAGE = """Usage: ./redis-server [/path/to/redis.conf] [options] [-]
       ./redis-server - (read config from stdin)
       ./redis-server -v or --version
       ./redis-server -h or --help
       ./redis-server --test-memory <megabytes>
       ./redis-server --check-system

Examples:
       ./redis-server (run the server with default conf)
       echo 'maxmemory 128mb' | ./redis-server -
       ./redis-server /etc/redis/6379.conf
       ./redis-server --port 7777
       ./redis-server --port 7777 --replicaof 127.0.0.1 8888
       ./redis-server /etc/myredis.conf --loglevel verbose -
       ./redis-server /etc/myredis.conf --loglevel verbose

Sentinel mode:
       ./redis-server /etc/sentinel.conf --sentinel
"""

DEFAULT_PID_FILE = '/var/run/redis.pid'


def parse_argv(args):
    """Split argv as redis-server's main() does. Returns (config file or
    None, read stdin?, options text)."""
    path = None
    stdin = False
    options = ''
    j = 0
    if args and not args[0].startswith('-'):
        path = args[0]
        j = 1
    handled_last = True
    n = len(args)
    while j < n:
        a = args[j]
        if a == '-' and (j == 0 or j == n - 1):
            stdin = True
        elif handled_last and a.startswith('--'):
            if options:
                options += '\n'
            options += a[2:] + ' '
            parts = config_mod.split_args(a.encode('utf-8', 'surrogateescape')) or []
            if len(parts) == 1:
                handled_last = False
                nxt_is_opt = j != n - 1 and args[j + 1].startswith('--')
                if a.lower() == '--save' and (nxt_is_opt or j == n - 1):
                    # '--save' alone means 'save ""' (pre-7.0 compatibility).
                    options += '""'
                    handled_last = nxt_is_opt
            else:
                handled_last = True
        else:
            options += repr_string(a) + ' '
            handled_last = True
        j += 1
    return path, stdin, options


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ('-v', '--version'):
        print('Redis server v=%s sha=00000000:0 malloc=libc bits=64 build=0 (pyredis)' %
              REDIS_VERSION)
        return 0
    if args and args[0] in ('-h', '--help'):
        sys.stderr.write(USAGE)
        return 1
    # The command table must exist before the config is read: rename-command
    # checks the names it renames.
    from . import assembly
    assembly.load_commands()
    log.logger.role = 'C'
    try:
        path, stdin, options = parse_argv(args)
        stdin_text = None
        if stdin:
            log.warning('Reading config from stdin')
            stdin_text = sys.stdin.buffer.read()
        config = config_mod.load(path, options, stdin_text,
                                 user_check=acl.check_user_directive)
    except OpenError as e:
        log.warning(str(e))
        return 1
    except FatalConfigError as e:
        sys.stderr.write(str(e))
        sys.stderr.flush()
        return 1
    return run(config, bool(path or stdin or options))


def setup_logging(config):
    logger = log.logger
    logger.level = log.LEVELS[config.loglevel]
    logger.logfile = config.logfile
    if config.syslog_enabled:
        logger.open_syslog(config.syslog_ident, config.syslog_facility)


def daemonize():
    """Fork into the background like Redis: the parent exits, the child
    starts a new session with stdin/stdout/stderr on /dev/null."""
    if os.fork():
        os._exit(0)
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(fd, std)
    if fd > 2:
        os.close(fd)


def supervised_mode(config):
    """redisIsSupervised: 'systemd' or 'upstart' when the process really
    runs under one (NOTIFY_SOCKET / UPSTART_JOB), else None."""
    mode = config.supervised
    if mode == 'auto':
        mode = 'systemd' if os.environ.get('NOTIFY_SOCKET') else (
            'upstart' if os.environ.get('UPSTART_JOB') else 'no')
    if mode == 'systemd' and os.environ.get('NOTIFY_SOCKET'):
        return 'systemd'
    if mode == 'upstart' and os.environ.get('UPSTART_JOB'):
        return 'upstart'
    if mode in ('systemd', 'upstart'):
        log.warning('%s supervision requested or auto-detected, but no %s environment '
                    'variable found' % (mode, 'NOTIFY_SOCKET' if mode == 'systemd'
                                        else 'UPSTART_JOB'))
    return None


def notify_supervisor(mode):
    """Tell the supervisor the server is ready (sd_notify READY=1, or
    SIGSTOP for upstart's 'expect stop')."""
    if mode == 'systemd':
        import socket
        addr = os.environ['NOTIFY_SOCKET']
        if addr.startswith('@'):
            addr = '\0' + addr[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(b'STATUS=Ready to accept connections\nREADY=1', addr)
        except OSError as e:
            log.warning('Failed to notify systemd: %s' % e)
    else:
        import signal
        os.environ.pop('UPSTART_JOB', None)
        os.kill(os.getpid(), signal.SIGSTOP)


def write_pidfile(path):
    try:
        with open(path, 'w') as f:
            f.write('%d\n' % os.getpid())
        return True
    except OSError as e:
        log.warning('Failed to write PID file: %s' % e.strerror)
        return False


def apply_renames(config):
    """rename-command: move (or, with an empty new name, remove) entries of
    the command table."""
    from .commands import TABLE, DISPATCH
    for old, new in config.renames:
        old = old.encode('utf-8', 'surrogateescape')
        cmd = TABLE.pop(old, None)
        DISPATCH.pop(old, None)
        DISPATCH.pop(old.upper(), None)
        if cmd is not None and new:
            new = new.encode('utf-8', 'surrogateescape')
            TABLE[new] = DISPATCH[new] = DISPATCH[new.upper()] = cmd


def run(config, loaded=True):
    from .commands.config_cmd import adjust_open_files_limit, log_no_effect
    if config.dir:
        # First, as Redis (which chdir()s while reading 'dir'): every relative
        # path (logfile, pidfile, unixsocket, dbfilename) is relative to it.
        try:
            os.chdir(config.dir)
        except OSError as e:
            sys.stderr.write("Can't chdir to '%s': %s\n" % (config.dir, e.strerror))
            return 1
    setup_logging(config)
    supervised = supervised_mode(config)
    if config.daemonize and not supervised:
        daemonize()
        if not config.logfile:
            log.logger.quiet = True       # Redis: stdout logging goes to /dev/null
    try:
        import uvloop
    except ImportError:
        uvloop = None
    log.warning('oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo')
    log.warning('Redis version=%s, bits=64, commit=00000000, modified=0, pid=%d, just started' %
                (REDIS_VERSION, os.getpid()))
    if loaded:
        log.warning('Configuration loaded')
    else:
        log.warning('Warning: no config file specified, using the default config. In order to '
                    'specify a config file use %s /path/to/redis.conf' % sys.argv[0])
    pidfile = config.pidfile
    if config.daemonize and not pidfile:
        pidfile = DEFAULT_PID_FILE
    wrote_pid = bool(pidfile) and write_pidfile(pidfile)
    owner = os.getpid()      # forked children (BGSAVE...) must not remove it
    log.logger.role = 'M'
    try:
        adjust_open_files_limit(config)
        if (not config.port or not config.bind) and not config.unixsocket:
            log.warning('Configured to not listen anywhere, exiting.')
            return 1
        apply_renames(config)
        for mod in config.modules:
            log.warning("Module %s not loaded: pyredis does not support modules "
                        "(loadmodule has no effect)" % mod[0])
        for name in config.module_configs:
            log.warning("Module configuration '%s' has no effect: pyredis does not support "
                        "modules" % name)
        from .assembly import create_server
        server = create_server(config)
        server.owns_process = True  # it chdir()ed to dir, takes the signals...
        log_no_effect(server, sorted(n for n in config.explicit if n in config.non_default()))
        if supervised:
            server.startup_hooks.append(lambda: notify_supervisor(supervised))

        async def serve():
            await server.start()
            await server.wait_closed()

        if uvloop is not None:
            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        else:
            runner = asyncio.Runner()
        with runner:
            runner.run(serve())
        return server.exit_code or 0
    finally:
        if wrote_pid and os.getpid() == owner:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
