"""Six pyredis nodes made a cluster by `redis-cli --cluster create`, then
managed by the real tool while a redis-py RedisCluster client writes all
the time: `--cluster reshard` of 1000 slots (MIGRATE, SETSLOT, -ASK and
-MOVED followed by the client), `--cluster rebalance`, `--cluster
add-node` of a seventh node and `--cluster del-node` of it once emptied.
The load must see no error beyond the redirections its client follows
(its client's own log, by step, shows that these were MOVED and ASK only,
none of the connection or CLUSTERDOWN errors its retries would have hidden),
and every key it wrote must read back with its last value afterwards."""

import pytest

from cluster_helpers import ClusterNodes, WriteLoad, cli, start_node, wait_for
from helpers import REDIS_CLI, RawConn
from pyredis.cluster.slots import keyslot

pytestmark = pytest.mark.skipif(REDIS_CLI is None, reason='redis-cli is not installed')

REDIRECTIONS = {'MovedError', 'AskError'}


def _only_redirections(load, *phases):
    """What the client followed during ``phases``: redirections only."""
    print({phase: load.rc.during(phase) for phase in phases}, load.rc.details[:10])
    for phase in phases:
        assert set(load.rc.during(phase)) <= REDIRECTIONS, (phase, load.rc.during(phase))


def _ids(nodes):
    out = {}
    for n in nodes:
        out[n.port] = RawConn(n.port).call('CLUSTER', 'MYID').split(b'\r\n')[1].decode()
    return out


def _masters(node):
    text = RawConn(node.port).call('CLUSTER', 'NODES').split(b'\r\n', 1)[1].decode()
    out = {}
    for line in text.strip().split('\n'):
        f = line.split(' ')
        if 'master' in f[2].split(','):
            out[f[0]] = (f[1].split('@')[0], f[8:])
    return out


def _nodes(node):
    """name -> (address, flags, slot ranges) from CLUSTER NODES."""
    text = RawConn(node.port).call('CLUSTER', 'NODES').split(b'\r\n', 1)[1].decode()
    out = {}
    for line in text.strip().split('\n'):
        f = line.split(' ')
        out[f[0]] = (f[1].split('@')[0], f[2], f[8:])
    return out


def _slot_count(ranges):
    n = 0
    for r in ranges:
        if r.startswith('['):
            continue
        a, _, b = r.partition('-')
        n += int(b or a) - int(a) + 1
    return n


