"""What a cluster node does (cluster.c): gossip, failure detection,
failover, the cron.

``Cluster`` is the ClusterState of state.py plus Redis's behaviour, each
method named after the C function it follows: ``process`` is
clusterProcessPacket, ``cron`` clusterCron (10 times a second),
``before_sleep`` clusterBeforeSleep (the saves and state updates the
handlers ask for with ``todo``, run once after the current batch of
events), ``handle_slave_failover`` the replica election with its rank
delay, ``send_failover_auth_if_needed`` the masters' vote. It sends bytes
through Link objects (links.py: ``send``, ``close``, ``inbound``,
``local_ip``, ``peer_ip``), and asks links.py for a new outbound link with
``self.connect(node)``; no socket code here, so it can be driven from tests
with fake links.

The replication side (CLUSTER REPLICATE, promotion) goes through the
server's Replication object (replication.py), as Redis's cluster.c calls
replicationSetMaster / replicationUnsetMaster.
"""

import ipaddress
import random

from .. import clock, log
from ..commands import pause
from ..replication import REPL_CONNECTED
from . import bus
from .state import (CLUSTER_SLOTS, FAIL, HANDSHAKE, MASTER, MEET, MIGRATE_TO, MYSELF, NOADDR,
                    NOFAILOVER, PFAIL, PORT_INCR, SLAVE, ClusterNode, ClusterState,
                    ConfigLoadError, bits_not_in, count_bits, ms, random_name, set_bits)

# clusterBeforeSleep's work (CLUSTER_TODO_*).
TODO_HANDLE_FAILOVER = 1
TODO_UPDATE_STATE = 2
TODO_SAVE_CONFIG = 4
TODO_FSYNC_CONFIG = 8
TODO_HANDLE_MANUALFAILOVER = 16

MF_TIMEOUT = 5000
MF_PAUSE_MULT = 2
SLAVE_MIGRATION_DELAY = 5000
WRITABLE_DELAY = 2000
MAX_REJOIN_DELAY = 5000
MIN_REJOIN_DELAY = 500
BLACKLIST_TTL = 60000

CANT_FAILOVER_NONE, CANT_FAILOVER_DATA_AGE, CANT_FAILOVER_WAITING_DELAY, \
    CANT_FAILOVER_EXPIRED, CANT_FAILOVER_WAITING_VOTES = range(5)
CANT_FAILOVER_RELOG_PERIOD = 300
CANT_FAILOVER_MESSAGES = {
    CANT_FAILOVER_DATA_AGE: "Disconnected from master for longer than allowed. Please check "
                            "the 'cluster-replica-validity-factor' configuration option.",
    CANT_FAILOVER_WAITING_DELAY: 'Waiting the delay before I can start a new failover.',
    CANT_FAILOVER_EXPIRED: 'Failover attempt expired.',
    CANT_FAILOVER_WAITING_VOTES: 'Waiting for votes, but majority still not reached.',
}

BROADCAST_ALL = 0
BROADCAST_LOCAL_SLAVES = 1


