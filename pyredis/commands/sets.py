"""Set commands (t_set.c).

A set is a plain Python set of bytes: the type the rest of the server (RDB,
AOF rewrite, SORT, COPY) knows.

Encoding. Redis 7.0 keeps a set of integers in an intset (sorted, while it
has at most ``set-max-intset-entries`` members) and converts it, for good,
to a hash table as soon as a non-integer member or one member too many
arrives. That shows through OBJECT ENCODING, through the reply order (an
intset is iterated in ascending numeric order, a hash table in no
particular order) and through SSCAN (an intset is returned whole with
cursor 0). The encoding is derived from the content, except for a set that
was converted and then shrank back to a few integers: those are remembered
in hashes.STATE, at the moment they shrink (removing a non-integer
member, or crossing the size limit downwards), so SADD never pays for it.

SSCAN over a hash table walks a ``scan.BucketIndex`` kept in
hashes.STATE for the sets being scanned, updated by the writes.

Random picks (SPOP, SRANDMEMBER): a set past set-max-intset-entries is
sampled by pyredis/_sampling.c, which probes random slots of the set's
table (as dictGetRandomKey probes buckets): O(1) expected per pick, so
SPOP/SRANDMEMBER with a count cost O(count), not O(n). A smaller set (and
every set without the extension) is sampled in O(n): one pick skips a
random distance into it inside C, several are drawn from a list of its
members (hashes.py's random_member and friends). SPOP is propagated as SREM
of the members it removed (or DEL when it took the whole set), so replicas
remove exactly the same members.
"""

from . import command
from .hashes import STATE, scan_with_index, random_member, random_sample, random_choices
from .lists import bulk_items
from .keys import element_scan_args, scan_reply
from ..resp import ZERO, ONE, integer, SYNTAX_ERR, NOT_INT_ERR, WRONGTYPE_ERR, \
    NULL_BULK, NULL3
from ..util import string2ll, glob_match, LLONG_MIN
from ..notify import NotifyFlags
from ..values import SET
from ..resp import COUNT_RANGE_ERR, LIMIT_NEGATIVE_ERR, NUMKEYS_ERR, POSITIVE_ERR

S = NotifyFlags.SET
G = NotifyFlags.GENERIC



def _is_int(m):
    return len(m) <= 20 and string2ll(m) is not None


def is_intset(server, s):
    """OBJECT ENCODING of a set: intset (True) or hashtable."""
    if not fits_intset(server, s):
        return False
    return not (STATE.entries and STATE.converted(s))


def fits_intset(server, s):
    """Whether these members, added to an empty intset, would keep it one."""
    if len(s) > server.config.set_max_intset_entries:
        return False
    for m in s:
        if not _is_int(m):
            return False
    return True


def _encoding(server, s):
    return b'intset' if is_intset(server, s) else b'hashtable'


VALUE_TYPES = {set: (b'set', _encoding)}


def ordered(server, s):
    """Members in the order Redis iterates them: ascending for an intset."""
    if is_intset(server, s):
        return sorted(s, key=int)
    return list(s)


def _null(c):
    return NULL_BULK if c.resp == 2 else NULL3


def _set_reply(c, members):
    head = b'~%d\r\n' % len(members) if c.resp == 3 else b'*%d\r\n' % len(members)
    return head + bulk_items(members)


def _empty_set(c):
    return b'~0\r\n' if c.resp == 3 else b'*0\r\n'






def _add(s, members):
    """Add members; returns the number added. Nothing to convert: the
    encoding follows from the content."""
    n = len(s)
    index = STATE.index(s) if STATE.entries else None
    if index is None:
        s.update(members)
    else:
        for m in members:
            if m not in s:
                s.add(m)
                index.add(m)
    return len(s) - n


def _remove(s, m):
    if m in s:
        s.remove(m)
        if STATE.entries:
            index = STATE.index(s)
            if index is not None:
                index.remove(m)
        return True
    return False


def _shrunk(server, s, was_big, removed):
    """After removals: a set that was a hash table (too many members, or a
    non-integer one now removed) stays one even if it looks like an intset."""
    if not s:
        return
    if not was_big:
        for m in removed:
            if not _is_int(m):
                break
        else:
            return
    if fits_intset(server, s):
        STATE.mark_converted(s)




