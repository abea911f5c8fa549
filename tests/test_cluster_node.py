"""cluster/node.py without sockets: a Cluster fed bus messages through fake
links, checking the rules of cluster.c one by one (handshake, failure
reports and the FAIL quorum, configEpoch collisions, the masters' vote,
UPDATE, the replica's election). The same behaviour over real sockets, with
redis-server nodes, is tests/test_cluster.py's.
"""

import os
import types

import pytest

from pyredis import clock
from pyredis import config as config_mod
from pyredis.cluster import bus
from pyredis.cluster.node import Cluster
from pyredis.cluster.state import (FAIL, HANDSHAKE, MASTER, MYSELF, PFAIL, SLAVE, ClusterNode,
                                   ms)


class FakeLink:
    def __init__(self, node=None, inbound=False, peer='127.0.0.1'):
        self.node = node
        self.inbound = inbound
        self.sent = []
        self.closed = False
        self.connected = True
        self.ctime = 0
        self.peer = peer
        self.reader = bus.Reader()

    def send(self, data):
        self.sent.append(bus.decode(data))

    def close(self):
        self.closed = True

    def local_ip(self):
        return '127.0.0.1'

    def peer_ip(self):
        return self.peer

    def send_buffer_size(self):
        return 0


class FakeReplication:
    master_repl_offset = 0
    masterhost = None
    masterport = 0
    link_state = 'none'
    down_since = None
    last_io = 0

    def set_master(self, host, port):
        self.masterhost, self.masterport = host, port

    def unset_master(self):
        self.masterhost = None


def make_cluster(tmp_path, **directives):
    cfg = config_mod.Config()
    cfg.dir = str(tmp_path)
    cfg.port = 7000
    cfg.cluster_enabled = True
    cfg.cluster_node_timeout = 1000
    for k, v in directives.items():
        setattr(cfg, k, v)
    server = types.SimpleNamespace(config=cfg, loop=None, replication=FakeReplication(),
                                   masterhost=None, pubsub=None,
                                   dbs=[types.SimpleNamespace(data={})],
                                   path=lambda name: str(tmp_path / name))
    c = Cluster(server)
    c.init()
    c.connect = lambda node: None
    return c


def add_master(c, name, slots=(), epoch=0):
    n = ClusterNode(name, MASTER)
    n.ip, n.port, n.cport, n.config_epoch = '127.0.0.1', 7001, 17001, epoch
    n.link = FakeLink(n)
    c.add_node(n)
    for s in slots:
        c.add_slot(n, s)
    return n


def msg(c, type, sender, **kw):
    m = bus.Message(type, sender.name, kw.pop('current_epoch', c.current_epoch),
                    kw.pop('config_epoch', sender.config_epoch), 0, bytes(sender.slots),
                    sender.slaveof.name if sender.slaveof else None, '', sender.port, 0,
                    sender.cport, sender.flags & ~MYSELF, 0)
    for k, v in kw.items():
        setattr(m, k, v)
    return bus.encode(m)


def test_new_node_saves_nodes_conf(tmp_path):
    c = make_cluster(tmp_path)
    text = (tmp_path / 'nodes.conf').read_text()
    assert text.startswith(c.myself.name + ' :0@0 myself,master - 0 0 0 connected\n')
    assert text.endswith('vars currentEpoch 0 lastVoteEpoch 0\n')
    # Loading it again gives the same node.
    os.close(c.lock_fd)
    assert make_cluster(tmp_path).myself.name == c.myself.name


def test_meet_creates_a_handshake_node_and_pongs(tmp_path):
    c = make_cluster(tmp_path)
    stranger = ClusterNode('b' * 40, MASTER)
    stranger.port, stranger.cport = 7001, 17001
    link = FakeLink(None, inbound=True, peer='127.0.0.9')
    c.process(link, msg(c, bus.MEET, stranger))
    assert link.sent[0].type == bus.PONG
    assert c.myself.ip == '127.0.0.1'          # learnt from the MEET's socket
    hs = [n for n in c.nodes.values() if n.flags & HANDSHAKE]
    assert len(hs) == 1 and hs[0].ip == '127.0.0.9' and hs[0].port == 7001
    # Our PING on the outbound link gets a PONG: the node takes its real name.
    out = FakeLink(hs[0])
    hs[0].link = out
    c.process(out, msg(c, bus.PONG, stranger))
    assert c.lookup('b' * 40) is hs[0] and not hs[0].flags & HANDSHAKE
    assert hs[0].flags & MASTER


def test_failure_reports_reach_quorum_then_fail_is_broadcast(tmp_path):
    c = make_cluster(tmp_path)
    for s in range(3):
        c.add_slot(c.myself, s)
    a = add_master(c, 'a' * 40, [10])
    b = add_master(c, 'b' * 40, [11])
    d = add_master(c, 'd' * 40, [12])
    c.first_update_time = 1     # past the start-up delay of a master
    c.update_state()
    assert c.size == 4
    d.flags |= PFAIL
    g = bus.Gossip(d.name, 0, 0, d.ip, d.port, d.cport, MASTER | PFAIL, 0)
    c.process(a.link, msg(c, bus.PING, a, gossip=[g]))
    assert d.flags & PFAIL and not d.flags & FAIL     # 2 of 3 needed (a + myself)
    c.process(b.link, msg(c, bus.PING, b, gossip=[g]))
    assert d.flags & FAIL and not d.flags & PFAIL
    assert c.failure_reports_count(d) == 2
    assert any(m.type == bus.FAIL and m.about == d.name for m in a.link.sent)


