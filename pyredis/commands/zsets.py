"""Sorted set commands (t_zset.c).

The value is a pyredis.zset.ZSet (ordered by (score, member), O(log N) rank
and position lookups). This module follows t_zset.c's command code path by
path: the order in which arguments are validated (which decides which error
a client sees first), the reply shapes (RESP2 flat member/score arrays, RESP3
nested [member, double] pairs), the keyspace events and the deletion of a
sorted set that becomes empty.

Two Redis encodings leak into replies and are reproduced:

* Redis stores a small sorted set as a listpack (``ZSet.big`` False) and
  converts it to a skiplist once it has more than zset-max-listpack-entries
  members or a member longer than zset-max-listpack-value (never back).
  A listpack stores scores as strings, in which "-0" becomes the integer 0,
  so a small set never holds -0.0 while a large one does.
* Lexicographic ranges on a listpack are found by a linear scan, on a
  skiplist by a descent that assumes members sorted bytewise. Both agree
  when all the scores are equal (the documented contract); when they are
  not, small sets here scan exactly as the listpack code does and large ones
  bisect by member, as the skiplist descent does.

Scores are parsed as Redis parses them (getDoubleFromObject for scores and
weights: strict, overflow rejected; zslParseRange for range bounds: strtod,
leading spaces accepted, "(" for exclusive) and printed with util's %.17g.
"""

import math
import random
import re

from . import command
from .. import resp
from ..resp import ZERO, ONE, integer, SYNTAX_ERR, NOT_INT_ERR, WRONGTYPE_ERR, NULL_BULK, NULL3, \
    EMPTY_ARRAY, NOT_FLOAT_ERR
from ..util import string2ll, format_double, glob_match, LLONG_MAX
from ..notify import NotifyFlags
from ..zset import ZSet
from ..values import ZSET
from . import keys as _keys
from ..resp import COUNT_RANGE_ERR, LIMIT_NEGATIVE_ERR, POSITIVE_ERR, RANGE_ERR

Z = NotifyFlags.ZSET
G = NotifyFlags.GENERIC
INF = math.inf
NINF = -math.inf

def _encoding(server, z):
    if z.big is None:
        # Built outside this module (RDB/AOF loading): decide as Redis does
        # when it loads a sorted set.
        z.big = False
        cfg = server.config
        if len(z) > cfg.zset_max_listpack_entries or \
                any(len(m) > cfg.zset_max_listpack_value for m in z.dict):
            z.big = True
    return b'skiplist' if z.big else b'listpack'


VALUE_TYPES = {ZSet: (b'zset', _encoding)}

NAN_ERR = b'-ERR resulting score is not a number (NaN)\r\n'
MINMAX_FLOAT_ERR = b'-ERR min or max is not a float\r\n'
MINMAX_LEX_ERR = b'-ERR min or max not valid string range item\r\n'

# -- number parsing -------------------------------------------------------------

_FLOAT_RE = re.compile(
    rb'[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan|'
    rb'0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)',
    re.IGNORECASE)
_NONZERO_MANTISSA = re.compile(rb'[1-9]')
_SPACE = b' \t\n\v\f\r'
_SPACE_SET = frozenset(_SPACE[i:i + 1] for i in range(len(_SPACE)))


def _strtod(t):
    """C strtod over the whole of t (no surrounding text); None if t is not
    a number. Returns (value, erange)."""
    try:
        # Python's float() accepts a superset of strtod's decimal syntax
        # (surrounding spaces, "_" separators) and no hex floats: reject
        # the former, parse the latter separately.
        v = float(t)
    except ValueError:
        if not _FLOAT_RE.fullmatch(t):
            return None
        try:
            v = float.fromhex(t.decode())
        except (ValueError, OverflowError):
            return (INF if t[:1] != b'-' else NINF), True
        return v, False
    if b'_' in t or t[:1] in _SPACE_SET or t[-1:] in _SPACE_SET:
        return None
    if v in (INF, NINF):
        return v, b'inf' not in t.lower()
    if v == 0.0:
        mant = re.split(rb'[eE]', t)[0]
        return v, _NONZERO_MANTISSA.search(mant) is not None
    return v, False


def get_double(s):
    """getDoubleFromObject: the score/weight/increment rules. None on error."""
    if s.isdigit() and len(s) < 300:
        # A plain decimal integer (the usual score): float() rounds it as
        # strtod does, and below 10**300 it cannot overflow.
        return float(s)
    if not s or len(s) > 5120:
        return None
    r = _strtod(s)
    if r is None:
        return None
    v, erange = r
    if erange or v != v:
        return None
    return v


def _parse_bound(s):
    """One zslParseRange bound: (value, exclusive) or None."""
    ex = s[:1] == b'('
    if ex:
        s = s[1:]
    if not s:
        return 0.0, ex
    t = s.lstrip(_SPACE)
    if not t:
        return None
    r = _strtod(t)
    if r is None or r[0] != r[0]:
        return None
    return r[0], ex


