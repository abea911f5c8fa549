"""Replication interop with a real redis-server 7.0, both directions (full
sync, live stream, partial resync after CLIENT KILL TYPE replica, data compared
key by key and TTL by TTL), and the replication commands' replies compared
byte for byte with redis-server (the ``compat`` fixture).
"""

import os
import time

import pytest

from helpers import REDIS_SERVER
from test_replication import (info, link_up, offsets_equal, skip_if_snapshot_unsupported,
                              snapshot, start_pyredis, wait_for, write_everything,
                              make_replica)

pytestmark = pytest.mark.skipif(not REDIS_SERVER, reason='redis-server is not installed: '
                                'interop tests need it (apt-get install redis-server)')


def test_redis_replica_of_pyredis_master(server_factory):
    master = start_pyredis(server_factory)
    m = master.client()
    m.set('before', 'sync', ex=1000)
    real = server_factory('redis', '--repl-diskless-load', 'disabled')
    real.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    try:
        wait_for(lambda: link_up(real), timeout=10, what='redis replica link')
    except AssertionError:
        skip_if_snapshot_unsupported(master)
        raise
    write_everything(master)
    wait_for(lambda: offsets_equal(master, real), what='offsets')
    assert snapshot(real) == snapshot(master)
    # Partial resync after the link is cut.
    m.client_kill_filter(_type='replica')
    m.set('during', 'gap')
    wait_for(lambda: info(master, 'stats')['sync_partial_ok'] == 1, what='partial resync')
    wait_for(lambda: offsets_equal(master, real), what='offsets')
    assert snapshot(real) == snapshot(master)
    assert info(master, 'stats')['sync_full'] == 1
    assert 'Successful partial resynchronization' in real.read_log()


def test_redis_replica_of_empty_pyredis_master_stream(server_factory):
    """Full sync of an empty dataset, then the live stream (works without
    an RDB writer)."""
    master = start_pyredis(server_factory)
    real = server_factory('redis')
    real.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    wait_for(lambda: link_up(real), what='redis replica link')
    write_everything(master)
    wait_for(lambda: offsets_equal(master, real), what='offsets')
    assert snapshot(real) == snapshot(master)
    assert master.client().execute_command('WAIT', 1, 0) == 1


def test_pyredis_replica_of_redis_master(server_factory):
    real = server_factory('redis', '--repl-diskless-sync-delay', '0')
    r = real.client()
    r.set('before', 'sync', ex=1000)
    replica = start_pyredis(server_factory)
    replica.client().execute_command('REPLICAOF', '127.0.0.1', real.port)
    wait_for(lambda: link_up(replica), timeout=10, what='pyredis replica link')
    write_everything(real, replica)
    wait_for(lambda: offsets_equal(real, replica), what='offsets')
    assert snapshot(replica) == snapshot(real)
    r.client_kill_filter(_type='replica')
    r.set('during', 'gap')
    wait_for(lambda: info(real, 'stats')['sync_partial_ok'] == 1, what='partial resync')
    wait_for(lambda: offsets_equal(real, replica), what='offsets')
    assert snapshot(replica) == snapshot(real)
    assert info(real, 'stats')['sync_full'] == 1
    # WAIT on the real master counts our ACKs.
    r.set('acked', 1)
    assert r.execute_command('WAIT', 1, 0) == 1


def test_pyredis_replica_of_redis_master_expiry(server_factory):
    real = server_factory('redis', '--repl-diskless-sync-delay', '0')
    replica = start_pyredis(server_factory)
    replica.client().execute_command('REPLICAOF', '127.0.0.1', real.port)
    wait_for(lambda: link_up(replica), timeout=10, what='pyredis replica link')
    r, p = real.client(), replica.client()
    r.execute_command('DEBUG', 'SET-ACTIVE-EXPIRE', '0')
    r.set('k', 'v', px=100)
    wait_for(lambda: offsets_equal(real, replica), what='offsets')
    time.sleep(0.25)
    assert p.get('k') is None and p.dbsize() == 1
    assert r.get('k') is None
    wait_for(lambda: p.dbsize() == 0, what='DEL from the real master')


@pytest.mark.parametrize('args', [
    ('REPLCONF',),
    ('REPLCONF', 'listening-port'),
    ('REPLCONF', 'listening-port', 'abc'),
    ('REPLCONF', 'listening-port', '6380'),
    ('REPLCONF', 'capa', 'eof', 'capa', 'psync2'),
    ('REPLCONF', 'capa', 'whatever'),
    ('REPLCONF', 'nonsense', '1'),
    ('REPLCONF', 'ip-address', 'x' * 255),
    ('REPLCONF', 'ip-address', 'x' * 256),
    ('REPLCONF', 'ip-address', '10.0.0.1'),
    ('REPLICAOF', '127.0.0.1', 'notaport'),
    ('REPLICAOF', '127.0.0.1', '70000'),
    ('REPLICAOF', '127.0.0.1', '-1'),
    ('REPLICAOF', 'no', 'one'),
    ('SLAVEOF', 'NO', 'ONE'),
    ('REPLICAOF', 'no'),
    ('WAIT', 'x', '0'),
    ('WAIT', '0', 'x'),
    ('WAIT', '0', '-1'),
    ('WAIT', '0', '0'),
    ('WAIT', '1'),
    ('PSYNC', '?'),
    ('PSYNC', '?', 'abc'),
    ('SYNC', 'extra'),
    ('ROLE', 'extra'),
])
def test_command_compat(compat, args):
    compat.call(*args)


