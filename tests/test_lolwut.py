"""LOLWUT against redis-server 7.0: byte for byte where Redis's drawing is
not random (Schotter's first two rows of squares, a skyline one row tall,
the version line, the errors), RESP2 and RESP3; the random drawings by
their shape (lines, characters per line, the closing lines)."""

import re

import pytest

from conftest import Compat


@pytest.fixture
def pair(server_factory):
    compat = Compat(server_factory('pyredis'), server_factory('redis'))
    yield compat
    compat.close()


DETERMINISTIC = [
    (), ('foo',), ('VERSION',), ('version', '7'), ('version', '4'), ('version', '-1'),
    ('version', '4294967301', '20', '2', '2'), ('version', 'x'), ('version', '5', 'x'),
    ('VERSION', '6', '4', 'x'), ('version', '5', '66', '8', '2'), ('version', '5', '1', '1', '1'),
    ('version', '5', '0', '0', '0'), ('version', '5', '-1'), ('version', '5', '2', '3', '1'),
    ('version', '6', '1', '1'), ('version', '6', '30', '1'), ('version', '6', '2000', '-5'),
    ('version', '5', '1000', '200', '2'),
] + [('version', '5', str(cols), str(row), str(col))
     for cols in (3, 5, 17, 50, 77, 99, 333) for row in (1, 3, 7, 13, 29) for col in (1, 2)]


@pytest.mark.parametrize('proto', [2, 3])
def test_lolwut_as_redis(pair, proto):
    if proto == 3:
        for conn in (pair.a, pair.b):
            conn.call('HELLO', '3')
    for args in DETERMINISTIC:
        pair.call('LOLWUT', *args)


def _shape(reply):
    """Characters (braille) or pixels (gray escapes) per line, and the text
    after the drawing."""
    lines = reply.decode().split('\n')
    return [len(re.sub('\033\\[[0-9;]*m', '', line)) for line in lines[1:-3]], lines[-3:]


@pytest.mark.parametrize('args', [('version', '5'), ('version', '5', '40', '6', '9'),
                                  ('version', '6'), ('version', '6', '25', '7')])
def test_lolwut_random_drawings_have_redis_s_shape(pair, args):
    a, b = (conn.call('LOLWUT', *args) for conn in (pair.a, pair.b))
    assert _shape(a) == _shape(b)
