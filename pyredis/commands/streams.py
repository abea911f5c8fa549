"""Stream commands (t_stream.c): XADD ... XINFO, consumer groups, blocking
XREAD/XREADGROUP.

The value is a pyredis.stream.Stream (nodes laid out as Redis's listpacks).
This module follows t_stream.c's command code path by path: the order in
which arguments are validated (which decides the error a client sees), the
reply shapes in RESP2 and RESP3, the keyspace events, and propagation in
Redis's deterministic forms:

* XADD and XTRIM propagate with the ID actually generated and, after an
  approximate ("~") trim, with "=" and the resulting length (MAXLEN) or
  first ID (MINID), so a replica trims exactly as the master did.
* XREADGROUP, XCLAIM and XAUTOCLAIM are not propagated as such: each
  entry they deliver or claim becomes "XCLAIM key group consumer 0 id TIME
  ms RETRYCOUNT n FORCE JUSTID LASTID id", a NOACK read an "XGROUP SETID
  ... ENTRIESREAD n" (and "XGROUP CREATECONSUMER" for a consumer it
  created), all queued with the command's other effects (several are
  wrapped in MULTI/EXEC, as Redis does).

Blocking XREAD/XREADGROUP use blocking.py's machinery: a client blocked
on stream keys is served, in blocking order, when XADD signals the key
(or its group is destroyed, or the key is deleted: XREADGROUP clients then
get Redis's -NOGROUP/-UNBLOCKED errors). Inside MULTI they answer as on
timeout.
"""


from . import command
from . import blocking
from .. import stream as st
from ..notify import NotifyFlags
from ..resp import (ARITY_ERR, EMPTY_ARRAY, NOT_INT_ERR, NULL3, NULL_ARRAY, NULL_BULK,
                    NO_SUCH_KEY_ERR, OK, ONE, SYNTAX_ERR, TIMEOUT_NEGATIVE_ERR,
                    ZERO, CommandError, error, help_reply, integer,
                    subcommand_syntax_error)
from ..stream import Stream, id_bytes, id_reply, MAX_ID, M64, INVALID_ENTRIES_READ
from ..util import string2ll
from .. import clock

T = NotifyFlags.STREAM
STREAM = (Stream,)

INVALID_ID_ERR = b'-ERR Invalid stream ID specified as stream command argument\r\n'
START_ID_ERR = b'-ERR invalid start ID for the interval\r\n'
END_ID_ERR = b'-ERR invalid end ID for the interval\r\n'
XREAD_BLOCKED_DEFAULT_COUNT = 1000


def _encoding(server, v):
    return b'stream'


VALUE_TYPES = {Stream: (b'stream', _encoding)}




def now_ms():
    return clock.time_ns() // 1000000


def _null(c):
    return NULL_BULK if c.resp == 2 else NULL3


def _null_array(c):
    return NULL_ARRAY if c.resp == 2 else NULL3


def _map(n, r):
    return b'%%%d\r\n' % n if r == 3 else b'*%d\r\n' % (2 * n)


def _bulk(s):
    return b'$%d\r\n%s\r\n' % (len(s), s)


def _get_ll(arg, msg=None):
    v = string2ll(arg)
    if v is None:
        raise CommandError(error(b'ERR ' + msg) if msg else NOT_INT_ERR)
    return v


# -- IDs ---------------------------------------------------------------------------------

_SPACE = b' \t\n\v\f\r'


def string2ull(s):
    """Redis's string2ull: string2ll, or else strtoull over the whole string
    (leading spaces, a sign, leading zeros; "-n" wraps around)."""
    v = string2ll(s)
    if v is not None:
        return v if v >= 0 else None
    t = s.lstrip(_SPACE)
    neg = False
    if t[:1] in (b'+', b'-'):
        neg = t[:1] == b'-'
        t = t[1:]
    if not s or not t or not t.isdigit():
        return None
    v = int(t)
    if v > M64:
        return None
    return (-v) & M64 if neg else v


def parse_id(arg, missing_seq=0, strict=False, seq_given=None):
    """streamGenericParseIDOrReply: the ID (an int), or raises the error.
    With ``seq_given`` (a list), "<ms>-*" is accepted and seq_given[0] says
    whether the sequence was given."""
    if len(arg) > 127:
        raise CommandError(INVALID_ID_ERR)
    nul = arg.find(b'\0')
    if nul >= 0:
        arg = arg[:nul]
    if strict and arg in (b'-', b'+'):
        raise CommandError(INVALID_ID_ERR)
    if seq_given is not None:
        seq_given[0] = True
    if arg == b'-':
        return 0
    if arg == b'+':
        return MAX_ID
    ms_part, dash, seq_part = arg.partition(b'-')
    ms = string2ull(ms_part)
    if ms is None:
        raise CommandError(INVALID_ID_ERR)
    if dash:
        if seq_given is not None and seq_part == b'*':
            seq = 0
            seq_given[0] = False
        else:
            seq = string2ull(seq_part)
            if seq is None:
                raise CommandError(INVALID_ID_ERR)
    else:
        seq = missing_seq
    return (ms << 64) | seq


def parse_interval_id(arg, missing_seq):
    """streamParseIntervalIDOrReply: (id, exclusive)."""
    if len(arg) > 1 and arg[:1] == b'(':
        return parse_id(arg[1:], missing_seq, strict=True), True
    return parse_id(arg, missing_seq), False


def _parse_range_start(arg):
    sid, ex = parse_interval_id(arg, 0)
    if ex:
        if sid == MAX_ID:
            raise CommandError(START_ID_ERR)
        sid += 1
    return sid


def _parse_range_end(arg):
    eid, ex = parse_interval_id(arg, M64)
    if ex:
        if eid == 0:
            raise CommandError(END_ID_ERR)
        eid -= 1
    return eid


# -- replies -----------------------------------------------------------------------------

def entry_reply(eid, fv):
    s = b'%d-%d' % (eid >> 64, eid & M64)
    if len(fv) == 2:
        f, v = fv
        return b'*2\r\n$%d\r\n%s\r\n*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' % (
            len(s), s, len(f), f, len(v), v)
    out = [b'*2\r\n$%d\r\n%s\r\n*%d\r\n' % (len(s), s, len(fv))]
    for x in fv:
        out.append(b'$%d\r\n%s\r\n' % (len(x), x))
    return b''.join(out)


