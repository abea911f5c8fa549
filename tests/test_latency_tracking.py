"""latency-tracking against redis-server: INFO latencystats and LATENCY
HISTOGRAM, RESP2 and RESP3, with the HDR rounding Redis reports.

Durations differ between the servers, so the fast commands' figures are
compared with their digits masked; a DEBUG SLEEP of 20 ms lands in the same
logarithmic bucket on both (16.8 to 33.5 ms), so its histogram is compared
byte for byte."""

import re

import pytest

from conftest import Compat
from helpers import RawConn
from pyredis import hdr


class _Cmd:
    hist = None


def _hist(*us):
    cmd = _Cmd()
    for u in us:
        hdr.record(cmd, u)
    return cmd.hist


def test_c_record_counts_as_the_python_one():
    # hdr.record is _speedups.hdr_record when the extension is built.
    us = [0, 1, 2, 3, 127, 128, 255, 256, 999, 1000, 1001, 4095, 4096, 65535, 999999,
          10 ** 6, 10 ** 6 + 1, 10 ** 9, 2 ** 62, 2 ** 64, 10 ** 30, -1]
    us += [int(1.37 ** k) for k in range(70)]
    a, b = _Cmd(), _Cmd()
    for k, u in enumerate(us):
        n = 1 + k % 3
        hdr.record(a, u, n)
        hdr.record_py(b, u, n)
        hdr.record(a, u)
        hdr.record_py(b, u)
    assert a.hist == b.hist
    assert sum(a.hist.values()) == sum(1 + k % 3 for k in range(len(us))) + len(us)


def test_hdr_rounding_is_redis_s():
    # Figures read from redis-server 7.0.15's INFO latencystats.
    assert hdr.value_at_percentile(_hist(1), 50) == 1003
    assert hdr.value_at_percentile(_hist(3, 3, 9), 50) == 3007
    assert hdr.value_at_percentile(_hist(3, 3, 9), 99) == 9023
    assert hdr.value_at_percentile(_hist(10), 99.9) == 10047
    assert hdr.value_at_percentile(_hist(0), 50) == 1          # clamped to 1 ns
    assert hdr.value_at_percentile(_hist(5000000), 50) == hdr.highest_equivalent(10 ** 9)
    # LATENCY HISTOGRAM's buckets: 3 us -> 4, 9 and 10 us -> 16, as Redis.
    assert hdr.log_buckets(_hist(3, 3, 9)) == [(4, 2), (16, 3)]
    assert hdr.log_buckets(_hist(10)) == [(16, 1)]
    assert hdr.log_buckets(_hist(0, 1)) == [(1, 2)]
    for v in (1, 255, 256, 1023, 1024, 4097, 10 ** 6, 10 ** 9):
        i = hdr.counts_index(v)
        assert hdr.value_at_index(i) <= v <= hdr.highest_equivalent(hdr.value_at_index(i))


@pytest.fixture
def pair(server_factory):
    compat = Compat(server_factory('pyredis'), server_factory('redis'))
    yield compat
    compat.close()


_DIGITS = re.compile(rb'\d+\.\d{3}')


def _masked(pair, *args, mask=_DIGITS):
    """Both replies, figures masked, compared as sets of lines (Redis lists
    the commands in its hash table's order, pyredis in its table's)."""
    a, b = pair.a.call(*args), pair.b.call(*args)
    la, lb = (sorted(mask.sub(b'N', x).split(b'\r\n')[1:]) for x in (a, b))
    assert la == lb, (args, a, b)
    return a


