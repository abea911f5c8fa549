"""The keyspace side of cluster mode against redis-server 7.0 in cluster mode:
hash slots, the per-slot key index (COUNTKEYSINSLOT/GETKEYSINSLOT), the
routing errors (-MOVED, -ASK, -TRYAGAIN, -CROSSSLOT, -CLUSTERDOWN, ASKING,
READONLY), byte for byte in RESP2 and RESP3.

The oracle is a real cluster of redis-server nodes built with CLUSTER
MEET/ADDSLOTSRANGE/SETSLOT. The pyredis node is an embedded server in
cluster mode whose ClusterState (cluster/state.py) the test fills by hand to
mirror the oracle's view of the node compared (same slots, same other node
at the same address), so that the redirections name the same endpoints and
the replies must be the same bytes.
"""

import gc
import os
import random
import time

import pytest
import redis

import pyredis
from pyredis.cluster import slots
from pyredis.cluster.state import MASTER, MYSELF, SLAVE, ClusterNode, ClusterState

from cluster_helpers import cluster_port, start_node, wait_for
from helpers import REDIS_SERVER, RawConn

needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason='redis-server is not installed')

SLOT_B = slots.keyslot(b'b')      # 3300: the compared node's
SLOT_A = slots.keyslot(b'a')      # 15495: the other node's


# -- set-up ------------------------------------------------------------------------------

class HandState(ClusterState):
    """A cluster state filled by the test (no bus: no links)."""

    def connections(self):
        return 0

    def links_memory(self):
        return 0


def info_field(node, field):
    text = RawConn(node.port).call('CLUSTER', 'INFO').split(b'\r\n', 1)[1].decode()
    for line in text.split('\r\n'):
        if line.startswith(field + ':'):
            return line.split(':', 1)[1]
    return None


def _id(node):
    return node.client().execute_command('CLUSTER MYID').decode()


@pytest.fixture(scope='module')
def oracle():
    """Two redis-server masters: A serves 0-8191, B 8192-16383."""
    if REDIS_SERVER is None:
        pytest.skip('redis-server is not installed')
    a = start_node('redis')
    b = start_node('redis')
    try:
        ra, rb = a.client(), b.client()
        ra.execute_command('CLUSTER ADDSLOTSRANGE 0 8191')
        rb.execute_command('CLUSTER ADDSLOTSRANGE 8192 16383')
        ra.execute_command('CLUSTER MEET 127.0.0.1 %d' % b.port)
        for n in (a, b):
            wait_for(lambda: info_field(n, 'cluster_state') == 'ok', 30, what='cluster ok')
        yield a, b
    finally:
        a.stop()
        b.stop()


def _py_cluster(port_other, name_other, replica=False, owned=range(0, 8192), **directives):
    """An embedded pyredis node in cluster mode, its cluster state by hand:
    it serves ``owned`` (or, as a replica, is the other node's replica) and
    the other node (named and placed as the oracle's) the rest."""
    # (A cluster node's port leaves room for its bus port, port + 10000.)
    s = pyredis.serve(cluster_port(), cluster_enabled=True, enable_debug_command='yes',
                      **directives)
    st = HandState(s.server.config)
    me = ClusterNode(flags=(SLAVE if replica else MASTER) | MYSELF)
    me.ip, me.port = '127.0.0.1', s.port
    other = ClusterNode(name=name_other, flags=MASTER)
    other.ip, other.port = '127.0.0.1', port_other
    st.myself = me
    st.add_node(me)
    st.add_node(other)
    owned = set(owned)
    for i in range(slots.CLUSTER_SLOTS):
        st.add_slot(me if i in owned and not replica else other, i)
    if replica:
        me.slaveof = other
    st.state_ok = True
    s.server.cluster = st
    return s, st, other


@pytest.fixture
def py(oracle):
    a, b = oracle
    s, st, other = _py_cluster(b.port, _id(b))
    try:
        yield s, st, other
    finally:
        s.stop()


def _both(oracle_node, s):
    return RawConn(oracle_node.port), RawConn(s.port)


def _same(conns, *cmd):
    r, p = conns
    want, got = r.call(*cmd), p.call(*cmd)
    assert got == want, (cmd, got, want)
    return got


# -- hashing ---------------------------------------------------------------------------

