"""CLIENT TRACKING: server-assisted client-side caching (tracking.c).

Default mode: the keys a tracking client reads (read-only commands; with
OPTIN only after CLIENT CACHING yes, with OPTOUT unless CLIENT CACHING no)
are remembered in one table, key -> ids of the clients that may cache it,
keys being names, whatever the database (as in Redis). When a key is
modified (Server.signal_modified, which every write runs; expiry and
eviction deletions too), each remembered client gets one invalidation
message and the key is forgotten. BCAST mode: the client names prefixes
(none: every key) and is told of every modified key under them, batched
once per turn of the event loop, with no table. FLUSHDB/FLUSHALL send a
null invalidation (every key) to every tracking client.

Messages: RESP3 clients get ``>2 invalidate [keys]`` pushes; with REDIRECT
the messages go to the other client instead, as pushes if it speaks RESP3,
or as ``message`` on the ``__redis__:invalidate`` channel when it is
subscribed in RESP2. A message for the client running the command is
queued until its reply is written (the invalidation follows the reply), as
Redis 7.0 does. A redirect target that has gone: RESP3 clients are told
with a ``tracking-redir-broken`` push.

A tracking client is not gated: its commands run on the trusted path
(_speedups.run_requests) as anyone's. While it tracks, that loop makes it
``server.current_client`` and, after each of its commands, does what
call() and process_command do here: the keys of a read are remembered
(``after_call``; a command whose keys are a plain range (``_key_finder``)
has them put in the table by the C helper ``remember_keys``, the one the
Python path uses too) and the messages for it are sent after its reply
(``after_command``, called when one is pending or CLIENT CACHING's flag is
set: ``fast_state`` tells that loop which). The rules (``remembers``, the
finders) live here only. Other clients pay one test per read of their socket.
tracking-table-max-keys: when the table holds more keys, random ones are
invalidated (and forgotten) until it fits.

The keys a script's commands read are remembered for the script's caller
(after_call maps the script client to it); the C redis.call path
(_scripting.c) leaves every call to the Python one while anyone tracks.
"""

import random

from .resp import bulk_array


def remember_keys_py(table, cid, argv, first, last, step):
    """Put ``cid`` in the table's set of each key argv[first:last+1:step]
    (last < 0: from the end); returns how many sets it was added to. (The
    C extension's remember_keys, which the trusted path uses too, is the
    same.)"""
    if last < 0:
        last += len(argv)
    added = 0
    for pos in range(first, min(last, len(argv) - 1) + 1, step):
        key = argv[pos]
        ids = table.get(key)
        if ids is None:
            ids = table[key] = {}
        if cid not in ids:
            ids[cid] = None
            added += 1
    return added


try:
    from ._speedups import remember_keys
except ImportError:
    remember_keys = remember_keys_py

TRACKING, BCAST, OPTIN, OPTOUT, NOLOOP, CACHING, BROKEN_REDIR = (
    1, 2, 4, 8, 16, 32, 64)

CHANNEL = b'__redis__:invalidate'


class ClientTracking:
    __slots__ = ('flags', 'redirect', 'prefixes')

    def __init__(self):
        self.flags = 0
        self.redirect = 0
        self.prefixes = []

    def letters(self):
        """CLIENT LIST's flags of a tracking client: t, then R when its
        redirect target is gone, B in BCAST mode."""
        f = b't'
        if self.flags & BROKEN_REDIR:
            f += b'R'
        if self.flags & BCAST:
            f += b'B'
        return f


class _Sentinel:
    """Kept in every db.watched while clients track, so that the handlers'
    ``if db.watched: server.signal_modified(...)`` always runs."""
    __slots__ = ()


_SENTINEL = _Sentinel()


