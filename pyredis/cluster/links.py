"""The cluster bus's I/O: links, the bus listener, and the attachment of
the cluster to the Server (cluster.c's clusterLink, clusterAcceptHandler,
clusterLinkConnectHandler, clusterReadHandler).

A Link is an asyncio Protocol that feeds its bytes to bus.Reader and each
whole message to Cluster.process (node.py); it knows nothing of the
protocol's meaning. Outbound links are opened by the cluster cron for every
node without one (node.link is set at once, as createClusterLink does, so
the cron does not open a second one while the first connects); inbound links
come from the listener on cluster-port (or port + 10000) and learn their
node from the first message that names a known sender. A link whose unsent
data passes cluster-link-sendbuf-limit is freed by the cluster cron, as
Redis 7.0's clusterNodeCronFreeLinkOnBufferLimitReached does (node.py).

What a link sends is queued and written on the next turn of the event loop
(Outbox), as Redis's clusterSendMessage leaves it to the write handler: the
replies of the turn leave first. The order matters to the peers: the PONG
a CLUSTER SETSLOT NODE broadcasts reaches the old owner after redis-cli got
its +OK and sent that node its own SETSLOT NODE, so the old owner learns the
move from the command (one save) instead of from the PONG (an fsynced save
for the slots config change, then the command's).

``attach`` does nothing unless cluster-enabled is yes: then ``server.cluster``
is the Cluster, its cron runs at 10 Hz on its own timer (clusterCron's
rate, whatever hz is), and the INFO cluster section says cluster_enabled:1.
"""

import asyncio
import os

from .. import log
from . import bus
from .node import Cluster
from .state import ConfigLoadError, ms


# sizeof(clusterLink) in Redis 7.0 (part of mem_cluster_links).
LINK_STRUCT_SIZE = 64


class Outbox:
    """The links with queued output, written on the next turn of the loop
    (two call_soon hops: past the callbacks of this turn, write_pending's
    replies included)."""

    def __init__(self, server):
        self.server = server
        self.links = []
        self.scheduled = False

    def add(self, link):
        self.links.append(link)
        if not self.scheduled:
            self.scheduled = True
            self.server.loop.call_soon(self._next_turn)

    def _next_turn(self):
        self.server.loop.call_soon(self.flush)

    def flush(self):
        self.scheduled = False
        links, self.links = self.links, []
        for link in links:
            link.write_out()


class Link(asyncio.Protocol):

    def __init__(self, cluster, node, inbound):
        self.cluster = cluster
        self.node = node
        self.inbound = inbound
        self.ctime = ms()
        self.transport = None
        self.connected = False
        self.closed = False
        self.reader = bus.Reader()
        self.pending = []           # queued: not yet given to the transport
        self.send_bytes = 0         # for CLUSTER LINKS / INFO memory
        self.recv_bytes = 0

    # -- asyncio --------------------------------------------------------------

    def connection_made(self, transport):
        if self.closed:
            transport.abort()
            return
        self.transport = transport
        self.connected = True
        if self.pending:
            transport.write(b''.join(self.pending))
            self.pending = []
        if not self.inbound:
            self.cluster.link_connected(self)

    def data_received(self, data):
        if self.closed:
            return
        try:
            messages = self.reader.feed(data)
        except bus.BusError:
            log.warning('Bad message length or signature received from Cluster bus.')
            self.cluster.free_link(self)
            return
        for raw in messages:
            if self.closed:
                return
            try:
                if not self.cluster.process(self, raw):
                    return
            except Exception as e:     # a bug must not kill the server
                import traceback
                log.warning('cluster bus message failed: %s\n%s' % (e, traceback.format_exc()))

    def connection_lost(self, exc):
        if not self.closed:
            self.closed = True
            self.cluster.link_failed(self)

    # -- what node.py uses ----------------------------------------------------

    def send(self, data):
        if self.closed:
            return
        if not self.pending and self.transport is not None:
            self.cluster.outbox.add(self)
        self.pending.append(data)

    def write_out(self):
        if self.closed or self.transport is None or not self.pending:
            return
        data = self.pending[0] if len(self.pending) == 1 else b''.join(self.pending)
        self.pending = []
        self.transport.write(data)

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def send_buffer_size(self):
        """What is not sent yet (Redis's sndbuf): queued, and what the
        socket did not take."""
        queued = sum(map(len, self.pending)) if self.pending else 0
        if self.transport is None:
            return queued
        return queued + self.transport.get_write_buffer_size()

    def memory(self):
        """getClusterLinkMemUsage: the link (sizeof(clusterLink)), its send
        buffer and its receive buffer."""
        return LINK_STRUCT_SIZE + self.send_buffer_size() + self.reader.allocated()

    def local_ip(self):
        if self.transport is None:
            return ''
        name = self.transport.get_extra_info('sockname')
        return _ip(name)

    def peer_ip(self):
        if self.transport is None:
            return ''
        return _ip(self.transport.get_extra_info('peername'))


