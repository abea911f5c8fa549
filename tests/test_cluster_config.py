"""Cluster settings and commands seen from outside, each compared with
redis-server nodes configured the same way: cluster-announce-ip/-port/
-bus-port (the node's own replies and what other nodes learn),
CLUSTER FLUSHSLOTS and SET-CONFIG-EPOCH on a lone node,
cluster-replica-validity-factor, cluster-migration-barrier and
cluster-allow-replica-migration, and the replicas' election rank (the
replica with the better offset goes first).

Everything on 127.0.0.1 (nothing listens at the announced
127.0.0.2:7001: the other node's attempts to connect there fail, which
the tests leave alone); no assertion on a duration: a wait only bounds a broken
run, and the few fixed pauses only give a refused behaviour its chance to
happen.
"""

import re
import time

import pytest

from helpers import REDIS_CLI, REDIS_SERVER
from cluster_helpers import (ClusterNodes, info_field, is_master, node_id, nodes_conf,
                             nodes_table, raw_text, replicas_of, start_node, wait_for)

pytestmark = pytest.mark.skipif(not REDIS_SERVER or not REDIS_CLI,
                                reason='redis-server/redis-cli not installed')

ANNOUNCE = ['--cluster-announce-ip', '127.0.0.2', '--cluster-announce-port', '7001',
            '--cluster-announce-bus-port', '17001']


def _masked(text, node):
    return text.replace(node_id(node), 'ID').replace(':%d@%d' % (node.port, node.port + 10000),
                                                     ':PORT@BUS')


def _announced_views(a_kind, b_kind):
    """A announces an address, B MEETs it at its real one: A's own CLUSTER
    NODES/SLOTS/SHARDS and what B learns of A."""
    a = start_node(a_kind, node_timeout=30000, args=ANNOUNCE)
    try:
        b = start_node(b_kind, node_timeout=30000)
        try:
            aid = node_id(a)
            ra = a.raw()
            alone = _masked(raw_text(a, 'CLUSTER', 'NODES'), a)
            assert ra.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383') == b'+OK\r\n'
            own = [alone, _masked(raw_text(a, 'CLUSTER', 'NODES'), a)]
            for args in (('CLUSTER', 'SLOTS'), ('CLUSTER', 'SHARDS')):
                own.append(ra.call(*args).replace(aid.encode(), b'ID'))
            assert b.raw().call('CLUSTER', 'MEET', '127.0.0.1', a.port) == b'+OK\r\n'
            wait_for(lambda: aid in nodes_table(b) and
                     nodes_table(b)[aid][1].startswith('127.0.0.2:'), 30,
                     what='B to learn the announced address')
            f = nodes_table(b)[aid]
            flags = ','.join(x for x in f[2].split(',') if x != 'fail?')
            seen = [f[1], flags, f[8:]]
            rb = b.raw()
            seen.append(rb.call('CLUSTER', 'SLOTS').replace(aid.encode(), b'ID'))
            wait_for(lambda: '127.0.0.2:7001@17001' in nodes_conf(b), 30)
            ra.close()
            rb.close()
            return own, seen
        finally:
            b.stop()
    finally:
        a.stop()


def test_announced_address_as_redis():
    """cluster-announce-ip/-port/-bus-port: the node shows that address in
    CLUSTER NODES, SLOTS and SHARDS, and the nodes it meets (either
    implementation) learn it from its messages and save it in nodes.conf,
    as with redis-server nodes."""
    views = {pair: _announced_views(*pair) for pair in
             (('redis', 'redis'), ('pyredis', 'redis'), ('redis', 'pyredis'),
              ('pyredis', 'pyredis'))}
    oracle_own, oracle_seen = views['redis', 'redis']
    assert oracle_own[0].startswith('ID 127.0.0.2:7001@17001 myself,master - 0 0 0 connected')
    assert oracle_seen[0] == '127.0.0.2:7001@17001'
    for (a_kind, b_kind), (own, seen) in views.items():
        assert own == views[a_kind, 'redis'][0] == views['redis', 'redis'][0], a_kind
        assert seen == oracle_seen, (a_kind, b_kind)


