"""Accepting and holding connections, side by side with redis-server: the
socket options of an accepted connection (tcp-keepalive), the idle timeout
reaching every client when many are held, and the open files limit that
maxclients asks for (adjustOpenFilesLimit: the same figures and log lines).
The long run (10,000 clients) is benchmarks/connections.py."""

import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from cluster_helpers import cluster_port
from helpers import RawConn, ServerProcess

KINDS = ('pyredis', 'redis')
SS = shutil.which('ss')
PRLIMIT = shutil.which('prlimit')


def _keepalive_timers(port):
    """The keepalive timer of each established connection accepted on
    ``port`` (seconds left, or None without keepalive), from ss -o."""
    deadline = time.time() + 5
    while True:
        out = subprocess.run([SS, '-tnoH', 'state', 'established', '( sport = :%d )' % port],
                             capture_output=True, text=True, check=True).stdout
        # A reply not acknowledged yet shows the retransmit timer instead.
        if 'timer:(on' not in out or time.time() > deadline:
            break
        time.sleep(0.05)
    timers = []
    for line in out.splitlines():
        m = re.search(r'timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:\.\d+)?sec)?', line)
        if m is None:
            timers.append(None)
        else:
            timers.append(int(m.group(1) or 0) * 60 + int(m.group(2) or 0))
    return timers


@pytest.mark.skipif(SS is None, reason='needs ss (iproute2)')
def test_accepted_connections_get_tcp_keepalive(server_factory):
    def scenario(srv):
        out = []
        a = RawConn(srv.port)
        assert a.call('PING') == b'+PONG\r\n'
        t = _keepalive_timers(srv.port)
        out.append(len(t) == 1 and t[0] is not None and 250 <= t[0] <= 300)
        # A new value applies to the connections accepted after it.
        assert a.call('CONFIG', 'SET', 'tcp-keepalive', '0') == b'+OK\r\n'
        b = RawConn(srv.port)
        assert b.call('PING') == b'+PONG\r\n'
        t = _keepalive_timers(srv.port)
        out.append(len(t) == 2 and t.count(None) == 1)
        b.close()
        assert a.call('CONFIG', 'SET', 'tcp-keepalive', '60') == b'+OK\r\n'
        c = RawConn(srv.port)
        assert c.call('PING') == b'+PONG\r\n'
        t = sorted(x for x in _keepalive_timers(srv.port) if x is not None)
        out.append(len(t) == 2 and 30 <= t[0] <= 60 and t[1] > 200)
        a.close()
        c.close()
        return out

    results = [scenario(server_factory(kind)) for kind in KINDS]
    assert results[0] == results[1] == [True, True, True]


def test_idle_timeout_reaches_every_held_client(server_factory):
    """The cron visits the clients a share at a time (numclients/hz per
    tick): every idle one is still closed, an active one is kept."""
    def scenario(srv):
        idle = [RawConn(srv.port) for _ in range(60)]
        for c in idle[:5]:
            assert c.call('PING') == b'+PONG\r\n'
        active = RawConn(srv.port)
        deadline = time.time() + 20
        while time.time() < deadline:
            assert active.call('PING') == b'+PONG\r\n'
            if all(c.closed(timeout=0.01) for c in idle):
                break
            time.sleep(0.2)
        out = [all(c.closed(timeout=0.01) for c in idle), active.call('PING')]
        for c in idle + [active]:
            c.close()
        return out

    results = [scenario(server_factory(kind, '--timeout', '2')) for kind in KINDS]
    assert results[0] == results[1] == [True, b'+PONG\r\n']


def test_accepted_socket_options():
    """What Redis sets on each accepted connection (anetKeepAlive: idle,
    interval idle/3, 3 probes; TCP_NODELAY), read on the server's own
    socket: an embedded server shares the test's process, and CLIENT INFO
    gives the descriptor."""
    import pyredis
    with pyredis.serve(tcp_keepalive=120) as server:
        c = RawConn(server.port)
        fd = int(re.search(rb' fd=(\d+) ', c.call('CLIENT', 'INFO')).group(1))
        s = socket.socket(fileno=os.dup(fd))
        try:
            opts = [s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                    s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                    s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                    s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                    bool(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))]
        finally:
            s.close()
            c.close()
    assert opts == [1, 120, 40, 3, True]


class LimitedServer(ServerProcess):
    """A server started under ``prlimit --nofile=soft:hard``."""

    def __init__(self, kind, nofile, args=(), **kw):
        self.nofile = nofile
        super().__init__(kind, args, **kw)

    def command(self, kind):
        return [PRLIMIT, '--nofile=%d:%d' % self.nofile] + ServerProcess.command(kind)


def _open_files_lines(text):
    return [re.sub(r'^\d+:[A-Z] [^#*]*', '', line) for line in text.splitlines()
            if re.search(r'open files|maxclients|ulimit', line)]


