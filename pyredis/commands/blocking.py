"""Blocking commands and the machinery behind them (blocked.c).

BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX and BZMPOP
first try to do their work at once, exactly as their non-blocking variants
(LPOP, LMOVE, LMPOP, ZPOPMIN, ZMPOP). Only when every key is missing do they
block:

* ``block`` registers the client under each key in ``db.blocking_keys``
  (key -> insertion-ordered dict of clients, so the first client to block is
  the first served), stops processing its later requests
  (``client.paused_reading``; networking keeps them buffered) and, for a
  non-zero timeout, arms one ``loop.call_later`` timer. A waiting client
  costs a dict entry per key and a timer: nothing runs while it waits.

* ``db.add`` signals a key that some client waits for
  (``Server.signal_key_ready``), whatever created it: a push, RENAME, MOVE,
  COPY, SWAPDB, a command inside EXEC... The server then schedules
  ``handle_ready_keys`` with ``call_soon``: it runs after the command (and
  after a whole EXEC) that created the key, serves the clients blocked on
  each ready key in the order they blocked, as long as the value is still
  there and of the type they wait for, and loops while serving creates new
  ready keys (BLMOVE pushing into a key others wait for). Redis serves them
  right after the command that made the key ready; so that a pipelined
  "RPUSH k a; LPOP k" cannot overtake a client blocked on k, the list push
  commands call ``hold_until_served``, which holds the pusher's next
  requests (``paused_reading``) until the pass has run.

* Serving a client runs the same helpers as the immediate path (lists.py's
  pop/move helpers, zsets.zpop), so replies, keyspace events and the empty
  key deletion are identical. It is propagated as the deterministic command
  Redis propagates (LPOP/RPOP [count], LMOVE/RPOPLPUSH, ZPOPMIN/ZPOPMAX
  [count]), one served client at a time.

* The client is unblocked by being served, by its timer (null array reply),
  by CLIENT UNBLOCK, or by disconnecting (``client_close_hooks``); in every
  case it leaves all its keys and its timer is cancelled, and a served
  client's buffered requests run next (``client.resume``, scheduled).

Inside MULTI/EXEC a blocking command never blocks: it answers as on timeout
(a null array, or a null bulk for BLMOVE/BRPOPLPUSH), as Redis does.
"""

import functools
import math
from ..values import QuickList

from . import command
from . import lists
from .. import clock, log
from ..resp import ZERO, ONE, WRONGTYPE_ERR, NULL_ARRAY, NULL_BULK, NULL3, SYNTAX_ERR, \
    NOT_INT_ERR
from ..util import strtod, string2ll
from ..resp import TIMEOUT_NEGATIVE_ERR

TIMEOUT_FLOAT_ERR = b'-ERR timeout is not a float or out of range\r\n'
TWO63 = float(1 << 63)
# Delays beyond this (about 31 years) are as good as forever, and would
# overflow the event loop's timer arithmetic.
MAX_TIMER_SECONDS = 1e9


class BlockState:
    """client.blocked while a client waits for keys."""
    __slots__ = ('db', 'keys', 'serve', 'timer', 'kind', 'timed', 'deadline', 'on_timeout')

    def __init__(self, db, keys, serve, kind, on_timeout=None):
        self.db = db
        self.keys = keys
        self.serve = serve       # function(client, key, value) -> reply or None
        self.timer = None
        self.kind = kind         # b'list' or b'zset': what it waits for
        self.timed = False       # counted in INFO's clients_in_timeout_table
        self.deadline = None     # on the server clock, for when it jumps
        # A module's timeout reply (fn(client) -> reply); a module client
        # blocked without one is not ended by CLIENT UNBLOCK
        # (moduleBlockedClientMayTimeout).
        self.on_timeout = on_timeout


def parse_timeout(arg):
    """getTimeoutFromObjectOrReply (seconds, long double): milliseconds
    (0 = forever) or an error reply. The product is rounded up, so any
    positive timeout waits at least a millisecond; values that do not fit
    a long long end up negative in C, hence Redis's error for them."""
    v = strtod(arg)
    if v is None:
        return TIMEOUT_FLOAT_ERR
    ms = v * 1000.0
    if not -TWO63 <= ms < TWO63:
        return TIMEOUT_NEGATIVE_ERR
    ms = math.ceil(ms)
    if ms < 0:
        return TIMEOUT_NEGATIVE_ERR
    return ms


def deny_blocking(c):
    """CLIENT_DENY_BLOCKING: inside a transaction, the master's stream, or a
    client without a connection (the AOF loader)."""
    return c.server.in_exec or c.multi is not None or c.is_master or c.transport is None