RUNTIME_STEPS = [
    ([('cluster-announce-ip', '10.1.2.3'), ('cluster-announce-port', '7005'),
      ('cluster-announce-bus-port', '17005')], '10.1.2.3:7005@17005'),
    # Cleared, the address is to be learnt again (from the next MEET).
    ([('cluster-announce-ip', '')], ':7005@17005'),
    ([('cluster-announce-port', '0'), ('cluster-announce-bus-port', '0')], ':PORT@BUS'),
]


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_announced_address_set_at_runtime(kind):
    """CONFIG SET of cluster-announce-ip/-port/-bus-port on a running node:
    CLUSTER NODES follows (redis-server's run shows the expected values),
    and clearing the ip leaves the address to be learnt again."""
    n = start_node(kind)
    try:
        r = n.raw()
        for changes, addr in RUNTIME_STEPS:
            for name, value in changes:
                assert r.call('CONFIG', 'SET', name, value) == b'+OK\r\n'
            wait_for(lambda: _masked(raw_text(n, 'CLUSTER', 'NODES'), n) ==
                     'ID %s myself,master - 0 0 0 connected\n' % addr, 10,
                     what='CLUSTER NODES to show %s' % addr)
        r.close()
    finally:
        n.stop()


def _lone_epoch_and_flush(kind):
    n = start_node(kind, args=['--cluster-require-full-coverage', 'no'])
    try:
        r = n.raw()
        out = [r.call('CLUSTER', 'ADDSLOTSRANGE', '0', '99'),
               info_field(n, 'cluster_slots_assigned')]
        wait_for(lambda: info_field(n, 'cluster_state') == 'ok', 30)
        out += [r.call('SET', '{06S}k', 'v'),               # slot 0
               r.call('CLUSTER', 'FLUSHSLOTS'),
               r.call('DEL', '{06S}k'),
               r.call('CLUSTER', 'FLUSHSLOTS'),
               _masked(raw_text(n, 'CLUSTER', 'NODES'), n),
               info_field(n, 'cluster_slots_assigned'), info_field(n, 'cluster_state'),
               r.call('CLUSTER', 'SET-CONFIG-EPOCH', '-3'),
               r.call('CLUSTER', 'SET-CONFIG-EPOCH', 'x'),
               r.call('CLUSTER', 'SET-CONFIG-EPOCH', '7'),
               info_field(n, 'cluster_current_epoch'), info_field(n, 'cluster_my_epoch'),
               _masked(raw_text(n, 'CLUSTER', 'NODES'), n),
               r.call('CLUSTER', 'SET-CONFIG-EPOCH', '9'),
               r.call('CLUSTER', 'SET-CONFIG-EPOCH', '0'),
               r.call('CLUSTER', 'ADDSLOTS', '5'),
               r.call('CLUSTER', 'FLUSHSLOTS'),
               info_field(n, 'cluster_slots_assigned')]
        wait_for(lambda: re.search(r'^vars currentEpoch 7 lastVoteEpoch 0$', nodes_conf(n), re.M),
                 10, what='nodes.conf saved')
        out.append(_masked(nodes_conf(n), n))
        # With another node known, the epoch cannot be set by hand.
        other = start_node(kind)
        try:
            r2 = other.raw()
            assert r2.call('CLUSTER', 'MEET', '127.0.0.1', n.port) == b'+OK\r\n'
            wait_for(lambda: len(nodes_table(other)) == 2, 30)
            out.append(r2.call('CLUSTER', 'SET-CONFIG-EPOCH', '3'))
            r2.close()
        finally:
            other.stop()
        r.close()
        return out
    finally:
        n.stop()


def test_flushslots_and_set_config_epoch_as_redis():
    """CLUSTER FLUSHSLOTS refused with a key in the db, then done (slots
    gone from CLUSTER NODES and INFO, nodes.conf), SET-CONFIG-EPOCH's
    success (current and own epoch, NODES, nodes.conf) and its errors:
    the replies of a redis-server node, byte for byte."""
    ours, theirs = _lone_epoch_and_flush('pyredis'), _lone_epoch_and_flush('redis')
    assert ours == theirs
    assert ours[3] == b'-ERR DB must be empty to perform CLUSTER FLUSHSLOTS.\r\n'
    assert ours[5] == b'+OK\r\n' and ours[7] == '0'
    assert ours[11] == b'+OK\r\n' and ours[12:14] == ['7', '7']