def parse_score_range(a, b):
    lo = _parse_bound(a)
    hi = _parse_bound(b)
    if lo is None or hi is None:
        return None
    return lo[0], lo[1], hi[0], hi[1]


# A lexicographic bound: (kind, value, exclusive); kind -1 is "-", 1 is "+".
def _parse_lex_item(s):
    c = s[:1]
    if c == b'+':
        return None if len(s) != 1 else (1, b'', True)
    if c == b'-':
        return None if len(s) != 1 else (-1, b'', True)
    if c == b'(':
        return 0, s[1:], True
    if c == b'[':
        return 0, s[1:], False
    return None


def parse_lex_range(a, b):
    lo = _parse_lex_item(a)
    hi = _parse_lex_item(b)
    if lo is None or hi is None:
        return None
    return lo, hi


def _cmplex(a, b):
    """sdscmplex between two bounds (kinds make "-" and "+" the extremes)."""
    if a[0] == b[0] and a[0] != 0:
        return 0
    if a[0] == -1 or b[0] == 1:
        return -1
    if a[0] == 1 or b[0] == -1:
        return 1
    return (a[1] > b[1]) - (a[1] < b[1])


def _gte_min(m, lo):
    kind = lo[0]
    if kind:
        return kind < 0
    return m > lo[1] if lo[2] else m >= lo[1]


def _lte_max(m, hi):
    kind = hi[0]
    if kind:
        return kind > 0
    return m < hi[1] if hi[2] else m <= hi[1]


def _lex_empty(lo, hi):
    cmp = _cmplex(lo, hi)
    return cmp > 0 or (cmp == 0 and (lo[2] or hi[2]))


# -- value access ------------------------------------------------------------------

def lookup_zset(c, key, write=False):
    """The typed lookup, with the encoding of a sorted set built outside
    this module (loaded) decided: (zset or None, error reply or None)."""
    v, err = c.db.lookup_typed(key, ZSET, write)
    if v is not None and v.big is None:
        _encoding(c.server, v)
    return v, err


def _modified(c, key):
    db = c.db
    if db.watched:
        c.server.signal_modified(db, key)


def _notify(c, cls, event, key):
    server = c.server
    if server.notify_flags:
        server.notify(cls, event, key, c.db.id)


def _delete_if_empty(c, key, z):
    """Delete an emptied sorted set; True if it was deleted."""
    if len(z):
        return False
    c.db.delete(key)
    return True


def store_value(db, key, value):
    """setKey: overwrite, or add (waking clients blocked on the key) when
    the key does not exist. Returns True if it added the key."""
    if db.lookup_write(key) is None:
        db.add(key, value)
        return True
    db.set(key, value)
    return False


def _store_zset(c, db, key, z):
    """store_value for the *STORE commands; a client that creates a key
    others are blocked on waits for them to be served (hold_until_served)
    before its next pipelined request, as after ZADD."""
    if store_value(db, key, z) and db.blocking_keys and key in db.blocking_keys:
        c.server.hold_until_served(c)


store_zset = _store_zset    # for the GEO *STORE commands


def _null(c):
    return NULL_BULK if c.resp == 2 else NULL3


def _double(d, r):
    if r == 3:
        return b',%s\r\n' % format_double(d)
    s = format_double(d)
    return b'$%d\r\n%s\r\n' % (len(s), s)


def _fits_listpack(server, n, maxlen):
    cfg = server.config
    return n <= cfg.zset_max_listpack_entries and maxlen <= cfg.zset_max_listpack_value


def new_zset_from_tuples(server, tuples):
    """A sorted set from (score, member) tuples already in order, encoded as
    Redis would encode the result of a STORE command."""
    maxlen = max((len(m) for _, m in tuples), default=0)
    big = not _fits_listpack(server, len(tuples), maxlen)
    if not big:
        tuples = [(0.0, m) if s == 0.0 else (s, m) for s, m in tuples]
    return ZSet.from_sorted(tuples, big)


def zset_add(server, z, member, score):
    """Add a new member to z (known absent), converting the encoding first
    when Redis would (zsetAdd)."""
    if not z.big:
        cfg = server.config
        if len(z) + 1 > cfg.zset_max_listpack_entries or \
                len(member) > cfg.zset_max_listpack_value:
            z.big = True
        elif score == 0.0:
            score = 0.0
    z.add(member, score)


def _set_score(z, member, score):
    if not z.big and score == 0.0:
        score = 0.0
    z.add(member, score)


# -- reply helpers -------------------------------------------------------------------

