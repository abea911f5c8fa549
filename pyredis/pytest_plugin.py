"""The pytest plugin: real pyredis servers as fixtures.

Installed with pyredis (the ``pytest11`` entry point ``pyredis``), so a
project's tests get, with no conftest of their own:

    pyredis_server      session scope: one embedded server (pyredis.serve)
    redis_url           its URL
    redis_client        a redis-py client; the server is flushed before
                        each test that uses it
    async_redis_client  a redis.asyncio client, flushed the same way
    pyredis_factory     a function starting more servers with their own
                        directives, stopped at the end of the test:
                        ``pyredis_factory(appendonly=True)``,
                        ``pyredis_factory(replicaof=[host, port])``

The session server's directives come from the ini option
``pyredis_directives`` (one ``name value`` per line) and from
``--pyredis-directive name=value`` (repeatable); ``--pyredis-isolated`` (or
the ini ``pyredis_isolated``) runs the servers in child processes instead
of threads. Switching from fakeredis or pytest-redis is one line: a test
that asked for their client asks for ``redis_client``.

Nothing of the server is imported until a fixture is used.
"""

import pytest


def pytest_addoption(parser):
    group = parser.getgroup('pyredis', 'pyredis servers as fixtures')
    group.addoption('--pyredis-directive', action='append', default=[], metavar='NAME=VALUE',
                    help='a directive for the pyredis_server fixture (repeatable)')
    group.addoption('--pyredis-isolated', action='store_true', default=False,
                    help='run the fixtures\' servers in child processes')
    parser.addini('pyredis_directives', type='linelist', default=[],
                  help='directives for the pyredis_server fixture, one "name value" a line')
    parser.addini('pyredis_isolated', type='bool', default=False,
                  help='run the fixtures\' servers in child processes')


def _directives(config):
    directives = {}
    for line in config.getini('pyredis_directives'):
        name, _, value = line.strip().partition(' ')
        if name:
            directives[name] = value.strip()
    for item in config.getoption('pyredis_directive'):
        name, _, value = item.partition('=')
        directives[name.strip()] = value
    return directives


def _isolated(config):
    return config.getoption('pyredis_isolated') or config.getini('pyredis_isolated')


@pytest.fixture(scope='session')
def pyredis_server(pytestconfig):
    from pyredis.embed import serve
    server = serve(isolated=_isolated(pytestconfig), **_directives(pytestconfig))
    yield server
    server.stop()


@pytest.fixture(scope='session')
def redis_url(pyredis_server):
    return pyredis_server.url


@pytest.fixture
def redis_client(pyredis_server):
    client = pyredis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def async_redis_client(pyredis_server):
    flusher = pyredis_server.client()
    flusher.flushall()
    flusher.close()
    # The client connects lazily, in the test's own event loop.
    client = pyredis_server.async_client()
    yield client
    _aclose(client)


def _aclose(client):
    """Close an asyncio client after its test, from synchronous code.

    Its connections belong to the loop the test ran (asyncio.run's,
    pytest-asyncio's...), and only that loop can close them: aclose() runs
    there if it is still open. A test that closed its loop with connections
    still open (asyncio.run(main()) without aclose) left transports that no
    loop will close: their sockets are shut down, so that the server drops
    those clients now, and the descriptors go with the transports."""
    import asyncio
    pool = client.connection_pool
    connections = [c for c in list(getattr(pool, '_available_connections', ())) +
                   list(getattr(pool, '_in_use_connections', ()))
                   if getattr(c, '_writer', None) is not None]
    loops = {getattr(c._writer, '_loop', None) for c in connections}
    loop = loops.pop() if len(loops) == 1 else None
    if not connections:
        # (A loop of its own, closed after: asyncio.run would also clear the
        # thread's current loop, which a later synchronous test may use.)
        own = asyncio.new_event_loop()
        try:
            own.run_until_complete(client.aclose())
        finally:
            own.close()
    elif loop is not None and not loop.is_closed() and not loop.is_running():
        loop.run_until_complete(client.aclose())
    else:
        import socket
        for conn in connections:
            sock = conn._writer.transport.get_extra_info('socket')
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass


@pytest.fixture
def pyredis_factory(pytestconfig):
    from pyredis.embed import serve
    started = []

    def start(**directives):
        directives.setdefault('isolated', _isolated(pytestconfig))
        server = serve(**directives)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
