"""List commands (t_list.c).

A list is a ``QuickList`` (pyredis/_listpack.c): Redis's quicklist, listpack
nodes of up to list-max-listpack-size (taken when the list is created, as
quicklistCreate takes it), with O(1) push and pop at both ends and indexing
that walks the nodes from the nearer end. It answers the deque methods
(append, popleft, insert, index, iteration...) plus trim() for LTRIM, rem()
for LREM and resp_range(), LRANGE's whole reply written from the listpacks
without a bytes object per element. Every write leaves the node boundaries
redis-server's quicklist.c leaves (insert() splits and merges as
_quicklistInsert does, deletes never re-pack), so DUMP and RDB bytes match. Redis 7.0 always reports lists as "quicklist"
(listpack-encoded lists arrived in 7.2), so OBJECT ENCODING does the same.

A list popped to empty is deleted, with the generic "del" event after the
list event, as Redis does. Writes to an existing list change the value in
place, so they invalidate WATCHes explicitly (signalModifiedKey); creating a
list goes through ``db.add``, which also wakes clients blocked on the key.

The pop helpers (``pop_reply``, ``mpop_reply``, ``move_element``) are shared
with the blocking variants in blocking.py, so BLPOP served later and LPOP
served now produce the same bytes, events and propagation.
"""

from itertools import islice

from . import command
from .keys import parse_multi_pop
from ..resp import OK, ZERO, integer, integer_reply, SYNTAX_ERR, NOT_INT_ERR, WRONGTYPE_ERR, \
    NULL_BULK, NULL3, NULL_ARRAY, NO_SUCH_KEY_ERR
from ..util import string2ll, LLONG_MIN, LLONG_MAX
from ..values import LIST, QuickList
from ..notify import NotifyFlags
from ..resp import ARITY_ERR, POSITIVE_ERR

L = NotifyFlags.LIST
G = NotifyFlags.GENERIC

VALUE_TYPES = {QuickList: (b'list', lambda server, v: b'quicklist')}


def new_list(server):
    """An empty list with the configured node size (createQuicklistObject)."""
    return QuickList(server.config.list_max_listpack_size)

INDEX_ERR = b'-ERR index out of range\r\n'


def _null(c):
    return NULL_BULK if c.resp == 2 else NULL3


def _null_array(c):
    return NULL_ARRAY if c.resp == 2 else NULL3


# "$<len>" headers for the common short elements, so that an array reply
# is built by C-level list operations instead of one format per element.
_LEN_HEADERS = [b'$%d' % n for n in range(1024)]

# A bulk string reply for each short length, "$<len>\r\n%b\r\n": filling
# in the element costs half of formatting its length as well.
BULK_FORMATS = [b'$%d\r\n%%b\r\n' % n for n in range(1024)]


def bulk_items(items, head=b''):
    """The elements of an array reply of bulk strings (a list of bytes),
    after ``head`` (the array header, if the caller has one)."""
    if not items:
        return head
    size = len(items[0])
    if size == len(items[-1]) and len(set(map(len, items))) == 1:
        # Elements all of one length (fixed-size ids, counters, the
        # benchmark's values): one header serves as the separator of a
        # single join, no per-element Python work at all.
        sep = b'\r\n$%d\r\n' % size
        return b''.join((head, sep[2:], sep.join(items), b'\r\n'))
    out = [None] * (2 * len(items))
    try:
        out[0::2] = map(_LEN_HEADERS.__getitem__, map(len, items))
    except IndexError:      # an element of 1024 bytes or more
        return head + b''.join([b'$%d\r\n%s\r\n' % (len(v), v) for v in items])
    out[1::2] = items
    return b''.join((head, b'\r\n'.join(out), b'\r\n'))


def _bulks(items, n):
    """An array reply of ``n`` bulk strings taken from an iterable."""
    if items.__class__ is not list:
        items = list(items)
    return bulk_items(items, b'*%d\r\n' % n)


def parse_side(arg):
    """LEFT/RIGHT -> True for the head, False for the tail, None if invalid."""
    a = arg.lower()
    if a == b'left':
        return True
    if a == b'right':
        return False
    return None


def _deleted_if_empty(server, db, key, lst):
    if not lst:
        db.delete(key)
        if server.notify_flags:
            server.notify(G, b'del', key, db.id)


# -- push -------------------------------------------------------------------

