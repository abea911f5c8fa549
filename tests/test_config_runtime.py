"""Directives pyredis applies to the running server: requirepass,
rename-command, maxclients, timeout, port, bind, unixsocket(+perm), logfile
and loglevel (Redis's log line format), daemonize + pidfile, databases,
notify-keyspace-events, protected configs, stdin configuration, syslog,
CONFIG RESETSTAT, the 'no effect' notice. Where Redis can be asked, the
same scenario runs on both servers and the raw replies are compared.
"""

import os
import re
import socket
import stat
import subprocess
import sys
import time

import pytest

from helpers import ROOT, REDIS_SERVER, RawConn, free_port

KINDS = ['pyredis', 'redis'] if REDIS_SERVER else ['pyredis']


def both(server_factory, scenario, *args, **kw):
    """Run scenario(server) on a fresh pyredis and a fresh redis-server
    started with the same arguments; the results must be equal."""
    results = [scenario(server_factory(kind, *args, **kw)) for kind in KINDS]
    for r in results[1:]:
        assert r == results[0]
    return results[0]


def test_requirepass_set_at_runtime(server_factory):
    def scenario(srv):
        a = RawConn(srv.port)
        out = [a.call('CONFIG', 'SET', 'requirepass', 'pw')]
        out.append(a.call('PING'))              # already connected: still allowed
        b = RawConn(srv.port)
        out += [b.call('PING'), b.call('AUTH', 'nope'), b.call('AUTH', 'pw'), b.call('PING'),
                b.call('AUTH', 'default', 'pw'), b.call('CONFIG', 'GET', 'requirepass')]
        out.append(b.call('CONFIG', 'SET', 'requirepass', ''))
        c = RawConn(srv.port)
        out += [c.call('PING'), c.call('AUTH', 'x')]
        for conn in (a, b, c):
            conn.close()
        return out
    out = both(server_factory, scenario)
    assert out[2].startswith(b'-NOAUTH')


def test_rename_command(server_factory):
    def scenario(srv):
        c = RawConn(srv.port)
        out = [c.call('SET', 'k', 'v'), c.call('GET', 'k'), c.call('FETCH', 'k'),
               c.call('fetch', 'k'), c.call('KEYS', '*'), c.call('FLUSHDB')]
        c.close()
        return out
    out = both(server_factory, scenario, config_text='rename-command get fetch\n'
               'rename-command keys ""\n')
    assert out[2] == b'$1\r\nv\r\n'


RENAMES = ('rename-command set store\nrename-command get fetch\nrename-command keys ""\n'
           'rename-command multi begin\n')