def block(c, keys, timeout_ms, serve, kind, on_timeout=None):
    """blockForKeys: park the client until one of keys can serve it (a
    module's client, kind b'module', waits for no key: for its module)."""
    server = c.server
    db = c.db
    state = BlockState(db, list(dict.fromkeys(keys)), serve, kind, on_timeout)
    bk = db.blocking_keys
    for key in state.keys:
        clients = bk.get(key)
        if clients is None:
            clients = bk[key] = {}
        clients[c] = None
    if timeout_ms:
        state.timed = True
        server.clients_in_timeout_table += 1
        delay = timeout_ms / 1000.0
        state.deadline = clock.time() + delay
        if delay < MAX_TIMER_SECONDS:
            state.timer = server.loop.call_later(delay, _timed_out, c, state)
    c.blocked = state
    c.paused_reading = True
    server.blocked_clients += 1
    return None


def _leave(c, state):
    """Remove a client from every key it waits on and from the timer."""
    bk = state.db.blocking_keys
    for key in state.keys:
        clients = bk.get(key)
        if clients is not None:
            clients.pop(c, None)
            if not clients:
                del bk[key]
    if state.timer is not None:
        state.timer.cancel()
        state.timer = None
    if state.timed:
        state.timed = False
        c.server.clients_in_timeout_table -= 1
    c.blocked = None
    c.server.blocked_clients -= 1


def unblock(c, reply):
    """Send the reply of a blocked client and let it run again."""
    state = c.blocked
    if not isinstance(state, BlockState):
        return
    _leave(c, state)
    c.paused_reading = False
    if c.closing:
        return
    c.out.append(reply)
    c.flush()
    _release(c)


def _release(c):
    """Let a paused client read and run its buffered requests again, outside
    the current pass."""
    c.paused_reading = False
    if c.transport is not None:
        c.transport.resume_reading()
    c.server.loop.call_soon(c.resume)


def hold_until_served(c):
    """Called by a command of ``c`` that created a key other clients wait
    for: Redis serves them right after that command, before the next
    request of ``c`` (so a pipelined LPUSH + LPOP does not overtake them).
    ``c`` stops running its pipelined requests until the ready pass."""
    if c.transport is None or c.paused_reading or c.blocked is not None:
        return
    c.paused_reading = True
    c.server.held_for_ready_keys.append(c)


def timeout_reply(c):
    state = c.blocked
    if isinstance(state, BlockState) and state.on_timeout is not None:
        return state.on_timeout(c)
    return NULL_ARRAY if c.resp == 2 else NULL3


def _timed_out(c, state):
    if c.blocked is state:
        state.timer = None
        unblock(c, timeout_reply(c))


def _client_closed(c):
    state = c.blocked
    if isinstance(state, BlockState):
        _leave(c, state)


def handle_ready_keys(server):
    """handleClientsBlockedOnKeys: serve clients blocked on keys that were
    created since the last pass, first blocked first served."""
    while server.ready_keys:
        ready, server.ready_keys = server.ready_keys, []
        seen = set()
        for db, key in ready:
            if (db.id, key) in seen:
                continue
            seen.add((db.id, key))
            clients = db.blocking_keys.get(key)
            if not clients:
                continue
            for client in list(clients):
                value = db.data[key] if db.exists(key) else None
                state = client.blocked
                if not isinstance(state, BlockState) or state.db is not db:
                    continue
                if value is None and state.kind != b'stream':
                    # Only XREADGROUP is told that its key went away.
                    continue
                server.executing_client = client
                try:
                    reply = state.serve(client, key, value)
                except Exception as e:  # a bug must not strand the others
                    log.warning('Error serving a blocked client: %r' % (e,))
                    reply = b'-ERR internal error while serving a blocked command\r\n'
                finally:
                    server.executing_client = None
                if reply is None:
                    continue
                ops, client.propagate_argv = client.propagate_argv, None
                if ops:
                    for op in ops:
                        server.also_propagate(db.id, op)
                # Each served client is its own unit (no MULTI/EXEC around
                # several of them), as in Redis.
                server.flush_propagation()
                unblock(client, reply)
    server.flush_propagation()
    if server.held_for_ready_keys:
        held, server.held_for_ready_keys = server.held_for_ready_keys, []
        for c in held:
            if not c.closing and c.blocked is None:
                _release(c)


