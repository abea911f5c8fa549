"""Differential protocol fuzzer: the same request bytes sent to pyredis and to
a real redis-server over raw sockets; every reply byte and whether the
server closed the connection must be the same.

Each case is a byte stream: well-formed requests (multibulk and inline, with
quoting, escapes, empty lines, binary and large arguments) and, in most
cases, mutations of it (flipped, inserted and deleted bytes, cut streams,
wrong and huge lengths and counts, bad type bytes, leading junk, stray CR or
LF, NULs, lines longer than Redis's 64 KB limits). The stream is split at
random points into several send() calls with small pauses, so the servers
see it across reads of every shape; a few cases end with a half close.
Replies are read until the server closes the connection, until all the
replies a well-formed stream asks for have arrived, or until the server
stays quiet for ``quiet`` seconds.

Both servers run with 64 databases and proto-max-bulk-len 1mb (so lengths
around the limit are tried); with --auth they also require a password, a
quarter of the cases do not authenticate first (the tighter limits of an
unauthenticated client) and some streams authenticate midway.

Cases run concurrently (one database per worker, flushed before each case;
the servers are shared); the commands are deterministic ones whose replies
do not depend on time or on the server (PING, ECHO, SET/GET/DEL/EXISTS/INCR
and friends on the case's own keys, MULTI/EXEC, CLIENT REPLY, SUBSCRIBE,
QUIT, unknown commands, wrong arities). A difference seen under load is run again alone with a long
quiet time before it is reported, so a slow reply is not taken for one.
At the end the pyredis log is searched for tracebacks.

Case ``i`` of seed ``s`` is always the same bytes (``make_case``), so a
difference can be replayed:

    python benchmarks/protocol_fuzz.py                    # 1,000,000 requests
    python benchmarks/protocol_fuzz.py -n 20000 --seed 7
    python benchmarks/protocol_fuzz.py --auth -n 200000
    python benchmarks/protocol_fuzz.py --replay 7:1234    # one case, verbose

tests/test_protocol_fuzz.py runs the same generator with a fixed budget.
"""

import argparse
import asyncio
import os
import random
import re
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))

# -- generation ---------------------------------------------------------------------------------

KEYS = [b'a', b'b', b'n', b'{t}k', b'', b'k\r\nk', b'\x00', b'sp ace', b'q"uote', b"s'q",
        b'\\', b'\xff\xfe']
VALUES = [b'', b'0', b'1', b'-1', b'10', b'abc', b'hello world', b'9223372036854775807',
          b'\r\n', b'a\r\nb', b'*1\r\n$4\r\nPING\r\n', b'\x00\x01\xff', b'"', b"'", b'\\x41',
          b'\t\n', b'$-1', b'-ERR x']
# --auth runs the servers with this password; the streams send AUTH with it
# (in either mode) and then select the case's database, DB_MARK, which is
# replaced by its two-digit number when the case is sent.
PASSWORD = b'fuzz-pw'
DB_MARK = b'\xf7\xf8'
FIRST_DB = 10           # the databases the workers use: 10, 11, ... (two digits)
INTERESTING = b'\r\n*$\x00-+:0123456789 "\'\\\t\x0b\x0cxX'
NUMBERS = [b'0', b'-1', b'-0', b'+1', b'01', b' 1', b'1 ', b'', b'x', b'2147483647',
           b'2147483648', b'4294967296', b'1048576', b'1048577', b'536870912', b'536870913',
           b'9223372036854775807', b'9223372036854775808', b'-9223372036854775808',
           b'-9223372036854775809', b'99999999999999999999', b'-99999999999999999999',
           b'18446744073709551616', b'16384', b'16385', b'65536', b'10', b'11']
UNKNOWN = [b'FOO', b'xyzzy', b'PINGX', b'GETT', b'SE', b'\x00', b'a b', b'CLIENTx', b'\xff',
           b'x' * 200, b'"q"']


def value(rng):
    r = rng.random()
    if r < 0.7:
        return rng.choice(VALUES)
    if r < 0.9:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    # Large: across the 16 KB reads and Redis's 32 KB big-argument path.
    return bytes([rng.randrange(32, 127)]) * rng.choice([1000, 16383, 16384, 16385, 20000,
                                                         40000])


def key(rng):
    return rng.choice(KEYS)


