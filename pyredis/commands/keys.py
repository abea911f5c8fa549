"""Generic keyspace commands (db.c, expire.c): DEL, UNLINK, EXISTS, TYPE, KEYS,
SCAN, RANDOMKEY, RENAME, RENAMENX, COPY, MOVE, TOUCH, OBJECT, the EXPIRE
family, TTL family and PERSIST.

Relative expiries are propagated as PEXPIREAT with an absolute time, and an
expiry already in the past as a DEL, so the AOF and the replicas replay
the same outcome whenever they replay it.
"""


from . import command
from .. import resp
from ..resp import OK, ZERO, ONE, bulk, integer, error, help_reply, SYNTAX_ERR, NOT_INT_ERR, \
    NO_SUCH_KEY_ERR
from ..util import string2ll, glob_match, c_string, LLONG_MAX, LLONG_MIN
from ..notify import NotifyFlags
from ..scan import scan_container
from ..values import type_name, object_encoding, deep_copy
from .connection import get_int
from ..resp import DB_INDEX_ERR, NUMKEYS_ERR, SAME_OBJECT_ERR
from .. import clock

G = NotifyFlags.GENERIC

def _delete_keys(c, argv, lazy):
    db = c.db
    server = c.server
    deleted = 0
    for key in argv[1:]:
        if db.exists(key) and db.delete(key, lazy):
            deleted += 1
            server.dirty += 1
            if server.notify_flags:
                server.notify(G, b'del', key, db.id)
    return integer(deleted)


@command('del')
def del_(c, argv):
    return _delete_keys(c, argv, c.server.config.lazyfree_lazy_user_del)


@command('unlink')
def unlink(c, argv):
    return _delete_keys(c, argv, True)


@command('exists')
def exists(c, argv):
    db = c.db
    n = 0
    for key in argv[1:]:
        if db.lookup_notouch(key) is not None:
            n += 1
    return integer(n)


@command('type')
def type_(c, argv):
    v = c.db.lookup_notouch(argv[1])
    if v is None:
        return b'+none\r\n'
    return b'+%s\r\n' % type_name(v)


@command('keys')
def keys(c, argv):
    pattern = argv[1]
    db = c.db
    expires = db.expires
    now = clock.time() * 1000
    out = []
    allkeys = pattern == b'*'
    for k in db.data:
        if allkeys or glob_match(pattern, k):
            when = expires.get(k)
            if when is None or when > now:
                out.append(k)
    return resp.bulk_array(out)


def parse_scan_cursor(arg):
    """Cursors are unsigned 64-bit numbers parsed with strtoul(), so Redis
    takes "" as 0, a sign ("+5", "-1" = 2**64-1) and rejects leading
    space, trailing junk and overflow. Returns None when invalid."""
    digits = arg
    negative = False
    if digits[:1] in (b'+', b'-'):
        negative = digits[:1] == b'-'
        digits = digits[1:]
    if not digits:
        return 0 if not arg else None
    if not digits.isdigit():
        return None
    v = int(digits)
    if v > (1 << 64) - 1:
        return None
    return (-v) & ((1 << 64) - 1) if negative else v


def scan_options(argv, start, allow_type):
    """Parse [MATCH pattern] [COUNT n] [TYPE t]; returns (pattern, count,
    type) or an error reply."""
    pattern = None
    count = 10
    typ = None
    i = start
    while i < len(argv):
        opt = argv[i].lower()
        left = len(argv) - i - 1
        if opt == b'count' and left >= 1:
            n = string2ll(argv[i + 1])
            if n is None:
                return NOT_INT_ERR
            if n < 1:
                return SYNTAX_ERR
            count = n
            i += 2
        elif opt == b'match' and left >= 1:
            pattern = argv[i + 1]
            if pattern == b'*':
                pattern = None
            i += 2
        elif opt == b'type' and left >= 1 and allow_type:
            typ = argv[i + 1].lower()
            i += 2
        else:
            return SYNTAX_ERR
    return pattern, count, typ


INVALID_CURSOR_ERR = b'-ERR invalid cursor\r\n'
EMPTY_SCAN = b'*2\r\n$1\r\n0\r\n*0\r\n'


