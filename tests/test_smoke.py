"""A first end-to-end check: the server starts, answers redis-py, and matches
redis-server on a few basic commands."""


def test_ping_set_get(pyredis):
    r = pyredis.client()
    assert r.ping()
    assert r.set('k', 'v')
    assert r.get('k') == b'v'


def test_compat_basics(compat):
    compat.run(
        ('PING',), ('ECHO', 'hi'), ('SET', 'a', '1'), ('GET', 'a'), ('INCR', 'a'),
        ('GET', 'nokey'), ('DEL', 'a', 'b'), ('EXISTS', 'a'), ('FOO', 'x', 'y'),
        ('GET',), ('SELECT', '99'),
    )