def test_keyslot_c_matches_the_python_reference():
    rnd = random.Random(7)
    alphabet = b'ab{}}{x\x00\xff'
    keys = [b'', b'{', b'}', b'{}', b'{}}', b'{{}}', b'a{b}c', b'{a}{b}', b'foo{}{bar}',
            b'foo{{bar}}zap', b'foo{bar}{zap}', b'{user1000}.following']
    keys += [bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(12))) for _ in range(5000)]
    keys += [os.urandom(rnd.randrange(40)) for _ in range(5000)]
    for k in keys:
        assert slots.keyslot(k) == slots.keyslot_py(k), k
    assert slots.keyslot(b'foo') == 12182
    assert slots.keyslot(bytearray(b'foo')) == 12182


@needs_redis
def test_keyslot_and_slot_errors_match_redis(oracle, py):
    s = py[0]
    conns = _both(oracle[0], s)
    for key in (b'', b'foo', b'{}', b'{}x', b'x{}', b'{a}b', b'a{b}', b'{{a}}', b'\xff{\x00}',
                b'{user1000}.followers', b'foo{}{bar}', b'x' * 1000):
        _same(conns, 'CLUSTER', 'KEYSLOT', key)
    for args in (('COUNTKEYSINSLOT', 'x'), ('COUNTKEYSINSLOT', -1), ('COUNTKEYSINSLOT', 16384),
                 ('COUNTKEYSINSLOT', 0), ('GETKEYSINSLOT', 'x', 1), ('GETKEYSINSLOT', 1, 'x'),
                 ('GETKEYSINSLOT', 1, -1), ('GETKEYSINSLOT', 16384, 1), ('GETKEYSINSLOT', 0, 0),
                 ('KEYSLOT',), ('COUNTKEYSINSLOT', 1, 2)):
        _same(conns, 'CLUSTER', *args)


def test_cluster_key_commands_out_of_cluster_mode(pyredis, real_redis):
    for cmd in (('CLUSTER', 'KEYSLOT', 'a'), ('CLUSTER', 'COUNTKEYSINSLOT', 1),
                ('CLUSTER', 'GETKEYSINSLOT', 1, 1), ('ASKING',), ('READONLY',), ('READWRITE',)):
        assert RawConn(pyredis.port).call(*cmd) == RawConn(real_redis.port).call(*cmd)


# -- the per-slot index -------------------------------------------------------------------

def _compare_slot(conns, *slot_list):
    for slot in slot_list:
        _same(conns, 'CLUSTER', 'COUNTKEYSINSLOT', slot)
        _same(conns, 'CLUSTER', 'GETKEYSINSLOT', slot, 1000)
        _same(conns, 'CLUSTER', 'GETKEYSINSLOT', slot, 2)


def _index_consistent(server):
    data = server.dbs[0].data
    assert type(data) is slots.SlotKeyspace
    total = 0
    for slot, keys in data.by_slot.items():
        assert keys, slot
        for k in keys:
            assert k in data and slots.keyslot(k) == slot
        total += len(keys)
    assert total == len(data)


