"""String commands (t_string.c).

Values are bytes; APPEND and SETRANGE turn a value into a bytearray so that
repeated appends are amortised O(1), as with Redis's sds, and so that OBJECT
ENCODING reports "raw" for them as Redis does. Integers are parsed on use
with Redis's strict rules (util.string2ll), and stored back as bytes.

Commands with relative or non-deterministic effects are propagated in a
fixed form: SET ... EX/PX as SET ... PXAT, GETEX as PEXPIREAT/PERSIST/DEL,
INCRBYFLOAT as SET ... KEEPTTL, GETSET as SET.
"""


from . import command
from .. import resp
from ..resp import OK, bulk, integer, error, SYNTAX_ERR, NOT_INT_ERR, \
    WRONGTYPE_ERR, NULL_BULK, NULL3, NOT_FLOAT_ERR
from ..util import string2ll, strtold, ld_add, format_long_double, LLONG_MAX, LLONG_MIN
from ..notify import NotifyFlags
from ..values import STRING, changed_in_place, float_made
from ..resp import ARITY_ERR, INCR_NAN_ERR, OVERFLOW_ERR
from .. import clock, objsize
from ..db import Keyspace, PLAIN_LRU

S = NotifyFlags.STRING
G = NotifyFlags.GENERIC
TOO_BIG_ERR = b'-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n'


def _null(c):
    return NULL_BULK if c.resp == 2 else NULL3


@command('get')
def get(c, argv):
    v = c.db.lookup(argv[1])
    if v is None:
        return NULL_BULK if c.resp == 2 else NULL3
    cls = v.__class__
    if cls is bytes or cls is bytearray:
        return bulk(v)
    return WRONGTYPE_ERR




# SET option bits, as in t_string.c.
NX, XX, GET, KEEPTTL, PERSIST, EX, PX, EXAT, PXAT = (1 << i for i in range(9))


def parse_set_options(argv, start, for_getex):
    """parseExtendedStringArgumentsOrReply: returns (flags, expire arg) or an
    error reply."""
    flags = 0
    expire = None
    n = len(argv)
    j = start
    while j < n:
        o = argv[j].lower()
        has_next = j + 1 < n
        if o == b'nx' and not flags & XX and not for_getex:
            flags |= NX
        elif o == b'xx' and not flags & NX and not for_getex:
            flags |= XX
        elif o == b'get' and not for_getex:
            flags |= GET
        elif o == b'keepttl' and not flags & (PERSIST | EX | EXAT | PX | PXAT) and not for_getex:
            flags |= KEEPTTL
        elif o == b'persist' and for_getex and not flags & (EX | EXAT | PX | PXAT | KEEPTTL):
            flags |= PERSIST
        elif o == b'ex' and not flags & (KEEPTTL | PERSIST | EXAT | PX | PXAT) and has_next:
            flags |= EX
            j += 1
            expire = argv[j]
        elif o == b'px' and not flags & (KEEPTTL | PERSIST | EX | EXAT | PXAT) and has_next:
            flags |= PX
            j += 1
            expire = argv[j]
        elif o == b'exat' and not flags & (KEEPTTL | PERSIST | EX | PX | PXAT) and has_next:
            flags |= EXAT
            j += 1
            expire = argv[j]
        elif o == b'pxat' and not flags & (KEEPTTL | PERSIST | EX | EXAT | PX) and has_next:
            flags |= PXAT
            j += 1
            expire = argv[j]
        else:
            return SYNTAX_ERR
        j += 1
    return flags, expire


