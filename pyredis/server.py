"""The server: databases, clients, command execution, the cron (server.c).

``process_command`` is Redis's processCommand: look the command up in the
table, check arity, then - only when some condition makes it necessary - the
slower gates (authentication, ACL permissions of a restricted user (acl.py),
MULTI queueing, pub/sub context, loading, read-only replica, MISCONF).
Whether any gate can apply is folded into one flag per client
(``Client.gated``, recomputed when the client's or the server's state
changes, not per command), but for a restricted user's permissions: the
trusted path runs only what that user's table (acl.py) holds, and the rest
comes here. maxmemory's OOM check is not a gate: it is consulted for
denyoom commands only.

``call`` is Redis's call(), the one function that executes a command with
all its effects: the handler, its duration and counters, error statistics
(``error_replied``), CLIENT REPLY, and propagation. When the command
changed the dataset (the ``dirty`` counter moved), its argument vector goes
to the propagation targets (the AOF and the replicas). Handlers that must
be propagated in a different form (relative expiries, SPOP, INCRBYFLOAT) set
``client.propagate_argv``; side effects such as an expired key's DEL are
queued with ``also_propagate`` and flushed after the command, wrapped in
MULTI/EXEC when there is more than one, as Redis 7.0 does. The trusted
request path (networking.py, its loop in C: _speedups.run_requests) inlines
the common case of process_command and call() for speed;
tests/test_call_paths.py pins the two together.

The cron (``server_cron``) runs ``hz`` times a second: clocks, client
timeouts, the active expire cycle (expire.py), instantaneous metrics and
whatever the persistence and replication modules register in ``cron_hooks``.
"""

import asyncio
import gc
import os
import signal
from time import perf_counter_ns

from . import acl, expire, hdr, log, resp
from .commands import TABLE, DISPATCH
from .db import Database, databases_cron
from .lazyfree import LazyFree
from .memory import malloc_trim
from .objsize import je_size
from .networking import (Client, REPLY_OFF, REPLY_SKIP, REPLY_SKIP_NEXT, evict_clients,
                         open_listeners, share_command_names)
from .notify import NotifyFlags
from .config import BY_NAME, is_local_client
from .util import c_string
from .resp import ARITY_ERR, LOADING_ERR, CommandError
from . import clock

LRU_CLOCK_MAX = (1 << 24) - 1

# Distinct error codes INFO errorstats keeps (server.h's ERROR_STATS_NUMBER).
ERROR_STATS_NUMBER = 128
# The commands Redis flags CMD_TOUCHES_ARBITRARY_KEYS (not shown by COMMAND).
TOUCHES_ARBITRARY_KEYS = frozenset(('scan', 'randomkey'))
# Redis's CMD_MAY_REPLICATE commands (a flag COMMAND does not show).
MAY_REPLICATE = frozenset((b'eval', b'evalsha', b'fcall', b'publish', b'spublish', b'pfcount'))
# CLIENT LIST's memory figures, as jemalloc sizes Redis 7.0's: a client
# (sizeof(client)) and a query buffer after a read of up to 16 KB.
CLIENT_STRUCT_SIZE = 768
QUERYBUF_ALLOC = 20474
MULTI_ALLOWED = frozenset((b'exec', b'discard', b'multi', b'watch', b'quit', b'reset'))


