"""MIGRATE and RESTORE-ASKING (cluster.c's migrateCommand).

MIGRATE serialises each key as DUMP does (rdb.dump_payload), sends
``RESTORE`` (``RESTORE-ASKING`` in cluster mode, so that an importing node
takes it) with the key's remaining TTL, and deletes the keys the target
acknowledged unless COPY was given; the deletion is propagated as one DEL
of those keys, as Redis rewrites the command.

It blocks the server while it talks to the target, as Redis does (with its
timeout on each connect, write and read), and on purpose: the keys must
not change between being serialised and being deleted, which is what
makes MIGRATE atomic for the clients of both nodes (a resharding under
load relies on it). Connections are cached per host:port
(migrate_cached_sockets): at most 64, each remembering the database last
SELECTed on it, closed by the cron after 10 seconds unused; a failed
exchange closes it, and one that failed before any reply is retried once
on a new connection, unless it timed out.
"""

import errno
import random
import re
import select
import socket

from .. import clock, rdb
from ..notify import NotifyFlags
from ..resp import NOT_INT_ERR, OK, SYNTAX_ERR, bulk_array
from ..util import string2ll
from . import command
from .persistence import restore_cmd

CACHE_ITEMS = 64        # MIGRATE_SOCKET_CACHE_ITEMS
CACHE_TTL = 10          # MIGRATE_SOCKET_CACHE_TTL (seconds)
CHUNK = 64 * 1024
GENERIC = NotifyFlags.GENERIC

CONNECT_ERR = b'-IOERR error or timeout connecting to the client\r\n'


class CachedSocket:
    __slots__ = ('sock', 'last_dbid', 'last_use_time', 'rbuf')

    def __init__(self, sock, now):
        self.sock = sock
        self.last_dbid = -1
        self.last_use_time = now
        self.rbuf = b''

    def read_line(self, timeout):
        """connSyncReadLine: a line without its CRLF; raises OSError."""
        self.sock.settimeout(timeout)
        while b'\n' not in self.rbuf:
            data = self.sock.recv(16384)
            if not data:
                raise OSError('connection closed')
            self.rbuf += data
        line, _, self.rbuf = self.rbuf.partition(b'\n')
        return line.rstrip(b'\r')


class MigrateSockets:
    """server.migrate_cached_sockets, and the cron that closes idle ones."""

    def __init__(self, server):
        self.server = server
        self.cache = {}

    def get(self, host, port, timeout):
        name = host + b':' + port
        cs = self.cache.get(name)
        now = self.server.unixtime
        if cs is not None:
            cs.last_use_time = now
            return cs
        if len(self.cache) == CACHE_ITEMS:
            self.close(random.choice(list(self.cache)))
        sock = _blocking_connect(host, port, timeout)
        if sock is None:
            return None
        cs = self.cache[name] = CachedSocket(sock, now)
        return cs

    def close(self, name):
        cs = self.cache.pop(name, None)
        if cs is not None:
            try:
                cs.sock.close()
            except OSError:
                pass

    def cron(self):
        """migrateCloseTimedoutSockets."""
        now = self.server.unixtime
        for name, cs in list(self.cache.items()):
            if now - cs.last_use_time > CACHE_TTL:
                self.close(name)

    def close_all(self, *args):
        for name in list(self.cache):
            self.close(name)