def _push(c, argv, head, only_existing):
    db = c.db
    key = argv[1]
    lst = db.lookup_write(key)
    if lst is None:
        if only_existing:
            return ZERO
        lst = new_list(c.server)
        db.add(key, lst)
        if db.blocking_keys and key in db.blocking_keys:
            c.server.hold_until_served(c)
    elif lst.__class__ is not QuickList:
        return WRONGTYPE_ERR
    elif db.watched:
        c.server.signal_modified(db, key)
    if head:
        lst.extendleft(argv[2:])
    else:
        lst.extend(argv[2:])
    server = c.server
    server.dirty += len(argv) - 2
    if server.notify_flags:
        server.notify(L, b'lpush' if head else b'rpush', key, db.id)
    return integer_reply(len(lst))


# The fast paths below serve the most common shape - one element pushed to
# or popped from an existing list that has no TTL - with the lookup and the
# side effects inlined (db.lookup_write does no more than the LRU update for
# a key without a TTL; an empty expires dict, the common case, is tested
# before the key). Anything else takes the general code.

def _push_command(head):
    """LPUSH or RPUSH: the fast path, else _push."""
    add = QuickList.appendleft if head else QuickList.append
    event = b'lpush' if head else b'rpush'

    def push(c, argv):
        db = c.db
        key = argv[1]
        lst = db.data.get(key)
        if lst.__class__ is QuickList and len(argv) == 3 and not (db.expires and key in db.expires):
            db.lru[key] = db.lruclock
            server = c.server
            if db.watched:
                server.signal_modified(db, key)
            add(lst, argv[2])
            server.dirty += 1
            if server.notify_flags:
                server.notify(L, event, key, db.id)
            return integer_reply(len(lst))
        return _push(c, argv, head, False)
    return push


lpush = command('lpush')(_push_command(True))
rpush = command('rpush')(_push_command(False))


@command('lpushx')
def lpushx(c, argv):
    return _push(c, argv, True, True)


@command('rpushx')
def rpushx(c, argv):
    return _push(c, argv, False, True)


# -- pop --------------------------------------------------------------------

def pop_reply(c, db, key, lst, head, count=None, with_key=False):
    """Pop from a non-empty list and build the reply: one bulk, an array of
    ``count`` elements, or [key, element] (with_key, for BLPOP). Fires the
    events and deletes the emptied list."""
    server = c.server
    if db.watched:
        server.signal_modified(db, key)
    pop = lst.popleft if head else lst.pop
    if count is None:
        v = pop()
        if with_key:
            reply = b'*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' % (len(key), key, len(v), v)
        else:
            reply = b'$%d\r\n%s\r\n' % (len(v), v)
    else:
        n = min(count, len(lst))
        reply = _bulks([pop() for _ in range(n)], n)
    server.dirty += 1
    if server.notify_flags:
        server.notify(L, b'lpop' if head else b'rpop', key, db.id)
    _deleted_if_empty(server, db, key, lst)
    return reply


def _pop(c, argv, head):
    if len(argv) > 3:
        return ARITY_ERR % argv[0].lower()
    count = None
    if len(argv) == 3:
        count = string2ll(argv[2])
        if count is None or count < 0:
            return POSITIVE_ERR
    db = c.db
    key = argv[1]
    lst = db.lookup_write(key)
    if lst is None:
        return _null(c) if count is None else _null_array(c)
    if lst.__class__ is not QuickList:
        return WRONGTYPE_ERR
    if count == 0:
        return b'*0\r\n'
    return pop_reply(c, db, key, lst, head, count)


def _pop_command(head):
    """LPOP or RPOP: the fast path (see LPUSH) for no count, else _pop. A
    list in the keyspace is never empty, so there is something to pop; only
    once it is done is there a second check, for the list it emptied."""
    take = QuickList.popleft if head else QuickList.pop
    event = b'lpop' if head else b'rpop'

    def pop(c, argv):
        db = c.db
        key = argv[1]
        lst = db.data.get(key)
        if lst.__class__ is QuickList and len(argv) == 2 and not (db.expires and key in db.expires):
            db.lru[key] = db.lruclock
            server = c.server
            if db.watched:
                server.signal_modified(db, key)
            v = take(lst)
            server.dirty += 1
            if server.notify_flags:
                server.notify(L, event, key, db.id)
            if not lst:
                _deleted_if_empty(server, db, key, lst)
            n = len(v)
            if n < 1024:
                return BULK_FORMATS[n] % v
            return b'$%d\r\n%s\r\n' % (n, v)
        return _pop(c, argv, head)
    return pop


lpop = command('lpop')(_pop_command(True))
rpop = command('rpop')(_pop_command(False))


