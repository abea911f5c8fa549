"""Master/replica replication, wire-compatible with Redis 7.0 (replication.c).

One ``Replication`` object per server (``server.replication``) holds both
roles, because a replica can itself have replicas (chaining), exactly like
Redis's globals ``server.replid``, ``server.master_repl_offset``,
``server.repl_backlog`` and ``server.slaves``.

Master side
-----------
A replica connects like any client, sends PING / AUTH / REPLCONF and then
PSYNC (or the legacy SYNC). From then on its Client carries a
``ReplicaLink`` in ``client.repl`` and ``client.is_replica`` is set.

* The replication stream is the RESP encoding of every propagated write
  (``Server.propagate_targets`` gets ``feed``), with a SELECT whenever the
  database changes, exactly what Redis sends. Each byte goes to the
  backlog, advances ``master_repl_offset`` and is queued for every replica;
  the queues are written once per event-loop iteration, so a pipeline of
  writes costs one socket write per replica.
* The backlog is a bytearray holding the last ``repl-backlog-size`` bytes
  of the stream (trimmed in chunks so appends stay amortised O(1)). It is
  created when the first replica arrives and freed after
  ``repl-backlog-ttl`` seconds without replicas, as in Redis.
* PSYNC with a replid we know (the current one, or replid2 up to
  ``second_replid_offset``) and an offset still inside the backlog gets
  ``+CONTINUE`` and the missing bytes. Anything else gets ``+FULLRESYNC``
  and a snapshot. The snapshot is written by a forked child (pyredis.rdb's
  Writer on the copy-on-write image), so the offset in +FULLRESYNC is the
  stream position at the fork and the master keeps serving meanwhile; the
  stream produced during the transfer waits in the replica's queue. With
  ``repl-diskless-sync`` and replicas that declared ``capa eof`` the child
  writes into a pipe whose bytes are relayed as they come with the
  ``$EOF:<40 bytes mark>`` framing, after ``repl-diskless-sync-delay``
  seconds (or as soon as ``repl-diskless-sync-max-replicas`` wait) so that
  replicas arriving together share one snapshot; as in Redis the stream
  then starts only after the replica's first REPLCONF ACK, because it reads
  the payload in large chunks. Otherwise the child writes a temporary file
  sent with the ``$<length>`` framing once complete. Replicas waiting for
  their payload get a newline every second to keep the link alive.
* ``REPLCONF ACK`` updates a replica's acknowledged offset: WAIT and
  ``min-replicas-to-write`` read it. The cron pings the replicas every
  ``repl-ping-replica-period`` seconds (a PING in the stream) and drops
  replicas silent for ``repl-timeout`` seconds.

Replica side
------------
``set_master`` starts ``_master_link``, a coroutine doing the handshake
over asyncio streams (PING, AUTH, REPLCONF listening-port / capa eof capa
psync2, PSYNC), receiving and loading the RDB (keeping logically expired
keys: only the master expires), then applying the stream. The stream is
executed through ``server.process_command`` by a Client whose
``is_master`` is set (so it bypasses READONLY and sees keys that are
expired but not yet deleted) and whose replies are discarded. The offset
advances by the exact byte length of each applied command; the applied
bytes are copied verbatim into this server's own backlog and to its own
replicas, so a chain of replicas shares one replid and one offset space
(PSYNC2). ``REPLCONF GETACK`` is answered with ``REPLCONF ACK <offset>``
(the offset before the GETACK itself, as Redis computes it), and an ACK is
sent every second anyway. When the link drops the replica keeps its replid
and offset (Redis's cached master) and reconnects with PSYNC. The stream is
read as Redis reads it (the C parser, else resp.RequestParser's exact
rules): a malformed one drops the link and the cached master.
"""

import asyncio
import os
import socket
import time

from . import log
from .acl import SUPERUSER
from .aof import pack_commands
from .networking import Client, parse_requests
from .resp import (MASTER_INLINE, ProtocolError, RequestParser, protocol_error_cause,
                   query_buffer_sample)
from . import clock
from .util import addr_host

# Replica states on the master side (INFO's names).
WAIT_BGSAVE = 'wait_bgsave'
SEND_BULK = 'send_bulk'
ONLINE = 'online'

# Link states on the replica side (ROLE's names).
REPL_NONE = 'none'
REPL_CONNECT = 'connect'
REPL_CONNECTING = 'connecting'
REPL_HANDSHAKE = 'handshake'
REPL_TRANSFER = 'sync'
REPL_CONNECTED = 'connected'

ZERO_REPLID = '0' * 40
NOREPLICAS_ERR = b'-NOREPLICAS Not enough good replicas to write.\r\n'
PING_CMD = b'*1\r\n$4\r\nPING\r\n'
GETACK_CMD = b'*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n'


def new_replid():
    return os.urandom(20).hex()


def encode_command(argv):
    try:
        return pack_commands((argv,))
    except TypeError:   # not all bytes: the general encoder
        pass
    parts = [b'*%d\r\n' % len(argv)]
    for a in argv:
        parts.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(parts)


def command_length(argv):
    """Byte length of argv's canonical multibulk encoding: what a master's
    stream holds, so it is what the replica adds to its offset."""
    n = len(b'*%d\r\n' % len(argv))
    for a in argv:
        la = len(a)
        n += len(b'$%d\r\n' % la) + la + 2
    return n


def cfg(server, name, default):
    return getattr(server.config, name, default)


# -- the RDB payload: the interface to pyredis.rdb ------------------------------

def rdb_snapshot(server, aux):
    """The dataset serialised as an RDB file (bytes), in this process (used
    where fork() is not available)."""
    from . import rdb
    return rdb.save_to_bytes(server, aux=aux)


def rdb_load(server, payload):
    """Load an RDB payload (bytes) into the (flushed) dataset, keeping keys
    whose TTL already passed: a replica waits for the master's DEL."""
    from . import rdb
    stats = rdb.load_bytes(server, payload, is_replica=True)
    log.notice('Done loading RDB, keys loaded: %d, keys expired: %d.' % (
        stats.keys_loaded, stats.keys_expired))
    return stats


