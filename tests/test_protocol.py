"""The wire protocol compared with redis-server: inline commands, pipelining,
requests split across reads, and malformed input.

Each case sends the same bytes to pyredis and to a real redis-server over
raw sockets and compares everything the server sends back until it closes
the connection or goes quiet. A malformed request must get Redis's exact
``-ERR Protocol error: ...`` and the connection must be closed, while other
clients carry on.
"""

import socket
import time

import pytest

from helpers import RawConn, encode_command


def exchange(port, chunks, pause=0.0, quiet=0.2):
    """Send the chunks (pausing between them), then read until EOF or until
    nothing arrives for ``quiet`` seconds. Returns (data, closed)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    try:
        for chunk in chunks:
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            if pause:
                time.sleep(pause)
        out = b''
        s.settimeout(quiet)
        while True:
            try:
                data = s.recv(1 << 16)
            except (socket.timeout, TimeoutError):
                return out, False
            except ConnectionResetError:
                return out, True
            if not data:
                return out, True
            out += data
    finally:
        s.close()


def both(pyredis, real_redis, chunks, **kw):
    ours = exchange(pyredis.port, chunks, **kw)
    theirs = exchange(real_redis.port, chunks, **kw)
    assert ours == theirs, 'pyredis: %r\nredis:   %r' % (ours, theirs)
    return ours


INLINE = {
    'ping': b'PING\r\n',
    'ping-lf-only': b'PING\n',
    'lowercase': b'ping\r\n',
    'args': b'SET a "hello world"\r\nGET a\r\n',
    'single-quotes': b"ECHO 'a\\'b'\r\n",
    'hex-escapes': b'ECHO "\\x41\\n\\t\\x4g"\r\n',
    'escapes': b'ECHO "a\\"b\\\\c\\r\\b\\a"\r\n',
    'empty-lines': b'\r\n\r\n\n  \r\nPING\r\n',
    'tabs': b'ECHO\t\tx\r\n',
    'cr-inside': b'ECHO a\rb\r\n',
    'empty-quoted': b'ECHO ""\r\n',
    'dollar-line': b'$4\r\nPING\r\n',
    'unknown': b'FOO bar baz\r\n',
    'set-after-request': b'*1\r\n$4\r\nPING\r\n~1\r\n$4\r\nPING\r\n',
    'push-after-request': b'*1\r\n$4\r\nPING\r\n>1\r\n$4\r\nPING\r\n',
    'map-after-request': b'*1\r\n$4\r\nPING\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n',
    'nul-never-ends-line': b'ECHO a\x00b\r\nPING\r\n',
    'arity': b'GET\r\n',
    'space-before-star': b' *1\r\n',
    # sdssplitargs skips a vertical tab or form feed between arguments but
    # keeps it inside or at the end of one (bytes.split() would not).
    'vertical-tab': b'ECHO a\x0b\r\nECHO \x0bb\x0bc\r\nFOO\x0c\r\n\x0cPING\x0c\x0b\r\n',
    'form-feed-then-plain': b'ECHO a\x0c\r\nPING\r\nECHO b\r\n',
}


@pytest.mark.parametrize('name', sorted(INLINE))
def test_inline_commands(pyredis, real_redis, name):
    data, closed = both(pyredis, real_redis, [INLINE[name]])
    assert not closed


def test_inline_ping_is_pong(pyredis):
    data, closed = exchange(pyredis.port, [b'PING\r\n'])
    assert data == b'+PONG\r\n' and not closed


MALFORMED = {
    'unbalanced-quotes': b'SET a "hello\r\n',
    'quote-then-text': b'SET a "hello"x\r\n',
    'single-quote-unbalanced': b"ECHO 'abc\r\n",
    'unbalanced-multibulk': b'*3\r\n$3\r\nSET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n',
    'integer-element': b'*1\r\n:5\r\n',
    'simple-string-element': b'*1\r\n+PING\r\n',
    'verbatim-element': b'*1\r\n$4\r\nPING\r\n*1\r\n=8\r\ntxt:PING\r\n',
    'bignum-element': b'*2\r\n$4\r\nECHO\r\n(123\r\n',
    'null-element': b'*2\r\n$4\r\nECHO\r\n_\r\n',
    'double-element': b'*2\r\n$4\r\nECHO\r\n,1.5\r\n',
    'nested-array': b'*2\r\n$4\r\nECHO\r\n*1\r\n$1\r\na\r\n',
    'attribute-element': b'*2\r\n$4\r\nECHO\r\n|1\r\n+a\r\n+b\r\n$1\r\nx\r\n',
    'bulk-over-max': b'*1\r\n$536870913\r\n',
    'bulk-non-numeric': b'*1\r\n$abc\r\n',
    'bulk-negative': b'*1\r\n$-1\r\n',
    'bulk-plus-sign': b'*1\r\n$+4\r\nPING\r\n',
    'bulk-leading-zero': b'*1\r\n$04\r\nPING\r\n',
    'bulk-space': b'*1\r\n$ 4\r\nPING\r\n',
    'bulk-empty-length': b'*1\r\n$\r\nPING\r\n',
    'multibulk-non-numeric': b'*abc\r\n',
    'multibulk-empty-length': b'*\r\n',
    'multibulk-plus-sign': b'*+1\r\n$4\r\nPING\r\n',
    'multibulk-leading-zero': b'*01\r\n$4\r\nPING\r\n',
    'multibulk-over-int-max': b'*2147483648\r\n',
    'multibulk-over-llong': b'*99999999999999999999\r\n',
    'after-good-requests': b'*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n',
    'too-big-mbulk-count': b'*' + b'1' * 70000,
    'payload-without-crlf': b'*3\r\n$3\r\nSETxx+\r\n$1\r\nk\r\n',
    'after-good-request-same-read': b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$x\r\n',
    'too-big-bulk-count': b'*1\r\n$' + b'1' * 70000,
}


@pytest.mark.parametrize('name', sorted(MALFORMED))
def test_malformed_input_gets_protocol_error_and_close(pyredis, real_redis, name):
    bystander = RawConn(pyredis.port)
    bystander.call('SET', 'still', 'here')
    data, closed = both(pyredis, real_redis, [MALFORMED[name]])
    assert b'-ERR Protocol error: ' in data
    assert closed
    # The server and its other clients carry on.
    assert bystander.call('GET', 'still') == b'$4\r\nhere\r\n'
    assert RawConn(pyredis.port).call('PING') == b'+PONG\r\n'


def test_huge_inline_line_is_cut_at_64k(pyredis, real_redis):
    """A "1 GB" inline request: Redis answers once 64 KB arrived without a
    newline. ~70 KB are streamed in pieces, as a client would."""
    chunks = [b'x' * 7000] * 10
    data, closed = both(pyredis, real_redis, chunks)
    assert data == b'-ERR Protocol error: too big inline request\r\n' and closed
    assert RawConn(pyredis.port).call('PING') == b'+PONG\r\n'


def test_long_inline_line_with_newline_is_accepted(pyredis, real_redis):
    data, closed = both(pyredis, real_redis, [b'ECHO ' + b'a' * 60000 + b'\r\n'])
    assert data.startswith(b'$60000\r\n') and not closed


def test_bulk_at_max_len_is_accepted_while_incomplete(pyredis, real_redis):
    data, closed = both(pyredis, real_redis, [b'*1\r\n$536870912\r\n'])
    assert data == b'' and not closed


def test_huge_multibulk_count_does_not_stall_the_server(pyredis):
    """hiredis would allocate the whole argument list at once; the count is
    refused (or the arguments awaited) without the server pausing."""
    s = socket.create_connection(('127.0.0.1', pyredis.port), timeout=5)
    s.sendall(b'*2147483647\r\n$4\r\nPING\r\n')
    other = RawConn(pyredis.port)
    for _ in range(20):
        assert other.call('PING') == b'+PONG\r\n'
    s.close()
    assert other.call('PING') == b'+PONG\r\n'


def test_pipeline_of_1000_commands_in_one_write(pyredis, real_redis):
    parts = []
    for i in range(1000):
        kind = i % 5
        if kind == 0:
            parts.append(encode_command(('SET', 'k%d' % i, 'v%d' % i)))
        elif kind == 1:
            parts.append(encode_command(('GET', 'k%d' % (i - 1))))
        elif kind == 2:
            parts.append(encode_command(('INCR', 'counter')))
        elif kind == 3:
            parts.append(encode_command(('MGET', 'k%d' % (i - 3), 'nokey')))
        else:
            parts.append(encode_command(('DEL', 'k%d' % (i - 4))))
    payload = b''.join(parts)
    ours, theirs = RawConn(pyredis.port), RawConn(real_redis.port)
    for conn in (ours, theirs):
        conn.send(payload)
    replies_a = [ours.read_reply() for _ in range(1000)]
    replies_b = [theirs.read_reply() for _ in range(1000)]
    assert replies_a == replies_b
    assert replies_a[-3] == b':200\r\n'


def test_pipeline_of_inline_commands(pyredis, real_redis):
    payload = b''.join(b'INCR c\r\n' for _ in range(1000)) + b'GET c\r\n'
    ours, theirs = RawConn(pyredis.port), RawConn(real_redis.port)
    for conn in (ours, theirs):
        conn.send(payload)
    a = [ours.read_reply() for _ in range(1001)]
    assert a == [theirs.read_reply() for _ in range(1001)]
    assert a[-1] == b'$4\r\n1000\r\n'


def test_mixed_inline_and_multibulk_in_one_write(pyredis, real_redis):
    data, closed = both(pyredis, real_redis, [
        b'*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO x\r\n'
        b'SET k "a b"\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n\r\n*0\r\n*-1\r\nGET k\r\n'])
    assert not closed
    assert data.count(b'\r\n') >= 7


def test_request_split_byte_by_byte(pyredis, real_redis):
    payload = (b'*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n'
               b'PING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\nECHO "x y"\r\n')
    chunks = [payload[i:i + 1] for i in range(len(payload))]
    data, closed = both(pyredis, real_redis, chunks, pause=0.001)
    assert data == b'+OK\r\n$5\r\nvalue\r\n+PONG\r\n$0\r\n\r\n$3\r\nx y\r\n' and not closed


@pytest.mark.parametrize('cut', [1, 2, 3, 4, 5, 6, 9, 13, 14, 20])
def test_request_split_at_every_kind_of_boundary(pyredis, real_redis, cut):
    payload = b'*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n'
    data, closed = both(pyredis, real_redis, [payload[:cut], payload[cut:]], pause=0.05)
    assert data == b'$5\r\nhello\r\n+PONG\r\n' and not closed


def test_malformed_request_split_across_reads(pyredis, real_redis):
    data, closed = both(pyredis, real_redis, [b'*1\r\n$4\r\nPING\r\n*1\r\n', b'$x\r\n'],
                        pause=0.05)
    assert data == b'+PONG\r\n-ERR Protocol error: invalid bulk length\r\n' and closed


def test_large_value_across_many_reads(pyredis, real_redis):
    value = bytes(range(256)) * 4096          # 1 MB
    for srv in (pyredis, real_redis):
        conn = RawConn(srv.port)
        conn.send_command('SET', 'big', value)
        assert conn.read_reply() == b'+OK\r\n'
        assert conn.call('STRLEN', 'big') == b':1048576\r\n'
        assert conn.call('GET', 'big') == b'$1048576\r\n' + value + b'\r\n'


def test_unauthenticated_request_limits(server_factory):
    ours = server_factory('pyredis', '--requirepass', 'pw')
    theirs = server_factory('redis', '--requirepass', 'pw')
    for payload in (b'*11\r\n', b'*10\r\n', b'*1\r\n$16385\r\n', b'*1\r\n$16384\r\n',
                    b'PING\r\nAUTH wrong\r\nAUTH pw\r\nPING\r\n',
                    encode_command(['ECHO'] + ['x'] * 11),
                    b'AUTH pw\r\n' + encode_command(['DEL'] + ['x'] * 11)):
        a = exchange(ours.port, [payload])
        b = exchange(theirs.port, [payload])
        assert a == b, (payload[:40], a, b)


def test_bulk_limit_follows_proto_max_bulk_len(pyredis, real_redis):
    for srv in (pyredis, real_redis):
        assert RawConn(srv.port).call('CONFIG', 'SET', 'proto-max-bulk-len', '1mb') == \
            b'+OK\r\n'
    try:
        data, closed = both(pyredis, real_redis, [b'*2\r\n$4\r\nECHO\r\n$1048577\r\n'])
        assert data == b'-ERR Protocol error: invalid bulk length\r\n' and closed
        data, closed = both(pyredis, real_redis, [b'*2\r\n$4\r\nECHO\r\n$1048576\r\n'])
        assert data == b'' and not closed
        # SETRANGE/APPEND results are bounded by it too.
        ours, theirs = RawConn(pyredis.port), RawConn(real_redis.port)
        for args in (('SETRANGE', 'k', '1048576', 'x'), ('SETRANGE', 'k', '1048575', 'x'),
                     ('APPEND', 'k', 'y'), ('STRLEN', 'k')):
            assert ours.call(*args) == theirs.call(*args), args
    finally:
        for srv in (pyredis, real_redis):
            RawConn(srv.port).call('CONFIG', 'SET', 'proto-max-bulk-len', '512mb')


@pytest.mark.parametrize('payload', [
    b'*1\r\n$4\r\nQUIT\r\n*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n',
    b'PING\r\nQUIT\r\nSET x 1\r\n',
    b'*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n*1\r\n$4\r\nQUIT\r\nSET x 1\r\n',
    b'*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\nQUIT\r\nSET x 1\r\n',
    b'CLIENT KILL TYPE normal SKIPME no\r\nSET x 1\r\n',
    # An inline QUIT before a multibulk request: the exact parser must not
    # hand the rest back to the C parser, which would run it.
    b'QUIT\n*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n',
    b'PING\r\nQUIT\r\n*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n',
])
def test_nothing_runs_after_quit(pyredis, real_redis, payload):
    """Requests pipelined behind QUIT (or a CLIENT KILL of oneself) are not
    executed. The connection is closed after the reply; with replies off
    there is none and Redis leaves the connection open."""
    data, closed = both(pyredis, real_redis, [payload])
    assert closed == (b'REPLY' not in payload)
    for srv in (pyredis, real_redis):
        assert RawConn(srv.port).call('EXISTS', 'x') == b':0\r\n'


def test_query_buffer_limit_closes_the_client(server_factory):
    """A request that outgrows client-query-buffer-limit closes its client,
    logged with the client and the buffer's first bytes, as Redis does; the
    server carries on."""
    chunk = b'x' * 65536
    for kind in ('pyredis', 'redis'):
        srv = server_factory(kind, '--client-query-buffer-limit', '1mb')
        conn = RawConn(srv.port)
        conn.send(b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n')
        for _ in range(24):                     # 1.5 MB of the 3 MB argument
            try:
                conn.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        assert conn.closed(), kind
        deadline = time.time() + 5
        while b'reached max query buffer length' not in srv.read_log().encode() \
                and time.time() < deadline:
            time.sleep(0.05)
        line = next(l for l in srv.read_log().splitlines() if 'max query buffer' in l)
        assert 'Closing client that reached max query buffer length: id=' in line, line
        # (Redis shows the argument's bytes, having consumed the headers
        # into argv; pyredis shows the request from its start.)
        assert '(qbuf initial bytes: "' in line, line
        assert RawConn(srv.port).call('PING') == b'+PONG\r\n'


# Found by the protocol fuzzer (tests/test_protocol_fuzz.py): Redis reads
# a request's lines with strchr() and its numbers with string2ll(), and
# formats "expected '$'" with addReplyErrorFormat.
STRICTNESS = {
    # strchr() stops at a NUL: the line never ends, nothing is answered.
    'nul-in-count-line': b'*1\x00\r\n$4\r\nPING\r\n',
    'nul-in-length-line': b'*1\r\n$4\x00\r\nPING\r\n',
    'nul-instead-of-dollar': b'*1\r\n\x00\r\n',
    'nul-after-count-line': b'*1\r\n$4\r\nPING\r\n\x00*1\r\n$4\r\nPING\r\n',
    # string2ll() refuses what does not fit in 64 bits, negative too.
    'count-below-llong-min': b'*-9223372036854775809\r\nPING\r\n',
    'count-20-digits-negative': b'*-99999999999999999999\r\nPING\r\n',
    'count-llong-min': b'*-9223372036854775808\r\nPING\r\n',
    'length-below-llong-min': b'*1\r\n$-9223372036854775809\r\n',
    # A CR or LF where '$' is expected is shown as a space.
    'cr-instead-of-dollar': b'*1\r\n\r\r\n',
    'lf-instead-of-dollar': b'*1\r\n\n\r\n',
    # The two bytes after a payload are skipped, whatever they are.
    'payload-followed-by-junk': b'*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n',
    'count-line-cr-then-junk': b'*1\rX$4\r\nPING\r\n',
}


@pytest.mark.parametrize('name', sorted(STRICTNESS))
def test_request_lines_read_as_redis_reads_them(pyredis, real_redis, name):
    both(pyredis, real_redis, [STRICTNESS[name]])


@pytest.mark.parametrize('payload', [
    b'CLIENT REPLY OFF\r\n*1\r\n$x\r\n',
    b'CLIENT REPLY OFF\r\n"x\r\nPING\r\n',
    b'CLIENT REPLY SKIP\r\n*1\r\n$x\r\n',
    b'*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n*1\r\n$x\r\n*1\r\n$4\r\nPING\r\n',
])
def test_protocol_error_with_replies_off(pyredis, real_redis, payload):
    """CLIENT REPLY OFF/SKIP silence the protocol error too; Redis closes a
    client after its error reply is written, and with no reply it never
    closes it: the connection stays open and runs nothing more."""
    data, closed = both(pyredis, real_redis, [payload])
    assert data == b'' and not closed


@pytest.mark.parametrize('empty', [b'\r\n', b'\n', b'*0\r\n', b'*-1\r\n'])
def test_empty_request_ends_client_reply_skip(pyredis, real_redis, empty):
    """An empty request resets the client as a command does (resetClient):
    the reply after it is sent."""
    data, closed = both(pyredis, real_redis, [b'CLIENT REPLY SKIP\r\n' + empty + b'PING\r\n'])
    assert data == b'+PONG\r\n'


@pytest.mark.parametrize('chunks', [
    [b'PING\r\nCLIENT REPLY OFF\r\n*1\r\n$x\r\n'],
    [b'PING\r\nCLIENT REPLY SKIP\r\n"x\r\n'],
    [b'PING\r\nCLIENT REPLY OFF\r\nQUIT\r\n'],
    [b'PING\r\nCLIENT REPLY SKIP\r\nQUIT\r\nPING\r\n'],
    # The PONG written before the error arrives: nothing left to close after.
    [b'PING\r\nCLIENT REPLY OFF\r\n', b'*1\r\n$x\r\n'],
    [b'PING\r\nCLIENT REPLY OFF\r\n', b'QUIT\r\n'],
])
def test_silenced_close_after_pending_replies(pyredis, real_redis, chunks):
    """Redis closes a client after a protocol error or QUIT once its
    pending replies are written: under CLIENT REPLY OFF/SKIP, it closes
    only if replies of the same read were pending."""
    data, closed = both(pyredis, real_redis, chunks, pause=0.1)
    assert data == b'+PONG\r\n' and closed == (len(chunks) == 1)


@pytest.mark.parametrize('payload', [
    b'CLIENT REPLY OFF\r\nMULTI\r\nSET a 1\r\nEXEC\r\nCLIENT REPLY ON\r\nGET a\r\n',
    b'CLIENT REPLY SKIP\r\nMULTI\r\nPING\r\nPING\r\nEXEC\r\n',
    # Inside EXEC, CLIENT REPLY SKIP silences the command after the EXEC
    # (Redis's EXEC reply then has fewer elements than it announces).
    b'MULTI\r\nCLIENT REPLY SKIP\r\nPING\r\nPING\r\nEXEC\r\nPING\r\nPING\r\n',
    b'MULTI\r\nCLIENT REPLY SKIP\r\nEXEC\r\nPING\r\n',
    b'MULTI\r\nCLIENT REPLY OFF\r\nPING\r\nEXEC\r\nCLIENT REPLY ON\r\nPING\r\n',
])
def test_client_reply_and_transactions(pyredis, real_redis, payload):
    """+QUEUED and EXEC's replies follow CLIENT REPLY OFF/SKIP, as Redis's
    replies all go through the same check."""
    both(pyredis, real_redis, [payload])


@pytest.mark.parametrize('payload', [
    b'CLIENT REPLY OFF\r\nSUBSCRIBE a\r\nUNSUBSCRIBE\r\nPING\r\n',
    b'CLIENT REPLY SKIP\r\nUNSUBSCRIBE\r\nPING\r\n',
    b'CLIENT REPLY SKIP\r\nPSUBSCRIBE a*\r\nPING\r\nPUNSUBSCRIBE x\r\n',
    b'CLIENT REPLY OFF\r\nSSUBSCRIBE a\r\nSUNSUBSCRIBE\r\n',
    b'CLIENT REPLY OFF\r\nMULTI\r\nSUBSCRIBE a\r\nEXEC\r\n',
])
def test_subscription_confirmations_ignore_client_reply(pyredis, real_redis, payload):
    """(Un)subscription confirmations are pushed (CLIENT_PUSHING): CLIENT
    REPLY OFF/SKIP do not silence them."""
    data, closed = both(pyredis, real_redis, [payload])
    assert b'subscribe' in data