@needs_redis
def test_slot_index_follows_every_write(oracle, py):
    s = py[0]
    a = oracle[0]
    conns = _both(a, s)
    slot_b = slots.keyslot(b'{b}')
    steps = [
        ('FLUSHALL',),
        ('SET', '{b}1', 'v'), ('SET', '{b}2', 'v'), ('SET', '{b}1', 'again'),
        ('MSET', '{b}3', 1, '{b}4', 2), ('SETNX', '{b}5', 1), ('SETEX', '{b}6', 100, 1),
        ('DEL', '{b}2'), ('UNLINK', '{b}3'), ('RENAME', '{b}1', '{b}7'),
        ('RENAMENX', '{b}4', '{b}8'), ('COPY', '{b}7', '{b}9'), ('GETDEL', '{b}9'),
        ('LPUSH', '{b}l', 'a', 'b'), ('LPOP', '{b}l', 5), ('SADD', '{b}s', 1),
        ('SMOVE', '{b}s', '{b}t', 1), ('ZADD', '{b}z', 1, 'm'), ('ZREM', '{b}z', 'm'),
        ('HSET', '{b}h', 'f', 'v'), ('HDEL', '{b}h', 'f'), ('INCR', '{b}n'),
        ('XADD', '{b}x', '1-1', 'f', 'v'), ('SUNIONSTORE', '{b}u', '{b}t', '{b}missing'),
        ('PFADD', '{b}p', 'a'), ('SETRANGE', '{b}r', 3, 'x'), ('APPEND', '{b}q', 'x'),
        ('SORT', '{b}t', 'STORE', '{b}sorted'), ('BITOP', 'OR', '{b}bit', '{b}q'),
        ('SET', 'b', 'plain'), ('PEXPIRE', 'b', 1),
    ]
    for step in steps:
        _same(conns, *step)
        _compare_slot(conns, slot_b, SLOT_B)
    time.sleep(0.01)
    _same(conns, 'GET', 'b')         # expired: deleted by the lookup
    _compare_slot(conns, slot_b, SLOT_B)
    payload = RawConn(a.port).call('DUMP', '{b}7')
    blob = payload.split(b'\r\n', 1)[1][:-2]
    _same(conns, 'RESTORE', '{b}restored', 0, blob)
    _same(conns, 'RESTORE', '{b}restored', 0, blob, 'REPLACE')
    _compare_slot(conns, slot_b)
    _same(conns, 'FLUSHALL', 'ASYNC')
    _compare_slot(conns, slot_b, SLOT_B)
    _index_consistent(s.server)


def test_slot_index_survives_reload_expiry_and_eviction():
    # The embedded server counts the process's allocations above a baseline
    # taken at its creation: earlier tests' garbage freed after it would
    # hide this test's keys from used_memory.
    gc.collect()
    s, st, other = _py_cluster(1, 'f' * 40, owned=range(slots.CLUSTER_SLOTS))
    try:
        r = s.client()
        pipe = r.pipeline(transaction=False)
        for i in range(3000):
            pipe.set('key:%d' % i, 'x' * 50)
            pipe.set('{t}%d' % i, 'y')
        for i in range(200):
            pipe.pexpire('key:%d' % i, 1)
        pipe.execute()
        t = slots.keyslot(b'{t}')
        assert r.execute_command('CLUSTER COUNTKEYSINSLOT', t) == 3000
        assert r.execute_command('DEBUG RELOAD') == b'OK'
        _index_consistent(s.server)
        assert r.execute_command('CLUSTER COUNTKEYSINSLOT', t) == 3000
        wait_for(lambda: r.dbsize() == 5800, 20, what='the expiry cycle')
        _index_consistent(s.server)
        r.config_set('maxmemory-policy', 'allkeys-random')
        used = int(r.info('memory')['used_memory'])
        r.config_set('maxmemory', max(used - 100000, 1))
        try:
            r.set('one-more', 'z')
        except redis.exceptions.OutOfMemoryError:
            pass    # evicted all it could and still above the limit
        assert r.dbsize() < 5801
        _index_consistent(s.server)
        r.config_set('maxmemory', 0)
        keys = r.execute_command('CLUSTER GETKEYSINSLOT', t, 10)
        assert len(keys) == min(10, r.execute_command('CLUSTER COUNTKEYSINSLOT', t))
        r.flushall()
        _index_consistent(s.server)
        assert r.execute_command('CLUSTER COUNTKEYSINSLOT', t) == 0
    finally:
        s.stop()


def test_slot_index_is_fed_by_the_aof_and_the_master_stream(tmp_path):
    # Loading an AOF at start-up, and a replica fed by its master (here a
    # plain master: the stream is what matters), index what they add.
    d = str(tmp_path)
    with pyredis.serve(dir=d, appendonly=True) as m:
        r = m.client()
        for i in range(500):
            r.set('{a}%d' % i, i)
            r.set('k%d' % i, i)
        r.delete('{a}7')
        r.rename('k1', '{a}new')
    s = pyredis.serve(cluster_port(), dir=d, appendonly=True, cluster_enabled=True)
    try:
        st = HandState(s.server.config)
        me = ClusterNode(flags=MASTER | MYSELF)
        st.myself = me
        for i in range(slots.CLUSTER_SLOTS):
            st.add_slot(me, i)
        st.state_ok = True
        s.server.cluster = st
        wait_for(lambda: s.client().dbsize() == 999, 20, what='the AOF to load')
        _index_consistent(s.server)
        assert s.client().execute_command('CLUSTER COUNTKEYSINSLOT', SLOT_A) == 500
    finally:
        s.stop()


