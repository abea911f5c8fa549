"""RESP2/RESP3 encoding and the exact-rules request parser. No I/O here.

Replies are built as ``bytes`` by the command handlers and appended to the
client's output list; the helpers below are the only places that know the wire
format. Where RESP2 and RESP3 differ (null, maps, sets, doubles, booleans,
push messages) the helper takes the client's protocol version.

Requests normally go through the C parser (``_speedups.parse_requests``, see
networking.py), which takes only the strict form clients send (and plain
inline lines: inline_requests is their Python form).
``RequestParser`` is a port of Redis's processInlineBuffer/
processMultibulkBuffer: it takes whatever the C parser refuses (other
inline lines, malformed input, unauthenticated clients' tighter limits), and it
is what produces Redis's exact ``-ERR Protocol error: ...`` replies.
"""

from .util import c_string, format_double, split_args, string2ll

OK = b'+OK\r\n'
PONG = b'+PONG\r\n'
QUEUED = b'+QUEUED\r\n'
ZERO = b':0\r\n'
ONE = b':1\r\n'
EMPTY_ARRAY = b'*0\r\n'
NULL_BULK = b'$-1\r\n'
NULL_ARRAY = b'*-1\r\n'
NULL3 = b'_\r\n'

# Reply and inline-request limits from server.h.
PROTO_INLINE_MAX_SIZE = 64 * 1024


def integer(n):
    return b':%d\r\n' % n


# The same for an int known to fit in 64 bits (a length, a counter), its
# bare decimal form, and a bulk string, in C when the extension is built:
# bytes formatting is a sizeable part of a small command's cost.
try:
    from ._speedups import integer_reply, decimal, bulk_reply as bulk
except ImportError:
    integer_reply = integer

    def decimal(n):
        return b'%d' % n

    def bulk(v):
        return b'$%d\r\n%s\r\n' % (len(v), v)


def error(msg):
    """An error reply; msg has no leading '-'. Newlines would break the
    protocol, so they are turned into spaces as Redis's addReplyError does."""
    if b'\r' in msg or b'\n' in msg:
        msg = msg.replace(b'\r\n', b'  ').replace(b'\r', b' ').replace(b'\n', b' ')
    return b'-%s\r\n' % msg


def status(s):
    return b'+%s\r\n' % s


def bulk_array(items):
    """An array of bulk strings (None items become null bulks)."""
    parts = [b'*%d\r\n' % len(items)]
    for v in items:
        if v is None:
            parts.append(NULL_BULK)
        else:
            parts.append(b'$%d\r\n%s\r\n' % (len(v), v))
    return b''.join(parts)


def null(resp):
    return NULL3 if resp == 3 else NULL_BULK


def null_array(resp):
    return NULL3 if resp == 3 else NULL_ARRAY


def double(d, resp):
    if resp == 3:
        return b',%s\r\n' % format_double(d)
    return bulk(format_double(d))


def boolean(b, resp):
    if resp == 3:
        return b'#t\r\n' if b else b'#f\r\n'
    return ONE if b else ZERO


def map_header(n, resp):
    return b'%%%d\r\n' % n if resp == 3 else b'*%d\r\n' % (2 * n)


def set_header(n, resp):
    return b'~%d\r\n' % n if resp == 3 else b'*%d\r\n' % n


def push_header(n, resp):
    return b'>%d\r\n' % n if resp == 3 else b'*%d\r\n' % n


def encode(value, resp):
    """Encode a nested Python value: bytes -> bulk, str -> simple string,
    int -> integer, float -> double, bool -> boolean, None -> null,
    list -> array, tuple -> set, dict -> map, Verbatim -> verbatim string."""
    out = []
    _encode(value, resp, out)
    return b''.join(out)


class Verbatim(bytes):
    """Text that RESP3 sends as a verbatim string (=len\\r\\ntxt:...)."""


class ErrorReply(str):
    """An error element inside an aggregate reply (e.g. EXEC results)."""