def range_reply(s, start, end, count, rev):
    """streamReplyWithRange without a group: the array of entries."""
    items = s.range_list(start, end, count, rev)
    out = [b'*%d\r\n' % len(items)]
    append = out.append
    for eid, fv in items:
        sid = b'%d-%d' % (eid >> 64, eid & M64)
        if len(fv) == 2:
            f, v = fv
            append(b'*2\r\n$%d\r\n%s\r\n*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' % (
                len(sid), sid, len(f), f, len(v), v))
        else:
            append(entry_reply(eid, fv))
    return b''.join(out)


# -- lookups -----------------------------------------------------------------------------

def _lookup(c, key, write=False):
    v, err = c.db.lookup_typed(key, STREAM, write)
    if err:
        raise CommandError(err)
    return v


def _modified(c, key, event, changes=1):
    c.server.key_modified(c.db, key, T, event, changes)


def _notify(c, event, key):
    server = c.server
    if server.notify_flags:
        server.notify(T, event, key, c.db.id)


def _signal_ready(c, key):
    """signalKeyAsReady for a stream that got new data (or lost a group):
    clients blocked on it are served before this client's next request."""
    db = c.db
    if db.blocking_keys and key in db.blocking_keys:
        c.server.signal_key_ready(db, key)
        c.server.hold_until_served(c)


def _is_script(c):
    """The client scripts run their commands on (CLIENT_SCRIPT)."""
    host = getattr(c.server, 'scripting', None)
    return host is not None and c is host.client


def _must_obey(c):
    """mustObeyClient: the master's link or the AOF loader (the only other
    client without a connection than the scripts' one)."""
    return c.is_master or (c.transport is None and not _is_script(c))


# -- XADD / XTRIM ------------------------------------------------------------------------

NONE, MAXLEN, MINID = 0, 1, 2


class TrimArgs:
    __slots__ = ('id', 'id_given', 'seq_given', 'no_mkstream', 'strategy', 'arg_idx',
                 'approx', 'limit', 'maxlen', 'minid')

    def __init__(self):
        self.id = 0
        self.id_given = False
        self.seq_given = True
        self.no_mkstream = False
        self.strategy = NONE
        self.arg_idx = 0
        self.approx = False
        self.limit = 0
        self.maxlen = 0
        self.minid = 0


def parse_add_trim_args(c, argv, xadd):
    """streamParseAddOrTrimArgsOrReply: (args, position of the ID)."""
    a = TrimArgs()
    argc = len(argv)
    i = 2
    limit_given = False
    while i < argc:
        more = argc - 1 - i
        opt = argv[i]
        lo = opt.lower()
        if xadd and opt == b'*':
            break
        elif (lo == b'maxlen' or lo == b'minid') and more:
            if a.strategy != NONE:
                raise CommandError(b'-ERR syntax error, MAXLEN and MINID options at the same '
                                   b'time are not compatible\r\n')
            a.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b'~':
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b'=':
                i += 1
            if lo == b'maxlen':
                a.maxlen = _get_ll(argv[i + 1])
                if a.maxlen < 0:
                    raise CommandError(b'-ERR The MAXLEN argument must be >= 0.\r\n')
                a.strategy = MAXLEN
            else:
                a.minid = parse_id(argv[i + 1], 0, strict=True)
                a.strategy = MINID
            i += 1
            a.arg_idx = i
        elif lo == b'limit' and more:
            a.limit = _get_ll(argv[i + 1])
            if a.limit < 0:
                raise CommandError(b'-ERR The LIMIT argument must be >= 0.\r\n')
            limit_given = True
            i += 1
        elif xadd and lo == b'nomkstream':
            a.no_mkstream = True
        elif xadd:
            sg = [True]
            a.id = parse_id(opt, 0, strict=True, seq_given=sg)
            a.seq_given = sg[0]
            a.id_given = True
            break
        else:
            raise CommandError(SYNTAX_ERR)
        i += 1
    if a.limit and a.strategy == NONE:
        raise CommandError(b'-ERR syntax error, LIMIT cannot be used without specifying a '
                           b'trimming strategy\r\n')
    if not xadd and a.strategy == NONE:
        raise CommandError(b'-ERR syntax error, XTRIM must be called with a trimming '
                           b'strategy\r\n')
    if _must_obey(c):
        a.limit = 0
    elif limit_given:
        if not a.approx:
            raise CommandError(b'-ERR syntax error, LIMIT cannot be used without the special '
                               b'~ option\r\n')
    elif a.approx:
        limit = 100 * c.server.config.stream_node_max_entries
        if limit <= 0:
            limit = 10000
        if limit > 1000000:
            limit = 1000000
        a.limit = limit
    else:
        a.limit = 0
    return a, i


def do_trim(s, a):
    if a.strategy == MAXLEN:
        return s.trim(maxlen=a.maxlen, approx=a.approx, limit=a.limit)
    if a.strategy == MINID:
        return s.trim(minid=a.minid, approx=a.approx, limit=a.limit)
    return 0


def _rewrite_trim(s, a, pargv):
    """Approximate trimming is propagated as the exact trim it did."""
    pargv[a.arg_idx - 1] = b'='
    if a.strategy == MAXLEN:
        pargv[a.arg_idx] = b'%d' % s.length
    else:
        pargv[a.arg_idx] = id_bytes(s.edge_id(True, skip_tombstones=False))


@command('xadd')
def xadd(c, argv):
    # XADD key * field value on an existing stream without a TTL: the
    # common case, without the option parsing (the same steps as below).
    if len(argv) != 5 or argv[2] != b'*':
        return xadd_generic(c, argv)
    key = argv[1]
    db = c.db
    s = db.data.get(key)
    if s.__class__ is not Stream or (db.expires and key in db.expires):
        return xadd_generic(c, argv)
    last = s.last_id
    ms = clock.time_ns() // 1000000
    if ms > last >> 64:
        eid = ms << 64
    elif last & M64 != M64:
        eid = last + 1
    else:
        return xadd_generic(c, argv)
    db.lru[key] = db.lruclock
    server = c.server
    cfg = server.config
    s.append1(eid, argv[3], argv[4], cfg.stream_node_max_bytes, cfg.stream_node_max_entries)
    sid = b'%d-%d' % (eid >> 64, eid & M64)
    server.dirty += 1
    if db.watched:
        server.signal_modified(db, key)
    if server.notify_flags:
        server.notify(T, b'xadd', key, db.id)
    if server.propagate_targets:
        c.propagate_argv = [[argv[0], key, sid, argv[3], argv[4]]]
    if db.blocking_keys and key in db.blocking_keys:
        server.signal_key_ready(db, key)
        server.hold_until_served(c)
    return b'$%d\r\n%s\r\n' % (len(sid), sid)