def test_replconf_ack_getack_no_reply_compat(compat):
    # Neither gets a reply from a normal client: the PING's is the next one.
    compat.raw(b'*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$3\r\n100\r\n*1\r\n$4\r\nPING\r\n')
    compat.raw(b'*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n*1\r\n$4\r\nPING\r\n')


def test_wait_with_timeout_compat(compat):
    # No replicas: WAIT 1 blocks for its timeout, then replies 0.
    compat.call('WAIT', '1', '20')


def test_role_compat(compat):
    compat.call('ROLE')


def test_psync_in_multi_compat(compat):
    compat.call('MULTI')
    compat.call('PSYNC', '?', '-1')
    compat.call('SYNC')
    compat.call('DISCARD')


def test_disk_sync_to_redis_replica(server_factory):
    master = start_pyredis(server_factory, '--repl-diskless-sync', 'no')
    write_everything(master)
    real = server_factory('redis')
    real.client().execute_command('REPLICAOF', '127.0.0.1', master.port)
    try:
        wait_for(lambda: link_up(real), timeout=5, what='redis replica link')
    except AssertionError:
        skip_if_snapshot_unsupported(master)
        raise
    wait_for(lambda: offsets_equal(master, real), what='offsets')
    assert snapshot(real) == snapshot(master)
    assert 'Starting BGSAVE for SYNC with target: disk' in master.read_log()
    assert not [f for f in os.listdir(master.dir) if f.startswith('temp-repl')]


def test_min_replicas_to_write(server_factory):
    ours = start_pyredis(server_factory, '--min-replicas-to-write', '1')
    theirs = server_factory('redis', '--min-replicas-to-write', '1')
    for srv in (ours, theirs):
        conn = srv.raw()
        assert conn.call('SET', 'k', 'v') == b'-NOREPLICAS Not enough good replicas to write.\r\n'
        assert conn.call('GET', 'k') == b'$-1\r\n'
        conn.close()
    assert info(ours)['min_slaves_good_slaves'] == info(theirs)['min_slaves_good_slaves'] == 0
    replica = start_pyredis(server_factory)
    make_replica(replica, ours)
    wait_for(lambda: ours.client().set('k', 'v'), what='a good replica')
    wait_for(lambda: replica.client().get('k') == b'v', what='write replicated')
    ours.client().config_set('min-replicas-to-write', '0')
    replica.stop()
    ours.client().set('k2', 'v')


def _fields(srv):
    conn = srv.raw()
    text = conn.call('INFO', 'replication').decode()
    conn.close()
    return [line.split(':', 1)[0] for line in text.splitlines()
            if ':' in line and not line.startswith('slave0')]


def test_info_replication_fields_match_redis(server_factory):
    """Same field names, in the same order, in both roles."""
    ours, theirs = start_pyredis(server_factory), server_factory('redis')
    assert _fields(ours) == _fields(theirs)
    master = start_pyredis(server_factory)
    for srv in (ours, theirs):
        make_replica(srv, master)
    wait_for(lambda: offsets_equal(master, ours, theirs), what='offsets')
    assert _fields(ours) == _fields(theirs)
    assert info(master)['connected_slaves'] == 2
    assert info(master)['slave0']['state'] == info(master)['slave1']['state'] == 'online'
    master.stop()
    wait_for(lambda: not link_up(ours) and not link_up(theirs), what='links down')
    assert _fields(ours) == _fields(theirs)


def test_pyredis_replica_of_redis_master_disk_sync(server_factory):
    """A redis-server master with repl-diskless-sync no sends the RDB with
    a length prefix and the stream right behind it."""
    real = server_factory('redis', '--repl-diskless-sync', 'no')
    write_everything(real)
    replica = start_pyredis(server_factory)
    replica.client().execute_command('REPLICAOF', '127.0.0.1', real.port)
    wait_for(lambda: link_up(replica), what='pyredis replica link')
    real.client().set('after', 'sync')
    wait_for(lambda: offsets_equal(real, replica), what='offsets')
    assert snapshot(replica) == snapshot(real)
    assert 'receiving' in replica.read_log() and 'bytes from master' in replica.read_log()