def _encode(v, resp, out):
    t = type(v)
    if t is bytes or t is bytearray:
        out.append(b'$%d\r\n%s\r\n' % (len(v), v))
    elif t is int:
        out.append(b':%d\r\n' % v)
    elif t is str:
        out.append(b'+%s\r\n' % v.encode())
    elif t is list:
        out.append(b'*%d\r\n' % len(v))
        for x in v:
            _encode(x, resp, out)
    elif t is tuple:
        out.append(set_header(len(v), resp))
        for x in v:
            _encode(x, resp, out)
    elif t is dict:
        out.append(map_header(len(v), resp))
        for k, x in v.items():
            _encode(k, resp, out)
            _encode(x, resp, out)
    elif v is None:
        out.append(NULL3 if resp == 3 else NULL_BULK)
    elif t is bool:
        out.append(boolean(v, resp))
    elif t is float:
        out.append(double(v, resp))
    elif t is Verbatim:
        if resp == 3:
            out.append(b'=%d\r\ntxt:%s\r\n' % (len(v) + 4, v))
        else:
            out.append(b'$%d\r\n%s\r\n' % (len(v), v))
    elif t is ErrorReply:
        out.append(b'-%s\r\n' % v.encode())
    else:
        raise TypeError('cannot encode %r' % (v,))


class CommandError(Exception):
    """An error reply raised instead of returned: a handler, or a helper
    deep inside one, raises CommandError(reply) and call() (or the trusted
    request path) sends ``reply`` as the command's reply, counted as a
    failed call. It costs nothing while nothing is raised (zero-cost
    exceptions; measured the same 42 ns per call with and without the
    except clause), so a helper can reply by itself, as Redis's
    ...OrReply() helpers do, instead of handing (value, error) pairs up
    through every caller."""

    def __init__(self, reply):
        super().__init__(reply)
        self.reply = reply


class ProtocolError(Exception):
    """A malformed request; args[0] is the bytes after '-ERR Protocol error: '."""


# An inline request in a master's stream (only empty lines may be there).
MASTER_INLINE = b'Master using the inline protocol. Desync?'

# What Redis's log line calls each protocol error (setProtocolError).
_PROTOCOL_ERROR_CAUSES = {
    b'invalid multibulk length': 'invalid mbulk count',
    b'unauthenticated multibulk length': 'unauth mbulk count',
    b'unauthenticated bulk length': 'unauth bulk length',
    b'unbalanced quotes in request': 'unbalanced quotes in inline request',
}


def protocol_error_cause(err):
    """The cause Redis logs for a protocol error (``err``, the reply's text
    after 'Protocol error: ')."""
    if err.startswith(b"expected '$'"):
        return 'expected $ but got something else'
    return _PROTOCOL_ERROR_CAUSES.get(err, err.decode('latin-1'))


def query_buffer_sample(buf):
    """setProtocolError's sample of the query buffer: whole if shorter than
    128 bytes, else its first and last 64 (as C strings, cut at a NUL),
    non-printable bytes shown as dots, 256 bytes at most."""
    buf = bytes(buf)
    if len(buf) < 128:
        text = b"Query buffer during protocol error: '%s'" % buf.split(b'\0', 1)[0]
    else:
        text = b"Query buffer during protocol error: '%s' (... more %d bytes ...) '%s'" % (
            buf[:64].split(b'\0', 1)[0], len(buf) - 128, buf[-64:].split(b'\0', 1)[0])
    text = text[:255]
    return ''.join(chr(c) if 32 <= c < 127 else '.' for c in text)


