"""SORT and SORT_RO (sort.c).

SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
[ALPHA] [STORE destination] sorts the elements of a list, set or sorted set
numerically (each element, or the value BY points to, parsed as a double)
or bytewise with ALPHA, and replies with the elements or, with GET, with
the values the GET patterns point to.

Patterns substitute the first "*" with the element; "key*->field" reads a
hash field; "#" is the element itself. A BY pattern without "*" means "do
not sort": lists and sorted sets keep their own order, and a set is then
sorted ALPHA when the result is stored (so replicas and the AOF see the
same list), as Redis does. Elements of a set or sorted set whose sort keys
tie (ALPHA with BY) come out in the container's iteration order, which in
Redis is its hash table's (seeded at random per process): such ties have
no order to match.

Comparison follows sortCompare: numeric ties are broken by comparing the
elements bytewise, so the order is total and matches Redis; ALPHA compares
bytes (Redis uses strcoll, which is bytewise in the C locale it runs in by
default), and with BY an element whose key is missing sorts first. Python's
sort is stable, like the glibc merge sort behind Redis's qsort, so elements
whose ALPHA keys are equal keep their list order.
"""


from . import command, lookup
from ..resp import SYNTAX_ERR, NOT_INT_ERR, WRONGTYPE_ERR, integer
from ..util import string2ll
from ..notify import NotifyFlags
from ..values import HASH, QuickList
from ..zset import ZSet
from .zsets import _FLOAT_RE, store_value

L = NotifyFlags.LIST
G = NotifyFlags.GENERIC
_SPACE = b' \t\n\v\f\r'


def lookup_by_pattern(db, pattern, subst):
    """lookupKeyByPattern: the string (or hash field) a pattern points to
    for one element, or None."""
    if pattern == b'#':
        return subst
    star = pattern.find(b'*')
    if star < 0:
        return None
    arrow = pattern.find(b'->', star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2:]
        key = pattern[:star] + subst + pattern[star + 1:arrow]
    else:
        key = pattern[:star] + subst + pattern[star + 1:]
    v = db.lookup(key)
    if v is None:
        return None
    if field is not None:
        if v.__class__ not in HASH:
            return None
        return v.get(field)
    if v.__class__ is not bytes and v.__class__ is not bytearray:
        return None
    return v


def _score(v):
    """strtod over the whole string (leading spaces allowed, empty is 0);
    None when the value is not a number or is NaN/out of range."""
    # Redis hands the value to strtod as a C string: it ends at a NUL byte.
    v = bytes(v).split(b'\0', 1)[0]
    if not v:
        return 0.0
    t = v.lstrip(_SPACE)
    if not t or not _FLOAT_RE.fullmatch(t):
        return None
    try:
        d = float.fromhex(t.decode()) if b'x' in t.lower() else float(t)
    except (ValueError, OverflowError):
        return None
    if d != d or (d in (float('inf'), float('-inf')) and b'inf' not in t.lower()):
        return None
    return d


def _full_key_access(c, argv, readonly):
    """BY and GET patterns name keys no key spec finds: a user may use
    them only with access to every key (ACLUserCheckCmdWithUnrestrictedKeyAccess)."""
    user = c.user
    if not user.restricted:
        return True
    cmd = lookup(b'sort_ro' if readonly else b'sort')
    return user.unrestricted_key_access(cmd, argv)


