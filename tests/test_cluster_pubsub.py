"""Pub/sub across a six-node cluster (3 masters, 3 replicas; pyredis, and
redis-server as the reference): PUBLISH on any node reaches the subscribers
of every node over the cluster bus; SPUBLISH, sent to the slot's master,
reaches the shard channel's subscribers on that master and on its replica
(SSUBSCRIBE on a replica needs no READONLY); elsewhere SSUBSCRIBE/SPUBLISH
are redirected."""

import pytest

from cluster_helpers import ClusterNodes
from helpers import REDIS_CLI, REDIS_SERVER, RawConn
from pyredis.cluster.slots import keyslot

pytestmark = pytest.mark.skipif(REDIS_CLI is None or REDIS_SERVER is None,
                                reason='redis-server/redis-cli are not installed')


def _topology(node):
    """slot owner's port for the channel's slot, and each master's replica."""
    text = RawConn(node.port).call('CLUSTER', 'NODES').split(b'\r\n', 1)[1].decode()
    nodes = [line.split(' ') for line in text.strip().split('\n')]
    port_of = {f[0]: int(f[1].split('@')[0].split(':')[1]) for f in nodes}
    slot = keyslot(b'shard')
    owner = replica = None
    for f in nodes:
        for r in f[8:]:
            a, _, b = r.partition('-')
            if not r.startswith('[') and int(a) <= slot <= int(b or a):
                owner = f[0]
    for f in nodes:
        if f[3] == owner:
            replica = f[0]
    return port_of[owner], port_of[replica]


@pytest.mark.parametrize('kind', ['pyredis', 'redis'])
def test_publish_and_spublish_across_the_cluster(kind):
    with ClusterNodes([kind] * 6) as nodes:
        nodes.create(replicas=1)
        nodes.wait_agree()
        subs = []
        for n in nodes:
            conn = RawConn(n.port, timeout=10)
            assert conn.call('SUBSCRIBE', 'news') == (b'*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n'
                                                      b':1\r\n')
            subs.append(conn)
        owner, replica = _topology(nodes[0])
        other = next(n.port for n in nodes if n.port not in (owner, replica))
        assert RawConn(other).call('SSUBSCRIBE', 'shard').startswith(b'-MOVED ')
        assert RawConn(other).call('SPUBLISH', 'shard', 'x').startswith(b'-MOVED ')
        shard_subs = []
        for port in (owner, replica):
            conn = RawConn(port, timeout=10)
            assert conn.call('SSUBSCRIBE', 'shard') == (b'*3\r\n$10\r\nssubscribe\r\n'
                                                        b'$5\r\nshard\r\n:1\r\n')
            shard_subs.append(conn)
        # PUBLISH on one node: every node's subscriber gets it (the count is
        # of the local receivers).
        assert RawConn(nodes[2].port).call('PUBLISH', 'news', 'hello') == b':1\r\n'
        for conn in subs:
            assert conn.read_reply() == b'*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n'
        assert RawConn(owner).call('SPUBLISH', 'shard', 'hi') == b':1\r\n'
        for conn in shard_subs:
            assert conn.read_reply() == (b'*3\r\n$8\r\nsmessage\r\n$5\r\nshard\r\n'
                                         b'$2\r\nhi\r\n')