def attach(server):
    # Server.signal_key_ready schedules this with call_soon: it runs once
    # the command (or the whole EXEC) that created the key has finished.
    server.handle_ready_keys = functools.partial(handle_ready_keys, server)
    server.held_for_ready_keys = []
    server.clients_in_timeout_table = 0
    server.hold_until_served = hold_until_served
    server.client_close_hooks.append(_client_closed)
    server.clock_hooks.append(functools.partial(_clock_moved, server))


def _clock_moved(server):
    """The clock jumped (clock.advance): the timers run on the real clock,
    so the waits that the jump took past their timeout end here."""
    now = clock.time()
    for c in list(server.clients.values()):
        state = c.blocked
        if (isinstance(state, BlockState) and state.deadline is not None
                and state.deadline <= now):
            _timed_out(c, state)



def _propagate(c, argv):
    if c.server.propagate_targets:
        c.propagate_argv = [argv]


# -- BLPOP / BRPOP -------------------------------------------------------------

def _serve_pop(head):
    def serve(c, key, value):
        if value.__class__ is not QuickList or not value:
            return None
        _propagate(c, [b'LPOP' if head else b'RPOP', key])
        return lists.pop_reply(c, c.db, key, value, head, with_key=True)
    return serve


_SERVE_LPOP = _serve_pop(True)
_SERVE_RPOP = _serve_pop(False)


def _bpop(c, argv, head):
    timeout = parse_timeout(argv[-1])
    if timeout.__class__ is bytes:
        return timeout
    db = c.db
    keys = argv[1:-1]
    for key in keys:
        lst = db.lookup_write(key)
        if lst is None:
            continue
        if lst.__class__ is not QuickList:
            return WRONGTYPE_ERR
        _propagate(c, [b'LPOP' if head else b'RPOP', key])
        return lists.pop_reply(c, db, key, lst, head, with_key=True)
    if deny_blocking(c):
        return timeout_reply(c)
    return block(c, keys, timeout, _SERVE_LPOP if head else _SERVE_RPOP, b'list')


@command('blpop')
def blpop(c, argv):
    return _bpop(c, argv, True)


@command('brpop')
def brpop(c, argv):
    return _bpop(c, argv, False)


# -- BLMPOP ---------------------------------------------------------------------

def _serve_mpop(head, count):
    def serve(c, key, value):
        if value.__class__ is not QuickList or not value:
            return None
        return lists.mpop_reply(c, c.db, key, value, head, count)
    return serve


@command('blmpop')
def blmpop(c, argv):
    parsed = lists.parse_mpop(argv, 2)
    if parsed.__class__ is bytes:
        return parsed
    timeout = parse_timeout(argv[1])
    if timeout.__class__ is bytes:
        return timeout
    keys, head, count = parsed
    db = c.db
    for key in keys:
        lst = db.lookup_write(key)
        if lst is None:
            continue
        if lst.__class__ is not QuickList:
            return WRONGTYPE_ERR
        return lists.mpop_reply(c, db, key, lst, head, count)
    if deny_blocking(c):
        return timeout_reply(c)
    return block(c, keys, timeout, _serve_mpop(head, count), b'list')


# -- BLMOVE / BRPOPLPUSH ----------------------------------------------------------

def _move_argv(src, dst, head_from, head_to, rpoplpush, sides=None):
    """The LMOVE/RPOPLPUSH to propagate. Served at once, BLMOVE keeps its
    arguments as typed; served later, Redis spells the sides in lower case."""
    if rpoplpush:
        return [b'RPOPLPUSH', src, dst]
    if sides is None:
        sides = (b'left' if head_from else b'right', b'left' if head_to else b'right')
    return [b'LMOVE', src, dst, sides[0], sides[1]]


def _serve_move(dst, head_from, head_to, rpoplpush):
    def serve(c, key, value):
        if value.__class__ is not QuickList or not value:
            return None
        db = c.db
        dst_list = db.lookup_write(dst)
        if dst_list is not None and dst_list.__class__ is not QuickList:
            # The destination changed type meanwhile: the client gets the
            # error and nothing is popped.
            return WRONGTYPE_ERR
        _propagate(c, _move_argv(key, dst, head_from, head_to, rpoplpush))
        return lists.move_element(c, db, key, value, dst, dst_list, head_from, head_to)
    return serve