def xadd_generic(c, argv):
    a, idpos = parse_add_trim_args(c, argv, True)
    field_pos = idpos + 1
    nargs = len(argv) - field_pos
    if nargs < 2 or nargs % 2:
        return ARITY_ERR % b'xadd'
    if a.id_given and a.seq_given and a.id == 0:
        return b'-ERR The ID specified in XADD must be greater than 0-0\r\n'
    key = argv[1]
    db = c.db
    s, err = db.lookup_typed(key, STREAM, True)
    if err:
        return err
    created = False
    if s is None:
        if a.no_mkstream:
            return _null(c)
        s = Stream()
        created = True
    if s.last_id == MAX_ID:
        return (b'-ERR The stream has exhausted the last possible ID, unable to add more '
                b'items\r\n')
    # streamAppendItem: the new ID.
    last = s.last_id
    if a.id_given:
        if a.seq_given:
            eid = a.id
        elif last >> 64 == a.id >> 64:
            if last & M64 == M64:
                return _too_small(c, db, key, s, created)
            eid = last + 1
        else:
            eid = a.id
    else:
        ms = now_ms()
        if ms > last >> 64:
            eid = ms << 64
        elif last == MAX_ID:
            eid = 0
        else:
            eid = last + 1
    if eid <= last:
        return _too_small(c, db, key, s, created)
    fv = list(argv[field_pos:])
    total = 0
    for x in fv:
        total += len(x)
    if total > st.LISTPACK_MAX_SIZE:
        if created:
            db.add(key, s)
        return b'-ERR Elements are too large to be stored\r\n'
    if created:
        db.add(key, s)
    cfg = c.server.config
    s.append(eid, fv, cfg.stream_node_max_bytes, cfg.stream_node_max_entries)
    sid = b'%d-%d' % (eid >> 64, eid & M64)
    _modified(c, key, b'xadd')
    pargv = None
    if a.strategy != NONE:
        if do_trim(s, a):
            _notify(c, b'xtrim', key)
        if a.approx:
            pargv = list(argv)
            _rewrite_trim(s, a, pargv)
    if not a.id_given or not a.seq_given:
        if pargv is None:
            pargv = list(argv)
        pargv[idpos] = sid
    if pargv is not None:
        c.propagate_argv = [pargv]
    if not created:
        _signal_ready(c, key)
    elif db.blocking_keys and key in db.blocking_keys:
        c.server.hold_until_served(c)
    return b'$%d\r\n%s\r\n' % (len(sid), sid)


def _too_small(c, db, key, s, created):
    # The stream was created before streamAppendItem failed: Redis leaves
    # the empty key in place.
    if created:
        db.add(key, s)
    return (b'-ERR The ID specified in XADD is equal or smaller than the target stream top '
            b'item\r\n')


@command('xtrim')
def xtrim(c, argv):
    a, _ = parse_add_trim_args(c, argv, False)
    key = argv[1]
    s = _lookup(c, key, True)
    if s is None:
        return ZERO
    deleted = do_trim(s, a)
    if deleted:
        _notify(c, b'xtrim', key)
        if a.approx:
            pargv = list(argv)
            _rewrite_trim(s, a, pargv)
            c.propagate_argv = [pargv]
        db = c.db
        if db.watched:
            c.server.signal_modified(db, key)
        c.server.dirty += deleted
    return integer(deleted)


# -- XLEN / XRANGE / XREVRANGE / XDEL ----------------------------------------------------

@command('xlen')
def xlen(c, argv):
    s = _lookup(c, argv[1])
    return integer(s.length) if s is not None else ZERO


def _xrange(c, argv, rev):
    startarg, endarg = (argv[3], argv[2]) if rev else (argv[2], argv[3])
    start = _parse_range_start(startarg)
    end = _parse_range_end(endarg)
    count = -1
    n = len(argv)
    j = 4
    while j < n:
        if argv[j].lower() == b'count' and n - j - 1 >= 1:
            count = _get_ll(argv[j + 1])
            if count < 0:
                count = 0
            j += 1
        else:
            return SYNTAX_ERR
        j += 1
    s = _lookup(c, argv[1])
    if s is None:
        return EMPTY_ARRAY
    if count == 0:
        return _null_array(c)
    return range_reply(s, start, end, 0 if count == -1 else count, rev)


@command('xrange')
def xrange(c, argv):
    return _xrange(c, argv, False)


@command('xrevrange')
def xrevrange(c, argv):
    return _xrange(c, argv, True)


@command('xdel')
def xdel(c, argv):
    key = argv[1]
    s = _lookup(c, key, True)
    if s is None:
        return ZERO
    ids = [parse_id(a, 0, strict=True) for a in argv[2:]]
    deleted = 0
    first_entry = False
    for i in ids:
        if s.delete(i):
            if i == s.first_id:
                first_entry = True
            if i > s.max_deleted:
                s.max_deleted = i
            deleted += 1
    if deleted:
        if s.length == 0:
            s.first_id = 0
        elif first_entry:
            s.first_id = s.edge_id(True)
        _modified(c, key, b'xdel', deleted)
    return integer(deleted)


# -- XSETID ------------------------------------------------------------------------------