def test_reshard_rebalance_add_and_del_node_under_load():
    with ClusterNodes(['pyredis'] * 6) as nodes:
        nodes.create(replicas=1)
        entry = nodes[0]
        load = WriteLoad(entry.port)
        load.start()
        extra = None
        try:
            nodes.wait_agree()
            wait_for(lambda: load.ops > 500, 30, what='the load to run')
            masters = [name for name, (_, r) in sorted(_masters(entry).items()) if r]
            src, dst = masters[:2]
            load.phase = 'reshard'
            out = cli('--cluster', 'reshard', '127.0.0.1:%d' % entry.port,
                      '--cluster-from', src, '--cluster-to', dst, '--cluster-slots', 1000,
                      '--cluster-yes', timeout=600)
            assert '[ERR]' not in out, out
            nodes.wait_agree()
            counts = {name: _slot_count(r) for name, (_, r) in _masters(entry).items()}
            assert counts[dst] - counts[src] >= 2000 - 2, counts
            assert '[OK] All 16384 slots covered' in nodes.check()
            before = load.ops
            wait_for(lambda: load.ops > before + 200, 30, what='the load to go on')

            load.phase = 'rebalance'
            out = cli('--cluster', 'rebalance', '127.0.0.1:%d' % entry.port, timeout=600)
            assert '[ERR]' not in out, out
            nodes.wait_agree()
            counts = {name: _slot_count(r) for name, (_, r) in _masters(entry).items()}
            assert max(counts.values()) - min(counts.values()) < 200, counts

            extra = start_node('pyredis')
            extra_port = extra.port
            load.phase = 'add-node'
            out = cli('--cluster', 'add-node', '127.0.0.1:%d' % extra.port,
                      '127.0.0.1:%d' % entry.port, timeout=120)
            assert '[OK] New node added correctly.' in out, out
            nodes.nodes.append(extra)
            nodes.wait_agree()
            nodes.wait_ok()
            new_id = _ids([extra])[extra.port]
            load.phase = 'reshard to the new node'
            out = cli('--cluster', 'reshard', '127.0.0.1:%d' % entry.port, '--cluster-from',
                      'all', '--cluster-to', new_id, '--cluster-slots', 100, '--cluster-yes',
                      timeout=600)
            assert '[ERR]' not in out, out
            nodes.wait_agree()
            assert _slot_count(_nodes(entry)[new_id][2]) == 100
            # Empty it again (weight 0), then remove it. With
            # cluster-allow-replica-migration no, a master that loses its
            # last slot stays a master (with yes, Redis 7.0 makes it a
            # replica of the node that took the slot).
            extra.client().config_set('cluster-allow-replica-migration', 'no')
            load.phase = 'rebalance to weight 0'
            out = cli('--cluster', 'rebalance', '127.0.0.1:%d' % entry.port,
                      '--cluster-weight', '%s=0' % new_id, timeout=600)
            assert '[ERR]' not in out, out
            nodes.wait_agree()
            assert _slot_count(_nodes(entry)[new_id][2]) == 0
            assert 'master' in _nodes(extra)[new_id][1].split(',')
            assert 'Reconfiguring myself as a replica' not in extra.read_log()
            load.phase = 'del-node'
            out = cli('--cluster', 'del-node', '127.0.0.1:%d' % entry.port, new_id, timeout=120)
            assert 'Sending CLUSTER RESET SOFT to the deleted node.' in out, out
            nodes.nodes.remove(extra)
            extra.stop()
            extra = None
            wait_for(lambda: new_id.encode() not in RawConn(entry.port).call('CLUSTER', 'NODES'),
                     30, what='the node to be forgotten')
            assert '[OK] All 16384 slots covered' in nodes.check()
            before = load.ops
            wait_for(lambda: load.ops > before + 200, 30, what='the load to go on')
        finally:
            load.stop()
            if extra is not None:
                extra.stop()
        assert not load.errors, load.errors
        _only_redirections(load, 'start', 'reshard', 'rebalance', 'add-node',
                           'reshard to the new node', 'rebalance to weight 0')
        # After del-node, a client whose slot map still names the removed
        # node for a slot it gave away is answered by that node, reset and
        # alone, with -CLUSTERDOWN, or, once it is stopped, not at all: each
        # retried, after a refresh, on the slot's owner. Nothing else.
        print('del-node:', load.rc.during('del-node'))
        assert set(load.rc.during('del-node')) <= REDIRECTIONS | {
            'left the attempt: ClusterDownError', 'left the attempt: ConnectionError'}, \
            load.rc.during('del-node')
        assert all(node == '127.0.0.1:%d' % extra_port for phase, node, _ in load.rc.details
                   if phase == 'del-node'), load.rc.details
        assert load.rc.during('reshard').get('MovedError', 0) > 0
        load.verify()
        assert len(load.written) > 1000
        # The replicas' slot indexes, fed by their masters' streams, match.
        by_name = {name: (addr, flags) for name, (addr, flags, _) in _nodes(entry).items()}
        text = RawConn(entry.port).call('CLUSTER', 'NODES').split(b'\r\n', 1)[1].decode()
        pairs = [(f[3], f[0]) for f in (line.split(' ') for line in text.strip().split('\n'))
                 if 'slave' in f[2].split(',')]
        assert len(pairs) == 3
        for master, replica in pairs:
            mport, rport = (int(by_name[n][0].split(':')[1]) for n in (master, replica))
            for key in (b'k:1', b'k:2', b'c:7', b'k:4999'):
                slot = b'%d' % keyslot(key)

                def same():
                    counts = [RawConn(p).call('CLUSTER', 'COUNTKEYSINSLOT', slot)
                              for p in (mport, rport)]
                    return counts[0] == counts[1]
                wait_for(same, 30, what='the replica index')


def test_reshard_between_pyredis_and_redis_server_masters():
    """A mixed cluster: keys move both ways between a pyredis master and a
    redis-server master (MIGRATE and RESTORE-ASKING across implementations,
    redis-cli driving), under the same write load."""
    with ClusterNodes(['pyredis', 'redis', 'pyredis']) as nodes:
        nodes.create(replicas=0)
        nodes.wait_agree()
        entry = nodes[0]
        ids = _ids(nodes)
        py_id, redis_id = ids[nodes[0].port], ids[nodes[1].port]
        load = WriteLoad(entry.port)
        load.start()
        try:
            wait_for(lambda: load.ops > 500, 30, what='the load to run')
            for src, dst in ((py_id, redis_id), (redis_id, py_id)):
                load.phase = 'reshard %s to %s' % ('pyredis' if src == py_id else 'redis',
                                                   'pyredis' if dst == py_id else 'redis')
                out = cli('--cluster', 'reshard', '127.0.0.1:%d' % entry.port,
                          '--cluster-from', src, '--cluster-to', dst, '--cluster-slots', 300,
                          '--cluster-yes', timeout=600)
                assert '[ERR]' not in out, out
                nodes.wait_agree()
                before = load.ops
                wait_for(lambda: load.ops > before + 200, 30, what='the load to go on')
            assert '[OK] All 16384 slots covered' in nodes.check()
        finally:
            load.stop()
        assert not load.errors, load.errors
        _only_redirections(load, 'start', 'reshard pyredis to redis', 'reshard redis to pyredis')
        load.verify()
