"""The request paths of networking.py give the same results.

A read is parsed by the C parser (parse_requests) as far as it is in the
strict form clients send, a request cut by the end of a read is kept and
finished in C, and the exact parser (resp.RequestParser, Redis's rules) takes
whatever the C parser refuses. These tests check the C parser against a
reference written from its contract (and hiredis), and feed the same byte
streams, split at every kind of boundary, to an in-process client with and
without the C parser: the replies and the resulting dataset must be
identical. (End-to-end comparisons with redis-server for the same inputs are
in test_protocol.py.)
"""

import random

import hiredis
import pytest

from pyredis import config, networking
from pyredis.networking import Client
from helpers import FakeTransport as Transport
from pyredis.assembly import create_server

speedups = pytest.importorskip('pyredis._speedups')


def parse_requests(buf, max_bulk):
    """The C parser's (requests, consumed, need)."""
    return speedups.parse_requests(buf, max_bulk)


def reference_scan(data, max_bulk):
    """parse_requests' contract in plain Python: (the length of the longest
    prefix of data made of strict, complete requests, what follows it) with
    what follows as 0 (nothing), the length the input must reach for the
    strict request cut by its end to complete (the end of the payload being
    read, or one more byte), or -1 (input that is not in the strict form)."""
    more = len(data) + 1

    def number(pos):
        """(value, position after CRLF), or (None, need)."""
        digits = data[pos:pos + 19]
        k = 0
        while k < len(digits) and digits[k:k + 1].isdigit():
            k += 1
        if k > 18 or (k > 1 and digits[:1] == b'0'):
            return None, -1
        rest = data[pos + k:pos + k + 2]
        if pos + k == len(data) or rest == b'\r':
            return None, more
        if k == 0 or rest != b'\r\n':
            return None, -1
        return int(digits[:k]), pos + k + 2

    pos = good = 0
    while pos < len(data):
        if data[pos:pos + 1] != b'*':
            return good, -1
        n, pos = number(pos + 1)
        if n is None:
            return good, pos
        if not 1 <= n <= 2**31 - 1:
            return good, -1
        for _ in range(n):
            if pos == len(data):
                return good, more
            if data[pos:pos + 1] != b'$':
                return good, -1
            length, pos = number(pos + 1)
            if length is None:
                return good, pos
            if length > max_bulk:
                return good, -1
            if len(data) - pos < length + 2:
                if len(data) - pos > length and data[pos + length:pos + length + 1] != b'\r':
                    return good, -1
                return good, pos + length + 2
            if data[pos + length:pos + length + 2] != b'\r\n':
                return good, -1
            pos += length + 2
        good = pos
    return good, 0


def reference_parse(data, max_bulk):
    """parse_requests' contract: hiredis's requests for the prefix
    reference_scan vouches for, its length, and what follows it."""
    good, need = reference_scan(data, max_bulk)
    reader = hiredis.Reader()
    reader.feed(data[:good])
    out = []
    while (r := reader.gets()) is not False:
        out.append(r)
    return out, good, need


def req(*args):
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


SCAN_CASES = [
    (req(b'PING'), 14, 0),
    (req(b'SET', b'k', b'v') * 3, 3 * len(req(b'SET', b'k', b'v')), 0),
    (req(b'SET', b'k', b''), len(req(b'SET', b'k', b'')), 0),
    (req(b'ECHO', b'\r\n*1\r\n'), len(req(b'ECHO', b'\r\n*1\r\n')), 0),
    (req(b'PING') + b'*1\r\n$4\r\nPI', 14, 28),         # cut in a payload
    (req(b'PING') + b'*1\r\n$4\r\nPING\r', 14, 28),
    (req(b'PING') + b'*1\r', 14, 18),                    # cut in a header
    (req(b'PING') + b'*', 14, 16),
    (req(b'PING') + b'*1\r\n', 14, 19),
    (req(b'PING') + b'*1\r\n$', 14, 20),
    (b'*0\r\n', 0, -1),                                  # empty and negative counts
    (b'*-1\r\n', 0, -1),
    (b'*01\r\n$4\r\nPING\r\n', 0, -1),                   # leading zeros
    (b'*1\r\n$04\r\nPING\r\n', 0, -1),
    (b'*+1\r\n$4\r\nPING\r\n', 0, -1),                   # signs
    (b'*1\r\n$-1\r\n', 0, -1),
    (b'*1\r\n:1\r\n', 0, -1),                             # other RESP types
    (b'*1\r\n+PING\r\n', 0, -1),
    (b'*1\r\n*1\r\n$4\r\nPING\r\n', 0, -1),               # nested array
    (b'*1\r\n$4\r\nPINGxx', 0, -1),                       # no CRLF after the payload
    (b'*1\r\n$4\r\nPINGx', 0, -1),
    (b'*1\n$4\r\nPING\r\n', 0, -1),                       # LF only
    (b'*1\r\n$4\nPING\r\n', 0, -1),
    (b'PING\r\n', 0, -1),                                 # inline
    (req(b'PING') + b'PING\r\n', 14, -1),                # inline after a request
    (b'*2147483648\r\n$1\r\na\r\n', 0, -1),               # count over INT_MAX
    (b'*99999999999999999999\r\n', 0, -1),               # too many digits
    (b'*1\r\n$999999999999999999\r\nx\r\n', 0, -1),
    (b'', 0, 0),
]