@command('xsetid')
def xsetid(c, argv):
    eid = parse_id(argv[2], 0, strict=True)
    max_xdel = 0
    entries_added = -1
    i = 3
    n = len(argv)
    while i < n:
        more = n - 1 - i
        opt = argv[i].lower()
        if opt == b'entriesadded' and more:
            entries_added = _get_ll(argv[i + 1])
            if entries_added < 0:
                return b'-ERR entries_added must be positive\r\n'
            i += 2
        elif opt == b'maxdeletedid' and more:
            max_xdel = parse_id(argv[i + 1], 0, strict=True)
            if eid < max_xdel:
                return (b'-ERR The ID specified in XSETID is smaller than the provided '
                        b'max_deleted_entry_id\r\n')
            i += 2
        else:
            return SYNTAX_ERR
    key = argv[1]
    s, err = c.db.lookup_typed(key, STREAM, True)
    if s is None:
        return err or NO_SUCH_KEY_ERR
    if s.length > 0:
        if eid < s.last_valid_id():
            return (b'-ERR The ID specified in XSETID is smaller than the target stream top '
                    b'item\r\n')
        if entries_added != -1 and s.length > entries_added:
            return (b'-ERR The entries_added specified in XSETID is smaller than the target '
                    b'stream length\r\n')
    s.last_id = eid
    if entries_added != -1:
        s.entries_added = entries_added
    if max_xdel:
        s.max_deleted = max_xdel
    _modified(c, key, b'xsetid')
    return OK


# -- XREAD / XREADGROUP ------------------------------------------------------------------

class _ReadState:
    """What a blocked XREAD/XREADGROUP needs when it is served."""
    __slots__ = ('ids', 'count', 'group', 'consumer', 'noack')


def _deliver(c, key, s, start, count, group, consumer, noack, ops):
    """streamReplyWithRange for XREAD/XREADGROUP ">" reads: the entries
    array, the group's last ID and counters moved, PEL entries created and
    their XCLAIMs queued in ``ops``."""
    out = []
    n = 0
    propagate_last_id = False
    now = now_ms() if group is not None else 0
    for eid, e in s.iter_range(start, MAX_ID):
        if group is not None and eid > group.last_id:
            if group.entries_read != INVALID_ENTRIES_READ and \
                    not s.range_has_tombstones(eid):
                group.entries_read += 1
            elif s.entries_added:
                group.entries_read = s.estimate_distance(eid)
            group.last_id = eid
            if noack:
                propagate_last_id = True
        out.append(entry_reply(eid, e))
        if group is not None and not noack:
            nack = st.Nack(consumer, now)
            if not group.pel.add(eid, nack):
                nack = group.pel.get(eid)
                nack.consumer.pel.remove(eid)
                nack.consumer = consumer
                nack.delivery_time = now
                nack.delivery_count = 1
                consumer.pel.add(eid, nack)
            else:
                consumer.pel.add(eid, nack)
            ops.append(_xclaim_argv(key, group, eid, nack))
        n += 1
        if count and n == count:
            break
    if propagate_last_id:
        ops.append(_setid_argv(key, group))
    return b'*%d\r\n' % n + b''.join(out)


def _history(s, start, count, consumer, now, resp):
    """streamReplyWithRangeFromConsumerPEL: the consumer's own pending
    entries from ``start``; a deleted entry is its ID and a null array."""
    deleted = NULL_ARRAY if resp == 2 else NULL3
    out = []
    n = 0
    for eid in consumer.pel.from_id(start):
        if count and n >= count:
            break
        e = s.get(eid)
        if e is None:
            s_ = b'%d-%d' % (eid >> 64, eid & M64)
            out.append(b'*2\r\n$%d\r\n%s\r\n%s' % (len(s_), s_, deleted))
        else:
            out.append(entry_reply(eid, e))
            nack = consumer.pel.get(eid)
            nack.delivery_time = now
            nack.delivery_count += 1
        n += 1
    return b'*%d\r\n' % n + b''.join(out)


def _xclaim_argv(key, group, eid, nack):
    return [b'XCLAIM', key, group.name, nack.consumer.name, b'0', id_bytes(eid), b'TIME',
            b'%d' % nack.delivery_time, b'RETRYCOUNT', b'%d' % nack.delivery_count, b'FORCE',
            b'JUSTID', b'LASTID', id_bytes(group.last_id)]


def _setid_argv(key, group):
    return [b'XGROUP', b'SETID', key, group.name, id_bytes(group.last_id), b'ENTRIESREAD',
            b'%d' % group.entries_read]


def _lookup_consumer(group, name, now, refresh=True):
    consumer = group.consumers.get(name)
    if consumer is not None and refresh:
        consumer.seen_time = now
    return consumer


def _create_consumer(c, group, name, key, now, notify=True, dirty=True):
    """streamCreateConsumer: None when it exists."""
    if name in group.consumers:
        return None
    consumer = group.consumers[name] = st.Consumer(name, now)
    if dirty:
        c.server.dirty += 1
    if notify:
        _notify(c, b'xgroup-createconsumer', key)
    return consumer