def request(rng):
    """One request as an argv (list of bytes)."""
    r = rng.random() * 100
    k = key(rng)
    if r < 8:
        return [b'PING'] + [value(rng) for _ in range(rng.choice([0, 0, 1, 2]))]
    if r < 16:
        return [b'ECHO'] + [value(rng) for _ in range(rng.choice([1, 1, 1, 0, 2]))]
    if r < 30:
        argv = [b'SET', k, value(rng)]
        if rng.random() < 0.3:
            argv.append(rng.choice([b'NX', b'XX', b'GET', b'EX', b'KEEPTTL', b'BAD']))
            if argv[-1] == b'EX':
                argv.append(rng.choice([b'1000', b'0', b'-1', b'x']))
        if rng.random() < 0.05:
            argv = argv[:2]
        return argv
    if r < 40:
        return [b'GET', k] + ([k] if rng.random() < 0.05 else [])
    if r < 46:
        # (Up to 12 arguments: more than an unauthenticated client may send.)
        return [b'DEL'] + [key(rng) for _ in range(rng.choice([0, 1, 2, 3, 9, 10, 11]))]
    if r < 51:
        return [b'EXISTS'] + [key(rng) for _ in range(rng.randrange(0, 4))]
    if r < 58:
        return [rng.choice([b'INCR', b'DECR'])] + [k] * rng.choice([1, 1, 1, 0, 2])
    if r < 62:
        return [b'INCRBY', k, rng.choice(NUMBERS)]
    if r < 66:
        return [b'APPEND', k, value(rng)]
    if r < 69:
        return [b'STRLEN', k]
    if r < 72:
        return [b'MGET'] + [key(rng) for _ in range(rng.randrange(0, 4))]
    if r < 75:
        return [b'MSET'] + [key(rng) if i % 2 == 0 else value(rng)
                            for i in range(rng.randrange(0, 6))]
    if r < 78:
        return [b'GETRANGE', k, rng.choice(NUMBERS), rng.choice(NUMBERS)]
    if r < 80:
        return [b'TYPE', k]
    if r < 83:
        return [rng.choice([b'RPUSH', b'LPUSH']), k] + [value(rng)
                                                       for _ in range(rng.randrange(0, 3))]
    if r < 85:
        return [b'LRANGE', k, b'0', b'-1']
    if r < 87:
        return [rng.choice([b'MULTI', b'EXEC', b'DISCARD'])]
    if r < 88:
        # (Replies silenced: protocol errors too.)
        return [b'CLIENT', b'REPLY', rng.choice([b'ON', b'OFF', b'SKIP', b'SKIP', b'x'])]
    if r < 88.5:
        if rng.random() < 0.5:
            # (One channel: UNSUBSCRIBE without arguments lists a client's
            # channels in the order of its hash table.)
            return [b'SUBSCRIBE'] + [b'c1'] * rng.randrange(0, 3)
        return [b'UNSUBSCRIBE'] + [rng.choice([b'c1', b'c2']) for _ in range(rng.randrange(0, 3))]
    if r < 89:
        return [b'QUIT']
    if r < 92:
        # Command names are case-insensitive.
        name = rng.choice([b'ping', b'Ping', b'eChO', b'get', b'sEt'])
        return [name] + [value(rng) for _ in range(rng.randrange(0, 3))]
    # Unknown commands: the error quotes the name and the first arguments.
    return [rng.choice(UNKNOWN)] + [value(rng) for _ in range(rng.randrange(0, 4))]


def multibulk(argv):
    return b'*%d\r\n' % len(argv) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in argv)


_PLAIN = re.compile(rb'^[^\s"\'\x00\\]+$')


def quote(rng, arg):
    """An argument as sdssplitargs reads it back."""
    if _PLAIN.match(arg) and rng.random() < 0.8:
        return arg
    if b'\x00' in arg or b'\n' in arg or rng.random() < 0.7:
        out = bytearray(b'"')
        for c in arg:
            if c in b'"\\':
                out += b'\\' + bytes([c])
            elif c == 10:
                out += rng.choice([b'\\n', b'\\x0a', b'\\x0A'])
            elif c == 13:
                out += rng.choice([b'\\r', b'\\x0d'])
            elif c == 0 or c >= 127 or c < 32:
                out += b'\\x%02x' % c
            else:
                out.append(c)
        return bytes(out + b'"')
    return b"'" + arg.replace(b"'", b"\\'") + b"'"


