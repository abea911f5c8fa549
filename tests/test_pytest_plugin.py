"""The pytest plugin (pyredis.pytest_plugin), run as a project would run it:
pytest in a subprocess, over a project's own test files, with the plugin
loaded from pyredis's pytest11 entry point.

The example application (tests/example_app) has its tests written against
a ``redis`` fixture. Its conftest gives that fixture from fakeredis; the
switch to a real pyredis server is one line of that conftest. The same
tests written for pytest-redis (its ``redisdb`` fixture, no conftest) switch
with a one-line conftest too."""

import os
import re
import shutil
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, 'example_app')

FAKEREDIS_CONFTEST = '''
import fakeredis
import pytest


@pytest.fixture
def redis():
    return fakeredis.FakeRedis()
'''

# The same conftest, switched to pyredis: the one changed line is the
# fixture's (redis_client is the plugin's, flushed before each test).
PYREDIS_CONFTEST = '''
import fakeredis
import pytest


@pytest.fixture
def redis(redis_client): return redis_client
'''


# A suite written for pytest-redis asks for its ``redisdb`` fixture by name
# in its tests, with no conftest of its own; the switch is one conftest line.
PYTEST_REDIS_TO_PYREDIS_CONFTEST = '''
from pyredis.pytest_plugin import redis_client as redisdb
'''

# Which server answered: pytest-redis runs redis-server in a child process,
# the plugin's session server runs in a thread of the pytest process.
WHICH_SERVER = '''
import os


def test_which_server(redisdb):
    assert (redisdb.info('server')['process_id'] == os.getpid()) == %r
'''


def _app(pytester, conftest, fixture='redis'):
    if conftest is not None:
        pytester.makeconftest(conftest)
    # (The app's tests are kept as cache_tests.py, so that this suite does
    # not collect them itself.)
    for name, as_name in (('cache.py', 'cache'), ('cache_tests.py', 'test_cache')):
        with open(os.path.join(APP, name)) as f:
            source = f.read()
        if name == 'cache_tests.py' and fixture != 'redis':
            # The same tests as a pytest-redis user writes them, with its
            # fixture's name.
            source = re.sub(r'\bredis\b', fixture, source)
        pytester.makepyfile(**{as_name: source})
    pytester.syspathinsert()


def test_example_app_on_fakeredis(pytester):
    pytest.importorskip('fakeredis')
    _app(pytester, FAKEREDIS_CONFTEST)
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=4)


def test_example_app_on_pyredis(pytester):
    pytest.importorskip('fakeredis')
    _app(pytester, PYREDIS_CONFTEST)
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=4)


def _needs_pytest_redis():
    pytest.importorskip('pytest_redis')
    if shutil.which('redis-server') is None:
        pytest.skip('pytest-redis runs a redis-server binary')


def test_example_app_on_pytest_redis(pytester):
    _needs_pytest_redis()
    _app(pytester, None, fixture='redisdb')
    pytester.makepyfile(test_which=WHICH_SERVER % False)
    # pytest-redis puts redis-server's unix socket under the base temporary
    # directory, and pytester's is deeper than a socket path may be.
    with tempfile.TemporaryDirectory(prefix='prd') as base:
        result = pytester.runpytest_subprocess('-p', 'no:cacheprovider',
                                               '--basetemp=' + os.path.join(base, 't'))
    result.assert_outcomes(passed=5)


def test_example_app_on_pyredis_instead_of_pytest_redis(pytester):
    _needs_pytest_redis()
    _app(pytester, PYTEST_REDIS_TO_PYREDIS_CONFTEST, fixture='redisdb')
    pytester.makepyfile(test_which=WHICH_SERVER % True)
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=5)


def test_fixtures_and_options(pytester):
    pytester.makeini('[pytest]\npyredis_directives =\n    maxmemory-policy allkeys-lru\n'
                     '    databases 4\n')
    pytester.makepyfile(test_fixtures='''
import asyncio


def test_session_server(pyredis_server, redis_client, redis_url):
    assert redis_url == pyredis_server.url
    assert redis_client.config_get('maxmemory-policy') == {
        'maxmemory-policy': 'volatile-lfu'}
    assert redis_client.config_get('databases') == {'databases': '4'}
    redis_client.set('k', 'v')


def test_flushed_between_tests(redis_client):
    assert redis_client.dbsize() == 0


def test_async_client(async_redis_client):
    async def main():
        await async_redis_client.set('a', 1)
        value = await async_redis_client.get('a')
        await async_redis_client.aclose()
        return value
    assert asyncio.run(main()) == b'1'


LOOP = asyncio.new_event_loop()


def test_async_client_left_open_in_a_closed_loop(async_redis_client):
    asyncio.run(async_redis_client.set('a', 1))


def test_async_client_left_open_in_an_open_loop(async_redis_client):
    LOOP.run_until_complete(async_redis_client.set('a', 1))


def test_async_clients_were_closed(redis_client):
    # The two clients above are gone at their tests' teardown.
    import time
    for _ in range(100):
        if redis_client.info('clients')['connected_clients'] == 1:
            break
        time.sleep(0.05)
    assert redis_client.info('clients')['connected_clients'] == 1


def test_factory_master_and_replica(pyredis_factory, tmp_path):
    master = pyredis_factory(repl_diskless_sync_delay=0)
    replica = pyredis_factory(replicaof=['127.0.0.1', master.port], appendonly=True,
                              dir=str(tmp_path))
    master.client().set('x', 'y')
    r = replica.client()
    for _ in range(100):
        if r.get('x') == b'y':
            break
        import time
        time.sleep(0.05)
    assert r.get('x') == b'y'
    assert (tmp_path / 'appendonlydir').is_dir()
''')
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider',
                                           '--pyredis-directive', 'maxmemory-policy=volatile-lfu')
    result.assert_outcomes(passed=7)


def test_isolated_option(pytester):
    pytester.makepyfile(test_iso='''
import os


def test_child_process(pyredis_server, redis_client):
    assert pyredis_server.isolated
    assert redis_client.info('server')['process_id'] != os.getpid()
''')
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider', '--pyredis-isolated')
    result.assert_outcomes(passed=1)
