"""One Client per connection: read, parse, dispatch, reply (networking.c).

This is a thin adapter between asyncio and the protocol logic. The hot path
is ``data_received``: the read is parsed in C, each complete request is
executed, the replies are collected in a list and written with one
``transport.write`` per read.

Two parsers share the input, as Redis has one query buffer:

- ``parse_requests`` (C) takes the strict form of requests every client
  library sends, and plain inline lines (telnet, redis-benchmark's
  PING_INLINE: no quotes, NUL or blank line, within the inline length
  limit, split as processInlineBuffer splits them), and returns the whole
  requests at the start of the input,
  how many bytes they took, and what follows them. A request cut by the end
  of a read is kept as the client's ``tail`` (with the length the input
  must reach before it can complete), so a continuous stream of requests
  never leaves C, whatever the read boundaries. The requests it returns
  run in ``run_requests`` (C, called from ``Client._process_input``), the
  trusted request path, which inlines the common case of
  Server.process_command and Server.call: the one inlined copy, calling the
  same handlers and the same Python helpers for every effect.
- ``resp.RequestParser``, the port of Redis's own parser, takes whatever
  the C parser refuses - the other inline lines, protocol errors,
  unauthenticated clients' tighter limits - and gives Redis's exact errors. It hands the
  input back as soon as the stream is at a request boundary again.

The trusted path looks commands up in the client's own table
(``Client.dispatch``, its user's ``acl.User.table()``): the command table
itself for a user that may run anything, so that the default user's
clients pay nothing for ACLs; for a restricted user, the table acl.py
builds of the commands it may run whose permission the command and its key
arguments decide, those with keys behind a guard that checks the keys
before the real handler. Whatever is not in it (a command the user may not
run, one with channels, a container...) takes process_command, where the
full ACL check is. So a restricted user's client is not gated for its
permissions alone, and its SET/GET cost a prefix check more than the
default user's.

So a malformed request after valid ones in the same read gets its protocol
error after the valid ones ran, as in Redis. A read larger than FAIR_READ
runs a slice per turn of the event loop, so that one client's pipeline does
not hold the others back.
"""

import asyncio
import errno
import socket

from . import log, resp
from .commands import DISPATCH
from .config import repr_string
from .util import format_addr
from .resp import CommandError, RequestParser, ProtocolError
from . import clock

try:
    from ._speedups import parse_requests, run_requests, set_command_names, set_request_context
except ImportError:     # without the C extension the exact parser takes all
    def parse_requests(buf, max_bulk, inline=False):
        return [], 0, -1

    def set_command_names(names):
        pass

    run_requests = set_request_context = None


def share_command_names():
    """Let parse_requests hand out the command table's own name objects,
    so that looking a request's command up matches by identity. Only an
    optimization: any other bytes object with the same name works too."""
    set_command_names({name: name for name in DISPATCH})

# Reads of this many bytes or more give the other clients a turn before the
# next read from the same client (Redis's PROTO_IOBUF_LEN).
FAIR_READ = 16 * 1024

_NO_LIMIT = 1 << 62


class Replies(list):
    """A client's replies not written yet: a list of bytes, joined and
    written once per read. ``room`` is what LimitedReplies may still take
    before the output buffer limits are checked again."""
    __slots__ = ('client', 'room')


class LimitedReplies(Replies):
    """The replies of a client whose class has output buffer limits: each
    one counted as it is added, as Redis checks the limits on every reply,
    so that a client asking for many large replies in one read is closed
    after the first ones that cross the limit, not after all of them were
    built. (The same layout as Replies: a client changes class in place.)"""
    __slots__ = ()

    def append(self, reply):
        list.append(self, reply)
        self.room -= len(reply)
        if self.room < 0:
            self.client.check_output_limits()


# CLIENT REPLY state bits, as Redis's CLIENT_REPLY_OFF/SKIP/SKIP_NEXT flags.
REPLY_OFF, REPLY_SKIP, REPLY_SKIP_NEXT = 1, 2, 4


