"""Redis Cluster: the node side (cluster/bus.py, state.py, node.py, links.py,
commands/cluster.py).

Unit tests of the bus codec and nodes.conf; then real clusters over real
sockets on 127.0.0.1, built by redis-cli --cluster create: six pyredis
nodes, mixed clusters of pyredis and redis-server nodes, a kill -9 of a
master and its replica's promotion, manual failover, nodes.conf moved
between the two implementations, and CLUSTER replies compared field by
field with a redis-server cluster built the same way. Short node timeouts
(2000 ms) keep failure detection quick; nothing asserts a duration.
"""

import os
import re
import socket
import struct
import time

import pytest

from helpers import REDIS_SERVER, REDIS_CLI
from cluster_helpers import (ClusterNodes, WriteLoad, cli, info_field, is_master, node_id,
                             nodes_conf, nodes_table, raw_text, replicas_of, start_node,
                             wait_for)
from pyredis.cluster import bus
from pyredis.cluster.slots import keyslot
from pyredis.cluster.state import ClusterState, MASTER, MYSELF, SLAVE

needs_redis = pytest.mark.skipif(not REDIS_SERVER or not REDIS_CLI,
                                 reason='redis-server/redis-cli not installed')


class _Config:
    cluster_preferred_endpoint_type = 'ip'


# -- the bus codec ----------------------------------------------------------------------------

def test_header_and_gossip_sizes_are_redis_7_0s():
    assert bus.HEADER_LEN == 2256          # sizeof(clusterMsg) - sizeof(union clusterMsgData)
    assert bus.GOSSIP_LEN == 104           # sizeof(clusterMsgDataGossip)


def _roundtrip(m):
    raw = bus.encode(m)
    back = bus.decode(raw)
    assert back is not None
    assert bus.encode(back) == raw
    return raw, back


def test_every_message_type_round_trips():
    slots = bytearray(2048)
    slots[0] = 0x0f
    base = dict(sender='a' * 40, current_epoch=7, config_epoch=3, offset=12345,
                myslots=bytes(slots), myip='10.0.0.1', port=7000, pport=0, cport=17000,
                flags=MASTER | MYSELF, state=0)
    ping = bus.Message(bus.PING, **base)
    ping.gossip = [bus.Gossip('b' * 40, 1, 2, '127.0.0.1', 7001, 17001, SLAVE, 0),
                   bus.Gossip('c' * 40, 0, 0, '::1', 7002, 17002, MASTER, 0)]
    ping.extensions.append(bus.ext_hostname('node-1.example'))
    raw, back = _roundtrip(ping)
    assert struct.unpack('!I', raw[4:8])[0] == len(raw)
    assert raw[:4] == b'RCmb' and struct.unpack('!H', raw[8:10])[0] == 1
    assert back.hostname == 'node-1.example' and back.mflags & bus.FLAG0_EXT_DATA
    assert [g.name for g in back.gossip] == ['b' * 40, 'c' * 40]
    assert back.gossip[1].ip == '::1' and back.offset == 12345 and back.slaveof is None
    fail = bus.Message(bus.FAIL, **base)
    fail.about = 'd' * 40
    assert _roundtrip(fail)[1].about == 'd' * 40
    for t in (bus.PUBLISH, bus.PUBLISHSHARD):
        pub = bus.Message(t, **base)
        pub.channel, pub.message = b'chan', b'hello\x00world'
        raw, back = _roundtrip(pub)
        assert (back.channel, back.message) == (b'chan', b'hello\x00world')
        assert len(raw) == bus.HEADER_LEN + 8 + 4 + 11
    upd = bus.Message(bus.UPDATE, **base)
    upd.update_epoch, upd.update_name, upd.update_slots = 9, 'e' * 40, bytes(slots)
    raw, back = _roundtrip(upd)
    assert (back.update_epoch, back.update_name, back.update_slots) == (9, 'e' * 40,
                                                                      bytes(slots))
    for t in (bus.FAILOVER_AUTH_REQUEST, bus.FAILOVER_AUTH_ACK, bus.MFSTART):
        m = bus.Message(t, slaveof='f' * 40, mflags=bus.FLAG0_FORCEACK, **base)
        raw, back = _roundtrip(m)
        assert len(raw) == bus.HEADER_LEN and back.slaveof == 'f' * 40
        assert back.mflags == bus.FLAG0_FORCEACK