def _delete_if_empty(c, db, key, s):
    if not s:
        db.delete(key)
        c.server.key_modified(db, key, G, b'del', 0)


@command('sadd')
def sadd(c, argv):
    db = c.db
    key = argv[1]
    s = db.data.get(key)
    if s.__class__ is set and len(argv) == 3 and not (db.expires and key in db.expires):
        # Fast path: one member added to an existing set without a TTL
        # (db.lookup_write does no more than the LRU update for such a key;
        # an empty expires dict is tested before the key), with _changed
        # inlined.
        db.lru[key] = db.lruclock
        m = argv[2]
        if m in s:
            return ZERO
        if not STATE.entries:   # no SSCAN index to keep up to date
            s.add(m)
            # (Server.key_modified, inlined: SADD is a hot command.)
            server = c.server
            if db.watched:
                server.signal_modified(db, key)
            server.dirty += 1
            if server.notify_flags:
                server.notify(S, b'sadd', key, db.id)
            return ONE
    return _sadd(c, argv)


def _sadd(c, argv):
    db = c.db
    key = argv[1]
    s = db.lookup_write(key)
    if s is None:
        s = set()
        db.add(key, s)
    elif not isinstance(s, set):
        return WRONGTYPE_ERR
    added = _add(s, argv[2:])
    if added:
        c.server.key_modified(db, key, S, b'sadd', added)
    return integer(added)


@command('srem')
def srem(c, argv):
    db = c.db
    key = argv[1]
    s, err = c.db.lookup_typed(key, SET, True)
    if err:
        return err
    if s is None:
        return ZERO
    was_big = len(s) > c.server.config.set_max_intset_entries
    removed = []
    for m in argv[2:]:
        if _remove(s, m):
            removed.append(m)
            if not s:
                break
    if removed:
        _shrunk(c.server, s, was_big, removed)
        c.server.key_modified(db, key, S, b'srem', len(removed))
        _delete_if_empty(c, db, key, s)
    return integer(len(removed))


@command('scard')
def scard(c, argv):
    s, err = c.db.lookup_typed(argv[1], SET)
    if err:
        return err
    return integer(len(s)) if s is not None else ZERO


@command('sismember')
def sismember(c, argv):
    s, err = c.db.lookup_typed(argv[1], SET)
    if err:
        return err
    return ONE if s is not None and argv[2] in s else ZERO


@command('smismember')
def smismember(c, argv):
    s, err = c.db.lookup_typed(argv[1], SET)
    if err:
        return err
    if s is None:
        s = ()
    return b'*%d\r\n' % (len(argv) - 2) + b''.join(
        ONE if m in s else ZERO for m in argv[2:])


@command('smembers')
def smembers(c, argv):
    s, err = c.db.lookup_typed(argv[1], SET)
    if err:
        return err
    if s is None:
        return _empty_set(c)
    return _set_reply(c, ordered(c.server, s))


@command('smove')
def smove(c, argv):
    db = c.db
    src, dst, m = argv[1], argv[2], argv[3]
    sset = db.lookup_write(src)
    dset = db.lookup_write(dst)
    if sset is None:
        return ZERO
    if not isinstance(sset, set) or (dset is not None and not isinstance(dset, set)):
        return WRONGTYPE_ERR
    if sset is dset:
        return ONE if m in sset else ZERO
    server = c.server
    was_big = len(sset) > server.config.set_max_intset_entries
    if not _remove(sset, m):
        return ZERO
    _shrunk(server, sset, was_big, (m,))
    server.key_modified(db, src, S, b'srem')
    _delete_if_empty(c, db, src, sset)
    if dset is None:
        dset = set()
        db.add(dst, dset)
    if _add(dset, (m,)):
        # The destination changed only when the member was added to it.
        server.key_modified(db, dst, S, b'sadd')
    return ONE


# -- random members -------------------------------------------------------------