class IgnoredInput:
    """Stands in for the request parser of a client that will run no more
    commands: input is read (so a close is noticed) and dropped."""

    def feed(self, data):
        pass

    def pending(self):
        return 0

    def at_boundary(self):
        return False


class Client(asyncio.Protocol):
    __slots__ = ('server', 'transport', 'tail', 'need', 'slow', 'unread', 'out', 'db', 'resp',
                 'authenticated', 'id', 'name', 'addr', 'laddr', 'fd', 'ctime',
                 'last_interaction', 'closing', 'close_after_reply',
                 'reply_mode', 'no_evict', 'multi',
                 'watched', 'dirty_cas', 'subscriptions', 'psubscriptions',
                 'ssubscriptions', 'blocked', 'last_cmd', 'user',
                 'paused_reading', 'is_master', 'is_replica', 'repl',
                 'unix', 'propagate_argv', 'obuf_soft_since',
                 'tot_net_in', 'tot_net_out', 'no_touch', 'gated',
                 'dirty_exec', 'dispatch', 'rbs', 'rbp', 'rb_reset', 'qbuf_now',
                 'blocked_argv')

    def __init__(self, server, unix=False, client_id=None):
        self.server = server
        self.transport = None
        self.tail = None             # unparsed input (bytearray) for parse_requests
        self.need = 0                # the length tail must reach to be worth parsing
        self.slow = None             # RequestParser while it holds the input
        self.unread = None           # the slices of a large read not run yet (FAIR_READ)
        self.out = Replies()
        self.out.client = self
        self.obuf_soft_since = 0     # when the output went over the soft limit
        self.db = server.dbs[0]
        self.resp = 2
        self.user = server.acl.default
        self.authenticated = not server.requires_auth()
        self.id = server.next_client_id() if client_id is None else client_id
        self.name = b''
        self.addr = b''
        self.laddr = b''
        self.fd = -1
        self.unix = unix
        self.ctime = self.last_interaction = clock.time()
        self.closing = False
        self.close_after_reply = False
        self.reply_mode = 0
        self.no_evict = False
        self.no_touch = False
        self.multi = None            # list of queued (cmd, argv) inside MULTI
        self.watched = None          # list of (db, key) WATCHed
        self.dirty_cas = False
        self.subscriptions = set()
        self.psubscriptions = set()
        self.ssubscriptions = set()
        self.blocked = None          # blocking-state object while blocked
        self.last_cmd = None         # the last Command executed
        self.paused_reading = False
        self.is_master = False
        self.is_replica = False
        self.repl = None
        self.propagate_argv = None
        self.tot_net_in = self.tot_net_out = 0
        # The reply buffer Redis would have (CLIENT LIST's rbs and rbp): its
        # size and the peak written through it, which the cron resizes
        # (Server._clients_reply_buffers); a new one is 16 KB, its peak
        # full, its first reset due at once.
        self.rbs = self.rbp = 16384
        self.rb_reset = 0
        self.dirty_exec = False
        # CLIENT LIST's qbuf of the client running it: the query buffer as
        # the read being run left it (Redis trims it once the read's
        # requests ran); argv-mem of a blocked client: the command it runs.
        self.qbuf_now = 0
        self.blocked_argv = None
        # True when this client needs the slow checks in process_command
        # (not authenticated, in MULTI, subscribed, CLIENT REPLY off, or a
        # server-wide condition such as loading or being a replica). A user
        # with restricted permissions is not a gate: its table (``dispatch``)
        # holds only what the trusted path may run for it.
        self.gated = True
        self.dispatch = DISPATCH
        self.update_gate()
        if not self.authenticated:
            # Unauthenticated clients have tighter request limits, which
            # only the exact parser enforces.
            self.slow = RequestParser()

    # How MONITOR shows this client instead of its address (ScriptClient: lua).
    monitor_source = None

    def update_gate(self):
        self.gated = bool(self.server.gated or not self.authenticated or self.multi is not None
                          or self.subscriptions or self.psubscriptions
                          or self.ssubscriptions or self.reply_mode
                          or self.is_master)
        # (Called whenever the client's user or the users' rules change.)
        self.dispatch = self.user.table()
        # The client's class (normal, pubsub, replica) may have changed with
        # what changed its gate.
        self.update_output_class()

    # -- client-output-buffer-limit ----------------------------------------

    def output_limits(self):
        """(hard, soft, seconds) of the client's output buffer class
        (getClientType: a replica, a subscriber, or normal - which the
        master's client is too), or None when both limits are 0."""
        if self.is_replica:
            cls = 'slave'
        elif self.subscriptions or self.psubscriptions or self.ssubscriptions:
            cls = 'pubsub'
        else:
            cls = 'normal'
        limits = self.server.config.client_output_buffer_limit[cls]
        return limits if limits[0] or limits[1] else None

    def update_output_class(self):
        """Account the replies of a client that has output limits (Replies'
        subclass LimitedReplies counts what it holds); a client without
        any keeps the plain list, which costs nothing per reply."""
        limited = self.output_limits() is not None
        if limited != (self.out.__class__ is LimitedReplies):
            self.out.__class__ = LimitedReplies if limited else Replies
        if limited:
            self.check_output_limits()

    def memory(self):
        """What the client holds (CLIENT LIST's tot-mem): a fixed part, its
        query buffer and its output buffer."""
        return 1024 + self.pending_input() + self.output_memory()

    def output_memory(self):
        """The output buffer's size: the replies not yet written (held
        until the end of the read, or by the AOF's reply barrier) and what
        the socket has not taken yet."""
        n = sum(map(len, self.out))
        if self.transport is not None:
            n += self.transport.get_write_buffer_size()
        if self.is_replica and self.repl is not None:
            n += self.repl.pending_bytes     # the stream held for it
        return n

    def check_output_limits(self, now=None, in_cron=False):
        """checkClientOutputBufferLimits + closeClientOnOutputBufferLimitReached:
        over the hard limit, or over the soft limit for more than its
        seconds, the client is closed with its output dropped (a replica will
        resync; a normal client that never reads its replies must not grow
        the server's memory without bound). Otherwise the next check is
        armed: LimitedReplies calls here when it outgrows ``room``.
        Returns True when the client was closed."""
        out = self.out
        limits = self.output_limits()
        if limits is None or self.closing:
            out.room = _NO_LIMIT
            return False
        hard, soft, seconds = limits
        used = self.output_memory()
        over = bool(hard and used >= hard)
        if soft and used >= soft:
            if now is None:
                now = self.server.unixtime
            if not self.obuf_soft_since:
                self.obuf_soft_since = now
            elif now - self.obuf_soft_since > seconds:
                over = True
        else:
            self.obuf_soft_since = 0
        if over:
            log.warning('Client %s %s for overcoming of output buffer limits.' % (
                self.describe().decode('latin-1'),
                'closed' if in_cron else 'scheduled to be closed ASAP'))
            out.clear()
            out.room = _NO_LIMIT
            self.closing = True
            if self.transport is not None:
                # abort(): close() would wait for the unread output to drain.
                self.transport.abort()
            return True
        # The next threshold the replies may cross before the next check
        # (the soft limit's seconds are also checked at each write and in
        # the cron).
        above = [x for x in (hard, soft) if x and x > used]
        out.room = (min(above) - used) if above else (_NO_LIMIT if not hard else hard - used)
        return False

    def flags_string(self):
        f = b''
        if self.id in self.server.monitors:
            f += b'O'
        if self.is_replica:
            f += b'S'
        if self.is_master:
            f += b'M'
        if self.subscriptions or self.psubscriptions or self.ssubscriptions:
            f += b'P'
        if self.multi is not None:
            f += b'x'
        if self.blocked is not None:
            f += b'b'
        t = self.server.tracked.get(self.id)
        if t is not None:
            f += t.letters()    # CLIENT TRACKING's t, R, B
        if self.dirty_cas:
            f += b'd'
        if self.close_after_reply:
            f += b'c'
        if self.unix:
            f += b'U'
        router = self.server.cluster_router
        if router is not None and self.id in router.readonly:
            f += b'r'           # READONLY (cluster mode)
        if self.no_evict:
            f += b'e'
        if self.no_touch:
            f += b'T'
        return f or b'N'

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport):
        # (The descriptor, which only CLIENT LIST shows, is looked up when
        # it asks: Client.fileno. tcp-keepalive comes from the listener.)
        self.transport = transport
        server = self.server
        if self.unix:
            # Redis 7.0 shows the socket path for both ends.
            self.addr = self.laddr = (server.config.unixsocket or '').encode() + b':0'
        else:
            self.addr = _fmt_addr(transport.get_extra_info('peername'))
            # A listener's clients share their local address (formatted
            # once; a few per listener when it is bound to a wildcard).
            local = transport.get_extra_info('sockname')
            laddr = _LOCAL_ADDRS.get(local)
            if laddr is None:
                if len(_LOCAL_ADDRS) >= 64:
                    _LOCAL_ADDRS.clear()
                laddr = _LOCAL_ADDRS[local] = _fmt_addr(local)
            self.laddr = laddr
        reason = server.accept_client(self)
        if reason:
            transport.write(reason)
            self.closing = True
            transport.close()

    def connection_lost(self, exc):
        self.closing = True
        self.server.remove_client(self)

    def fileno(self):
        """The connection's descriptor (CLIENT LIST's fd), -1 without one."""
        if self.fd < 0 and self.transport is not None:
            sock = self.transport.get_extra_info('socket')
            if sock is not None:
                self.fd = sock.fileno()
        return self.fd

    def pause_writing(self):
        # The peer does not read as fast as it is answered. Reading its
        # requests goes on, as in Redis (a client that sends a whole
        # pipeline before reading would otherwise never finish sending):
        # the output buffer limits bound what it may hold, and the cron
        # watches it meanwhile for the soft limit's seconds.
        server = self.server
        server.output_backlog.add(self)
        if server.config.maxmemory_clients and server.loop is not None:
            # Redis looks at the clients' total after each command; here,
            # when one's output starts to back up (and in the cron).
            server.loop.call_soon(evict_clients, server)

    def resume_writing(self):
        self.server.output_backlog.discard(self)

    def data_received(self, data):
        server = self.server
        self.last_interaction = server.unixtime
        n = len(data)
        self.tot_net_in += n
        if server.oom_check is not None:    # maxmemory is set
            # What commands store mostly arrives as their arguments: the
            # bytes read count against the room (memory.Memory.read_overrun).
            mem = server.memory
            mem.read_room -= n
            if mem.read_room < 0:
                mem.read_overrun()
        if self.unread is not None:
            # Slices of an earlier read still wait their turn: this one
            # comes after them.
            self.unread = memoryview(bytes(self.unread) + data)
            return
        if (n > FAIR_READ and server.loop is not None
                and (self.tail is None or len(self.tail) + n >= self.need)):
            # Fairness: Redis serves a client one read of at most 16 KB per
            # event, other clients in between. The rest of a large read (one
            # that can complete a request: the middle of a large argument
            # runs nothing) is run a slice per turn of the loop, and the
            # socket is not read meanwhile (the loop would otherwise read it
            # up to 32 times in a row while other clients wait). The slices
            # are views of the read: only the one being run is copied.
            self.unread = memoryview(data)[FAIR_READ:]
            data = data[:FAIR_READ]
            self.transport.pause_reading()
            server.loop.call_soon(self._read_on)
        self._process_input(data)
        if self.out:
            if server.loop is None:     # (fed in process, without a loop)
                self.flush()
            else:
                # Written once every client the loop found readable has
                # run, as Redis's handleClientsWithPendingWrites does in
                # beforeSleep: a client whose replies are already being
                # read is not woken once per read of the others (a fifth
                # of the server's CPU time per command at -P 16).
                pending = server.pending_writes
                if not pending:
                    server.loop.call_soon(write_pending, server)
                pending.append(self)

    def _read_on(self):
        """Run the next slice of a large read, the other clients having had
        their turn; read the socket again after the last one."""
        data = self.unread
        if data is None or self.closing:
            self.unread = None
            return
        if len(data) > FAIR_READ:
            self.unread = data[FAIR_READ:]
            data = data[:FAIR_READ]
            self.server.loop.call_soon(self._read_on)
        else:
            self.unread = None
            if self.transport is not None:
                self.transport.resume_reading()
        self._process_input(bytes(data))
        if self.out:
            self.flush()

    def _process_input(self, buf):
        """Append ``buf`` (a read, or nothing) to the client's unparsed input,
        execute the complete requests, and keep the rest.

        The requests parse_requests returns run in run_requests (C): the
        common case of process_command and call() inlined for a client no
        gate applies to, which saves their calls for every command, and the
        loop's bookkeeping, which in Python cost about as much as a GET's
        handler. Anything else (a gate, a subcommand, an arity error,
        CLIENT REPLY) goes through process_command.
        tests/test_call_paths.py pins the two together: same replies, files,
        streams, events and statistics."""
        server = self.server
        tail = self.tail
        if tail is not None:
            tail += buf
            if len(tail) < self.need:
                # A large argument still arriving: nothing to run yet.
                if len(tail) > server.config.client_query_buffer_limit:
                    self._query_buffer_overflow(tail)
                    self.tail = None
                return
            buf = tail
            self.tail = None
        slow = self.slow
        self.qbuf_now = len(buf) if slow is None else len(buf) + slow.pending()
        while not self.paused_reading:
            if self.slow is not None:
                buf = self._run_exact(buf)
                if not buf:
                    return
                continue
            # (The master's stream, which is not held to proto-max-bulk-len,
            # is read by replication.py, not here.) Plain inline lines are
            # split in C too, but for the master's link (a protocol error).
            reqs, done, need = parse_requests(buf, server.config.proto_max_bulk_len,
                                              not self.is_master)
            if reqs and self._run(reqs, buf, done):
                return
            if not need:
                return
            if need > 0:
                self._keep(buf[done:] if done else buf, need - done)
                return
            # Not in the strict form: the exact parser's, from here on.
            self.slow = RequestParser()
            buf = buf[done:]
        # Paused: whatever arrives waits, in the parser that holds the input.
        if self.slow is not None:
            self.slow.feed(buf)
        else:
            self._keep(buf, 0)

    def _run(self, reqs, buf, done):
        """Run ``reqs`` (``buf[done:]`` is the input after them) in
        run_requests (C): the one inlined copy of process_command's and
        call()'s common case. It stops at a request it leaves to
        process_command (a gate, a command not in the client's table or not
        inline, an arity error, maxmemory's refusal), or after one that left
        the client closing or paused. True when the client stopped there
        (the rest kept for when it resumes)."""
        server = self.server
        i = 0
        while True:
            i, status = run_requests(self, reqs, i)
            if status == 1:
                server.process_command(self, reqs[i])
                i += 1
                if not (self.closing or self.paused_reading):
                    continue
            elif not status:
                return False
            if self.blocked is not None:
                self.blocked_argv = reqs[i - 1]
            if not self.closing:
                # Blocked (BLPOP...) or paused: keep the rest, unprocessed,
                # for when it resumes (and as CLIENT LIST's qbuf: the bytes
                # as they came, inline lines too).
                self._keep(buf[_request_start(buf, reqs, i):], 0)
            return True

    def _propagate_inline(self, cmd, req, dirty):
        """After a request run_requests ran that changed the dataset or
        queued operations (``dirty``: the counter before it), with the AOF
        or replicas listening: the rest of call()'s propagation."""
        server = self.server
        if (server.dirty != dirty and self.propagate_argv is None and cmd.is_write
                and not server.also_propagated):
            # after_call's common case: a lone write, as typed (never inside
            # EXEC, which does not run here). With the AOF as the only
            # target and its current run of commands in this database, the
            # request joins that run (Aof.feed's own test).
            aof = server.fast_aof
            if aof is not None and aof.tail_db == self.db.id:
                aof.tail.append(req)
            else:
                ops = [(self.db.id, req)]
                for target in server.propagate_targets:
                    target(ops)
        else:
            server.after_call(self, cmd, req, dirty)

    def _keep(self, rest, need):
        """Hold unparsed input until more arrives (``need``: the length it
        must reach before a request can complete) or the client resumes."""
        if rest.__class__ is not bytearray:
            rest = bytearray(rest)
        self.tail = rest
        self.need = need
        if len(rest) > self.server.config.client_query_buffer_limit:
            self._query_buffer_overflow(rest)
            self.tail = None

    def _run_exact(self, data):
        """Run the exact parser (Redis's rules) over its input and ``data``.
        Returns the input left once the stream is back at a request in the
        strict form, for parse_requests, or None when nothing is left for it."""
        parser = self.slow
        parser.feed(data)
        server = self.server
        try:
            while not self.closing and not self.paused_reading:
                if self.authenticated and not self.is_master:
                    # Plain inline requests go to the trusted path re-encoded.
                    run = parser.inline_run()
                    if run is not None:
                        self.slow = None
                        return run + parser.remaining()
                req = parser.next(server.config.proto_max_bulk_len, self.authenticated,
                                  self.is_master)
                if req is None:
                    break
                if req:
                    server.process_command(self, req)
                    if self.blocked is not None:
                        self.blocked_argv = req
                else:
                    # An empty request (a blank line, *0, *-1) resets the
                    # client as a command does: a CLIENT REPLY SKIP ends.
                    self.reply_mode &= ~REPLY_SKIP
                    if self.is_replica and self.repl is not None:
                        self.repl.ack_time = clock.time()
                if self.closing:    # QUIT: nothing after it runs
                    break
                if self.authenticated and parser.next_is_multibulk():
                    self.slow = None
                    return parser.remaining()
        except ProtocolError as e:
            log.verbose('Protocol error (%s) from client: %s. %s' % (
                resp.protocol_error_cause(e.args[0]), self.describe().decode('latin-1'),
                resp.query_buffer_sample(parser.buf[parser.pos:])))
            err = b'-ERR Protocol error: %s\r\n' % e.args[0]
            server.error_replied(err)
            if self.reply_mode & (REPLY_OFF | REPLY_SKIP):
                # CLIENT REPLY OFF or SKIP silence the error too.
                self.close_after_silent_reply()
                return None
            self.closing = True
            self.out.append(err)
            self.close_after_reply = True
            self.flush()
            self.transport.close()
            return None
        if self.closing or self.paused_reading:
            return None
        if parser.at_boundary() and self.authenticated:
            self.slow = None
        elif parser.pending() > server.config.client_query_buffer_limit:
            self._query_buffer_overflow(parser.buf[parser.pos:parser.pos + 64])
        return None

    def _query_buffer_overflow(self, head):
        """The input outgrew client-query-buffer-limit: say so as Redis does
        (the client, the first 64 bytes of its query buffer), and close."""
        log.warning('Closing client that reached max query buffer length: %s '
                    '(qbuf initial bytes: %s)' % (
                        self.describe().decode('latin-1'),
                        repr_string(bytes(head[:64]).decode('utf-8', 'surrogateescape'))))
        self.close()

    def partial_request(self):
        """CLIENT LIST's view of input that is not a whole request yet, as
        Redis's parser holds it: the arguments of the request already read
        (argv-mem; None when none is begun) and the bytes after them (qbuf)
        - Redis moves each whole argument out of the query buffer into the
        client's argv as it arrives. The C parser keeps such a request as
        bytes (tail): the exact parser reads them here to tell."""
        parser = self.slow
        if parser.__class__ is not RequestParser:
            if not self.tail:
                return None, self.pending_input()
            parser = RequestParser()
            # (Read in place: a tail is never a whole request, so the parser
            # stops before it would compact its buffer.)
            parser.buf = self.tail
            try:
                if parser.next(1 << 62, True, True) is not None:
                    return None, self.pending_input()     # (not a part)
            except ProtocolError:
                return None, self.pending_input()
        return parser.argv, parser.pending() + (len(self.unread) if self.unread else 0)

    def pending_input(self):
        """The query buffer's length: input received and not yet run."""
        n = len(self.unread) if self.unread is not None else 0
        if self.slow is not None:
            return n + self.slow.pending()
        return n + (len(self.tail) if self.tail is not None else 0)

    def resume(self):
        """Called when a blocked or paused client may run again: execute
        whatever requests arrived meanwhile."""
        if self.paused_reading:
            return
        if self.tail is not None or self.slow is not None:
            self._process_input(b'')
        if self.out:
            self.flush()

    # -- replies ------------------------------------------------------------

    def flush(self):
        barrier = self.server.reply_barrier
        if barrier is not None and barrier(self):
            # The AOF holds replies until their writes are in the file
            # (fsynced with appendfsync always), then calls send().
            return
        self.send()

    def send(self):
        """Write the queued replies, past any barrier."""
        out = self.out
        if len(out) == 1:
            data = out[0]
        else:
            data = b''.join(out)
        out.clear()
        if self.transport is not None and not self.transport.is_closing():
            n = len(data)
            self.tot_net_out += n
            if n > self.rbp:
                self.rbp = n if n < self.rbs else self.rbs
            self.transport.write(data)
            if out.__class__ is LimitedReplies:
                self.check_output_limits()
        if self.close_after_reply and self.transport is not None:
            self.transport.close()

    def write(self, data):
        """Queue a reply outside the request path (push messages, unblocking)
        and send it at once."""
        self.out.append(data)
        self.flush()

    def close(self):
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def close_after_silent_reply(self):
        """QUIT or a protocol error under CLIENT REPLY OFF/SKIP. Redis
        closes such a client once its pending replies are written, and its
        own reply is not there: the connection closes after the replies of
        the same read still pending, or, with none, never: it stays open
        and runs nothing more."""
        self.closing = True
        if self.out:
            self.close_after_reply = True       # closed once they are sent
        elif self.transport is not None and self.transport.get_write_buffer_size():
            self.transport.close()              # (which sends them first)
        else:
            self.close_after_reply = False
            self.slow = IgnoredInput()

    def describe(self, argv=None):
        """One CLIENT LIST line (without the trailing newline); ``argv``:
        the command this client is running (Server.describe_client)."""
        return self.server.describe_client(self, argv)