def _xread(c, argv, xreadgroup):
    timeout = -1
    count = 0
    streams_arg = 0
    streams_count = 0
    noack = False
    groupname = consumername = None
    argc = len(argv)
    i = 1
    while i < argc:
        more = argc - i - 1
        o = argv[i].lower()
        if o == b'block' and more:
            if _is_script(c):
                return error(b'ERR %s command is not allowed with BLOCK option from scripts'
                             % argv[0])
            i += 1
            timeout = string2ll(argv[i])
            if timeout is None:
                return b'-ERR timeout is not an integer or out of range\r\n'
            if timeout < 0:
                return TIMEOUT_NEGATIVE_ERR
        elif o == b'count' and more:
            i += 1
            count = _get_ll(argv[i])
            if count < 0:
                count = 0
        elif o == b'streams' and more:
            streams_arg = i + 1
            streams_count = argc - streams_arg
            if streams_count % 2:
                return (b"-ERR Unbalanced XREAD list of streams: for each stream key an ID or "
                        b"'$' must be specified.\r\n")
            streams_count //= 2
            break
        elif o == b'group' and more >= 2:
            if not xreadgroup:
                return (b'-ERR The GROUP option is only supported by XREADGROUP. You called '
                        b'XREAD instead.\r\n')
            groupname = argv[i + 1]
            consumername = argv[i + 2]
            i += 2
        elif o == b'noack':
            if not xreadgroup:
                return (b'-ERR The NOACK option is only supported by XREADGROUP. You called '
                        b'XREAD instead.\r\n')
            noack = True
        else:
            return SYNTAX_ERR
        i += 1
    if streams_arg == 0:
        return SYNTAX_ERR
    if xreadgroup and groupname is None:
        return b'-ERR Missing GROUP option for XREADGROUP\r\n'
    db = c.db
    keys = argv[streams_arg:streams_arg + streams_count]
    ids = []
    groups = []
    for idx in range(streams_count):
        key = keys[idx]
        arg = argv[streams_arg + streams_count + idx]
        s, err = db.lookup_typed(key, STREAM)
        if err:
            return err
        group = None
        if groupname is not None:
            group = s.group(groupname) if s is not None else None
            if group is None:
                return error(b"NOGROUP No such key '%s' or consumer group '%s' in XREADGROUP "
                             b"with GROUP option" % (key, groupname))
            groups.append(group)
        if arg == b'$':
            if xreadgroup:
                return (b'-ERR The $ ID is meaningless in the context of XREADGROUP: you want '
                        b'to read the history of this consumer by specifying a proper ID, or '
                        b'use the > ID to get new messages. The $ ID would just return an '
                        b'empty result set.\r\n')
            ids.append(s.last_id if s is not None else 0)
            continue
        if arg == b'>':
            if not xreadgroup:
                return (b'-ERR The > ID can be specified only when calling XREADGROUP using '
                        b'the GROUP <group> <consumer> option.\r\n')
            ids.append(MAX_ID)
            continue
        ids.append(parse_id(arg, 0, strict=True))
    # Serve synchronously what can be served.
    r = c.resp
    out = []
    ops = []
    served = 0
    now = now_ms()
    for idx in range(streams_count):
        key = keys[idx]
        s = db.lookup_typed(key, STREAM)[0]
        if s is None:
            continue
        gt = ids[idx]
        serve = history = False
        if groups:
            if gt != MAX_ID:
                serve = history = True
            elif s.length:
                last = groups[idx].last_id
                if s.last_valid_id() > last:
                    serve = True
                    gt = last
        elif s.length:
            if s.last_valid_id() > gt:
                serve = True
        if not serve:
            continue
        served += 1
        start = gt + 1 if gt != MAX_ID else 0
        if r == 2:
            out.append(b'*2\r\n')
        out.append(_bulk(key))
        group = consumer = None
        if groups:
            group = groups[idx]
            consumer = _lookup_consumer(group, consumername, now)
            if consumer is None:
                consumer = _create_consumer(c, group, consumername, key, now)
                if noack:
                    ops.append([b'XGROUP', b'CREATECONSUMER', key, groupname, consumername])
        if history:
            out.append(_history(s, start, count, consumer, now, c.resp))
        else:
            out.append(_deliver(c, key, s, start, count, group, consumer, noack, ops))
        if groups:
            c.server.dirty += 1
    if groups:
        # Propagated as its effects only (preventCommandPropagation).
        c.propagate_argv = ops
    if served:
        return (b'*%d\r\n' % served if r == 2 else b'%%%d\r\n' % served) + b''.join(out)
    if timeout != -1:
        if blocking.deny_blocking(c):
            return _null_array(c)
        state = _ReadState()
        state.ids = dict(zip(keys, ids))
        state.count = count if count else XREAD_BLOCKED_DEFAULT_COUNT
        state.group = groupname
        state.consumer = consumername
        state.noack = noack
        return blocking.block(c, keys, timeout, _serve_blocked(state), b'stream')
    return _null_array(c)


def _serve_blocked(rs):
    """serveClientsBlockedOnStreamKey for one blocked client."""
    def serve(c, key, s):
        if s is None or s.__class__ is not Stream:
            if rs.group is not None:
                return b'-UNBLOCKED the stream key no longer exists\r\n'
            return None
        group = None
        gt = rs.ids.get(key, 0)
        if rs.group is not None:
            group = s.group(rs.group)
            if group is None:
                return (b'-NOGROUP the consumer group this client was blocked on no longer '
                        b'exists\r\n')
            gt = rs.ids[key] = group.last_id
        if not s.last_id > gt:
            return None
        start = gt + 1
        consumer = None
        ops = []
        now = now_ms()
        if group is not None:
            consumer = _lookup_consumer(group, rs.consumer, now)
            if consumer is None:
                consumer = _create_consumer(c, group, rs.consumer, key, now)
                if rs.noack:
                    ops.append([b'XGROUP', b'CREATECONSUMER', key, rs.group, rs.consumer])
        if c.resp == 2:
            head = b'*1\r\n*2\r\n'
        else:
            head = b'%1\r\n'
        reply = head + _bulk(key) + _deliver(c, key, s, start, rs.count, group, consumer,
                                               rs.noack, ops)
        if ops and c.server.propagate_targets:
            c.propagate_argv = ops
        return reply
    return serve


@command('xread')
def xread(c, argv):
    return _xread(c, argv, False)


@command('xreadgroup')
def xreadgroup(c, argv):
    return _xread(c, argv, True)


# -- XGROUP ------------------------------------------------------------------------------

def _xgroup_prologue(c, argv, sub):
    """The common part of xgroupCommand for the subcommands with a key:
    (stream, group, mkstream, entries_read)."""
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    argc = len(argv)
    i = 5
    create = sub == b'create'
    setid = sub == b'setid'
    while i < argc:
        o = argv[i].lower()
        if create and o == b'mkstream':
            mkstream = True
            i += 1
        elif (create or setid) and o == b'entriesread' and i + 1 < argc:
            entries_read = _get_ll(argv[i + 1])
            if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
                raise CommandError(b'-ERR value for ENTRIESREAD must be positive or -1\r\n')
            i += 2
        else:
            raise CommandError(subcommand_syntax_error(argv))
    s = _lookup(c, argv[2], True)
    group = None
    if not mkstream:
        if s is None:
            raise CommandError(b'-ERR The XGROUP subcommand requires the key to exist. Note '
                               b'that for CREATE you may want to use the MKSTREAM option to '
                               b'create an empty stream automatically.\r\n')
        group = s.group(argv[3])
        if group is None and sub in (b'setid', b'createconsumer', b'delconsumer'):
            raise CommandError(error(b"NOGROUP No such consumer group '%s' for key name '%s'"
                                     % (argv[3], argv[2])))
    return s, group, mkstream, entries_read


