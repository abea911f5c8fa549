"""The pytest plugin (pyredis.pytest_plugin), run as a project would run it:
pytest in a subprocess, over a project's own test files, with the plugin
loaded from pyredis's pytest11 entry point.

The example application (tests/example_app) has its tests written against
a ``redis`` fixture. Its conftest gives that fixture from fakeredis; the
switch to a real pyredis server is one line of that conftest."""

import os

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


def _app(pytester, conftest):
    pytester.makeconftest(conftest)
    # (The app's tests are kept as cache_tests.py, so that this suite does
    # not collect them itself.)
    for name, as_name in (('cache.py', 'cache'), ('cache_tests.py', 'test_cache')):
        with open(os.path.join(APP, name)) as f:
            pytester.makepyfile(**{as_name: f.read()})
    pytester.syspathinsert()


def test_example_app_on_fakeredis(pytester):
    pytest.importorskip('fakeredis')
    _app(pytester, FAKEREDIS_CONFTEST)
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=4)


def test_example_app_on_pyredis(pytester):
    pytest.importorskip('fakeredis')
    _app(pytester, PYREDIS_CONFTEST)
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=4)


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
    result.assert_outcomes(passed=4)


def test_isolated_option(pytester):
    pytester.makepyfile(test_iso='''
import os


def test_child_process(pyredis_server, redis_client):
    assert pyredis_server.isolated
    assert redis_client.info('server')['process_id'] != os.getpid()
''')
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider', '--pyredis-isolated')
    result.assert_outcomes(passed=1)