if set_request_context is not None:
    set_request_context(CommandError, Replies, Client)


def _request_start(buf, reqs, i):
    """Where reqs[i] starts in buf, reqs being what parse_requests found
    at its start: a multibulk request in the strict form is as long as its
    encoding, an inline one ends at its line's LF."""
    pos = 0
    for req in reqs[:i]:
        if buf[pos] == 42:      # '*'
            pos += len(resp.bulk_array(req))
        else:
            pos = buf.index(b'\n', pos) + 1
    return pos


def write_pending(server):
    """Write the replies of the clients data_received left them to (once
    per turn of the event loop, after the reads)."""
    pending = server.pending_writes
    server.pending_writes = []
    for c in pending:
        if c.out:
            # (flush's barrier test, inline: one call less per reply at -P 1.)
            if server.reply_barrier is None:
                c.send()
            else:
                c.flush()


# -- client eviction (maxmemory-clients) -----------------------------------------------------

# Below this, a limit would leave no room to talk to the server at all
# (getClientEvictionLimit's floor).
MIN_CLIENT_EVICTION_LIMIT = 128 * 1024


def client_eviction_limit(server):
    """maxmemory-clients in bytes (a percentage is of maxmemory), 0 for none."""
    limit = server.config.maxmemory_clients
    if limit < 0:
        limit = server.config.maxmemory * -limit // 100 if server.config.maxmemory else 0
    if not limit:
        return 0
    return max(limit, MIN_CLIENT_EVICTION_LIMIT)


