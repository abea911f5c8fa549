"""FAILOVER against redis-server 7.0: every error text (raw replies
compared), the switch of roles between a master and its replica in every
pairing of pyredis and redis-server, TIMEOUT with and without FORCE, ABORT,
the writes paused meanwhile, and PSYNC ... FAILOVER's own errors."""

import threading
import time

import pytest
import redis

from conftest import Compat
from helpers import REDIS_SERVER, RawConn
from test_replication import info, link_up, wait_for

pytestmark = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed')


def _start(server_factory, kind):
    return server_factory(kind, '--repl-diskless-sync-delay', '0')


def _online(master):
    return info(master).get('slave0', {}).get('state') == 'online'


def _pair(server_factory, master_kind, replica_kind):
    master = _start(server_factory, master_kind)
    replica = _start(server_factory, replica_kind)
    replica.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    wait_for(lambda: link_up(replica) and _online(master), what='replica online')
    return master, replica


def _role(srv):
    return info(srv)['role']


def _state(srv):
    return info(srv)['master_failover_state']


ERRORS = [
    ('FAILOVER', 'ABORT'), ('FAILOVER', 'abort', 'x'), ('FAILOVER', 'TIMEOUT', '0'),
    ('FAILOVER', 'TIMEOUT', '-5'), ('FAILOVER', 'TIMEOUT', 'x'), ('FAILOVER', 'TIMEOUT'),
    ('FAILOVER', 'TIMEOUT', '5', 'TIMEOUT', '5'), ('FAILOVER', 'TO', 'h'),
    ('FAILOVER', 'TO', 'h', 'x'), ('FAILOVER', 'TO', 'h', '1', 'TO', 'h', '1'),
    ('FAILOVER', 'FORCE', 'FORCE'), ('FAILOVER', 'foo'), ('FAILOVER',), ('FAILOVER', 'FORCE'),
    ('FAILOVER', 'TO', 'h', '1', 'FORCE', 'TIMEOUT', '10'),
    ('PSYNC', 'abc', '1', 'FAILOVER'), ('PSYNC', 'abc', 'x', 'FAILOVER'),
]


def test_failover_errors_on_a_lone_master_as_redis(compat):
    for args in ERRORS:
        compat.call(*args)


def test_failover_errors_with_replicas_as_redis(server_factory):
    ours = _pair(server_factory, 'pyredis', 'pyredis')
    theirs = _pair(server_factory, 'redis', 'redis')
    masters = Compat(ours[0], theirs[0])
    replicas = Compat(ours[1], theirs[1])
    try:
        # (Not FAILOVER alone: with a replica, it is no error.)
        for args in [a for a in ERRORS[:-2] if a != ('FAILOVER',)] + [('FAILOVER', 'TO', '127.0.0.1', '1'),
                                   ('FAILOVER', 'TO', '127.0.0.2', '1', 'TIMEOUT', '5'),
                                   ('FAILOVER', 'FORCE', 'TIMEOUT', '100')]:
            masters.call(*args)
        for args in ERRORS + [('FAILOVER', 'TO', '127.0.0.1', '1')]:
            replicas.call(*args)
    finally:
        masters.close()
        replicas.close()


@pytest.mark.parametrize('kinds', [('pyredis', 'pyredis'), ('pyredis', 'redis'),
                                   ('redis', 'pyredis')])
def test_failover_switches_roles(server_factory, kinds):
    master, replica = _pair(server_factory, *kinds)
    m, r = master.client(), replica.client()
    m.set('before', '1')
    wait_for(lambda: r.get('before') == b'1', what='replicated')
    assert m.execute_command('FAILOVER', 'TO', '127.0.0.1', replica.port) == b'OK'
    wait_for(lambda: _role(replica) == 'master' and _role(master) == 'slave'
             and link_up(master), what='roles switched')
    wait_for(lambda: _state(master) == 'no-failover', what='failover over')
    assert _state(replica) == 'no-failover'
    # The old master continued the history: no full sync on either side.
    assert info(master)['master_replid2'] == info(replica)['master_replid2'] or \
        info(master)['master_replid'] == info(replica)['master_replid']
    r.set('after', '2')
    wait_for(lambda: m.get('after') == b'2', what='new master replicates')
    assert m.get('before') == b'1'
    with pytest.raises(redis.ReadOnlyError):
        m.set('x', 'y')


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_failover_to_any_replica(server_factory, kind):
    master, replica = _pair(server_factory, kind, kind)
    assert master.client().execute_command('FAILOVER') == b'OK'
    wait_for(lambda: _role(replica) == 'master' and _role(master) == 'slave'
             and _state(master) == 'no-failover', what='roles switched')
    assert info(master)['master_port'] == replica.port


def _stall(replica, seconds):
    """Keep the replica from reading (and acknowledging) for a while."""
    t = threading.Thread(target=lambda: replica.client().execute_command(
        'DEBUG', 'SLEEP', seconds))
    t.start()
    time.sleep(0.2)     # (for the replica to be asleep: no timing is asserted)
    return t


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_failover_timeout_abort_and_paused_writes(server_factory, kind):
    master, replica = _pair(server_factory, kind, kind)
    m = master.client()
    t = _stall(replica, 1.5)
    m.set('k', 'v')     # an offset the replica cannot acknowledge while it sleeps
    assert m.execute_command('FAILOVER', 'TIMEOUT', '300') == b'OK'
    assert _state(master) == 'waiting-for-sync'
    conn = RawConn(master.port)
    try:
        assert conn.call('FAILOVER') == b'-ERR FAILOVER already in progress.\r\n'
        assert conn.call('PSYNC', '?', '-1') == \
            b"-NOMASTERLINK Can't SYNC while failing over\r\n"
        assert conn.call('CLIENT', 'UNPAUSE') == b'+OK\r\n'    # not the failover's pause
        conn.send_command('SET', 'w', '1')                     # waits
        wait_for(lambda: _state(master) == 'no-failover', what='timed out')
        assert conn.read_reply() == b'+OK\r\n'
        assert _role(master) == 'master'
        assert 'Replica never caught up before timeout' in master.read_log()
        # ABORT while waiting.
        t.join()
        t = _stall(replica, 1.5)
        m.set('k2', 'v')
        assert m.execute_command('FAILOVER') == b'OK'
        conn.send_command('SET', 'w', '2')
        assert m.execute_command('FAILOVER', 'ABORT') == b'OK'
        assert conn.read_reply() == b'+OK\r\n'
    finally:
        conn.close()
    assert _state(master) == 'no-failover' and _role(master) == 'master'
    assert m.get('w') == b'2'
    assert 'Failover manually aborted' in master.read_log()
    t.join()


@pytest.mark.parametrize('kinds', [('pyredis', 'pyredis'), ('pyredis', 'redis')])
def test_failover_force_after_timeout(server_factory, kinds):
    master, replica = _pair(server_factory, *kinds)
    m = master.client()
    t = _stall(replica, 1)
    m.set('k', 'v')
    assert m.execute_command('FAILOVER', 'TO', '127.0.0.1', replica.port, 'FORCE',
                             'TIMEOUT', '200') == b'OK'
    wait_for(lambda: _role(master) == 'slave', what='forced')
    assert 'time out exceeded, failing over' in master.read_log()
    t.join()
    wait_for(lambda: _role(replica) == 'master' and _state(master) == 'no-failover'
             and link_up(master), what='roles switched')
    assert replica.client().get('k') == b'v'