def reply_tuples(c, tuples, withscores):
    """An array of members, or of member/score (flat in RESP2, pairs in
    RESP3), from (score, member) tuples."""
    r = c.resp
    out = []
    if withscores:
        fmt = format_double
        if r == 3:
            for s, m in tuples:
                out.append(b'*2\r\n$%d\r\n%s\r\n,%s\r\n' % (len(m), m, fmt(s)))
            return b'*%d\r\n' % len(out) + b''.join(out)
        for s, m in tuples:
            f = fmt(s)
            out.append(b'$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(m), m, len(f), f))
        return b'*%d\r\n' % (2 * len(out)) + b''.join(out)
    for s, m in tuples:
        out.append(b'$%d\r\n%s\r\n' % (len(m), m))
    return b'*%d\r\n' % len(out) + b''.join(out)


# -- ZADD / ZINCRBY ---------------------------------------------------------------------

def zadd_generic(c, argv, incr):
    key = argv[1]
    nx = xx = gt = lt = ch = False
    i = 2
    n = len(argv)
    while i < n:
        o = argv[i].lower()
        if o == b'nx':
            nx = True
        elif o == b'xx':
            xx = True
        elif o == b'ch':
            ch = True
        elif o == b'incr':
            incr = True
        elif o == b'gt':
            gt = True
        elif o == b'lt':
            lt = True
        else:
            break
        i += 1
    elements = n - i
    if elements % 2 or not elements:
        return SYNTAX_ERR
    elements //= 2
    if nx and xx:
        return b'-ERR XX and NX options at the same time are not compatible\r\n'
    if (gt and nx) or (lt and nx) or (gt and lt):
        return b'-ERR GT, LT, and/or NX options at the same time are not compatible\r\n'
    if incr and elements > 1:
        return b'-ERR INCR option supports a single increment-element pair\r\n'
    scores = []
    for j in range(i, n, 2):
        s = get_double(argv[j])
        if s is None:
            return NOT_FLOAT_ERR
        scores.append(s)
    db = c.db
    server = c.server
    z = db.lookup_write(key)
    created = False
    if z is None:
        if xx:
            return _null(c) if incr else ZERO
        z = ZSet()
        z.big = (server.config.zset_max_listpack_entries == 0 or
                 server.config.zset_max_listpack_value < len(argv[i + 1]))
        db.add(key, z)
        if db.blocking_keys and key in db.blocking_keys:
            # Clients blocked on the key (BZPOPMIN...) are served before
            # this client's next pipelined request, as for LPUSH.
            server.hold_until_served(c)
        created = True
    elif z.__class__ is not ZSet:
        return WRONGTYPE_ERR
    elif z.big is None:
        _encoding(server, z)
    added = updated = processed = 0
    score = 0.0
    d = z.dict
    err = None
    for j in range(elements):
        score = scores[j]
        member = argv[i + 1 + 2 * j]
        cur = d.get(member)
        if cur is not None:
            if nx:
                continue
            if incr:
                score += cur
                if score != score:
                    err = NAN_ERR
                    break
            if (lt and score >= cur) or (gt and score <= cur):
                continue
            if score != cur:
                _set_score(z, member, score)
                updated += 1
            processed += 1
        elif not xx:
            zset_add(server, z, member, score)
            added += 1
            processed += 1
    if added or updated:
        server.dirty += added + updated
        if not created:
            _modified(c, key)
        _notify(c, Z, b'zincr' if incr else b'zadd', key)
    if err is not None:
        return err
    if incr:
        return _double(score, c.resp) if processed else _null(c)
    return integer(added + updated if ch else added)


@command('zadd')
def zadd(c, argv):
    # ZADD key score member on an existing sorted set without a TTL: the
    # common case, without the option parsing (an option name never parses
    # as a score, so anything unusual takes the general path). A plain
    # decimal integer score is parsed here as get_double parses it; without
    # a TTL, db.lookup_write does no more than the LRU update. (Early
    # returns keep the jumps short, which lets CPython specialize the
    # comparisons.)
    if len(argv) != 4:
        return zadd_generic(c, argv, False)
    arg = argv[2]
    if arg.isdigit() and len(arg) < 300:
        score = float(arg)
    else:
        score = get_double(arg)
        if score is None:
            return zadd_generic(c, argv, False)
    key = argv[1]
    db = c.db
    z = db.data.get(key)
    if z.__class__ is not ZSet or z.big is None or (db.expires and key in db.expires):
        return zadd_generic(c, argv, False)
    db.lru[key] = db.lruclock
    member = argv[3]
    cur = z.dict.get(member)
    if cur is not None and cur == score:
        return ZERO
    server = c.server
    if cur is None:
        zset_add(server, z, member, score)
    else:
        _set_score(z, member, score)
    server.dirty += 1
    if db.watched:
        server.signal_modified(db, key)
    if server.notify_flags:
        server.notify(Z, b'zadd', key, db.id)
    return ZERO if cur is not None else ONE


@command('zincrby')
def zincrby(c, argv):
    return zadd_generic(c, argv, True)


# -- simple reads ------------------------------------------------------------------------

@command('zcard')
def zcard(c, argv):
    z, err = lookup_zset(c, argv[1])
    if err:
        return err
    return integer(len(z)) if z is not None else ZERO


@command('zscore')
def zscore(c, argv):
    z, err = lookup_zset(c, argv[1])
    if err:
        return err
    if z is None:
        return _null(c)
    s = z.dict.get(argv[2])
    if s is None:
        return _null(c)
    return _double(s, c.resp)


@command('zmscore')
def zmscore(c, argv):
    z, err = lookup_zset(c, argv[1])
    if err:
        return err
    out = [b'*%d\r\n' % (len(argv) - 2)]
    null = _null(c)
    d = z.dict if z is not None else {}
    r = c.resp
    for m in argv[2:]:
        s = d.get(m)
        out.append(null if s is None else _double(s, r))
    return b''.join(out)


def _zrank(c, argv, rev):
    z, err = lookup_zset(c, argv[1])
    if err:
        return err
    if z is None:
        return _null(c)
    rank = z.rank(argv[2])
    if rank is None:
        return _null(c)
    return integer(len(z) - 1 - rank if rev else rank)


@command('zrank')
def zrank(c, argv):
    return _zrank(c, argv, False)


@command('zrevrank')
def zrevrank(c, argv):
    return _zrank(c, argv, True)


# -- ranges ------------------------------------------------------------------------------

def score_ranks(z, mn, mnex, mx, mxex):
    """[start, end) ranks of the elements with a score inside the range."""
    n = len(z)
    if mn > mx or (mn == mx and (mnex or mxex)) or not n:
        return 0, 0
    if mnex:
        start = n if mn == INF else z.bisect((math.nextafter(mn, INF), b''))
    else:
        start = z.bisect((mn, b''))
    if mxex:
        end = z.bisect((mx, b''))
    else:
        end = n if mx == INF else z.bisect((math.nextafter(mx, INF), b''))
    if end < start:
        end = start
    return start, end


def lex_ranks(z, lo, hi):
    """[start, end) ranks of the lexicographic range, bisecting by member
    (the skiplist's view: members sorted when scores are equal)."""
    n = len(z)
    if not n or _lex_empty(lo, hi):
        return 0, 0
    first, last = z.first()[1], z.last()[1]
    if not _gte_min(last, lo) or not _lte_max(first, hi):
        return 0, 0
    if lo[0] < 0:
        start = 0
    elif lo[0] > 0:
        return 0, 0
    else:
        start = z.bisect_member(lo[1], right=lo[2])
    if hi[0] > 0:
        end = n
    elif hi[0] < 0:
        return 0, 0
    else:
        end = z.bisect_member(hi[1], right=not hi[2])
    if end < start:
        end = start
    return start, end


def lex_scan(z, lo, hi, rev, offset, limit):
    """The listpack's linear lexicographic range walk (zzlFirstInLexRange /
    zzlLastInLexRange then the emission loop), as (score, member) tuples."""
    items = list(z.iter_tuples())
    if not items or _lex_empty(lo, hi):
        return []
    if not _gte_min(items[-1][1], lo) or not _lte_max(items[0][1], hi):
        return []
    out = []
    if not rev:
        i = 0
        n = len(items)
        while i < n and not _gte_min(items[i][1], lo):
            i += 1
        if i == n or not _lte_max(items[i][1], hi):
            return []
        if offset:
            if offset < 0:
                return []
            i += offset
        while i < n and limit:
            limit -= 1
            if not _lte_max(items[i][1], hi):
                break
            out.append(items[i])
            i += 1
    else:
        i = len(items) - 1
        while i >= 0 and not _lte_max(items[i][1], hi):
            i -= 1
        if i < 0 or not _gte_min(items[i][1], lo):
            return []
        if offset:
            if offset < 0:
                return []
            i -= offset
        while i >= 0 and limit:
            limit -= 1
            if not _gte_min(items[i][1], lo):
                break
            out.append(items[i])
            i -= 1
    return out


def _slice(z, start, end, rev, offset, limit):
    """Tuples for ranks [start, end) after LIMIT offset/count, in order."""
    if start >= end:
        return []
    if offset:
        if offset < 0:
            return []
        if rev:
            end -= offset
        else:
            start += offset
        if start >= end:
            return []
    if limit >= 0 and end - start > limit:
        if rev:
            start = end - limit
        else:
            end = start + limit
    if start >= end:
        return []
    if rev:
        return list(z.iter_range_rev(start, end - 1))
    return list(z.iter_range(start, end - 1))


def rank_tuples(z, start, end, rev):
    n = len(z)
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return []
    if end >= n:
        end = n - 1
    if rev:
        return list(z.iter_range_rev(n - 1 - end, n - 1 - start))
    return list(z.iter_range(start, end))


RANK, SCORE, LEX = 0, 1, 2


def zrange_generic(c, argv, argc_start, store, rangetype, rev):
    """zrangeGenericCommand. rangetype/rev None mean "not fixed by the
    command name" (ZRANGE and ZRANGESTORE accept BYSCORE/BYLEX/REV)."""
    key = argv[argc_start]
    minidx, maxidx = argc_start + 1, argc_start + 2
    withscores = False
    offset, limit = 0, -1
    n = len(argv)
    j = argc_start + 3
    while j < n:
        o = argv[j].lower()
        left = n - j - 1
        if not store and o == b'withscores':
            withscores = True
        elif o == b'limit' and left >= 2:
            offset = string2ll(argv[j + 1])
            limit = string2ll(argv[j + 2]) if offset is not None else None
            if offset is None or limit is None:
                return NOT_INT_ERR
            j += 2
        elif rev is None and o == b'rev':
            rev = True
        elif rangetype is None and o == b'bylex':
            rangetype = LEX
        elif rangetype is None and o == b'byscore':
            rangetype = SCORE
        else:
            return SYNTAX_ERR
        j += 1
    rev = bool(rev)
    if rangetype is None:
        rangetype = RANK
    if limit != -1 and rangetype == RANK:
        return (b'-ERR syntax error, LIMIT is only supported in combination with either '
                b'BYSCORE or BYLEX\r\n')
    if withscores and rangetype == LEX:
        return b'-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n'
    if rev and rangetype != RANK:
        minidx, maxidx = maxidx, minidx
    if rangetype == RANK:
        start = string2ll(argv[minidx])
        end = string2ll(argv[maxidx]) if start is not None else None
        if start is None or end is None:
            return NOT_INT_ERR
    elif rangetype == SCORE:
        srange = parse_score_range(argv[minidx], argv[maxidx])
        if srange is None:
            return MINMAX_FLOAT_ERR
    else:
        lrange = parse_lex_range(argv[minidx], argv[maxidx])
        if lrange is None:
            return MINMAX_LEX_ERR
    z, err = lookup_zset(c, key)
    if err:
        return err
    if z is None:
        tuples = []
    elif rangetype == RANK:
        tuples = rank_tuples(z, start, end, rev)
    elif rangetype == SCORE:
        if offset > 0 and offset >= len(z):
            tuples = []
        else:
            a, b = score_ranks(z, *srange)
            tuples = _slice(z, a, b, rev, offset, limit)
    else:
        if offset > 0 and offset >= len(z):
            tuples = []
        elif not z.big:
            tuples = lex_scan(z, lrange[0], lrange[1], rev, offset, limit)
        else:
            a, b = lex_ranks(z, *lrange)
            tuples = _slice(z, a, b, rev, offset, limit)
    if store:
        return _store_range(c, argv[1], tuples, z is None)
    return reply_tuples(c, tuples, withscores)


def _store_range(c, dst, tuples, missing_src):
    """zrangeResultFinalizeStore."""
    db = c.db
    server = c.server
    if tuples:
        tuples = sorted(tuples)
        _store_zset(c, db, dst, new_zset_from_tuples(server, tuples))
        server.dirty += 1
        _notify(c, Z, b'zrangestore', dst)
        return integer(len(tuples))
    if db.lookup_write(dst) is not None and db.delete(dst):
        server.dirty += 1
        _notify(c, G, b'del', dst)
    return ZERO


@command('zrange')
def zrange(c, argv):
    return zrange_generic(c, argv, 1, False, None, None)


@command('zrangestore')
def zrangestore(c, argv):
    return zrange_generic(c, argv, 2, True, None, None)


@command('zrevrange')
def zrevrange(c, argv):
    return zrange_generic(c, argv, 1, False, RANK, True)


@command('zrangebyscore')
def zrangebyscore(c, argv):
    return zrange_generic(c, argv, 1, False, SCORE, False)


@command('zrevrangebyscore')
def zrevrangebyscore(c, argv):
    return zrange_generic(c, argv, 1, False, SCORE, True)


@command('zrangebylex')
def zrangebylex(c, argv):
    return zrange_generic(c, argv, 1, False, LEX, False)


@command('zrevrangebylex')
def zrevrangebylex(c, argv):
    return zrange_generic(c, argv, 1, False, LEX, True)


@command('zcount')
def zcount(c, argv):
    srange = parse_score_range(argv[2], argv[3])
    if srange is None:
        return MINMAX_FLOAT_ERR
    z, err = lookup_zset(c, argv[1])
    if err:
        return err
    if z is None:
        return ZERO
    a, b = score_ranks(z, *srange)
    return integer(b - a)


@command('zlexcount')
def zlexcount(c, argv):
    lrange = parse_lex_range(argv[2], argv[3])
    if lrange is None:
        return MINMAX_LEX_ERR
    z, err = lookup_zset(c, argv[1])
    if err:
        return err
    if z is None:
        return ZERO
    if not z.big:
        return integer(len(lex_scan(z, lrange[0], lrange[1], False, 0, -1)))
    a, b = lex_ranks(z, *lrange)
    return integer(b - a)


# -- removal -----------------------------------------------------------------------------

@command('zrem')
def zrem(c, argv):
    key = argv[1]
    z, err = lookup_zset(c, key, True)
    if err:
        return err
    if z is None:
        return ZERO
    deleted = 0
    removed_key = False
    for m in argv[2:]:
        if z.remove(m):
            deleted += 1
            if not len(z):
                c.db.delete(key)
                removed_key = True
                break
    if deleted:
        _notify(c, Z, b'zrem', key)
        if removed_key:
            _notify(c, G, b'del', key)
        else:
            _modified(c, key)
        c.server.dirty += deleted
    return integer(deleted)


def zremrange_generic(c, argv, rangetype):
    key = argv[1]
    if rangetype == RANK:
        start = string2ll(argv[2])
        end = string2ll(argv[3]) if start is not None else None
        if start is None or end is None:
            return NOT_INT_ERR
    elif rangetype == SCORE:
        srange = parse_score_range(argv[2], argv[3])
        if srange is None:
            return MINMAX_FLOAT_ERR
    else:
        lrange = parse_lex_range(argv[2], argv[3])
        if lrange is None:
            return MINMAX_LEX_ERR
    z, err = lookup_zset(c, key, True)
    if err:
        return err
    if z is None:
        return ZERO
    if rangetype == RANK:
        tuples = rank_tuples(z, start, end, False)
    elif rangetype == SCORE:
        a, b = score_ranks(z, *srange)
        tuples = list(z.iter_range(a, b - 1))
    elif not z.big:
        tuples = lex_scan(z, lrange[0], lrange[1], False, 0, -1)
    else:
        a, b = lex_ranks(z, *lrange)
        tuples = list(z.iter_range(a, b - 1))
    for _, m in tuples:
        z.remove(m)
    deleted = len(tuples)
    if deleted:
        removed_key = _delete_if_empty(c, key, z)
        if not removed_key:
            _modified(c, key)
        _notify(c, Z, (b'zremrangebyrank', b'zremrangebyscore', b'zremrangebylex')[rangetype],
                key)
        if removed_key:
            _notify(c, G, b'del', key)
        c.server.dirty += deleted
    return integer(deleted)


@command('zremrangebyrank')
def zremrangebyrank(c, argv):
    return zremrange_generic(c, argv, RANK)


@command('zremrangebyscore')
def zremrangebyscore(c, argv):
    return zremrange_generic(c, argv, SCORE)


@command('zremrangebylex')
def zremrangebylex(c, argv):
    return zremrange_generic(c, argv, LEX)


# -- pops ---------------------------------------------------------------------------------

MIN, MAX = 0, 1


def zpop(c, keys, where, emitkey, count, nested, nil_when_empty):
    """genericZpopCommand: pop from the first non-empty sorted set among
    ``keys``. count -1 means "no COUNT given". Returns (reply, popped key or
    None). Used by ZPOPMIN/ZPOPMAX/ZMPOP and their blocking variants."""
    z = None
    key = None
    db = c.db
    for key in keys:
        v = db.lookup_write(key)
        if v is None:
            continue
        if v.__class__ is not ZSet:
            return WRONGTYPE_ERR, None
        z = v
        break
    if z is None:
        if nil_when_empty:
            return (resp.NULL_ARRAY if c.resp == 2 else NULL3), None
        return EMPTY_ARRAY, None
    if count == 0:
        return EMPTY_ARRAY, None
    if count == -1:
        count = 1
    n = len(z)
    rangelen = count if count < n else n
    r = c.resp
    if where == MIN:
        tuples = list(z.iter_range(0, rangelen - 1))
    else:
        tuples = list(z.iter_range_rev(n - rangelen, n - 1))
    for _, m in tuples:
        z.remove(m)
    out = []
    if not nested and not emitkey:
        out.append(b'*%d\r\n' % (rangelen * 2))
    elif nested and not emitkey:
        out.append(b'*%d\r\n' % rangelen)
    elif not nested and emitkey:
        out.append(b'*%d\r\n$%d\r\n%s\r\n' % (rangelen * 2 + 1, len(key), key))
    else:
        out.append(b'*2\r\n$%d\r\n%s\r\n*%d\r\n' % (len(key), key, rangelen))
    for s, m in tuples:
        if nested:
            out.append(b'*2\r\n')
        out.append(b'$%d\r\n%s\r\n' % (len(m), m))
        out.append(_double(s, r))
    _notify(c, Z, b'zpopmin' if where == MIN else b'zpopmax', key)
    if not len(z):
        db.delete(key)
        _notify(c, G, b'del', key)
    else:
        _modified(c, key)
    c.server.dirty += rangelen
    return b''.join(out), key


def _zpop_minmax(c, argv, where):
    if len(argv) > 3:
        return SYNTAX_ERR
    count = -1
    if len(argv) == 3:
        count = string2ll(argv[2])
        if count is None or count < 0:
            return POSITIVE_ERR
    nested = c.resp > 2 and count != -1
    return zpop(c, [argv[1]], where, False, count, nested, False)[0]


@command('zpopmin')
def zpopmin(c, argv):
    return _zpop_minmax(c, argv, MIN)


@command('zpopmax')
def zpopmax(c, argv):
    return _zpop_minmax(c, argv, MAX)


def parse_zmpop(argv, numkeys_idx):
    """Arguments of ZMPOP/BZMPOP: (keys, where, count) or an error reply."""
    return _keys.parse_multi_pop(argv, numkeys_idx, {b'min': MIN, b'max': MAX})


@command('zmpop')
def zmpop(c, argv):
    parsed = parse_zmpop(argv, 1)
    if parsed.__class__ is bytes:
        return parsed
    keys, where, count = parsed
    db = c.db
    size = 0
    for k in keys:
        v = db.lookup_write(k)
        if v is not None:
            size = len(v) if v.__class__ is ZSet else 0
            break
    reply, key = zpop(c, keys, where, True, count, True, True)
    if key is not None:
        # Propagated with the number of members actually popped.
        c.propagate_argv = [[b'ZPOPMAX' if where == MAX else b'ZPOPMIN', key,
                             b'%d' % min(count, size)]]
    return reply


# -- ZRANDMEMBER ----------------------------------------------------------------------------

@command('zrandmember')
def zrandmember(c, argv):
    if len(argv) >= 3:
        count = string2ll(argv[2])
        if count is None:
            return NOT_INT_ERR
        if count < -LLONG_MAX:
            return COUNT_RANGE_ERR
        withscores = False
        if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b'withscores'):
            return SYNTAX_ERR
        if len(argv) == 4:
            withscores = True
            if count < -LLONG_MAX // 2 or count > LLONG_MAX // 2:
                return RANGE_ERR
        return _zrandmember_count(c, argv[1], count, withscores)
    z, err = lookup_zset(c, argv[1])
    if err:
        return err
    if z is None:
        return _null(c)
    m = z.at(random.randrange(len(z)))[1]
    return b'$%d\r\n%s\r\n' % (len(m), m)