def evict_clients(server):
    """evictClients: while the normal and pub/sub clients together use
    more than maxmemory-clients (query buffers, output buffers, a fixed
    part per connection, as CLIENT LIST's tot-mem counts them), close the
    largest of those that may be evicted (not CLIENT NO-EVICT, not a
    master or replica link). Run from the cron: every client is looked at,
    so only when the directive is set."""
    limit = client_eviction_limit(server)
    if not limit:
        return
    total = 0
    candidates = []
    for c in server.clients.values():
        if c.is_replica or c.is_master or c.closing:
            continue
        mem = c.memory()
        total += mem
        if not c.no_evict and c.transport is not None:
            candidates.append((mem, c.id, c))
    if total < limit:
        return
    candidates.sort(reverse=True)
    for mem, _, c in candidates:
        if total < limit:
            break
        log.notice('Evicting client: %s' % c.describe().decode('latin-1'))
        server.stat.evicted_clients += 1
        total -= mem
        c.closing = True
        c.out.clear()
        c.transport.abort()


# -- listening sockets (listenToPort) -------------------------------------------------------------

def _host(addr):
    """A bind address as a socket host ('-' optional prefix removed)."""
    host = addr[1:] if addr.startswith('-') else addr
    return {'*': '0.0.0.0', '::*': '::'}.get(host, host)