# -- routing -----------------------------------------------------------------------------

ROUTED = [
    ('GET', 'a'), ('GET', 'b'), ('SET', 'a', 1), ('MGET', 'a', 'b'), ('MGET', 'b', '{b}x'),
    ('OBJECT', 'ENCODING', 'a'), ('XREAD', 'STREAMS', 'a', 'b', '0', '0'),
    ('EVAL', 'return 1', 2, 'a', 'b'), ('EVAL', 'return 1', 1, 'a'), ('EVAL', 'return 1', 0),
    ('SPUBLISH', 'a', 'x'), ('SPUBLISH', 'b', 'x'), ('PUBLISH', 'a', 'x'),
    ('SSUBSCRIBE', 'b', 'c'), ('SSUBSCRIBE', 'a'),
    ('SORT', 'b', 'BY', 'nosort', 'STORE', 'c'), ('MIGRATE', '127.0.0.1', 1, 'a', 0, 10),
    ('SELECT', 1), ('SELECT', 0), ('MOVE', 'b', 1), ('SWAPDB', 0, 1), ('COPY', 'b', 'c', 'DB', 1),
    ('DBSIZE',), ('EXISTS', 'a', 'b'), ('ZUNIONSTORE', 'b', 2, 'b', 'a'), ('LMPOP', 2, 'a', 'b',
                                                                          'LEFT'),
    ('BLPOP', 'a', 0), ('RENAME', 'b', 'a'), ('MEMORY', 'USAGE', 'a'), ('TOUCH', 'a'),
    ('GETKEYS_IS_NOT_A_COMMAND',), ('ASKING',), ('READONLY',), ('READWRITE',),
]


@needs_redis
@pytest.mark.parametrize('protocol', [2, 3])
def test_redirections_match_redis(oracle, py, protocol):
    s = py[0]
    for cmd in ROUTED:
        conns = _both(oracle[0], s)
        if protocol == 3:
            for conn in conns:
                conn.call('HELLO', 3)
        _same(conns, *cmd)
        for conn in conns:
            conn.close()
    RawConn(oracle[0].port).call('FLUSHALL')


TRANSACTIONS = [
    [('MULTI',), ('SET', '{b}1', 'x'), ('GET', 'a'), ('EXEC',)],
    [('MULTI',), ('SET', '{b}1', 'x'), ('SET', 'b', 'y'), ('EXEC',)],
    [('MULTI',), ('SET', 'a', 1), ('DISCARD',)],
    [('MULTI',), ('GET', 'b'), ('PING',), ('EXEC',)],
    [('WATCH', 'a')],
    [('WATCH', 'b'), ('MULTI',), ('INCR', 'b'), ('EXEC',)],
]


@needs_redis
def test_transactions_are_routed_as_redis(oracle, py):
    s = py[0]
    for seq in TRANSACTIONS:
        conns = _both(oracle[0], s)
        for cmd in seq:
            _same(conns, *cmd)
    RawConn(oracle[0].port).call('FLUSHALL')


@needs_redis
def test_migrating_slot_asks_and_tryagain_as_redis(oracle, py):
    a, b = oracle
    s, st, other = py
    ra = a.client()
    ra.execute_command('CLUSTER SETSLOT %d MIGRATING %s' % (SLOT_B, _id(b)))
    st.migrating_slots_to[SLOT_B] = other
    try:
        conns = _both(a, s)
        for cmd in [('SET', '{b}1', 1), ('GET', '{b}1'), ('GET', '{b}2'),
                    ('MGET', '{b}1', '{b}2'), ('MGET', '{b}2', '{b}3'),
                    ('EXISTS', '{b}1', '{b}1'), ('DEL', '{b}2'), ('SET', '{b}2', 1),
                    ('MIGRATE', '127.0.0.1', b.port, '{b}2', 0, 1000),
                    ('EVAL', "return redis.call('get', KEYS[1])", 1, '{b}2'),
                    ('MULTI',), ('GET', '{b}1'), ('GET', '{b}2'), ('EXEC',),
                    ('SPUBLISH', '{b}1', 'x'), ('DEL', '{b}1')]:
            _same(conns, *cmd)
    finally:
        ra.execute_command('CLUSTER SETSLOT %d STABLE' % SLOT_B)
        ra.flushall()