@pytest.mark.parametrize('data,consumed,need', SCAN_CASES)
def test_parse_requests_cases(data, consumed, need):
    limit = 512 * 1024 * 1024
    assert reference_scan(data, limit) == (consumed, need)
    assert parse_requests(data, limit) == reference_parse(data, limit)
    assert parse_requests(bytearray(data), limit) == reference_parse(data, limit)


def test_parse_requests_bulk_limit():
    data = req(b'SET', b'k', b'x' * 100)
    assert parse_requests(data, 100) == ([[b'SET', b'k', b'x' * 100]], len(data), 0)
    assert parse_requests(data, 99) == ([], 0, -1)
    assert parse_requests(req(b'PING') + data, 99) == ([[b'PING']], 14, -1)
    with pytest.raises(TypeError):
        parse_requests(memoryview(data), 100)


def test_parse_requests_shares_command_names_only():
    data = req(b'SET', b'key', b'val') + req(b'SET', b'key', b'val') + req(b'sEt', b'SET', b'v')
    a, b, c = parse_requests(data, 100)[0]
    assert a[0] is b[0]             # the cached name
    assert a[1] is not b[1] and a[2] is not b[2]
    assert c[0] == b'sEt' and c[1] == b'SET' and c[1] is not a[0]
    long_name = b'x' * 100
    assert parse_requests(req(long_name) * 2, 1000)[0] == [[long_name], [long_name]]


def test_parse_requests_hands_out_registered_names():
    own = b''.join([b'GE', b'T'])          # not the interned literal
    try:
        speedups.set_command_names({own: own})
        got = parse_requests(req(b'GET', b'key') + req(b'GET', b'key'), 100)[0]
        assert got[0][0] is own and got[1][0] is own
        assert parse_requests(req(b'SET', b'key', b'val'), 100)[0][0][0] == b'SET'
        speedups.set_command_names(None)
        assert parse_requests(req(b'GET', b'key'), 100)[0][0][0] is not own
        with pytest.raises(TypeError):
            speedups.set_command_names([own])
    finally:
        networking.share_command_names()


def test_parse_requests_matches_reference_on_mutations():
    rnd = random.Random(7)
    base = (req(b'SET', b'key:1', b'value') + req(b'GET', b'key:1')
            + req(b'MSET', b'a', b'', b'b', b'\r\n$3\r\n') + req(b'PING'))
    alphabet = b'*$:+-\r\n0123456789aZ'
    for _ in range(5000):
        data = bytearray(base)
        for _ in range(rnd.randint(1, 3)):
            op = rnd.random()
            pos = rnd.randrange(len(data) + 1)
            if op < 0.4 and pos < len(data):
                data[pos] = rnd.choice(alphabet)
            elif op < 0.7:
                data.insert(pos, rnd.choice(alphabet))
            elif pos < len(data):
                del data[pos]
        data = bytes(data[:rnd.randrange(len(data) + 1)] if rnd.random() < 0.3 else data)
        limit = rnd.choice([3, 5, 512 * 1024 * 1024])
        assert parse_requests(data, limit) == reference_parse(data, limit), data