def test_config_epoch_collision_bumps_the_smaller_name(tmp_path):
    c = make_cluster(tmp_path)
    big = add_master(c, 'f' * 40)
    small = add_master(c, '0' * 40)
    c.myself.config_epoch = big.config_epoch = small.config_epoch = 0
    c.process(small.link, msg(c, bus.PING, small))
    assert c.myself.config_epoch == 0                 # the other one moves
    c.process(big.link, msg(c, bus.PING, big))
    assert c.myself.config_epoch == 1 and c.current_epoch == 1


def test_vote_rules(tmp_path):
    c = make_cluster(tmp_path)
    c.add_slot(c.myself, 0)
    master = add_master(c, 'a' * 40, [1, 2])
    replica = ClusterNode('b' * 40, SLAVE)
    replica.link = FakeLink(replica)
    replica.slaveof = master
    master.add_slave(replica)
    c.add_node(replica)

    def ask(**kw):
        replica.link.sent.clear()
        m = bus.Message(bus.FAILOVER_AUTH_REQUEST, replica.name, kw.get('epoch', 1), 0, 0,
                        bytes(master.slots), master.name, '', 0, 0, 0, SLAVE, 0,
                        kw.get('mflags', 0))
        c.process(replica.link, bus.encode(m))
        return [m.type for m in replica.link.sent]

    assert ask() == []                                # its master is up
    assert ask(mflags=bus.FLAG0_FORCEACK) == [bus.FAILOVER_AUTH_ACK]   # manual failover
    assert c.last_vote_epoch == 1
    assert ask() == []                                # already voted for epoch 1
    master.flags |= FAIL
    assert ask(epoch=2) == []                         # voted for this master too recently
    master.voted_time = 0
    assert ask(epoch=3) == [bus.FAILOVER_AUTH_ACK]
    # A replica claiming slots whose owner has a newer configEpoch: refused.
    master.voted_time = 0
    other = add_master(c, 'c' * 40, [5], epoch=10)
    master.slots[0] |= 1 << 5
    assert ask(epoch=4) == []
    assert other.config_epoch == 10


def test_update_message_rebinds_slots_and_demotes(tmp_path):
    c = make_cluster(tmp_path)
    for s in range(5):
        c.add_slot(c.myself, s)
    c.myself.config_epoch = 1
    winner = add_master(c, 'a' * 40, epoch=1)
    slots = bytearray(2048)
    slots[0] = 0b11111
    upd = bus.Message(bus.UPDATE, winner.name, 5, 1, 0, bytes(2048), None, '', 0, 0, 0, MASTER,
                      0)
    upd.update_epoch, upd.update_name, upd.update_slots = 5, winner.name, bytes(slots)
    c.process(winner.link, bus.encode(upd))
    assert winner.config_epoch == 5 and winner.numslots == 5
    assert c.myself.numslots == 0
    # A master left without slots follows their new owner.
    assert c.myself.flags & SLAVE and c.myself.slaveof is winner
    assert c.server.replication.masterhost == '127.0.0.1'


def test_election_after_master_fail(tmp_path):
    c = make_cluster(tmp_path)
    master = add_master(c, 'a' * 40, [0, 1], epoch=1)
    voters = [add_master(c, ch * 40, [10 + i], epoch=2 + i) for i, ch in enumerate('bcd')]
    c.set_master(master)
    c.update_state()
    master.flags |= FAIL
    # Never linked to its master: its data is too old (Redis's
    # repl_down_since 0), unless cluster-replica-validity-factor is 0.
    c.handle_slave_failover()
    assert c.failover_auth_time == 0
    c.server.replication.down_since = clock.time()    # the link went down just now
    c.handle_slave_failover()                         # schedules the election
    assert c.failover_auth_time > 0 and not c.failover_auth_sent
    c.failover_auth_time = ms() - 1                   # the delay has passed
    c.handle_slave_failover()
    assert c.failover_auth_sent and c.current_epoch == c.failover_auth_epoch
    assert all(any(m.type == bus.FAILOVER_AUTH_REQUEST for m in v.link.sent) for v in voters)
    for v in voters:
        c.process(v.link, msg(c, bus.FAILOVER_AUTH_ACK, v))
    assert c.failover_auth_count == 3
    c.handle_slave_failover()
    assert c.myself.flags & MASTER and c.myself.numslots == 2
    assert c.myself.config_epoch == c.failover_auth_epoch
    assert c.server.replication.masterhost is None


@pytest.mark.parametrize('full_coverage,ok', [(True, False), (False, True)])
def test_state_needs_coverage(tmp_path, full_coverage, ok):
    c = make_cluster(tmp_path, cluster_require_full_coverage=full_coverage)
    for s in range(100):
        c.add_slot(c.myself, s)
    c.first_update_time = 1
    c.update_state()
    assert c.state_ok is ok