def test_reader_cuts_messages_and_refuses_other_protocols():
    m = bus.Message(bus.PING, sender='a' * 40, port=1, cport=2)
    raw = bus.encode(m) + bus.encode(m)
    r = bus.Reader()
    got = []
    for i in range(0, len(raw), 1000):
        got += r.feed(raw[i:i + 1000])
    assert got == [raw[:len(raw) // 2]] * 2
    with pytest.raises(bus.BusError):
        bus.Reader().feed(b'*1\r\n$4\r\nPING\r\n')
    # A wrong length for the type: ignored (None), the link stays.
    fail = bus.Message(bus.FAIL, sender='a' * 40)
    fail.about = 'b' * 40
    bad = bytearray(bus.encode(fail))[:-1]
    bad[4:8] = struct.pack('!I', len(bad))
    assert bus.decode(bytes(bad)) is None


@needs_redis
def test_meet_from_redis_server_decodes_and_reencodes_byte_for_byte(tmp_path):
    """A real redis-server's MEET (with its hostname extension) is decoded,
    and encoding the decoded message gives the same bytes; a PONG of ours
    is accepted by it (the node appears in its CLUSTER NODES)."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    lport = listener.getsockname()[1]
    srv = start_node('redis', args=['--cluster-announce-hostname', 'seed.example'])
    other = start_node('redis')
    try:
        r = srv.raw()
        assert r.call('CLUSTER', 'ADDSLOTS', '1', '2', '3') == b'+OK\r\n'
        # A second node, so that its messages carry a gossip section.
        assert r.call('CLUSTER', 'MEET', '127.0.0.1', other.port) == b'+OK\r\n'
        wait_for(lambda: len(nodes_table(srv)) == 2 and
                 'handshake' not in raw_text(srv, 'CLUSTER', 'NODES'), 10)
        assert r.call('CLUSTER', 'MEET', '127.0.0.1', '1', lport) == b'+OK\r\n'
        listener.settimeout(10)
        conn, _ = listener.accept()
        conn.settimeout(10)
        reader = bus.Reader()
        got = []
        while not got:
            got = reader.feed(conn.recv(65536))
        raw = got[0]
        m = bus.decode(raw)
        assert m.type == bus.MEET and m.hostname == 'seed.example'
        assert m.sender == raw_text(srv, 'CLUSTER', 'MYID')
        assert m.port == srv.port and m.cport == srv.port + 10000
        assert m.myslots[0] == 0b1110 and m.flags == MASTER | MYSELF
        assert bus.encode(m) == raw
        pong = bus.Message(bus.PONG, sender='f' * 40, port=1, cport=lport, flags=MASTER)
        conn.sendall(bus.encode(pong))
        wait_for(lambda: 'f' * 40 in raw_text(srv, 'CLUSTER', 'NODES'), 10)
        # Its next PINGs gossip about the other node; each re-encodes as it came.
        seen = []
        oid = node_id(other)
        deadline = time.time() + 30
        while not any(g.name == oid for m in seen for g in m.gossip):
            assert time.time() < deadline, [(m.type, m.gossip) for m in seen]
            for raw in reader.feed(conn.recv(65536)):
                m = bus.decode(raw)
                assert bus.encode(m) == raw
                seen.append(m)
                if m.type == bus.PING:      # answered, so that it pings again
                    conn.sendall(bus.encode(pong))
        g = next(g for m in seen for g in m.gossip if g.name == node_id(other))
        assert (g.ip, g.port, g.cport, g.flags) == ('127.0.0.1', other.port,
                                                    other.port + 10000, MASTER)
        conn.close()
    finally:
        listener.close()
        srv.stop()
        other.stop()


# -- nodes.conf -----------------------------------------------------------------------------

CONF = """\
a9b8c7d6e5f4a3b2c1d0a9b8c7d6e5f4a3b2c1d0 127.0.0.1:30001@40001 myself,master - 0 0 1 \
connected 0-5460 7000 [7001->-b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0] \
[7002-<-c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0]
b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0 127.0.0.1:30002@40002,host-b master - 0 0 2 \
disconnected 5461-6999 7001-10922
c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0 127.0.0.1:30003@40003 master,fail - 0 0 3 \
disconnected 10923-16383
d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0 127.0.0.1:30004@40004 slave \
a9b8c7d6e5f4a3b2c1d0a9b8c7d6e5f4a3b2c1d0 0 0 1 disconnected
vars currentEpoch 6 lastVoteEpoch 4
"""


def test_nodes_conf_parses_and_writes_redis_format():
    s = ClusterState(_Config())
    s.parse_config(CONF)
    me = s.myself
    assert me.name.startswith('a9b8') and me.numslots == 5462 and me.owns(7000)
    assert s.current_epoch == 6 and s.last_vote_epoch == 4
    b = s.lookup('b0' * 20)
    assert b.hostname == 'host-b' and b.cport == 40002 and not b.owns(7000)
    assert s.migrating_slots_to[7001] is b
    assert s.importing_slots_from[7002] is s.lookup('c0' * 20)
    d = s.lookup('d0' * 20)
    assert d.slaveof is me and me.slaves == [d]
    assert s.config_text() == CONF
    with pytest.raises(Exception):
        ClusterState(_Config()).parse_config(CONF.replace('myself,', ''))


def test_nodes_conf_is_replaced_atomically(tmp_path):
    s = ClusterState(_Config())
    s.parse_config(CONF)
    s.path = str(tmp_path / 'nodes.conf')
    assert s.save_config()
    assert open(s.path).read() == CONF
    assert os.listdir(tmp_path) == ['nodes.conf']       # no temp file left behind


# -- cluster mode off -----------------------------------------------------------------------

@needs_redis
def test_cluster_commands_refused_when_disabled(compat):
    for args in (('CLUSTER', 'INFO'), ('CLUSTER', 'NODES'), ('CLUSTER', 'MYID'),
                 ('CLUSTER', 'HELP'), ('CLUSTER', 'SLOTS'), ('CLUSTER', 'ADDSLOTS', '1'),
                 ('CLUSTER', 'FAILOVER'), ('CLUSTER', 'RESET', 'HARD')):
        compat.call(*args)


# -- real clusters --------------------------------------------------------------------------

def _check_ok(c):
    out = c.check()
    assert '[OK] All nodes agree about slots configuration.' in out
    assert '[OK] All 16384 slots covered.' in out
    assert '[ERR]' not in out and '[WARNING]' not in out
    for n in c.alive():
        assert info_field(n, 'cluster_state') == 'ok'


# What a client may meet around a kill -9: the dead node's connection
# errors, CLUSTERDOWN or uncovered slots until the failover, MOVED after.
KILL_ERRORS = {'left the attempt: ConnectionError', 'left the attempt: TimeoutError',
               'left the attempt: ClusterDownError', 'left the attempt: SlotNotCoveredError',
               'left the attempt: MovedError', 'MovedError'}


def _slots_of(node):
    out = set()
    for r in nodes_table(node)[node_id(node)][8:]:
        if not r.startswith('['):
            lo, _, hi = r.partition('-')
            out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _roles(c):
    return ['master' if is_master(n) else 'replica' for n in c]


@needs_redis
def test_six_pyredis_nodes_create_check_failover():
    """redis-cli --cluster create with six pyredis nodes, --cluster check,
    RedisCluster writes and reads, kill -9 of a master (its replica takes
    over, the cluster is ok again, the data is there; a RedisCluster client
    writing all along meets only connection errors, CLUSTERDOWN and MOVED
    around the kill, which its retries hide, and goes on writing to the
    promoted replica's slots), CLUSTER FAILOVER,
    and the killed node's nodes.conf loaded by redis-server."""
    import redis
    with ClusterNodes(['pyredis'] * 6) as c:
        try:
            out = c.create(replicas=1)
            assert 'All 16384 slots covered' in out
            c.wait_agree()
            _check_ok(c)
            assert _roles(c) == ['master'] * 3 + ['replica'] * 3
            rc = redis.RedisCluster(host='127.0.0.1', port=c[0].port)
            for i in range(200):
                rc.set('key:%d' % i, i)
            assert [rc.get('key:%d' % i) for i in range(0, 200, 20)] == \
                [b'%d' % i for i in range(0, 200, 20)]
            for n in c:
                assert 'cluster_enabled:1\r\n' in raw_text(n, 'INFO', 'cluster')

            # A replica restarted from its RDB and nodes.conf is a replica from
            # the start and continues with a partial resync.
            master = c[2]
            rep = replicas_of(c, master)[0]
            wait_for(lambda: info_field(rep, 'master_link_status', 'replication') == 'up')
            assert rep.raw().call('SAVE') == b'+OK\r\n'
            partial = int(info_field(master, 'sync_partial_ok', 'stats'))
            rep = c.restart_as(c.nodes.index(rep), 'pyredis')
            wait_for(lambda: info_field(rep, 'master_link_status', 'replication') == 'up')
            assert int(info_field(master, 'sync_partial_ok', 'stats')) == partial + 1
            c.wait_agree()

            # kill -9 of a master: its replica is promoted.
            victim = c[0]
            victim_slots = _slots_of(victim)
            replica = replicas_of(c, victim)[0]
            wait_for(lambda: info_field(replica, 'master_link_status', 'replication') == 'up')
            wait_for(lambda: all(
                int(info_field(r, 'master_repl_offset', 'replication')) ==
                int(info_field(m, 'master_repl_offset', 'replication'))
                for m in c[:3] for r in replicas_of(c, m)), what='replicas in sync')
            victim_id = node_id(victim)
            # A RedisCluster client writes before, across and after the kill.
            load = WriteLoad(c[1].port, counters=False, max_errors=10000)
            load.start()
            try:
                wait_for(lambda: load.ops > 300, 30, what='the load to run')
                load.phase = 'kill'
                victim.kill()
                wait_for(lambda: is_master(replica), 60, what='the replica to be promoted')
                c.wait_ok()
                for n in c.alive():
                    wait_for(lambda: 'fail' in nodes_table(n)[victim_id][2].split(','), 30)
                load.phase = 'after'
                wait_for(lambda: load.ops_by_phase['after'] > 300, 60,
                         what='the client to go on on the promoted replica')
            finally:
                load.stop()
            print('client log by phase:', dict(load.rc.seen), 'raised:', load.error_phases,
                  load.errors[:3])
            # Nothing went wrong before the kill; what the client met around
            # it was the dead node, the uncovered slots and their new owner.
            assert load.rc.during('start') == {} and 'start' not in load.error_phases
            assert set(load.rc.during('kill')) <= KILL_ERRORS, load.rc.during('kill')
            assert set(load.rc.during('after')) <= KILL_ERRORS, load.rc.during('after')
            assert 'after' not in load.error_phases, load.errors[-3:]
            load.verify(phases=('after',))
            assert any(load.phase_of[k] == 'after' and keyslot(k.encode()) in victim_slots
                       for k in load.phase_of)
            rc = redis.RedisCluster(host='127.0.0.1', port=c[1].port)
            assert [rc.get('key:%d' % i) for i in range(200)] == [b'%d' % i
                                                                 for i in range(200)]
            rc.set('after', 'failover')
            assert rc.get('after') == b'failover'

            # A manual failover in another shard.
            master = c[1]
            rep = replicas_of(c, master)[0]
            wait_for(lambda: info_field(rep, 'master_link_status', 'replication') == 'up')
            assert rep.raw().call('CLUSTER', 'FAILOVER') == b'+OK\r\n'
            wait_for(lambda: is_master(rep) and not is_master(master), 30,
                     what='the manual failover')
            c.wait_ok()
            assert master.raw().call('CLUSTER', 'FAILOVER') in (
                b'+OK\r\n', b'-ERR Master is down or failed, please use CLUSTER FAILOVER '
                b'FORCE\r\n')

            # The killed pyredis node's nodes.conf, loaded by redis-server: the
            # node comes back under its id and becomes a replica of its
            # successor (the cluster's newer config wins).
            back = c.restart_as(0, 'redis')
            assert node_id(back) == victim_id
            wait_for(lambda: not is_master(back), 60, what='the old master to turn replica')
            c.wait_agree()
            c.wait_ok()
            _check_ok(c)
        except BaseException:
            print(c.logs())
            raise


@needs_redis
@pytest.mark.parametrize('masters,replicas', [('redis', 'pyredis'), ('pyredis', 'redis')])
def test_mixed_cluster(masters, replicas):
    """Three masters of one implementation and three replicas of the other:
    redis-cli creates it, gossip converges, CLUSTER NODES agree, failover of
    a master by a replica of the other implementation."""
    import redis
    with ClusterNodes([masters] * 3 + [replicas] * 3) as c:
        try:
            c.create(replicas=1)
            c.wait_agree()
            _check_ok(c)
            assert _roles(c) == ['master'] * 3 + ['replica'] * 3
            rc = redis.RedisCluster(host='127.0.0.1', port=c[3].port)
            for i in range(100):
                rc.set('k%d' % i, i)
            victim = c[2]
            replica = replicas_of(c, victim)[0]
            wait_for(lambda: info_field(replica, 'master_link_status', 'replication') == 'up')
            wait_for(lambda: info_field(replica, 'master_repl_offset', 'replication') ==
                     info_field(victim, 'master_repl_offset', 'replication'))
            victim.kill()
            wait_for(lambda: is_master(replica), 60, what='the replica to be promoted')
            c.wait_ok()
            rc = redis.RedisCluster(host='127.0.0.1', port=c[0].port)
            assert [rc.get('k%d' % i) for i in range(100)] == [b'%d' % i for i in range(100)]
            # CLUSTER FAILOVER (MFSTART, the paused master's offset) across
            # implementations, then TAKEOVER back.
            master = c[1]
            rep = replicas_of(c, master)[0]
            wait_for(lambda: info_field(rep, 'master_link_status', 'replication') == 'up')
            assert rep.raw().call('CLUSTER', 'FAILOVER') == b'+OK\r\n'
            wait_for(lambda: is_master(rep) and not is_master(master), 30,
                     what='the manual failover')
            c.wait_ok()
            wait_for(lambda: info_field(master, 'master_link_status', 'replication') == 'up')
            assert master.raw().call('CLUSTER', 'FAILOVER', 'TAKEOVER') == b'+OK\r\n'
            wait_for(lambda: is_master(master) and not is_master(rep), 30,
                     what='the takeover')
            c.wait_ok()
            rc.set('after', 'takeover')
            assert rc.get('after') == b'takeover'
            # The other implementation's nodes.conf loads here.
            back = c.restart_as(2, replicas)
            wait_for(lambda: not is_master(back), 60)
            c.wait_agree()
            _check_ok(c)
        except BaseException:
            print(c.logs())
            raise


# -- compatibility with a redis-server cluster ---------------------------------------------

@pytest.fixture(scope='module')
def twin_clusters():
    if not REDIS_SERVER or not REDIS_CLI:
        pytest.skip('redis-server/redis-cli not installed')
    ours = ClusterNodes(['pyredis'] * 6)
    try:
        theirs = ClusterNodes(['redis'] * 6)
        try:
            for c in (ours, theirs):
                c.create(replicas=1)
                c.wait_agree()
            yield ours, theirs
        finally:
            theirs.stop()
    finally:
        ours.stop()


def _labels(c):
    """node id -> a label that is the same in both clusters: masters by the
    order redis-cli gave them their slots, replicas by their master (which
    replica goes to which master is redis-cli's random choice)."""
    table = nodes_table(c[0])
    labels = {}
    for nid, f in table.items():
        if 'master' in f[2]:
            labels[nid] = 'master@%s' % (f[8].split('-')[0] if len(f) > 8 else 'none')
    for nid, f in table.items():
        if nid not in labels:
            labels[nid] = 'replica-of-' + labels.get(f[3], f[3])
    return labels


def _ids(c):
    return _labels(c)


def _ports(c):
    labels = _labels(c)
    return {n.port: 'port-' + labels[node_id(n)] for n in c.alive()}


def _normal_nodes(c, text):
    ids, ports = _ids(c), _ports(c)
    out = []
    for line in text.strip().split('\n'):
        f = line.split(' ')
        addr, _, cport = f[1].partition('@')
        host, _, port = addr.rpartition(':')
        out.append((ids[f[0]], host, ports[int(port)], int(cport) - int(port), f[2],
                    ids.get(f[3], f[3]), f[6], f[7], tuple(f[8:])))
    return sorted(out)


def _pairs(ours, theirs):
    """(our node, their node) with the same role and place."""
    la, lb = _labels(ours), _labels(theirs)
    by_label = {lb[node_id(n)]: n for n in theirs.alive()}
    return [(n, by_label[la[node_id(n)]]) for n in ours.alive()]


def test_cluster_nodes_and_info_match_redis(twin_clusters):
    ours, theirs = twin_clusters
    for x, y in _pairs(ours, theirs):
        a = _normal_nodes(ours, raw_text(x, 'CLUSTER', 'NODES'))
        b = _normal_nodes(theirs, raw_text(y, 'CLUSTER', 'NODES'))
        assert a == b
        ia = dict(line.split(':', 1) for line in
                  raw_text(x, 'CLUSTER', 'INFO').strip().split('\r\n'))
        ib = dict(line.split(':', 1) for line in
                  raw_text(y, 'CLUSTER', 'INFO').strip().split('\r\n'))
        for k in ('cluster_state', 'cluster_slots_assigned', 'cluster_slots_ok',
                  'cluster_slots_pfail', 'cluster_slots_fail', 'cluster_known_nodes',
                  'cluster_size', 'cluster_current_epoch', 'cluster_my_epoch',
                  'total_cluster_links_buffer_limit_exceeded'):
            assert ia[k] == ib[k], k
        assert [k for k in ia if not k.startswith('cluster_stats')] == \
            [k for k in ib if not k.startswith('cluster_stats')]
        for stat in ('cluster_stats_messages_sent', 'cluster_stats_messages_received'):
            assert int(ia[stat]) > 0
        for n in (x, y):
            # RESP3: a verbatim string.
            r = n.raw()
            r.call('HELLO', '3')
            assert r.call('CLUSTER', 'INFO').startswith(b'=')
            assert r.call('CLUSTER', 'NODES').startswith(b'=')
            assert r.call('CLUSTER', 'MYID') == b'$40\r\n%s\r\n' % node_id(n).encode()
            r.close()


def _normal_reply(reply, c):
    """A raw reply with node ids and ports replaced by their labels."""
    for nid, label in _ids(c).items():
        reply = reply.replace(b'$40\r\n' + nid.encode(), b'$%d\r\n%s' % (len(label),
                                                                       label.encode()))
    for port, label in _ports(c).items():
        reply = reply.replace(b':%d\r\n' % port, b':' + label.encode() + b'\r\n')
    return reply


def _split_top(reply):
    """The elements of a top-level array reply, as raw bytes, sorted."""
    from helpers import RawConn
    conn = RawConn.__new__(RawConn)
    conn.buf = reply
    conn.sock = None
    head_end = reply.index(b'\r\n') + 2
    pos = head_end
    items = []
    for _ in range(int(reply[1:head_end - 2])):
        end = conn._skip(pos)
        items.append(reply[pos:end])
        pos = end
    assert pos == len(reply)
    return sorted(items)


def _wait_replicas_synced(c):
    """Every replica synced, and known to every node as holding data (CLUSTER
    SLOTS leaves out replicas at offset 0, as loading ones)."""
    import redis
    rc = redis.RedisCluster(host='127.0.0.1', port=c[0].port)
    for i in range(30):
        rc.set('sync:%d' % i, i)
    rc.close()
    for n in c.alive():
        wait_for(lambda: raw_text_slots_replicas(n) == 3, 30, what='replicas in SLOTS')


def raw_text_slots_replicas(n):
    r = n.raw()
    reply = r.call('CLUSTER', 'SLOTS')
    r.close()
    # each range: *3 without its replica, *4 with it
    return reply.count(b'*4\r\n:')


@pytest.mark.parametrize('resp', [2, 3])
def test_slots_shards_links_shapes_match_redis(twin_clusters, resp):
    ours, theirs = twin_clusters
    for c in twin_clusters:
        _wait_replicas_synced(c)
    for pair in _pairs(ours, theirs):
        got = []
        for c, n in zip((ours, theirs), pair):
            r = n.raw()
            if resp == 3:
                r.call('HELLO', '3')
            slots = _split_top(_normal_reply(r.call('CLUSTER', 'SLOTS'), c))
            shards = r.call('CLUSTER', 'SHARDS')
            links = r.call('CLUSTER', 'LINKS')
            r.close()
            # replication offsets differ between implementations' streams.
            shards = re.sub(rb'replication-offset\r\n:\d+', b'replication-offset\r\n:N', shards)
            shards = re.sub(rb'health\r\n\$\d+\r\n\w+', b'health\r\n$1\r\nH', shards)
            got.append((slots, _split_top(_normal_reply(shards, c)), links))
        assert got[0][0] == got[1][0]
        assert got[0][1] == got[1][1]
        # LINKS: one 'to' and one 'from' link per other node, the same fields.
        for links in (got[0][2], got[1][2]):
            assert links.startswith(b'*10\r\n')
            assert links.count(b'direction') == 10
            assert links.count(b'$2\r\nto\r\n') == 5 and links.count(b'$4\r\nfrom\r\n') == 5
        keys = re.compile(rb'\r\n(direction|node|create-time|events|send-buffer-allocated|'
                          rb'send-buffer-used)\r\n')
        assert keys.findall(got[0][2]) == keys.findall(got[1][2])
        heads = re.compile(rb'\r\n([%*]\d+)\r\n\$9\r\ndirection')
        assert heads.findall(got[0][2]) == heads.findall(got[1][2])


ERROR_CASES = [
    ('CLUSTER', 'FOO'),
    ('CLUSTER', 'HELP'),
    ('CLUSTER', 'RESET', 'a', 'b'),
    ('CLUSTER', 'RESET', 'x'),
    ('CLUSTER', 'FAILOVER', 'a', 'b'),
    ('CLUSTER', 'FAILOVER', 'x'),
    ('CLUSTER', 'FAILOVER'),
    ('CLUSTER', 'ADDSLOTS'),
    ('CLUSTER', 'ADDSLOTS', '0'),
    ('CLUSTER', 'ADDSLOTS', 'x'),
    ('CLUSTER', 'ADDSLOTS', '16384'),
    ('CLUSTER', 'ADDSLOTS', '-1'),
    ('CLUSTER', 'DELSLOTS', 'x'),
    ('CLUSTER', 'ADDSLOTSRANGE', '1'),
    ('CLUSTER', 'ADDSLOTSRANGE', '1', '2', '3'),
    ('CLUSTER', 'ADDSLOTSRANGE', '5', '1'),
    ('CLUSTER', 'ADDSLOTSRANGE', '0', '10'),
    ('CLUSTER', 'DELSLOTSRANGE', 'x', '1'),
    ('CLUSTER', 'SETSLOT', '1'),
    ('CLUSTER', 'SETSLOT', '1', 'foo'),
    ('CLUSTER', 'SETSLOT', 'x', 'stable'),
    ('CLUSTER', 'SETSLOT', '1', 'node', 'nosuchnode'),
    ('CLUSTER', 'SETSLOT', '1', 'migrating', 'nosuchnode'),
    ('CLUSTER', 'SETSLOT', '16000', 'migrating', 'nosuchnode'),
    ('CLUSTER', 'SETSLOT', '1', 'importing', 'nosuchnode'),
    ('CLUSTER', 'SETSLOT', '16000', 'importing', 'nosuchnode'),
    ('CLUSTER', 'COUNT-FAILURE-REPORTS', 'x'),
    ('CLUSTER', 'MEET', '1.2.3', '5'),
    ('CLUSTER', 'MEET', '127.0.0.1', 'x'),
    ('CLUSTER', 'MEET', '127.0.0.1', '1', 'y'),
    ('CLUSTER', 'MEET', '127.0.0.1', '0'),
    ('CLUSTER', 'MEET', '127.0.0.1'),
    ('CLUSTER', 'MEET', '127.0.0.1', '1', '2', '3'),
    ('CLUSTER', 'MEET', '127.0.0.1', '70000'),
    ('CLUSTER', 'SETSLOT', '1', 'stable', 'x'),
    ('CLUSTER', 'SETSLOT', '1', 'node'),
    ('CLUSTER', 'FORGET', 'a', 'b'),
    ('CLUSTER', 'COUNT-FAILURE-REPORTS'),
    ('CLUSTER', 'DELSLOTS', '0', '0'),
    ('CLUSTER', 'DELSLOTSRANGE', '0', '3', '2', '5'),
    ('CLUSTER', 'ADDSLOTS', '1', '1'),
    ('CLUSTER', 'REPLICAS', 'x'),
    ('CLUSTER', 'SLAVES', 'x'),
    ('CLUSTER', 'FORGET', 'x'),
    ('CLUSTER', 'REPLICATE', 'x'),
    ('CLUSTER', 'SET-CONFIG-EPOCH', 'x'),
    ('CLUSTER', 'SET-CONFIG-EPOCH', '-1'),
    ('CLUSTER', 'SET-CONFIG-EPOCH', '5'),
    ('CLUSTER', 'INFO', 'x'),
    ('CLUSTER', 'MYID', 'x'),
    ('CLUSTER', 'FLUSHSLOTS', 'x'),
    ('REPLICAOF', '127.0.0.1', '1'),
    ('SLAVEOF', 'no', 'one'),
]


def test_error_replies_match_redis(twin_clusters):
    ours, theirs = twin_clusters
    a, b = ours[0].raw(), theirs[0].raw()
    for args in ERROR_CASES:
        assert a.call(*args) == b.call(*args), args
    # Node-relative errors: myself, a replica, my own replica.
    for c, r in ((ours, a), (theirs, b)):
        me = node_id(c[0])
        replica = next(nid for nid, f in nodes_table(c[0]).items() if 'slave' in f[2])
        assert r.call('CLUSTER', 'FORGET', me) == \
            b"-ERR I tried hard but I can't forget myself...\r\n"
        assert r.call('CLUSTER', 'REPLICATE', me) == b"-ERR Can't replicate myself\r\n"
        assert r.call('CLUSTER', 'REPLICATE', replica) == \
            b'-ERR I can only replicate a master, not a replica.\r\n'
        assert r.call('CLUSTER', 'REPLICAS', replica) == \
            b'-ERR The specified node is not a master\r\n'
        assert r.call('CLUSTER', 'SETSLOT', '1', 'node', replica) == \
            b'-ERR Target node is not a master\r\n'
        assert r.call('CLUSTER', 'COUNT-FAILURE-REPORTS', replica) == b':0\r\n'
        other_master = next(nid for nid, f in nodes_table(c[0]).items()
                            if 'master' in f[2] and nid != me)
        assert r.call('CLUSTER', 'REPLICATE', other_master) == \
            b'-ERR To set a master the node must be empty and without assigned slots.\r\n'
        # on a replica
        rr = c[3].raw()
        assert rr.call('CLUSTER', 'SETSLOT', '1', 'stable') == \
            b'-ERR Please use SETSLOT only with masters.\r\n'
        assert rr.call('CLUSTER', 'FORGET', nodes_table(c[3])[node_id(c[3])][3]) == \
            b"-ERR Can't forget my master!\r\n"
        rr.close()
    for args in (('CLUSTER', 'REPLICAS', node_id(ours[0])),):
        reply = a.call(*args)
        assert reply.startswith(b'*1\r\n$')
    a.close()
    b.close()


def test_setslot_states_and_nodes_conf(twin_clusters):
    """SETSLOT MIGRATING/IMPORTING/STABLE show in CLUSTER NODES as Redis
    shows them, and nodes.conf keeps them."""
    ours, theirs = twin_clusters
    for c in (ours, theirs):
        ids = _ids(c)
        src, dst = c[0], c[1]
        sid, did = node_id(src), node_id(dst)
        assert src.raw().call('CLUSTER', 'SETSLOT', '100', 'MIGRATING', did) == b'+OK\r\n'
        assert dst.raw().call('CLUSTER', 'SETSLOT', '100', 'IMPORTING', sid) == b'+OK\r\n'
        mine = nodes_table(src)[sid]
        assert mine[-1] == '[100->-%s]' % did
        assert nodes_table(dst)[did][-1] == '[100-<-%s]' % sid
        wait_for(lambda: '[100->-%s]' % did in nodes_conf(src))
        assert src.raw().call('CLUSTER', 'SETSLOT', '100', 'STABLE') == b'+OK\r\n'
        assert dst.raw().call('CLUSTER', 'SETSLOT', '100', 'STABLE') == b'+OK\r\n'
        assert '[' not in ' '.join(nodes_table(src)[sid])
        assert ids


def test_bumpepoch_and_saveconfig(twin_clusters):
    ours, theirs = twin_clusters
    replies = []
    for c in (ours, theirs):
        r = c[2].raw()
        replies.append((r.call('CLUSTER', 'SAVECONFIG'), r.call('CLUSTER', 'BUMPEPOCH')[:7]))
        r.close()
    assert replies[0] == replies[1]
    assert replies[0][1] in (b'+BUMPED', b'+STILL ')


def test_meet_forget_reset(twin_clusters):
    """A lone node MEETs the cluster, is known by everyone, then FORGET and
    RESET HARD (a new id, epochs 0) on both implementations alike."""
    ours, theirs = twin_clusters
    for kind, c in (('pyredis', ours), ('redis', theirs)):
        lone = start_node(kind)
        try:
            r = lone.raw()
            assert r.call('CLUSTER', 'MEET', '127.0.0.1', c[0].port) == b'+OK\r\n'
            lid = node_id(lone)
            for n in c:
                wait_for(lambda: lid in nodes_table(n) and
                         'handshake' not in nodes_table(n)[lid][2], 30)
            wait_for(lambda: len(nodes_table(lone)) == 7, 30)
            assert r.call('CLUSTER', 'RESET', 'HARD') == b'+OK\r\n'
            assert node_id(lone) != lid
            assert len(nodes_table(lone)) == 1
            assert info_field(lone, 'cluster_current_epoch') == '0'
            for n in c:
                assert n.raw().call('CLUSTER', 'FORGET', lid) == b'+OK\r\n'
                assert n.raw().call('CLUSTER', 'FORGET', lid) == \
                    b'-ERR Unknown node %s\r\n' % lid.encode()
            c.wait_agree()
        finally:
            lone.stop()


# -- two-node clusters, one of each ---------------------------------------------------------

@needs_redis
def test_hostnames_epoch_collision_publish_and_coverage():
    """A pyredis and a redis-server master, both at configEpoch 0, MEET: the
    collision is resolved (distinct epochs), each sees the other's hostname
    extension, PUBLISH crosses the bus both ways, and cluster_state follows
    cluster-require-full-coverage."""
    a = start_node('pyredis', args=['--cluster-announce-hostname', 'a.example'])
    try:
        b = start_node('redis', args=['--cluster-announce-hostname', 'b.example'])
        try:
            assert a.raw().call('CLUSTER', 'ADDSLOTSRANGE', '0', '8191') == b'+OK\r\n'
            assert b.raw().call('CLUSTER', 'ADDSLOTSRANGE', '8192', '16383') == b'+OK\r\n'
            assert a.raw().call('CLUSTER', 'MEET', '127.0.0.1', b.port) == b'+OK\r\n'
            aid, bid = node_id(a), node_id(b)
            for n in (a, b):
                wait_for(lambda: info_field(n, 'cluster_state') == 'ok', 30)
            wait_for(lambda: nodes_table(a)[aid][6] != nodes_table(a)[bid][6] and
                     nodes_table(b)[aid][6] == nodes_table(a)[aid][6] and
                     nodes_table(b)[bid][6] == nodes_table(a)[bid][6], 30,
                     what='distinct config epochs')
            assert sorted([nodes_table(a)[aid][6], nodes_table(a)[bid][6]]) == ['0', '1']
            wait_for(lambda: nodes_table(b)[aid][1].endswith(',a.example'), 30)
            wait_for(lambda: nodes_table(a)[bid][1].endswith(',b.example'), 30)
            assert nodes_table(a)[aid][1] == '127.0.0.1:%d@%d,a.example' % (a.port,
                                                                             a.port + 10000)
            assert ',b.example' in nodes_conf(a)
            # PUBLISH over the bus, both ways.
            for src, dst in ((a, b), (b, a)):
                sub = dst.client().pubsub()
                sub.subscribe('news')
                assert sub.get_message(timeout=5)['type'] == 'subscribe'
                assert src.client().publish('news', 'from %d' % src.port) == 0
                msg = sub.get_message(timeout=5)
                assert msg['data'] == b'from %d' % src.port
                sub.close()
            # CLUSTER SLOTS with hostnames as the preferred endpoint.
            for n in (a, b):
                n.client().config_set('cluster-preferred-endpoint-type', 'hostname')
            assert a.raw().call('CLUSTER', 'SLOTS').replace(b'%d' % a.port, b'P').replace(
                aid.encode(), b'ID') == b.raw().call('CLUSTER', 'SLOTS').replace(
                b'%d' % a.port, b'P').replace(aid.encode(), b'ID')
            # Coverage: a node that drops a slot of its own fails (the other
            # keeps the owner it knew: 7.0 does not unassign unclaimed slots).
            for n, slot in ((a, 5), (b, 9000)):
                assert n.raw().call('CLUSTER', 'DELSLOTS', slot) == b'+OK\r\n'
                wait_for(lambda: info_field(n, 'cluster_state') == 'fail', 30)
                assert info_field(n, 'cluster_slots_assigned') == '16383'
            for n in (a, b):
                n.client().config_set('cluster-require-full-coverage', 'no')
            for n in (a, b):
                wait_for(lambda: info_field(n, 'cluster_state') == 'ok', 30)
        finally:
            b.stop()
    finally:
        a.stop()


@needs_redis
def test_add_node_del_node_and_replica_migration():
    """redis-cli --cluster add-node (a master, then a replica) and del-node
    on a pyredis cluster; a master left without a working replica gets one
    of a master that has two (replica migration)."""
    with ClusterNodes(['pyredis'] * 6) as c:
        try:
            c.create(replicas=1)
            c.wait_agree()
            extra = start_node('pyredis')
            c.nodes.append(extra)
            rich = c[0]
            cli('--cluster', 'add-node', '127.0.0.1:%d' % extra.port,
                '127.0.0.1:%d' % rich.port, '--cluster-slave', '--cluster-master-id',
                node_id(rich))
            wait_for(lambda: len(replicas_of(c, rich)) == 2, 30)
            c.wait_agree()
            # The replica of another master dies: one of rich's replicas moves.
            poor = c[1]
            lost = replicas_of(c, poor)[0]
            lost_id = node_id(lost)
            lost.kill()
            wait_for(lambda: len(replicas_of(c, poor)) == 1, 60,
                     what='a replica to migrate to the orphaned master')
            assert len(replicas_of(c, rich)) == 1
            # del-node of the dead replica: every node forgets it.
            alive = [n for n in c.alive()]
            for n in alive:
                assert n.raw().call('CLUSTER', 'FORGET', lost_id) == b'+OK\r\n'
            c.nodes.remove(lost)
            lost.stop()
            c.wait_agree()
            # add-node as an empty master, then del-node it.
            spare = start_node('pyredis')
            c.nodes.append(spare)
            cli('--cluster', 'add-node', '127.0.0.1:%d' % spare.port,
                '127.0.0.1:%d' % c[0].port)
            c.wait_agree()
            assert is_master(spare)
            out = cli('--cluster', 'del-node', '127.0.0.1:%d' % c[0].port, node_id(spare))
            assert 'Sending CLUSTER FORGET messages to the cluster' in out
            c.nodes.remove(spare)
            # del-node ends with CLUSTER RESET SOFT on the node.
            assert list(nodes_table(spare)) == [node_id(spare)]
            spare.stop()
            c.wait_agree()
            _check_ok(c)
            # CLUSTER FAILOVER FORCE: an election without the master's agreement.
            master = c[2]
            rep = replicas_of(c, master)[0]
            assert rep.raw().call('CLUSTER', 'FAILOVER', 'FORCE') == b'+OK\r\n'
            wait_for(lambda: is_master(rep) and not is_master(master), 30,
                     what='the forced failover')
            c.wait_agree()
            _check_ok(c)
        except BaseException:
            print(c.logs())
            raise


def test_replica_no_failover_flag_gossiped(twin_clusters):
    """cluster-replica-no-failover: the replica's nofailover flag, in every
    node's CLUSTER NODES, as Redis shows it."""
    ours, theirs = twin_clusters
    views = []
    for c in (ours, theirs):
        rep = next(n for n in c.alive() if not is_master(n))
        rid = node_id(rep)
        rep.client().config_set('cluster-replica-no-failover', 'yes')
        for n in c.alive():
            wait_for(lambda: 'nofailover' in nodes_table(n)[rid][2], 30)
        views.append(sorted(f[2] for f in nodes_table(c[0]).values()))
        rep.client().config_set('cluster-replica-no-failover', 'no')
        for n in c.alive():
            wait_for(lambda: 'nofailover' not in nodes_table(n)[rid][2], 30)
    assert views[0] == views[1]


@needs_redis
def test_explicit_cluster_port():
    """cluster-port instead of port + 10000: the bus listens there, the
    header announces it, and redis-server reaches the node through it."""
    from cluster_helpers import cluster_port
    bus_port = cluster_port()
    a = start_node('pyredis', args=['--cluster-port', str(bus_port)])
    try:
        b = start_node('redis')
        try:
            aid = node_id(a)
            assert nodes_table(a)[aid][1] == ':%d@%d' % (a.port, bus_port)
            assert b.raw().call('CLUSTER', 'MEET', '127.0.0.1', a.port, bus_port) == \
                b'+OK\r\n'
            wait_for(lambda: aid in nodes_table(b) and
                     'handshake' not in nodes_table(b)[aid][2], 30)
            assert nodes_table(b)[aid][1] == '127.0.0.1:%d@%d' % (a.port, bus_port)
            wait_for(lambda: nodes_table(a)[aid][1] == '127.0.0.1:%d@%d' % (a.port, bus_port))
            assert '@%d' % bus_port in nodes_conf(a)
        finally:
            b.stop()
    finally:
        a.stop()