@command('xgroup|create')
def xgroup_create(c, argv):
    s, _, mkstream, entries_read = _xgroup_prologue(c, argv, b'create')
    if len(argv) > 8:
        return subcommand_syntax_error(argv)
    key = argv[2]
    if argv[4] == b'$':
        eid = s.last_id if s is not None else 0
    else:
        eid = parse_id(argv[4], 0, strict=True)
    db = c.db
    if s is None:
        s = Stream()
        db.add(key, s)
        if db.watched:
            c.server.signal_modified(db, key)
    if s.create_group(argv[3], eid, entries_read) is None:
        return b'-BUSYGROUP Consumer Group name already exists\r\n'
    c.server.dirty += 1
    _notify(c, b'xgroup-create', key)
    return OK


@command('xgroup|setid')
def xgroup_setid(c, argv):
    s, group, _, entries_read = _xgroup_prologue(c, argv, b'setid')
    if len(argv) not in (5, 7):
        return subcommand_syntax_error(argv)
    if argv[4] == b'$':
        eid = s.last_id
    else:
        eid = parse_id(argv[4], 0)
    group.last_id = eid
    group.entries_read = entries_read
    c.server.dirty += 1
    _notify(c, b'xgroup-setid', argv[2])
    return OK


@command('xgroup|destroy')
def xgroup_destroy(c, argv):
    s, group, _, _ = _xgroup_prologue(c, argv, b'destroy')
    if group is None:
        return ZERO
    del s.groups[argv[3]]
    c.server.dirty += 1
    _notify(c, b'xgroup-destroy', argv[2])
    # Clients blocked in XREADGROUP on it get -NOGROUP.
    _signal_ready(c, argv[2])
    return ONE


@command('xgroup|createconsumer')
def xgroup_createconsumer(c, argv):
    s, group, _, _ = _xgroup_prologue(c, argv, b'createconsumer')
    created = _create_consumer(c, group, argv[4], argv[2], now_ms())
    return ONE if created is not None else ZERO


@command('xgroup|delconsumer')
def xgroup_delconsumer(c, argv):
    s, group, _, _ = _xgroup_prologue(c, argv, b'delconsumer')
    consumer = group.consumers.get(argv[4])
    pending = 0
    if consumer is not None:
        pending = len(consumer.pel)
        group.delete_consumer(consumer)
        c.server.dirty += 1
        _notify(c, b'xgroup-delconsumer', argv[2])
    return integer(pending)


XGROUP_HELP = [
    'CREATE <key> <groupname> <id|$> [option]',
    '    Create a new consumer group. Options are:',
    '    * MKSTREAM',
    '      Create the empty stream if it does not exist.',
    '    * ENTRIESREAD entries_read',
    "      Set the group's entries_read counter (internal use).",
    'CREATECONSUMER <key> <groupname> <consumer>',
    '    Create a new consumer in the specified group.',
    'DELCONSUMER <key> <groupname> <consumer>',
    '    Remove the specified consumer.',
    'DESTROY <key> <groupname>',
    '    Remove the specified group.',
    'SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]',
    '    Set the current group ID and entries_read counter.',
]


@command('xgroup|help')
def xgroup_help(c, argv):
    return help_reply('XGROUP', XGROUP_HELP)


# -- XACK / XPENDING ---------------------------------------------------------------------

@command('xack')
def xack(c, argv):
    s = _lookup(c, argv[1])
    group = s.group(argv[2]) if s is not None else None
    if group is None:
        return ZERO
    ids = [parse_id(a, 0, strict=True) for a in argv[3:]]
    acked = 0
    for i in ids:
        nack = group.pel.get(i)
        if nack is not None:
            group.pel.remove(i)
            nack.consumer.pel.remove(i)
            acked += 1
            c.server.dirty += 1
    return integer(acked)


@command('xpending')
def xpending(c, argv):
    argc = len(argv)
    justinfo = argc == 3
    key, groupname = argv[1], argv[2]
    consumername = None
    count = 0
    minidle = 0
    if argc != 3 and (argc < 6 or argc > 9):
        return SYNTAX_ERR
    if argc >= 6:
        startidx = 3
        if argv[3].lower() == b'idle':
            minidle = _get_ll(argv[4])
            if argc < 8:
                return SYNTAX_ERR
            startidx += 2
        count = _get_ll(argv[startidx + 2])
        if count < 0:
            count = 0
        start = _parse_range_start(argv[startidx])
        end = _parse_range_end(argv[startidx + 1])
        if startidx + 3 < argc:
            consumername = argv[startidx + 3]
    s = _lookup(c, key)
    group = s.group(groupname) if s is not None else None
    if group is None:
        return error(b"NOGROUP No such key '%s' or consumer group '%s'" % (key, groupname))
    pel = group.pel
    if justinfo:
        out = [b'*4\r\n', integer(len(pel))]
        if not len(pel):
            out += [_null(c), _null(c), _null_array(c)]
        else:
            out += [id_reply(pel.first()), id_reply(pel.last())]
            rows = []
            for consumer in group.sorted_consumers():
                if not len(consumer.pel):
                    continue
                n = b'%d' % len(consumer.pel)
                rows.append(b'*2\r\n' + _bulk(consumer.name) + _bulk(n))
            out.append(b'*%d\r\n' % len(rows))
            out += rows
        return b''.join(out)
    if consumername is not None:
        consumer = group.consumers.get(consumername)
        if consumer is None:
            return EMPTY_ARRAY
        pel = consumer.pel
    now = now_ms()
    rows = []
    for i in pel.from_id(start):
        if not count or i > end:
            break
        nack = pel.get(i)
        if minidle and now - nack.delivery_time < minidle:
            continue
        count -= 1
        elapsed = now - nack.delivery_time
        if elapsed < 0:
            elapsed = 0
        rows.append(b'*4\r\n' + id_reply(i) + _bulk(nack.consumer.name) +
                    b':%d\r\n:%d\r\n' % (elapsed, nack.delivery_count))
    return b'*%d\r\n' % len(rows) + b''.join(rows)


# -- XCLAIM / XAUTOCLAIM -----------------------------------------------------------------