class Server:
    def __init__(self, config):
        self.config = config
        share_command_names()
        self.dbs = [Database(self, i) for i in range(config.databases)]
        # databasesCron's next databases to shrink and to rehash.
        self.resize_db = 0
        self.rehash_db = 0
        self.clients = {}
        # Clients with replies to write once this turn of the loop has run
        # every read (networking.write_pending).
        self.pending_writes = []
        # cli.py: the server is the whole process. It chdir()s to its dir,
        # takes SIGTERM/SIGINT and tunes the collector; an embedded one
        # (embed.py) shares its process and does none of that.
        self.owns_process = False
        self.lazyfree = LazyFree(self)
        # Clients whose socket does not take their replies as fast as they
        # come (Client.pause_writing): the cron checks their output limits.
        self.output_backlog = set()
        # The largest output buffer seen in each of the last 8 seconds
        # (client_recent_max_output_buffer, clientsCronTrackExpansiveClients).
        self.output_peaks = [0] * 8
        # Redis creates its two Lua clients (scripts, functions) at start-up,
        # ids 1 and 2: the first connection is client 3.
        self._next_client_id = 2
        # The clients cron's turn: a snapshot of the client ids and the
        # next one to visit (Server._clients_cron).
        self._cron_ids = []
        self._cron_pos = 0
        # updateClientMemUsage: each client's memory as the clients cron last
        # saw it (id -> (bytes, is replica)) and the sums by kind, so that
        # INFO (and every metrics scrape) does not walk thousands of clients.
        self._client_mem = {}
        self.clients_memory = [0, 0]        # normal (and master, pubsub), replicas
        self.listeners = []
        self.loop = None
        self.start_time = clock.time()
        self.unixtime = int(self.start_time)
        self.lruclock = self.unixtime & LRU_CLOCK_MAX
        self.run_id = os.urandom(20).hex()
        self.dirty = 0
        self.masterhost = None
        self.loading = False
        self.shutting_down = False
        self.shutdown_state = None      # SHUTDOWN's wait for replicas (commands/server.py)
        self.signal_shutdown = None     # fn(signal): SIGTERM/SIGINT (commands/server.py)
        self.active_expire_enabled = True
        # DEBUG knobs (commands/debug.py): PAUSE-CRON, SET-SKIP-CHECKSUM-
        # VALIDATION (rdb.py's loads and DUMP payloads), SET-DISABLE-DENY-
        # SCRIPTS (noscript commands allowed in scripts: scripting/host.py).
        self.cron_paused = False
        self.skip_checksum_validation = False
        self.script_disable_deny_script = False
        self.executing_client = None
        # Propagation to the AOF and the replicas: consumers register here.
        self.propagate_targets = []
        self.fast_aof = None        # the Aof when it is the only target (targets_changed)
        self.also_propagated = []
        self.in_exec = False
        # (client, EXEC's Command, EXEC's argv) while a client's EXEC runs
        # its queued commands (commands/transactions.py): describe_client.
        self.exec_request = None
        # Extension points for the subsystems and command families that live
        # in other modules: their attach(server) functions, which
        # pyredis.assembly calls for each new Server, fill these.
        self.cron_hooks = []        # fn() from the cron
        self.clock_hooks = []       # fn() when the clock was moved (clock.advance)
        self.shutdown_hooks = []    # fn(save) -> error or None, before shutting down
        # fn() once the listeners are open (loading data: a hook may return
        # an awaitable, and clients get -LOADING meanwhile).
        self.startup_hooks = []
        self.client_close_hooks = []    # fn(client) when a client goes
        self.reset_hooks = []       # fn(client): RESET clears the client's state
        self.flush_hooks = []       # fn(server, db) after a database was emptied
        self.flushall_hooks = []    # fn(server) after FLUSHALL
        self.resetstat_hooks = []   # fn(server): CONFIG RESETSTAT
        self.config_apply = {}      # directive -> fn(server) after CONFIG SET changed it
        self.debug_subcommands = {}     # DEBUG <sub> -> handler(c, argv)
        self.info_sections = {}     # INFO section -> fn(server) -> [(field, value)]
        self.pubsub = None
        # MONITOR (commands/monitor.py): client id -> client, and the feed
        # call() runs while there is any (a server-wide gate meanwhile).
        self.monitors = {}
        self.monitor_feed = None
        # SLOWLOG and LATENCY (commands/slowlog.py): commands that ran for
        # slow_ns or longer go to slow_call.
        self.slow_ns = 1 << 62
        # CLIENT TRACKING (tracking.py): the reads of tracking clients are
        # remembered in call() (and by the trusted path, which reads
        # ``tracked``); current_client is the client whose command runs
        # while clients track.
        self.tracking = None
        self.tracking_on = False
        self.tracked = {}           # id of each tracking client -> its state
        self.current_client = None
        # CLIENT PAUSE (commands/pause.py): WRITE (1) or ALL (2) while paused.
        self.pause_type = 0
        self.must_postpone = self.postpone = None
        self.slow_call = None
        # latency-tracking (commands/latency.py): each command's durations
        # go to its HDR histogram (hdr.py) while this is on.
        self.latency_tracking = False
        self.latency_add = None     # fn(event, ms): LATENCY (commands/latency.py)
        self.scripting = None       # scripting.host.ScriptHost (commands/scripting.py)
        self.notify_flags = NotifyFlags.parse(config.notify_keyspace_events) or 0
        # Gate: True when some server-wide condition needs the slow checks.
        self.gated = False
        self.oom_check = None
        self.oom_passes = iter(())  # the gate's passes left (memory.Memory.refresh)
        self.write_denied_reason = None
        self.stat = Stats()
        self.cronloops = 0
        self.hz = config.hz
        self.expire_state = expire.ExpireState()
        self.blocked_clients = 0
        self.ready_keys = []
        self.exit_code = None
        self._stopped = None
        self.rdb_last_save_time = int(clock.time())
        # Users and permissions: the gates ask it (acl.py).
        self.acl = acl.ACL(self)
        # Redis Cluster (cluster/node.py's Cluster, attached by cluster/links.py)
        # when cluster-enabled is yes, else None.
        self.cluster = None

    def path(self, name):
        """A file of the server's (the RDB, the AOF directory, temp files)
        in its working directory, ``dir``. A server run as redis-server is
        (cli.py) chdir()s there, as Redis does; several servers in one
        process (embed.py) share one current directory, so their files
        are named by their own ``dir`` instead."""
        d = self.config.dir
        return os.path.join(d, name) if d else name

    def on_config_set(self, name, fn):
        """Run ``fn(server)`` whenever CONFIG SET changes directive ``name``
        (or an alias of it). ``fn`` raises config.ConfigError(reason) to make
        the whole CONFIG SET fail and roll back. Never run at start-up: a
        subsystem reads its directives when it attaches."""
        self.config_apply[BY_NAME[name].name] = fn

    # -- clients --------------------------------------------------------------

    def next_client_id(self):
        self._next_client_id += 1
        return self._next_client_id

    def forked(self, start_ns):
        """redisFork's bookkeeping in the parent, once a child is forked
        (BGSAVE, BGREWRITEAOF, a full sync's snapshot): latest_fork_usec,
        total_forks and the "fork" latency event. ``start_ns``: the
        perf_counter_ns() taken just before fork()."""
        usec = (perf_counter_ns() - start_ns) // 1000
        self.stat.latest_fork_usec = usec
        self.stat.total_forks += 1
        # stat_fork_rate (GB of used memory per second), for LATENCY DOCTOR,
        # from the last reading: a fresh one would walk the allocator's
        # arenas and move the OOM gate's estimate, before the child's pid
        # is even recorded.
        memory = getattr(self, 'memory', None)
        if memory is not None:
            self.stat.fork_rate = memory.used * 1e6 / max(usec, 1) / (1 << 30)
        if self.latency_add is not None:
            self.latency_add(b'fork', usec // 1000)

    def total_commands(self):
        """total_commands_processed: the sum of every command's calls."""
        return sum(
            cmd.calls + (sum(s.calls for s in cmd.subcommands.values())
                         if cmd.subcommands else 0)
            for cmd in TABLE.values())

    def requires_auth(self):
        return self.acl.requires_auth()

    def accept_client(self, c):
        """Register a new connection; returns an error reply to send before
        closing it, or None."""
        config = self.config
        cluster = self.cluster
        # In cluster mode the bus links count too (getClusterConnectionsCount).
        if len(self.clients) + (cluster.connections() if cluster is not None else 0) >= (
                config.maxclients):
            self.stat.rejected_conn += 1
            if cluster is not None:
                return b'-ERR max number of clients + cluster connections reached\r\n'
            return b'-ERR max number of clients reached\r\n'
        if config.protected_mode and self.acl.default.nopass and not is_local_client(c):
            self.stat.rejected_conn += 1
            return PROTECTED_MODE_ERR
        self.clients[c.id] = c
        self.stat.numconnections += 1
        return None

    def remove_client(self, c):
        if self.clients.pop(c.id, None) is None:
            return
        self.output_backlog.discard(c)
        self._forget_client_memory(c.id)
        # The traffic totals keep what disconnected clients sent and got.
        self.stat.net_input_bytes += c.tot_net_in
        self.stat.net_output_bytes += c.tot_net_out
        for hook in self.client_close_hooks:
            hook(c)

    def describe_client(self, c, argv=None):
        """catClientInfoString. ``argv``: the command being run, when ``c``
        is the client running it (CLIENT LIST/INFO, an ACL LOG entry): its
        argv-mem, and its qbuf, which holds the read the request came in
        while it runs; inside EXEC, Redis's client keeps EXEC as its lastcmd
        and EXEC's argv-mem, with the queued command's argc. A blocked
        client's argv-mem is its blocked command's (Client.blocked_argv).

        The memory figures follow Redis's own accounting, so that they read
        the same: the query buffer's allocation (20474 bytes free after a
        read of up to 16 KB, freed after 2 s idle: clientsCronResizeQueryBuffer),
        the reply buffer's size and peak (rbs, rbp: Client.rbs, resized by
        the cron as clientsCronResizeOutputBuffer), the argument and MULTI
        bytes (argv_len_sum, mstate.argv_len_sums) and tot-mem as
        getClientMemoryUsage adds them. The output not yet written fills
        the reply buffer first (obl), the rest is the 16 KB block list
        (oll, omem), as _addReplyToBuffer does."""
        # Redis computes age and idle from its cached clock, which is also
        # what last_interaction is stamped with.
        now = self.unixtime
        flags = c.flags_string()
        sub = len(c.subscriptions)
        psub = len(c.psubscriptions)
        ssub = len(c.ssubscriptions)
        multi = len(c.multi) if c.multi is not None else -1
        last = c.last_cmd
        if argv is not None:
            # The query buffer holds the whole read the request came in
            # (sdslen(querybuf): trimmed once the read's requests ran).
            qbuf = c.qbuf_now
        elif c.blocked is not None:
            argv = c.blocked_argv       # (Redis keeps a blocked command's argv)
            qbuf = c.pending_input()
        else:
            argv, qbuf = c.partial_request()
        argv_mem = argc = 0
        if argv is not None:
            argc = len(argv)
            argv_mem = sum(map(len, argv))
            running = self.exec_request
            if running is not None and running[0] is c:
                last = running[1]
                argv_mem = sum(map(len, running[2]))
        idle = max(0, now - int(c.last_interaction))
        if qbuf:
            qbuf_alloc = max(qbuf, QUERYBUF_ALLOC)
        else:
            qbuf_alloc = QUERYBUF_ALLOC if idle <= 2 else 0
        queued = sum(map(len, c.out))
        backlog = c.output_memory() - queued
        obl = 0 if backlog else min(queued, c.rbs)
        omem = backlog + queued - obl
        oll = (omem + 16383) // 16384
        multi_mem = 0
        multi_overhead = 0
        if c.multi:
            multi_mem = sum(sum(map(len, a)) + 8 * len(a) for _, a in c.multi)
            alloc = 2
            while alloc < len(c.multi):
                alloc *= 2
            multi_overhead = multi_mem + 24 * alloc
        if c.watched:
            multi_overhead += 56 * len(c.watched)
        pubsub = 24 * len(c.psubscriptions)
        if sub:
            pubsub += 24 * sub + 8 * max(4, 1 << (sub - 1).bit_length())
        tot_mem = (omem + (qbuf_alloc + 6 if qbuf_alloc else 8) + CLIENT_STRUCT_SIZE + c.rbs
                   + argv_mem + 8 * argc + multi_overhead + pubsub)
        return (b'id=%d addr=%s laddr=%s fd=%d name=%s age=%d idle=%d flags=%s db=%d '
                b'sub=%d psub=%d ssub=%d multi=%d qbuf=%d qbuf-free=%d argv-mem=%d '
                b'multi-mem=%d rbs=%d rbp=%d obl=%d oll=%d omem=%d tot-mem=%d events=%s '
                b'cmd=%s user=%s redir=%d resp=%d') % (
            c.id, c.addr, c.laddr, c.fileno(), c.name, max(0, now - int(c.ctime)),
            idle, flags, c.db.id, sub, psub, ssub, multi,
            qbuf, qbuf_alloc - qbuf, argv_mem, multi_mem, c.rbs, c.rbp, obl, oll, omem,
            tot_mem, b'rw' if backlog else b'r',
            last.fullname.encode() if last is not None else b'NULL', c.user.name,
            self.tracking.redirect_of(c) if self.tracking is not None else -1, c.resp)

    def _clients_cron(self, now):
        """clientsCron: numclients/hz clients a tick, at least 5, in turn, so
        that each is visited about once a second however many there are,
        and a tick costs the same with 10 or 10,000 idle clients. For each:
        the idle timeout (clientsCronHandleTimeout), then the reply buffer
        (clientsCronResizeOutputBuffer): it shrinks to its recent peak (at
        least 1 KB) when that is under half of it, doubles (up to 16 KB)
        when the peak filled it; the peak restarts every 5 seconds.
        Redis rotates its client list; the turn here is a snapshot of the
        ids, taken again once gone through (a client connected since waits
        for the next round, one gone is skipped)."""
        clients = self.clients
        n = len(clients)
        if not n:
            return
        count = max(n // (self.hz or 1), min(n, 5))
        limit = self.config.timeout
        now_ms = int(now * 1000)
        ids, pos = self._cron_ids, self._cron_pos
        while count > 0:
            if pos >= len(ids):
                ids = self._cron_ids = list(clients)
                pos = 0
                for gone in self._client_mem.keys() - clients.keys():
                    self._forget_client_memory(gone)    # (dropped without remove_client)
                if not ids:     # (all gone during this tick)
                    break
            c = clients.get(ids[pos])
            pos += 1
            if c is None:
                continue
            count -= 1
            if (limit and now - c.last_interaction > limit and not (
                    c.is_replica or c.is_master or c.blocked is not None
                    or c.id in self.monitors or c.subscriptions or c.psubscriptions
                    or c.ssubscriptions)):
                log.verbose('Closing idle client')
                c.close()
                continue
            self._account_client_memory(c)
            size, peak = c.rbs, c.rbp
            if size // 2 >= 1024 and peak < size // 2:
                c.rbs = je_size(max(1024, peak + 1))
            elif size * 2 < 32768 and peak == size:
                c.rbs = min(16384, size * 2)
            if now_ms - c.rb_reset >= 5000:
                c.rbp = 0
                c.rb_reset = now_ms
        self._cron_pos = pos

    def _account_client_memory(self, c):
        mem, kind = c.memory(), 1 if c.is_replica else 0
        old = self._client_mem.get(c.id)
        if old is not None:
            self.clients_memory[old[1]] -= old[0]
        self._client_mem[c.id] = (mem, kind)
        self.clients_memory[kind] += mem

    def _forget_client_memory(self, cid):
        old = self._client_mem.pop(cid, None)
        if old is not None:
            self.clients_memory[old[1]] -= old[0]

    def client_memory_by_kind(self):
        """INFO's mem_clients_normal and mem_clients_slaves. With few
        clients the exact sum is cheap; past that, Redis's way: the sums the
        clients cron keeps up to date (each client seen about once a second)."""
        clients = self.clients
        if len(clients) <= 128:
            normal = replicas = 0
            for c in clients.values():
                if c.is_replica:
                    replicas += c.memory()
                else:
                    normal += c.memory()
            return normal, replicas
        return self.clients_memory[0], self.clients_memory[1]

    # -- command execution ------------------------------------------------------

    def process_command(self, c, argv):
        """processCommand: look the command up, check its arity and, when
        the client's gate says one may apply, the gates; then call()."""
        cmd = DISPATCH.get(argv[0])
        if cmd is None:
            cmd = DISPATCH.get(argv[0].lower())
            if cmd is None:
                return self.reject(c, unknown_command_error(argv))
        n = len(argv)
        if cmd.subcommands is not None and n >= 2:
            sub = cmd.subcommands.get(argv[1].lower())
            if sub is None or sub.proc is None:
                return self.reject(c, resp.error(b"ERR unknown subcommand '%s'. Try %s HELP." % (
                    c_string(argv[1])[:128], cmd.name.upper())))
            cmd = sub
        if n < cmd.min_args or n > cmd.max_args:
            return self.reject(c, ARITY_ERR % cmd.fullname.encode(), cmd)
        if c.gated or c.user.restricted:
            # (A restricted user's client is not gated: it comes here for
            # what its table (acl.py) leaves out, and gets the full check.)
            return self._gated(c, cmd, argv)
        if cmd.denyoom and self.oom_check is not None:
            # maxmemory: only commands that may grow memory are checked, so
            # this gate stays out of the way of reads.
            err = self.oom_check(c, cmd)
            if err is not None:
                return self.reject(c, err, cmd)
        if self.tracking_on:
            return self._call_tracked(c, cmd, argv)
        self.call(c, cmd, argv)

    def _call_tracked(self, c, cmd, argv):
        """call() while clients track: the client is the current one (its
        own invalidations follow its reply), then its queued messages."""
        previous, self.current_client = self.current_client, c
        try:
            self.call(c, cmd, argv)
            self.tracking.after_command(c, cmd)
        finally:
            self.current_client = previous

    def call(self, c, cmd, argv):
        """Execute a command with all its effects (Redis's call()): the
        handler, its duration and counters, error statistics, CLIENT REPLY,
        propagation. Every command runs through here - from a client, inside
        EXEC, from the master's stream - except the common case of the
        trusted request path (_speedups.run_requests), which inlines it;
        test_call_paths.py runs the same requests through both."""
        dirty = self.dirty
        # A handler sets propagate_argv to be propagated in another form; the
        # inline path leaves it unconsumed when nothing listens.
        c.propagate_argv = None
        if self.monitors:
            self.monitor_feed(c, cmd, argv, True)
        start = perf_counter_ns()
        try:
            reply = cmd.proc(c, argv)
        except CommandError as e:
            reply = e.reply
        except Exception as e:  # a handler bug must not take the server down
            reply = self._internal_error(c, cmd, e)
        d = perf_counter_ns() - start
        cmd.duration += d
        cmd.calls += 1
        if self.latency_tracking:
            hdr.record(cmd, d // 1000)
        if d >= self.slow_ns:
            self.slow_call(c, cmd, argv, d)
        mode = c.reply_mode
        if reply is not None:
            if reply[0] == 45:  # '-': an error reply (no handler replies b'')
                self.error_replied(reply)
                cmd.failed_calls += 1
            if not mode & (REPLY_OFF | REPLY_SKIP):
                c.out.append(reply)
        if mode & (REPLY_SKIP | REPLY_SKIP_NEXT) and not self.in_exec:
            # SKIP silences exactly the command after CLIENT REPLY SKIP
            # (inside EXEC, the command after the EXEC: Redis arms it when
            # it resets the client, after a whole request).
            c.reply_mode = _arm_skip(mode & ~REPLY_SKIP)
        if self.monitors:
            self.monitor_feed(c, cmd, argv, False)
        if self.tracking_on:
            self.tracking.after_call(c, cmd, argv)
        if (self.dirty != dirty or self.also_propagated) and self.propagate_targets:
            self.after_call(c, cmd, argv, dirty)
        c.last_cmd = cmd

    def after_call(self, c, cmd, argv, dirty):
        """Propagation after a command ran with the AOF or replicas
        listening: the command, if it changed the dataset (``dirty`` is the
        counter before it), or else whatever it queued (an expired key's DEL)."""
        if self.dirty != dirty:
            if (c.propagate_argv is None and not self.also_propagated and not self.in_exec
                    and (cmd.is_write or cmd.may_replicate)):
                # The common case: the command itself, alone, as typed.
                ops = [(c.db.id, argv)]
                for target in self.propagate_targets:
                    target(ops)
            else:
                self._propagate_call(c, cmd, argv)
        elif self.also_propagated and not self.in_exec:
            # A command that may touch arbitrary keys run directly (SCAN,
            # RANDOMKEY) propagates its lazy expiries' DELs unwrapped.
            self.flush_propagation(cmd.fullname not in TOUCHES_ARBITRARY_KEYS)

    def error_replied(self, reply):
        """afterErrorReply: count an error reply in total_error_replies and
        in errorstats under its code (the first word, looked for in the first
        32 bytes; ERR when there is none)."""
        stat = self.stat
        stat.total_error_replies += 1
        space = reply.find(b' ', 0, min(32, len(reply) - 2))
        code = reply[1:space] if space > 0 else b'ERR'
        errors = stat.errors
        count = errors.get(code)
        if count is not None:
            errors[code] = count + 1
        elif len(errors) < ERROR_STATS_NUMBER:
            errors[code] = 1

    def reject(self, c, err, cmd=None):
        """rejectCommand: the command is refused before it runs."""
        if cmd is not None:
            cmd.rejected_calls += 1     # INFO commandstats
        if c.multi is not None:
            c.dirty_exec = True
        if cmd is not None and cmd.name == b'exec' and self.exec_abort is not None:
            # execCommandAbort: a rejected EXEC discards the transaction.
            err = self.exec_abort(c, err)
        self.error_replied(err)
        if self.cluster_router is not None:
            # resetClient's end of ASKING, for a command refused before
            # routing (unknown, arity, NOAUTH...) too.
            self.cluster_router.processed(c, cmd)
        if c.reply_mode and self.reply_silenced(c):
            return
        c.out.append(err)

    @staticmethod
    def reply_silenced(c):
        """For a request answered without call() (rejected, queued in
        MULTI): whether CLIENT REPLY OFF/SKIP silence its reply. It
        consumes a SKIP all the same (resetClient)."""
        mode = _arm_skip(c.reply_mode)
        c.reply_mode = mode & ~REPLY_SKIP
        return bool(mode & (REPLY_OFF | REPLY_SKIP))

    exec_abort = None   # set by commands/transactions.py

    def _internal_error(self, c, cmd, e):
        import traceback
        log.warning('Error executing %s: %s\n%s' % (cmd.fullname, e, traceback.format_exc()))
        return b'-ERR internal error while executing %s: %s\r\n' % (
            cmd.fullname.encode(), str(e).encode().replace(b'\r', b' ').replace(b'\n', b' '))

    def _gated(self, c, cmd, argv):
        """The slow part of processCommand, in Redis's order."""
        if not c.authenticated and not cmd.no_auth:
            if self.requires_auth():
                return self.reject(c, b'-NOAUTH Authentication required.\r\n', cmd)
            c.authenticated = True
        if c.multi is not None and cmd.no_multi:
            return self.reject(c, b'-ERR Command not allowed inside a transaction\r\n', cmd)
        if c.user.restricted:
            err = self.acl.check_client(c, cmd, argv)
            if err is not None:
                return self.reject(c, err, cmd)
        if self.cluster_route is not None:
            # Cluster mode (cluster/routing.py): -MOVED, -ASK, -CROSSSLOT...
            # The router flags or discards the transaction itself (an
            # EXEC redirected is no EXECABORT).
            err = self.cluster_route(c, cmd, argv)
            if err is not None:
                cmd.rejected_calls += 1
                self.error_replied(err)
                if not (c.reply_mode and self.reply_silenced(c)):
                    c.out.append(err)
                return
        if self.gated or self.oom_check is not None:
            err = self._server_gates(c, cmd, argv)
            if err is not None:
                return self.reject(c, err, cmd)
        if self.monitors and c.id in self.monitors and (
                cmd.is_write or cmd.may_replicate or cmd.name in MAY_REPLICATE
                or 'readonly' in cmd.flags):
            # A monitor is a replica to Redis.
            return self.reject(c, b"-ERR Replica can't interact with the keyspace\r\n", cmd)
        if c.resp == 2 and (c.subscriptions or c.psubscriptions or c.ssubscriptions) \
                and not cmd.pubsub_ok:
            return self.reject(c, b"-ERR Can't execute '%s': only (P|S)SUBSCRIBE / "
                               b"(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
                               b"context\r\n" % cmd.fullname.encode(), cmd)
        if self.pause_type and self.must_postpone(c, cmd):
            return self.postpone(c, argv)
        if c.multi is not None and (cmd.parent is not None or cmd.name not in MULTI_ALLOWED):
            c.multi.append((cmd, argv))
            c.last_cmd = cmd        # (processCommand sets lastcmd before queueing)
            if not (c.reply_mode and self.reply_silenced(c)):
                c.out.append(resp.QUEUED)
            return
        if self.tracking_on:
            self._call_tracked(c, cmd, argv)
        else:
            self.call(c, cmd, argv)
        c.update_gate()

    def _server_gates(self, c, cmd, argv):
        # Inside MULTI any command may be refused for memory (queueing
        # consumes it); oom_check decides which.
        if self.oom_check is not None and (cmd.denyoom or c.multi is not None) \
                and not c.is_master:
            err = self.oom_check(c, cmd)
            if err is not None:
                return err
        if self.write_denied_reason is not None and not c.is_master and (
                cmd.is_write or cmd.fullname == 'ping'):
            return self.write_denied_reason
        if (self.masterhost and self.config.replica_read_only and not c.is_master
                and cmd.is_write):
            return b"-READONLY You can't write against a read only replica.\r\n"
        if self.loading and not cmd.loading:
            return LOADING_ERR
        extra = self.extra_gate
        if extra is not None:
            return extra(c, cmd, argv)
        return None

    extra_gate = None
    # Set in cluster mode (commands/cluster_keys.py): cluster/routing.py's
    # Router and its route.
    cluster_router = None
    cluster_route = None
    migrate_sockets = None      # MIGRATE's cached connections (commands/migrate.py)
    # Set by the AOF while it has unwritten data: Client.flush asks it
    # whether a reply must wait (see aof.py).
    reply_barrier = None

    # -- propagation --------------------------------------------------------------

    def _propagate_call(self, c, cmd, argv):
        if c.propagate_argv is not None:
            ops, c.propagate_argv = c.propagate_argv, None
            for op in ops:
                self.also_propagated.append((c.db.id, op))
        elif cmd.is_write or cmd.may_replicate:
            self.also_propagated.append((c.db.id, argv))
        if not self.in_exec:
            self.flush_propagation()

    def targets_changed(self):
        """Called whenever propagate_targets changes. With the AOF as the
        only target, the trusted request path appends a lone verbatim write
        to the AOF's current run itself (Aof.feed), without building an
        operation list or calling the target."""
        aof = getattr(self, 'aof', None)
        self.fast_aof = aof if aof is not None and self.propagate_targets == [aof.feed] else None

    def also_propagate(self, dbid, argv):
        """Queue an extra operation (an expired key's DEL, an evicted key's DEL,
        a rewritten command) to be propagated after the current command."""
        if self.propagate_targets:
            self.also_propagated.append((dbid, argv))

    # Set while queued operations have their own destinations (a script's
    # redis.set_repl): it sends them instead, each to its targets.
    propagation_router = None

    def flush_propagation(self, wrap=True):
        ops = self.also_propagated
        if not ops:
            return
        self.also_propagated = []
        if self.propagation_router is not None:
            return self.propagation_router(ops, wrap)
        if wrap and len(ops) > 1:
            # As Redis: MULTI takes the first operation's database (so any
            # SELECT comes before it), EXEC none (-1: no SELECT before it).
            ops = [(ops[0][0], [b'MULTI'])] + ops + [(-1, [b'EXEC'])]
        for target in self.propagate_targets:
            target(ops)

    # -- keyspace hooks ------------------------------------------------------------

    def expire_if_needed(self, db, key):
        """Called by a lookup that found an expired key. Returns True when the
        key must be treated as missing (it always is)."""
        if self.loading:
            return False
        if self.masterhost is not None:
            # Replicas wait for the master's DEL, but the master's own
            # stream must still see the key.
            if self.executing_client is not None and self.executing_client.is_master:
                return False
            return True
        if self.pause_type:
            # CLIENT PAUSE: expired, but deleted only once the pause ends.
            return True
        self.delete_expired(db, key)
        return True

    def delete_expired(self, db, key):
        """The single path for expiry deletions (lazy and active)."""
        self.stat.expired_keys += 1
        self._delete_and_propagate(db, key, NotifyFlags.EXPIRED, b'expired',
                                   self.config.lazyfree_lazy_expire, b'expire-del')

    def delete_evicted(self, db, key):
        """The single path for eviction deletions (evict.py)."""
        self.stat.evicted_keys += 1
        self._delete_and_propagate(db, key, NotifyFlags.EVICTED, b'evicted',
                                   self.config.lazyfree_lazy_eviction, b'eviction-del')

    def _delete_and_propagate(self, db, key, cls, event, lazy, latency_event=None):
        """Delete a key the server itself removes, fire its keyspace event and
        propagate a DEL (UNLINK when freed lazily, as propagateDeletion
        does), so the AOF and the replicas drop it too. The deletion alone
        is timed for the latency monitor (expire-del, eviction-del)."""
        if (latency_event is not None and self.config.latency_monitor_threshold
                and self.latency_add is not None):
            start = perf_counter_ns()
            db.delete(key, lazy)
            self.latency_add(latency_event, (perf_counter_ns() - start) // 1000000)
        else:
            db.delete(key, lazy)
        if self.tracking_on:
            self.tracking.invalidate(key)
        if self.notify_flags:
            self.notify(cls, event, key, db.id)
        if self.propagate_targets:
            self.also_propagate(db.id, [b'UNLINK' if lazy else b'DEL', key])

    def empty_database(self, db, lazy=False):
        """emptyData for one database: drop every key, then let the
        subsystems that keep state per database forget it (flush_hooks).
        ``lazy`` (FLUSHALL ASYNC...): the old tables are freed in slices."""
        db.clear(lazy)
        for hook in self.flush_hooks:
            hook(self, db)

    def key_modified(self, db, key, cls, event, changes=1):
        """What a write to one key entails besides the write (Redis's
        signalModifiedKey, server.dirty++ and notifyKeyspaceEvent): WATCHes
        on it are invalidated, the changes counted, the keyspace event of
        class ``cls`` fired."""
        if db.watched:
            self.signal_modified(db, key)
        self.dirty += changes
        if self.notify_flags:
            self.notify(cls, event, key, db.id)

    def signal_modified(self, db, key):
        """signalModifiedKey: invalidate WATCHes on this key (and the
        clients' caches: tracking.py keeps db.watched non-empty for it)."""
        if self.tracking_on:
            self.tracking.invalidate(key)
        clients = db.watched.get(key)
        if clients:
            for c in clients:
                watched = c.watched
                if watched and watched.get((db, key)) and key not in db.data:
                    # Watched while already expired, now deleted: no
                    # logical change (Redis 7.0's watchedKey.expired).
                    watched[(db, key)] = False
                    continue
                c.dirty_cas = True

    def touch_all_watched_keys_in_db(self, emptied, replaced_with=None):
        """touchAllWatchedKeysInDb: ``emptied`` is about to be flushed, or
        swapped with ``replaced_with`` (SWAPDB). Only keys that exist on
        either side count; the expired-when-watched flag is kept exact."""
        for key, clients in list(emptied.watched.items()):
            in_emptied = key in emptied.data
            in_replacement = replaced_with is not None and key in replaced_with.data
            if not (in_emptied or in_replacement):
                continue
            for c in list(clients):
                wk = (emptied, key)
                if c.watched and c.watched.get(wk):
                    if not in_replacement:
                        c.watched[wk] = False
                        continue
                    if replaced_with.is_expired(key):
                        continue
                elif not in_emptied and replaced_with.is_expired(key):
                    if c.watched:
                        c.watched[wk] = True
                    continue
                c.dirty_cas = True

    def signal_key_ready(self, db, key):
        """signalKeyAsReady: a key some client is blocked on may be usable."""
        self.ready_keys.append((db, key))
        if self.handle_ready_keys is not None:
            self.loop.call_soon(self.handle_ready_keys)

    handle_ready_keys = None

    def notify(self, cls, event, key, dbid):
        """notifyKeyspaceEvent."""
        flags = self.notify_flags
        if not flags & cls or self.pubsub is None:
            return
        publish = self.pubsub.publish
        if flags & NotifyFlags.KEYSPACE:
            publish(b'__keyspace@%d__:%s' % (dbid, key), event)
        if flags & NotifyFlags.KEYEVENT:
            publish(b'__keyevent@%d__:%s' % (dbid, event), key)

    def update_gate(self):
        """Recompute whether server-wide conditions need the slow checks, and
        fold that into every client's own ``gated`` flag, so the hot path
        tests a single attribute."""
        # (maxmemory's oom_check is not a gate: process_command consults it
        # for denyoom commands only.)
        self.gated = bool(self.loading or self.masterhost
                          or self.write_denied_reason is not None or self.monitors
                          or self.pause_type
                          or self.extra_gate is not None or self.cluster_route is not None)
        for c in self.clients.values():
            c.update_gate()

    # -- cron -----------------------------------------------------------------------

    def _clock_listener(self):
        # (Called from whichever thread moved the clock.) In the server's
        # own loop (DEBUG CLOCK), clock_moved runs before the loop reads the
        # next request; from another thread (clock.advance() in a test),
        # advance() waits for it, or the client's next command could be read
        # before it ran and see the clock unmoved.
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            same_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            same_loop = False
        if same_loop or not loop.is_running():
            loop.call_soon_threadsafe(self.clock_moved)
            return
        import threading
        done = threading.Event()

        def caught_up():
            try:
                self.clock_moved()
            finally:
                done.set()
        loop.call_soon_threadsafe(caught_up)
        done.wait(5)

    def clock_moved(self):
        """The clock jumped (clock.advance): what that time would have
        brought happens now - the cached clocks, expired keys found by the
        expire cycle, blocked clients' timeouts (clock_hooks). Save points
        are the cron's, at its next run."""
        if self.shutting_down:
            return
        self._update_clocks()
        if self.masterhost is None and self.active_expire_enabled:
            expire.active_expire_cycle(self)
        for hook in self.clock_hooks:
            hook()

    def _update_clocks(self):
        now = clock.time()
        self.unixtime = int(now)
        self.lruclock = self.unixtime & LRU_CLOCK_MAX
        for db in self.dbs:
            db.lruclock = self.lruclock
        return now

    def server_cron(self):
        if self.shutting_down:
            return
        now = self._update_clocks()
        if self.cron_paused:
            # DEBUG PAUSE-CRON 1: serverCron returns right after updating
            # the cached clocks.
            self.loop.call_later(1.0 / (self.hz or 1), self.server_cron)
            return
        self.cronloops += 1
        self.stat.track_instantaneous(now, self.total_commands)
        self._clients_output(self.unixtime)
        self._clients_cron(now)
        if self.config.maxmemory_clients:
            evict_clients(self)
        if self.masterhost is None and self.active_expire_enabled and not self.pause_type:
            expire.active_expire_cycle(self)
        databases_cron(self)
        for hook in self.cron_hooks:
            try:
                hook()
            except Exception as e:
                import traceback
                log.warning('cron hook failed: %s\n%s' % (e, traceback.format_exc()))
        hz = self.config.hz or 1
        if self.config.dynamic_hz:
            # As Redis: raise the frequency with many clients (at most 500).
            while len(self.clients) / hz > 200 and hz < 500:
                hz = min(hz * 2, 500)
        self.hz = hz
        self.loop.call_later(1.0 / hz, self.server_cron)

    def _clients_output(self, now):
        """The output side of clientsCron: the soft limit's seconds run out
        even for a client that gets no new reply, and the recent peak."""
        peaks = self.output_peaks
        slot = now % 8
        peaks[(slot + 1) % 8] = 0
        for c in list(self.output_backlog):
            if c.closing:
                self.output_backlog.discard(c)
                continue
            used = c.output_memory()
            if used > peaks[slot]:
                peaks[slot] = used
            c.check_output_limits(now, in_cron=True)

    # -- start and stop -------------------------------------------------------------

    async def start(self):
        self.loop = asyncio.get_running_loop()
        config = self.config
        if config.port and config.bind:
            # The sockets are made the same way CONFIG SET bind/port makes
            # them (Redis's listenToPort: '-' optional addresses,
            # IPV6_V6ONLY, errors logged as Redis logs them).
            try:
                socks = open_listeners(config, config.bind)
            except OSError:
                log.warning('Failed listening on port %d (tcp), aborting.' % config.port)
                raise SystemExit(1)
            for sock in socks:
                # The loop listens again, with a backlog of 100 unless told:
                # a burst of connections beyond it would wait for SYN
                # retransmits (a second each).
                self.listeners.append(await self.loop.create_server(
                    lambda: Client(self), sock=sock, backlog=config.tcp_backlog))
        if config.unixsocket:
            try:
                os.unlink(config.unixsocket)
            except OSError:
                pass
            srv = await self.loop.create_unix_server(lambda: Client(self, unix=True),
                                                     path=config.unixsocket,
                                                     backlog=config.tcp_backlog)
            if config.unixsocketperm:
                os.chmod(config.unixsocket, config.unixsocketperm)
            self.listeners.append(srv)
        if not self.listeners:
            log.warning('Failed listening on port %d (tcp), aborting.' % config.port)
            raise SystemExit(1)
        self._stopped = self.loop.create_future()
        if self.owns_process:
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    self.loop.add_signal_handler(sig, self._on_signal, sig)
                except (NotImplementedError, RuntimeError):
                    pass
        self.update_gate()
        self.loop.call_later(1.0 / (config.hz or 1), self.server_cron)
        clock.listeners.append(self._clock_listener)
        for hook in self.startup_hooks:
            result = hook()
            if result is not None and hasattr(result, '__await__'):
                await result
        if self.owns_process:
            # Start-up objects (the command table, the loaded dataset) live
            # for ever: keep them out of the collector's full scans. Every
            # request allocates a list, so a larger young generation means
            # fewer collections on the hot path.
            gc.freeze()
            gc.set_threshold(20000, 20, 20)
            # What start-up allocated and freed (imports, compiling the
            # command table, the load's buffers: ten megabytes or more) stays
            # resident in the heap otherwise, in used_memory_rss but not
            # used_memory.
            malloc_trim()
        log.notice('Ready to accept connections')

    def _on_signal(self, sig):
        if self.signal_shutdown is not None:
            # (commands/server.py: the cron shuts down with the flags of
            # shutdown-on-sigterm/-sigint, waiting for lagging replicas.)
            self.signal_shutdown(sig)
            return
        name = 'SIGTERM' if sig == signal.SIGTERM else 'SIGINT'
        log.warning('Received %s scheduling shutdown...' % name)
        self.loop.call_soon(self.shutdown, None, False, True)

    def shutdown(self, save=None, now=False, from_signal=False, force=False):
        """Stop serving (finishShutdown; SHUTDOWN's waiting for replicas is
        commands/server.py's); persistence hooks run first (they may refuse
        by returning an error message, which FORCE overrides). Returns an
        error message or None."""
        for hook in self.shutdown_hooks:
            err = hook(save)
            if err:
                if not force:
                    return err
                log.warning('Error trying to save the DB. Exit anyway.')
        self.shutting_down = True
        if self._clock_listener in clock.listeners:
            clock.listeners.remove(self._clock_listener)
        for srv in self.listeners:
            srv.close()
        if self.config.unixsocket:
            try:
                os.unlink(self.config.unixsocket)
            except OSError:
                pass
        for c in list(self.clients.values()):
            if c.out:
                c.flush()
            c.close()
        log.warning('Redis is now ready to exit, bye bye...')
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(0)
        return None

    async def wait_closed(self):
        await self._stopped


class Stats:
    """INFO stats counters and the instantaneous-metric samples."""

    def __init__(self):
        self.numconnections = 0
        self.rejected_conn = 0
        self.expired_keys = 0
        self.evicted_keys = 0
        self.evicted_clients = 0
        self.keyspace_hits = 0
        self.keyspace_misses = 0
        self.expired_stale_perc = 0.0
        self.expired_time_cap_reached_count = 0
        self.expire_cycle_time_used = 0.0   # seconds
        self.total_error_replies = 0
        self.errors = {}            # errorstats: error code -> count
        self.latest_fork_usec = 0   # (Server.forked)
        self.total_forks = 0
        self.fork_rate = 0.0
        # Time spent over maxmemory (evict.py's perform_evictions): the
        # finished periods in microseconds, and the perf_counter_ns() start
        # of the current one (0: memory is under the limit).
        self.eviction_exceeded_us = 0
        self.eviction_exceeded_start = 0
        self.net_input_bytes = 0
        self.net_output_bytes = 0
        self._samples = []
        self._last_sample = (clock.time(), 0)
        self.instantaneous_ops = 0

    def track_instantaneous(self, now, total_commands):
        # Every 100 ms (the cron may run 500 times a second): the total is
        # a sum over the command table.
        last_t, last_n = self._last_sample
        if now - last_t < 0.1:
            return
        numcommands = total_commands()
        ops = (numcommands - last_n) / (now - last_t)
        self._samples.append(ops)
        if len(self._samples) > 16:
            del self._samples[0]
        self._last_sample = (now, numcommands)
        self.instantaneous_ops = int(sum(self._samples) / len(self._samples))


def _arm_skip(mode):
    """SKIP_NEXT (set by CLIENT REPLY SKIP) becomes SKIP for the command
    that follows it."""
    if mode & REPLY_SKIP_NEXT:
        mode = (mode & ~REPLY_SKIP_NEXT) | REPLY_SKIP
    return mode


def unknown_command_error(argv):
    # C's "%.*s": at most that many bytes, and nothing after a NUL.
    args = b''
    for a in argv[1:]:
        if len(args) >= 128:
            break
        args += b"'%s' " % c_string(a)[:128 - len(args)]
    return resp.error(b"ERR unknown command '%s', with args beginning with: %s" % (
        c_string(argv[0])[:128], args))


PROTECTED_MODE_ERR = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and "
    b"no password is set for the default user. In this mode connections are only "
    b"accepted from the loopback interface. If you want to connect from external "
    b"computers to Redis you may adopt one of the following solutions: 1) Just disable "
    b"protected mode sending the command 'CONFIG SET protected-mode no' from the "
    b"loopback interface by connecting to Redis from the same host the server is "
    b"running, however MAKE SURE Redis is not publicly accessible from internet if you "
    b"do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can "
    b"just disable the protected mode by editing the Redis configuration file, and "
    b"setting the protected mode option to 'no', and then restarting the server. 3) If "
    b"you started the server manually just for testing, restart it with the "
    b"'--protected-mode no' option. 4) Setup a an authentication password for the "
    b"default user. NOTE: You only need to do one of the above things in order for the "
    b"server to start accepting connections from the outside.\r\n")

