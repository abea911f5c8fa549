"""Inline requests on the trusted path: resp.inline_requests splits the
plain lines of a read into argument lists (no re-encoding), stops before the
first line the exact parser must read (quotes, NUL, a blank line, a '*'),
and the replies to a mixed inline/multibulk pipeline are redis-server's."""

from pyredis.resp import PROTO_INLINE_MAX_SIZE, inline_requests


def test_inline_requests_split_and_stop():
    buf = b'PING\r\nSET a 1\r\nGET  a\r\n*1\r\n$4\r\nPING\r\n'
    reqs, pos = inline_requests(buf, 0)
    assert reqs == [[b'PING'], [b'SET', b'a', b'1'], [b'GET', b'a']]
    assert buf[pos:].startswith(b'*1\r\n')
    for stop in (b'ECHO "a b"\r\n', b'\r\n', b'EC\x00HO\r\n', b"ECHO 'x'\r\n"):
        reqs, pos = inline_requests(b'PING\r\nPING\r\n' + stop + b'PING\r\n', 0)
        assert reqs == [[b'PING'], [b'PING']] and pos == 12
    assert inline_requests(b'PING', 0) == (None, 0)             # no complete line
    assert inline_requests(b'*1\r\n$4\r\nPING\r\n', 0) == (None, 0)
    reqs, pos = inline_requests(b'x' * 10 + b'\r\n', 0)
    assert reqs == [[b'x' * 10]] and pos == 12
    big = b'PING\r\n' * (2 * PROTO_INLINE_MAX_SIZE // 6)
    reqs, pos = inline_requests(big, 0)
    assert 0 < pos <= PROTO_INLINE_MAX_SIZE + 1 and len(reqs) == pos // 6


def test_inline_pipeline_as_redis(compat):
    data = (b'SET k 1\r\nINCR k\r\nGET k\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nECHO "a b"\r\n'
            b'PING\r\n\r\nECHO x\r\nRPUSH l a b\r\nLRANGE l 0 -1\r\nQUIT\r\n')
    compat.raw(data, replies=10)


def test_c_parser_splits_inline_lines_as_inline_requests():
    """parse_requests(..., inline=True) (C) takes the same plain lines as
    resp.inline_requests, split the same way, and stops where it stops
    (the exact parser reads the rest); random lines of spaces, tabs, CRs,
    quotes, NULs, vertical tabs, form feeds, stars and letters."""
    import random
    import pytest
    try:
        from pyredis._speedups import parse_requests
    except ImportError:
        pytest.skip('no C extension')
    rnd = random.Random(19)
    alphabet = b'ab* \t\r\n"\'\x00\x0b\x0cPING'
    for _ in range(20000):
        buf = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 30)))
        if buf[:1] == b'*':
            continue    # (a multibulk request's start, for the other scanner)
        reqs, done, need = parse_requests(buf, 1 << 20, True)
        py_reqs, pos = inline_requests(buf, 0)
        assert (reqs or None, done) == (py_reqs, pos), buf
        assert need == (0 if done == len(buf) else -1), buf
        # Not for the master's link: none at all.
        assert parse_requests(buf, 1 << 20) == ([], 0, -1)
    # Lines up to PROTO_INLINE_MAX_SIZE long, not one byte more.
    for n, taken in ((PROTO_INLINE_MAX_SIZE, True), (PROTO_INLINE_MAX_SIZE + 1, False)):
        buf = b'x' * (n - 1) + b'\r\n'
        assert (parse_requests(buf, 1 << 20, True)[1] == len(buf)) == taken
