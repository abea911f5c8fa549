"""Server commands (server.c): TIME and SHUTDOWN.

INFO (commands/info.py), DEBUG (commands/debug.py), COMMAND
(commands/introspection.py) and the database commands (commands/database.py)
have modules of their own.

SHUTDOWN (shutdownCommand, prepareForShutdown, finishShutdown) and the
SIGTERM/SIGINT it stands for: a master with replicas that have not
acknowledged the whole stream waits for them (``Shutdown``), at most
shutdown-timeout seconds (0: no wait), with writes paused meanwhile (a
pause of its own purpose) and its replicas asked for an ACK; the client
that asked waits too (blocked, as any SHUTDOWN that comes meanwhile). The
cron finishes it once every replica caught up or the time is out (lagging
replicas logged); NOW does not wait, FORCE exits even if the final save
fails, ABORT (or a failed save) cancels it, each waiting client getting
'Errors trying to SHUTDOWN. Check logs.'. A signal shuts down with the
flags of shutdown-on-sigterm/-sigint; a second SIGINT exits at once.
"""

import os
import signal

from . import command
from .blocking import deny_blocking
from .pause import DURING_SHUTDOWN, PAUSE_WRITE, pause, unpause
from .. import log, resp
from ..config import SHUTDOWN_FLAGS
from ..replication import GETACK_CMD, cfg
from ..resp import error, SYNTAX_ERR
from .. import clock

SAVE, NOSAVE, NOW, FORCE = (dict(SHUTDOWN_FLAGS)[n] for n in ('save', 'nosave', 'now', 'force'))
_FOREVER = (1 << 63) - 1
SHUTDOWN_ERR = b'-ERR Errors trying to SHUTDOWN. Check logs.\r\n'


class Waiting:
    """client.blocked while its SHUTDOWN waits for the replicas."""
    __slots__ = ()