def mpop_reply(c, db, key, lst, head, count):
    """LMPOP's [key, [elements...]] reply, popping up to ``count``; sets the
    propagation to [LR]POP key n as Redis does."""
    n = min(count, len(lst))
    if c.server.propagate_targets:
        c.propagate_argv = [[b'LPOP' if head else b'RPOP', key, b'%d' % n]]
    body = pop_reply(c, db, key, lst, head, n)
    return b'*2\r\n$%d\r\n%s\r\n' % (len(key), key) + body


_MPOP_SIDES = {b'left': True, b'right': False}


def parse_mpop(argv, numkeys_idx):
    """[numkeys key ... LEFT|RIGHT [COUNT n]] -> (keys, head, count) or an
    error reply."""
    return parse_multi_pop(argv, numkeys_idx, _MPOP_SIDES)


@command('lmpop')
def lmpop(c, argv):
    parsed = parse_mpop(argv, 1)
    if parsed.__class__ is bytes:
        return parsed
    keys, head, count = parsed
    db = c.db
    for key in keys:
        lst = db.lookup_write(key)
        if lst is None:
            continue
        if lst.__class__ is not QuickList:
            return WRONGTYPE_ERR
        return mpop_reply(c, db, key, lst, head, count)
    return _null_array(c)


# -- reads ------------------------------------------------------------------



@command('llen')
def llen(c, argv):
    lst, err = c.db.lookup_typed(argv[1], LIST)
    if err:
        return err
    return integer(len(lst)) if lst is not None else ZERO


@command('lrange')
def lrange(c, argv):
    start = string2ll(argv[2])
    end = string2ll(argv[3])
    if start is None or end is None:
        return NOT_INT_ERR
    lst, err = c.db.lookup_typed(argv[1], LIST)
    if err:
        return err
    if lst is None:
        return b'*0\r\n'
    n = len(lst)
    if start < 0:
        start += n
        if start < 0:
            start = 0
    if end < 0:
        end += n
    if end >= n:
        end = n - 1
    if start > end or start >= n:
        return b'*0\r\n'
    return lst.resp_range(start, end + 1)


@command('lindex')
def lindex(c, argv):
    lst, err = c.db.lookup_typed(argv[1], LIST)
    if err:
        return err
    if lst is None:
        return _null(c)
    index = string2ll(argv[2])
    if index is None:
        return NOT_INT_ERR
    n = len(lst)
    if index < 0:
        index += n
    if index < 0 or index >= n:
        return _null(c)
    v = lst[index]
    return b'$%d\r\n%s\r\n' % (len(v), v)


@command('lpos')
def lpos(c, argv):
    rank = 1
    count = -1
    maxlen = 0
    j = 3
    while j < len(argv):
        opt = argv[j].lower()
        more = j + 1 < len(argv)
        if opt == b'rank' and more:
            rank = string2ll(argv[j + 1])
            if rank is None:
                return NOT_INT_ERR
            if rank == 0:
                return (b"-ERR RANK can't be zero: use 1 to start from the first match, 2 "
                        b"from the second ... or use negative to start from the end of the "
                        b"list\r\n")
        elif opt == b'count' and more:
            count = string2ll(argv[j + 1])
            if count is None or count < 0:
                return b"-ERR COUNT can't be negative\r\n"
        elif opt == b'maxlen' and more:
            maxlen = string2ll(argv[j + 1])
            if maxlen is None or maxlen < 0:
                return b"-ERR MAXLEN can't be negative\r\n"
        else:
            return SYNTAX_ERR
        j += 2
    lst, err = c.db.lookup_typed(argv[1], LIST)
    if err:
        return err
    if lst is None:
        return _null(c) if count == -1 else b'*0\r\n'
    element = argv[2]
    n = len(lst)
    if rank < 0:
        # -LLONG_MIN does not fit: Redis ends up taking the first match.
        rank = 1 if rank == LLONG_MIN else -rank
        it = reversed(lst)
        positions = range(n - 1, -1, -1)
    else:
        it = iter(lst)
        positions = range(n)
    if maxlen:
        it = islice(it, maxlen)
    found = []
    want = count if count > 0 else (LLONG_MAX if count == 0 else 1)
    for pos, v in zip(positions, it):
        if v == element:
            if rank > 1:
                rank -= 1
                continue
            found.append(pos)
            if len(found) >= want:
                break
    if count == -1:
        return integer(found[0]) if found else _null(c)
    return b'*%d\r\n' % len(found) + b''.join(b':%d\r\n' % p for p in found)


# -- in-place writes ---------------------------------------------------------