def element_scan_args(c, argv, kind):
    """The common start of HSCAN/SSCAN/ZSCAN, in Redis's order: the cursor,
    the key (of values.HASH, SET or ZSET ``kind``), then the options.
    Returns (value, cursor, pattern, count), or the reply to send (an
    error, or an empty scan for a missing key)."""
    cursor = parse_scan_cursor(argv[2])
    if cursor is None:
        return INVALID_CURSOR_ERR
    value, err = c.db.lookup_typed(argv[1], kind)
    if err:
        return err
    if value is None:
        return EMPTY_SCAN
    opts = scan_options(argv, 3, False)
    if opts.__class__ is bytes:
        return opts
    return value, cursor, opts[0], opts[1]


def scan_reply(cursor, n, items):
    """A SCAN-family reply: the cursor and ``n`` already encoded elements."""
    return b'*2\r\n' + bulk(b'%d' % cursor) + b'*%d\r\n' % n + items


def parse_multi_pop(argv, numkeys_idx, sides):
    """The common tail of LMPOP/BLMPOP/ZMPOP/BZMPOP: numkeys key [key ...]
    side [COUNT n], with ``sides`` mapping the lower-case side word to its
    value. Returns (keys, side, count) or an error reply, checking in the
    order Redis does."""
    numkeys = string2ll(argv[numkeys_idx])
    if numkeys is None or numkeys < 1:
        return NUMKEYS_ERR
    where_idx = numkeys_idx + numkeys + 1
    if where_idx >= len(argv):
        return SYNTAX_ERR
    side = sides.get(argv[where_idx].lower())
    if side is None:
        return SYNTAX_ERR
    count = -1
    j = where_idx + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b'count' and j + 1 < len(argv):
            j += 1
            count = string2ll(argv[j])
            if count is None or count < 1:
                return b'-ERR count should be greater than 0\r\n'
        else:
            return SYNTAX_ERR
        j += 1
    if count == -1:
        count = 1
    return argv[numkeys_idx + 1:where_idx], side, count


@command('scan')
def scan(c, argv):
    cursor = parse_scan_cursor(argv[1])
    if cursor is None:
        return INVALID_CURSOR_ERR
    opts = scan_options(argv, 2, True)
    if isinstance(opts, bytes):
        return opts
    pattern, count, typ = opts
    db = c.db
    data = db.data
    if hasattr(data, 'scan'):
        # The keyspace table's own buckets (dictScan), nothing to keep up.
        cursor, found = data.scan(cursor, count)
    else:
        cursor, found = scan_container(db, 'scan_index', data, count, cursor, len(data))
    out = []
    for k in found:
        if pattern is not None and not glob_match(pattern, k):
            continue
        v = data.get(k)
        if v is None:
            continue
        if typ is not None and type_name(v).lower() != typ:
            continue
        if db.is_expired(k) and c.server.expire_if_needed(db, k):
            continue
        out.append(k)
    return b'*2\r\n' + bulk(b'%d' % cursor) + resp.bulk_array(out)


@command('randomkey')
def randomkey(c, argv):
    k = c.db.random_key()
    if k is None:
        return resp.null(c.resp)
    return bulk(k)


def _rename(c, argv, nx):
    src, dst = argv[1], argv[2]
    db = c.db
    server = c.server
    v = db.lookup_write(src)
    if v is None:
        return NO_SUCH_KEY_ERR
    if src == dst:
        return ZERO if nx else OK
    when = db.get_expire(src)
    if db.exists(dst):
        if nx:
            return ZERO
        db.delete(dst)
    db.delete(src)
    db.add(dst, v)
    if when != -1:
        db.set_expire(dst, when)
    server.dirty += 1
    if server.notify_flags:
        server.notify(G, b'rename_from', src, db.id)
        server.notify(G, b'rename_to', dst, db.id)
    return ONE if nx else OK


@command('rename')
def rename(c, argv):
    return _rename(c, argv, False)


@command('renamenx')
def renamenx(c, argv):
    return _rename(c, argv, True)


@command('copy')
def copy(c, argv):
    src, dst = argv[1], argv[2]
    server = c.server
    srcdb = dstdb = c.db
    replace = False
    i = 3
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b'replace':
            replace = True
            i += 1
        elif opt == b'db' and i + 1 < len(argv):
            n = get_int(argv[i + 1])
            if n < 0 or n >= len(server.dbs):
                return DB_INDEX_ERR
            dstdb = server.dbs[n]
            i += 2
        else:
            return SYNTAX_ERR
    if server.config.cluster_enabled and (srcdb.id or dstdb.id):
        return b'-ERR Copying to another database is not allowed in cluster mode\r\n'
    if srcdb is dstdb and src == dst:
        return SAME_OBJECT_ERR
    v = srcdb.lookup(src)
    if v is None:
        return ZERO
    when = srcdb.get_expire(src)
    if dstdb.exists(dst):
        if not replace:
            return ZERO
        dstdb.delete(dst)
    dstdb.add(dst, deep_copy(v))
    if when != -1:
        dstdb.set_expire(dst, when)
    server.dirty += 1
    if server.notify_flags:
        server.notify(G, b'copy_to', dst, dstdb.id)
    return ONE


