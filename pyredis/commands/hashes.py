"""Hash commands (t_hash.c).

Two forms, as Redis has two encodings. A new hash is a ``PackedHash``
(pyredis/_listpack.c): one listpack, the bytes Redis itself would hold and
write to an RDB file, searched and edited in C - a sixth of the memory of
a dict of bytes objects for a hash of ten small fields. When a write takes
it past ``hash-max-listpack-entries`` fields or gives it a field or value
longer than ``hash-max-listpack-value`` bytes, it is converted, once and
for good, to a plain Python dict (field -> value, both bytes), replacing
the value in the keyspace (``_convert``), which is when Redis's
hashTypeConvert runs. Readers elsewhere (RDB, AOF rewrite, SORT, DEBUG
DIGEST, MEMORY USAGE) take either: PackedHash answers the dict methods
they use. Python dicts keep insertion order and update values in place,
which is the order a listpack replies in (HGETALL, HKEYS, HSCAN).

Encoding. A PackedHash is a listpack. A dict's encoding is derived from its
content (what Redis's conversion rules imply for it: dicts also come from
RDB files, RESTORE and builds without the C extension), except for a hash
that was converted and then shrank back within the limits: only those
are remembered, in ``STATE`` (see ObjectState), and only at the rare
moment they shrink (HDEL of a field that made it big, a long value
overwritten by a short one), so the common write path never pays for it.
That shows through OBJECT ENCODING and HSCAN (a listpack is returned whole
with cursor 0).

HSCAN over a hash table walks a ``scan.BucketIndex`` kept in ``STATE``
for the hashes being scanned (the writes keep it up to date; when no scan
is running, that costs them one check of an empty dict).

HRANDFIELD on a hash past hash-max-listpack-entries picks its fields in
O(1) each through pyredis/_sampling.c (see "random picks" below).

HINCRBYFLOAT computes in long double precision (util.strtold) and is
propagated as HSET with the resulting value, so replicas and the AOF never
redo a floating point sum.
"""

import random
import sys
from itertools import chain, islice

from . import command
from .lists import bulk_items
from .keys import element_scan_args, scan_reply
from ..resp import OK, ZERO, ONE, integer, SYNTAX_ERR, NOT_INT_ERR, \
    NULL_BULK, NULL3, NOT_FLOAT_ERR
from ..scan import BucketIndex
from ..values import HASH, PackedHash
from ..util import string2ll, strtold, ld_add, format_long_double, glob_match, LLONG_MAX, \
    LLONG_MIN
from ..notify import NotifyFlags
from ..resp import ARITY_ERR, COUNT_RANGE_ERR, INCR_NAN_ERR, OVERFLOW_ERR, RANGE_ERR

try:
    from .._sampling import DICTS as _DICTS, choice as _choice, choices as _choices, \
        sample as _sample
except ImportError:     # not built: big values are sampled as small ones, in O(n)
    _choice = None
    _DICTS = False

H = NotifyFlags.HASH
G = NotifyFlags.GENERIC


class ObjectState:
    """Per-container state for the few dicts/sets that need some, keyed by
    id(): whether it was converted to a hash table (and shrank back since),
    and its SCAN bucket index. Each entry keeps its container alive, so an
    id is never reused while it is registered; ``sweep`` (from the cron)
    drops the entries whose container nothing else references any more
    (deleted keys)."""

    def __init__(self):
        self.entries = {}    # id -> [container, converted, BucketIndex or None]

    def _entry(self, obj, create=False):
        e = self.entries.get(id(obj))
        if e is not None and e[0] is obj:
            return e
        if create:
            e = self.entries[id(obj)] = [obj, False, None]
            return e
        return None

    def converted(self, obj):
        e = self._entry(obj)
        return e is not None and e[1]

    def mark_converted(self, obj):
        self._entry(obj, True)[1] = True

    def index(self, obj):
        e = self._entry(obj)
        return e[2] if e is not None else None

    def set_index(self, obj, index):
        self._entry(obj, True)[2] = index

    def sweep(self):
        entries = self.entries
        for k, e in list(entries.items()):
            obj = e[0]
            if sys.getrefcount(obj) <= _UNREFERENCED:
                del entries[k]


