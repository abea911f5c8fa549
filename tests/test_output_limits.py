"""client-output-buffer-limit, side by side with redis-server.

A client that asks for replies and does not read them is closed when its
output crosses the hard limit of its class, or stays over the soft limit for
longer than its seconds; without limits its output is held, and reading its
requests goes on (a pipeline sent whole before its replies are read
completes). CLIENT LIST shows the output held (omem).
"""

import socket
import time

import pytest

from helpers import RawConn, encode_command

KINDS = ['pyredis', 'redis']


def _slow_reader(port):
    """A connection that reads nothing, with a small receive buffer, so the
    server's output backs up quickly."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(('127.0.0.1', port))
    return s


def _client_ids(port):
    conn = RawConn(port)
    try:
        listing = conn.call('CLIENT', 'LIST')
        return [line for line in listing.split(b'\n') if line.startswith(b'id=')], conn
    except Exception:
        conn.close()
        raise


def _closed(sock, timeout):
    """True when the server closes ``sock`` within ``timeout`` seconds
    (whatever output it had is discarded by the reader)."""
    sock.settimeout(0.2)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
        if not data:
            return True
    return False


def _field(line, name):
    for part in line.split(b' '):
        if part.startswith(name + b'='):
            return part[len(name) + 1:]
    return None


def _start(server_factory, kind, limits):
    return server_factory(kind, '--client-output-buffer-limit', limits)


@pytest.mark.parametrize('kind', KINDS)
def test_hard_limit_closes_a_slow_reader(server_factory, kind):
    srv = _start(server_factory, kind, 'normal 1mb 512kb 5')
    r = srv.client()
    r.set('big', b'x' * (1 << 20))
    rss_before = r.info('memory')['used_memory_rss']
    s = _slow_reader(srv.port)
    s.sendall(encode_command([b'GET', b'big']) * 200)
    assert _closed(s, 10)
    s.close()
    # The server lives on, its memory not holding 200 MB of replies.
    assert r.ping()
    assert r.info('memory')['used_memory_rss'] - rss_before < 100 * (1 << 20)
    if kind == 'pyredis':
        assert 'for overcoming of output buffer limits' in srv.read_log()


@pytest.mark.parametrize('kind', KINDS)
def test_soft_limit_closes_after_its_seconds(server_factory, kind):
    srv = _start(server_factory, kind, 'normal 0 256kb 1')
    r = srv.client()
    r.set('v', b'y' * 200000)
    s = _slow_reader(srv.port)
    s.sendall(encode_command([b'GET', b'v']) * 20)
    # Over the soft limit, not yet for more than its second: still there.
    time.sleep(0.3)
    lines, conn = _client_ids(srv.port)
    conn.close()
    assert len(lines) == 3
    # Not reading, the client stays over the soft limit: after its second,
    # it is closed by the cron, no new reply needed.
    time.sleep(2.5)
    assert _closed(s, 10)
    s.close()


@pytest.mark.parametrize('kind', KINDS)
def test_pubsub_class_limit(server_factory, kind):
    srv = _start(server_factory, kind, 'pubsub 1mb 512kb 60')
    r = srv.client()
    s = _slow_reader(srv.port)
    s.sendall(encode_command([b'SUBSCRIBE', b'ch']))
    time.sleep(0.2)
    payload = b'z' * 100000
    closed = False
    for _ in range(100):
        if r.publish('ch', payload) == 0:
            closed = True   # the subscriber is gone
            break
    assert closed
    assert _closed(s, 5)
    s.close()
    # A normal client with the same backlog is not limited.
    assert r.ping()


@pytest.mark.parametrize('kind', KINDS)
def test_no_limit_holds_output_and_shows_omem(server_factory, kind):
    srv = _start(server_factory, kind, 'normal 0 0 0')
    r = srv.client()
    r.set('big', b'x' * (1 << 20))
    s = _slow_reader(srv.port)
    s.sendall(encode_command([b'CLIENT', b'SETNAME', b'slow']) + encode_command([b'GET', b'big']) * 20)
    deadline = time.time() + 10
    omem = 0
    while time.time() < deadline and omem < 10 * (1 << 20):
        time.sleep(0.1)
        lines, conn = _client_ids(srv.port)
        conn.close()
        slow = [line for line in lines if _field(line, b'name') == b'slow']
        assert slow
        omem = int(_field(slow[0], b'omem'))
    assert omem >= 10 * (1 << 20)       # most of the 20 MB waits in the server
    assert int(_field(slow[0], b'oll')) > 0
    # Read everything: all 20 replies arrive, and the output is empty again.
    s.settimeout(10)
    want = len(b'+OK\r\n') + 20 * len(b'$1048576\r\n' + b'x' * (1 << 20) + b'\r\n')
    got = 0
    while got < want:
        chunk = s.recv(1 << 20)
        assert chunk
        got += len(chunk)
    assert got == want
    lines, conn = _client_ids(srv.port)
    conn.close()
    slow = [line for line in lines if _field(line, b'name') == b'slow']
    assert _field(slow[0], b'omem') == b'0'
    s.close()


@pytest.mark.parametrize('kind', KINDS)
def test_pipeline_sent_whole_before_reading_completes(server_factory, kind):
    """redis-py sends a whole pipeline, then reads: the server must keep
    reading requests while the replies wait, or both sides wait forever."""
    srv = _start(server_factory, kind, 'normal 0 0 0')
    r = srv.client(socket_timeout=60)
    r.set('k', b'v' * 1000)
    pipe = r.pipeline(transaction=False)
    for _ in range(100000):
        pipe.get('k')
    assert pipe.execute() == [b'v' * 1000] * 100000


def test_config_set_applies_to_connected_clients(server_factory):
    srv = _start(server_factory, 'pyredis', 'normal 0 0 0')
    r = srv.client()
    r.set('big', b'x' * (1 << 20))
    s = _slow_reader(srv.port)
    s.sendall(encode_command([b'PING']))
    time.sleep(0.2)
    r.config_set('client-output-buffer-limit', 'normal 1mb 0 0')
    s.sendall(encode_command([b'GET', b'big']) * 50)
    assert _closed(s, 10)
    s.close()
    assert r.ping()


@pytest.mark.parametrize('kind', KINDS)
def test_maxmemory_clients_evicts_the_largest(server_factory, kind):
    srv = server_factory(kind)
    loader = srv.client()
    loader.set('big', b'x' * (1 << 20))
    loader.close()      # (its query buffer held the megabyte: Redis would evict it)
    r = srv.client()
    r.config_set('maxmemory-clients', '1mb')
    protected = _slow_reader(srv.port)
    protected.sendall(encode_command([b'CLIENT', b'NO-EVICT', b'on']))
    time.sleep(0.1)
    hog = _slow_reader(srv.port)
    hog.sendall(encode_command([b'GET', b'big']) * 10)
    assert _closed(hog, 10)
    hog.close()
    assert r.info('stats')['evicted_clients'] >= 1
    # A client that may not be evicted keeps its backlog.
    protected.sendall(encode_command([b'GET', b'big']) * 5)
    time.sleep(1)
    protected.settimeout(5)
    assert protected.recv(5) == b'+OK\r\n'
    protected.close()
    assert r.ping()
    if kind == 'pyredis':
        assert 'Evicting client: ' in srv.read_log()


def test_aof_replay_with_normal_class_limits(server_factory, tmp_path):
    """The AOF's replay client runs MULTI/EXEC (which updates a client's
    class) under the normal class's limits."""
    args = ('--appendonly', 'yes', '--client-output-buffer-limit', 'normal 1mb 512kb 5')
    srv = server_factory('pyredis', *args, cwd=str(tmp_path))
    r = srv.client()
    with r.pipeline(transaction=True) as p:
        p.set('a', 1).incr('a').execute()
    srv.stop()
    srv = server_factory('pyredis', *args, cwd=str(tmp_path), port=srv.port)
    assert srv.client().get('a') == b'2'


@pytest.mark.parametrize('kind', KINDS)
def test_replica_class_during_its_full_sync(server_factory, kind):
    """A replica that never reads its full sync: the stream held for it
    counts against the replica class's limit, and it is dropped."""
    srv = _start(server_factory, kind, 'replica 1mb 512kb 5')
    r = srv.client()
    r.set('big', b'x' * (1 << 20))
    s = _slow_reader(srv.port)
    for cmd in ([b'CLIENT', b'SETNAME', b'slow'], [b'REPLCONF', b'listening-port', b'1']):
        s.sendall(encode_command(cmd))
        assert s.recv(16) == b'+OK\r\n'
    s.sendall(encode_command([b'PSYNC', b'?', b'-1']))

    def present():
        lines, conn = _client_ids(srv.port)
        conn.close()
        return any(_field(line, b'name') == b'slow' for line in lines)

    time.sleep(0.3)
    assert present()
    for i in range(10):
        r.set('k%d' % i, b'y' * (1 << 20))
    deadline = time.time() + 10
    while time.time() < deadline and present():
        time.sleep(0.05)
    assert not present()
    s.close()
    assert r.ping()
