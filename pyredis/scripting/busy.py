"""Long scripts (script.c's scriptInterrupt, processEventsWhileBlocked).

A script runs inside a command handler, so the event loop is stopped
under it; asyncio's loops cannot be re-entered. Redis's answer is to poll
its own events from the Lua count hook, and so does this module: every
100,000 Lua instructions the hook calls ``Busy.__call__``. Once the script
has run for longer than busy-reply-threshold (alias lua-time-limit) the
run is marked timed out (logged as Redis does) and each hook call then
polls, with a zero-timeout ``select``, the listening sockets and every
connected client's socket but the caller's (Redis's protectClient):

* new connections are accepted here (on a duplicate of the listening
  socket) and served by a Client object that is handed to the event loop
  (``connect_accepted_socket``) when the script ends; a connection the
  loop accepted but had not yet given a Client (connection_made runs on
  the loop's next turn) is found among the process's sockets by its local
  address (one of ours) and served through a duplicate of its socket;
* whatever clients send is parsed and answered at once: commands flagged
  ``allow_busy`` (SCRIPT KILL, FUNCTION KILL/STATS, SHUTDOWN NOSAVE, AUTH,
  HELLO, MULTI...) run through ``process_command``, every other known
  command gets ``-BUSY`` (rejected, as processCommand does); a request cut
  in the middle is handed back to the client's own input path afterwards.

SCRIPT KILL marks the run killed and the next hook call raises the kill
error in Lua (the hook then fires on every line, so pcall cannot swallow
it). SHUTDOWN NOSAVE stops the server the same way: the script is killed,
the listeners and clients are closed, and the event loop ends once the
EVAL returns. The socket polling costs nothing until a script times out.
"""

import os
import select
import socket
import stat
import time

from .. import log
from ..commands import DISPATCH
from ..networking import Client
from ..resp import ProtocolError, RequestParser

BUSY_EVAL = (b'-BUSY Redis is busy running a script. You can only call SCRIPT KILL or '
             b'SHUTDOWN NOSAVE.\r\n')
BUSY_FUNCTION = (b'-BUSY Redis is busy running a script. You can only call FUNCTION KILL or '
                 b'SHUTDOWN NOSAVE.\r\n')