def test_rename_command_in_command_introspection(server_factory):
    # COMMAND finds a renamed command by its new name and shows its own.
    def scenario(srv):
        c = RawConn(srv.port)
        out = [c.call(*args) for args in (
            ('COMMAND', 'INFO', 'store', 'set', 'fetch', 'get', 'keys', 'begin'),
            ('COMMAND', 'DOCS', 'fetch'), ('COMMAND', 'DOCS', 'get'),
            ('COMMAND', 'DOCS', 'keys'), ('COMMAND', 'GETKEYS', 'store', 'k', 'v'),
            ('COMMAND', 'GETKEYS', 'set', 'k', 'v'), ('COMMAND', 'GETKEYS', 'fetch', 'k'),
            ('COMMAND', 'COUNT'), ('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'fetch'),
            ('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'get'))]
        c.close()
        return out
    out = both(server_factory, scenario, config_text=RENAMES)
    assert out[4] == b'*1\r\n$1\r\nk\r\n'


def _read_until(conn, end, what):
    deadline = time.time() + 10
    while not conn.buf.endswith(end):
        assert time.time() < deadline, 'no %s: %r' % (what, conn.buf[-300:])
        conn._fill()
    return conn.buf


def test_rename_command_in_the_aof_and_the_replication_stream(server_factory):
    """A renamed command is propagated under the name it was called by, as
    Redis does (c->argv as typed): to the AOF and to replicas alike."""
    last = b'*3\r\n$5\r\nSTORE\r\n$1\r\ny\r\n$1\r\n2\r\n'

    def scenario(srv):
        replica = RawConn(srv.port)
        replica.send(b'PSYNC ? -1\r\n')
        header = _read_until(replica, b'\r\n', 'FULLRESYNC')
        assert header.startswith(b'+FULLRESYNC ')
        replica.buf = b''
        while not re.match(rb'\n*\$\d+\r\n', replica.buf):
            replica._fill()
        m = re.match(rb'\n*\$(\d+)\r\n', replica.buf)
        while len(replica.buf) < m.end() + int(m.group(1)):
            replica._fill()
        replica.buf = replica.buf[m.end() + int(m.group(1)):]     # (the RDB payload)
        c = RawConn(srv.port)
        for args in (('STORE', 'k', 'v'), ('store', 'k2', 'v'), ('BEGIN',), ('STORE', 'x', '1'),
                     ('INCR', 'x'), ('EXEC',), ('SELECT', '1'),
                     ('EVAL', "return redis.pcall('set', 'z', '3')", '0'), ('STORE', 'y', '2')):
            c.call(*args)
        stream = _read_until(replica, last, 'stream').replace(b'*1\r\n$4\r\nPING\r\n', b'')
        incr = [name for name in os.listdir(os.path.join(srv.dir, 'ad')) if 'incr' in name]
        with open(os.path.join(srv.dir, 'ad', incr[0]), 'rb') as f:
            aof = f.read()
        c.close()
        replica.close()
        return stream, aof

    stream, aof = both(server_factory, scenario, '--appendonly', 'yes', '--appenddirname', 'ad',
                       '--repl-diskless-sync', 'no', config_text=RENAMES)
    assert stream == aof and aof.endswith(last)
    assert b'$5\r\nstore\r\n$2\r\nk2\r\n' in aof and b'$5\r\nMULTI\r\n' in aof


def test_maxclients(server_factory):
    def scenario(srv):
        conns = [RawConn(srv.port) for _ in range(2)]
        out = [c.call('PING') for c in conns]
        extra = RawConn(srv.port)
        extra.send(b'PING\r\n')
        out.append(extra.read_reply())
        out.append(extra.closed())
        for c in conns + [extra]:
            c.close()
        return out
    out = both(server_factory, scenario, '--maxclients', '2')
    assert out[2] == b'-ERR max number of clients reached\r\n'


def test_timeout_closes_idle_clients(server_factory):
    srv = server_factory('pyredis', '--timeout', '1')
    c = RawConn(srv.port)
    assert c.call('PING') == b'+PONG\r\n'
    assert c.closed(timeout=10)


def test_config_set_port_moves_the_listener(server_factory):
    srv = server_factory('pyredis')
    new = free_port()
    c = RawConn(srv.port)
    assert c.call('CONFIG', 'SET', 'port', str(new)) == b'+OK\r\n'
    deadline = time.time() + 10
    while True:
        try:
            d = RawConn(new)
            break
        except OSError:
            assert time.time() < deadline
            time.sleep(0.05)
    assert d.call('CONFIG', 'GET', 'port') == b'*2\r\n$4\r\nport\r\n$%d\r\n%d\r\n' % (
        len(str(new)), new)
    assert c.call('PING') == b'+PONG\r\n'        # existing connections stay
    with pytest.raises(OSError):
        RawConn(srv.port)
    srv.port = new
    # A port that is taken: refused, and the server keeps its own.
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        assert d.call('CONFIG', 'SET', 'port', str(taken)) == (
            b"-ERR CONFIG SET failed (possibly related to argument 'port') - Unable to "
            b"listen on this port. Check server logs.\r\n")
    assert RawConn(new).call('PING') == b'+PONG\r\n'


def test_config_set_bind(server_factory):
    srv = server_factory('pyredis')
    c = RawConn(srv.port)
    assert c.call('CONFIG', 'SET', 'bind', '127.0.0.1 -::1') == b'+OK\r\n'
    assert c.call('CONFIG', 'GET', 'bind') == b'*2\r\n$4\r\nbind\r\n$14\r\n127.0.0.1 -::1\r\n'
    assert RawConn(srv.port).call('PING') == b'+PONG\r\n'
    assert c.call('CONFIG', 'SET', 'bind', '8.8.8.8').startswith(
        b"-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind")
    assert c.call('CONFIG', 'GET', 'bind') == b'*2\r\n$4\r\nbind\r\n$14\r\n127.0.0.1 -::1\r\n'
    assert RawConn(srv.port).call('PING') == b'+PONG\r\n'


def test_unixsocket_and_perm(server_factory, tmp_path):
    path = str(tmp_path / 'pyredis.sock')
    srv = server_factory('pyredis', '--unixsocket', path, '--unixsocketperm', '700')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(b'PING\r\n')
        assert s.recv(100) == b'+PONG\r\n'
    assert RawConn(srv.port).call('CONFIG', 'GET', 'unixsocketperm') == \
        b'*2\r\n$14\r\nunixsocketperm\r\n$3\r\n700\r\n'


LOG_LINE = re.compile(r'^\d+:[MCS] \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d{3} [.\-*#] .+$')


def test_logfile_format_and_loglevel(server_factory, tmp_path):
    logfile = tmp_path / 'server.log'
    srv = server_factory('pyredis', '--logfile', str(logfile), '--loglevel', 'verbose',
                         '--io-threads', '4')
    c = RawConn(srv.port)
    assert c.call('CONFIG', 'SET', 'loglevel', 'warning') == b'+OK\r\n'
    c.call('CONFIG', 'SET', 'maxmemory-clients', '10%')
    c.call('CONFIG', 'SET', 'maxmemory-clients', '20%')
    srv.stop()
    lines = logfile.read_text().splitlines()
    assert lines and all(LOG_LINE.match(l) for l in lines), lines
    text = '\n'.join(lines)
    assert 'Ready to accept connections' in text
    # Directives pyredis stores but does not act upon: said once.
    assert text.count("Directive 'io-threads'") == 1
    assert text.count("Directive 'maxmemory-clients'") <= 1


def _env():
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    return env


def test_daemonize_and_pidfile(tmp_path):
    port = free_port()
    pidfile, logfile = tmp_path / 'p.pid', tmp_path / 'l.log'
    r = subprocess.run([sys.executable, '-m', 'pyredis', '--port', str(port), '--bind',
                        '127.0.0.1', '--daemonize', 'yes', '--pidfile', str(pidfile),
                        '--logfile', str(logfile), '--save', '', '--dir', str(tmp_path)],
                       env=_env(), timeout=30, capture_output=True)
    assert r.returncode == 0
    deadline = time.time() + 15
    conn = None
    while conn is None:
        try:
            conn = RawConn(port)
        except OSError:
            assert time.time() < deadline, logfile.read_text() if logfile.exists() else ''
            time.sleep(0.05)
    try:
        pid = int(pidfile.read_text())
        info = conn.call('INFO', 'server').decode()
        assert 'process_id:%d\r\n' % pid in info
        assert conn.call('CONFIG', 'GET', 'daemonize') == \
            b'*2\r\n$9\r\ndaemonize\r\n$3\r\nyes\r\n'
    finally:
        conn.send(b'SHUTDOWN NOSAVE\r\n')
        conn.closed()
    deadline = time.time() + 10
    while pidfile.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert not pidfile.exists()


def test_databases(server_factory):
    def scenario(srv):
        c = RawConn(srv.port)
        return [c.call('SELECT', '3'), c.call('SELECT', '4'), c.call('CONFIG', 'GET',
                                                                      'databases')]
    out = both(server_factory, scenario, '--databases', '4')
    assert out[1] == b'-ERR DB index is out of range\r\n'


def test_notify_keyspace_events(server_factory):
    srv = server_factory('pyredis', '--notify-keyspace-events', 'KA')
    sub = RawConn(srv.port)
    sub.call('SUBSCRIBE', '__keyspace@0__:k')
    c = RawConn(srv.port)
    c.call('SET', 'k', 'v')
    assert sub.read_reply() == (b'*3\r\n$7\r\nmessage\r\n$16\r\n__keyspace@0__:k\r\n'
                                b'$3\r\nset\r\n')
    assert c.call('CONFIG', 'SET', 'notify-keyspace-events', '') == b'+OK\r\n'
    c.call('SET', 'k', 'w')
    assert c.call('CONFIG', 'SET', 'notify-keyspace-events', 'Kg') == b'+OK\r\n'
    c.call('DEL', 'k')
    assert sub.read_reply() == (b'*3\r\n$7\r\nmessage\r\n$16\r\n__keyspace@0__:k\r\n'
                                b'$3\r\ndel\r\n')


def test_protected_configs(server_factory, tmp_path):
    def scenario(srv):
        c = RawConn(srv.port)
        return [c.call('CONFIG', 'SET', 'dir', str(tmp_path)),
                c.call('CONFIG', 'GET', 'dir'),
                c.call('CONFIG', 'SET', 'dbfilename', 'a/b.rdb'),
                c.call('CONFIG', 'SET', 'dir', '/nonexistent/x'),
                c.call('CONFIG', 'SET', 'dbfilename', 'x.rdb')]
    both(server_factory, scenario, '--enable-protected-configs', 'local')


def test_config_from_stdin(server_factory):
    def scenario(srv):
        c = RawConn(srv.port)
        return [c.call('CONFIG', 'GET', 'hz'), c.call('CONFIG', 'GET', 'maxclients')]
    out = both(server_factory, scenario, '-', stdin=b'hz 33\nmaxclients 77\n')
    assert out[0] == b'*2\r\n$2\r\nhz\r\n$2\r\n33\r\n'


def test_not_listening_anywhere_exits(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'pyredis', '--port', '0', '--save', ''],
                       env=_env(), timeout=30, capture_output=True, cwd=str(tmp_path))
    assert r.returncode == 1
    assert b'Configured to not listen anywhere, exiting.' in r.stdout


def test_syslog_enabled_starts(server_factory):
    srv = server_factory('pyredis', '--syslog-enabled', 'yes', '--syslog-ident', 'pyredis-test',
                         '--syslog-facility', 'local3')
    assert RawConn(srv.port).call('CONFIG', 'GET', 'syslog-facility') == \
        b'*2\r\n$15\r\nsyslog-facility\r\n$6\r\nlocal3\r\n'


def test_config_resetstat(server_factory):
    srv = server_factory('pyredis')
    c = RawConn(srv.port)
    for _ in range(5):
        c.call('PING')
    assert c.call('CONFIG', 'RESETSTAT') == b'+OK\r\n'
    info = c.call('INFO', 'stats').decode()
    assert 'total_commands_processed:0\r\n' in info or 'total_commands_processed:1\r\n' in info
    assert 'cmdstat_ping' not in c.call('INFO', 'commandstats').decode()


def test_config_set_is_atomic(server_factory):
    def scenario(srv):
        c = RawConn(srv.port)
        return [c.call('CONFIG', 'SET', 'hz', '50', 'maxmemory', '10mb', 'maxclients', '0'),
                c.call('CONFIG', 'GET', 'hz'), c.call('CONFIG', 'GET', 'maxmemory'),
                c.call('CONFIG', 'SET', 'hz', '50', 'maxmemory', '10mb', 'port', 'x'),
                c.call('CONFIG', 'GET', 'hz'),
                c.call('CONFIG', 'SET', 'hz', '50', 'maxmemory', '10mb'),
                c.call('CONFIG', 'GET', 'hz'), c.call('CONFIG', 'GET', 'maxmemory')]
    out = both(server_factory, scenario)
    assert out[1] == b'*2\r\n$2\r\nhz\r\n$2\r\n10\r\n'