def sort_generic(c, argv, readonly):
    desc = alpha = dontsort = False
    limit_start, limit_count = 0, -1
    sortby = storekey = None
    getops = []
    n = len(argv)
    j = 2
    while j < n:
        o = argv[j].lower()
        left = n - j - 1
        if o == b'asc':
            desc = False
        elif o == b'desc':
            desc = True
        elif o == b'alpha':
            alpha = True
        elif o == b'limit' and left >= 2:
            limit_start = string2ll(argv[j + 1])
            limit_count = string2ll(argv[j + 2]) if limit_start is not None else None
            if limit_start is None or limit_count is None:
                return NOT_INT_ERR
            j += 2
        elif not readonly and o == b'store' and left >= 1:
            storekey = argv[j + 1]
            j += 1
        elif o == b'by' and left >= 1:
            sortby = argv[j + 1]
            if b'*' not in sortby:
                dontsort = True
            elif not _full_key_access(c, argv, readonly):
                return b'-ERR BY option of SORT denied due to insufficient ACL permissions.\r\n'
            j += 1
        elif o == b'get' and left >= 1:
            if not _full_key_access(c, argv, readonly):
                return (b'-ERR GET option of SORT denied due to insufficient ACL '
                        b'permissions.\r\n')
            getops.append(argv[j + 1])
            j += 1
        else:
            return SYNTAX_ERR
        j += 1
    db = c.db
    value = db.lookup(argv[1])
    if value is None:
        value = QuickList()
    # Sets and hashes may be subclasses (their hashtable encodings).
    if isinstance(value, set):
        cls = set
    elif value.__class__ is QuickList:
        cls = QuickList
    elif value.__class__ is ZSet:
        cls = ZSet
    else:
        return WRONGTYPE_ERR
    if dontsort and cls is set and storekey is not None:
        dontsort = False
        alpha = True
        sortby = None
    if cls is ZSet:
        # SORT converts a listpack sorted set to a skiplist for good, as
        # Redis does (visible in OBJECT ENCODING).
        value.big = True
    vectorlen = len(value)
    start = 0 if limit_start < 0 else limit_start
    end = vectorlen - 1 if limit_count < 0 else start + limit_count - 1
    if start >= vectorlen:
        start = vectorlen - 1
        end = vectorlen - 2
    if end >= vectorlen:
        end = vectorlen - 1

    if dontsort and cls is not set:
        # Native order (reversed with DESC), only the LIMIT range.
        if end >= start:
            if cls is QuickList:
                items = list(value)
            else:
                items = [m for _, m in value.iter_tuples()]
            if desc:
                items.reverse()
            vector = items[start:end + 1]
        else:
            vector = []
        end -= start
        start = 0
    else:
        if cls is ZSet:
            vector = list(value.dict)
        else:
            vector = list(value)
        if not dontsort:
            err = _sort(db, vector, sortby, alpha, desc, storekey is not None)
            if err is not None:
                return err

    outputlen = (len(getops) or 1) * max(end - start + 1, 0)
    selected = vector[start:end + 1] if end >= start else []
    if storekey is None:
        null = b'$-1\r\n' if c.resp == 2 else b'_\r\n'
        out = [b'*%d\r\n' % outputlen]
        for ele in selected:
            if not getops:
                out.append(b'$%d\r\n%s\r\n' % (len(ele), ele))
            for pat in getops:
                v = lookup_by_pattern(db, pat, ele)
                out.append(null if v is None else b'$%d\r\n%s\r\n' % (len(v), v))
        return b''.join(out)
    result = QuickList(c.server.config.list_max_listpack_size)
    for ele in selected:
        if not getops:
            result.append(ele)
        for pat in getops:
            v = lookup_by_pattern(db, pat, ele)
            result.append(b'' if v is None else bytes(v))
    server = c.server
    if outputlen:
        store_value(db, storekey, result)
        if server.notify_flags:
            server.notify(L, b'sortstore', storekey, db.id)
        server.dirty += outputlen
    elif db.delete(storekey):
        if server.notify_flags:
            server.notify(G, b'del', storekey, db.id)
        server.dirty += 1
    return integer(outputlen)


def _cstr(v):
    """The string strcoll sees: Redis passes the buffer as a C string."""
    return bytes(v).split(b'\0', 1)[0]


def _sort(db, vector, sortby, alpha, desc, store=False):
    """Sort ``vector`` in place as sortCompare orders it; an error reply if
    a score cannot be parsed. Without STORE, ALPHA compares with strcoll
    (C strings, so up to the first NUL); with STORE, byte by byte."""
    if alpha:
        if sortby is None:
            if store:
                vector.sort(reverse=desc)
            else:
                vector.sort(key=_cstr, reverse=desc)
            return None
        keyed = []
        for ele in vector:
            v = lookup_by_pattern(db, sortby, ele)
            if v is None:
                keyed.append((False, b'', ele))
            else:
                keyed.append((True, bytes(v) if store else _cstr(v), ele))
        # Missing BY values sort first; equal keys keep their order (also
        # descending: Python's reverse sort is stable, like the negated
        # comparison under Redis's merge sort).
        order = sorted(range(len(keyed)), key=lambda i: keyed[i][:2], reverse=desc)
        vector[:] = [keyed[i][2] for i in order]
        return None
    scored = []
    error = False
    for ele in vector:
        if sortby is not None:
            v = lookup_by_pattern(db, sortby, ele)
            if v is None:
                scored.append((0.0, ele))
                continue
        else:
            v = ele
        s = _score(v)
        if s is None:
            error = True
            s = 0.0
        scored.append((s, ele))
    if error:
        return b"-ERR One or more scores can't be converted into double\r\n"
    scored.sort(reverse=desc)
    vector[:] = [e for _, e in scored]
    return None


@command('sort')
def sort(c, argv):
    return sort_generic(c, argv, False)


@command('sort_ro')
def sort_ro(c, argv):
    return sort_generic(c, argv, True)