def _bmove(c, src, dst, head_from, head_to, timeout, rpoplpush, sides=None):
    db = c.db
    lst = db.lookup_write(src)
    if lst is not None:
        if lst.__class__ is not QuickList:
            return WRONGTYPE_ERR
        dst_list = db.lookup_write(dst)
        if dst_list is not None and dst_list.__class__ is not QuickList:
            return WRONGTYPE_ERR
        _propagate(c, _move_argv(src, dst, head_from, head_to, rpoplpush, sides))
        return lists.move_element(c, db, src, lst, dst, dst_list, head_from, head_to)
    if deny_blocking(c):
        return NULL_BULK if c.resp == 2 else NULL3
    return block(c, [src], timeout, _serve_move(dst, head_from, head_to, rpoplpush), b'list')


@command('blmove')
def blmove(c, argv):
    head_from = lists.parse_side(argv[3])
    head_to = lists.parse_side(argv[4])
    if head_from is None or head_to is None:
        return SYNTAX_ERR
    timeout = parse_timeout(argv[5])
    if timeout.__class__ is bytes:
        return timeout
    return _bmove(c, argv[1], argv[2], head_from, head_to, timeout, False, argv[3:5])


@command('brpoplpush')
def brpoplpush(c, argv):
    timeout = parse_timeout(argv[3])
    if timeout.__class__ is bytes:
        return timeout
    return _bmove(c, argv[1], argv[2], False, True, timeout, True)


# -- BZPOPMIN / BZPOPMAX / BZMPOP ----------------------------------------------------
# The sorted set side lives in zsets.py (zpop, parse_zmpop); imported on use
# so that this module loads whichever order the families are imported in.

def _zsets():
    from . import zsets
    return zsets


def _zpop_argv(zs, key, where, count):
    argv = [b'ZPOPMAX' if where == zs.MAX else b'ZPOPMIN', key]
    if count is not None:
        argv.append(b'%d' % count)
    return argv


def _zpop_now(c, key, z, where, count):
    """Pop from a non-empty sorted set: BZPOPMIN's [key, member, score] or
    BZMPOP's [key, [[member, score]...]] when count is given."""
    zs = _zsets()
    if count is None:
        _propagate(c, _zpop_argv(zs, key, where, None))
        return zs.zpop(c, [key], where, True, -1, False, True)[0]
    _propagate(c, _zpop_argv(zs, key, where, min(count, len(z))))
    return zs.zpop(c, [key], where, True, count, True, True)[0]


def _serve_zpop(where, count):
    def serve(c, key, value):
        zs = _zsets()
        if value.__class__ is not zs.ZSet or not len(value):
            return None
        return _zpop_now(c, key, value, where, count)
    return serve


def _bzpop_generic(c, keys, where, count, timeout):
    zs = _zsets()
    db = c.db
    for key in keys:
        z = db.lookup_write(key)
        if z is None:
            continue
        if z.__class__ is not zs.ZSet:
            return WRONGTYPE_ERR
        if not len(z):
            continue
        return _zpop_now(c, key, z, where, count)
    if deny_blocking(c):
        return timeout_reply(c)
    return block(c, keys, timeout, _serve_zpop(where, count), b'zset')


def _bzpop(c, argv, maximum):
    timeout = parse_timeout(argv[-1])
    if timeout.__class__ is bytes:
        return timeout
    zs = _zsets()
    return _bzpop_generic(c, argv[1:-1], zs.MAX if maximum else zs.MIN, None, timeout)


@command('bzpopmin')
def bzpopmin(c, argv):
    return _bzpop(c, argv, False)


@command('bzpopmax')
def bzpopmax(c, argv):
    return _bzpop(c, argv, True)


@command('bzmpop')
def bzmpop(c, argv):
    parsed = _zsets().parse_zmpop(argv, 2)
    if parsed.__class__ is bytes:
        return parsed
    timeout = parse_timeout(argv[1])
    if timeout.__class__ is bytes:
        return timeout
    keys, where, count = parsed
    return _bzpop_generic(c, keys, where, count, timeout)


# -- CLIENT UNBLOCK ----------------------------------------------------------------------

@command('client|unblock')
def client_unblock(c, argv):
    if len(argv) not in (3, 4):
        return SYNTAX_ERR
    error = False
    if len(argv) == 4:
        how = argv[3].lower()
        if how == b'error':
            error = True
        elif how != b'timeout':
            return b'-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n'
    cid = string2ll(argv[2])
    if cid is None:
        return NOT_INT_ERR
    target = c.server.clients.get(cid)
    if target is None or not isinstance(target.blocked, BlockState) or (
            target.blocked.kind == b'module' and target.blocked.on_timeout is None):
        return ZERO
    if error:
        unblock(target, b'-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n')
    else:
        unblock(target, timeout_reply(target))
    return ONE