class RequestParser:
    """Redis's query-buffer parser, for what the C parser refuses.

    ``feed`` appends bytes; ``next`` returns one request (a list of bytes), an
    empty list for a blank inline line, or None when more input is needed. It
    raises ProtocolError with Redis's message when the input is malformed.
    ``limits`` is called for each request to learn (max_bulk_len, authed).
    """

    __slots__ = ('buf', 'pos', 'argc', 'argv', 'bulklen')

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0
        self.argc = 0          # multibulk arguments still to read (0: none pending)
        self.argv = None       # the multibulk request being assembled
        self.bulklen = -1      # length of the bulk being read, -1 before its header

    def feed(self, data):
        if self.pos and self.pos == len(self.buf):
            self.buf.clear()
            self.pos = 0
        self.buf += data

    def pending(self):
        """Bytes received but not yet returned as a request."""
        return len(self.buf) - self.pos

    def at_boundary(self):
        return self.argv is None and self.pos == len(self.buf)

    def next_is_multibulk(self):
        """True between requests, before one that starts with '*'."""
        return self.argv is None and self.pos < len(self.buf) and self.buf[self.pos] == 42

    def remaining(self):
        """The unparsed bytes, for handing back to the fast parser."""
        rest = bytes(self.buf[self.pos:])
        self.buf.clear()
        self.pos = 0
        return rest

    def next(self, max_bulk_len, authed, is_master=False):
        buf = self.buf
        if self.argv is None:
            if self.pos >= len(buf):
                return None
            if buf[self.pos] != 42:  # not '*': an inline command
                return self._inline()
            nl = _strchr(buf, 13, self.pos)  # '\r'
            if nl < 0 or nl + 1 >= len(buf):
                if len(buf) - self.pos > PROTO_INLINE_MAX_SIZE:
                    raise ProtocolError(b'too big mbulk count string')
                return None
            ll = string2ll(buf[self.pos + 1:nl])
            if ll is None or ll > 0x7fffffff:
                raise ProtocolError(b'invalid multibulk length')
            if ll > 10 and not authed:
                raise ProtocolError(b'unauthenticated multibulk length')
            self.pos = nl + 2
            if ll <= 0:
                self._compact()
                return []
            self.argc = ll
            self.argv = []
        while self.argc:
            if self.bulklen == -1:
                nl = _strchr(buf, 13, self.pos)
                if nl < 0 or nl + 1 >= len(buf):
                    if len(buf) - self.pos > PROTO_INLINE_MAX_SIZE:
                        raise ProtocolError(b'too big bulk count string')
                    return None
                if buf[self.pos] != 36:  # '$'
                    # (addReplyErrorFormat turns a CR or LF into a space.)
                    got = buf[self.pos]
                    raise ProtocolError(b"expected '$', got '%c'" % (
                        32 if got in (10, 13) else got))
                ll = string2ll(buf[self.pos + 1:nl])
                if ll is None or ll < 0 or (ll > max_bulk_len and not is_master):
                    raise ProtocolError(b'invalid bulk length')
                if ll > 16384 and not authed:
                    raise ProtocolError(b'unauthenticated bulk length')
                self.pos = nl + 2
                self.bulklen = ll
            if len(buf) - self.pos < self.bulklen + 2:
                return None
            end = self.pos + self.bulklen
            self.argv.append(bytes(buf[self.pos:end]))
            self.pos = end + 2
            self.bulklen = -1
            self.argc -= 1
        argv, self.argv = self.argv, None
        self._compact()
        return argv

    def _inline(self):
        buf = self.buf
        nl = _strchr(buf, 10, self.pos)  # '\n'
        if nl < 0:
            if len(buf) - self.pos > PROTO_INLINE_MAX_SIZE:
                raise ProtocolError(b'too big inline request')
            return None
        line = bytes(buf[self.pos:nl])
        if line.endswith(b'\r'):
            line = line[:-1]
        if not _plain(line):
            argv = split_args(line)
            if argv is None:
                raise ProtocolError(b'unbalanced quotes in request')
        else:
            argv = line.split()
        self.pos = nl + 1
        self._compact()
        return argv

    def inline_run(self):
        """inline_requests at the parser's position, consumed; None when
        there is none."""
        if self.argv is not None:
            return None
        reqs, pos = inline_requests(self.buf, self.pos)
        if reqs is None:
            return None
        self.pos = pos
        self._compact()
        return b''.join(map(bulk_array, reqs))

    def _compact(self):
        if self.pos > 65536 and self.pos * 2 > len(self.buf):
            del self.buf[:self.pos]
            self.pos = 0