@command('move')
def move(c, argv):
    key = argv[1]
    server = c.server
    if server.config.cluster_enabled:
        return b'-ERR MOVE is not allowed in cluster mode\r\n'
    n = get_int(argv[2])
    if n < 0 or n >= len(server.dbs):
        return DB_INDEX_ERR
    src = c.db
    dst = server.dbs[n]
    if src is dst:
        return SAME_OBJECT_ERR
    v = src.lookup_write(key)
    if v is None:
        return ZERO
    if dst.exists(key):
        return ZERO
    when = src.get_expire(key)
    src.delete(key)
    dst.add(key, v)
    if when != -1:
        dst.set_expire(key, when)
    server.dirty += 1
    if server.notify_flags:
        server.notify(G, b'move_from', key, src.id)
        server.notify(G, b'move_to', key, dst.id)
    return ONE


@command('touch')
def touch(c, argv):
    db = c.db
    n = 0
    for key in argv[1:]:
        if db.lookup(key) is not None:
            n += 1
    return integer(n)


# -- OBJECT -----------------------------------------------------------------

LFU_POLICY_ERR = (b'-ERR An LFU maxmemory policy is selected, idle time not tracked. Please '
                  b'note that when switching between policies at runtime LRU and LFU data '
                  b'will take some time to adjust.\r\n')
NOT_LFU_ERR = (b'-ERR An LFU maxmemory policy is not selected, access frequency not '
               b'tracked. Please note that when switching between policies at runtime LRU '
               b'and LFU data will take some time to adjust.\r\n')


def _object_value(c, key):
    # OBJECT does not touch the key's access time (LOOKUP_NOTOUCH).
    return c.db.lookup_notouch(key, notify=False)