def expire_ms(expire, flags, cmdname):
    """getExpireMillisecondsOrReply: absolute expiry in ms, or an error."""
    ms = string2ll(expire)
    if ms is None:
        return NOT_INT_ERR
    seconds = flags & (EX | EXAT)
    if ms <= 0 or (seconds and ms > LLONG_MAX // 1000):
        return error(b"ERR invalid expire time in '%s' command" % cmdname)
    if seconds:
        ms *= 1000
    if flags & (EX | PX):
        ms += int(clock.time() * 1000)
    if ms > LLONG_MAX:
        return error(b"ERR invalid expire time in '%s' command" % cmdname)
    return ms


@command('set')
def set_(c, argv):
    db = c.db
    server = c.server
    key = argv[1]
    if len(argv) == 3:
        # Plain SET: the hot path, with Database.set inlined for the common
        # case (no keyspace events, no SCAN index, nobody WATCHing or
        # blocked on a key: an overwritten stream unblocks XREADGROUP).
        if not server.notify_flags and db.scan_index is None and not db.watched \
                and not db.blocking_keys:
            db.data[key] = argv[2]
            db.lru[key] = db.lruclock
            if db.expires:
                db.expires.pop(key, None)
            server.dirty += 1
            return OK
        db.set(key, argv[2])
        server.dirty += 1
        if server.notify_flags:
            server.notify(S, b'set', key, db.id)
        return OK
    parsed = parse_set_options(argv, 3, False)
    if parsed.__class__ is bytes:
        return parsed
    flags, expire = parsed
    when = None
    if expire is not None:
        when = expire_ms(expire, flags, b'set')
        if when.__class__ is bytes:
            return when
    reply = OK
    if flags & GET:
        old, err = c.db.lookup_typed(key, STRING)
        if err:
            return err
        reply = _null(c) if old is None else bulk(old)
    found = db.lookup_write(key) is not None
    if (flags & NX and found) or (flags & XX and not found):
        return reply if flags & GET else _null(c)
    db.set(key, argv[2], keepttl=bool(flags & KEEPTTL))
    server.dirty += 1
    if server.notify_flags:
        server.notify(S, b'set', key, db.id)
    if when is not None:
        db.set_expire(key, when)
        if server.notify_flags:
            server.notify(G, b'expire', key, db.id)
        if not flags & PXAT:
            c.propagate_argv = [[b'SET', key, argv[2], b'PXAT', b'%d' % when]]
    if flags & GET and when is None:
        c.propagate_argv = [[a for a in argv if a.lower() != b'get']]
    return reply


@command('setnx')
def setnx(c, argv):
    db = c.db
    if db.lookup_write(argv[1]) is not None:
        return resp.ZERO
    db.add(argv[1], argv[2])
    c.server.dirty += 1
    if c.server.notify_flags:
        c.server.notify(S, b'set', argv[1], db.id)
    return resp.ONE


def _setex(c, argv, flag, name):
    when = expire_ms(argv[2], flag, name)
    if when.__class__ is bytes:
        return when
    db = c.db
    server = c.server
    key = argv[1]
    db.set(key, argv[3])
    db.set_expire(key, when)
    server.dirty += 1
    c.propagate_argv = [[b'SET', key, argv[3], b'PXAT', b'%d' % when]]
    if server.notify_flags:
        server.notify(S, b'set', key, db.id)
        server.notify(G, b'expire', key, db.id)
    return OK


@command('setex')
def setex(c, argv):
    return _setex(c, argv, EX, b'setex')


@command('psetex')
def psetex(c, argv):
    return _setex(c, argv, PX, b'psetex')


@command('getset')
def getset(c, argv):
    old, err = c.db.lookup_typed(argv[1], STRING)
    if err:
        return err
    db = c.db
    db.set(argv[1], argv[2])
    c.server.dirty += 1
    if c.server.notify_flags:
        c.server.notify(S, b'set', argv[1], db.id)
    c.propagate_argv = [[b'SET', argv[1], argv[2]]]
    return _null(c) if old is None else bulk(old)


@command('getdel')
def getdel(c, argv):
    old, err = c.db.lookup_typed(argv[1], STRING)
    if err:
        return err
    if old is None:
        return _null(c)
    db = c.db
    db.delete(argv[1])
    c.server.dirty += 1
    if c.server.notify_flags:
        c.server.notify(G, b'del', argv[1], db.id)
    c.propagate_argv = [[b'DEL', argv[1]]]
    return bulk(old)


@command('getex')
def getex(c, argv):
    parsed = parse_set_options(argv, 2, True)
    if parsed.__class__ is bytes:
        return parsed
    flags, expire = parsed
    key = argv[1]
    # Redis looks the key up before it validates the expire time.
    v, err = c.db.lookup_typed(key, STRING)
    if err:
        return err
    if v is None:
        return _null(c)
    when = None
    if expire is not None:
        when = expire_ms(expire, flags, b'getex')
        if when.__class__ is bytes:
            return when
    db = c.db
    server = c.server
    if when is not None and when <= clock.time() * 1000 and not server.masterhost:
        db.delete(key)
        server.dirty += 1
        c.propagate_argv = [[b'DEL', key]]
        if server.notify_flags:
            server.notify(G, b'del', key, db.id)
    elif when is not None:
        db.set_expire(key, when)
        server.dirty += 1
        c.propagate_argv = [[b'PEXPIREAT', key, b'%d' % when]]
        if db.watched:
            server.signal_modified(db, key)
        if server.notify_flags:
            server.notify(G, b'expire', key, db.id)
    elif flags & PERSIST:
        if db.persist(key):
            server.dirty += 1
            c.propagate_argv = [[b'PERSIST', key]]
            if db.watched:
                server.signal_modified(db, key)
            if server.notify_flags:
                server.notify(G, b'persist', key, db.id)
    return bulk(v)


@command('mget')
def mget(c, argv):
    db = c.db
    out = [b'*%d\r\n' % (len(argv) - 1)]
    null = _null(c)
    for key in argv[1:]:
        v = db.lookup(key)
        cls = v.__class__
        if cls is bytes or cls is bytearray:
            out.append(b'$%d\r\n%s\r\n' % (len(v), v))
        else:
            out.append(null)
    return b''.join(out)


try:
    from .._speedups import mset_pairs
except ImportError:     # without the C extension
    def mset_pairs(data, lru, argv, clock):
        keys = argv[1::2]
        data.update(zip(keys, argv[2::2]))
        lru.update(dict.fromkeys(keys, clock))


@command('mset')
def mset(c, argv):
    if len(argv) % 2 == 0:
        return ARITY_ERR % b'mset'
    db = c.db
    server = c.server
    notify = server.notify_flags
    lru = db.lru
    if (not notify and not db.watched and not db.expires and db.scan_index is None
            and not db.blocking_keys and lru.__class__ is PLAIN_LRU):
        # Nothing to notify, signal, index, un-expire or wake per key (and
        # LRU clocks, not LFU counters): what db.set does, at C speed.
        mset_pairs(db.data, lru, argv, db.lruclock)
    else:
        for i in range(1, len(argv), 2):
            db.set(argv[i], argv[i + 1])
            if notify:
                server.notify(S, b'set', argv[i], db.id)
    server.dirty += (len(argv) - 1) // 2
    return OK


@command('msetnx')
def msetnx(c, argv):
    if len(argv) % 2 == 0:
        return ARITY_ERR % b'msetnx'
    db = c.db
    for i in range(1, len(argv), 2):
        if db.lookup_write(argv[i]) is not None:
            return resp.ZERO
    mset(c, argv)
    return resp.ONE


def _check_size(server, size):
    return size > server.config.proto_max_bulk_len


@command('append')
def append(c, argv):
    db = c.db
    server = c.server
    key = argv[1]
    v = db.lookup_write(key)
    if v is None:
        db.add(key, argv[2])
        total = len(argv[2])
    else:
        cls = v.__class__
        if cls is bytes:
            if _check_size(server, len(v) + len(argv[2])):
                return TOO_BIG_ERR
            raw = len(v) > 44
            v = bytearray(v)
            room = objsize.make_room(v, len(argv[2]), raw)
            v += argv[2]
            room.grew()
            db.data[key] = v
        elif cls is bytearray:
            if _check_size(server, len(v) + len(argv[2])):
                return TOO_BIG_ERR
            changed_in_place(v)
            room = objsize.make_room(v, len(argv[2]))
            v += argv[2]
            room.grew()
        else:
            return WRONGTYPE_ERR
        total = len(v)
        if db.watched:
            server.signal_modified(db, key)
    server.dirty += 1
    if server.notify_flags:
        server.notify(S, b'append', key, db.id)
    return integer(total)


@command('strlen')
def strlen(c, argv):
    v, err = c.db.lookup_typed(argv[1], STRING)
    if err:
        return err
    return integer(len(v) if v is not None else 0)


@command('getrange')
def getrange(c, argv):
    start = string2ll(argv[2])
    end = string2ll(argv[3])
    if start is None or end is None:
        return NOT_INT_ERR
    v, err = c.db.lookup_typed(argv[1], STRING)
    if err:
        return err
    if v is None:
        return b'$0\r\n\r\n'
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return b'$0\r\n\r\n'
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if end < 0:
        end = 0
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b'$0\r\n\r\n'
    return bulk(v[start:end + 1])


command('substr')(getrange)


@command('setrange')
def setrange(c, argv):
    offset = string2ll(argv[2])
    if offset is None:
        return NOT_INT_ERR
    if offset < 0:
        return b'-ERR offset is out of range\r\n'
    value = argv[3]
    db = c.db
    server = c.server
    key = argv[1]
    v = db.lookup_write(key)
    if v is None:
        if not value:
            return resp.ZERO
        if _check_size(server, offset + len(value)):
            return TOO_BIG_ERR
        # Allocated once at its final size, then written: building it as
        # bytearray(offset) + value would copy up to 512 MB a second time.
        v = bytearray(offset + len(value))
        v[offset:] = value
        db.add(key, v)
    else:
        cls = v.__class__
        if cls is not bytes and cls is not bytearray:
            return WRONGTYPE_ERR
        if not value:
            return integer(len(v))
        if _check_size(server, offset + len(value)):
            return TOO_BIG_ERR
        raw = cls is bytes and len(v) > 44
        if cls is bytes:
            v = bytearray(v)
            db.data[key] = v
        else:
            changed_in_place(v)
        if len(v) < offset + len(value):
            room = objsize.make_room(v, offset + len(value) - len(v), raw)
            v += bytes(offset + len(value) - len(v))
            room.grew()
        v[offset:offset + len(value)] = value
        if db.watched:
            server.signal_modified(db, key)
    server.dirty += 1
    if server.notify_flags:
        server.notify(S, b'setrange', key, db.id)
    return integer(len(v))


def incr_value_py(v, by):
    """INCRBY's arithmetic on a string value: (new value, reply), None when
    v is not an integer, False when the result would overflow. The C
    version (_speedups.incr_value) must give the same results."""
    cur = string2ll(v)
    if cur is None:
        return None
    new = cur + by
    if new > LLONG_MAX or new < LLONG_MIN:
        return False
    return b'%d' % new, b':%d\r\n' % new


def incr_store_py(data, lru, key, by, clock):
    """INCRBY's common case, on a key of a plain keyspace (db.py's Keyspace
    and LRU clocks, or two plain dicts; not a cluster index nor LFU
    counters) that is missing or holds an integer string: stores the new value and the key's LRU clock and returns
    the reply; None, having changed nothing, for anything else (the caller's
    general path gives the error). The C version (_speedups.incr_store)
    must do the same."""
    if not ((data.__class__ is Keyspace and lru.__class__ is PLAIN_LRU)
            or (data.__class__ is dict and lru.__class__ is dict)):
        return None
    v = data.get(key)
    if v is None:
        v = b'0'
    elif v.__class__ is not bytes:
        return None
    r = incr_value_py(v, by)
    if r.__class__ is not tuple:
        return None
    data[key] = r[0]
    lru[key] = clock
    return r[1]


try:
    from .._speedups import incr_value, incr_store
except ImportError:     # without the C extension
    incr_value = incr_value_py
    incr_store = incr_store_py


@command('incr')
def incr_generic(c, argv, by=1):
    """INCR itself (one call less for the most common of the family), and
    DECR/INCRBY/DECRBY with their ``by``."""
    db = c.db
    key = argv[1]
    server = c.server
    if not (server.notify_flags or db.watched or db.blocking_keys
            or db.scan_index is not None or (db.expires and key in db.expires)):
        # Nothing to notify, signal, wake, index or expire: the lookup, the
        # arithmetic and the stores in one C call (what follows does the
        # same for a missing key or an integer string). None: another
        # type, not an integer, an overflow, or an LFU/cluster keyspace.
        reply = incr_store(db.data, db.lru, key, by, db.lruclock)
        if reply is not None:
            server.dirty += 1
            return reply
    v = db.data.get(key)
    if not (db.expires and key in db.expires):
        # What lookup_write does for a key without a TTL, inline (a
        # missing key has none).
        if v is not None:
            db.lru[key] = db.lruclock
    else:
        v = db.lookup_write(key)
    if v is None:
        r = incr_value(b'0', by)
    elif v.__class__ is bytes:
        r = incr_value(v, by)
    elif v.__class__ is bytearray:
        r = incr_value(bytes(v), by)
    else:
        return WRONGTYPE_ERR
    if r.__class__ is not tuple:
        if r is None:
            return NOT_INT_ERR
        return OVERFLOW_ERR
    stored, reply = r
    if v is None:
        db.add(key, stored)
    else:
        # The key exists and keeps its TTL; lookup_write refreshed its LRU.
        db.data[key] = stored
        if db.watched:
            server.signal_modified(db, key)
    server.dirty += 1
    if server.notify_flags:
        server.notify(S, b'incrby', key, db.id)
    return reply


@command('decr')
def decr(c, argv):
    return incr_generic(c, argv, -1)


@command('incrby')
def incrby(c, argv):
    by = string2ll(argv[2])
    if by is None:
        return NOT_INT_ERR
    return incr_generic(c, argv, by)


@command('decrby')
def decrby(c, argv):
    by = string2ll(argv[2])
    if by is None:
        return NOT_INT_ERR
    if by == LLONG_MIN:
        return b'-ERR decrement would overflow\r\n'
    return incr_generic(c, argv, -by)


@command('incrbyfloat')
def incrbyfloat(c, argv):
    db = c.db
    key = argv[1]
    v = db.lookup_write(key)
    if v is None:
        cur = 0
    else:
        cls = v.__class__
        if cls is not bytes and cls is not bytearray:
            return WRONGTYPE_ERR
        cur = strtold(bytes(v))
        if cur is None:
            return NOT_FLOAT_ERR
    by = strtold(argv[2])
    if by is None:
        return NOT_FLOAT_ERR
    # Redis adds in long double precision (see util.strtold).
    new = ld_add(cur, by)
    if new.__class__ is float:
        return INCR_NAN_ERR
    out = format_long_double(new)
    db.set(key, float_made(out), keepttl=True)
    server = c.server
    server.dirty += 1
    if server.notify_flags:
        server.notify(S, b'incrbyfloat', key, db.id)
    c.propagate_argv = [[b'SET', key, out, b'KEEPTTL']]
    return bulk(out)


def _lcs_rows(a, b):
    """The LCS dynamic-programming table of a (rows) and b (columns), one
    int per row, bit-parallel (Allison-Dix / Hyyro): bit j of row i is 0
    exactly where LCS(i, j+1) = LCS(i, j) + 1, so LCS(i, j) is the number of
    zero bits below j. Same table as Redis's uint32 matrix, computed with
    Python's big-int operations instead of len(a) * len(b) steps."""
    full = (1 << len(b)) - 1
    masks = {}
    for j, ch in enumerate(b):
        masks[ch] = masks.get(ch, 0) | (1 << j)
    v = full
    rows = [v]
    for ch in a:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
        rows.append(v)
    return rows


@command('lcs')
def lcs(c, argv):
    db = c.db
    a = db.lookup(argv[1])
    b = db.lookup(argv[2])
    for v in (a, b):
        if v is not None and v.__class__ not in (bytes, bytearray):
            return b'-ERR The specified keys must contain string values\r\n'
    a = bytes(a or b'')
    b = bytes(b or b'')
    getlen = getidx = withmatchlen = False
    minmatchlen = 0
    i = 3
    while i < len(argv):
        o = argv[i].lower()
        if o == b'idx':
            getidx = True
        elif o == b'len':
            getlen = True
        elif o == b'withmatchlen':
            withmatchlen = True
        elif o == b'minmatchlen' and i + 1 < len(argv):
            n = string2ll(argv[i + 1])
            if n is None:
                return NOT_INT_ERR
            minmatchlen = max(n, 0)
            i += 1
        else:
            return SYNTAX_ERR
        i += 1
    if getidx and getlen:
        return b'-ERR If you want both the length and indexes, please just use IDX.\r\n'
    alen, blen = len(a), len(b)
    if (alen + 1) * (blen + 1) * 4 > c.server.config.proto_max_bulk_len:
        return (b'-ERR Insufficient memory, transient memory for LCS exceeds '
                b'proto-max-bulk-len\r\n')
    rows = _lcs_rows(a, b)
    length = blen - rows[alen].bit_count()
    if getlen:
        return integer(length)
    # Walk back from the end as lcsCommand does, emitting each range of
    # contiguous matches (so IDX lists them from the end of the strings).
    result = bytearray(length)
    idx = length
    i, j = alen, blen
    matches = []
    NONE = alen
    arange_start = NONE
    arange_end = brange_start = brange_end = 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            result[idx - 1] = a[i - 1]
            if arange_start == NONE:
                arange_start = arange_end = i - 1
                brange_start = brange_end = j - 1
            elif arange_start == i and brange_start == j:
                arange_start -= 1
                brange_start -= 1
            else:
                emit = True
            if arange_start == 0 or brange_start == 0:
                emit = True
            idx -= 1
            i -= 1
            j -= 1
        else:
            low = (1 << j) - 1
            # LCS(i-1, j) > LCS(i, j-1), from the bit rows.
            if j - (rows[i - 1] & low).bit_count() > j - 1 - (rows[i] & (low >> 1)).bit_count():
                i -= 1
            else:
                j -= 1
            if arange_start != NONE:
                emit = True
        if emit:
            mlen = arange_end - arange_start + 1
            if minmatchlen == 0 or mlen >= minmatchlen:
                m = [[arange_start, arange_end], [brange_start, brange_end]]
                if withmatchlen:
                    m.append(mlen)
                matches.append(m)
            arange_start = NONE
    if not getidx:
        return bulk(bytes(result))
    return resp.encode({b'matches': matches, b'len': length}, c.resp)
