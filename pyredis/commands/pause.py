"""CLIENT PAUSE / CLIENT UNPAUSE (pauseClients, blockPostponeClient).

While paused (``server.pause_type``: WRITE or ALL) the server is gated
(Server.update_gate), so every command takes process_command, which asks
``must_postpone``: with ALL every command of a client that is not the
master's or a replica's waits, CLIENT UNPAUSE too (as in Redis: only the
timeout ends such a pause); with WRITE, writes, may-replicate commands
(EVAL, FCALL, PUBLISH, SPUBLISH, PFCOUNT) and an EXEC of a transaction
holding any wait, as does queueing such a command in MULTI (Redis checks
the pause before queueing). A waiting client keeps its request
(``server.postponed``) and stops reading its input (``paused_reading``);
it shows the b flag and counts in blocked_clients. When the pause ends
(its timeout, or CLIENT UNPAUSE) the waiting requests run in the order
they arrived, then each client's buffered input.

A new pause keeps the most restrictive type and the later end of the
current one and the new one. Pauses have a purpose (CLIENT PAUSE's,
FAILOVER's), each ended on its own: CLIENT UNPAUSE does not end a
failover's pause. Expiry (lazy: an expired key is reported
missing but not deleted; active) and eviction do not delete keys
meanwhile (Server.expire_if_needed, server_cron, evict.is_safe_to_evict),
so the dataset does not change while writes are paused.
"""


from . import command
from ..resp import OK, SYNTAX_ERR, subcommand_syntax_error
from ..server import MAY_REPLICATE
from .. import clock

PAUSE_WRITE, PAUSE_ALL = 1, 2
# Why the server is paused (pause_purpose): each purpose is lifted on its own.
BY_CLIENT = 'client'            # CLIENT PAUSE, lifted by CLIENT UNPAUSE
DURING_FAILOVER = 'failover'    # FAILOVER (commands/failover.py)
DURING_SHUTDOWN = 'shutdown'    # SHUTDOWN waiting for replicas (commands/server.py)


class Postponed:
    """client.blocked while the client's request waits for the pause's end."""
    __slots__ = ('argv',)

    def __init__(self, argv):
        self.argv = argv


def _writes(cmd):
    return cmd.is_write or cmd.may_replicate or cmd.name in MAY_REPLICATE


def must_postpone(server, c, cmd):
    """processCommand's pause check: True when ``cmd`` from ``c`` waits."""
    if c.is_replica or c.is_master:
        return False
    if server.pause_type == PAUSE_ALL:
        return True
    if _writes(cmd):
        return True
    if cmd.name == b'exec' and c.multi:
        return any(_writes(queued) for queued, _ in c.multi)
    return False


def postpone(server, c, argv):
    c.blocked = Postponed(argv)
    c.paused_reading = True
    server.blocked_clients += 1
    server.postponed[c.id] = c


def pause(server, end_ms, kind, purpose=None):
    """pauseClients: pause for ``purpose`` (CLIENT PAUSE's by default) until
    ``end_ms`` (unix ms), WRITE or ALL. Each purpose keeps the most
    restrictive type and the later end it was given; the server is paused
    by the most restrictive of them, until the latest end of that type."""
    purpose = purpose or BY_CLIENT
    old = server.pauses.get(purpose)
    if old is not None:
        kind = max(kind, old[0])
        end_ms = max(end_ms, old[1])
    server.pauses[purpose] = (kind, end_ms)
    _update(server)


def _update(server):
    """updateClientPauseTypeAndEndTime: drop the purposes whose end passed,
    recompute the pause; a less restrictive pause than before releases the
    waiting requests (those still to wait are postponed again)."""
    now = clock.time() * 1000
    kind = end = 0
    for purpose, (k, e) in list(server.pauses.items()):
        if e <= now:
            del server.pauses[purpose]
        elif k > kind:
            kind, end = k, e
        elif k == kind:
            end = max(end, e)
    old = server.pause_type
    server.pause_type = kind
    server.pause_end = end
    if server.pause_timer is not None:
        server.pause_timer.cancel()
        server.pause_timer = None
    if server.pauses and server.loop is not None:
        # The next purpose to end (a failover's pause has none: a day is
        # as good as never for a timer that re-arms itself).
        first = min(e for _, e in server.pauses.values())
        server.pause_timer = server.loop.call_later(
            min(86400.0, max(0.0, first / 1000.0 - clock.time())), _timed_out, server)
    server.update_gate()
    if kind < old:
        _release(server)


def _timed_out(server):
    server.pause_timer = None
    _update(server)


def unpause(server, purpose=None):
    """unpauseClients(purpose): CLIENT UNPAUSE's by default."""
    if server.pauses.pop(purpose or BY_CLIENT, None) is not None:
        _update(server)


def _release(server):
    """unblockPostponedClients: the waiting requests run, in the order they
    came."""
    waiting, server.postponed = server.postponed, {}
    for c in waiting.values():
        state = c.blocked
        if not isinstance(state, Postponed):
            continue
        c.blocked = None
        c.paused_reading = False
        server.blocked_clients -= 1
        if c.closing:
            continue
        c.qbuf_now = c.pending_input()  # (CLIENT LIST's qbuf while it runs)
        server.process_command(c, state.argv)
        if c.out:
            c.flush()
        if not c.paused_reading:
            if c.transport is not None:
                c.transport.resume_reading()
            server.loop.call_soon(c.resume)


def _client_closed(c):
    server = c.server
    if server.postponed.pop(c.id, None) is not None:
        c.blocked = None
        server.blocked_clients -= 1


@command('client|pause')
def client_pause(c, argv):
    from ..util import string2ll
    if len(argv) > 4:
        return subcommand_syntax_error(argv)
    ms = string2ll(argv[2])
    if ms is None:
        return b'-ERR timeout is not an integer or out of range\r\n'
    if ms < 0:
        return b'-ERR timeout is negative\r\n'
    kind = PAUSE_ALL
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode == b'write':
            kind = PAUSE_WRITE
        elif mode != b'all':
            return b'-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n'
    now = int(clock.time() * 1000)
    if ms > (1 << 63) - 1 - now:
        return b'-ERR timeout is out of range\r\n'
    pause(c.server, now + ms, kind)
    return OK


@command('client|unpause')
def client_unpause(c, argv):
    if len(argv) != 2:
        return SYNTAX_ERR
    unpause(c.server)
    return OK


def attach(server):
    server.pause_end = 0
    server.pauses = {}          # purpose -> (type, end ms)
    server.pause_timer = None
    server.postponed = {}
    server.must_postpone = lambda c, cmd: must_postpone(server, c, cmd)
    server.postpone = lambda c, argv: postpone(server, c, argv)
    server.client_close_hooks.append(_client_closed)
