"""The differential protocol fuzzer with a fixed budget: generated and
mutated request streams sent to pyredis and to redis-server over raw
sockets, split across reads; the reply bytes and whether the connection was
closed must be the same, and the pyredis log must hold no traceback.

The generator and the runner are benchmarks/protocol_fuzz.py's (its
docstring tells what a case is); the long run is that script. Two sources
of cases: a fixed seed run concurrently, as the long run does, and
hypothesis (derandomized, so the same cases every run), which shrinks a
failing case to a small one.
"""

import asyncio
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import REDIS_SERVER, ROOT, ServerProcess

sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
import protocol_fuzz as fuzz  # noqa: E402


def start_pair(auth):
    if not REDIS_SERVER:
        pytest.skip('redis-server is not installed')
    started = []
    try:
        for kind in ('pyredis', 'redis'):
            started.append(ServerProcess(kind, fuzz.server_args(auth)))
    except BaseException:
        for srv in started:
            srv.stop()
        raise
    return started


@pytest.fixture(scope='module')
def servers():
    pair = start_pair(auth=False)
    yield pair
    for srv in pair:
        srv.stop()


@pytest.fixture(scope='module')
def auth_servers():
    """With requirepass: a quarter of the cases are not authenticated (the
    tighter request limits of such clients), some authenticate midway."""
    pair = start_pair(auth=True)
    yield pair
    for srv in pair:
        srv.stop()


def no_tracebacks(srv):
    bad = fuzz.tracebacks(srv.read_log())
    assert not bad, '\n'.join(bad[:20])


@pytest.mark.parametrize('auth', [False, True], ids=['open', 'requirepass'])
def test_fixed_seed(request, auth):
    pair = request.getfixturevalue('auth_servers' if auth else 'servers')
    ports = [s.port for s in pair]
    result = asyncio.run(fuzz.fuzz(ports, 'suite', 3000, concurrency=16, quiet=0.1,
                                   auth=auth))
    assert result.requests >= 3000
    assert result.closes > 0        # the protocol errors were reached
    assert not result.differences, '\n'.join(
        fuzz.describe('suite', index, ours, theirs)
        for index, ours, theirs in result.differences[:5])
    no_tracebacks(pair[0])


@settings(max_examples=200, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False))
def test_hypothesis_cases(servers, rng):
    case = fuzz.build_case(rng)
    ours, theirs = asyncio.run(fuzz.compare_case([s.port for s in servers], fuzz.FIRST_DB,
                                                 case))
    assert ours == theirs, 'sent %r in %d chunks (half close: %s)' % (
        case.data()[:3000], len(case.chunks), case.half_close)
    no_tracebacks(servers[0])