class Busy:
    def __init__(self, server):
        self.server = server
        self.parsers = {}       # Client -> RequestParser for what arrives while busy
        self.accepted = []      # (socket, Client) accepted while busy
        self.orphans = {}       # fd -> (dup socket, Client): accepted, no Client yet
        self.shutdown = False

    def __call__(self, ctx):
        server = self.server
        if not ctx.timedout:
            limit = server.config.busy_reply_threshold
            elapsed = (time.monotonic() - ctx.start) * 1000
            if limit <= 0 or elapsed < limit:
                return
            log.warning('Slow script detected: still in execution after %d milliseconds. '
                        'You can try killing the script using the %s command. Script name '
                        'is: %s.' % (elapsed, 'SCRIPT KILL' if ctx.eval_mode else
                                     'FUNCTION KILL', ctx.funcname.decode('utf-8', 'replace')))
            ctx.timedout = True
        prev = server.in_exec
        server.in_exec = False      # (the polled clients' commands are their own)
        try:
            self.poll(ctx)
        finally:
            server.in_exec = prev
        if self.shutdown:
            ctx.killed = True

    def poll(self, ctx):
        server = self.server
        clients = {}
        known = set()       # every client's socket, served now or not
        for c in list(server.clients.values()):
            sock = c.transport.get_extra_info('socket') if c.transport is not None else None
            if sock is not None:
                known.add(sock.fileno())
            if (c is ctx.caller or c.transport is None or c.closing or c.is_master
                    or c.is_replica or c.paused_reading
                    or (c not in self.parsers and c.pending_input())):
                # (A client in the middle of a request keeps its input
                # for its own parser: it is read when the script ends.)
                continue
            sock = c.transport.get_extra_info('socket')
            if sock is not None:
                clients[sock.fileno()] = c
        for sock, c in self.accepted:
            clients[sock.fileno()] = c
        listeners = {}
        if not server.shutting_down:
            for srv in server.listeners:
                for s in srv.sockets or ():
                    listeners[s.fileno()] = s
        self.find_orphans(known | set(clients) | set(listeners), listeners)
        for sock, c in self.orphans.values():
            clients[sock.fileno()] = c
        try:
            ready, _, _ = select.select(list(clients) + list(listeners), [], [], 0)
        except (OSError, ValueError):
            return
        for fd in ready:
            if fd in listeners:
                self.accept(fd)
                continue
            c = clients.get(fd)
            if c is None:
                continue
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b''
            if not data:
                continue    # (the loop sees the EOF too, once the script ends)
            self.serve(c, data, ctx)
            if self.shutdown:
                return

    def find_orphans(self, known, listeners):
        ours = set()
        for s in listeners.values():
            try:
                name = s.getsockname()
            except OSError:
                continue
            ours.add(name[1] if isinstance(name, tuple) else name)
        try:
            names = os.listdir('/proc/self/fd')
        except OSError:
            return
        dups = {sock.fileno() for sock, _ in self.orphans.values()}
        for name in names:
            fd = int(name)
            if fd in known or fd in self.orphans or fd in dups:
                continue
            try:
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    continue
                sock = socket.socket(fileno=os.dup(fd))
            except OSError:
                continue
            try:
                local = sock.getsockname()
                sock.getpeername()      # (listening sockets have no peer)
                ok = sock.type == socket.SOCK_STREAM and (
                    local[1] if isinstance(local, tuple) else local) in ours
            except OSError:
                ok = False
            if not ok:
                sock.close()
                continue
            sock.setblocking(False)
            c = Client(self.server, unix=sock.family == socket.AF_UNIX)
            c.transport = _SocketWriter(sock)
            self.orphans[fd] = (sock, c)

    def accept(self, fd):
        listener = socket.socket(fileno=os.dup(fd))
        try:
            listener.setblocking(False)
            conn, _ = listener.accept()
        except OSError:
            return
        finally:
            listener.close()
        conn.setblocking(False)
        c = Client(self.server, unix=conn.family == socket.AF_UNIX)
        c.transport = _SocketWriter(conn)
        self.accepted.append((conn, c))

    def serve(self, c, data, ctx):
        """Answer what a client sent while the script runs."""
        server = self.server
        parser = self.parsers.get(c)
        if parser is None:
            parser = self.parsers[c] = RequestParser()
        parser.feed(data)
        busy = BUSY_EVAL if ctx.eval_mode else BUSY_FUNCTION
        while not c.closing:
            try:
                argv = parser.next(server.config.proto_max_bulk_len, c.authenticated)
            except ProtocolError as e:
                c.out.append(b'-ERR Protocol error: %s\r\n' % e.args[0])
                c.close_after_reply = True
                break
            if argv is None:
                break
            if not argv:
                continue
            cmd = DISPATCH.get(argv[0]) or DISPATCH.get(argv[0].lower())
            if cmd is not None and cmd.subcommands is not None and len(argv) >= 2:
                cmd = cmd.subcommands.get(argv[1].lower(), cmd)
            if (cmd is None or cmd.subcommands is not None
                    or not cmd.min_args <= len(argv) <= cmd.max_args):
                server.process_command(c, argv)     # its own error reply
            elif 'allow_busy' not in cmd.flags or (
                    cmd.fullname == 'shutdown' and b'nosave' not in
                    [a.lower() for a in argv[1:]]):
                server.reject(c, busy, cmd)
            else:
                server.process_command(c, argv)
                if cmd.fullname == 'shutdown' and server.shutting_down:
                    self.shutdown = True
                    return
        if c.out:
            c.send()

    def end(self):
        """The script is over: the clients accepted meanwhile join the event
        loop, and requests cut in the middle go back to their clients."""
        server = self.server
        loop = server.loop
        orphans = {id(c) for _, c in self.orphans.values()}
        for c, parser in self.parsers.items():
            rest = parser.remaining()
            if rest and not c.closing and loop is not None and id(c) not in orphans:
                loop.call_soon(c.data_received, rest)
        self.parsers = {}
        for sock, _ in self.orphans.values():
            sock.close()     # (a duplicate: the loop's own transport goes on)
        self.orphans = {}
        accepted, self.accepted = self.accepted, []
        for sock, c in accepted:
            if server.shutting_down or loop is None:
                sock.close()
                continue
            c.transport = None
            loop.create_task(_adopt(loop, sock, c))


async def _adopt(loop, sock, c):
    try:
        await loop.connect_accepted_socket(lambda: c, sock)
    except OSError:
        sock.close()


class _SocketWriter:
    """The transport of a client accepted while a script runs, until the
    event loop adopts its socket: replies are written straight away."""

    def __init__(self, sock):
        self.sock = sock
        self.closed = False

    def write(self, data):
        try:
            self.sock.setblocking(True)
            self.sock.sendall(data)
        except OSError:
            self.closed = True
        finally:
            self.sock.setblocking(False)

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True

    def get_extra_info(self, name, default=None):
        return self.sock if name == 'socket' else default

    def get_write_buffer_size(self):
        return 0