@command('spop')
def spop(c, argv):
    if len(argv) == 2 and argv[1] not in c.db.data:
        # A missing key (a key in expires is always in data): nothing to
        # look up, expire or pop.
        return NULL_BULK if c.resp == 2 else NULL3
    if len(argv) == 3:
        return _spop_count(c, argv)
    if len(argv) > 3:
        return SYNTAX_ERR
    db = c.db
    key = argv[1]
    s, err = c.db.lookup_typed(key, SET, True)
    if err:
        return err
    if s is None:
        return _null(c)
    was_big = len(s) > c.server.config.set_max_intset_entries
    m = random_member(s, was_big)
    _remove(s, m)
    _shrunk(c.server, s, was_big, (m,))
    c.server.key_modified(db, key, S, b'spop')
    if c.server.propagate_targets:
        c.propagate_argv = [[b'SREM', key, m]]
    _delete_if_empty(c, db, key, s)
    return b'$%d\r\n%s\r\n' % (len(m), m)


def _spop_count(c, argv):
    count = string2ll(argv[2])
    if count is None or count < 0:
        return POSITIVE_ERR
    db = c.db
    key = argv[1]
    s, err = c.db.lookup_typed(key, SET, True)
    if err:
        return err
    if s is None or count == 0:
        return _empty_set(c)
    server = c.server
    if count >= len(s):
        members = ordered(server, s)
        c.server.key_modified(db, key, S, b'spop', len(s))
        db.delete(key)
        server.key_modified(db, key, G, b'del', 0)
        if server.propagate_targets:
            c.propagate_argv = [[b'DEL', key]]
        return _set_reply(c, members)
    was_big = len(s) > server.config.set_max_intset_entries
    members = random_sample(s, count, was_big)
    for m in members:
        _remove(s, m)
    _shrunk(server, s, was_big, members)
    c.server.key_modified(db, key, S, b'spop', count)
    if server.propagate_targets:
        c.propagate_argv = [[b'SREM', key, m] for m in members]
    return _set_reply(c, members)


@command('srandmember')
def srandmember(c, argv):
    if len(argv) > 3:
        return SYNTAX_ERR
    if len(argv) == 3:
        count = string2ll(argv[2])
        if count is None:
            return NOT_INT_ERR
        if count == LLONG_MIN:
            return COUNT_RANGE_ERR
        s, err = c.db.lookup_typed(argv[1], SET)
        if err:
            return err
        if s is None or count == 0:
            return b'*0\r\n'
        big = len(s) > c.server.config.set_max_intset_entries
        if count < 0:
            members = random_choices(s, -count, big)
        elif count >= len(s):
            members = ordered(c.server, s)
        else:
            members = random_sample(s, count, big)
        return b'*%d\r\n' % len(members) + b''.join(
            b'$%d\r\n%s\r\n' % (len(m), m) for m in members)
    s, err = c.db.lookup_typed(argv[1], SET)
    if err:
        return err
    if s is None:
        return _null(c)
    m = random_member(s, len(s) > c.server.config.set_max_intset_entries)
    return b'$%d\r\n%s\r\n' % (len(m), m)


# -- algebra ------------------------------------------------------------------------

def _load_sets(c, keys, write):
    """The sets for keys (None for missing ones), or a WRONGTYPE reply."""
    lookup = c.db.lookup_write if write else c.db.lookup
    sets = []
    for k in keys:
        s = lookup(k)
        if s is not None and not isinstance(s, set):
            return WRONGTYPE_ERR
        sets.append(s)
    return sets


def _store(c, dst, members, event, server_set):
    """Store a computed result at dst (deleting dst when it is empty)."""
    db = c.db
    server = c.server
    if members:
        db.set(dst, server_set)
        server.key_modified(db, dst, S, event)
        return integer(len(server_set))
    if db.exists(dst) and db.delete(dst):
        server.key_modified(db, dst, G, b'del')
    return ZERO


def _intersection(c, sets, limit=0):
    """Members of the intersection in Redis's order (walking the smallest
    set), stopping at ``limit`` members when it is non-zero."""
    sets = sorted(sets, key=len)
    first, rest = sets[0], sets[1:]
    out = []
    for m in ordered(c.server, first):
        for s in rest:
            if m not in s:
                break
        else:
            out.append(m)
            if limit and len(out) >= limit:
                break
    return out