@pytest.mark.skipif(PRLIMIT is None, reason='needs prlimit (util-linux)')
@pytest.mark.parametrize('nofile', [(1024, 20000), (1024, 4001), (100, 100)])
def test_maxclients_raises_or_fits_the_open_files_limit(nofile):
    results = []
    for kind in KINDS:
        srv = LimitedServer(kind, nofile, ('--maxclients', '10000'))
        try:
            c = RawConn(srv.port)
            maxclients = c.call('CONFIG', 'GET', 'maxclients')
            limit = None
            with open('/proc/%d/limits' % srv.proc.pid) as f:
                for line in f:
                    if line.startswith('Max open files'):
                        limit = int(line.split()[3])
            c.close()
        finally:
            srv.stop()
        results.append((maxclients, limit, _open_files_lines(srv.read_log())))
    assert results[0] == results[1]
    assert results[0][2]        # Redis logs what it did in each case


@pytest.mark.skipif(PRLIMIT is None, reason='needs prlimit (util-linux)')
def test_too_low_open_files_limit_exits():
    results = []
    for kind in KINDS:
        srv = LimitedServer(kind, (20, 30), ('--maxclients', '10000'), wait=False)
        try:
            code = srv.proc.wait(20)
        finally:
            srv.stop()
        results.append((code, _open_files_lines(srv.read_log())))
    assert results[0] == results[1]
    assert results[0][0] == 1 and "Your current 'ulimit -n' of 20" in results[0][1][0]


def test_client_ids(server_factory):
    """Redis makes its Lua clients (ids 1 and 2) at start-up: the first
    connection is client 3, and running a script takes no id."""
    def scenario(srv):
        a = RawConn(srv.port)
        out = [a.call('CLIENT', 'ID'), a.call('EVAL', 'return 1', '0'),
               a.call('FCALL_RO', 'nosuch', '0')[:4]]
        b = RawConn(srv.port)
        out.append(b.call('CLIENT', 'ID'))
        a.close()
        b.close()
        return out

    results = [scenario(server_factory(kind)) for kind in KINDS]
    assert results[0] == results[1]
    # (Client 3 was the start-up check's PING.)
    assert results[0][0] == b':4\r\n' and results[0][-1] == b':5\r\n'


@pytest.mark.parametrize('cluster', [False, True])
def test_maxclients_refusal(server_factory, cluster):
    """The connection over maxclients gets Redis's error (in cluster mode
    the bus links count too, and the text says so) and is closed."""
    args = ['--maxclients', '2']
    if cluster:
        args += ['--cluster-enabled', 'yes']

    def admitted(port):
        # A slot is free once the server saw the close of the one before
        # (the start-up check's connection, a test connection).
        deadline = time.time() + 5
        while True:
            c = RawConn(port)
            if c.call('PING') == b'+PONG\r\n':
                return c
            c.close()
            assert time.time() < deadline
            time.sleep(0.05)

    def scenario(srv):
        held = [admitted(srv.port) for _ in range(2)]
        extra = RawConn(srv.port)
        out = [extra.read_reply(), extra.closed()]
        held[0].close()
        admitted(srv.port).close()
        for c in held[1:] + [extra]:
            c.close()
        return out

    # (A cluster node's port leaves room for its bus port, 10000 above.)
    results = [scenario(server_factory(kind, *args, port=cluster_port() if cluster else None))
               for kind in KINDS]
    assert results[0] == results[1]
    assert results[0][0] == (b'-ERR max number of clients + cluster connections reached\r\n'
                             if cluster else b'-ERR max number of clients reached\r\n')


def test_ipv6_peer_addresses(server_factory):
    """anetFormatAddr: an IPv6 peer is shown in brackets ([::1]:port) in
    CLIENT INFO/LIST (addr and laddr), and CLIENT KILL ADDR takes that form;
    a local IPv6 client passes 'enable-debug-command local'."""
    def scenario(srv):
        s = socket.create_connection(('::1', srv.port))
        s.sendall(b'CLIENT INFO\r\n')
        info = s.recv(4096).decode()
        addr = re.search(r' addr=(\S+)', info).group(1)
        laddr = re.search(r' laddr=(\S+)', info).group(1)
        s.sendall(b'DEBUG SLEEP 0\r\n')
        debug = s.recv(100)
        killer = RawConn(srv.port)
        kill = killer.call('CLIENT', 'KILL', 'ADDR', addr)
        killer.close()
        s.close()
        return (re.sub(r':\d+$', ':P', addr), re.sub(r':\d+$', ':P', laddr), debug, kill)

    results = [scenario(server_factory(kind, '--bind', '127.0.0.1 ::1',
                                       '--enable-debug-command', 'local'))
               for kind in KINDS]
    assert results[0] == results[1]
    assert results[0] == ('[::1]:P', '[::1]:P', b'+OK\r\n', b':1\r\n')