def test_parse_requests_every_cut_of_a_stream():
    """Each prefix of a valid stream: the whole requests in it, and a need
    that is never more than the length at which the next one completes."""
    stream = (req(b'SET', b'k', b'v' * 40) + req(b'GET', b'k')
              + req(b'MSET', b'a', b'1', b'b', b'')
              + req(b'PING'))
    bounds = [0]
    for part in (req(b'SET', b'k', b'v' * 40), req(b'GET', b'k'),
                 req(b'MSET', b'a', b'1', b'b', b''), req(b'PING')):
        bounds.append(bounds[-1] + len(part))
    for cut in range(len(stream) + 1):
        reqs, used, need = parse_requests(stream[:cut], 1 << 20)
        complete = [b for b in bounds if b <= cut]
        assert used == complete[-1] and len(reqs) == len(complete) - 1
        if cut == used:
            assert need == 0
        else:
            nxt = bounds[len(complete)]
            assert cut < need <= nxt


# -- the paths side by side ---------------------------------------------------



def run_stream(chunks, trusted, monkeypatch):
    """Feed the chunks to a fresh in-process client; returns everything it
    wrote, whether it closed, and the dataset."""
    with monkeypatch.context() as m:
        if not trusted:
            # The exact parser alone, as without the C extension.
            m.setattr(networking, 'parse_requests',
                      lambda buf, max_bulk, inline=False: ([], 0, -1))
        server = create_server(config.Config())
        client = Client(server)
        client.transport = Transport()
        server.clients[client.id] = client
        client.update_gate()
        for chunk in chunks:
            if client.closing:
                break
            client.data_received(chunk)
        db = server.dbs[0]
        return (b''.join(client.transport.written), client.transport.closed,
                sorted((k, _contents(v)) for k, v in db.data.items()))


def _contents(value):
    """A value's contents, comparable across runs (the packed list and hash
    types compare by identity)."""
    if hasattr(value, 'items'):
        return repr(sorted(value.items()))
    if not isinstance(value, (bytes, bytearray)):
        return repr(list(value))
    return repr(value)


STREAMS = {
    'pipeline': req(b'SET', b'a', b'1') + req(b'INCR', b'a') + req(b'GET', b'a')
                + req(b'RPUSH', b'l', b'x', b'y') + req(b'LRANGE', b'l', b'0', b'-1'),
    'errors': req(b'GET') + req(b'NOSUCH', b'x') + req(b'get', b'a') + req(b'Set', b'b', b'2')
              + req(b'CONFIG', b'NOPE') + req(b'INCR', b'b') + req(b'LPUSH', b'b', b'x'),
    'inline-then-bulk': b'SET c 3\r\n' + req(b'GET', b'c') + b'PING\r\n',
    'multi': req(b'MULTI') + req(b'SET', b'm', b'1') + req(b'INCR', b'm') + req(b'EXEC'),
    'binary': req(b'SET', b'bin', b'\r\n*1\r\n$4\r\nPING\r\n\x00\xff') + req(b'GET', b'bin'),
    'empty-count': b'*0\r\n' + req(b'PING') + b'*-1\r\n' + req(b'ECHO', b'x'),
    'non-bulk-element': req(b'SET', b'n', b'1') + b'*2\r\n$3\r\nGET\r\n:1\r\n' + req(b'PING'),
    'bad-length': req(b'SET', b'o', b'1') + b'*1\r\n$x\r\n',
    'huge-count': req(b'PING') + b'*2147483648\r\n',
    'leading-zero': req(b'PING') + b'*1\r\n$04\r\nPING\r\n' + req(b'PING'),
    'quit': req(b'SET', b'q', b'1') + req(b'QUIT') + req(b'SET', b'q', b'2'),
    # Inline lines: spaces, tabs and CRs between arguments, a CR inside one,
    # then what only the exact parser reads (quotes, a blank line, NUL,
    # vertical tab, a line starting with a space and '*'), then plain again.
    'inline-mixed': (b'SET  i\t1\r\nGET i\r\r\nECHO a\rb\r\n' + req(b'INCR', b'i')
                     + b'ECHO "x y"\r\nPING\n\r\nECHO a\x00b\r\nECHO a\x0bb\r\n'
                     + b' *1 x\r\nECHO \'q\'\r\nGET i\r\nPING\r\n'),
    'inline-unbalanced': b'PING\r\nECHO "abc\r\nPING\r\n',
}


