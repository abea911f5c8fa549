"""Fixtures shared by the test suite.

``pyredis`` / ``real_redis``: one server each for the whole session, flushed
before every test that uses it. ``server_factory``: starts servers with
custom arguments and stops them all at the end of the test. ``compat``: the
same command sequence sent to pyredis and to a real redis-server, replies
compared byte for byte (skipped only when redis-server is not installed).
"""

import compileall
import os

import pytest

from helpers import ServerProcess, REDIS_SERVER, RawConn

# pytester runs pytest over test projects (test_pytest_plugin.py).
pytest_plugins = ['pytester']

# The suite starts hundreds of servers: compile the package's bytecode once,
# as pip does when it installs a package, rather than in every server (where
# PYTHONDONTWRITEBYTECODE may forbid caching it: 0.5 s per start instead of
# 0.1 s).
compileall.compile_dir(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    'pyredis'), quiet=1)


@pytest.fixture(autouse=True)
def _real_clock_after_each_test():
    """The server clock belongs to the process (pyredis.clock): a test that
    moves it for its embedded servers must not leave later tests (which
    compute expiries with the real time) in its future."""
    yield
    from pyredis import clock
    if clock.frozen() or clock.offset():
        clock.reset()


@pytest.fixture(scope='session')
def _session_pyredis():
    srv = ServerProcess('pyredis')
    yield srv
    srv.stop()


@pytest.fixture(scope='session')
def _session_redis():
    if not REDIS_SERVER:
        pytest.skip('redis-server is not installed: compatibility tests need it '
                    '(apt-get install redis-server)')
    srv = ServerProcess('redis')
    yield srv
    srv.stop()


def _reset(srv):
    conn = RawConn(srv.port)
    conn.call('FLUSHALL')
    conn.call('CONFIG', 'SET', 'notify-keyspace-events', '')
    conn.close()


@pytest.fixture
def pyredis(_session_pyredis):
    _reset(_session_pyredis)
    return _session_pyredis


@pytest.fixture
def real_redis(_session_redis):
    _reset(_session_redis)
    return _session_redis


@pytest.fixture
def server_factory():
    started = []

    def start(kind='pyredis', *args, **kw):
        srv = ServerProcess(kind, args, **kw)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


class Compat:
    """Send the same commands to both servers on fresh connections and
    compare the raw replies."""

    def __init__(self, ours, theirs):
        self.ours = ours
        self.theirs = theirs
        self.a = RawConn(ours.port)
        self.b = RawConn(theirs.port)

    def call(self, *args):
        """Run one command on both; assert identical bytes; return them."""
        ra = self.a.call(*args)
        rb = self.b.call(*args)
        assert ra == rb, 'reply differs for %r:\n pyredis: %r\n redis:   %r' % (args, ra, rb)
        return ra

    def run(self, *commands):
        return [self.call(*c) for c in commands]

    def raw(self, data, replies=1):
        """Send raw bytes to both and compare the next ``replies`` replies."""
        self.a.send(data)
        self.b.send(data)
        out = []
        for _ in range(replies):
            ra, rb = self.a.read_reply(), self.b.read_reply()
            assert ra == rb, 'reply differs for %r:\n pyredis: %r\n redis:   %r' % (data, ra, rb)
            out.append(ra)
        return out

    def close(self):
        self.a.close()
        self.b.close()


@pytest.fixture
def compat(pyredis, real_redis):
    c = Compat(pyredis, real_redis)
    yield c
    c.close()