def _zrandmember_count(c, key, count, withscores):
    z, err = lookup_zset(c, key)
    if err:
        return err
    if z is None or count == 0:
        return EMPTY_ARRAY
    n = len(z)
    if count < 0 or count == 1:
        k = -count if count < 0 else 1
        at = z.at
        rr = random.randrange
        tuples = [at(rr(n)) for _ in range(k)]
        return reply_tuples(c, tuples, withscores)
    if count >= n:
        # The whole set, highest rank first (as Redis replies).
        return reply_tuples(c, list(z.iter_range_rev(0, n - 1)), withscores)
    # Distinct members: sample ranks without replacement; the order of the
    # reply is random, as Redis's dict-based selection.
    ranks = random.sample(range(n), count)
    tuples = [z.at(i) for i in ranks]
    return reply_tuples(c, tuples, withscores)


# -- ZUNION / ZINTER / ZDIFF ------------------------------------------------------------------

UNION, INTER, DIFF = 0, 1, 2
_OP_NAMES = {UNION: b'zunion', INTER: b'zinter', DIFF: b'zdiff'}


def _source_items(v):
    """(member -> score) of an input: sets count with score 1.0."""
    if v is None:
        return {}
    if v.__class__ is ZSet:
        return v.dict
    return dict.fromkeys(v, 1.0)