def set_keepalive(sock, interval):
    """tcp-keepalive on a listening socket: the connections it accepts
    inherit the options (the kernel copies them to the accepted socket),
    which are those Redis's anetKeepAlive sets on each accepted connection
    (idle time, probes every third of it, 3 of them) - at no cost per
    connection. 0: no keepalive."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if interval else 0)
        if interval and hasattr(socket, 'TCP_KEEPIDLE'):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, interval // 3))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    except OSError:
        pass


def update_keepalive(server):
    """CONFIG SET tcp-keepalive: for the connections accepted from now on."""
    for srv in server.listeners:
        for s in srv.sockets or ():
            if s.family in (socket.AF_INET, socket.AF_INET6):
                set_keepalive(s, server.config.tcp_keepalive)


def open_listeners(config, addrs):
    """Create, bind and listen TCP sockets for ``addrs`` (bind syntax) on
    ``port``, synchronously, so a failure is known before anything changes.
    Returns the list of sockets; raises OSError (the first fatal one)."""
    socks = []
    try:
        for addr in addrs:
            optional = addr.startswith('-')
            host = _host(addr)
            family = socket.AF_INET6 if ':' in host else socket.AF_INET
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
            except OSError as e:
                if optional or e.errno == errno.EAFNOSUPPORT:
                    log.warning('Warning: Could not create server TCP listening socket '
                                '%s:%d: %s' % (host, config.port, e.strerror))
                    continue
                raise
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, config.port))
                set_keepalive(s, config.tcp_keepalive)
                s.listen(config.tcp_backlog)
                s.setblocking(False)
            except OSError as e:
                s.close()
                log.warning('Warning: Could not create server TCP listening socket %s:%d: '
                            'bind: %s' % (host, config.port, e.strerror))
                if (optional and e.errno == errno.EADDRNOTAVAIL) or e.errno in (
                        errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.ENOPROTOOPT):
                    continue
                raise
            socks.append(s)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


def _listener_addr(srv):
    for s in srv.sockets or ():
        if s.family in (socket.AF_INET, socket.AF_INET6):
            return s.getsockname()[:2]
    return None


def update_tcp_listeners(server):
    """Listen on exactly the addresses of ``bind`` and ``port``. Sockets
    already listening on a wanted address are kept (so the change can be
    rolled back, and an unchanged address never stops accepting); new ones
    are all bound before any old one is closed."""
    config = server.config
    current = {}
    for srv in server.listeners:
        addr = _listener_addr(srv)
        if addr is not None:
            current[addr] = srv
    # bind "" (no address) means no TCP listener at all, as in Redis.
    addrs = config.bind if config.port else []
    keep, missing = {}, []
    for addr in addrs:
        key = (_host(addr), config.port)
        if key in current:
            keep[key] = current[key]
        else:
            missing.append(addr)
    socks = open_listeners(config, missing)
    for addr, srv in current.items():
        if addr not in keep:
            srv.close()
            server.listeners.remove(srv)

    async def serve(sock):
        srv = await server.loop.create_server(lambda: Client(server), sock=sock,
                                              backlog=config.tcp_backlog)
        server.listeners.append(srv)

    for s in socks:
        server.loop.create_task(serve(s))


_LOCAL_ADDRS = {}


def _fmt_addr(a):
    if not a:
        return b''
    if isinstance(a, tuple):
        return format_addr(a[0], a[1]).encode()
    return str(a).encode()