class Tracking:
    def __init__(self, server):
        self.server = server
        self.clients = server.tracked = {}  # client id -> ClientTracking
        self.table = {}         # key -> {client id: None}
        self.items = 0          # sum of the table's client sets
        self.prefixes = {}      # BCAST prefix -> {client id: None}
        self.bcast_keys = {}    # prefix -> {key: client id that modified it}
        self.bcast_scheduled = False
        self.pending = []       # (client, value) for the running client
        self.finders = {}       # Command -> how to find its keys (_key_finder)
        self.flush_pending = False

    # -- enabling -----------------------------------------------------------------

    def state(self, c):
        return self.clients.get(c.id)

    def redirect_of(self, c):
        """CLIENT LIST's redir: the redirection of a tracking client, else -1."""
        t = self.clients.get(c.id)
        return t.redirect if t is not None else -1

    def enable(self, c, redirect, options, prefixes):
        t = self.clients.get(c.id)
        if t is None:
            t = self.clients[c.id] = ClientTracking()
        t.flags = TRACKING | (options & (BCAST | OPTIN | OPTOUT | NOLOOP))
        c.update_gate()
        t.redirect = redirect
        if options & BCAST:
            for p in (prefixes or [b'']):
                if p not in t.prefixes:
                    t.prefixes.append(p)
                self.prefixes.setdefault(p, {})[c.id] = None
        self._changed()

    def disable(self, c):
        t = self.clients.pop(c.id, None)
        if t is None:
            return
        c.update_gate()
        for p in t.prefixes:
            ids = self.prefixes.get(p)
            if ids is not None:
                ids.pop(c.id, None)
                if not ids:
                    del self.prefixes[p]
                    self.bcast_keys.pop(p, None)
        self._changed()

    def _changed(self):
        server = self.server
        on = bool(self.clients)
        if on != server.tracking_on:
            server.tracking_on = on
            for db in server.dbs:
                if on:
                    db.watched[_SENTINEL] = {}
                else:
                    db.watched.pop(_SENTINEL, None)

    # -- remembering reads --------------------------------------------------------------

    def _key_finder(self, cmd):
        """How to find a command's keys, once per command: None (not a
        read to remember), a (first, last, step) range when the legacy key
        positions say it all, or True (ask the key specs)."""
        if ('readonly' not in cmd.flags or 'pubsub' in cmd.flags
                or cmd.name in (b'eval_ro', b'evalsha_ro', b'fcall_ro')):
            finder = None
        elif 'movablekeys' not in cmd.flags and cmd.first_key > 0:
            finder = (cmd.first_key, cmd.last_key, cmd.key_step)
        else:
            finder = True
        self.finders[cmd] = finder
        return finder

    @staticmethod
    def remembers(flags):
        """Whether a client with these flags has its reads remembered now
        (trackingRememberKeys's conditions): not BCAST; with OPTIN only
        after CLIENT CACHING yes, with OPTOUT unless CLIENT CACHING no."""
        if flags & BCAST:
            return False
        if flags & OPTIN and not flags & CACHING:
            return False
        if flags & OPTOUT and flags & CACHING:
            return False
        return True

    def fast_state(self, t):
        """What the trusted path (run_requests) needs to know of a tracking
        client's state, read again after each after_command: whether its
        reads are remembered now, and whether each command must be followed
        by after_command whatever is pending (CLIENT CACHING's flag lasts
        one command)."""
        return self.remembers(t.flags), bool(t.flags & CACHING)

    def after_call(self, c, cmd, argv):
        """A command ran (call()): remember the keys a tracking client read.
        A script's commands read for the script's caller (call()'s
        server.script_caller)."""
        t = self.clients.get(c.id)
        if t is None:
            host = self.server.scripting
            if host is None or c is not host.client or host.ctx is None:
                return
            c = host.ctx.caller
            t = self.clients.get(c.id)
            if t is None:
                return
        if not self.remembers(t.flags):
            return
        finder = self.finders.get(cmd, False)
        if finder is False:
            finder = self._key_finder(cmd)
        if finder is None:
            return
        table = self.table
        cid = c.id
        if finder is True:
            from .commands import command_keys
            keys = command_keys(cmd, argv)
            if keys.__class__ is bytes:
                return
            for pos, _ in keys:
                self.items += remember_keys(table, cid, argv, pos, pos, 1)
        else:
            self.items += remember_keys(table, cid, argv, *finder)
        limit = self.server.config.tracking_table_max_keys
        if limit and len(table) > limit:
            self._limit(limit)

    def _limit(self, limit):
        """trackingLimitUsedSlots: invalidate random keys until it fits."""
        table = self.table
        while len(table) > limit:
            key = random.choice(list(table))
            self.invalidate(key, bcast=False)

    def after_command(self, c, cmd):
        """The command (or the whole EXEC) is over: its client's queued
        invalidations follow its reply; a CACHING yes/no applies to the one
        command (or transaction) after CLIENT CACHING."""
        t = self.clients.get(c.id)
        # (Any CLIENT subcommand keeps it, as Redis's resetClient does.)
        if t is not None and t.flags & CACHING and c.multi is None \
                and (cmd.parent if cmd.parent is not None else cmd).name != b'client':
            t.flags &= ~CACHING
        if self.flush_pending:
            self.flush_pending = False
            for cid in list(self.clients):
                target = self.server.clients.get(cid)
                if target is not None:
                    self.send(target, None)
        if self.pending:
            pending, self.pending = self.pending, []
            for target, key in pending:
                self.send(target, key, deferred=True)

    # -- invalidating ------------------------------------------------------------

    def invalidate(self, key, bcast=True, current=None):
        """trackingInvalidateKey: ``key`` was modified (by ``current``)."""
        if current is None:
            current = self.server.current_client
        if bcast and self.prefixes:
            for p, keys in self._matching_prefixes(key):
                keys[key] = current.id if current is not None else 0
            self._schedule_bcast()
        ids = self.table.pop(key, None)
        if ids is None:
            return
        self.items -= len(ids)
        clients = self.server.clients
        for cid in ids:
            target = clients.get(cid)
            t = self.clients.get(cid)
            if target is None or t is None or t.flags & BCAST:
                continue
            if t.flags & NOLOOP and target is current:
                continue
            if target is current:
                self.pending.append((target, key))
            else:
                self.send(target, key)

    def _matching_prefixes(self, key):
        for p in self.prefixes:
            if key.startswith(p):
                yield p, self.bcast_keys.setdefault(p, {})

    def _schedule_bcast(self):
        if not self.bcast_scheduled and self.server.loop is not None:
            self.bcast_scheduled = True
            self.server.loop.call_soon(self._broadcast)

    def _broadcast(self):
        """trackingBroadcastInvalidationMessages (beforeSleep)."""
        self.bcast_scheduled = False
        bcast_keys, self.bcast_keys = self.bcast_keys, {}
        clients = self.server.clients
        # (Prefixes and keys in byte order: Redis's radix trees.)
        for p, keys in sorted(bcast_keys.items()):
            if not keys:
                continue
            for cid in list(self.prefixes.get(p, ())):
                target = clients.get(cid)
                t = self.clients.get(cid)
                if target is None or t is None:
                    continue
                if t.flags & NOLOOP:
                    names = sorted(k for k, by in keys.items() if by != cid)
                else:
                    names = sorted(keys)
                if names:
                    self.send(target, names)
                    if target.out:
                        target.flush()

    def on_flush(self, server, db):
        """FLUSHDB/FLUSHALL (once per command): every tracking client gets
        a null invalidation; the table is emptied."""
        if self.clients and not self.flush_pending:
            self.flush_pending = True
            if server.current_client is None and server.loop is not None:
                # A command on the trusted path (FLUSHALL empties every
                # database: one message): sent once it is over.
                server.loop.call_soon(self.after_command_flush)
        self.table.clear()
        self.items = 0

    def after_command_flush(self):
        self.flush_pending = False
        for cid in list(self.clients):
            target = self.server.clients.get(cid)
            if target is not None:
                self.send(target, None)
                if target.out:
                    target.flush()

    # -- messages ---------------------------------------------------------------

    def send(self, c, keys, deferred=False):
        """sendTrackingMessage: ``keys`` a key, a list of keys (BCAST) or
        None (a flush: null)."""
        t = self.clients.get(c.id)
        if t is None:
            return
        target = c
        redirected = False
        if t.redirect:
            target = self.server.clients.get(t.redirect)
            if target is None or target.closing:
                t.flags |= BROKEN_REDIR
                if c.resp > 2:
                    self._out(c, b'>2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n' % t.redirect)
                return
            redirected = True
        if keys is None:
            value = b'_\r\n' if c.resp > 2 else b'$-1\r\n'
        elif keys.__class__ is list:
            value = bulk_array(keys)
        else:
            value = b'*1\r\n$%d\r\n%s\r\n' % (len(keys), keys)
        if target.resp > 2:
            msg = b'>2\r\n$10\r\ninvalidate\r\n' + value
        elif redirected and (target.subscriptions or target.psubscriptions
                             or target.ssubscriptions):
            msg = b'*3\r\n$7\r\nmessage\r\n$20\r\n%s\r\n' % CHANNEL + value
        else:
            return
        self._out(target, msg)

    def _out(self, target, msg):
        if target.closing:
            return
        target.out.append(msg)
        if target is not self.server.current_client:
            target.flush()

    # -- the client's end ---------------------------------------------------------

    def client_closed(self, c):
        self.disable(c)


def attach(server):
    tr = server.tracking = Tracking(server)
    server.client_close_hooks.append(tr.client_closed)
    server.reset_hooks.append(tr.disable)
    server.flush_hooks.append(tr.on_flush)
