"""FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms] (replication.c's
failoverCommand, updateFailoverStatus, abortFailover).

A coordinated switch of roles between a master and one of its replicas:

1. FAILOVER pauses writes (a pause of its own purpose, commands/pause.py,
   that CLIENT UNPAUSE does not lift) and enters ``waiting-for-sync``;
2. ``update`` (from the cron, as Redis's beforeSleep and replicationCron)
   waits until the target replica - the one named, or else the first whose
   acknowledged offset is the master's - has acknowledged every byte of the
   stream; with TIMEOUT it gives up then (or, with FORCE, goes on anyway);
3. ``failover-in-progress``: the master becomes a replica of the target
   (replication.py's ``set_master``); its handshake sends
   ``PSYNC <replid> <offset> FAILOVER``, which makes the target a master
   (``psync_failover`` below, syncCommand's check) and continue the old
   master's history, so the reply is +CONTINUE;
4. the reply ends the failover (``psync_replied``): a +CONTINUE or
   +FULLRESYNC clears the state and lifts the pause; anything else aborts,
   and an abort in progress turns the server back into a master.

The state shows in INFO replication's ``master_failover_state``.
"""

from . import command
from .pause import DURING_FAILOVER, PAUSE_WRITE, pause, unpause
from .. import log, resp
from ..resp import NOT_INT_ERR, OK, SYNTAX_ERR
from ..util import string2ll
from .. import clock

NO_FAILOVER = 'no-failover'
WAIT_FOR_SYNC = 'waiting-for-sync'
IN_PROGRESS = 'failover-in-progress'
_FOREVER = (1 << 63) - 1


class Failover:
    def __init__(self, server):
        self.server = server
        self.state = NO_FAILOVER
        self.host = None
        self.port = 0
        self.end_ms = 0         # failover_end_time (0: no TIMEOUT)
        self.force = False

    def clear(self):
        """clearFailoverState."""
        self.end_ms = 0
        self.force = False
        self.host = None
        self.port = 0
        self.state = NO_FAILOVER
        unpause(self.server, DURING_FAILOVER)

    def abort(self, why):
        """abortFailover."""
        if self.state == NO_FAILOVER:
            return
        if self.host is not None:
            log.notice('FAILOVER to %s:%d aborted: %s' % (self.host, self.port, why))
        else:
            log.notice('FAILOVER to any replica aborted: %s' % why)
        if self.state == IN_PROGRESS:
            self.server.replication.unset_master()
        self.clear()

    def find_replica(self, host, port):
        """findReplica: a replica by its address (announced, else its
        connection's) and listening port."""
        repl = self.server.replication
        for rc in repl.replicas:
            if (repl.replica_ip(rc).decode('latin-1').lower() == host.lower()
                    and rc.repl.listening_port == port):
                return rc
        return None

    def update(self):
        """updateFailoverStatus."""
        if self.state != WAIT_FOR_SYNC:
            return
        server = self.server
        repl = server.replication
        if self.end_ms and self.end_ms <= clock.time() * 1000:
            if self.force:
                log.notice('FAILOVER to %s:%d time out exceeded, failing over.' % (
                    self.host, self.port))
                self.state = IN_PROGRESS
                repl.set_master(self.host, self.port)
            else:
                self.abort('Replica never caught up before timeout')
            return
        replica = None
        if self.host is not None:
            replica = self.find_replica(self.host, self.port)
        else:
            for rc in repl.replicas:
                replica = rc
                if rc.repl.ack_off == repl.master_repl_offset:
                    self.host = repl.replica_ip(rc).decode('latin-1')
                    self.port = rc.repl.listening_port
                    break
        if replica is not None and replica.repl.ack_off == repl.master_repl_offset:
            self.state = IN_PROGRESS
            log.notice('Failover target %s:%d is synced, failing over.' % (self.host, self.port))
            repl.set_master(self.host, self.port)

    # -- the handshake (replication.py calls these) ------------------------------------

    def psync_extra(self):
        """What the PSYNC of the handshake ends with: FAILOVER while one is
        in progress (slaveTryPartialResynchronization)."""
        return [b'FAILOVER'] if self.state == IN_PROGRESS else []

    def psync_replied(self, reply):
        """syncWithMaster, after the PSYNC reply: False when the failover
        was aborted (the server is a master again; the handshake stops)."""
        if self.state != IN_PROGRESS:
            return True
        if reply.startswith(('+CONTINUE', '+FULLRESYNC')):
            self.clear()
            return True
        self.abort('Failover target rejected psync request')
        return False

    def pings_held(self):
        """replicationCron's manual_failover_in_progress: while a failover
        with a TIMEOUT holds the writes, the replicas get no PING (it would
        move the offset they must reach)."""
        return bool(self.end_ms) and bool(self.server.pause_type)