@command('xclaim')
def xclaim(c, argv):
    key, groupname = argv[1], argv[2]
    s = _lookup(c, key)
    group = s.group(groupname) if s is not None else None
    if group is None:
        return error(b"NOGROUP No such key '%s' or consumer group '%s'" % (key, groupname))
    minidle = _get_ll(argv[4], b'Invalid min-idle-time argument for XCLAIM')
    if minidle < 0:
        minidle = 0
    argc = len(argv)
    ids = []
    j = 5
    while j < argc:
        try:
            ids.append(parse_id(argv[j], 0, strict=True))
        except CommandError:
            break
        j += 1
    last_id_arg = j - 1
    now = now_ms()
    retrycount = -1
    deliverytime = -1
    force = justid = False
    last_id = 0
    while j < argc:
        more = argc - 1 - j
        opt = argv[j].lower()
        if opt == b'force':
            force = True
        elif opt == b'justid':
            justid = True
        elif opt == b'idle' and more:
            j += 1
            deliverytime = now - _get_ll(argv[j], b'Invalid IDLE option argument for XCLAIM')
        elif opt == b'time' and more:
            j += 1
            deliverytime = _get_ll(argv[j], b'Invalid TIME option argument for XCLAIM')
        elif opt == b'retrycount' and more:
            j += 1
            retrycount = _get_ll(argv[j], b'Invalid RETRYCOUNT option argument for XCLAIM')
        elif opt == b'lastid' and more:
            j += 1
            last_id = parse_id(argv[j], 0, strict=True)
        else:
            return error(b"ERR Unrecognized XCLAIM option '%s'" % argv[j])
        j += 1
    propagate_last_id = False
    if last_id > group.last_id:
        group.last_id = last_id
        propagate_last_id = True
    if deliverytime != -1:
        if deliverytime < 0 or deliverytime > now:
            deliverytime = now
    else:
        deliverytime = now
    consumer = None
    name = argv[3]
    out = []
    ops = []
    server = c.server
    for k in range(5, last_id_arg + 1):
        eid = ids[k - 5]
        nack = group.pel.get(eid)
        e = s.get(eid)
        if e is None:
            if nack is not None:
                ops.append(_xclaim_argv_raw(key, group, argv[k], nack))
                propagate_last_id = False
                server.dirty += 1
                group.pel.remove(eid)
                nack.consumer.pel.remove(eid)
            continue
        if force and nack is None:
            nack = st.Nack(None, now)
            group.pel.add(eid, nack)
        if nack is None:
            continue
        if nack.consumer is not None and minidle:
            if now - nack.delivery_time < minidle:
                continue
        if consumer is None:
            consumer = _lookup_consumer(group, name, now)
            if consumer is None:
                consumer = _create_consumer(c, group, name, key, now)
        if nack.consumer is not consumer and nack.consumer is not None:
            nack.consumer.pel.remove(eid)
        nack.delivery_time = deliverytime
        if retrycount >= 0:
            nack.delivery_count = retrycount
        elif not justid:
            nack.delivery_count += 1
        if nack.consumer is not consumer:
            consumer.pel.add(eid, nack)
            nack.consumer = consumer
        out.append(id_reply(eid) if justid else entry_reply(eid, e))
        ops.append(_xclaim_argv_raw(key, group, argv[k], nack))
        propagate_last_id = False
        server.dirty += 1
    if propagate_last_id:
        ops.append(_setid_argv(key, group))
        server.dirty += 1
    c.propagate_argv = ops
    return b'*%d\r\n' % len(out) + b''.join(out)


def _xclaim_argv_raw(key, group, idarg, nack):
    argv = _xclaim_argv(key, group, 0, nack)
    argv[5] = idarg
    return argv


@command('xautoclaim')
def xautoclaim(c, argv):
    key, groupname = argv[1], argv[2]
    s, err = c.db.lookup_typed(key, STREAM)
    minidle = _get_ll(argv[4], b'Invalid min-idle-time argument for XAUTOCLAIM')
    if minidle < 0:
        minidle = 0
    start = _parse_range_start(argv[5])
    count = 100
    justid = False
    argc = len(argv)
    j = 6
    while j < argc:
        more = argc - 1 - j
        opt = argv[j].lower()
        if opt == b'count' and more:
            v = string2ll(argv[j + 1])
            if v is None or v < 1 or v > ((1 << 63) - 1) // 10:
                return b'-ERR COUNT must be > 0\r\n'
            count = v
            j += 1
        elif opt == b'justid':
            justid = True
        else:
            return SYNTAX_ERR
        j += 1
    if err:
        return err
    group = s.group(groupname) if s is not None else None
    if group is None:
        return error(b"NOGROUP No such key '%s' or consumer group '%s'" % (key, groupname))
    consumer = None
    attempts = count * 10
    now = now_ms()
    name = argv[3]
    out = []
    deleted = []
    ops = []
    server = c.server
    pel = group.pel
    keys = pel.from_id(start)
    pos = 0
    nkeys = len(keys)
    while attempts and count and pos < nkeys:
        attempts -= 1
        eid = keys[pos]
        pos += 1
        nack = pel.get(eid)
        e = s.get(eid)
        if e is None:
            ops.append(_xclaim_argv(key, group, eid, nack))
            server.dirty += 1
            pel.remove(eid)
            nack.consumer.pel.remove(eid)
            deleted.append(eid)
            count -= 1
            continue
        if minidle and now - nack.delivery_time < minidle:
            continue
        if consumer is None:
            consumer = _lookup_consumer(group, name, now)
            if consumer is None:
                consumer = _create_consumer(c, group, name, key, now)
        if nack.consumer is not consumer and nack.consumer is not None:
            nack.consumer.pel.remove(eid)
        nack.delivery_time = now
        if not justid:
            nack.delivery_count += 1
        if nack.consumer is not consumer:
            consumer.pel.add(eid, nack)
            nack.consumer = consumer
        out.append(id_reply(eid) if justid else entry_reply(eid, e))
        count -= 1
        ops.append(_xclaim_argv(key, group, eid, nack))
        server.dirty += 1
    next_id = keys[pos] if pos < nkeys else 0
    c.propagate_argv = ops
    return (b'*3\r\n' + id_reply(next_id) + b'*%d\r\n' % len(out) + b''.join(out) +
            b'*%d\r\n' % len(deleted) + b''.join(id_reply(i) for i in deleted))