def _calibrate():
    # The reference count sweep() sees for a container held by nothing else.
    probe = ObjectState()
    probe.mark_converted({})
    for k, e in list(probe.entries.items()):
        obj = e[0]
        return sys.getrefcount(obj)


_UNREFERENCED = _calibrate()
STATE = ObjectState()


def _sweep_cron(server):
    # Once a second is plenty: entries only pin deleted containers meanwhile.
    server._object_state_ticks = getattr(server, '_object_state_ticks', 0) + 1
    if server._object_state_ticks >= (server.hz or 10):
        server._object_state_ticks = 0
        if STATE.entries:
            STATE.sweep()


def attach(server):
    server.cron_hooks.append(lambda: _sweep_cron(server))


def is_hashtable(server, h):
    """OBJECT ENCODING of a hash: hashtable (True) or listpack."""
    if h.__class__ is PackedHash:
        return False
    cfg = server.config
    if len(h) > cfg.hash_max_listpack_entries:
        return True
    if STATE.entries and STATE.converted(h):
        return True
    limit = cfg.hash_max_listpack_value
    for f, v in h.items():
        if len(f) > limit or len(v) > limit:
            return True
    return False


def _encoding(server, h):
    return b'hashtable' if is_hashtable(server, h) else b'listpack'


VALUE_TYPES = {dict: (b'hash', _encoding)}
if PackedHash is not None:
    VALUE_TYPES[PackedHash] = (b'hash', lambda server, h: b'listpack')

# A new, empty hash (hashTypeLookupWriteOrCreate's createHashObject).
new_hash = dict if PackedHash is None else PackedHash


def _convert(db, key, h):
    """hashTypeConvert: the PackedHash under ``key`` becomes a dict, in
    place in the keyspace (its TTL and LRU stay)."""
    d = dict(h.items())
    db.data[key] = d
    return d


def _shrinking(server, h, was_hashtable):
    """After a write that may have taken a converted hash back within the
    listpack limits: remember that it stays a hash table."""
    if was_hashtable and h and not is_hashtable(server, h):
        STATE.mark_converted(h)


def _null(c):
    return NULL_BULK if c.resp == 2 else NULL3


def _bulk(v):
    return b'$%d\r\n%s\r\n' % (len(v), v)






def _set_fields(c, key, h, argv, start):
    """hashTypeSet for the field/value pairs of argv[start:]; returns the
    number of new fields. A PackedHash is converted to a dict before it
    would hold a field or value longer than hash-max-listpack-value, or
    after it grows past hash-max-listpack-entries fields. For a dict there
    is nothing to convert: the encoding follows from the content, except
    when a long value is overwritten (see _shrinking)."""
    added = 0
    if h.__class__ is PackedHash:
        cfg = c.server.config
        limit = cfg.hash_max_listpack_value
        entries = cfg.hash_max_listpack_entries
        for i in range(start, len(argv), 2):
            f = argv[i]
            v = argv[i + 1]
            if len(f) > limit or len(v) > limit:
                return added + _set_fields(c, key, _convert(c.db, key, h), argv, i)
            if h.set(f, v):
                added += 1
                if len(h) > entries:
                    return added + _set_fields(c, key, _convert(c.db, key, h), argv, i + 2)
        return added
    long_old = False
    limit = c.server.config.hash_max_listpack_value
    index = STATE.index(h) if STATE.entries else None
    for i in range(start, len(argv), 2):
        f = argv[i]
        old = h.get(f)
        if old is None:
            added += 1
            if index is not None:
                index.add(f)
        elif len(old) > limit:
            long_old = True
        h[f] = argv[i + 1]
    if long_old:
        _shrinking(c.server, h, True)
    return added


def _written(c, key, event, n=1):
    c.server.key_modified(c.db, key, H, event, n)


