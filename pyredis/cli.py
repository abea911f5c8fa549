"""The command line, as redis-server has it:

    pyredis-server [/path/to/redis.conf] [--directive value ...] [-]

A first argument that does not start with '--' is the config file ('-'
reads the config from standard input). Every '--name' starts a directive
line whose arguments run up to the next '--name', so '--save 900 1 300 10'
works as in Redis. Command-line directives are applied after the file.
"""

import asyncio
import os
import sys

from . import config as config_mod, log
from .config import REDIS_VERSION, FatalConfigError

USAGE = """Usage: ./redis-server [/path/to/redis.conf] [options] [-]
       ./redis-server - (read config from stdin)
       ./redis-server -v or --version
       ./redis-server -h or --help

Examples:
       ./redis-server (run the server with default conf)
       ./redis-server /etc/redis/6379.conf
       ./redis-server --port 7777
       ./redis-server --port 7777 --replicaof 127.0.0.1 8888
       ./redis-server /etc/myredis.conf --loglevel verbose -
       ./redis-server /etc/myredis.conf --loglevel verbose
"""


def parse_argv(args):
    """Split argv into (config file or None, read stdin?, [directive argv])."""
    path = None
    stdin = False
    options = []
    i = 0
    if args and not args[0].startswith('--') and args[0] != '-':
        path = args[0]
        i = 1
    current = None
    while i < len(args):
        a = args[i]
        if a == '-':
            stdin = True
        elif a.startswith('--') and len(a) > 2:
            current = [a[2:]]
            options.append(current)
        elif current is not None:
            current.append(a)
        else:
            raise FatalConfigError("Invalid option '%s'" % a)
        i += 1
    # '--save' with no value means an empty save list, as in Redis.
    for opt in options:
        if len(opt) == 1 and opt[0].lower() == 'save':
            opt.append('')
    return path, stdin, options


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ('-v', '--version'):
        print('Redis server v=%s sha=00000000:0 malloc=libc bits=64 build=0 (pyredis)' %
              REDIS_VERSION)
        return 0
    if args and args[0] in ('-h', '--help'):
        sys.stdout.write(USAGE)
        return 0
    try:
        path, stdin, options = parse_argv(args)
        stdin_text = sys.stdin.buffer.read() if stdin else None
        config = config_mod.load(path, options, stdin_text)
    except FatalConfigError as e:
        sys.stderr.write(str(e))
        if not str(e).endswith('\n'):
            sys.stderr.write('\n')
        return 1
    return run(config)


def run(config):
    log.logger.level = log.LEVELS[config.loglevel]
    log.logger.logfile = config.logfile
    if config.dir:
        try:
            os.chdir(config.dir)
        except OSError as e:
            log.warning("Can't chdir to '%s': %s" % (config.dir, e.strerror))
            return 1
    try:
        import uvloop
    except ImportError:
        uvloop = None
    log.notice('oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo')
    log.notice('Redis version=%s, bits=64, commit=00000000, modified=0, pid=%d, just started' %
               (REDIS_VERSION, os.getpid()))
    if config.config_file:
        log.notice('Configuration loaded')
    else:
        log.warning('Warning: no config file specified, using the default config. In order to '
                    'specify a config file use %s /path/to/redis.conf' % sys.argv[0])
    from .server import Server
    from . import commands
    commands.load_all()
    server = Server(config)

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
