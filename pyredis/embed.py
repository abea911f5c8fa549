"""Embedded servers: the full pyredis server started from Python.

    with pyredis.serve(appendonly=True) as server:
        r = server.client()           # a redis-py client
        r.set('k', 'v')

``serve()`` runs the same server as ``pyredis-server`` (same configuration
loading, same create_server, same start), in one of two ways:

- in a thread of the calling process, with its own event loop (the
  default): starting takes milliseconds once pyredis is imported, and
  several servers can run side by side (a master and its replica). They
  share the process, so a server run this way does not chdir() to its dir
  (it names its files by it: Server.path), does not take the process's
  signals, and leaves the garbage collector's settings alone;
- in a child process (``isolated=True``): ``python -m pyredis`` with the
  same directives, for what must not share the caller's process (a crash
  test, fork-heavy persistence under a threaded application).

Directives are keyword arguments, with '_' for '-' (``maxmemory_policy=
'allkeys-lru'``); True/False are yes/no, and a list or tuple gives several
arguments (``save=[3600, 1]``). The server listens on 127.0.0.1 and a free
port unless told otherwise, never on 6379 by default, and its files go to a
temporary directory removed when it stops, unless ``dir`` is given.

The log is the process's (one logger per process, as one Redis per
process): embedded servers log to ``logfile`` if given, else nowhere.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from . import config as config_mod, log

__all__ = ['serve', 'EmbeddedServer']

START_TIMEOUT = 30


def serve(port=0, *, host='127.0.0.1', dir=None, isolated=False, unixsocket=None,
          **directives):
    """Start a server and return it once it answers (an EmbeddedServer,
    also a context manager, sync and async)."""
    server = EmbeddedServer(port=port, host=host, dir=dir, isolated=isolated,
                            unixsocket=unixsocket, directives=directives)
    server.start()
    return server


def _free_port(host):
    with socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _directive_args(directives):
    """Keyword arguments as redis-server's command line options."""
    args = []
    for name, value in directives.items():
        if isinstance(value, bool):
            values = ['yes' if value else 'no']
        elif isinstance(value, (list, tuple)):
            values = [str(v) for v in value] or ['']
        elif value is None:
            values = ['']
        else:
            values = [str(value)]
        args.append('--' + name.replace('_', '-'))
        args.extend(values)
    return args


class EmbeddedServer:
    def __init__(self, port=0, host='127.0.0.1', dir=None, isolated=False, unixsocket=None,
                 directives=None):
        self.host = host
        self.port = port or _free_port(host)
        self.isolated = isolated
        self._own_dir = dir is None
        self.dir = os.path.abspath(dir) if dir is not None else tempfile.mkdtemp(
            prefix='pyredis-')
        if unixsocket is True:
            unixsocket = os.path.join(self.dir, 'pyredis.sock')
        self.unix_socket = unixsocket
        directives = dict(directives or {})
        directives.setdefault('save', '')
        args = ['--port', str(self.port), '--bind', host, '--dir', self.dir]
        if unixsocket:
            args += ['--unixsocket', unixsocket]
        self.args = args + _directive_args(directives)
        self.server = None          # the Server (thread mode)
        self.config = None
        self._thread = None
        self._loop = None
        self._proc = None
        self._error = None

    # -- what the caller uses --------------------------------------------------

    @property
    def url(self):
        return 'redis://%s:%d/0' % (self.host if ':' not in self.host else '[%s]' % self.host,
                                    self.port)

    def client(self, **kw):
        """A redis-py client of this server (redis-py must be installed)."""
        import redis
        kw.setdefault('host', self.host)
        kw.setdefault('port', self.port)
        return redis.Redis(**kw)

    def async_client(self, **kw):
        """A redis-py asyncio client of this server."""
        import redis.asyncio
        kw.setdefault('host', self.host)
        kw.setdefault('port', self.port)
        return redis.asyncio.Redis(**kw)

    @property
    def clock(self):
        """The server clock (pyredis.clock): ``freeze()``, ``advance(s)``,
        ``resume()``, ``reset()``. It is the process's: every server
        embedded in the process sees it move. (An isolated server has its
        own: move it with DEBUG CLOCK, enable-debug-command permitting.)"""
        from . import clock
        return clock

    # -- start and stop ----------------------------------------------------------

    def start(self):
        if self.isolated:
            self._start_process()
        else:
            self._start_thread()
        return self

    def _start_thread(self):
        from . import assembly, cli
        assembly.load_commands()
        path, _, options = cli.parse_argv(self.args)
        try:
            config = config_mod.load(path, options, None)
        except config_mod.FatalConfigError as e:
            raise RuntimeError('pyredis: bad configuration: %s' % str(e).strip()) from None
        self.config = config
        if config.logfile:
            log.logger.logfile = config.logfile
            log.logger.level = log.LEVELS[config.loglevel]
        elif not log.logger.logfile:
            log.logger.quiet = True
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run_thread, args=(config, ready),
                                        name='pyredis-%d' % self.port, daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT) or self._error is not None:
            error = self._error
            self.stop()
            raise RuntimeError('pyredis did not start: %s' % (error or 'timeout'))

    def _run_thread(self, config, ready):
        from .assembly import create_server
        try:
            import uvloop
            loop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        server = create_server(config)
        self.server = server

        async def main():
            await server.start()
            ready.set()
            await server.wait_closed()

        try:
            loop.run_until_complete(main())
        except BaseException as e:     # SystemExit from a failed start included
            self._error = e if not isinstance(e, SystemExit) else 'see the log'
        finally:
            ready.set()
            try:
                # What the server left running (a replica's link to its
                # master...) ends with the loop.
                loop.run_until_complete(_cancel_the_rest())
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def _start_process(self):
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
        self._log = open(os.path.join(self.dir, 'pyredis.log'), 'ab')
        self._proc = subprocess.Popen([sys.executable, '-m', 'pyredis'] + self.args,
                                      stdout=self._log, stderr=subprocess.STDOUT,
                                      cwd=self.dir, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.stop()
                raise RuntimeError('pyredis exited with %s (log: %s)' % (
                    self._proc.returncode, os.path.join(self.dir, 'pyredis.log')))
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.sendall(b'PING\r\n')
                    if s.recv(16).startswith((b'+PONG', b'-NOAUTH', b'-LOADING')):
                        return
            except OSError:
                pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError('pyredis did not start within %d s' % START_TIMEOUT)

    @property
    def running(self):
        if self.isolated:
            return self._proc is not None and self._proc.poll() is None
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout=10):
        """Shut the server down (without saving unless its save points say
        so, as SHUTDOWN does) and remove its files if the dir was ours."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._log.close()
        elif self._thread is not None:
            loop, server = self._loop, self.server
            if self._thread.is_alive() and loop is not None and server is not None:
                try:
                    loop.call_soon_threadsafe(_shutdown, server)
                except RuntimeError:        # the loop is already closed
                    pass
                self._thread.join(timeout)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    def __repr__(self):
        return '<pyredis server %s%s>' % (self.url, ' (isolated)' if self.isolated else '')


async def _cancel_the_rest():
    # gather() runs in the loop here: called outside it with no task to
    # wait for, it asks the event loop policy for the thread's loop, and a
    # policy set since the server started (asyncio.set_event_loop_policy,
    # uvloop.install()) has none ("There is no current event loop in thread").
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _shutdown(server):
    if server.shutdown() is not None:
        # A persistence hook refused (a failed final save): stop regardless.
        server.shutdown(now=True)