def splits(data, rnd):
    yield [data]
    yield [data[i:i + 1] for i in range(len(data))]
    for _ in range(20):
        cuts = sorted(rnd.sample(range(1, len(data)), min(len(data) - 1, rnd.randint(1, 4))))
        yield [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


@pytest.mark.parametrize('name', sorted(STREAMS))
def test_c_and_exact_parsers_agree(name, monkeypatch):
    rnd = random.Random(name)
    data = STREAMS[name]
    expected = run_stream([data], False, monkeypatch)
    for chunks in splits(data, rnd):
        assert run_stream(chunks, True, monkeypatch) == expected, chunks
        assert run_stream(chunks, False, monkeypatch) == expected, chunks


def test_strict_stream_never_reaches_the_exact_parser(monkeypatch):
    """Requests split across reads anywhere, even byte by byte, are finished
    by the C parser: a stream that is all strict requests never creates the
    exact parser (the cause of slow mass insertion)."""
    def refuse():
        raise AssertionError('the exact parser was used')
    monkeypatch.setattr(networking, 'RequestParser', refuse)
    rnd = random.Random(5)
    data = STREAMS['pipeline'] + STREAMS['binary'] + req(b'SET', b'big', b'v' * 100000)
    for chunks in splits(data, rnd):
        written, closed, dataset = run_stream(chunks, True, monkeypatch)
        assert not closed and (b'big', repr(b'v' * 100000)) in dataset


def test_large_argument_is_not_rescanned_per_read(monkeypatch):
    """While a large argument arrives, reads are appended to the tail and
    not parsed until it can be whole."""
    calls = []
    real = networking.parse_requests

    def counting(buf, max_bulk, inline=False):
        calls.append(len(buf))
        return real(buf, max_bulk, inline)
    monkeypatch.setattr(networking, 'parse_requests', counting)
    data = req(b'SET', b'big', b'x' * 1000000) + req(b'GET', b'nope')
    chunks = [data[i:i + 1000] for i in range(0, len(data), 1000)]
    written, closed, dataset = run_stream(chunks, True, monkeypatch)
    assert written == b'+OK\r\n$-1\r\n'
    assert len(calls) <= 3, calls


def test_integer_formatting_helpers():
    from pyredis import resp
    for n in (0, 1, -1, 9, 10, 123456, 2**63 - 1, -2**63):
        assert speedups.integer_reply(n) == resp.integer(n) == b':%d\r\n' % n
        assert speedups.decimal(n) == b'%d' % n
    for n in (2**63, -2**63 - 1):
        with pytest.raises(OverflowError):
            speedups.integer_reply(n)


def test_incr_value_matches_string2ll_and_overflow_rules():
    """The C INCRBY arithmetic against the Python version (Redis's strict
    string2ll and incrDecrCommand's overflow test), which runs when the
    extension is not built."""
    from pyredis.commands.strings import incr_value_py as reference
    from pyredis.util import LLONG_MAX, LLONG_MIN

    values = [b'0', b'1', b'-1', b'-0', b'00', b'01', b'+1', b' 1', b'1 ', b'', b'-',
              b'9223372036854775807', b'9223372036854775808', b'-9223372036854775808',
              b'-9223372036854775809', b'18446744073709551616', b'99999999999999999999',
              b'123456789012345678901', b'1.5', b'1e3', b'12a', b'\x001']
    rnd = random.Random(3)
    for _ in range(2000):
        n = rnd.choice([rnd.randrange(-1000, 1000), rnd.randrange(-2**63, 2**63)])
        values.append(b'%d' % n)
    bys = [0, 1, -1, 5, LLONG_MAX, LLONG_MIN, LLONG_MAX - 1, LLONG_MIN + 1]
    for v in values:
        for by in bys:
            assert speedups.incr_value(v, by) == reference(v, by), (v, by)


def test_incr_store_matches_the_python_version():
    """INCR's common case in C (incr_store) against its Python version: the
    same reply, the same stores, and nothing changed when it declines
    (another type, a bytearray, not an integer, an overflow, a keyspace or
    LRU table that is not a plain Keyspace and LruView or a plain dict)."""
    from pyredis.commands.strings import incr_store_py as reference
    from pyredis.db import Keyspace, PLAIN_LRU, new_lru
    from pyredis.util import LLONG_MAX, LLONG_MIN

    class SubDict(dict):
        pass

    class SubView(PLAIN_LRU):
        __slots__ = ()

    def plain():
        data = Keyspace()
        return data, new_lru(PLAIN_LRU, data)

    def lfu_like():
        data = Keyspace()
        return data, new_lru(SubView, data)

    values = [None, b'0', b'1', b'-1', b'007', b' 1', b'', b'1.5', b'12a',
              b'9223372036854775807', b'-9223372036854775808', b'99999999999999999999',
              bytearray(b'5'), [b'a'], {b'f': b'v'}]
    bys = [1, -1, 0, 7, LLONG_MAX, LLONG_MIN]
    for v in values:
        for by in bys:
            for kinds in ((dict, dict), (SubDict, dict), (dict, SubDict), plain, lfu_like):
                results = []
                for fn in (speedups.incr_store, reference):
                    data, lru = kinds() if callable(kinds) else (kinds[0](), kinds[1]())
                    data[b'other'] = b'1'
                    lru[b'other'] = 3
                    if v is not None:
                        data[b'k'] = v
                        lru[b'k'] = 4
                    reply = fn(data, lru, b'k', by, 9)
                    results.append((reply, dict(data.items()), {k: lru.get(k) for k in data}))
                assert results[0] == results[1], (v, by, kinds)


class ManualLoop:
    """Stands in for the event loop: call_soon callbacks wait for run()."""

    def __init__(self):
        self.ready = []

    def call_soon(self, fn, *args):
        self.ready.append((fn, args))

    def call_later(self, delay, fn, *args):
        pass

    def run(self):
        while self.ready:
            fn, args = self.ready.pop(0)
            fn(*args)


def test_a_large_read_runs_a_slice_per_turn():
    """A read larger than FAIR_READ runs its first 16 KB at once and the
    rest a slice per turn of the loop, other clients served in between and
    the socket not read meanwhile; the replies come in order, requests cut
    by a slice boundary included."""
    server = create_server(config.Config())
    server.loop = loop = ManualLoop()
    big, small = Client(server), Client(server)
    for c in (big, small):
        c.transport = Transport()
        c.transport.paused = 0
        c.transport.pause_reading = lambda t=c.transport: setattr(t, 'paused', t.paused + 1)
        c.transport.resume_reading = lambda t=c.transport: setattr(t, 'paused', t.paused - 1)
        server.clients[c.id] = c
        c.update_gate()
    n = 5000
    data = b''.join(req(b'INCR', b'counter:%d' % (i % 7)) for i in range(n))
    assert len(data) > 8 * networking.FAIR_READ
    big.data_received(data)
    # (Replies are written at the end of the loop's turn, after the reads:
    # networking.write_pending, which the loop would run next.)
    networking.write_pending(server)
    first = len(b''.join(big.transport.written).split(b'\r\n')) - 1
    assert 0 < first < n and big.transport.paused == 1
    # Another client's request, and a later read of the same client, arrive.
    small.data_received(req(b'INCR', b'counter:0'))
    networking.write_pending(server)
    assert small.transport.written == [b':%d\r\n' % (first // 7 + 1 + (first % 7 > 0))]
    big.data_received(req(b'GET', b'counter:0'))
    loop.run()
    replies = b''.join(big.transport.written).split(b'\r\n')[:-1]
    assert len(replies) == n + 2 and big.transport.paused == 0   # INCRs, then GET's bulk
    # In order: the INCRs of counter:0 by this client count up by one, but
    # for the other client's INCR, which ran after the first slice.
    counter0 = [int(r[1:]) for i, r in enumerate(replies[:n]) if i % 7 == 0]
    steps = [b - a for a, b in zip(counter0, counter0[1:])]
    assert counter0[0] == 1 and steps.count(2) == 1 and steps.count(1) == len(steps) - 1
    assert replies[n + 1] == b'%d' % (len(counter0) + 1)


def test_maxmemory_set_within_a_pipeline(compat):
    """maxmemory set and unset between the writes of one read, as in
    redis-server: run_requests reads whether there is a limit once per call,
    and CONFIG SET runs in process_command, between two calls."""
    data = (req(b'SET', b'a', b'1') + req(b'CONFIG', b'SET', b'maxmemory', b'1')
            + req(b'SET', b'b', b'2') + req(b'GET', b'a') + req(b'INCR', b'c')
            + req(b'CONFIG', b'SET', b'maxmemory', b'0') + req(b'SET', b'd', b'4'))
    replies = compat.raw(data, 7)
    assert replies[2].startswith(b'-OOM') and replies[4].startswith(b'-OOM')
    assert compat.call('MGET', 'a', 'b', 'c', 'd') == b'*4\r\n$1\r\n1\r\n$-1\r\n$-1\r\n$1\r\n4\r\n'