def test_info_latencystats_as_redis(pair):
    for _ in range(3):
        pair.call('SET', 'k', 'v')
    pair.call('GET', 'k')
    pair.call('CONFIG', 'GET', 'maxmemory')
    info = _masked(pair, 'INFO', 'latencystats')
    assert b'latency_percentiles_usec_set:pN,p99=N,p99.9=N' in _DIGITS.sub(
        b'N', info).replace(b'p50=N', b'pN')
    assert b'latency_percentiles_usec_config|get:' in info
    pair.call('CONFIG', 'SET', 'latency-tracking-info-percentiles', '0 50 99.99 100')
    info = _masked(pair, 'INFO', 'latencystats')
    assert b'latency_percentiles_usec_set:p0=' in info and b',p99.99=' in info
    pair.call('CONFIG', 'SET', 'latency-tracking-info-percentiles', '')
    _masked(pair, 'INFO', 'latencystats')
    pair.call('CONFIG', 'SET', 'latency-tracking-info-percentiles', '50')
    pair.call('DEBUG', 'SLEEP', '0.02')
    info = _masked(pair, 'INFO', 'latencystats')
    # A 20 ms sleep: 20.0xx ms, HDR-rounded to 131 us steps.
    p50 = float(re.search(rb'usec_debug:p50=([\d.]+)', info).group(1))
    assert 19990 < p50 < 25000
    # latency-tracking no: the section's title only, and nothing recorded.
    pair.call('CONFIG', 'SET', 'latency-tracking', 'no')
    assert pair.call('INFO', 'latencystats').endswith(b'# Latencystats\r\n\r\n')
    pair.call('SET', 'k', 'v')
    pair.call('CONFIG', 'SET', 'latency-tracking', 'yes')
    _masked(pair, 'INFO', 'latencystats')
    a, b = (conn.call('LATENCY', 'HISTOGRAM', 'set') for conn in (pair.a, pair.b))
    assert _shape(a) == _shape(b) == _shape(b'*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n'
                                            b':3\r\n$14\r\nhistogram_usec\r\n*2\r\n:1\r\n:1\r\n')
    # CONFIG RESETSTAT drops every histogram.
    pair.call('CONFIG', 'RESETSTAT')
    info = _masked(pair, 'INFO', 'latencystats')
    assert info.count(b'latency_percentiles') == 1      # CONFIG|RESETSTAT itself


@pytest.mark.parametrize('proto', [2, 3])
def test_latency_histogram_as_redis(pair, proto):
    if proto == 3:
        for conn in (pair.a, pair.b):
            conn.call('HELLO', '3')
    pair.call('DEBUG', 'SLEEP', '0.02')
    pair.call('DEBUG', 'SLEEP', '0.02')
    pair.call('SET', 'k', 'v')
    pair.call('CONFIG', 'GET', 'maxmemory')
    pair.call('CONFIG', 'GET', 'save')
    # Byte for byte: the sleeps fall in one bucket in both servers.
    reply = pair.call('LATENCY', 'HISTOGRAM', 'debug')
    if proto == 2:
        assert reply == (b'*2\r\n$5\r\ndebug\r\n*4\r\n$5\r\ncalls\r\n:2\r\n'
                         b'$14\r\nhistogram_usec\r\n*2\r\n:33816\r\n:2\r\n')
    else:
        assert reply == (b'%1\r\n$5\r\ndebug\r\n%2\r\n$5\r\ncalls\r\n:2\r\n'
                         b'$14\r\nhistogram_usec\r\n%1\r\n:33816\r\n:2\r\n')
    pair.call('LATENCY', 'HISTOGRAM', 'nosuch', 'a|b|c', 'config|nosuch', 'get')
    # The others with their figures masked (a fast command's microseconds differ).
    for args in (('DEBUG', 'nosuch', 'DeBuG'), ('config|GET',), ('CONFIG', 'debug'),
                 ('set',), ('SET', 'config|get', 'set')):
        a, b = (conn.call('LATENCY', 'HISTOGRAM', *args) for conn in (pair.a, pair.b))
        assert _shape(a) == _shape(b), (args, a, b)


def _shape(reply):
    """The reply with the bucket part's integers masked (each bucket count
    kept apart: fast commands may fill one bucket in a server and two in
    the other, so the header of the buckets is masked too)."""
    reply = re.sub(rb'histogram_usec\r\n[*%]\d+\r\n((:\d+\r\n)*)', b'histogram_usec\r\nB', reply)
    return reply


def test_latency_histogram_after_a_pipeline(pyredis):
    # The trusted request path records each call of a run of one command.
    conn = RawConn(pyredis.port)
    try:
        conn.call('CONFIG', 'RESETSTAT')
        conn.send(b''.join(b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n' for _ in range(100)))
        for _ in range(100):
            conn.read_reply()
        reply = conn.call('LATENCY', 'HISTOGRAM', 'set')
        assert reply.startswith(b'*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:100\r\n')
        assert reply.endswith(b':100\r\n')
    finally:
        conn.close()