def zset_op(c, argv, dst, numkeys_idx, op, card_only):
    """zunionInterDiffGenericCommand."""
    name = argv[0].lower()
    setnum = string2ll(argv[numkeys_idx])
    if setnum is None:
        return NOT_INT_ERR
    if setnum < 1:
        return resp.error(b"ERR at least 1 input key is needed for '%s' command" % name)
    if setnum > len(argv) - (numkeys_idx + 1):
        return SYNTAX_ERR
    db = c.db
    srcs = []
    j = numkeys_idx + 1
    for _ in range(setnum):
        v = db.lookup_write(argv[j]) if dst is not None else db.lookup(argv[j])
        if v is not None and v.__class__ is not ZSet and not isinstance(v, set):
            return WRONGTYPE_ERR
        srcs.append(v)
        j += 1
    weights = [1.0] * setnum
    aggregate = b'sum'
    withscores = False
    limit = 0
    n = len(argv)
    while j < n:
        remaining = n - j
        o = argv[j].lower()
        if op != DIFF and not card_only and remaining >= setnum + 1 and o == b'weights':
            j += 1
            for i in range(setnum):
                w = get_double(argv[j])
                if w is None:
                    return b'-ERR weight value is not a float\r\n'
                weights[i] = w
                j += 1
        elif op != DIFF and not card_only and remaining >= 2 and o == b'aggregate':
            a = argv[j + 1].lower()
            if a not in (b'sum', b'min', b'max'):
                return SYNTAX_ERR
            aggregate = a
            j += 2
        elif remaining >= 1 and dst is None and not card_only and o == b'withscores':
            withscores = True
            j += 1
        elif card_only and remaining >= 2 and o == b'limit':
            limit = string2ll(argv[j + 1])
            if limit is None or limit < 0:
                return LIMIT_NEGATIVE_ERR
            j += 2
        else:
            return SYNTAX_ERR
    inputs = [(_source_items(v), w, v) for v, w in zip(srcs, weights)]
    if op != DIFF:
        inputs.sort(key=lambda t: len(t[0]))
    result = {}
    cardinality = 0
    if op == INTER:
        first, w0, _ = inputs[0]
        if first:
            rest = inputs[1:]
            for m, s in first.items():
                score = w0 * s
                if score != score:
                    score = 0.0
                for items, w, _ in rest:
                    v = items.get(m)
                    if v is None:
                        break
                    score = _aggregate(score, v * w, aggregate)
                else:
                    if card_only:
                        cardinality += 1
                        if limit and cardinality >= limit:
                            break
                    else:
                        result[m] = score
    elif op == UNION:
        for items, w, _ in inputs:
            for m, s in items.items():
                score = w * s
                if score != score:
                    score = 0.0
                old = result.get(m)
                result[m] = score if old is None else _aggregate(old, score, aggregate)
    else:
        first = inputs[0][0]
        others = [t[0] for t in inputs[1:] if t[0]]
        for m, s in first.items():
            for items in others:
                if m in items:
                    break
            else:
                result[m] = s
    if card_only:
        return integer(cardinality)
    tuples = sorted((s, m) for m, s in result.items())
    if dst is not None:
        server = c.server
        if tuples:
            _store_zset(c, db, dst, new_zset_from_tuples(server, tuples))
            server.dirty += 1
            _notify(c, Z, name, dst)
            return integer(len(tuples))
        if db.lookup_write(dst) is not None and db.delete(dst):
            server.dirty += 1
            _notify(c, G, b'del', dst)
        return ZERO
    return reply_tuples(c, tuples, withscores)