def _masters_and_replicas(kind, node_timeout, replica_of, master_args=(), replica_args=()):
    """Three masters (redis-cli --cluster create) and, for each entry of
    ``replica_of``, a replica of master number ``replica_of[i]`` (MEET and
    CLUSTER REPLICATE), every replica linked to its master."""
    c = ClusterNodes([kind] * 3, node_timeout=node_timeout, args=master_args)
    try:
        c.create(replicas=0)
        masters = list(c.nodes)
        ids = [node_id(m) for m in masters]
        for i in replica_of:
            r = start_node(kind, node_timeout, args=replica_args)
            c.nodes.append(r)
            assert r.raw().call('CLUSTER', 'MEET', '127.0.0.1', masters[0].port) == b'+OK\r\n'
            wait_for(lambda: all(x in nodes_table(r) for x in ids), 30, what='gossip')
            wait_for(lambda: r.raw().call('CLUSTER', 'REPLICATE', ids[i]) == b'+OK\r\n', 30,
                     what='CLUSTER REPLICATE')
        for r in c.nodes[3:]:
            wait_for(lambda: info_field(r, 'master_link_status', 'replication') == 'up', 30,
                     what='replica linked')
        c.wait_agree()
        c.wait_ok()
        return c
    except BaseException:
        c.stop()
        raise


def _tag_of(node):
    """A hash tag of one of ``node``'s slots."""
    from pyredis.cluster.slots import keyslot
    first = nodes_table(node)[node_id(node)][8]
    lo, _, hi = first.partition('-')
    return next('t%d' % i for i in range(100000)
                if int(lo) <= keyslot(b't%d' % i) <= int(hi or lo))


def _known_offset(node, other):
    """The replication offset of ``other`` that ``node`` knows (CLUSTER SHARDS)."""
    r = node.raw()
    reply = r.call('CLUSTER', 'SHARDS')
    r.close()
    m = re.search(rb'\$40\r\n' + node_id(other).encode() + rb'\r\n.*?replication-offset\r\n:(\d+)',
                  reply, re.S)
    return int(m.group(1))


def _load(c, n=200, prefix='k'):
    import redis
    rc = redis.RedisCluster(host='127.0.0.1', port=c[0].port)
    for i in range(n):
        rc.set('%s:%d' % (prefix, i), i)
    rc.close()


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_replica_validity_factor(kind):
    """cluster-replica-validity-factor 1 (with repl-ping-replica-period 1):
    a replica whose replication link has been down longer than
    node-timeout + ping period + node-timeout * factor does not start an
    election when its master fails, and says why in its log; set to 0
    (always valid), it is elected."""
    c = _masters_and_replicas(kind, 1000, [0], replica_args=[
        '--cluster-replica-validity-factor', '1', '--repl-ping-replica-period', '1'])
    with c:
        try:
            master, replica = c[0], c[3]
            _load(c)
            # The master now wants a password the replica does not have: its
            # link drops and stays down (the cluster bus is not affected).
            m = master.client()
            m.config_set('requirepass', 'secret')
            m.execute_command('CLIENT', 'KILL', 'TYPE', 'replica')
            wait_for(lambda: int(info_field(replica, 'master_link_down_since_seconds',
                                            'replication')) >= 4, 30,
                     what='the link down for longer than the factor allows')
            master.kill()
            wait_for(lambda: 'Disconnected from master for longer than allowed. Please check '
                     "the 'cluster-replica-validity-factor' configuration option."
                     in replica.read_log(), 60, what='the replica to give up')
            assert not is_master(replica)
            assert info_field(replica, 'cluster_state') == 'fail'
            replica.client().config_set('cluster-replica-validity-factor', '0')
            wait_for(lambda: is_master(replica), 60, what='the election with factor 0')
            c.wait_ok()
        except BaseException:
            print(c.logs())
            raise


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_replica_with_the_better_offset_is_elected(kind):
    """A master with two replicas whose offsets differ (one cut off from
    the replication stream before the last writes) is killed: the replica
    with the better offset has rank 0 and is promoted, the other one,
    rank 1, waits and then follows it."""
    c = _masters_and_replicas(kind, 2000, [0, 0])
    with c:
        try:
            master, ahead, behind = c[0], c[3], c[4]
            _load(c)
            tag = _tag_of(master)
            # Both links drop; only ``ahead`` has the password to come back.
            ahead.client().config_set('masterauth', 'secret')
            m = master.client()
            m.config_set('requirepass', 'secret')
            m.execute_command('CLIENT', 'KILL', 'TYPE', 'replica')
            wait_for(lambda: info_field(ahead, 'master_link_status', 'replication') == 'up',
                     30, what='the replica with the password back')
            m = master.client(password='secret')
            for i in range(300):
                m.set('{%s}x:%d' % (tag, i), i)
            wait_for(lambda: int(info_field(ahead, 'slave_repl_offset', 'replication')) ==
                     m.info('replication')['master_repl_offset'], 30,
                     what='the replica in sync')
            assert int(info_field(behind, 'slave_repl_offset', 'replication')) < \
                int(info_field(ahead, 'slave_repl_offset', 'replication'))
            # ``behind`` learns ``ahead``'s offset from its pings (CLUSTER
            # SHARDS shows the offsets a node knows).
            offset = int(info_field(ahead, 'slave_repl_offset', 'replication'))
            wait_for(lambda: _known_offset(behind, ahead) == offset, 30,
                     what="the other replica to know the better offset")
            master.kill()
            wait_for(lambda: is_master(ahead) or is_master(behind), 60, what='an election')
            assert is_master(ahead) and not is_master(behind)
            c.wait_ok()
            wait_for(lambda: nodes_table(behind)[node_id(behind)][3] == node_id(ahead), 60,
                     what='the other replica to follow the new master')
            assert '(rank #0, offset' in ahead.read_log()
            log = behind.read_log()
            assert '(rank #1, offset' in log or 'Replica rank updated to #1' in log
        except BaseException:
            print(c.logs())
            raise


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_never_linked_replica_is_not_elected(kind):
    """A replica that never completed a sync with its master (Redis: link
    down "since ever") is not elected under the default validity factor;
    with factor 0 it is."""
    c = _masters_and_replicas(kind, 1000, [])
    with c:
        try:
            master = c[0]
            mid = node_id(master)
            master.client().config_set('requirepass', 'secret')
            replica = start_node(kind, 1000)
            c.nodes.append(replica)
            assert replica.raw().call('CLUSTER', 'MEET', '127.0.0.1', c[1].port) == b'+OK\r\n'
            wait_for(lambda: mid in nodes_table(replica), 30, what='gossip')
            assert replica.raw().call('CLUSTER', 'REPLICATE', mid) == b'+OK\r\n'
            wait_for(lambda: all(nodes_table(n)[node_id(replica)][3] == mid
                                 for n in (c[1], c[2])), 30, what='the replica known')
            assert info_field(replica, 'master_link_down_since_seconds', 'replication') == '-1'
            master.kill()
            wait_for(lambda: 'Disconnected from master for longer than allowed.'
                     in replica.read_log(), 60, what='the replica to give up')
            assert not is_master(replica)
            replica.client().config_set('cluster-replica-validity-factor', '0')
            wait_for(lambda: is_master(replica), 60, what='the election with factor 0')
            c.wait_ok()
        except BaseException:
            print(c.logs())
            raise