def _ip(addr):
    if not addr:
        return ''
    ip = addr[0]
    if ip.startswith('::ffff:') and '.' in ip:
        ip = ip[7:]
    return ip


def connect(cluster, node):
    """An outbound link to ``node`` (the cron's createClusterLink + connect)."""
    link = Link(cluster, node, False)
    node.link = link
    loop = cluster.server.loop

    async def go():
        try:
            await loop.create_connection(lambda: link, node.ip, node.cport)
        except (OSError, ValueError) as e:
            log.debug('Connection with Node %.40s at %s:%d failed: %s' % (
                node.name, node.ip, node.cport, e))
            if not link.closed:
                link.closed = True
                cluster.link_failed(link)

    loop.create_task(go())
    return link


def attach(server):
    if not server.config.cluster_enabled:
        return
    cluster = Cluster(server)
    try:
        cluster.init()
    except ConfigLoadError as e:
        log.warning(str(e))
        raise SystemExit(1)
    server.cluster = cluster
    cluster.connect = lambda node: connect(cluster, node)
    cluster.outbox = Outbox(server)
    me = cluster.myself
    repl = server.replication
    if me.is_slave() and me.slaveof is not None and me.slaveof.ip:
        # A replica in nodes.conf is a replica from the start (Redis's
        # loadDataFromDisk for a cluster replica): the load keeps expired
        # keys and the replication history saved in the RDB, so the first
        # sync can be a partial one (replication.py's start-up does both).
        server.masterhost = repl.masterhost = me.slaveof.ip
        repl.masterport = me.slaveof.port
    state = {'timer': None, 'servers': []}

    def tick():
        state['timer'] = None
        if server.shutting_down:
            return
        try:
            cluster.cron()
        except Exception as e:
            import traceback
            log.warning('cluster cron failed: %s\n%s' % (e, traceback.format_exc()))
        state['timer'] = server.loop.call_later(0.1, tick)

    async def startup():
        loop = server.loop
        config = server.config
        port = cluster.bus_port()
        hosts = [b.lstrip('-') for b in config.bind] or None
        try:
            srv = await loop.create_server(lambda: Link(cluster, None, True), host=hosts,
                                           port=port, reuse_address=True,
                                           backlog=config.tcp_backlog)
        except OSError as e:
            log.warning('Failed listening on port %d (cluster), aborting.' % port)
            log.warning(str(e))
            raise SystemExit(1)
        state['servers'].append(srv)
        cluster.update_state()
        state['timer'] = loop.call_later(0.1, tick)

    def shutdown(save):
        if state['timer'] is not None:
            state['timer'].cancel()
        for srv in state['servers']:
            srv.close()
        for node in list(cluster.nodes.values()):
            cluster.free_link(node.link)
            cluster.free_link(node.inbound_link)
        cluster.save_config()
        if cluster.lock_fd is not None:
            # An embedded server (embed.py) ends without its process ending.
            os.close(cluster.lock_fd)
            cluster.lock_fd = None
        return None

    def info(server):
        return [('cluster_enabled', 1)]

    server.startup_hooks.append(startup)
    server.shutdown_hooks.append(shutdown)
    server.info_sections['cluster'] = info