def _aggregate(a, b, how):
    if how == b'sum':
        r = a + b
        return 0.0 if r != r else r
    if how == b'min':
        return b if b < a else a
    return b if b > a else a


@command('zunion')
def zunion(c, argv):
    return zset_op(c, argv, None, 1, UNION, False)


@command('zinter')
def zinter(c, argv):
    return zset_op(c, argv, None, 1, INTER, False)


@command('zdiff')
def zdiff(c, argv):
    return zset_op(c, argv, None, 1, DIFF, False)


@command('zintercard')
def zintercard(c, argv):
    return zset_op(c, argv, None, 1, INTER, True)


@command('zunionstore')
def zunionstore(c, argv):
    return zset_op(c, argv, argv[1], 2, UNION, False)


@command('zinterstore')
def zinterstore(c, argv):
    return zset_op(c, argv, argv[1], 2, INTER, False)


@command('zdiffstore')
def zdiffstore(c, argv):
    return zset_op(c, argv, argv[1], 2, DIFF, False)


# -- ZSCAN -----------------------------------------------------------------------------------

@command('zscan')
def zscan(c, argv):
    args = _keys.element_scan_args(c, argv, ZSET)
    if args.__class__ is bytes:
        return args
    z, cursor, pattern, count = args
    if z.big is None:
        _encoding(c.server, z)
    if not z.big:
        # A listpack is returned whole, in order, with cursor 0.
        members = [m for _, m in z.iter_tuples()]
        cursor = 0
    else:
        from ..scan import scan_container
        cursor, members = scan_container(z, 'scan_index', z.dict, count, cursor, len(z))
    d = z.dict
    out = []
    for m in members:
        if pattern is not None and not glob_match(pattern, m):
            continue
        s = d.get(m)
        if s is None:
            continue
        f = format_double(s)
        out.append(b'$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(m), m, len(f), f))
    return _keys.scan_reply(cursor, 2 * len(out), b''.join(out))