@command('object|encoding')
def object_encoding_cmd(c, argv):
    v = _object_value(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    return bulk(object_encoding(c.server, v))


@command('object|refcount')
def object_refcount(c, argv):
    v = _object_value(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    if type(v) is bytes and len(v) <= 5:
        n = string2ll(v)
        if n is not None and 0 <= n < 10000 and 'lfu' not in c.server.config.maxmemory_policy \
                and 'lru' not in c.server.config.maxmemory_policy:
            return integer(2147483647)
    return ONE


@command('object|idletime')
def object_idletime(c, argv):
    v = _object_value(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    if 'lfu' in c.server.config.maxmemory_policy:
        return LFU_POLICY_ERR
    server = c.server
    lru = c.db.lru.get(argv[2], server.lruclock)
    return integer(((server.lruclock - lru) & ((1 << 24) - 1)))


@command('object|freq')
def object_freq(c, argv):
    v = _object_value(c, argv[2])
    if v is None:
        return resp.null(c.resp)
    if 'lfu' not in c.server.config.maxmemory_policy:
        return NOT_LFU_ERR
    freq = getattr(c.server, 'lfu_frequency', None)
    return integer(freq(c.db, argv[2]) if freq else 0)


OBJECT_HELP = [
    'ENCODING <key>',
    '    Return the kind of internal representation used in order to store the value',
    '    associated with a <key>.',
    'FREQ <key>',
    '    Return the access frequency index of the <key>. The returned integer is',
    '    proportional to the logarithm of the recent access frequency of the key.',
    'IDLETIME <key>',
    '    Return the idle time of the <key>, that is the approximated number of',
    '    seconds elapsed since the last access to the key.',
    'REFCOUNT <key>',
    '    Return the number of references of the value associated with the specified',
    '    <key>.',
]


@command('object|help')
def object_help(c, argv):
    return help_reply('OBJECT', OBJECT_HELP)


# -- expiry -----------------------------------------------------------------

def parse_expire_flags(argv, start):
    """NX/XX/GT/LT for EXPIRE and friends; returns a set or an error reply."""
    flags = set()
    for a in argv[start:]:
        o = a.lower()
        if o in (b'nx', b'xx', b'gt', b'lt'):
            flags.add(o)
        else:
            return error(b'ERR Unsupported option %s' % c_string(a))
    if b'nx' in flags and (b'xx' in flags or b'gt' in flags or b'lt' in flags):
        return b'-ERR NX and XX, GT or LT options at the same time are not compatible\r\n'
    if b'gt' in flags and b'lt' in flags:
        return b'-ERR GT and LT options at the same time are not compatible\r\n'
    return flags


def invalid_expire(cmdname):
    return error(b"ERR invalid expire time in '%s' command" % cmdname)


# The seconds an expiry may be given in (C's division truncates: LLONG_MIN
# / 1000 is -9223372036854775).
MAX_EXPIRE_S = LLONG_MAX // 1000
MIN_EXPIRE_S = -(-LLONG_MIN // 1000)


def expire_generic(c, argv, basetime_ms, unit_seconds, cmdname):
    key = argv[1]
    # Redis checks the options before the time.
    flags = None
    if len(argv) > 3:
        flags = parse_expire_flags(argv, 3)
        if isinstance(flags, bytes):
            return flags
    when = string2ll(argv[2])
    if when is None:
        return NOT_INT_ERR
    if unit_seconds:
        if when > MAX_EXPIRE_S or when < MIN_EXPIRE_S:
            return invalid_expire(cmdname)
        when *= 1000
    if when > LLONG_MAX - basetime_ms:
        return invalid_expire(cmdname)
    when += basetime_ms
    db = c.db
    server = c.server
    if db.lookup_write(key) is None:
        return ZERO
    if flags:
        current = db.get_expire(key)
        if b'nx' in flags and current != -1:
            return ZERO
        if b'xx' in flags and current == -1:
            return ZERO
        if b'gt' in flags and (current == -1 or when <= current):
            return ZERO
        if b'lt' in flags and current != -1 and when >= current:
            return ZERO
    if when <= clock.time() * 1000 and not server.loading and not server.masterhost:
        # Already in the past: the key goes now, and a DEL is what replays.
        db.delete(key)
        server.dirty += 1
        c.propagate_argv = [[b'DEL', key]]
        if server.notify_flags:
            server.notify(G, b'del', key, db.id)
        return ONE
    db.set_expire(key, when)
    if cmdname != b'pexpireat':
        # As Redis rewrites the command and its time argument: the options
        # after it stay.
        op = [b'PEXPIREAT', key, b'%d' % when]
        if flags:
            op += argv[3:]
        c.propagate_argv = [op]
    server.dirty += 1
    if db.watched:
        server.signal_modified(db, key)
    if server.notify_flags:
        server.notify(G, b'expire', key, db.id)
    return ONE


@command('expire')
def expire(c, argv):
    return expire_generic(c, argv, int(clock.time() * 1000), True, b'expire')


@command('pexpire')
def pexpire(c, argv):
    return expire_generic(c, argv, int(clock.time() * 1000), False, b'pexpire')


@command('expireat')
def expireat(c, argv):
    return expire_generic(c, argv, 0, True, b'expireat')


@command('pexpireat')
def pexpireat(c, argv):
    return expire_generic(c, argv, 0, False, b'pexpireat')


def ttl_generic(c, key, ms, absolute):
    db = c.db
    if db.lookup_notouch(key) is None:
        return integer(-2)
    when = db.get_expire(key)
    if when == -1:
        return integer(-1)
    left = when if absolute else max(0, when - int(clock.time() * 1000))
    # Seconds are rounded to the nearest, for EXPIRETIME too.
    return integer(left if ms else (left + 500) // 1000)


@command('ttl')
def ttl(c, argv):
    return ttl_generic(c, argv[1], False, False)


@command('pttl')
def pttl(c, argv):
    return ttl_generic(c, argv[1], True, False)


@command('expiretime')
def expiretime(c, argv):
    return ttl_generic(c, argv[1], False, True)


@command('pexpiretime')
def pexpiretime(c, argv):
    return ttl_generic(c, argv[1], True, True)


@command('persist')
def persist(c, argv):
    db = c.db
    key = argv[1]
    if db.lookup_write(key) is None:
        return ZERO
    if db.persist(key):
        c.server.dirty += 1
        if db.watched:
            c.server.signal_modified(db, key)
        if c.server.notify_flags:
            c.server.notify(G, b'persist', key, db.id)
        return ONE
    return ZERO