def _blocking_connect(host, port, timeout):
    """connBlockingConnect: a non-blocking connect(), then up to ``timeout``
    for the socket to be writable. Only a connect() that fails at once
    (no such address) or never completes is an error here: one refused
    later is found by the first write, as in Redis (its -IOERR says
    "writing")."""
    try:
        infos = socket.getaddrinfo(host.decode('latin-1'), _atoi(port), 0, socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        return None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    err = sock.connect_ex(addr)
    if err not in (0, errno.EINPROGRESS):
        sock.close()
        return None
    _, writable, _ = select.select([], [sock], [], timeout)
    if not writable:
        sock.close()
        return None
    sock.setblocking(True)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _atoi(v):
    # C's atoi, as Redis reads the port: leading digits, else 0.
    m = re.match(rb'\s*([-+]?\d+)', v)
    return int(m.group(1)) & 0xffff if m else 0


def _get_long(v):
    n = string2ll(v)
    if n is None:
        raise ValueError
    return n


@command('migrate')
def migrate(c, argv):
    server = c.server
    copy = replace = False
    username = password = None
    first_key, num_keys = 3, 1
    argc = len(argv)
    j = 6
    while j < argc:
        opt = argv[j].lower()
        more = argc - 1 - j
        if opt == b'copy':
            copy = True
        elif opt == b'replace':
            replace = True
        elif opt == b'auth':
            if not more:
                return SYNTAX_ERR
            j += 1
            password = argv[j]
        elif opt == b'auth2':
            if more < 2:
                return SYNTAX_ERR
            username, password = argv[j + 1], argv[j + 2]
            j += 2
        elif opt == b'keys':
            if argv[3]:
                return (b'-ERR When using MIGRATE KEYS option, the key argument must be set '
                        b'to the empty string\r\n')
            first_key = j + 1
            num_keys = argc - j - 1
            break
        else:
            return SYNTAX_ERR
        j += 1
    try:
        timeout = _get_long(argv[5])
        dbid = _get_long(argv[4])
    except ValueError:
        return NOT_INT_ERR
    if timeout <= 0:
        timeout = 1000
    timeout = timeout / 1000.0
    db = c.db
    keys = []
    values = []
    for key in argv[first_key:first_key + num_keys]:
        v = db.lookup(key)
        if v is not None:
            keys.append(key)
            values.append(v)
    if not keys:
        return b'+NOKEY\r\n'

    sockets = server.migrate_sockets
    name = argv[1] + b':' + argv[2]
    opts = rdb.Options(server.config, server)
    restore = b'RESTORE-ASKING' if server.config.cluster_enabled else b'RESTORE'
    may_retry = True
    while True:
        cs = sockets.get(argv[1], argv[2], timeout)
        if cs is None:
            return CONNECT_ERR
        out = []
        if password is not None:
            out.append(bulk_array([b'AUTH', username, password] if username is not None
                                  else [b'AUTH', password]))
        select = cs.last_dbid != dbid
        if select:
            out.append(bulk_array([b'SELECT', b'%d' % dbid]))
        now_ms = int(clock.time() * 1000)
        sent_keys = []
        for key, v in zip(keys, values):
            ttl = 0
            when = db.get_expire(key)
            if when != -1:
                ttl = when - now_ms
                if ttl < 0:
                    continue
                if ttl < 1:
                    ttl = 1
            sent_keys.append(key)
            args = [restore, key, b'%d' % ttl, rdb.dump_payload(v, opts)]
            if replace:
                args.append(b'REPLACE')
            out.append(bulk_array(args))
        buf = b''.join(out)
        # The exchange.
        write_error = False
        socket_error = False
        timed_out = False
        replies_read = 0
        error_from_target = None
        acked = []
        try:
            cs.sock.settimeout(timeout)
            try:
                for pos in range(0, len(buf), CHUNK):
                    cs.sock.sendall(buf[pos:pos + CHUNK])
            except OSError:
                write_error = True
                raise
            auth_reply = cs.read_line(timeout) if password is not None else None
            select_reply = cs.read_line(timeout) if select else None
            for key in sent_keys:
                reply = cs.read_line(timeout)
                replies_read += 1
                if ((auth_reply is not None and auth_reply[:1] == b'-')
                        or (select_reply is not None and select_reply[:1] == b'-')
                        or reply[:1] == b'-'):
                    if error_from_target is None:
                        cs.last_dbid = -1
                        if auth_reply is not None and auth_reply[:1] == b'-':
                            err = auth_reply
                        elif select_reply is not None and select_reply[:1] == b'-':
                            err = select_reply
                        else:
                            err = reply
                        error_from_target = err[1:]
                elif not copy:
                    acked.append(key)
        except OSError as e:
            socket_error = True
            timed_out = isinstance(e, socket.timeout)
        if socket_error:
            sockets.close(name)
            if (error_from_target is None and not replies_read and may_retry
                    and not timed_out):
                # Nothing was processed: the cached connection was probably
                # closed by the other side. Once more, on a new one.
                may_retry = False
                continue
        if acked:
            for key in acked:
                db.delete(key)
                server.key_modified(db, key, GENERIC, b'del')
            c.propagate_argv = [[b'DEL'] + acked]
        if socket_error and error_from_target is None:
            return b'-IOERR error or timeout %s to target instance\r\n' % (
                b'writing' if write_error else b'reading')
        if error_from_target is not None:
            return b'-ERR Target instance replied with error: %s\r\n' % error_from_target
        cs.last_dbid = dbid
        return OK


@command('restore-asking')
def restore_asking(c, argv):
    # restoreCommand itself; the command's 'asking' flag is what lets an
    # importing node take it (cluster/routing.py).
    return restore_cmd(c, argv)


def attach(server):
    sockets = server.migrate_sockets = MigrateSockets(server)
    server.cron_hooks.append(sockets.cron)
    server.shutdown_hooks.append(lambda save: sockets.close_all())