@command('failover')
def failover(c, argv):
    server = c.server
    f = server.replication.failover
    if server.config.cluster_enabled:
        return resp.error(b'ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER '
                          b'command instead.')
    if len(argv) == 2 and argv[1].lower() == b'abort':
        if f.state == NO_FAILOVER:
            return resp.error(b'ERR No failover in progress.')
        f.abort('Failover manually aborted')
        return OK
    timeout = 0
    force = False
    port = 0
    host = None
    j = 1
    while j < len(argv):
        opt = argv[j].lower()
        if opt == b'timeout' and j + 1 < len(argv) and timeout == 0:
            timeout = string2ll(argv[j + 1])
            if timeout is None:
                return NOT_INT_ERR
            if timeout <= 0:
                return resp.error(b'ERR FAILOVER timeout must be greater than 0')
            j += 1
        elif opt == b'to' and j + 2 < len(argv) and host is None:
            port = string2ll(argv[j + 2])
            if port is None:
                return NOT_INT_ERR
            host = argv[j + 1].decode('latin-1')
            j += 2
        elif opt == b'force' and not force:
            force = True
        else:
            return SYNTAX_ERR
        j += 1
    repl = server.replication
    if f.state != NO_FAILOVER:
        return resp.error(b'ERR FAILOVER already in progress.')
    if repl.masterhost is not None:
        return resp.error(b'ERR FAILOVER is not valid when server is a replica.')
    if not repl.replicas:
        return resp.error(b'ERR FAILOVER requires connected replicas.')
    if force and (not timeout or host is None):
        return resp.error(b'ERR FAILOVER with force option requires both a timeout and '
                          b'target HOST and IP.')
    if host is not None:
        replica = f.find_replica(host, port)
        if replica is None:
            return resp.error(b'ERR FAILOVER target HOST and PORT is not a replica.')
        if replica.repl.state != 'online':
            return resp.error(b'ERR FAILOVER target replica is not online.')
        f.host = host
        f.port = port
        log.notice('FAILOVER requested to %s:%d.' % (host, port))
    else:
        log.notice('FAILOVER requested to any replica.')
    if timeout:
        f.end_ms = int(clock.time() * 1000) + timeout
    f.force = force
    f.state = WAIT_FOR_SYNC
    pause(server, _FOREVER, PAUSE_WRITE, DURING_FAILOVER)
    return OK


def psync_failover(c, argv):
    """syncCommand's first check: ``PSYNC <replid> <offset> FAILOVER`` from
    our master makes this replica a master, when the replid is ours. Returns
    an error reply, or None to go on with the PSYNC."""
    if len(argv) <= 3 or argv[0].lower() != b'psync' or argv[3].lower() != b'failover':
        return None
    repl = c.server.replication
    log.warning('Failover request received for replid %s.' % argv[1].decode('latin-1'))
    if repl.masterhost is None:
        return resp.error(b"ERR PSYNC FAILOVER can't be sent to a master.")
    if argv[1].decode('latin-1').lower() == repl.replid.lower():
        repl.unset_master()
        log.notice("MASTER MODE enabled (failover request from '%s')" %
                   c.describe().decode('latin-1'))
        return None
    return resp.error(b'ERR PSYNC FAILOVER replid must match my replid.')


def attach(server):
    f = Failover(server)
    server.replication.failover = f
    server.cron_hooks.append(f.update)