# -- XINFO -------------------------------------------------------------------------------

def _xinfo_stream(c, s, argv):
    full = True
    count = 10
    optv = argv[3:]
    if not optv:
        full = False
    else:
        if len(optv) not in (1, 3) or optv[0].lower() != b'full':
            return subcommand_syntax_error(argv)
        if len(optv) == 3:
            if optv[1].lower() != b'count':
                return subcommand_syntax_error(argv)
            count = _get_ll(optv[2])
            if count < 0:
                count = 10
    r = c.resp
    out = [_map(9 if full else 10, r),
           b'$6\r\nlength\r\n', integer(s.length),
           b'$15\r\nradix-tree-keys\r\n', integer(len(s.nodes)),
           b'$16\r\nradix-tree-nodes\r\n', integer(s.rax_nodes()),
           b'$17\r\nlast-generated-id\r\n', id_reply(s.last_id),
           b'$20\r\nmax-deleted-entry-id\r\n', id_reply(s.max_deleted),
           b'$13\r\nentries-added\r\n', integer(s.entries_added),
           b'$23\r\nrecorded-first-entry-id\r\n', id_reply(s.first_id)]
    if not full:
        out += [b'$6\r\ngroups\r\n', integer(len(s.groups) if s.groups else 0)]
        out.append(b'$11\r\nfirst-entry\r\n')
        first = next(s.iter_range(0, MAX_ID), None)
        out.append(entry_reply(first[0], first[1]) if first else _null(c))
        out.append(b'$10\r\nlast-entry\r\n')
        last = next(s.iter_range(0, MAX_ID, True), None)
        out.append(entry_reply(last[0], last[1]) if last else _null(c))
        return b''.join(out)
    out.append(b'$7\r\nentries\r\n')
    out.append(range_reply(s, 0, MAX_ID, count, False))
    out.append(b'$6\r\ngroups\r\n')
    groups = s.sorted_groups()
    out.append(b'*%d\r\n' % len(groups))
    for g in groups:
        out += [_map(7, r), b'$4\r\nname\r\n', _bulk(g.name),
                b'$17\r\nlast-delivered-id\r\n', id_reply(g.last_id),
                b'$12\r\nentries-read\r\n',
                integer(g.entries_read) if g.entries_read != INVALID_ENTRIES_READ
                else _null(c),
                b'$3\r\nlag\r\n', _lag(c, s, g),
                b'$9\r\npel-count\r\n', integer(len(g.pel)),
                b'$7\r\npending\r\n']
        rows = []
        for i in g.pel.keys:
            if count and len(rows) >= count:
                break
            nack = g.pel.map[i]
            rows.append(b'*4\r\n' + id_reply(i) + _bulk(nack.consumer.name) +
                        b':%d\r\n:%d\r\n' % (nack.delivery_time, nack.delivery_count))
        out.append(b'*%d\r\n' % len(rows))
        out += rows
        consumers = g.sorted_consumers()
        out.append(b'$9\r\nconsumers\r\n*%d\r\n' % len(consumers))
        for cons in consumers:
            out += [_map(4, r), b'$4\r\nname\r\n', _bulk(cons.name),
                    b'$9\r\nseen-time\r\n', integer(cons.seen_time),
                    b'$9\r\npel-count\r\n', integer(len(cons.pel)),
                    b'$7\r\npending\r\n']
            rows = []
            for i in cons.pel.keys:
                if count and len(rows) >= count:
                    break
                nack = cons.pel.map[i]
                rows.append(b'*3\r\n' + id_reply(i) +
                            b':%d\r\n:%d\r\n' % (nack.delivery_time, nack.delivery_count))
            out.append(b'*%d\r\n' % len(rows))
            out += rows
    return b''.join(out)


def _lag(c, s, g):
    lag = s.group_lag(g)
    return _null(c) if lag is None else integer(lag)


def _xinfo_key(c, argv):
    s, err = c.db.lookup_typed(argv[2], STREAM)
    if err:
        raise CommandError(err)
    if s is None:
        raise CommandError(NO_SUCH_KEY_ERR)
    return s


@command('xinfo|stream')
def xinfo_stream(c, argv):
    return _xinfo_stream(c, _xinfo_key(c, argv), argv)


@command('xinfo|groups')
def xinfo_groups(c, argv):
    s = _xinfo_key(c, argv)
    r = c.resp
    groups = s.sorted_groups()
    out = [b'*%d\r\n' % len(groups)]
    for g in groups:
        out += [_map(6, r), b'$4\r\nname\r\n', _bulk(g.name),
                b'$9\r\nconsumers\r\n', integer(len(g.consumers)),
                b'$7\r\npending\r\n', integer(len(g.pel)),
                b'$17\r\nlast-delivered-id\r\n', id_reply(g.last_id),
                b'$12\r\nentries-read\r\n',
                integer(g.entries_read) if g.entries_read != INVALID_ENTRIES_READ
                else _null(c),
                b'$3\r\nlag\r\n', _lag(c, s, g)]
    return b''.join(out)


@command('xinfo|consumers')
def xinfo_consumers(c, argv):
    s = _xinfo_key(c, argv)
    g = s.group(argv[3])
    if g is None:
        return error(b"NOGROUP No such consumer group '%s' for key name '%s'"
                     % (argv[3], argv[2]))
    r = c.resp
    now = now_ms()
    consumers = g.sorted_consumers()
    out = [b'*%d\r\n' % len(consumers)]
    for cons in consumers:
        idle = now - cons.seen_time
        if idle < 0:
            idle = 0
        out += [_map(3, r), b'$4\r\nname\r\n', _bulk(cons.name),
                b'$7\r\npending\r\n', integer(len(cons.pel)),
                b'$4\r\nidle\r\n', integer(idle)]
    return b''.join(out)


XINFO_HELP = [
    'CONSUMERS <key> <groupname>',
    '    Show consumers of <groupname>.',
    'GROUPS <key>',
    '    Show the stream consumer groups.',
    'STREAM <key> [FULL [COUNT <count>]',
    '    Show information about the stream.',
]


@command('xinfo|help')
def xinfo_help(c, argv):
    return help_reply('XINFO', XINFO_HELP)