class Shutdown:
    def __init__(self, server):
        self.server = server
        self.deadline_ms = 0        # shutdown_mstime: 0 while not initiated
        self.flags = 0
        self.asap = False           # a signal asked for it (shutdown_asap)
        self.signal = None
        self.waiting = []           # the clients blocked on it

    def ready(self):
        """isReadyToShutdown: every replica acknowledged the whole stream."""
        repl = self.server.replication
        return all(rc.repl.ack_off == repl.master_repl_offset for rc in repl.replicas)

    def prepare(self, flags, c=None):
        """prepareForShutdown: None when the server stopped or waits for its
        replicas (``c`` waiting with it), else the error for ``c``."""
        server = self.server
        if self.deadline_ms:
            if c is not None:
                self._block(c)
            return None
        if server.loading:
            flags = (flags & ~SAVE) | NOSAVE
        self.flags = flags
        log.warning('User requested shutdown...')
        if (not flags & NOW and cfg(server, 'shutdown_timeout', 10)
                and not self.ready()):
            self.deadline_ms = (int(clock.time() * 1000)
                                + cfg(server, 'shutdown_timeout', 10) * 1000)
            repl = server.replication
            if not server.pause_type and repl.replicas:
                repl.feed_raw(GETACK_CMD)
            pause(server, _FOREVER, PAUSE_WRITE, DURING_SHUTDOWN)
            log.notice('Waiting for replicas before shutting down.')
            if c is not None:
                self._block(c)
            return None
        return self.finish()

    def finish(self):
        """finishShutdown: None, or the error when it failed (and was
        cancelled)."""
        server = self.server
        repl = server.replication
        lagging = 0
        now = clock.time()
        for rc in repl.replicas:
            r = rc.repl
            if r.ack_off != repl.master_repl_offset:
                lagging += 1
                log.warning('Lagging replica %s reported offset %d behind master, lag=%d, '
                            'state=%s.' % (repl.replica_name(rc), repl.master_repl_offset
                                           - r.ack_off, int(now - r.ack_time)
                                           if r.state == 'online' else 0, r.state))
        if repl.replicas:
            log.notice('%d of %d replicas are in sync when shutting down.' % (
                len(repl.replicas) - lagging, len(repl.replicas)))
        flags = self.flags
        save = True if flags & SAVE else False if flags & NOSAVE else None
        err = server.shutdown(save=save, force=bool(flags & FORCE))
        if err:
            log.warning('Errors trying to shut down the server. Check the logs for more '
                        'information.')
            self.cancel()
            return SHUTDOWN_ERR
        return None

    def cancel(self):
        """cancelShutdown: the waiting clients get an error."""
        self.asap = False
        self.flags = 0
        self.deadline_ms = 0
        self.signal = None
        waiting, self.waiting = self.waiting, []
        for c in waiting:
            self._unblock(c, SHUTDOWN_ERR)
        unpause(self.server, DURING_SHUTDOWN)

    def abort(self):
        """abortShutdown: whether there was one to abort."""
        if self.deadline_ms:
            self.cancel()
        elif self.asap:
            self.asap = False
        else:
            return False
        log.notice('Shutdown manually aborted.')
        return True

    def cron(self):
        if self.asap and not self.deadline_ms:
            conf = self.server.config
            names = (conf.shutdown_on_sigint if self.signal == signal.SIGINT
                     else conf.shutdown_on_sigterm).split()
            flags = 0
            for n in names:
                flags |= dict(SHUTDOWN_FLAGS)[n]
            self.prepare(flags)
        elif self.deadline_ms:
            if clock.time() * 1000 >= self.deadline_ms or self.ready():
                self.finish()

    def on_signal(self, sig):
        """sigShutdownHandler."""
        if self.asap and sig == signal.SIGINT:
            log.warning('You insist... exiting now.')
            os._exit(1)
        if self.server.loading:
            log.warning('Received shutdown signal during loading, scheduling shutdown.')
        else:
            log.warning('Received %s scheduling shutdown...' % (
                'SIGINT' if sig == signal.SIGINT else 'SIGTERM'))
        self.asap = True
        self.signal = sig

    def _block(self, c):
        c.blocked = Waiting()
        c.paused_reading = True
        self.server.blocked_clients += 1
        self.waiting.append(c)

    def _unblock(self, c, reply):
        if not isinstance(c.blocked, Waiting):
            return
        c.blocked = None
        c.paused_reading = False
        self.server.blocked_clients -= 1
        if c.closing:
            return
        c.write(reply)
        if c.transport is not None:
            c.transport.resume_reading()
        self.server.loop.call_soon(c.resume)

    def client_closed(self, c):
        if isinstance(c.blocked, Waiting) and c in self.waiting:
            self.waiting.remove(c)
            c.blocked = None
            self.server.blocked_clients -= 1


@command('time')
def time_(c, argv):
    t = clock.time_ns() // 1000
    s, us = divmod(t, 1000000)
    return resp.bulk_array([b'%d' % s, b'%d' % us])


@command('shutdown')
def shutdown(c, argv):
    flags = 0
    abort = False
    for a in argv[1:]:
        o = a.lower()
        if o == b'nosave':
            flags |= NOSAVE
        elif o == b'save':
            flags |= SAVE
        elif o == b'now':
            flags |= NOW
        elif o == b'force':
            flags |= FORCE
        elif o == b'abort':
            abort = True
        else:
            return SYNTAX_ERR
    if (abort and flags) or (flags & NOSAVE and flags & SAVE):
        return SYNTAX_ERR
    state = c.server.shutdown_state
    if abort:
        if state.abort():
            return resp.OK
        return b'-ERR No shutdown in progress.\r\n'
    if not flags & NOW and deny_blocking(c):
        return error(b"ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING "
                     b"client")
    return state.prepare(flags, c)


def attach(server):
    state = Shutdown(server)
    server.shutdown_state = state
    server.signal_shutdown = state.on_signal
    server.cron_hooks.append(state.cron)
    server.client_close_hooks.append(state.client_closed)