@needs_redis
def test_importing_slot_takes_asking_as_redis(oracle, py):
    a, b = oracle
    s, st, other = py
    ra = a.client()
    ra.execute_command('CLUSTER SETSLOT %d IMPORTING %s' % (SLOT_A, _id(b)))
    st.importing_slots_from[SLOT_A] = other
    ra.set('tmp', 'value')
    blob = ra.dump('tmp')
    ra.delete('tmp')
    try:
        seq = [('GET', 'a'), ('ASKING',), ('GET', 'a'), ('GET', 'a'),
               ('ASKING',), ('MGET', 'a', '{a}2'), ('ASKING',), ('MGET', 'a', 'a'),
               ('RESTORE-ASKING', 'a', 0, blob), ('ASKING',), ('MGET', 'a', '{a}2'),
               ('ASKING',), ('MULTI',), ('GET', 'a'), ('GET', '{a}2'), ('EXEC',),
               ('ASKING',), ('MULTI',), ('GET', 'a'), ('EXEC',),
               ('ASKING',), ('PING',), ('GET', 'a'), ('ASKING',), ('ASKING',), ('GET', 'a'),
               ('RESTORE', '{a}3', 0, blob)]
        conns = _both(a, s)
        for cmd in seq:
            _same(conns, *cmd)
    finally:
        ra.execute_command('CLUSTER SETSLOT %d STABLE' % SLOT_A)
        ra.flushall()


@needs_redis
def test_asking_ends_with_a_refused_command_as_redis(oracle, py):
    """resetClient ends ASKING after any command but ASKING itself, also one
    refused before routing (unknown command or subcommand, arity, NOPERM),
    unless in MULTI: the next command on the importing slot gets -MOVED."""
    a, b = oracle
    s, st, other = py
    ra = a.client()
    ra.execute_command('CLUSTER SETSLOT %d IMPORTING %s' % (SLOT_A, _id(b)))
    st.importing_slots_from[SLOT_A] = other
    try:
        seq = [('ASKING',), ('NOT-A-COMMAND',), ('GET', 'a'),
               ('ASKING',), ('GET',), ('GET', 'a'),
               ('ASKING',), ('CLUSTER', 'NOT-A-SUBCOMMAND'), ('GET', 'a'),
               ('ASKING',), ('ASKING', 'extra'), ('GET', 'a'), ('GET', 'a'),
               ('ASKING',), ('MULTI',), ('NOT-A-COMMAND',), ('GET', 'a'), ('EXEC',),
               ('GET', 'a'),
               ('ASKING',), ('MULTI',), ('GET',), ('DISCARD',), ('GET', 'a'),
               ('ACL', 'SETUSER', 'asker', 'on', 'nopass', '+asking', '+get', '~*'),
               ('AUTH', 'asker', 'x'), ('ASKING',), ('SET', 'a', 1), ('GET', 'a'),
               ('ASKING',), ('GET', 'a')]
        conns = _both(a, s)
        for cmd in seq:
            _same(conns, *cmd)
    finally:
        ra.execute_command('CLUSTER SETSLOT %d STABLE' % SLOT_A)
        ra.execute_command('ACL DELUSER asker')
        ra.flushall()


def _flags(conn, *cmd):
    info = conn.call(*cmd) if cmd else conn.call('CLIENT', 'INFO')
    return [f for f in info.split() if f.startswith(b'flags=')]


@needs_redis
def test_readonly_client_has_the_r_flag_as_redis(oracle, py):
    """CLIENT INFO and CLIENT LIST show 'r' for a client in READONLY mode
    (getClientInfoString), after 'U' and before 'e'."""
    a, b = oracle
    s, st, other = py
    conns = _both(a, s)
    seen = []
    for conn in conns:
        flags = [_flags(conn)]
        conn.call('READONLY')
        flags.append(_flags(conn))
        flags.append(_flags(conn, 'CLIENT', 'LIST', 'ID', conn.call('CLIENT', 'ID')[1:-2]))
        conn.call('CLIENT', 'NO-EVICT', 'on')
        flags.append(_flags(conn))
        conn.call('CLIENT', 'NO-EVICT', 'off')
        conn.call('READWRITE')
        flags.append(_flags(conn))
        conn.call('READONLY')
        conn.call('RESET')
        flags.append(_flags(conn))
        seen.append(flags)
    assert seen[1] == seen[0], seen
    assert seen[0][1] == [b'flags=r'] and seen[0][3] == [b'flags=re']