def inline(rng, argv):
    # (A vertical tab or form feed is skipped between arguments but does not
    # end one: b' \x0c' separates, b'\x0b' joins.)
    sep = lambda: rng.choice([b' ', b' ', b' ', b'  ', b'\t', b' \x0c', b'\x0b'])  # noqa: E731
    line = sep().join(quote(rng, a) for a in argv)
    if rng.random() < 0.1:
        line = sep() + line + sep()
    return line + rng.choice([b'\r\n', b'\r\n', b'\n'])


def stream(rng):
    """Well-formed requests back to back: (parts, number of replies or None)."""
    parts = []
    replies = 0
    auth_at = rng.randrange(6) if rng.random() < 0.3 else -1
    for i in range(rng.choice([1, 1, 2, 3, 4, 6, 8, 12, 20])):
        if i == auth_at:
            # Authenticating in the middle of a stream (the password the
            # servers run with in --auth mode), then selecting the case's
            # database (DB_MARK, replaced when the case is sent).
            for argv in ([b'AUTH', PASSWORD], [b'SELECT', DB_MARK]):
                parts.append(inline(rng, argv) if rng.random() < 0.3 else multibulk(argv))
                if replies is not None:
                    replies += 1
        r = rng.random()
        if r < 0.05:
            parts.append(rng.choice([b'\r\n', b'\n', b' \r\n', b'\t\n']))
            continue
        argv = request(rng)
        line = inline(rng, argv) if r < 0.3 else None
        # (An inline line longer than 64 KB is refused or not depending on
        # how much of it one read brings: see build_case.)
        parts.append(line if line is not None and len(line) < 60000 else multibulk(argv))
        if replies is not None:
            # ((UN)SUBSCRIBE answers once per channel: not counted.)
            replies = None if argv[0].endswith(b'SUBSCRIBE') else replies + 1
    return parts, replies


def _headers(data):
    return [m.start() for m in re.finditer(rb'[*$]-?\d{0,20}\r\n', data)]


def mutate(rng, data):
    """One mutation of a byte stream."""
    n = len(data)
    pos = rng.randrange(n + 1)
    m = rng.randrange(13)
    if m == 0 and n:        # flip a byte
        pos = min(pos, n - 1)
        b = rng.choice(INTERESTING) if rng.random() < 0.7 else rng.randrange(256)
        return data[:pos] + bytes([b]) + data[pos + 1:]
    if m == 1:              # insert bytes
        ins = rng.choice([b'\r', b'\n', b'\r\n', b'\x00', b'*', b'$', b' ', b'"', b"'",
                          b'\r\n\r\n', b'\x0b', b'\x0c', bytes([rng.randrange(256)])])
        return data[:pos] + ins + data[pos:]
    if m == 2 and n:        # delete bytes
        return data[:pos] + data[pos + rng.randrange(1, 4):]
    if m == 3:              # cut
        return data[:pos]
    if m in (4, 5, 6):      # a count or a length changed
        heads = _headers(data)
        if heads:
            h = rng.choice(heads)
            end = data.index(b'\r\n', h)
            num = rng.choice(NUMBERS) if rng.random() < 0.7 else b'%d' % (
                int(data[h + 1:end] or 0) + rng.choice([-2, -1, 1, 2]))
            return data[:h + 1] + num + data[end:]
    if m == 7:              # the type byte of a line
        heads = _headers(data)
        if heads:
            h = rng.choice(heads)
            return data[:h] + bytes([rng.choice(b'*$+-:~>%=_,(#!|xP \r\n')]) + data[h + 1:]
    if m == 8:              # leading junk
        return rng.choice([b'\r\n', b'\n', b' ', b'x', b'$1\r\n', b'*', b'\x00', b'-1\r\n',
                           b'+OK\r\n', b':1\r\n']) + data
    if m == 9 and n:        # a piece repeated
        end = rng.randrange(pos, n + 1)
        return data[:end] + data[pos:end] + data[end:]
    if m == 10:             # a CRLF made LF or CR alone
        crlfs = [i.start() for i in re.finditer(rb'\r\n', data)]
        if crlfs:
            i = rng.choice(crlfs)
            return data[:i] + rng.choice([b'\n', b'\r', b'\n\r', b'']) + data[i + 2:]
    if m == 11:             # a request with an empty or negative count
        return data[:pos] + rng.choice([b'*0\r\n', b'*-1\r\n', b'*-5\r\n', b'*1\r\n$0\r\n\r\n',
                                        b'*1\r\n']) + data[pos:]
    if m == 12:             # a long line
        return data[:pos] + long_line(rng, rng.choice([rng.randrange(1, 2000),
                                                       rng.randrange(30000, 60000)]))
    return data