def inline_requests(buf, pos):
    """The complete inline requests in ``buf`` from ``pos`` that need none
    of the exact parser's rules (no quotes, no NUL, not blank: _plain), as
    argument lists the trusted path runs as they are: the lines the C
    parser (parse_requests with inline) takes, which RequestParser hands
    back with this once it holds the input (tests/test_inline_requests.py
    compares the two). At most PROTO_INLINE_MAX_SIZE bytes of lines at a
    time. Returns (requests, position after them), or (None, pos) when
    there is none."""
    end = buf.rfind(b'\n', pos, pos + PROTO_INLINE_MAX_SIZE + 1)    # the last complete line
    if end < 0 or buf[pos] == 42:
        return None, pos
    chunk = bytes(buf[pos:end])
    if _plain(chunk) and b'\0' not in chunk:
        # The common case, checked and split for all the lines at once.
        reqs = [line.split() for line in chunk.split(b'\n')]
        for i, argv in enumerate(reqs):
            if not argv or argv[0][0] == 42:
                del reqs[i:]
                break
        else:
            return reqs, end + 1
        pos += sum(map(len, chunk.split(b'\n', len(reqs))[:len(reqs)])) + len(reqs)
        return (reqs, pos) if reqs else (None, pos)
    reqs = []
    for line in chunk.split(b'\n'):
        argv = line.split()
        if not argv or argv[0][0] == 42 or b'\0' in line or not _plain(line):
            break
        reqs.append(argv)
        pos += len(line) + 1
    if not reqs:
        return None, pos
    return reqs, pos


def _plain(line):
    """Whether sdssplitargs splits ``line`` as bytes.split() does: without
    quotes, and without a vertical tab or form feed, which sdssplitargs
    skips between arguments (isspace) but keeps inside and at the end of
    one (only space, tab, CR, LF and NUL end an argument)."""
    return not (b'"' in line or b"'" in line or b'\x0b' in line or b'\x0c' in line)


def _strchr(buf, ch, pos):
    """strchr(querybuf + pos, ch), which is how Redis looks for the end of
    a request's line: the search stops at a NUL, so a line with a NUL before
    its end never ends (until it is too big). -1 when not found."""
    i = buf.find(ch, pos)
    if i > pos and buf.find(0, pos, i) >= 0:
        return -1
    return i


def help_reply(name, lines):
    """addReplyHelp: the usage line, the given lines, then HELP's own entry,
    all as simple strings."""
    lines = ['%s <subcommand> [<arg> [value] [opt] ...]. Subcommands are:' % name] + \
        list(lines) + ['HELP', '    Prints this help.']
    return b'*%d\r\n' % len(lines) + b''.join(b'+%s\r\n' % s.encode() for s in lines)


def subcommand_syntax_error(argv):
    """addReplySubcommandSyntaxError: a container command's subcommand with
    the wrong arguments (argv[0] the container, argv[1] the subcommand)."""
    return error(b"ERR unknown subcommand or wrong number of arguments for '%s'. Try %s HELP."
                 % (c_string(argv[1])[:128], c_string(argv[0]).upper()))


# Error replies used in more than one place.
SYNTAX_ERR = b'-ERR syntax error\r\n'
NOT_INT_ERR = b'-ERR value is not an integer or out of range\r\n'
WRONGTYPE_ERR = b'-WRONGTYPE Operation against a key holding the wrong kind of value\r\n'
NOT_FLOAT_ERR = b'-ERR value is not a valid float\r\n'
NO_SUCH_KEY_ERR = b'-ERR no such key\r\n'
ARITY_ERR = b"-ERR wrong number of arguments for '%s' command\r\n"
DB_INDEX_ERR = b'-ERR DB index is out of range\r\n'
LOADING_ERR = b'-LOADING Redis is loading the dataset in memory\r\n'
POSITIVE_ERR = b'-ERR value is out of range, must be positive\r\n'
RANGE_ERR = b'-ERR value is out of range\r\n'
COUNT_RANGE_ERR = (b'-ERR value is out of range, value must between -9223372036854775807 '
                   b'and 9223372036854775807\r\n')
TIMEOUT_NEGATIVE_ERR = b'-ERR timeout is negative\r\n'
SAME_OBJECT_ERR = b'-ERR source and destination objects are the same\r\n'
NUMKEYS_ERR = b'-ERR numkeys should be greater than 0\r\n'
INCR_NAN_ERR = b'-ERR increment would produce NaN or Infinity\r\n'
OVERFLOW_ERR = b'-ERR increment or decrement would overflow\r\n'
LIMIT_NEGATIVE_ERR = b"-ERR LIMIT can't be negative\r\n"