@needs_redis
def test_cluster_down_as_redis(oracle):
    """One redis-server node serving every slot but one: the cluster is down."""
    c = start_node('redis')
    unserved = next(i for i in range(100) if slots.keyslot(b'k%d' % i) != SLOT_B)
    unserved_key = b'k%d' % unserved
    unserved = slots.keyslot(unserved_key)
    s = None
    try:
        rc = c.client()
        rc.execute_command('CLUSTER ADDSLOTSRANGE 0 16383')
        wait_for(lambda: info_field(c, 'cluster_state') == 'ok', 30, what='cluster ok')
        rc.execute_command('CLUSTER DELSLOTS %d' % unserved)
        wait_for(lambda: info_field(c, 'cluster_state') == 'fail', 30, what='cluster fail')
        s, st, other = _py_cluster(1, 'f' * 40, owned=range(slots.CLUSTER_SLOTS))
        st.del_slot(unserved)
        st.state_ok = False
        seq = [('GET', unserved_key), ('GET', 'b'), ('SET', 'b', 1), ('PING',), ('DBSIZE',),
               ('SPUBLISH', 'b', 'x'), ('CONFIG', 'SET', 'cluster-allow-pubsubshard-when-down',
                                        'no'),
               ('SPUBLISH', 'b', 'x'), ('SSUBSCRIBE', 'b'),
               ('CONFIG', 'SET', 'cluster-allow-reads-when-down', 'yes'),
               ('GET', 'b'), ('SET', 'b', 1), ('MULTI',), ('GET', 'b'), ('SET', 'b', 2),
               ('EXEC',), ('GET', unserved_key)]
        for protocol in (2, 3):
            conns = _both(c, s)
            if protocol == 3:
                for conn in conns:
                    conn.call('HELLO', 3)
            for cmd in seq:
                _same(conns, *cmd)
            for conn in conns:
                conn.call('CONFIG', 'SET', 'cluster-allow-reads-when-down', 'no')
                conn.call('CONFIG', 'SET', 'cluster-allow-pubsubshard-when-down', 'yes')
    finally:
        c.stop()
        if s is not None:
            s.stop()


@needs_redis
def test_readonly_replica_reads_as_redis(oracle):
    """A replica (of A) in the oracle; pyredis as a replica of the same A."""
    a, b = oracle
    r = start_node('redis')
    s = None
    try:
        rr = r.client()
        rr.execute_command('CLUSTER MEET 127.0.0.1 %d' % a.port)
        wait_for(lambda: _id(a).encode() in RawConn(r.port).call('CLUSTER', 'NODES'), 30,
                 what='the replica to know A')
        wait_for(lambda: rr.execute_command('CLUSTER REPLICATE %s' % _id(a)), 30,
                 what='CLUSTER REPLICATE')
        wait_for(lambda: info_field(r, 'cluster_state') == 'ok', 30, what='cluster ok')
        a.client().set('b', 'from-master')
        wait_for(lambda: _readonly_get(r) == b'$11\r\nfrom-master\r\n', 30, what='replication')
        s, st, other = _py_cluster(a.port, _id(a), replica=True)
        # The replica's data, put there by hand (this node does not replicate).
        s.server.dbs[0].data[b'b'] = b'from-master'
        seq = [('GET', 'b'), ('READONLY',), ('GET', 'b'), ('SET', 'b', 1), ('MGET', 'b', '{b}x'),
               ('MULTI',), ('GET', 'b'), ('EXEC',), ('MULTI',), ('SET', 'b', 1), ('EXEC',),
               ('EVAL', "return redis.call('get', KEYS[1])", 1, 'b'),
               ('READWRITE',), ('GET', 'b'), ('READONLY',), ('RESET',), ('GET', 'b'),
               ('SPUBLISH', 'b', 'x')]
        for protocol in (2, 3):
            conns = _both(r, s)
            if protocol == 3:
                for conn in conns:
                    conn.call('HELLO', 3)
            for cmd in seq:
                _same(conns, *cmd)
    finally:
        r.stop()
        a.client().flushall()
        if s is not None:
            s.stop()