def _replicas(c, master):
    return sorted(n.port for n in replicas_of(c, master))


def test_migration_barrier_and_allow_replica_migration():
    """A master with two replicas, another whose only replica dies: with
    cluster-migration-barrier 2 (a replica leaves only a master keeping
    more than 2), no replica migrates; with the barrier at 1 but
    cluster-allow-replica-migration no, none either; with migration
    allowed, one of the two moves to the orphaned master."""
    c = _masters_and_replicas('pyredis', 2000, [0, 0, 1],
                              replica_args=['--cluster-migration-barrier', '2'])
    with c:
        try:
            rich, poor = c[0], c[1]
            twins, lost = c[3:5], c[5]
            assert _replicas(c, rich) == sorted(n.port for n in twins)
            assert _replicas(c, poor) == [lost.port]
            lost_id = node_id(lost)
            lost.kill()
            for n in twins:
                wait_for(lambda: 'fail' in nodes_table(n)[lost_id][2].split(','), 30,
                         what='the replica failed')
            # Longer than the 5 s a master must stay orphaned (and a cron turn).
            time.sleep(7)
            assert _replicas(c, rich) == sorted(n.port for n in twins)
            assert _replicas(c, poor) == []
            for n in twins:
                n.client().config_set('cluster-migration-barrier', '1')
                n.client().config_set('cluster-allow-replica-migration', 'no')
            time.sleep(7)
            assert _replicas(c, rich) == sorted(n.port for n in twins)
            assert _replicas(c, poor) == []
            for n in twins:
                n.client().config_set('cluster-allow-replica-migration', 'yes')
            wait_for(lambda: len(_replicas(c, poor)) == 1, 60, what='a replica to migrate')
            assert len(_replicas(c, rich)) == 1
            moved = next(n for n in twins if n.port in _replicas(c, poor))
            assert 'Migrating to orphaned master %s' % node_id(poor) in moved.read_log()
            c.wait_ok()
        except BaseException:
            print(c.logs())
            raise
