"""SHUTDOWN as Redis 7.0 (prepareForShutdown/finishShutdown): a master
waits up to shutdown-timeout for replicas that have not acknowledged the
stream, writes paused meanwhile; NOW, FORCE, ABORT; SIGTERM/SIGINT with
shutdown-on-sigterm/-sigint. Each scenario runs against pyredis and
redis-server, and replies are compared byte for byte."""

import signal
import time

import pytest

from conftest import Compat
from helpers import REDIS_SERVER, RawConn
from test_failover import _pair, _stall
from test_replication import wait_for

pytestmark = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')


def test_shutdown_argument_errors_as_redis(compat):
    for args in (('SHUTDOWN', 'ABORT'), ('SHUTDOWN', 'ABORT', 'NOW'), ('SHUTDOWN', 'foo'),
                 ('SHUTDOWN', 'SAVE', 'NOSAVE'), ('SHUTDOWN', 'NOSAVE', 'ABORT')):
        compat.call(*args)
    compat.call('MULTI')
    compat.call('SHUTDOWN')
    compat.call('EXEC')


def _exited(srv):
    return srv.proc.poll() is not None


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_shutdown_waits_for_a_lagging_replica_then_abort(server_factory, kind):
    master, replica = _pair(server_factory, kind, kind)
    m = master.client()
    t = _stall(replica, 2)
    m.set('k', 'v')             # an offset the sleeping replica cannot acknowledge
    a, b = RawConn(master.port), RawConn(master.port)
    try:
        a.send_command('SHUTDOWN', 'NOSAVE')
        wait_for(lambda: 'Waiting for replicas before shutting down' in master.read_log(),
                 what='waiting')
        assert not _exited(master)
        b.send_command('SHUTDOWN')                  # joins the wait
        writer = RawConn(master.port)
        writer.send_command('SET', 'w', '1')        # paused
        wait_for(lambda: RawConn(master.port).call('CLIENT', 'LIST').count(b'flags=b') == 3,
                 what='the two SHUTDOWNs and the write blocked')
        assert RawConn(master.port).call('SHUTDOWN', 'ABORT') == b'+OK\r\n'
        assert a.read_reply() == b'-ERR Errors trying to SHUTDOWN. Check logs.\r\n'
        assert b.read_reply() == b'-ERR Errors trying to SHUTDOWN. Check logs.\r\n'
        assert writer.read_reply() == b'+OK\r\n'
        assert 'Shutdown manually aborted' in master.read_log()
        assert RawConn(master.port).call('SHUTDOWN', 'ABORT') == \
            b'-ERR No shutdown in progress.\r\n'
    finally:
        a.close()
        b.close()
        t.join()


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_shutdown_finishes_when_the_replica_catches_up(server_factory, kind):
    master, replica = _pair(server_factory, kind, kind)
    t = _stall(replica, 1)
    master.client().set('k', 'v')
    a = RawConn(master.port)
    a.send_command('SHUTDOWN', 'NOSAVE')
    t.join()
    wait_for(lambda: _exited(master), what='master exited')
    log = master.read_log()
    assert 'Waiting for replicas before shutting down' in log
    assert '1 of 1 replicas are in sync when shutting down.' in log
    assert replica.client().get('k') == b'v'
    a.close()


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_shutdown_timeout_and_now(server_factory, kind):
    master, replica = _pair(server_factory, kind, kind)
    m = master.client()
    m.config_set('shutdown-timeout', 1)
    t = _stall(replica, 3)
    m.set('k', 'v')
    RawConn(master.port).send_command('SHUTDOWN', 'NOSAVE')
    wait_for(lambda: _exited(master), what='master exited after the timeout')
    log = master.read_log()
    assert 'Lagging replica' in log and '0 of 1 replicas are in sync' in log
    t.join()
    # NOW does not wait.
    master2, replica2 = _pair(server_factory, kind, kind)
    t = _stall(replica2, 2)
    master2.client().set('k', 'v')
    RawConn(master2.port).send_command('SHUTDOWN', 'NOW', 'NOSAVE')
    wait_for(lambda: _exited(master2), what='exit with NOW')
    assert 'Waiting for replicas' not in master2.read_log()
    t.join()


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_sigterm_waits_for_replicas(server_factory, kind):
    master, replica = _pair(server_factory, kind, kind)
    t = _stall(replica, 1.5)
    master.client().set('k', 'v')
    master.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: 'Waiting for replicas before shutting down' in master.read_log(),
             what='waiting')
    t.join()
    wait_for(lambda: _exited(master), what='exited')
    assert master.proc.returncode == 0
    assert '1 of 1 replicas are in sync' in master.read_log()
    # shutdown-on-sigterm now: no wait.
    master2, replica2 = _pair(server_factory, kind, kind)
    master2.client().config_set('shutdown-on-sigterm', 'now nosave')
    t = _stall(replica2, 2)
    master2.client().set('k', 'v')
    master2.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: _exited(master2), what='exited at once')
    assert 'Waiting for replicas' not in master2.read_log()
    t.join()


def test_shutdown_waits_the_same_in_both(server_factory):
    """The replies to the same sequence, byte for byte."""
    ours, theirs = (_pair(server_factory, kind, kind) for kind in ('pyredis', 'redis'))
    threads = [_stall(replica, 1.5) for _, replica in (ours, theirs)]
    masters = Compat(ours[0], theirs[0])
    try:
        masters.call('SET', 'k', 'v')
        waiter = Compat(ours[0], theirs[0])
        for conn in (waiter.a, waiter.b):
            conn.send_command('SHUTDOWN')
        time.sleep(0.3)     # (both waiting: no timing is asserted)
        masters.call('SHUTDOWN', 'ABORT')
        waiter.raw(b'', replies=1)
        masters.call('SHUTDOWN', 'ABORT')
        masters.call('GET', 'k')
    finally:
        masters.close()
        for t in threads:
            t.join()