def long_line(rng, size, end=True):
    """A line of about ``size`` bytes, ended or not."""
    kind = rng.randrange(4)
    if kind == 0:           # an inline line (no LF)
        line = b'ECHO ' + b'x' * size
    elif kind == 1:         # a count line (no CR)
        line = b'*' + b'1' * size
    elif kind == 2:         # a bulk length line (no CR)
        line = b'*1\r\n$' + b'1' * size
    else:                   # a NUL: strchr stops there, the line never ends
        line = b'ECHO \x00' + b'y' * size
    return line + rng.choice([b'', b'\r\n', b'\n']) if end else line


class Case:
    __slots__ = ('chunks', 'pauses', 'requests', 'replies', 'half_close', 'authenticated',
                 'quits')

    def data(self, db=None):
        data = b''.join(self.chunks)
        return data if db is None else data.replace(DB_MARK, b'%d' % db)

    def sends(self, db):
        """The chunks to send, for a case run in database ``db``."""
        return [c.replace(DB_MARK, b'%d' % db) for c in self.chunks]


def make_case(seed, index):
    """Case ``index`` of ``seed``: always the same bytes and splits."""
    return build_case(random.Random('%s:%s' % (seed, index)))


def build_case(rng):
    """A case drawn from ``rng`` (random.Random, or hypothesis's randoms())."""
    parts, replies = stream(rng)
    case = Case()
    case.requests = max(len(parts), 1)
    data = b''.join(parts)
    if rng.random() < 0.75:
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            data = mutate(rng, data)
        replies = None      # unknown: read until closed or quiet
        # Redis checks the 64 KB limits of a line (inline request, count,
        # length) after each read, and reads as much as its query buffer
        # has room for: a line longer than that is refused or not depending
        # on how much of it the read that ends it brings. A mutated stream
        # (in which any piece may have become a line) is kept shorter than
        # the limit, or ends with a line that never ends, which both must
        # refuse once 64 KB of it arrived, whatever the reads.
        if len(data) > 65536:
            data = data[:65536]
        if rng.random() < 0.03:
            data += long_line(rng, rng.randrange(70000, 140000), end=False)
    # Under CLIENT REPLY OFF/SKIP, a QUIT or a protocol error closes the
    # connection only if replies of the same read are pending: which
    # depends on how the stream is cut into reads. Such a stream is sent
    # whole, shorter than one read.
    silenced = b'REPLY' in data.upper()
    if silenced:
        data = data[:16000]
    # Split into sends: at random points, sometimes byte by byte.
    if silenced:
        cuts = []
    elif len(data) < 40 and rng.random() < 0.1:
        cuts = list(range(1, len(data)))
    else:
        cuts = sorted(rng.randrange(1, len(data)) for _ in range(
            rng.choice([0, 0, 1, 2, 3, 5]))) if len(data) > 1 else []
    # (Not inside DB_MARK: the chunks are edited when sent.)
    cuts = [c for c in cuts if data[c - 1:c + 1] != DB_MARK]
    bounds = [0] + cuts + [len(data)]
    case.chunks = [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a] or [b'']
    case.pauses = [rng.choice([0, 0, 0.001, 0.003]) for _ in case.chunks]
    case.replies = replies
    case.quits = b'QUIT' in data
    case.half_close = rng.random() < 0.05 and not silenced
    # (With --auth: whether the connection authenticates before the case.)
    case.authenticated = rng.random() < 0.75
    return case


# -- running ------------------------------------------------------------------------------------

def count_replies(buf):
    """The number of whole RESP2 replies at the start of buf."""
    pos = n = 0
    while True:
        end = _skip(buf, pos)
        if end is None:
            return n
        pos = end
        n += 1