class Cluster(ClusterState):

    def __init__(self, server):
        super().__init__(server.config)
        self.server = server
        self.todo = 0
        self.before_sleep_scheduled = False
        self.iteration = 0
        self.failover_auth_time = 0
        self.failover_auth_count = 0
        self.failover_auth_sent = False
        self.failover_auth_rank = 0
        self.announced_ip = None
        self.failover_auth_epoch = 0
        self.cant_failover_reason = CANT_FAILOVER_NONE
        self.lastlog_time = 0
        self.mf_end = 0
        self.mf_slave = None
        self.mf_master_offset = -1
        self.mf_can_start = False
        self.first_update_time = 0
        self.among_minority_time = 0
        self.state_ok = False
        self.connect = None         # fn(node): links.py opens an outbound link
        self.inbound_links = set()
        self.migration_since = 0
        self._publish = self.propagate_publish
        # hold_replies: the clients whose replies wait for the save, and the
        # reply barrier that was there before ours.
        self._holding = False
        self._held = {}
        self._next_barrier = None

    # -- the keyspace (the per-slot key index of cluster/slots.py) -----------

    def count_keys_in_slot(self, slot):
        count = getattr(self.server.dbs[0].data, 'count_in_slot', None)
        return count(slot) if count is not None else 0

    def del_keys_in_slot(self, slot):
        """delKeysInSlot: the keys of a slot this node lost, deleted as DELs
        are (propagated, keyspace events)."""
        server = self.server
        db = server.dbs[0]
        keys_in_slot = getattr(db.data, 'keys_in_slot', None)
        if keys_in_slot is None:
            return 0
        keys = keys_in_slot(slot, self.count_keys_in_slot(slot))
        from ..notify import NotifyFlags
        for key in keys:
            server._delete_and_propagate(db, key, NotifyFlags.GENERIC, b'del', False)
        return len(keys)

    # -- figures for INFO -------------------------------------------------------

    def connections(self):
        """getClusterConnectionsCount: two links for each other node."""
        return (len(self.nodes) - 1) * 2

    def links_memory(self):
        """mem_cluster_links: every link's memory (links.Link.memory)."""
        total = 0
        for n in self.nodes.values():
            for link in (n.link, n.inbound_link):
                if link is not None:
                    total += link.memory()
        return total

    def free_links_over_limit(self, node):
        """clusterNodeCronFreeLinkOnBufferLimitReached: a link whose unsent
        data passed cluster-link-sendbuf-limit is freed (the cron opens a
        new outbound one at once; the peer opens the inbound one again)."""
        limit = self.config.cluster_link_sendbuf_limit
        if not limit:
            return
        for link in (node.link, node.inbound_link):
            if link is None or link.send_buffer_size() <= limit:
                continue
            log.warning('Freeing cluster link(%s node %.40s, used memory: %d) due to '
                        'exceeding send buffer memory limit.' % (
                            'from' if link.inbound else 'to', node.name, link.memory()))
            self.free_link(link)
            self.links_buffer_limit_exceeded += 1

    # -- start-up -------------------------------------------------------------

    def init(self):
        """clusterInit: nodes.conf, or a new node with a random name."""
        config = self.config
        path = self.server.path(config.cluster_config_file)
        if not self.load_config(path):
            self.myself = ClusterNode(random_name(), MYSELF | MASTER)
            self.add_node(self.myself)
            log.notice('No cluster configuration found, I\'m %s' % self.myself.name)
            self.path = path
            self.lock_config()
            self.save_config()
        else:
            self.lock_config()
            log.notice('Node configuration loaded, I\'m %.40s' % self.myself.name)
        if config.port > 65535 - PORT_INCR and not config.cluster_port:
            raise ConfigLoadError(
                'Redis port number too high. Cluster communication port is 10,000 port '
                'numbers higher than your Redis port. Your Redis port number must be 55535 '
                'or less.')
        self.update_announced()
        self.update_myself_flags_and_ports()
        self.todo |= TODO_UPDATE_STATE

    def bus_port(self):
        config = self.config
        return config.cluster_port or config.port + PORT_INCR

    def update_announced(self):
        """clusterUpdateMyselfAnnouncedPorts, the announced ip and hostname."""
        config = self.config
        me = self.myself
        me.port = config.cluster_announce_port or config.port
        me.pport = 0
        me.cport = config.cluster_announce_bus_port or self.bus_port()
        me.hostname = config.cluster_announce_hostname or ''
        self.announced_ip = config.cluster_announce_ip or None
        if self.announced_ip:
            me.ip = self.announced_ip

    def update_myself_flags_and_ports(self):
        """clusterUpdateMyselfFlags (cluster-replica-no-failover) and the
        announced ports, which CONFIG SET may change."""
        config = self.config
        me = self.myself
        before = (me.flags, me.port, me.cport)
        me.flags = (me.flags & ~NOFAILOVER) | (
            NOFAILOVER if config.cluster_replica_no_failover else 0)
        me.port = config.cluster_announce_port or config.port
        me.cport = config.cluster_announce_bus_port or self.bus_port()
        if (me.flags, me.port, me.cport) != before:
            self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE)

    # -- todo / before sleep --------------------------------------------------

    def do_before_sleep(self, flags):
        """clusterDoBeforeSleep: the work is done once, at the end of this
        turn of the event loop, whatever asked for it meanwhile."""
        self.todo |= flags
        if not self.before_sleep_scheduled and self.server.loop is not None:
            self.before_sleep_scheduled = True
            self.server.loop.call_soon(self.before_sleep)

    def hold_replies(self):
        """A CLUSTER command changed the configuration: its reply (and any
        other written before the save) waits for nodes.conf to be saved, as
        Redis's clusterBeforeSleep runs before handleClientsWithPendingWrites
        (here the replies of a turn are written by a callback that may come
        before ours: networking.write_pending). The hold is a reply barrier
        (Client.flush asks server.reply_barrier) put in front of the AOF's,
        if any, for the rest of the turn only: outside those turns, and on
        a node with cluster mode off, the reply path is unchanged."""
        server = self.server
        if server.loop is None:
            return
        if not self._holding:
            self._holding = True
            self._next_barrier = server.reply_barrier
            server.reply_barrier = self._barrier
        self.do_before_sleep(0)

    def _barrier(self, c):
        if self.todo & TODO_SAVE_CONFIG:
            self._held[c.id] = c
            return True
        following = self._next_barrier
        return following is not None and following(c)

    def _release_replies(self):
        server = self.server
        self._holding = False
        if server.reply_barrier == self._barrier:
            server.reply_barrier = self._next_barrier
        self._next_barrier = None
        held, self._held = self._held, {}
        for c in held.values():
            if c.out:
                c.flush()       # past the AOF's barrier, if it holds them too
            elif c.close_after_reply and c.transport is not None:
                c.transport.close()

    def before_sleep(self):
        self.before_sleep_scheduled = False
        try:
            self._before_sleep()
        except SystemExit:
            raise               # the save failed: the node ends, nothing is sent
        except Exception:
            if self._holding:
                self._release_replies()
            raise
        if self._holding:
            self._release_replies()

    def _before_sleep(self):
        flags = self.todo
        self.todo = 0
        if flags & TODO_HANDLE_MANUALFAILOVER:
            if self.myself.is_slave():
                self.handle_manual_failover()
                self.handle_slave_failover()
        elif flags & TODO_HANDLE_FAILOVER:
            self.handle_slave_failover()
        if flags & TODO_UPDATE_STATE:
            self.update_state()
        if flags & TODO_SAVE_CONFIG:
            self.save_or_die(bool(flags & TODO_FSYNC_CONFIG))

    def save_or_die(self, fsync=True):
        """clusterSaveConfigOrDie. A save made now is the one the turn
        would have made (clusterSaveConfig clears the todo flags too, the
        fsync one when it fsyncs)."""
        self.todo &= ~(TODO_SAVE_CONFIG | TODO_FSYNC_CONFIG) if fsync else ~TODO_SAVE_CONFIG
        if not self.save_config(fsync):
            log.warning('Fatal: can\'t update cluster config file.')
            raise SystemExit(1)

    # -- replication glue -----------------------------------------------------

    def repl_offset(self):
        """master_repl_offset, or replicationGetSlaveOffset on a replica."""
        repl = getattr(self.server, 'replication', None)
        return repl.master_repl_offset if repl is not None else 0

    def set_replication_master(self, node):
        repl = self.server.replication
        if repl.masterhost == node.ip and repl.masterport == node.port:
            return
        repl.set_master(node.ip, node.port)

    def unset_replication_master(self):
        self.server.replication.unset_master()

    # -- messages out ---------------------------------------------------------

    def build_header(self, type):
        """clusterBuildMessageHdr."""
        me = self.myself
        master = me.slaveof if (me.is_slave() and me.slaveof is not None) else me
        m = bus.Message(type, me.name, self.current_epoch, master.config_epoch,
                        self.repl_offset(), master.slots,
                        me.slaveof.name if me.slaveof is not None else None,
                        self.config.cluster_announce_ip or '', me.port, me.pport, me.cport,
                        me.flags & 0xffff, 0 if self.state_ok else 1)
        if me.is_master() and self.mf_end:
            m.mflags |= bus.FLAG0_PAUSED
        return m

    def send(self, link, m):
        if link is None:
            return
        if m.type < bus.TYPE_COUNT:
            self.stats_sent[m.type] += 1
        link.send(bus.encode(m))

    def broadcast(self, m):
        data = bus.encode(m)
        for node in list(self.nodes.values()):
            if node.flags & (MYSELF | HANDSHAKE) or node.link is None:
                continue
            if m.type < bus.TYPE_COUNT:
                self.stats_sent[m.type] += 1
            node.link.send(data)

    def gossip_entry(self, n):
        return bus.Gossip(n.name, n.ping_sent // 1000, n.pong_received // 1000, n.ip, n.port,
                          n.cport, n.flags & 0xffff, n.pport)

    def send_ping(self, link, type):
        """clusterSendPing: a PING, PONG or MEET with gossip about a few
        random nodes (a tenth of them, at least 3) and every node in PFAIL."""
        nodes = list(self.nodes.values())
        freshnodes = len(nodes) - 2
        wanted = max(3, len(nodes) // 10)
        wanted = min(wanted, freshnodes)
        if link.node is not None and type == bus.PING:
            link.node.ping_sent = ms()
        m = self.build_header(type)
        chosen = set()
        maxiterations = wanted * 3
        while freshnodes > 0 and len(m.gossip) < wanted and maxiterations > 0:
            maxiterations -= 1
            this = random.choice(nodes)
            if this is self.myself:
                continue
            if this.flags & PFAIL:
                continue
            if this.flags & (HANDSHAKE | NOADDR) or (this.link is None and this.numslots == 0):
                freshnodes -= 1     # Technically not correct, but saves CPU.
                continue
            if this in chosen:
                continue
            chosen.add(this)
            m.gossip.append(self.gossip_entry(this))
        pfail_wanted = self.stats_pfail_nodes
        if pfail_wanted > 0:
            for node in nodes:
                if pfail_wanted <= 0:
                    break
                if node.flags & (HANDSHAKE | NOADDR) or not node.flags & PFAIL:
                    continue
                m.gossip.append(self.gossip_entry(node))
                pfail_wanted -= 1
        if self.myself.hostname:
            m.extensions.append(bus.ext_hostname(self.myself.hostname))
        self.send(link, m)

    def broadcast_pong(self, target=BROADCAST_ALL):
        me = self.myself
        for node in list(self.nodes.values()):
            if node.link is None or node is me or node.in_handshake():
                continue
            if target == BROADCAST_LOCAL_SLAVES:
                local = node.is_slave() and node.slaveof is not None and (
                    node.slaveof is me or node.slaveof is me.slaveof)
                if not local:
                    continue
            self.send_ping(node.link, bus.PONG)

    def send_fail(self, name):
        m = self.build_header(bus.FAIL)
        m.about = name
        self.broadcast(m)

    def send_update(self, link, node):
        if link is None:
            return
        m = self.build_header(bus.UPDATE)
        m.update_epoch = node.config_epoch
        m.update_name = node.name
        m.update_slots = bytes(node.slots)
        self.send(link, m)

    def propagate_publish(self, channel, message, shard=False):
        """clusterPropagatePublish / clusterPropagatePublishShard."""
        m = self.build_header(bus.PUBLISHSHARD if shard else bus.PUBLISH)
        m.channel = bytes(channel)
        m.message = bytes(message)
        if not shard:
            self.broadcast(m)
            return
        me = self.myself
        master = me.slaveof if me.is_slave() and me.slaveof is not None else me
        data = bus.encode(m)
        for node in [master] + list(master.slaves):
            if node is me or node.link is None:
                continue
            self.stats_sent[m.type] += 1
            node.link.send(data)

    # -- links ----------------------------------------------------------------

    def link_connected(self, link):
        """clusterLinkConnectHandler: the first message on a new link."""
        node = link.node
        old_ping_sent = node.ping_sent
        self.send_ping(link, bus.MEET if node.flags & MEET else bus.PING)
        if old_ping_sent:
            node.ping_sent = old_ping_sent
        node.flags &= ~MEET

    def link_failed(self, link):
        """The connect failed or the link dropped (freeClusterLink)."""
        node = link.node
        if node is not None:
            if node.link is link:
                node.link = None
                if not link.connected and node.ping_sent == 0:
                    node.ping_sent = ms()
            if node.inbound_link is link:
                node.inbound_link = None
        self.inbound_links.discard(link)

    def free_link(self, link):
        if link is None:
            return
        link.close()
        self.link_failed(link)

    # -- nodes ----------------------------------------------------------------

    def del_node(self, node):
        self.free_link(node.link)
        self.free_link(node.inbound_link)
        if self.mf_slave is node:
            self.reset_manual_failover()
        super().del_node(node)

    def blacklist_add(self, node):
        self.blacklist_clean()
        self.nodes_black_list[node.name] = ms() + BLACKLIST_TTL

    def blacklist_clean(self):
        now = ms()
        for name, until in list(self.nodes_black_list.items()):
            if until < now:
                del self.nodes_black_list[name]

    def blacklist_exists(self, name):
        self.blacklist_clean()
        return name in self.nodes_black_list

    def start_handshake(self, ip, port, cport):
        """clusterStartHandshake: 'invalid' or 'busy' or None (started)."""
        try:
            norm = str(ipaddress.ip_address(ip))
        except ValueError:
            return 'invalid'
        if port <= 0 or port > 65535 or cport <= 0 or cport > 65535:
            return 'invalid'
        for n in self.nodes.values():
            if n.in_handshake() and n.ip.lower() == norm.lower() and n.port == port \
                    and n.cport == cport:
                return 'busy'
        n = ClusterNode(None, HANDSHAKE | MEET)
        n.ip, n.port, n.cport = norm, port, cport
        self.add_node(n)
        return None

    def node_ip(self, link, myip):
        """nodeIp2String: the announced ip, else the link's peer address."""
        return myip if myip else link.peer_ip()

    def update_address_if_needed(self, node, link, m):
        if link is node.link:
            return False
        ip = self.node_ip(link, m.myip)
        if node.port == m.port and node.cport == m.cport and node.pport == m.pport \
                and node.ip == ip:
            return False
        node.ip, node.port, node.pport, node.cport = ip, m.port, m.pport, m.cport
        self.free_link(node.link)
        node.flags &= ~NOADDR
        log.warning('Address updated for node %.40s, now %s:%d' % (node.name, node.ip,
                                                                     node.port))
        me = self.myself
        if me.is_slave() and me.slaveof is node:
            self.server.replication.set_master(node.ip, node.port)
        return True

    def set_master(self, n):
        """clusterSetMaster: replicate ``n``."""
        me = self.myself
        if me.is_master():
            me.flags &= ~(MASTER | MIGRATE_TO)
            me.flags |= SLAVE
            self.close_all_slots()
        elif me.slaveof is not None:
            me.slaveof.remove_slave(me)
        me.slaveof = n
        n.add_slave(me)
        self.server.replication.set_master(n.ip, n.port)
        self.reset_manual_failover()

    def close_all_slots(self):
        self.migrating_slots_to = [None] * CLUSTER_SLOTS
        self.importing_slots_from = [None] * CLUSTER_SLOTS

    def set_node_as_master(self, node):
        if node.is_master():
            return
        super().set_node_as_master(node)
        self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE)

    # -- failure detection ----------------------------------------------------

    def failure_reports_count(self, node):
        node.fail_reports_clean(self.config.cluster_node_timeout, ms())
        return len(node.fail_reports)

    def mark_node_as_failing_if_needed(self, node):
        needed_quorum = self.size // 2 + 1
        if not node.timed_out() or node.failed():
            return
        failures = self.failure_reports_count(node)
        if self.myself.is_master():
            failures += 1
        if failures < needed_quorum:
            return
        log.notice('Marking node %.40s as failing (quorum reached).' % node.name)
        node.flags &= ~PFAIL
        node.flags |= FAIL
        node.fail_time = ms()
        self.send_fail(node.name)
        self.do_before_sleep(TODO_UPDATE_STATE | TODO_SAVE_CONFIG)

    def clear_node_failure_if_needed(self, node):
        now = ms()
        if node.is_slave() or node.numslots == 0:
            log.notice('Clear FAIL state for node %.40s: %s is reachable again.' % (
                node.name, 'replica' if node.is_slave() else 'master without slots'))
            node.flags &= ~FAIL
            self.do_before_sleep(TODO_UPDATE_STATE | TODO_SAVE_CONFIG)
        if node.is_master() and node.numslots > 0 and \
                now - node.fail_time > self.config.cluster_node_timeout * 2:
            log.notice('Clear FAIL state for node %.40s: is reachable again and nobody is '
                       'serving its slots after some time.' % node.name)
            node.flags &= ~FAIL
            self.do_before_sleep(TODO_UPDATE_STATE | TODO_SAVE_CONFIG)

    # -- clusterProcessPacket -------------------------------------------------

    def process(self, link, raw):
        """One whole message from ``link``; False when the link was freed."""
        m = bus.decode(raw)
        if m is None:
            return True
        t = m.type
        if t < bus.TYPE_COUNT:
            self.stats_received[t] += 1
        now = ms()
        sender = self.lookup(m.sender)
        if sender is not None and link.inbound and link.node is None:
            # setClusterNodeToInboundClusterLink
            if sender.inbound_link is not None and sender.inbound_link is not link:
                self.free_link(sender.inbound_link)
            sender.inbound_link = link
            link.node = sender
        if sender is not None:
            sender.data_received = now
        if sender is not None and not sender.in_handshake():
            if m.current_epoch > self.current_epoch:
                self.current_epoch = m.current_epoch
                self.do_before_sleep(TODO_SAVE_CONFIG | TODO_FSYNC_CONFIG)
            if m.config_epoch > sender.config_epoch:
                sender.config_epoch = m.config_epoch
                self.do_before_sleep(TODO_SAVE_CONFIG | TODO_FSYNC_CONFIG)
            sender.repl_offset = m.offset
            sender.repl_offset_time = now
            me = self.myself
            if self.mf_end and me.is_slave() and me.slaveof is sender \
                    and m.mflags & bus.FLAG0_PAUSED and self.mf_master_offset == -1:
                self.mf_master_offset = sender.repl_offset
                self.do_before_sleep(TODO_HANDLE_MANUALFAILOVER)
                log.warning('Received replication offset for paused master manual '
                            'failover: %d' % self.mf_master_offset)

        if t in (bus.PING, bus.MEET):
            me = self.myself
            if (t == bus.MEET or not me.ip) and not self.config.cluster_announce_ip:
                ip = link.local_ip()
                if ip and ip != me.ip:
                    me.ip = ip
                    self.do_before_sleep(TODO_SAVE_CONFIG)
            if sender is None and t == bus.MEET:
                node = ClusterNode(None, HANDSHAKE)
                node.ip = self.node_ip(link, m.myip)
                node.port, node.pport, node.cport = m.port, m.pport, m.cport
                self.add_node(node)
                self.do_before_sleep(TODO_SAVE_CONFIG)
                self.process_gossip(m, link, None)
            self.send_ping(link, bus.PONG)

        if t in (bus.PING, bus.PONG, bus.MEET):
            if not link.inbound:
                node = link.node
                if node.in_handshake():
                    if sender is not None:
                        log.verbose('Handshake: we already know node %.40s, updating the '
                                    'address if needed.' % sender.name)
                        if self.update_address_if_needed(sender, link, m):
                            self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE)
                        self.del_node(node)
                        return False
                    self.rename_node(node, m.sender)
                    log.debug('Handshake with node %.40s completed.' % node.name)
                    node.flags &= ~HANDSHAKE
                    node.flags |= m.flags & (MASTER | SLAVE)
                    self.do_before_sleep(TODO_SAVE_CONFIG)
                elif node.name != m.sender:
                    log.debug('PONG contains mismatching sender ID. About node %.40s added %d '
                              'ms ago, having flags %d' % (node.name, now - node.ctime,
                                                           node.flags))
                    node.flags |= NOADDR
                    node.ip = ''
                    node.port = node.pport = node.cport = 0
                    self.free_link(link)
                    self.do_before_sleep(TODO_SAVE_CONFIG)
                    return False

            if sender is not None:
                sender.flags = (sender.flags & ~NOFAILOVER) | (m.flags & NOFAILOVER)

            if sender is not None and t == bus.PING and not sender.in_handshake() \
                    and self.update_address_if_needed(sender, link, m):
                self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE)

            if not link.inbound and t == bus.PONG:
                node = link.node
                node.pong_received = now
                node.ping_sent = 0
                if node.timed_out():
                    node.flags &= ~PFAIL
                    self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE)
                elif node.failed():
                    self.clear_node_failure_if_needed(node)

            if sender is not None:
                if m.slaveof is None:
                    self.set_node_as_master(sender)
                else:
                    master = self.lookup(m.slaveof)
                    if sender.is_master():
                        self.del_node_slots(sender)
                        sender.flags &= ~(MASTER | MIGRATE_TO)
                        sender.flags |= SLAVE
                        self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE)
                    if master is not None and sender.slaveof is not master:
                        if sender.slaveof is not None:
                            sender.slaveof.remove_slave(sender)
                        master.add_slave(sender)
                        sender.slaveof = master
                        self.do_before_sleep(TODO_SAVE_CONFIG)

            sender_master = None
            dirty_slots = False
            if sender is not None:
                sender_master = sender if sender.is_master() else sender.slaveof
                if sender_master is not None:
                    dirty_slots = bytes(sender_master.slots) != bytes(m.myslots)
            if sender is not None and sender.is_master() and dirty_slots:
                self.update_slots_config_with(sender, m.config_epoch, m.myslots)
            if sender is not None and dirty_slots:
                # The slots it claims that are not its own (the others,
                # whose owner is the sender, are skipped by the loop).
                for j in bits_not_in(m.myslots, sender.slots):
                    owner = self.slots[j]
                    if owner is sender or owner is None:
                        continue
                    if owner.config_epoch > m.config_epoch:
                        log.verbose('Node %.40s has old slots configuration, sending an '
                                    'UPDATE message about %.40s' % (sender.name, owner.name))
                        self.send_update(sender.link, owner)
                        break

            me = self.myself
            if sender is not None and me.is_master() and sender.is_master() \
                    and m.config_epoch == me.config_epoch:
                self.handle_config_epoch_collision(sender)

            if sender is not None:
                self.process_gossip(m, link, sender)
                self.process_ping_ext(m, sender)

        elif t == bus.FAIL:
            if sender is not None:
                failing = self.lookup(m.about)
                if failing is not None and not failing.flags & (FAIL | MYSELF):
                    log.notice('FAIL message received from %.40s about %.40s' % (m.sender,
                                                                                 m.about))
                    failing.flags |= FAIL
                    failing.fail_time = now
                    failing.flags &= ~PFAIL
                    self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE)
        elif t in (bus.PUBLISH, bus.PUBLISHSHARD):
            if sender is None:
                return True
            pubsub = self.server.pubsub
            if pubsub is not None:
                if t == bus.PUBLISH:
                    pubsub.publish(m.channel, m.message)
                else:
                    pubsub.spublish(m.channel, m.message)
        elif t == bus.FAILOVER_AUTH_REQUEST:
            if sender is None:
                return True
            self.send_failover_auth_if_needed(sender, m)
        elif t == bus.FAILOVER_AUTH_ACK:
            if sender is None:
                return True
            if sender.is_master() and sender.numslots > 0 \
                    and m.current_epoch >= self.failover_auth_epoch:
                self.failover_auth_count += 1
                self.do_before_sleep(TODO_HANDLE_FAILOVER)
        elif t == bus.MFSTART:
            if sender is None or sender.slaveof is not self.myself:
                return True
            self.reset_manual_failover()
            self.mf_end = now + MF_TIMEOUT
            self.mf_slave = sender
            self.pause_writes(now + MF_TIMEOUT * MF_PAUSE_MULT)
            log.warning('Manual failover requested by replica %.40s.' % sender.name)
            # Send a PING with the paused flag now (clusterCron keeps pinging).
            if sender.link is not None:
                self.send_ping(sender.link, bus.PING)
        elif t == bus.UPDATE:
            if sender is None:
                return True
            n = self.lookup(m.update_name)
            if n is None or n.config_epoch >= m.update_epoch:
                return True
            if n.is_slave():
                self.set_node_as_master(n)
            n.config_epoch = m.update_epoch
            self.do_before_sleep(TODO_SAVE_CONFIG | TODO_FSYNC_CONFIG)
            self.update_slots_config_with(n, m.update_epoch, m.update_slots)
        return True

    def process_ping_ext(self, m, sender):
        hostname = m.hostname if m.hostname is not None else ''
        if sender.hostname != hostname:
            sender.hostname = hostname
            self.do_before_sleep(TODO_SAVE_CONFIG)
        for etype, _ in m.extensions:
            if etype != bus.EXT_HOSTNAME:
                log.warning('Received unknown extension type %d' % etype)

    def process_gossip(self, m, link, sender):
        """clusterProcessGossipSection."""
        if sender is None:
            sender = link.node if link.node is not None else self.lookup(m.sender)
        me = self.myself
        now = ms()
        for g in m.gossip:
            flags = g.flags
            node = self.lookup(g.name)
            if node is not None:
                if sender is not None and sender.is_master() and node is not me:
                    if flags & (FAIL | PFAIL):
                        if node.fail_report_add(sender, now):
                            log.verbose('Node %.40s reported node %.40s as not reachable.'
                                        % (sender.name, node.name))
                        self.mark_node_as_failing_if_needed(node)
                    elif node.fail_report_del(sender):
                        log.verbose('Node %.40s reported node %.40s is back online.' % (
                            sender.name, node.name))
                if not flags & (FAIL | PFAIL) and node.ping_sent == 0 \
                        and self.failure_reports_count(node) == 0:
                    pongtime = g.pong_received * 1000
                    if pongtime <= now + 500 and pongtime > node.pong_received:
                        node.pong_received = pongtime
                if node.flags & (FAIL | PFAIL) and not flags & NOADDR \
                        and not flags & (FAIL | PFAIL) and (
                            node.ip.lower() != g.ip.lower() or node.port != g.port
                            or node.cport != g.cport):
                    self.free_link(node.link)
                    node.ip, node.port, node.pport, node.cport = g.ip, g.port, g.pport, g.cport
                    node.flags &= ~NOADDR
            elif sender is not None and not flags & NOADDR \
                    and not self.blacklist_exists(g.name):
                node = ClusterNode(g.name, flags & ~(MYSELF | MEET | MIGRATE_TO))
                node.ip, node.port, node.pport, node.cport = g.ip, g.port, g.pport, g.cport
                self.add_node(node)

    # -- slots and epochs -----------------------------------------------------

    def update_slots_config_with(self, sender, sender_config_epoch, slots):
        """clusterUpdateSlotsConfigWith."""
        me = self.myself
        curmaster = me if me.is_master() else me.slaveof
        newmaster = None
        if sender is me:
            log.warning('Discarding UPDATE message about myself.')
            return
        dirty = []
        migrated_our_slots = 0
        sender_slots = count_bits(slots)
        # Only the claimed slots the sender does not own yet can change.
        for j in bits_not_in(slots, sender.slots):
            owner = self.slots[j]
            if owner is sender:
                continue
            if self.importing_slots_from[j] is not None:
                continue
            if owner is None or owner.config_epoch < sender_config_epoch:
                if owner is me and sender is not me and self.count_keys_in_slot(j):
                    dirty.append(j)
                if owner is curmaster and owner is not None:
                    newmaster = sender
                    migrated_our_slots += 1
                self.del_slot(j)
                self.add_slot(sender, j)
                self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE | TODO_FSYNC_CONFIG)
        if newmaster is not None and curmaster.numslots == 0 and (
                self.config.cluster_allow_replica_migration
                or sender_slots == migrated_our_slots):
            log.warning('Configuration change detected. Reconfiguring myself as a replica of '
                        '%.40s' % sender.name)
            self.set_master(sender)
            self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE | TODO_FSYNC_CONFIG)
        elif me.slaveof is not None and me.slaveof.slaveof is not None:
            # A replica of a replica: follow the real master.
            self.set_master(me.slaveof.slaveof)
            self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE | TODO_FSYNC_CONFIG)
        elif dirty:
            for j in dirty:
                self.del_keys_in_slot(j)

    def handle_config_epoch_collision(self, sender):
        me = self.myself
        if sender.config_epoch != me.config_epoch or not sender.is_master() \
                or not me.is_master():
            return
        if sender.name <= me.name:
            return
        self.current_epoch += 1
        me.config_epoch = self.current_epoch
        self.save_or_die()
        log.verbose('WARNING: configEpoch collision with node %.40s. configEpoch set to %d'
                    % (sender.name, me.config_epoch))

    def bump_epoch_without_consensus(self):
        """clusterBumpConfigEpochWithoutConsensus: True when it bumped."""
        max_epoch = self.max_epoch()
        me = self.myself
        if me.config_epoch == 0 or me.config_epoch != max_epoch:
            self.current_epoch += 1
            me.config_epoch = self.current_epoch
            self.do_before_sleep(TODO_SAVE_CONFIG | TODO_FSYNC_CONFIG)
            log.warning('New configEpoch set to %d' % me.config_epoch)
            return True
        return False

    # -- cluster state --------------------------------------------------------

    def update_state(self):
        """clusterUpdateState: cluster_state ok or fail."""
        self.todo &= ~TODO_UPDATE_STATE
        now = ms()
        if self.first_update_time == 0:
            self.first_update_time = now
        me = self.myself
        if me.is_master() and not self.state_ok and now - self.first_update_time < \
                WRITABLE_DELAY:
            return
        new_ok = True
        if self.config.cluster_require_full_coverage:
            # Every slot has an owner and no owner is failing (per node:
            # numslots counts the slots a node owns).
            if self.assigned_slots() < CLUSTER_SLOTS or any(
                    n.numslots and n.flags & FAIL for n in self.nodes.values()):
                new_ok = False
        size = reachable = 0
        for node in self.nodes.values():
            if node.is_master() and node.numslots:
                size += 1
                if not node.flags & (FAIL | PFAIL):
                    reachable += 1
        self.size = size
        if reachable < size // 2 + 1:
            new_ok = False
            self.among_minority_time = now
        if new_ok != self.state_ok:
            rejoin_delay = min(max(self.config.cluster_node_timeout, MIN_REJOIN_DELAY),
                               MAX_REJOIN_DELAY)
            if new_ok and me.is_master() and now - self.among_minority_time < rejoin_delay:
                return
            log.warning('Cluster state changed: %s' % ('ok' if new_ok else 'fail'))
            self.state_ok = new_ok

    # -- failover -------------------------------------------------------------

    def send_failover_auth_if_needed(self, node, request):
        me = self.myself
        master = node.slaveof
        force_ack = request.mflags & bus.FLAG0_FORCEACK
        if me.is_slave() or me.numslots == 0:
            return
        if request.current_epoch < self.current_epoch:
            log.warning('Failover auth denied to %.40s: reqEpoch (%d) < curEpoch(%d)' % (
                node.name, request.current_epoch, self.current_epoch))
            return
        if self.last_vote_epoch == self.current_epoch:
            log.warning('Failover auth denied to %.40s: already voted for epoch %d' % (
                node.name, self.current_epoch))
            return
        if node.is_master() or master is None or (not master.failed() and not force_ack):
            if node.is_master():
                log.warning('Failover auth denied to %.40s: it is a master node' %
                            node.name)
            elif master is None:
                log.warning('Failover auth denied to %.40s: I don\'t know its master' %
                            node.name)
            else:
                log.warning('Failover auth denied to %.40s: its master is up' %
                            node.name)
            return
        now = ms()
        if now - master.voted_time < self.config.cluster_node_timeout * 2:
            log.warning('Failover auth denied to %.40s: can\'t vote about this master '
                        'before %d milliseconds' % (
                            node.name,
                            self.config.cluster_node_timeout * 2 - (now - master.voted_time)))
            return
        for j in set_bits(request.myslots):
            owner = self.slots[j]
            if owner is None or owner.config_epoch <= request.config_epoch:
                continue
            log.warning('Failover auth denied to %.40s: slot %d epoch (%d) > reqEpoch '
                        '(%d)' % (node.name, j, owner.config_epoch,
                                  request.config_epoch))
            return
        self.last_vote_epoch = self.current_epoch
        master.voted_time = now
        self.save_or_die()
        if node.link is not None:
            self.send(node.link, self.build_header(bus.FAILOVER_AUTH_ACK))
        log.warning('Failover auth granted to %.40s for epoch %d' % (
            node.name, self.current_epoch))

    def slave_rank(self):
        me = self.myself
        master = me.slaveof
        if master is None:
            return 0
        myoffset = self.repl_offset()
        return sum(1 for s in master.slaves if s is not me and not s.flags & NOFAILOVER
                   and s.repl_offset > myoffset)

    def log_cant_failover(self, reason):
        """clusterLogCantFailover: say why, once in a while, when it lasts."""
        now = clock.time()
        if reason == self.cant_failover_reason and \
                now - self.lastlog_time < CANT_FAILOVER_RELOG_PERIOD:
            return
        self.cant_failover_reason = reason
        master = self.myself.slaveof
        if master is not None and master.failed() and \
                ms() - master.fail_time < self.config.cluster_node_timeout + 5000:
            return
        self.lastlog_time = now
        log.warning('Currently unable to failover: %s' % CANT_FAILOVER_MESSAGES.get(
            reason, 'Unknown reason code.'))

    def data_age(self):
        repl = self.server.replication
        now = clock.time()
        if repl.link_state == REPL_CONNECTED:
            return int((now - repl.last_io) * 1000)
        if repl.down_since is None:
            # Never linked: Redis's repl_down_since is 0, "down since
            # EVER", so its data is as old as the epoch.
            return int(now * 1000)
        return int((now - repl.down_since) * 1000)

    def handle_slave_failover(self):
        """clusterHandleSlaveFailover: the replica's election."""
        now = ms()
        auth_age = now - self.failover_auth_time
        needed_quorum = self.size // 2 + 1
        manual = self.mf_end != 0 and self.mf_can_start
        self.todo &= ~TODO_HANDLE_FAILOVER
        timeout = self.config.cluster_node_timeout
        auth_timeout = max(timeout * 2, 2000)
        auth_retry_time = auth_timeout * 2
        me = self.myself
        master = me.slaveof
        if me.is_master() or master is None or (not master.failed() and not manual) or (
                self.config.cluster_replica_no_failover and not manual) \
                or master.numslots == 0:
            self.cant_failover_reason = CANT_FAILOVER_NONE
            return
        data_age = self.data_age()
        if data_age > timeout:
            data_age -= timeout
        factor = self.config.cluster_replica_validity_factor
        if factor and data_age > self.config.repl_ping_replica_period * 1000 + \
                timeout * factor:
            if not manual:
                self.log_cant_failover(CANT_FAILOVER_DATA_AGE)
                return
        if auth_age > auth_retry_time:
            self.failover_auth_time = now + 500 + random.randrange(500)
            self.failover_auth_count = 0
            self.failover_auth_sent = False
            self.failover_auth_rank = self.slave_rank()
            self.failover_auth_time += self.failover_auth_rank * 1000
            if self.mf_end:
                self.failover_auth_time = now
                self.failover_auth_rank = 0
                self.do_before_sleep(TODO_HANDLE_FAILOVER)
            log.warning('Start of election delayed for %d milliseconds (rank #%d, offset %d).'
                        % (self.failover_auth_time - now, self.failover_auth_rank,
                           self.repl_offset()))
            self.broadcast_pong(BROADCAST_LOCAL_SLAVES)
            return
        if not self.failover_auth_sent and self.mf_end == 0:
            newrank = self.slave_rank()
            if newrank > self.failover_auth_rank:
                added = (newrank - self.failover_auth_rank) * 1000
                self.failover_auth_time += added
                self.failover_auth_rank = newrank
                log.warning('Replica rank updated to #%d, added %d milliseconds of delay.' % (
                    newrank, added))
        if now < self.failover_auth_time:
            self.log_cant_failover(CANT_FAILOVER_WAITING_DELAY)
            return
        if auth_age > auth_timeout:
            self.log_cant_failover(CANT_FAILOVER_EXPIRED)
            return
        if not self.failover_auth_sent:
            self.current_epoch += 1
            self.failover_auth_epoch = self.current_epoch
            log.warning('Starting a failover election for epoch %d.' % self.current_epoch)
            m = self.build_header(bus.FAILOVER_AUTH_REQUEST)
            if self.mf_end:
                m.mflags |= bus.FLAG0_FORCEACK
            self.broadcast(m)
            self.failover_auth_sent = True
            self.do_before_sleep(TODO_SAVE_CONFIG | TODO_UPDATE_STATE | TODO_FSYNC_CONFIG)
            return
        if self.failover_auth_count >= needed_quorum:
            log.warning('Failover election won: I\'m the new master.')
            if me.config_epoch < self.failover_auth_epoch:
                me.config_epoch = self.failover_auth_epoch
                log.warning('configEpoch set to %d after successful failover' %
                            me.config_epoch)
            self.failover_replace_your_master()
        else:
            self.log_cant_failover(CANT_FAILOVER_WAITING_VOTES)

    def failover_replace_your_master(self):
        me = self.myself
        oldmaster = me.slaveof
        if me.is_master() or oldmaster is None:
            return
        super().set_node_as_master(me)
        self.unset_replication_master()
        for j in set_bits(oldmaster.slots):
            self.del_slot(j)
            self.add_slot(me, j)
        self.update_state()
        self.save_or_die()
        self.broadcast_pong(BROADCAST_ALL)
        self.reset_manual_failover()

    # -- manual failover --------------------------------------------------------

    def pause_writes(self, end_ms):
        """The master's side of a manual failover: writes wait (pauseClients
        with PAUSE_DURING_FAILOVER, which CLIENT UNPAUSE does not lift)."""
        pause.pause(self.server, end_ms, pause.PAUSE_WRITE, pause.DURING_FAILOVER)

    def reset_manual_failover(self):
        if self.mf_slave is not None:
            pause.unpause(self.server, pause.DURING_FAILOVER)
        self.mf_end = 0
        self.mf_can_start = False
        self.mf_slave = None
        self.mf_master_offset = -1

    def manual_failover_check_timeout(self):
        if self.mf_end and self.mf_end < ms():
            log.warning('Manual failover timed out.')
            self.reset_manual_failover()

    def handle_manual_failover(self):
        if self.mf_end == 0 or self.mf_can_start or self.mf_master_offset == -1:
            return
        if self.mf_master_offset == self.repl_offset():
            self.mf_can_start = True
            log.warning('All master replication stream processed, manual failover can '
                        'start.')
            self.do_before_sleep(TODO_HANDLE_FAILOVER)

    def manual_failover(self, force=False, takeover=False):
        """CLUSTER FAILOVER: an error text, or None when accepted."""
        me = self.myself
        if me.is_master():
            return 'You should send CLUSTER FAILOVER to a replica'
        if me.slaveof is None:
            return "I'm a replica but my master is unknown to me"
        if not force and (me.slaveof.failed() or me.slaveof.link is None):
            return 'Master is down or failed, please use CLUSTER FAILOVER FORCE'
        self.reset_manual_failover()
        self.mf_end = ms() + MF_TIMEOUT
        if takeover:
            log.warning('Taking over the master (user request).')
            self.bump_epoch_without_consensus()
            self.failover_replace_your_master()
        elif force:
            log.warning('Forced failover user request accepted.')
            self.mf_can_start = True
        else:
            log.warning('Manual failover user request accepted.')
            if me.slaveof.link is not None:
                self.send(me.slaveof.link, self.build_header(bus.MFSTART))
        return None

    # -- replica migration ------------------------------------------------------

    def handle_slave_migration(self, max_slaves):
        """clusterHandleSlaveMigration."""
        me = self.myself
        mymaster = me.slaveof
        if not self.state_ok or mymaster is None:
            return
        okslaves = mymaster.count_ok_slaves()
        if okslaves <= self.config.cluster_migration_barrier:
            return
        candidate = me
        target = None
        now = ms()
        for node in self.nodes.values():
            okslaves = 0
            is_orphaned = True
            if node.is_slave() or node.failed():
                is_orphaned = False
            if not node.flags & MIGRATE_TO:
                is_orphaned = False
            if node.is_master():
                okslaves = node.count_ok_slaves()
            if okslaves > 0:
                is_orphaned = False
            if is_orphaned:
                if target is None and node.numslots > 0:
                    target = node
                if not node.orphaned_time:
                    node.orphaned_time = now
            else:
                node.orphaned_time = 0
            if okslaves == max_slaves:
                for s in node.slaves:
                    if s.name < candidate.name:
                        candidate = s
        if target is not None and candidate is me and \
                now - target.orphaned_time > SLAVE_MIGRATION_DELAY:
            log.warning('Migrating to orphaned master %.40s' % target.name)
            self.set_master(target)

    # -- clusterCron ------------------------------------------------------------

    def cron(self):
        self.iteration += 1
        config = self.config
        timeout = config.cluster_node_timeout
        me = self.myself
        if (config.cluster_announce_hostname or '') != me.hostname:
            me.hostname = config.cluster_announce_hostname or ''
            self.do_before_sleep(TODO_SAVE_CONFIG)
        # clusterUpdateMyselfIp: on a change of the setting; set to "" the
        # address is left to be learnt again (from the next MEET's socket).
        ip = config.cluster_announce_ip or None
        if ip != self.announced_ip:
            self.announced_ip = ip
            me.ip = ip or ''
            self.do_before_sleep(TODO_SAVE_CONFIG)
        self.update_myself_flags_and_ports()
        handshake_timeout = max(timeout, 1000)
        now = ms()
        self.stats_pfail_nodes = 0
        for node in list(self.nodes.values()):
            if node.flags & MYSELF:
                continue
            self.free_links_over_limit(node)
            if node.flags & NOADDR:
                continue
            if node.flags & PFAIL:
                self.stats_pfail_nodes += 1
            if node.in_handshake() and now - node.ctime > handshake_timeout:
                self.del_node(node)
                continue
            if node.link is None and self.connect is not None:
                self.connect(node)
        if self.iteration % 10 == 0:
            nodes = list(self.nodes.values())
            min_pong_node = None
            for _ in range(5):
                if not nodes:
                    break
                this = random.choice(nodes)
                if this.link is None or this.ping_sent != 0:
                    continue
                if this.flags & (MYSELF | HANDSHAKE):
                    continue
                if min_pong_node is None or min_pong_node.pong_received > this.pong_received:
                    min_pong_node = this
            if min_pong_node is not None:
                self.send_ping(min_pong_node.link, bus.PING)
        orphaned = max_slaves = this_slaves = 0
        update_state = False
        for node in list(self.nodes.values()):
            now = ms()
            if node.flags & (MYSELF | NOADDR | HANDSHAKE):
                continue
            if me.is_slave() and node.is_master() and not node.failed():
                okslaves = node.count_ok_slaves()
                if okslaves == 0 and node.numslots > 0 and node.flags & MIGRATE_TO:
                    orphaned += 1
                max_slaves = max(max_slaves, okslaves)
                if me.slaveof is node:
                    this_slaves = okslaves
            ping_delay = now - node.ping_sent
            data_delay = now - node.data_received
            link = node.link
            if link is not None and now - link.ctime > timeout and node.ping_sent \
                    and ping_delay > timeout / 2 and data_delay > timeout / 2:
                self.free_link(link)
                link = None
            if link is not None and node.ping_sent == 0 and \
                    now - node.pong_received > timeout / 2:
                self.send_ping(link, bus.PING)
                continue
            if self.mf_end and me.is_master() and self.mf_slave is node and link is not None:
                self.send_ping(link, bus.PING)
                continue
            if node.ping_sent == 0:
                continue
            node_delay = min(ping_delay, data_delay)
            if node_delay > timeout and not node.flags & (PFAIL | FAIL):
                log.debug('*** NODE %.40s possibly failing' % node.name)
                node.flags |= PFAIL
                update_state = True
        if me.is_slave() and self.server.masterhost is None and me.slaveof is not None \
                and me.slaveof.has_addr():
            self.set_replication_master(me.slaveof)
        self.manual_failover_check_timeout()
        if me.is_slave():
            self.handle_manual_failover()
            self.handle_slave_failover()
            if orphaned and max_slaves >= 2 and this_slaves == max_slaves and \
                    config.cluster_allow_replica_migration:
                self.handle_slave_migration(max_slaves)
        if update_state or not self.state_ok:
            self.update_state()
        if self.todo:
            self.before_sleep()