def _readonly_get(node):
    conn = RawConn(node.port)
    conn.call('READONLY')
    return conn.call('GET', 'b')


def test_blocked_client_is_redirected_when_its_slot_moves():
    s, st, other = _py_cluster(7777, 'e' * 40)
    try:
        conn = RawConn(s.port, timeout=10)
        conn.send_command('BLPOP', '{b}list', 0)
        wait_for(lambda: s.client().info('clients')['blocked_clients'] == 1, 10,
                 what='the client to block')
        st.del_slot(SLOT_B)
        st.add_slot(other, SLOT_B)
        assert conn.read_reply() == b'-MOVED %d 127.0.0.1:7777\r\n' % SLOT_B
        conn.send_command('BLPOP', 'b', 0)
        assert conn.read_reply() == b'-MOVED %d 127.0.0.1:7777\r\n' % SLOT_B
        conn.send_command('BLPOP', '{c}list', 0)
        wait_for(lambda: s.client().info('clients')['blocked_clients'] == 1, 10,
                 what='the client to block')
        st.state_ok = False
        assert conn.read_reply() == b'-CLUSTERDOWN The cluster is down\r\n'
    finally:
        s.stop()


def test_shard_subscribers_are_dropped_when_the_slot_goes():
    s, st, other = _py_cluster(7777, 'e' * 40)
    try:
        for protocol in (2, 3):
            conn = RawConn(s.port, timeout=10)
            if protocol == 3:
                conn.call('HELLO', 3)
            conn.call('SSUBSCRIBE', 'b', '{b}x')
            conn.read_reply()
            st.del_slot(SLOT_B)
            st.add_slot(other, SLOT_B)
            head = b'*3' if protocol == 2 else b'>3'
            assert conn.read_reply() == head + b'\r\n$12\r\nsunsubscribe\r\n$1\r\nb\r\n:1\r\n'
            assert conn.read_reply() == head + b'\r\n$12\r\nsunsubscribe\r\n$4\r\n{b}x\r\n:0\r\n'
            assert conn.call('SSUBSCRIBE', 'b') == b'-MOVED %d 127.0.0.1:7777\r\n' % SLOT_B
            st.del_slot(SLOT_B)
            st.add_slot(st.myself, SLOT_B)
    finally:
        s.stop()


def test_script_calls_are_routed_as_redis(oracle, py):
    """scriptVerifyClusterState: a redis.call to a key of another node, or
    of another slot than the script's keys, is refused (unless the script
    declares allow-cross-slot-keys); no-cluster scripts do not run."""
    s = py[0]
    here, there = 'b', 'a'      # slot 3300 (node A: here) and 15495 (node B)
    assert slots.keyslot(b'b') < 8192 <= slots.keyslot(b'a')
    conns = _both(oracle[0], s)
    for cmd in (
            ('EVAL', "return redis.call('GET', KEYS[1])", '1', here),
            ('EVAL', "return redis.call('GET', ARGV[1])", '0', there),
            ('EVAL', "return redis.pcall('GET', ARGV[1])", '0', there),
            ('EVAL', "return redis.call('SET', ARGV[1], 'x')", '0', here),
            ('EVAL', "redis.call('SET', KEYS[1], 'x'); return redis.call('GET', ARGV[1])",
             '1', here, 'c'),
            ('EVAL', "#!lua flags=allow-cross-slot-keys\n"
                     "redis.call('SET', KEYS[1], 'x'); return redis.call('GET', ARGV[1])",
             '1', here, 'c'),
            ('EVAL', "#!lua\n"
                     "redis.call('SET', KEYS[1], 'x'); return redis.call('GET', ARGV[1])",
             '1', here, 'c'),
            ('EVAL', "#!lua flags=no-cluster\nreturn 1", '0'),
            ('EVAL', "#!lua\nreturn redis.call('GET', ARGV[1])", '0', there),
            ('DEL', here, 'c')):
        _same(conns, *cmd)