class ReplicaLink:
    """Master-side state of one connected replica (client.repl)."""

    __slots__ = ('state', 'listening_port', 'announced_ip', 'capa_eof', 'capa_psync2',
                 'ack_off', 'ack_time', 'wait_ack', 'pending', 'pending_bytes',
                 'legacy_sync', 'in_job')

    def __init__(self):
        self.state = WAIT_BGSAVE
        self.listening_port = 0
        self.announced_ip = b''
        self.capa_eof = False
        self.capa_psync2 = False
        self.ack_off = 0
        self.ack_time = clock.time()
        # True between an EOF-framed payload and the replica's first ACK:
        # the stream is held in ``pending`` meanwhile.
        self.wait_ack = False
        self.pending = []
        self.pending_bytes = 0     # what ``pending`` holds (its output buffer)
        self.legacy_sync = False
        self.in_job = False        # its snapshot is being produced


class Replication:
    def __init__(self, server):
        self.server = server
        self.replid = new_replid()
        self.replid2 = ZERO_REPLID
        self.master_repl_offset = 0
        self.second_replid_offset = -1
        # Backlog: the last bytes of the stream; backlog_off is the stream
        # offset of backlog[0] minus one (so offset+len == master_repl_offset).
        self.backlog = None
        self.backlog_off = 0
        self.replicas = []           # Clients with is_replica
        self.slaveseldb = -1
        self.no_replicas_since = clock.time()
        self.last_ping = 0.0
        self.stat_sync_full = 0
        self.stat_sync_partial_ok = 0
        self.stat_sync_partial_err = 0
        self.stat_net_repl_out = 0
        self.stat_net_repl_in = 0
        self.good_replicas = 0
        self.waiting = []            # WaitState of clients blocked in WAIT
        self.job = None              # SyncJob producing a snapshot
        self.job_timer = None        # repl-diskless-sync-delay timer
        self.getack_scheduled = False
        # Replica side.
        self.masterhost = None
        self.masterport = 0
        self.link_task = None
        self.link_state = REPL_NONE
        self.master_client = None
        self.master_writer = None
        self.last_io = 0.0
        self.down_since = None       # time the link went down (None: never up)
        self.can_psync = False       # our replid/offset describe our data
        self.sync_total = self.sync_read = 0
        self.sync_last_io = 0.0
        self.prev_gate = None
        # FAILOVER's state (commands/failover.py), which the handshake and
        # the cron consult.
        self.failover = None

    # -- backlog and the stream ---------------------------------------------------

    def backlog_size(self):
        return max(16 * 1024, cfg(self.server, 'repl_backlog_size', 1024 * 1024))

    def create_backlog(self):
        self.backlog = bytearray()
        self.backlog_off = self.master_repl_offset
        # The first PING goes out one period after the stream starts.
        self.last_ping = clock.time()
        server = self.server
        if self.feed not in server.propagate_targets:
            if not server.propagate_targets:
                # Without targets, call() never consumes a handler's
                # propagate_argv: drop the stale ones so the next write of
                # those clients is not propagated in an older form.
                for c in server.clients.values():
                    c.propagate_argv = None
            server.propagate_targets.append(self.feed)
            server.targets_changed()

    def free_backlog(self):
        self.backlog = None
        if self.feed in self.server.propagate_targets:
            self.server.propagate_targets.remove(self.feed)
            self.server.targets_changed()

    def backlog_first_byte(self):
        if self.backlog is None:
            return 0
        return self.master_repl_offset - self.histlen() + 1

    def histlen(self):
        if self.backlog is None:
            return 0
        return min(len(self.backlog), self.backlog_size())

    def feed(self, ops):
        """Propagate target: encode ops (list of (dbid, argv)) as the stream."""
        if self.masterhost is not None:
            # A replica only proxies its master's stream (feed_raw).
            return
        parts = []
        seldb = self.slaveseldb
        for dbid, argv in ops:
            if dbid != seldb and dbid != -1:    # -1: no database (EXEC)
                s = b'%d' % dbid
                parts.append(b'*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n' % (len(s), s))
                seldb = dbid
            parts.append(encode_command(argv))
        self.slaveseldb = seldb
        self.feed_raw(b''.join(parts))

    def feed_raw(self, data):
        """Append bytes to the stream: backlog, offset, online replicas."""
        if not data:
            return
        self.master_repl_offset += len(data)
        self.append_stream(data)

    def append_stream(self, data):
        """Bytes already counted in master_repl_offset: to the backlog and
        the replicas."""
        backlog = self.backlog
        if backlog is not None:
            backlog += data
            size = self.backlog_size()
            # Trim in chunks: deleting from the front of a bytearray moves
            # the rest, so do it once per ~size/4 bytes, not per write.
            if len(backlog) > size + (size >> 2):
                cut = len(backlog) - size
                del backlog[:cut]
                self.backlog_off += cut
        # Queue per replica and write once per event-loop iteration: with
        # pipelined clients that is one write for many commands.
        n = len(data)
        for c in self.replicas:
            r = c.repl
            r.pending.append(data)
            r.pending_bytes += n
        if not self.flush_scheduled and self.replicas:
            self.flush_scheduled = True
            self.server.loop.call_soon(self.flush_replicas)

    flush_scheduled = False

    def flush_replicas(self):
        self.flush_scheduled = False
        for c in list(self.replicas):
            r = c.repl
            if r.pending and r.state == ONLINE and not r.wait_ack:
                self.flush_pending(c)
            elif r.pending:
                # Still in its full sync: the stream it will be sent waits
                # here, and counts against the replica class's limits, as
                # the shared replication buffer a replica references does.
                c.check_output_limits()

    def backlog_from(self, offset):
        """The stream bytes from ``offset`` (first byte wanted) onwards."""
        start = offset - self.backlog_off - 1
        return bytes(self.backlog[start:])

    # -- master side: PSYNC / SYNC ------------------------------------------------------

    def psync(self, c, replid, offset):
        """PSYNC/SYNC from client c (syncCommand): writes its reply
        directly, or returns the error reply that refuses it."""
        if c.is_replica:
            return None
        if self.masterhost is not None and self.link_state != REPL_CONNECTED:
            return b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n"
        if c.out or (c.transport is not None and c.transport.get_write_buffer_size()):
            # The stream must start on a clean output buffer: a client that
            # pipelined other commands before PSYNC (their replies not yet
            # written) is refused, as Redis refuses it.
            return b'-ERR SYNC and PSYNC are invalid with pending output\r\n'
        r = c.repl if isinstance(c.repl, ReplicaLink) else ReplicaLink()
        c.repl = r
        desc = self.replica_name(c)
        if replid is not None:
            if self.try_partial(c, r, replid, offset, desc):
                return
        else:
            r.legacy_sync = True
        # Full resynchronisation.
        if replid is not None and replid != '?':
            self.stat_sync_partial_err += 1
        log.notice('Replica %s asks for synchronization' % desc)
        if replid == '?':
            log.notice('Full resync requested by replica %s' % desc)
        if self.backlog is None:
            if self.masterhost is None:
                self.change_replid()
                self.clear_replid2()
            self.create_backlog()
            log.notice('Replication backlog created, my new replication IDs are \'%s\' and '
                       '\'%s\'' % (self.replid, self.replid2))
        self.stat_sync_full += 1
        r.state = WAIT_BGSAVE
        r.in_job = False
        r.ack_time = clock.time()
        self.attach_replica(c, r)
        self.maybe_start_sync()

    # -- master side: the snapshot for full syncs ------------------------------------

    def maybe_start_sync(self):
        """Start a snapshot for the replicas waiting for one, now or after
        repl-diskless-sync-delay (so that replicas arriving together share
        one snapshot, as in Redis)."""
        if self.job is not None:
            return          # the next one starts when it ends
        waiting = [c for c in self.replicas
                   if c.repl.state == WAIT_BGSAVE and not c.repl.in_job]
        if not waiting:
            return
        server = self.server
        diskless = self.diskless_target(waiting)
        delay = cfg(server, 'repl_diskless_sync_delay', 5) if diskless else 0
        max_replicas = cfg(server, 'repl_diskless_sync_max_replicas', 0)
        if delay > 0 and not (max_replicas and len(waiting) >= max_replicas):
            if self.job_timer is None:
                self.job_timer = server.loop.call_later(delay, self.start_sync)
            return
        self.start_sync()

    def diskless_target(self, waiting):
        return (cfg(self.server, 'repl_diskless_sync', True)
                and all(c.repl.capa_eof and not c.repl.legacy_sync for c in waiting))

    def start_sync(self):
        """+FULLRESYNC to every waiting replica, then fork a child that
        serialises the dataset: into a pipe whose bytes are relayed to the
        replicas with the EOF-mark framing (diskless), or into a file sent
        with a length prefix once complete (disk)."""
        if self.job_timer is not None:
            self.job_timer.cancel()
            self.job_timer = None
        if self.job is not None:
            return
        server = self.server
        waiting = [c for c in self.replicas
                   if c.repl.state == WAIT_BGSAVE and not c.repl.in_job and not c.closing]
        if not waiting:
            return
        diskless = self.diskless_target(waiting)
        if self.masterhost is None:
            # The replicas start in db 0 after the RDB: force a SELECT.
            self.slaveseldb = -1
        offset = self.master_repl_offset
        for c in waiting:
            c.repl.in_job = True
            if c.out:
                c.flush()
            if not c.repl.legacy_sync:
                c.transport.write(b'+FULLRESYNC %s %d\r\n' % (self.replid.encode(), offset))
        log.notice('Starting BGSAVE for SYNC with target: %s' % (
            'replicas sockets' if diskless else 'disk'))
        job = self.job = SyncJob(waiting, diskless)
        aux = self.rdb_aux()
        if not hasattr(os, 'fork'):
            try:
                job.payload = rdb_snapshot(server, aux)
                job.ok = True
            except Exception as e:
                log.warning('Can\'t produce the RDB for SYNC: %s' % e)
            self.finish_sync()
            return
        data_r, data_w = os.pipe()
        status_r, status_w = os.pipe()
        if not diskless:
            job.path = os.path.abspath(server.path('temp-repl-%d.rdb' % os.getpid()))
        fork_start = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:                      # the child
            try:
                os.close(data_r)
                os.close(status_r)
                from . import rdb
                if diskless:
                    f = os.fdopen(data_w, 'wb', buffering=1 << 16)
                else:
                    os.close(data_w)
                    f = open(job.path, 'wb')
                rdb.Writer(f, rdb.Options(server.config)).save(server, aux)
                f.flush()
                f.close()
                os.write(status_w, b'1')
            except BaseException as e:
                try:
                    log.logger.role = 'C'
                    log.warning('Write error saving DB for SYNC: %s' % e)
                except BaseException:
                    pass
            os._exit(0)
        server.forked(fork_start)
        os.close(data_w)
        os.close(status_w)
        job.pid = pid
        job.data_fd = data_r
        job.status_fd = status_r
        log.notice('Background RDB transfer started by pid %d' % pid if diskless else
                   'Background saving started by pid %d' % pid)
        server.loop.add_reader(data_r, self._job_readable)

    def _job_readable(self):
        job = self.job
        try:
            data = os.read(job.data_fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b''
        if data:
            for c in job.replicas:
                if c.transport is None or c.closing:
                    continue
                if not job.header_sent:
                    c.transport.write(b'$EOF:%s\r\n' % job.mark)
                c.transport.write(data)
            job.header_sent = True
            self.stat_net_repl_out += len(data) * len(job.replicas)
            return
        self.server.loop.remove_reader(job.data_fd)
        os.close(job.data_fd)
        try:
            job.ok = os.read(job.status_fd, 1) == b'1'
        except OSError:
            job.ok = False
        os.close(job.status_fd)
        try:
            os.waitpid(job.pid, 0)
        except ChildProcessError:
            pass                   # already reaped by another cron
        self.finish_sync()

    def finish_sync(self):
        job, self.job = self.job, None
        if not job.ok:
            log.warning('Background RDB transfer error' if job.diskless else
                        'Background saving error')
            for c in job.replicas:
                c.close()
        else:
            payload = job.payload
            if not job.diskless and payload is None:
                try:
                    with open(job.path, 'rb') as f:
                        payload = f.read()
                except OSError as e:
                    log.warning('SYNC failed. Can\'t open/stat DB after BGSAVE: %s' % e.strerror)
                    for c in job.replicas:
                        c.close()
                    payload = None
            if payload is not None or job.diskless:
                log.notice('Background RDB transfer terminated with success' if job.diskless
                           else 'Background saving terminated with success')
            for c in job.replicas:
                if c.closing or c.transport is None or payload is None and not job.diskless:
                    continue
                r = c.repl
                desc = self.replica_name(c)
                if job.diskless:
                    if payload is not None:           # no fork: all at once
                        c.transport.write(b'$EOF:%s\r\n' % job.mark)
                        c.transport.write(payload)
                    elif not job.header_sent:
                        c.transport.write(b'$EOF:%s\r\n' % job.mark)
                    c.transport.write(job.mark)
                    # The replica reads the payload in big chunks: the
                    # stream starts after its first ACK (Redis does this too).
                    r.wait_ack = True
                    log.notice('Streamed RDB transfer with replica %s succeeded (socket). '
                               'Waiting for REPLCONF ACK from replica to enable streaming'
                               % desc)
                else:
                    c.transport.write(b'$%d\r\n' % len(payload))
                    c.transport.write(payload)
                    self.stat_net_repl_out += len(payload)
                    log.notice('Synchronization with replica %s succeeded' % desc)
                r.state = ONLINE
                r.in_job = False
                r.ack_time = clock.time()
                if not r.wait_ack:
                    self.flush_pending(c)
        if job.path:
            try:
                os.unlink(job.path)
            except OSError:
                pass
        self.refresh_good_replicas()
        # Replicas that arrived during this snapshot get the next one.
        self.maybe_start_sync()

    def rdb_aux(self):
        return {b'repl-stream-db': b'%d' % self.repl_stream_db(),
                b'repl-id': self.replid.encode(),
                b'repl-offset': b'%d' % self.master_repl_offset}

    def try_partial(self, c, r, replid, offset, desc):
        if replid != self.replid and (replid != self.replid2 or offset > self.second_replid_offset):
            if replid != '?':
                if replid != self.replid and replid != self.replid2:
                    log.notice('Partial resynchronization not accepted: Replication ID '
                               'mismatch (Replica asked for \'%s\', my replication IDs are '
                               '\'%s\' and \'%s\')' % (replid, self.replid, self.replid2))
                else:
                    log.notice('Partial resynchronization not accepted: Requested offset for '
                               'second ID was %d, but I can reply up to %d' % (
                                   offset, self.second_replid_offset))
            return False
        if (self.backlog is None or offset < self.backlog_first_byte()
                or offset > self.master_repl_offset + 1):
            log.notice('Unable to partial resync with replica %s for lack of backlog (Replica '
                       'request was: %d).' % (desc, offset))
            if offset > self.master_repl_offset + 1:
                log.warning('Warning: replica %s tried to PSYNC with an offset that is greater '
                            'than the master replication offset.' % desc)
            return False
        self.attach_replica(c, r)
        r.state = ONLINE
        r.ack_time = clock.time()
        if c.out:
            c.flush()
        if r.capa_psync2:
            c.transport.write(b'+CONTINUE %s\r\n' % self.replid.encode())
        else:
            c.transport.write(b'+CONTINUE\r\n')
        data = self.backlog_from(offset)
        if data:
            c.transport.write(data)
            self.stat_net_repl_out += len(data)
        self.stat_sync_partial_ok += 1
        log.notice('Partial resynchronization request from %s accepted. Sending %d bytes of '
                   'backlog starting from offset %d.' % (desc, len(data), offset))
        self.refresh_good_replicas()
        return True

    def attach_replica(self, c, r):
        c.is_replica = True
        c.update_gate()
        if cfg(self.server, 'repl_disable_tcp_nodelay', False) and c.transport is not None:
            # Fewer, bigger packets to the replica, at the price of lag.
            sock = c.transport.get_extra_info('socket')
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            except (OSError, AttributeError):
                pass
        if c not in self.replicas:
            self.replicas.append(c)

    def flush_pending(self, c):
        r = c.repl
        if r.pending and c.transport is not None:
            data = b''.join(r.pending)
            self.stat_net_repl_out += len(data)
            c.transport.write(data)
            # The replica class's limits: a replica that does not read its
            # stream is dropped (it will resync), not held in memory.
            c.check_output_limits()
        r.pending = []
        r.pending_bytes = 0

    def replica_ack(self, c, offset):
        r = c.repl
        if offset > r.ack_off:
            r.ack_off = offset
        r.ack_time = clock.time()
        if r.wait_ack:
            r.wait_ack = False
            log.notice('Synchronization with replica %s succeeded' % self.replica_name(c))
            self.flush_pending(c)
            self.refresh_good_replicas()
        if self.waiting:
            self.check_waiting()

    def replica_name(self, c):
        r = c.repl
        ip = self.replica_ip(c)
        port = r.listening_port if r is not None else 0
        return '%s:%d' % (ip.decode('latin-1'), port)

    @staticmethod
    def replica_ip(c):
        r = c.repl
        if r is not None and r.announced_ip:
            return r.announced_ip
        return addr_host(c.addr)

    def client_closed(self, c):
        if c.is_replica and c in self.replicas:
            self.replicas.remove(c)
            log.notice('Connection with replica %s lost.' % self.replica_name(c))
            if not self.replicas:
                self.no_replicas_since = clock.time()
            self.refresh_good_replicas()
        if c.blocked is not None and isinstance(c.blocked, WaitState):
            if c.blocked in self.waiting:
                self.waiting.remove(c.blocked)
            c.blocked = None
            self.server.blocked_clients -= 1
        if c is self.master_client:
            self.master_client = None

    # -- replid / role changes ---------------------------------------------------------

    def change_replid(self):
        self.replid = new_replid()

    def clear_replid2(self):
        self.replid2 = ZERO_REPLID
        self.second_replid_offset = -1

    def shift_replid(self):
        """A replica becoming master: the old history stays valid as replid2."""
        self.replid2 = self.replid
        self.second_replid_offset = self.master_repl_offset + 1
        self.change_replid()
        log.warning('Setting secondary replication ID to %s, valid up to offset: %d. New '
                    'replication ID is %s' % (self.replid2, self.second_replid_offset,
                                              self.replid))

    def disconnect_replicas(self):
        for c in list(self.replicas):
            c.close()

    def set_master(self, host, port, from_config=False):
        server = self.server
        was_master = self.masterhost is None
        self.masterhost = host
        self.masterport = port
        server.masterhost = host
        self.stop_link()
        if was_master:
            # Our own history is a valid starting point for PSYNC (Redis's
            # replicationCacheMasterUsingMyself).
            self.can_psync = True
            log.notice('Before turning into a replica, using my own master parameters to '
                       'synthesize a cached master: I may be able to synchronize with the new '
                       'master with just a partial transfer.')
            self.unblock_waiting()
        log.logger.role = 'S'
        self.link_state = REPL_CONNECT
        self.update_gate()
        log.notice('Connecting to MASTER %s:%d' % (host, port))
        self.start_link()

    def unset_master(self):
        server = self.server
        if self.masterhost is None:
            return
        self.masterhost = None
        server.masterhost = None
        self.stop_link()
        self.shift_replid()
        self.disconnect_replicas()
        self.link_state = REPL_NONE
        self.slaveseldb = -1
        self.down_since = None
        log.logger.role = 'M'
        self.update_gate()

    def saved_history(self):
        """The replication history saved in this server's RDB file (AUX
        repl-id / repl-offset / repl-stream-db) as (replid, offset,
        stream_db), or None when there is none or it is not valid."""
        server = self.server
        if cfg(server, 'appendonly', False):
            return None
        try:
            from . import rdb
            from .commands.persistence import dump_path
            with open(dump_path(server), 'rb') as f:
                head = f.read(1 << 16)
            aux = {}
            r = rdb.Reader(head, 9)
            if head[:5] != b'REDIS':
                return None
            while r.pos < len(head) and r.byte() == rdb.OP_AUX:
                k = r.string()
                aux[bytes(k)] = bytes(r.string())
        except (ImportError, OSError, Exception):
            return None
        replid = aux.get(b'repl-id')
        offset = aux.get(b'repl-offset')
        stream_db = aux.get(b'repl-stream-db')
        if not replid or offset is None or len(replid) != 40:
            return None
        try:
            offset = int(offset)
            stream_db = int(stream_db) if stream_db is not None else 0
        except ValueError:
            return None
        if offset < 0 or not 0 <= stream_db < len(server.dbs):
            return None
        return replid.decode('latin-1'), offset, stream_db

    def restore_from_rdb(self):
        """A replica restarting from its own RDB continues the replication
        history saved in it, so it can PSYNC instead of a full sync, as
        Redis's loadDataFromDisk."""
        saved = self.saved_history()
        if saved is None:
            return
        self.replid, offset, self.cached_db = saved
        self.master_repl_offset = offset
        self.can_psync = True
        self.restored = True
        log.notice('Restoring replication ID %s and offset %d from the RDB file' % (
            self.replid, offset))

    def resume_as_master(self, saved):
        """A master restarting from an RDB that saved its replication history
        (SHUTDOWN saves it while replicas are attached) keeps that history as
        replid2 with a backlog starting where it ended, so its replicas
        continue with PSYNC, as Redis 7.0's loadDataFromDisk. The load kept the expired
        keys (persistence.startup_load): they are deleted now with a DEL (an
        UNLINK under lazyfree-lazy-expire) in the backlog, as Redis feeds
        them while loading (RDBFLAGS_FEED_REPL). Returns how many."""
        server = self.server
        replid, offset, _ = saved
        self.master_repl_offset = offset
        self.create_backlog()
        log.notice('Replication backlog created, my new replication IDs are \'%s\' and '
                   '\'%s\'' % (self.replid, self.replid2))
        self.replid2 = replid
        self.second_replid_offset = offset + 1
        self.no_replicas_since = clock.time()
        lazy = bool(cfg(server, 'lazyfree_lazy_expire', False))
        verb = b'UNLINK' if lazy else b'DEL'
        now = int(clock.time() * 1000)
        expired = 0
        for db in server.dbs:
            for key in [k for k, when in db.expires.items() if when < now]:
                db.delete(key, lazy)
                self.feed([(db.id, [verb, key])])
                expired += 1
        return expired

    restored = False

    def repl_stream_db(self):
        """The database the replication stream is in (AUX repl-stream-db)."""
        if self.masterhost is not None:
            mc = self.master_client
            if mc is not None:
                return mc.db.id
            return self.cached_db or 0
        return max(self.slaveseldb, 0)

    def update_gate(self, if_changed=False):
        """Install or remove our gate (MASTERDOWN, NOREPLICAS) and recompute
        the server's gated flag (with ``if_changed``, as the cron asks, only
        when the gate came or went: recomputing it visits every client)."""
        server = self.server
        need = ((self.masterhost is not None and not cfg(server, 'replica_serve_stale_data', True)
                 and self.link_state != REPL_CONNECTED)
                or (self.masterhost is None and cfg(server, 'min_replicas_to_write', 0) > 0
                    and cfg(server, 'min_replicas_max_lag', 10) > 0))
        current = server.extra_gate
        # Bound methods are new objects on each access: compare with ==.
        mine = current is not None and current == self.gate
        if need and not mine:
            self.prev_gate = current
            server.extra_gate = self.gate
        elif not need and mine:
            server.extra_gate = self.prev_gate
            self.prev_gate = None
        elif if_changed:
            return
        server.update_gate()

    def gate(self, c, cmd, argv):
        server = self.server
        if c.is_master:
            return None
        if (self.masterhost is not None and self.link_state != REPL_CONNECTED
                and not cfg(server, 'replica_serve_stale_data', True) and not cmd.stale):
            return (b"-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set "
                    b"to 'no'.\r\n")
        if cmd.is_write and self.too_few_replicas():
            return NOREPLICAS_ERR
        if self.prev_gate is not None:
            return self.prev_gate(c, cmd, argv)
        return None

    def too_few_replicas(self):
        """checkGoodReplicasStatus failing: a master with min-replicas-to-write
        and min-replicas-max-lag set has fewer good replicas (processCommand
        and a script's first write refuse writes then)."""
        server = self.server
        return (self.masterhost is None and cfg(server, 'min_replicas_to_write', 0) > 0
                and cfg(server, 'min_replicas_max_lag', 10) > 0
                and self.good_replicas < cfg(server, 'min_replicas_to_write', 0))

    def refresh_good_replicas(self):
        lag = cfg(self.server, 'min_replicas_max_lag', 10)
        now = clock.time()
        self.good_replicas = sum(1 for c in self.replicas
                                 if c.repl.state == ONLINE and now - c.repl.ack_time <= lag)

    # -- WAIT ---------------------------------------------------------------------

    def acked(self, offset):
        return sum(1 for c in self.replicas
                   if c.repl.state == ONLINE and c.repl.ack_off >= offset)

    def block_wait(self, c, numreplicas, timeout_ms, offset):
        w = WaitState(c, numreplicas, offset)
        c.blocked = w
        c.paused_reading = True
        if c.transport is not None:
            c.transport.pause_reading()
        self.server.blocked_clients += 1
        self.waiting.append(w)
        if timeout_ms > 0:
            w.timer = self.server.loop.call_later(timeout_ms / 1000.0, self.wait_timeout, w)
        if not self.getack_scheduled:
            self.getack_scheduled = True
            self.server.loop.call_soon(self.send_getack)

    def send_getack(self):
        self.getack_scheduled = False
        if self.waiting and self.replicas:
            self.feed_raw(GETACK_CMD)

    def check_waiting(self):
        for w in list(self.waiting):
            n = self.acked(w.offset)
            if n >= w.numreplicas:
                self.finish_wait(w, n)

    def wait_timeout(self, w):
        if w in self.waiting:
            self.finish_wait(w, self.acked(w.offset))

    def finish_wait(self, w, n):
        self.waiting.remove(w)
        if w.timer is not None:
            w.timer.cancel()
        c = w.client
        c.blocked = None
        self.server.blocked_clients -= 1
        c.paused_reading = False
        if c.closing:
            return
        if c.transport is not None:
            c.transport.resume_reading()
        c.write(b':%d\r\n' % n)
        c.resume()

    def unblock_waiting(self):
        for w in list(self.waiting):
            self.finish_wait(w, self.acked(w.offset))

    # -- cron -----------------------------------------------------------------------

    def cron(self):
        """replicationCron, run every second."""
        server = self.server
        now = clock.time()
        timeout = cfg(server, 'repl_timeout', 60)
        # Master side.
        if self.replicas:
            period = cfg(server, 'repl_ping_replica_period', 10)
            if (self.masterhost is None and now - self.last_ping >= period
                    and not (self.failover is not None and self.failover.pings_held())):
                self.last_ping = now
                # The PING goes through the stream (and the backlog).
                self.feed_raw(PING_CMD)
            job = self.job
            for c in list(self.replicas):
                r = c.repl
                if r.state == WAIT_BGSAVE and c.transport is not None and (
                        not r.in_job or (job is not None and not job.diskless)):
                    # Keep the link alive while the replica waits for its
                    # payload (replicationSendNewlineToReplicas).
                    c.transport.write(b'\n')
                if r.state == ONLINE and not r.legacy_sync and now - r.ack_time > timeout:
                    log.warning('Disconnecting timedout replica (streaming sync): %s' %
                                self.replica_name(c))
                    c.closing = True
                    if c.transport is not None:
                        c.transport.abort()
        elif self.backlog is not None and self.masterhost is None:
            ttl = cfg(server, 'repl_backlog_ttl', 3600)
            if ttl and now - self.no_replicas_since > ttl:
                # Like Redis, a new replid: the freed history can't be continued.
                self.change_replid()
                self.clear_replid2()
                self.free_backlog()
                log.notice('Replication backlog freed after %d seconds without connected '
                           'replicas.' % ttl)
        self.refresh_good_replicas()
        # Replica side.
        if self.masterhost is not None:
            if self.link_state == REPL_CONNECTED:
                if now - self.last_io > timeout:
                    log.warning('MASTER timeout: no data nor PING received...')
                    self.stop_link()
                    self.link_lost()
                else:
                    self.send_ack()
            elif self.link_state in (REPL_HANDSHAKE, REPL_TRANSFER, REPL_CONNECTING):
                if now - self.sync_last_io > timeout:
                    log.warning('Timeout connecting to the MASTER...' if
                                self.link_state != REPL_TRANSFER else
                                'Timeout receiving bulk data from MASTER... If the problem '
                                'persists try to set the \'repl-timeout\' parameter in '
                                'redis.conf to a larger value.')
                    self.stop_link()
                    self.link_state = REPL_CONNECT
            if self.link_state == REPL_CONNECT and self.link_task is None:
                log.notice('Connecting to MASTER %s:%d' % (self.masterhost, self.masterport))
                self.start_link()
        self.update_gate(if_changed=True)

    # -- replica side: the link to our master ------------------------------------------

    def start_link(self):
        self.link_state = REPL_CONNECTING
        self.sync_last_io = clock.time()
        self.link_task = self.server.loop.create_task(self._master_link(
            self.masterhost, self.masterport))

    def stop_link(self):
        task, self.link_task = self.link_task, None
        if task is not None and not task.done():
            task.cancel()
        writer, self.master_writer = self.master_writer, None
        if writer is not None:
            writer.close()
        mc = self.master_client
        if mc is not None:
            self.master_client = None
            self.server.clients.pop(mc.id, None)
        if self.link_state == REPL_CONNECTED:
            self.down_since = clock.time()

    def link_lost(self):
        if self.masterhost is None:
            return
        if self.link_state == REPL_CONNECTED:
            log.notice('Connection with master lost.')
            if self.can_psync:      # (not after a protocol error)
                log.notice('* Caching the disconnected master state.')
            self.down_since = clock.time()
        self.link_state = REPL_CONNECT
        self.update_gate()

    def send_ack(self):
        w = self.master_writer
        if w is not None and self.link_state == REPL_CONNECTED:
            off = b'%d' % self.master_repl_offset
            w.write(b'*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$%d\r\n%s\r\n' % (len(off), off))

    async def _master_link(self, host, port):
        try:
            await self._sync_with_master(host, port)
        except asyncio.CancelledError:
            raise
        except (OSError, asyncio.IncompleteReadError, ConnectionError) as e:
            if self.link_state == REPL_CONNECTING:
                log.warning('Error condition on socket for SYNC: %s' % (
                    getattr(e, 'strerror', None) or e))
            elif self.link_state != REPL_CONNECTED:
                log.warning('I/O error trying to sync with MASTER: %s' % (
                    getattr(e, 'strerror', None) or 'connection lost'))
        except ReplicationError as e:
            log.warning(str(e))
        except Exception as e:  # never let the link kill the server
            import traceback
            log.warning('Replication link error: %s\n%s' % (e, traceback.format_exc()))
        if self.link_task is asyncio.current_task():
            self.link_task = None
            w, self.master_writer = self.master_writer, None
            if w is not None:
                w.close()
            mc = self.master_client
            if mc is not None:
                self.master_client = None
                self.server.clients.pop(mc.id, None)
            self.link_lost()

    async def _sync_with_master(self, host, port):
        server = self.server
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        self.master_writer = writer
        self.link_state = REPL_HANDSHAKE
        self.sync_last_io = clock.time()
        log.notice('MASTER <-> REPLICA sync started')
        log.notice('Non blocking connect for SYNC fired the event.')

        async def command(*args):
            writer.write(encode_command([a if isinstance(a, bytes) else str(a).encode()
                                         for a in args]))
            while True:
                line = await reader.readline()
                if not line:
                    raise ConnectionError('connection lost')
                self.sync_last_io = clock.time()
                line = line.rstrip(b'\r\n')
                if line:
                    return line.decode('latin-1')

        reply = await command('PING')
        if reply[0] == '-' and not reply.startswith(('-NOAUTH', '-NOPERM', '-ERR operation not permitted')):
            raise ReplicationError('Error reply to PING from master: \'%s\'' % reply)
        log.notice('Master replied to PING, replication can continue...')
        masterauth = cfg(server, 'masterauth', '')
        if masterauth:
            user = cfg(server, 'masteruser', '')
            reply = await (command('AUTH', user, masterauth) if user else
                           command('AUTH', masterauth))
            if reply[0] == '-':
                raise ReplicationError('Unable to AUTH to MASTER: %s' % reply)
        announce_port = cfg(server, 'replica_announce_port', 0) or server.config.port
        reply = await command('REPLCONF', 'listening-port', announce_port)
        if reply[0] == '-':
            log.notice('(Non critical) Master does not understand REPLCONF listening-port: %s'
                       % reply)
        announce_ip = cfg(server, 'replica_announce_ip', '')
        if announce_ip:
            reply = await command('REPLCONF', 'ip-address', announce_ip)
            if reply[0] == '-':
                log.notice('(Non critical) Master does not understand REPLCONF ip-address: %s'
                           % reply)
        reply = await command('REPLCONF', 'capa', 'eof', 'capa', 'psync2')
        if reply[0] == '-':
            log.notice('(Non critical) Master does not understand REPLCONF capa: %s' % reply)
        if self.can_psync:
            psync_id, psync_off = self.replid, self.master_repl_offset + 1
            log.notice('Trying a partial resynchronization (request %s:%d).' % (
                psync_id, psync_off))
        else:
            psync_id, psync_off = '?', -1
            log.notice('Partial resynchronization not possible (no cached master)')
        failover = self.failover
        reply = await command('PSYNC', psync_id, psync_off,
                              *(failover.psync_extra() if failover is not None else ()))
        if failover is not None and not failover.psync_replied(reply):
            return
        leftover = b''
        if reply.startswith('+FULLRESYNC'):
            parts = reply.split()
            master_replid = parts[1] if len(parts) > 1 else ZERO_REPLID
            master_offset = int(parts[2]) if len(parts) > 2 else -1
            log.notice('Full resync from master: %s:%d' % (master_replid, master_offset))
            if self.can_psync:
                log.notice('Discarding previously cached master state.')
            self.can_psync = False
            leftover = await self._receive_rdb(reader, master_replid, master_offset)
            self.send_ack()
        elif reply.startswith('+CONTINUE'):
            parts = reply.split()
            new_id = parts[1] if len(parts) > 1 else self.replid
            log.notice('Successful partial resynchronization with master.')
            if new_id != self.replid:
                self.replid2 = self.replid
                self.second_replid_offset = self.master_repl_offset + 1
                self.replid = new_id
                log.warning('Master replication ID changed to %s' % new_id)
                # Our replicas must learn the new history too.
                self.disconnect_replicas()
            if self.backlog is None:
                self.create_backlog()
            self.link_up()
            log.notice('MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.')
        elif reply.startswith(('-NOMASTERLINK', '-LOADING')):
            raise ReplicationError('Master is currently unable to PSYNC but should be in the '
                                   'future: %s' % reply)
        else:
            raise ReplicationError('Unexpected reply to PSYNC from master: %s' % reply)
        await self._stream(reader, leftover)

    async def _receive_rdb(self, reader, master_replid, master_offset):
        server = self.server
        self.link_state = REPL_TRANSFER
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError('connection lost')
            self.sync_last_io = clock.time()
            if line.strip():
                break
        line = line.rstrip(b'\r\n')
        if line[:1] == b'-':
            raise ReplicationError('MASTER aborted replication with an error: %s' %
                                   line[1:].decode('latin-1'))
        if line[:1] != b'$':
            raise ReplicationError('Bad protocol from MASTER, the first byte is not \'$\' '
                                   '(we received \'%s\'), are you sure the host and port are '
                                   'right?' % line.decode('latin-1'))
        leftover = b''
        if line.startswith(b'$EOF:'):
            mark = line[5:]
            log.notice('MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF '
                       'to memory')
            buf = bytearray()
            self.sync_total = -1
            while True:
                chunk = await reader.read(1 << 20)
                if not chunk:
                    raise ConnectionError('connection lost')
                self.sync_last_io = clock.time()
                start = max(0, len(buf) - len(mark))
                buf += chunk
                self.sync_read = len(buf)
                i = buf.find(mark, start)
                if i >= 0:
                    leftover = bytes(buf[i + len(mark):])
                    del buf[i:]
                    break
            payload = bytes(buf)
        else:
            size = int(line[1:])
            self.sync_total = size
            log.notice('MASTER <-> REPLICA sync: receiving %d bytes from master to memory' % size)
            buf = bytearray()
            while len(buf) < size:
                chunk = await reader.read(min(1 << 20, size - len(buf)))
                if not chunk:
                    raise ConnectionError('connection lost')
                self.sync_last_io = clock.time()
                buf += chunk
                self.sync_read = len(buf)
            payload = bytes(buf)
        self.stat_net_repl_in += len(payload)
        # Our replicas had our old history: they must sync again.
        self.disconnect_replicas()
        self.free_backlog()
        log.notice('MASTER <-> REPLICA sync: Flushing old data')
        for db in server.dbs:
            db.clear(server.config.replica_lazy_flush)
        log.notice('MASTER <-> REPLICA sync: Loading DB in memory')
        server.loading = True
        server.update_gate()
        try:
            stats = rdb_load(server, payload)
        except Exception as e:
            for db in server.dbs:
                db.clear()
            raise ReplicationError('Failed trying to load the MASTER synchronization DB from '
                                   'socket: %s' % e)
        finally:
            server.loading = False
            self.update_gate()
        self.replid = master_replid
        self.master_repl_offset = master_offset
        self.clear_replid2()
        self.create_backlog()
        # The stream continues in the database the master's stream was in
        # when the snapshot was taken (it matters behind a chained replica,
        # whose stream has no SELECT at that point).
        try:
            stream_db = int(stats.aux.get(b'repl-stream-db', b'0'))
        except (AttributeError, ValueError):
            stream_db = 0
        self.cached_db = stream_db if 0 <= stream_db < len(server.dbs) else 0
        self.link_up()
        log.notice('MASTER <-> REPLICA sync: Finished with success')
        # The dataset was replaced: an enabled AOF starts over from a
        # rewrite of it, as Redis's restartAOFAfterSYNC does.
        from . import aof
        aof.restart_after_sync(server)
        return leftover

    def link_up(self):
        """The link reached the streaming phase: create the master client."""
        server = self.server
        mc = Client(server)
        mc.is_master = True
        mc.authenticated = True
        mc.user = SUPERUSER
        w = self.master_writer
        mc.transport = w.transport if w is not None else None
        peer = w.get_extra_info('peername') if w is not None else None
        local = w.get_extra_info('sockname') if w is not None else None
        if peer:
            mc.addr = ('%s:%d' % (peer[0], peer[1])).encode()
        if local:
            mc.laddr = ('%s:%d' % (local[0], local[1])).encode()
        sock = w.get_extra_info('socket') if w is not None else None
        if sock is not None:
            mc.fd = sock.fileno()
        if self.cached_db is not None:
            mc.db = server.dbs[self.cached_db]
        self.slaveseldb = mc.db.id
        mc.update_gate()
        server.clients[mc.id] = mc
        self.master_client = mc
        self.link_state = REPL_CONNECTED
        self.can_psync = True
        self.last_io = clock.time()
        self.down_since = None
        self.update_gate()

    cached_db = None

    async def _stream(self, reader, leftover):
        """Apply the master's command stream until the link drops."""
        raw = bytearray()            # received bytes not yet applied
        data = leftover
        while True:
            if data:
                self.last_io = clock.time()
                self.stat_net_repl_in += len(data)
                raw += data
                mc = self.master_client
                server = self.server
                prev_exec = server.executing_client
                server.executing_client = mc
                try:
                    applied, error = self._apply_stream(mc, raw)
                finally:
                    server.executing_client = prev_exec
                if mc.closing or self.master_client is not mc:
                    return
                # On a replica slaveseldb mirrors the stream's database, so a
                # snapshot's repl-stream-db AUX field (rdbPopulateSaveInfo)
                # is right for a restart that continues with PSYNC.
                self.cached_db = self.slaveseldb = mc.db.id
                if applied:
                    # Proxy the applied bytes verbatim to our own backlog and
                    # replicas: the whole chain shares one offset space.
                    self.append_stream(bytes(raw[:applied]))
                    del raw[:applied]
                if error is not None:
                    self._stream_protocol_error(mc, error, raw)
                    raise ConnectionError('protocol error')
            data = await reader.read(1 << 16)
            if not data:
                raise ConnectionError('connection lost')

    def _apply_stream(self, mc, raw):
        """Run the whole requests at the start of ``raw``, read as Redis
        reads a master's stream: the C parser's strict form, else the exact
        rules (no proto-max-bulk-len; empty lines are keepalives; any other
        inline request is a desync). Returns the bytes applied; the offset
        moves after each request, so a GETACK reports the offset before
        itself. Also returns the protocol error that stopped it, or None."""
        process = self.server.process_command
        applied = 0
        while applied < len(raw):
            reqs, done, need = parse_requests(raw[applied:] if applied else raw, 1 << 62)
            for req in reqs:
                # (The strict form is the canonical encoding: its length.)
                n = command_length(req)
                process(mc, req)
                mc.out.clear()
                if mc.closing or self.master_client is not mc:
                    return applied, None
                applied += n
                self.master_repl_offset += n
            if need >= 0:           # all run, or a request still arriving
                return applied, None
            parser = RequestParser()
            parser.feed(raw[applied:])
            before = parser.pending()
            try:
                req = parser.next(0, True, is_master=True)
            except ProtocolError as e:
                return applied, e.args[0]
            if req is None:
                return applied, None
            n = before - parser.pending()
            if raw[applied] != 42:  # '*': an inline request
                # (Its length without the newline, and a CR before it.)
                if n - 1 - (n > 1 and raw[applied + n - 2] == 13):
                    return applied, MASTER_INLINE
            elif req:
                process(mc, req)
                mc.out.clear()
                if mc.closing or self.master_client is not mc:
                    return applied, None
            applied += n
            self.master_repl_offset += n
        return applied, None

    def _stream_protocol_error(self, mc, err, raw):
        """A malformed master stream: logged as Redis logs it, and the link
        is dropped without caching the master, so the next sync is a full
        one."""
        if err == MASTER_INLINE:
            log.warning('WARNING: Receiving inline protocol from master, master stream '
                        'corruption? Closing the master connection and discarding the cached '
                        'master.')
        else:
            # (The error Redis would reply to its master, logged instead.)
            log.warning("== CRITICAL == This replica is sending an error to its master: "
                        "'Protocol error: %s' after processing the command '%s'" % (
                            err.decode('latin-1'),
                            mc.last_cmd.fullname if mc.last_cmd is not None else '<unknown>'))
        log.warning('Protocol error (%s) from client: %s. %s' % (
            protocol_error_cause(err), mc.describe().decode('latin-1'),
            query_buffer_sample(raw)))
        self.can_psync = False


class SyncJob:
    """One snapshot being produced for the replicas that wait for it."""

    def __init__(self, replicas, diskless):
        self.replicas = replicas
        self.diskless = diskless
        self.mark = os.urandom(20).hex().encode()
        self.pid = None
        self.data_fd = self.status_fd = None
        self.path = None
        self.header_sent = False
        self.payload = None        # only without fork()
        self.ok = False


class ReplicationError(Exception):
    """A failed handshake or transfer; str(e) is the log line."""


class WaitState:
    """A client blocked in WAIT (client.blocked)."""

    __slots__ = ('client', 'numreplicas', 'offset', 'timer')

    def __init__(self, client, numreplicas, offset):
        self.client = client
        self.numreplicas = numreplicas
        self.offset = offset
        self.timer = None


def parse_replicaof(value):
    """The ``replicaof`` directive's value as (host, port), or None."""
    if not value:
        return None
    if isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        parts = str(value).split()
    if len(parts) != 2 or parts[0].lower() == 'no':
        return None
    try:
        return parts[0], int(parts[1])
    except ValueError:
        return None


def attach(server):
    repl = server.replication = Replication(server)
    last = [0.0]

    def cron():
        now = clock.time()
        if now - last[0] >= 1.0:
            last[0] = now
            repl.cron()

    # A replica from the configuration is a replica from the start, so the
    # start-up load already keeps expired keys (server.masterhost is set).
    target = parse_replicaof(cfg(server, 'replicaof', None))
    if target is not None:
        server.masterhost = repl.masterhost = target[0]
        repl.masterport = target[1]

    def startup():
        repl.update_gate()
        if repl.masterhost is not None:
            repl.restore_from_rdb()
            repl.set_master(repl.masterhost, repl.masterport, from_config=True)

    server.cron_hooks.append(cron)
    server.startup_hooks.append(startup)
    server.client_close_hooks.append(repl.client_closed)