@command('hset')
def hset(c, argv):
    db = c.db
    key = argv[1]
    h = db.data.get(key)
    if h.__class__ is dict and len(argv) == 4 and not (db.expires and key in db.expires) \
            and not STATE.entries:
        # Fast path: one field set in an existing hash without a TTL
        # (db.lookup_write does no more than the LRU update for such a key;
        # an empty expires dict is tested before the key) and no SCAN index
        # or conversion state to maintain. The encoding
        # follows from the content unless a value longer than the listpack
        # limit is replaced by a shorter one (see _set_fields).
        f = argv[2]
        v = argv[3]
        old = h.get(f)
        if old is None or len(v) >= len(old):
            db.lru[key] = db.lruclock
            h[f] = v
            # (Server.key_modified, inlined: HSET is a hot command.)
            server = c.server
            if db.watched:
                server.signal_modified(db, key)
            server.dirty += 1
            if server.notify_flags:
                server.notify(H, b'hset', key, db.id)
            return ONE if old is None else ZERO
    elif h.__class__ is PackedHash and len(argv) == 4 and \
            not (db.expires and key in db.expires):
        # The same for a listpack that stays one.
        server = c.server
        cfg = server.config
        f = argv[2]
        v = argv[3]
        limit = cfg.hash_max_listpack_value
        if len(f) <= limit and len(v) <= limit and \
                len(h) < cfg.hash_max_listpack_entries:
            db.lru[key] = db.lruclock
            added = h.set(f, v)
            if db.watched:
                server.signal_modified(db, key)
            server.dirty += 1
            if server.notify_flags:
                server.notify(H, b'hset', key, db.id)
            return ONE if added else ZERO
    return hset_generic(c, argv)


