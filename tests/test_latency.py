"""The latency monitor against redis-server: LATENCY LATEST/HISTORY/RESET/
GRAPH/DOCTOR/HELP over the same events (times normalized)."""

import re

import pytest

from conftest import Compat


@pytest.fixture
def pair(server_factory):
    compat = Compat(server_factory('pyredis'), server_factory('redis'))
    yield compat
    compat.close()


_TIME = re.compile(rb':17\d{8}\r\n')


def _both(pair, *args):
    a, b = pair.a.call(*args), pair.b.call(*args)
    a, b = _TIME.sub(b':T\r\n', a), _TIME.sub(b':T\r\n', b)
    assert a == b, (args, a, b)
    return a


def test_latency_monitor_as_redis(pair):
    pair.call('LATENCY', 'DOCTOR')
    pair.call('LATENCY', 'LATEST')
    pair.call('LATENCY', 'HISTORY', 'command')
    pair.call('LATENCY', 'GRAPH', 'command')
    pair.call('LATENCY', 'RESET')
    pair.call('LATENCY', 'RESET', 'a', 'b')
    pair.call('LATENCY', 'HELP')
    pair.call('LATENCY', 'NOSUCH')
    pair.call('LATENCY')
    pair.call('CONFIG', 'SET', 'latency-monitor-threshold', '5')
    pair.call('LATENCY', 'DOCTOR')
    pair.call('DEBUG', 'SLEEP', '0.03')
    pair.call('DEBUG', 'SLEEP', '0.001')        # below the threshold
    _both(pair, 'LATENCY', 'LATEST')
    _both(pair, 'LATENCY', 'HISTORY', 'command')
    # (The graph's labels are seconds ago: compared without them.)
    graphs = [conn.call('LATENCY', 'GRAPH', 'command').split(b'\n')[:7]
              for conn in (pair.a, pair.b)]
    assert graphs[0] == graphs[1]
    pair.call('LATENCY', 'GRAPH', 'nosuch')
    for conn in (pair.a, pair.b):
        conn.call('CONFIG', 'SET', 'slowlog-log-slower-than', '-1')
    _both(pair, 'LATENCY', 'DOCTOR')
    for conn in (pair.a, pair.b):
        conn.call('CONFIG', 'SET', 'slowlog-log-slower-than', '100000')
    _both(pair, 'LATENCY', 'DOCTOR')
    pair.call('LATENCY', 'RESET', 'COMMAND', 'command')
    pair.call('LATENCY', 'LATEST')
    pair.call('LATENCY', 'DOCTOR')


def test_latency_graph_rendering():
    """sparkline.c's rendering of several samples, labels included."""
    from pyredis.commands.latency import _render
    out = _render([(10, '3s'), (20, '2s'), (40, '1s'), (40, '0s')], 80, 4)
    assert out == ('  ##\n'
                   '  ||\n'
                   ' o||\n'
                   '_|||\n'
                   '    \n'
                   '3210\n'
                   'ssss\n')