@command('lset')
def lset(c, argv):
    lst, err = c.db.lookup_typed(argv[1], LIST, True)
    if err:
        return err
    if lst is None:
        return NO_SUCH_KEY_ERR
    index = string2ll(argv[2])
    if index is None:
        return NOT_INT_ERR
    n = len(lst)
    if index < 0:
        index += n
    if index < 0 or index >= n:
        return INDEX_ERR
    lst[index] = argv[3]
    c.server.key_modified(c.db, argv[1], L, b'lset')
    return OK


@command('linsert')
def linsert(c, argv):
    where = argv[2].lower()
    if where == b'after':
        after = True
    elif where == b'before':
        after = False
    else:
        return SYNTAX_ERR
    lst, err = c.db.lookup_typed(argv[1], LIST, True)
    if err:
        return err
    if lst is None:
        return ZERO
    try:
        i = lst.index(argv[3])
    except ValueError:
        return b':-1\r\n'
    lst.insert(i, argv[4], after)
    c.server.key_modified(c.db, argv[1], L, b'linsert')
    return integer(len(lst))


@command('lrem')
def lrem(c, argv):
    count = string2ll(argv[2])
    if count is None:
        return NOT_INT_ERR
    key = argv[1]
    lst, err = c.db.lookup_typed(key, LIST, True)
    if err:
        return err
    if lst is None:
        return ZERO
    # Deleted in place, as lremCommand does: the nodes left are Redis's.
    removed = lst.rem(argv[3], count)
    if removed:
        c.server.key_modified(c.db, key, L, b'lrem')
        _deleted_if_empty(c.server, c.db, key, lst)
    return integer(removed)


@command('ltrim')
def ltrim(c, argv):
    start = string2ll(argv[2])
    end = string2ll(argv[3])
    if start is None or end is None:
        return NOT_INT_ERR
    key = argv[1]
    lst, err = c.db.lookup_typed(key, LIST, True)
    if err:
        return err
    if lst is None:
        return OK
    n = len(lst)
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        ltrim_left, ltrim_right = n, 0
    else:
        if end >= n:
            end = n - 1
        ltrim_left = start
        ltrim_right = n - end - 1
    if ltrim_left + ltrim_right >= n:
        lst.clear()
    else:
        lst.trim(ltrim_left, n - ltrim_right)
    c.server.key_modified(c.db, key, L, b'ltrim')
    _deleted_if_empty(c.server, c.db, key, lst)
    return OK


# -- LMOVE / RPOPLPUSH ---------------------------------------------------------

def move_element(c, db, src, lst, dst, dst_list, head_from, head_to):
    """Pop from ``lst`` (the non-empty list at src) and push onto dst
    (creating it when ``dst_list`` is None). Events in Redis's order: the
    push, then the pop, then the source's "del". Returns the bulk reply."""
    server = c.server
    v = lst.popleft() if head_from else lst.pop()
    if dst_list is None:
        dst_list = new_list(server)
        db.add(dst, dst_list)
        if db.blocking_keys and dst in db.blocking_keys and c.blocked is None:
            server.hold_until_served(c)
    elif db.watched:
        server.signal_modified(db, dst)
    if head_to:
        dst_list.appendleft(v)
    else:
        dst_list.append(v)
    if db.watched:
        server.signal_modified(db, src)
    server.dirty += 1
    if server.notify_flags:
        server.notify(L, b'lpush' if head_to else b'rpush', dst, db.id)
        server.notify(L, b'lpop' if head_from else b'rpop', src, db.id)
    _deleted_if_empty(server, db, src, lst)
    return b'$%d\r\n%s\r\n' % (len(v), v)


def lmove_generic(c, src, dst, head_from, head_to):
    db = c.db
    lst = db.lookup_write(src)
    if lst is None:
        return _null(c)
    if lst.__class__ is not QuickList:
        return WRONGTYPE_ERR
    dst_list = db.lookup_write(dst)
    if dst_list is not None and dst_list.__class__ is not QuickList:
        return WRONGTYPE_ERR
    return move_element(c, db, src, lst, dst, dst_list, head_from, head_to)


@command('lmove')
def lmove(c, argv):
    head_from = parse_side(argv[3])
    head_to = parse_side(argv[4])
    if head_from is None or head_to is None:
        return SYNTAX_ERR
    return lmove_generic(c, argv[1], argv[2], head_from, head_to)


@command('rpoplpush')
def rpoplpush(c, argv):
    return lmove_generic(c, argv[1], argv[2], False, True)