def _skip(buf, pos):
    nl = buf.find(b'\r\n', pos)
    if nl < 0:
        return None
    t = buf[pos:pos + 1]
    if t == b'$':
        size = int(buf[pos + 1:nl])
        if size < 0:
            return nl + 2
        end = nl + 2 + size + 2
        return end if len(buf) >= end else None
    if t == b'*':
        count = int(buf[pos + 1:nl])
        pos = nl + 2
        for _ in range(max(count, 0)):
            pos = _skip(buf, pos)
            if pos is None:
                return None
        return pos
    return nl + 2


async def _connect(loop, port, prelude):
    """A connection that has run ``prelude`` (requests answered +OK)."""
    sock = socket.socket()
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ('127.0.0.1', port))
        await loop.sock_sendall(sock, prelude)
        want = b'+OK\r\n' * prelude.count(b'\r\n')
        got = b''
        while len(got) < len(want):
            data = await loop.sock_recv(sock, len(want) - len(got))
            if not data:
                break
            got += data
        if got != want:
            raise RuntimeError('prelude failed on port %d: %r' % (port, got))
    except BaseException:
        sock.close()
        raise
    return sock


async def _side(port, db, case, quiet, auth, timeout=30):
    """Run a case against one server: (reply bytes, closed by the server).
    ``auth``: the server requires PASSWORD."""
    loop = asyncio.get_running_loop()
    flush = b'SELECT %d\r\nFLUSHDB\r\n' % db
    if auth:
        flush = b'AUTH %s\r\n%s' % (PASSWORD, flush)
    if auth and not case.authenticated:
        (await _connect(loop, port, flush)).close()
        sock = await _connect(loop, port, b'')
    else:
        sock = await _connect(loop, port, flush)
    try:
        out = bytearray()
        closed = False
        sending = True

        async def send():
            nonlocal sending
            try:
                for chunk, pause in zip(case.sends(db), case.pauses):
                    await loop.sock_sendall(sock, chunk)
                    if pause:
                        await asyncio.sleep(pause)
                if case.half_close:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:         # closed by the server: the rest is not sent
                pass
            sending = False

        sender = asyncio.ensure_future(send())
        deadline = time.monotonic() + timeout
        while True:
            # (A socket read, not a StreamReader: a reset after the replies
            # must not lose the replies already received.)
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), quiet)
            except asyncio.TimeoutError:
                if not sending or time.monotonic() > deadline:
                    break
                continue
            except OSError:
                closed = True
                break
            if not data:
                closed = True
                break
            out += data
            if (case.replies is not None and not sending
                    and count_replies(out) >= case.replies
                    and b'-ERR Protocol error' not in out and not case.quits
                    and not case.half_close):
                # (After a protocol error, QUIT or a half close, whether the
                # connection is closed is read too.)
                break
        sender.cancel()
        try:
            await sender
        except asyncio.CancelledError:
            pass
        return bytes(out), closed
    finally:
        sock.close()


async def run_case(ports, db, case, quiet, auth=False):
    """The case against both servers at once: [(bytes, closed) of each]."""
    return await asyncio.gather(*(_side(port, db, case, quiet, auth) for port in ports))


async def compare_case(ports, db, case, quiet=0.1, confirm_quiet=1.0, auth=False):
    """run_case, run again with a long quiet time when the servers
    differ (one may just have been slow): [(bytes, closed) of each]."""
    results = await run_case(ports, db, case, quiet, auth)
    if results[0] != results[1]:
        await flushall(ports, auth)
        results = await run_case(ports, db, case, confirm_quiet, auth)
    return results


class Result:
    def __init__(self):
        self.cases = self.requests = 0
        self.suspects = []          # (index, ours, theirs) seen under load
        self.differences = []       # (index, ours, theirs) confirmed alone
        self.closes = 0             # cases the servers closed (protocol errors, QUIT)
        self.elapsed = 0.0


def server_args(auth=False):
    """Both servers' arguments: a database per worker, the smallest bulk
    limit (so that lengths around it are tried), the password with --auth."""
    args = ['--databases', '64', '--proto-max-bulk-len', '1mb']
    return args + ['--requirepass', PASSWORD.decode()] if auth else args


async def flushall(ports, auth=False):
    loop = asyncio.get_running_loop()
    prelude = (b'AUTH %s\r\n' % PASSWORD if auth else b'') + b'FLUSHALL\r\n'
    for port in ports:
        (await _connect(loop, port, prelude)).close()