def _sinter(c, keys, dst):
    sets = _load_sets(c, keys, dst is not None)
    if sets.__class__ is bytes:
        return sets
    if any(s is None for s in sets):
        if dst is not None:
            return _store(c, dst, (), b'sinterstore', None)
        return _empty_set(c)
    members = _intersection(c, sets)
    if dst is not None:
        return _store(c, dst, members, b'sinterstore', set(members))
    return _set_reply(c, members)


@command('sinter')
def sinter(c, argv):
    return _sinter(c, argv[1:], None)


@command('sinterstore')
def sinterstore(c, argv):
    return _sinter(c, argv[2:], argv[1])


@command('sintercard')
def sintercard(c, argv):
    numkeys = string2ll(argv[1])
    if numkeys is None or numkeys < 1:
        return NUMKEYS_ERR
    if numkeys > len(argv) - 2:
        return b"-ERR Number of keys can't be greater than number of args\r\n"
    limit = 0
    j = 2 + numkeys
    while j < len(argv):
        if argv[j].lower() == b'limit' and j + 1 < len(argv):
            limit = string2ll(argv[j + 1])
            if limit is None or limit < 0:
                return LIMIT_NEGATIVE_ERR
            j += 2
        else:
            return SYNTAX_ERR
    sets = _load_sets(c, argv[2:2 + numkeys], False)
    if sets.__class__ is bytes:
        return sets
    if any(s is None for s in sets):
        return ZERO
    return integer(len(_intersection(c, sets, limit)))


def _union_diff(c, keys, dst, diff):
    sets = _load_sets(c, keys, dst is not None)
    if sets.__class__ is bytes:
        return sets
    server = c.server
    hashtable = False
    if diff:
        first = sets[0]
        if first is None:
            result = set()
        else:
            result = set(first)
            others = [s for s in sets[1:] if s is not None]
            for s in others:
                result.difference_update(s)
            # Redis picks between two algorithms; the second adds all of
            # the first set before removing, which decides the encoding.
            work_one = len(first) * (1 + len(others)) // 2
            work_two = len(first) + sum(len(s) for s in others)
            if work_one > work_two and not fits_intset(server, first):
                hashtable = True
    else:
        result = set()
        for s in sets:
            if s is not None:
                result.update(s)
    value = result
    if hashtable and fits_intset(server, value):
        STATE.mark_converted(value)
    if dst is not None:
        return _store(c, dst, result, b'sdiffstore' if diff else b'sunionstore', value)
    return _set_reply(c, ordered(server, value))


@command('sunion')
def sunion(c, argv):
    return _union_diff(c, argv[1:], None, False)


@command('sunionstore')
def sunionstore(c, argv):
    return _union_diff(c, argv[2:], argv[1], False)


@command('sdiff')
def sdiff(c, argv):
    return _union_diff(c, argv[1:], None, True)


@command('sdiffstore')
def sdiffstore(c, argv):
    return _union_diff(c, argv[2:], argv[1], True)


@command('sscan')
def sscan(c, argv):
    args = element_scan_args(c, argv, SET)
    if args.__class__ is bytes:
        return args
    s, cursor, pattern, count = args
    if is_intset(c.server, s):
        cursor, members = 0, sorted(s, key=int)
    else:
        cursor, members = scan_with_index(s, cursor, count)
    if pattern is not None:
        members = [m for m in members if glob_match(pattern, m)]
    return scan_reply(cursor, len(members), b''.join(
        b'$%d\r\n%s\r\n' % (len(m), m) for m in members))


def _intset_limit_changed(server):
    """CONFIG SET set-max-intset-entries: Redis converts nothing, so the
    sets already converted for their size that the new, higher limit would
    let be intsets stay hash tables (remembered as shrunk ones are). A
    lower limit is read as Redis's next SADD would apply it: at once."""
    old, new = server.intset_limit, server.config.set_max_intset_entries
    server.intset_limit = new
    if new <= old:
        return
    for db in server.dbs:
        for v in db.data.values():
            if v.__class__ is set and old < len(v) <= new and fits_intset(server, v):
                STATE.mark_converted(v)


def attach(server):
    server.intset_limit = server.config.set_max_intset_entries
    server.on_config_set('set-max-intset-entries', _intset_limit_changed)
