"""Transactions (multi.c): MULTI, EXEC, DISCARD, WATCH, UNWATCH.

Queueing happens in Server._gated: while ``client.multi`` is a list, every
command but EXEC/DISCARD/MULTI/WATCH/QUIT/RESET is appended to it and
answered ``+QUEUED``; a command rejected while queueing (unknown, wrong
arity, denied by a server gate) sets ``client.dirty_exec`` so that EXEC
answers -EXECABORT, as Redis's flagTransaction does.

WATCH keeps two sides, like Redis's watched_keys dicts:

    db.watched      key -> set of clients watching it in that database
    client.watched  (db, key) -> True if the key was already logically
                    expired when it was watched

Any write to a watched key reaches Server.signal_modified (Database.set/
add/delete call it, and so does every path that changes a key in place or
its TTL), which sets ``client.dirty_cas``. Flushes and SWAPDB go through
Server.touch_all_watched_keys_in_db. The expired flag reproduces Redis 7.0:
a key that was already expired when watched and is then deleted by expiry
has not logically changed, while a key that expires after WATCH fails the
EXEC even when nobody has deleted it yet (isWatchedKeyExpired).

EXEC runs the queued commands through Server.call with ``server.in_exec``
set, so their propagation is queued rather than flushed per command; the
queue is flushed once at the end, wrapped in MULTI ... EXEC when it holds
more than one operation (a transaction with a single write is propagated as
that write alone, as Redis 7.0 does). Errors inside EXEC are just replies:
nothing is rolled back.
"""

from . import command, lookup
from ..networking import REPLY_OFF, REPLY_SKIP
from ..resp import OK, null_array

EXECABORT = b'-EXECABORT Transaction discarded because of previous errors.\r\n'


# -- WATCH bookkeeping ------------------------------------------------------------

def watch_key(c, db, key):
    watched = c.watched
    if watched is None:
        watched = c.watched = {}
    wk = (db, key)
    if wk in watched:
        return
    watched[wk] = db.is_expired(key)
    clients = db.watched.get(key)
    if clients is None:
        clients = db.watched[key] = set()
    clients.add(c)


def unwatch_all(c):
    watched = c.watched
    if not watched:
        c.watched = None
        return
    for db, key in watched:
        clients = db.watched.get(key)
        if clients is not None:
            clients.discard(c)
            if not clients:
                del db.watched[key]
    c.watched = None


def watched_key_expired(c):
    """isWatchedKeyExpired: a key watched while alive that is now past its
    TTL counts as modified, deleted or not."""
    if not c.watched:
        return False
    for (db, key), was_expired in c.watched.items():
        if not was_expired and db.is_expired(key):
            return True
    return False


def discard_transaction(c):
    c.multi = None
    c.dirty_cas = False
    c.dirty_exec = False
    unwatch_all(c)
    c.update_gate()


# -- commands -------------------------------------------------------------------------

@command('multi')
def multi(c, argv):
    if c.multi is not None:
        return b'-ERR MULTI calls can not be nested\r\n'
    c.multi = []
    c.update_gate()
    return OK


@command('discard')
def discard(c, argv):
    if c.multi is None:
        return b'-ERR DISCARD without MULTI\r\n'
    discard_transaction(c)
    return OK


@command('watch')
def watch(c, argv):
    if c.multi is not None:
        return b'-ERR WATCH inside MULTI is not allowed\r\n'
    db = c.db
    for key in argv[1:]:
        watch_key(c, db, key)
    return OK


@command('unwatch')
def unwatch(c, argv):
    unwatch_all(c)
    c.dirty_cas = False
    return OK


class _QueuedFlags:
    """What the server gates need to know about a transaction as a whole:
    Redis checks EXEC against the union of its queued commands' flags
    (write, denyoom) and the intersection of 'loading'/'stale'."""

    def __init__(self, exec_cmd, queued):
        cmds = [cmd for cmd, _ in queued]
        self.fullname = exec_cmd.fullname
        self.name = exec_cmd.name
        self.flags = exec_cmd.flags
        self.parent = None
        self.is_write = any(x.is_write for x in cmds)
        self.denyoom = any(x.denyoom for x in cmds)
        self.may_replicate = any(x.may_replicate for x in cmds)
        self.admin = any(x.admin for x in cmds)
        self.loading = all(x.loading for x in cmds)
        self.stale = all(x.stale for x in cmds)
        self.no_auth = exec_cmd.no_auth
        self.no_multi = False
        self.pubsub_ok = False


@command('exec')
def exec_(c, argv):
    if c.multi is None:
        return b'-ERR EXEC without MULTI\r\n'
    server = c.server
    if watched_key_expired(c):
        c.dirty_cas = True
    if c.dirty_exec or c.dirty_cas:
        reply = EXECABORT if c.dirty_exec else null_array(c.resp)
        discard_transaction(c)
        return reply
    queued = c.multi
    if server.gated and queued:
        err = server._server_gates(c, _QueuedFlags(lookup(b'exec'), queued), argv)
        if err is not None:
            return exec_abort(c, err)
    # Unwatch first: the transaction's own writes must not matter.
    unwatch_all(c)
    if not c.reply_mode & (REPLY_OFF | REPLY_SKIP):
        # (Silenced, the replies of the commands are too: call() drops them.)
        c.out.append(b'*%d\r\n' % len(queued))
    server.in_exec = True
    server.exec_request = (c, lookup(argv[0]), argv)
    try:
        call = server.call
        for cmd, args in queued:
            if c.user.restricted:
                # The rules may have changed since the command was queued.
                err = server.acl.check_exec(c, cmd, args)
                if err is not None:
                    server.error_replied(err)
                    c.out.append(err)
                    continue
            call(c, cmd, args)
    finally:
        server.in_exec = False
        server.exec_request = None
        discard_transaction(c)
    server.flush_propagation()
    return None


def exec_abort(c, err):
    """execCommandAbort: EXEC itself was rejected (wrong arity, NOAUTH, a
    server gate...): the transaction is discarded and the error says why."""
    discard_transaction(c)
    msg = err[1:]
    if msg.startswith(b'ERR '):
        # Redis formats these rejections without the code (rejectCommandFormat).
        msg = msg[4:]
    return b'-EXECABORT Transaction discarded because of: %s' % msg


# -- hooks -----------------------------------------------------------------------------

def _forget_client(c):
    unwatch_all(c)
    c.multi = None


def attach(server):
    server.client_close_hooks.append(_forget_client)
    server.reset_hooks.append(unwatch_all)
    server.exec_abort = exec_abort