async def fuzz(ports, seed, requests, concurrency=16, quiet=0.05, confirm_quiet=1.0,
               progress=None, auth=False):
    """Run cases of ``seed`` until ``requests`` requests were sent."""
    if not 0 < concurrency <= 64 - FIRST_DB:
        raise ValueError('concurrency: 1 to %d' % (64 - FIRST_DB))
    result = Result()
    next_index = 0
    t0 = time.monotonic()

    async def worker(db):
        nonlocal next_index
        while result.requests < requests:
            index = next_index
            next_index += 1
            case = make_case(seed, index)
            result.requests += case.requests
            result.cases += 1
            ours, theirs = await run_case(ports, db, case, quiet, auth)
            if ours != theirs:
                result.suspects.append((index, ours, theirs))
            elif ours[1]:
                result.closes += 1
            if progress and result.cases % 5000 == 0:
                progress(result, time.monotonic() - t0)

    await asyncio.gather(*(worker(FIRST_DB + i) for i in range(concurrency)))
    # Alone, with time to spare: a slow reply under load is not a difference.
    # (All databases flushed: a mutated stream may have written to another
    # one than its own, where other cases ran at the same time.)
    for index, _, _ in result.suspects:
        await flushall(ports, auth)
        ours, theirs = await run_case(ports, FIRST_DB, make_case(seed, index), confirm_quiet,
                                      auth)
        if ours != theirs:
            result.differences.append((index, ours, theirs))
    result.elapsed = time.monotonic() - t0
    return result


def tracebacks(log_text):
    """Lines of a server log that tell of an exception."""
    return [line for line in log_text.splitlines()
            if 'Traceback' in line or 'Fatal error' in line]


def describe(seed, index, ours, theirs):
    case = make_case(seed, index)
    return ('case %s:%s sends %r in %d chunks (half close: %s, authenticated: %s)\n'
            '  pyredis: %r closed=%s\n  redis:   %r closed=%s' % (
                seed, index, case.data(FIRST_DB)[:2000], len(case.chunks), case.half_close,
                case.authenticated, ours[0][:2000], ours[1], theirs[0][:2000], theirs[1]))


def main():
    from helpers import ServerProcess
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', '--requests', type=int, default=1000000)
    ap.add_argument('--seed', default='1')
    ap.add_argument('-c', '--concurrency', type=int, default=32)
    ap.add_argument('--quiet', type=float, default=0.1,
                    help='seconds of silence that end a case under load')
    ap.add_argument('--auth', action='store_true',
                    help='servers with requirepass; a quarter of the cases unauthenticated')
    ap.add_argument('--replay', help='SEED:INDEX: run one case alone and print it')
    args = ap.parse_args()
    extra = server_args(args.auth)
    servers = [ServerProcess('pyredis', extra), ServerProcess('redis', extra)]
    ports = [s.port for s in servers]
    try:
        if args.replay:
            seed, index = args.replay.rsplit(':', 1)
            ours, theirs = asyncio.run(run_case(ports, FIRST_DB, make_case(seed, int(index)),
                                                1.0, args.auth))
            print(('SAME' if ours == theirs else 'DIFFERENT') + '\n'
                  + describe(seed, int(index), ours, theirs))
            return 0

        def progress(r, t):
            print('  %d cases, %d requests, %.0f requests/s, %d suspect' % (
                r.cases, r.requests, r.requests / t, len(r.suspects)), flush=True)

        result = asyncio.run(fuzz(ports, args.seed, args.requests, args.concurrency,
                                  args.quiet, progress=progress, auth=args.auth))
    finally:
        for s in servers:
            s.stop()
    bad = tracebacks(servers[0].read_log())
    for index, ours, theirs in result.differences:
        print(describe(args.seed, index, ours, theirs))
    print('seed %s%s: %d requests in %d cases in %.1f s (%.0f requests/s, concurrency %d); '
          '%d cases closed by both servers; %d differences (%d suspects under load, run '
          'again alone); %d traceback lines in the pyredis log (%s)' % (
              args.seed, ' (--auth)' if args.auth else '', result.requests, result.cases,
              result.elapsed, result.requests / result.elapsed, args.concurrency,
              result.closes, len(result.differences), len(result.suspects), len(bad),
              servers[0].logpath))
    for line in bad[:20]:
        print('  ' + line)
    return 1 if result.differences or bad else 0


if __name__ == '__main__':
    sys.exit(main())