@command('hmset')
def hset_generic(c, argv):
    if len(argv) % 2:
        return ARITY_ERR % argv[0].lower()
    key = argv[1]
    h, err = c.db.lookup_typed(key, HASH, True, new_hash)
    if err:
        return err
    added = _set_fields(c, key, h, argv, 2)
    _written(c, key, b'hset', (len(argv) - 2) // 2)
    if argv[0].lower() == b'hmset':
        return OK
    return integer(added)


@command('hsetnx')
def hsetnx(c, argv):
    key = argv[1]
    h, err = c.db.lookup_typed(key, HASH, True, new_hash)
    if err:
        return err
    if argv[2] in h:
        return ZERO
    _set_fields(c, key, h, argv, 2)
    _written(c, key, b'hset')
    return ONE


@command('hget')
def hget(c, argv):
    h, err = c.db.lookup_typed(argv[1], HASH)
    if err:
        return err
    if h is None:
        return _null(c)
    v = h.get(argv[2])
    if v is None:
        return _null(c)
    return b'$%d\r\n%s\r\n' % (len(v), v)


@command('hmget')
def hmget(c, argv):
    h, err = c.db.lookup_typed(argv[1], HASH)
    if err:
        return err
    null = _null(c)
    parts = [b'*%d\r\n' % (len(argv) - 2)]
    get = h.get if h is not None else (lambda f: None)
    for f in argv[2:]:
        v = get(f)
        parts.append(null if v is None else b'$%d\r\n%s\r\n' % (len(v), v))
    return b''.join(parts)


@command('hdel')
def hdel(c, argv):
    key = argv[1]
    h, err = c.db.lookup_typed(key, HASH, True)
    if err:
        return err
    if h is None:
        return ZERO
    server = c.server
    if h.__class__ is PackedHash:
        deleted = 0
        for f in argv[2:]:
            if h.pop(f, None) is not None:
                deleted += 1
                if not h:
                    break
        if deleted:
            _written(c, key, b'hdel', deleted)
            if not h:
                c.db.delete(key)
                server.key_modified(c.db, key, G, b'del', 0)
        return integer(deleted)
    cfg = server.config
    # Deleting what made the hash a hash table does not make it a listpack.
    big = len(h) > cfg.hash_max_listpack_entries
    limit = cfg.hash_max_listpack_value
    deleted = 0
    index = STATE.index(h) if STATE.entries else None
    for f in argv[2:]:
        v = h.pop(f, None)
        if v is not None:
            deleted += 1
            if len(f) > limit or len(v) > limit:
                big = True
            if index is not None:
                index.remove(f)
            if not h:
                break
    if deleted:
        db = c.db
        if big:
            _shrinking(server, h, True)
        _written(c, key, b'hdel', deleted)
        if not h:
            db.delete(key)
            server.key_modified(db, key, G, b'del', 0)
    return integer(deleted)


@command('hlen')
def hlen(c, argv):
    h, err = c.db.lookup_typed(argv[1], HASH)
    if err:
        return err
    return integer(len(h)) if h is not None else ZERO


@command('hstrlen')
def hstrlen(c, argv):
    h, err = c.db.lookup_typed(argv[1], HASH)
    if err:
        return err
    v = h.get(argv[2]) if h is not None else None
    return integer(len(v)) if v is not None else ZERO


@command('hexists')
def hexists(c, argv):
    h, err = c.db.lookup_typed(argv[1], HASH)
    if err:
        return err
    return ONE if h is not None and argv[2] in h else ZERO


def _map_reply(c, h):
    n = len(h)
    head = b'%%%d\r\n' % n if c.resp == 3 else b'*%d\r\n' % (2 * n)
    if h.__class__ is PackedHash:
        return head + bulk_items(h.flat())
    return head + bulk_items(list(chain.from_iterable(h.items())))


@command('hgetall')
def hgetall(c, argv):
    h, err = c.db.lookup_typed(argv[1], HASH)
    if err:
        return err
    if h is None:
        return b'%0\r\n' if c.resp == 3 else b'*0\r\n'
    return _map_reply(c, h)


def _array(items):
    return b'*%d\r\n' % len(items) + bulk_items(items)


@command('hkeys')
def hkeys(c, argv):
    h, err = c.db.lookup_typed(argv[1], HASH)
    if err:
        return err
    return _array(list(h)) if h is not None else b'*0\r\n'


@command('hvals')
def hvals(c, argv):
    h, err = c.db.lookup_typed(argv[1], HASH)
    if err:
        return err
    return _array(list(h.values())) if h is not None else b'*0\r\n'


@command('hincrby')
def hincrby(c, argv):
    incr = string2ll(argv[3])
    if incr is None:
        return NOT_INT_ERR
    key, field = argv[1], argv[2]
    h, err = c.db.lookup_typed(key, HASH, True)
    if err:
        return err
    value = 0
    if h is not None:
        old = h.get(field)
        if old is not None:
            value = string2ll(old)
            if value is None:
                return b'-ERR hash value is not an integer\r\n'
    new = value + incr
    if new < LLONG_MIN or new > LLONG_MAX:
        return OVERFLOW_ERR
    if h is None:
        h = new_hash()
        c.db.add(key, h)
    _set_fields(c, key, h, (field, b'%d' % new), 0)
    _written(c, key, b'hincrby')
    return integer(new)


@command('hincrbyfloat')
def hincrbyfloat(c, argv):
    incr = strtold(argv[3])
    if incr is None:
        return NOT_FLOAT_ERR
    if incr.__class__ is float:
        return b'-ERR value is NaN or Infinity\r\n'
    key, field = argv[1], argv[2]
    h, err = c.db.lookup_typed(key, HASH, True)
    if err:
        return err
    value = 0
    if h is not None:
        old = h.get(field)
        if old is not None:
            value = strtold(old)
            if value is None:
                return b'-ERR hash value is not a float\r\n'
    # Redis adds in long double precision (see util.strtold).
    new = ld_add(value, incr)
    if new.__class__ is float:
        return INCR_NAN_ERR
    out = format_long_double(new)
    if h is None:
        h = new_hash()
        c.db.add(key, h)
    _set_fields(c, key, h, (field, out), 0)
    _written(c, key, b'hincrbyfloat')
    if c.server.propagate_targets:
        c.propagate_argv = [[b'HSET', key, field, out]]
    return _bulk(out)


@command('hrandfield')
def hrandfield(c, argv):
    if len(argv) >= 3:
        count = string2ll(argv[2])
        if count is None:
            return NOT_INT_ERR
        if count == LLONG_MIN:
            return COUNT_RANGE_ERR
        withvalues = False
        if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b'withvalues'):
            return SYNTAX_ERR
        if len(argv) == 4:
            withvalues = True
            if count < -(LLONG_MAX // 2) or count > LLONG_MAX // 2:
                return RANGE_ERR
        h, err = c.db.lookup_typed(argv[1], HASH)
        if err:
            return err
        if h is None or count == 0:
            return b'*0\r\n'
        return _randfield_count(c, h, count, withvalues)
    h, err = c.db.lookup_typed(argv[1], HASH)
    if err:
        return err
    if h is None:
        return _null(c)
    return _bulk(random_member(h, _big_hash(c, h)))


# -- random picks (HRANDFIELD here, SPOP/SRANDMEMBER in sets.py) ----------------
#
# A value past its compact encoding's entry limit (hash-max-listpack-entries,
# set-max-intset-entries) is a plain dict or set: pyredis/_sampling.c picks
# its members by probing random slots of CPython's own table, as Redis's
# dictGetRandomKey probes random buckets, so a pick costs O(1) expected
# and N distinct picks O(N), whatever the size. A dict only where the
# extension reads dicts directly (_sampling.DICTS: CPython 3.11's layout):
# elsewhere its picks walk the dict, O(n) each, so N of them would cost
# O(N*n) where one list of the fields costs O(n). The other values (and
# every value when the extension is not built) are picked in O(n): one pick
# skips a random distance into the value inside C, several are drawn from a
# list of its members.

def random_member(container, big=False):
    """A uniformly random key of a non-empty dict or set (PackedHash too)."""
    if big and _choice is not None:
        return _choice(container)
    n = len(container)
    if n == 1:
        return next(iter(container))
    return next(islice(container, random.randrange(n), None))


def random_sample(container, count, big=False):
    """``count`` (at most len) distinct keys, in random order."""
    if big and _choice is not None:
        return _sample(container, count)
    return random.sample(list(container), count)


def random_choices(container, count, big=False):
    """``count`` independent uniform picks (repetitions allowed)."""
    if big and _choice is not None:
        return _choices(container, count)
    return random.choices(list(container), k=count)


def _big_hash(c, h):
    """Whether ``h``'s fields are picked by _sampling (see above)."""
    return (_DICTS and h.__class__ is dict
            and len(h) > c.server.config.hash_max_listpack_entries)


def _randfield_count(c, h, count, withvalues):
    pair = withvalues and c.resp == 3
    big = _big_hash(c, h)
    if count < 0:
        # Repetitions allowed: |count| independent picks.
        fields = random_choices(h, -count, big)
    elif count >= len(h):
        fields = list(h)
    else:
        fields = random_sample(h, count, big)
    parts = [b'*%d\r\n' % (len(fields) * (2 if withvalues and not pair else 1))]
    append = parts.append
    for f in fields:
        if withvalues:
            v = h[f]
            if pair:
                append(b'*2\r\n')
            append(b'$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(f), f, len(v), v))
        else:
            append(b'$%d\r\n%s\r\n' % (len(f), f))
    return b''.join(parts)


def scan_with_index(container, cursor, count):
    """One SCAN step over a hash table encoded dict or set."""
    index = STATE.index(container)
    if index is None or not index.fits(len(container)):
        index = BucketIndex(container, len(container))
        STATE.set_index(container, index)
    return index.scan(cursor, count)


@command('hscan')
def hscan(c, argv):
    args = element_scan_args(c, argv, HASH)
    if args.__class__ is bytes:
        return args
    h, cursor, pattern, count = args
    if h.__class__ is PackedHash:
        # A listpack is small: Redis returns it whole, cursor 0.
        parts = []
        n = 0
        for f, v in h.items():
            if pattern is None or glob_match(pattern, f):
                parts.append(b'$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(f), f, len(v), v))
                n += 2
        return scan_reply(0, n, b''.join(parts))
    if not is_hashtable(c.server, h):
        # (The same for a dict within the listpack limits.)
        cursor, fields = 0, list(h)
    else:
        cursor, fields = scan_with_index(h, cursor, count)
    parts = []
    n = 0
    for f in fields:
        v = h.get(f)
        if v is None or (pattern is not None and not glob_match(pattern, f)):
            continue
        parts.append(b'$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(f), f, len(v), v))
        n += 2
    return scan_reply(cursor, n, b''.join(parts))
