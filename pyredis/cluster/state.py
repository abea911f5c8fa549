"""The cluster's nodes, slots and epochs, and nodes.conf (cluster.h's
clusterNode and clusterState, cluster.c's clusterLoadConfig and
clusterSaveConfig).

This module holds data and the file format only: what a node learns from the
bus and what it does about it is node.py's. nodes.conf is Redis's exact text
(one clusterGenNodeDescription line per node but those in handshake, then
``vars currentEpoch N lastVoteEpoch M``), so a file written by redis-server
loads here and the reverse. It is written to a temporary file renamed over
the old one (a crash leaves the previous good file), fsynced, with the
directory, for the changes Redis fsyncs (CLUSTER_TODO_FSYNC_CONFIG); Redis
7.0 rewrites it in place, the content is the same. node.py saves at most
once per turn of the event loop, before the replies of that turn are
written (clusterBeforeSleep).

A slot change must not cost a walk over the 16384 slots in Python: the
figures that need one (the open slots of a description, the assigned slots,
the slots a bitmap claims) come from C-level scans (list.count, re over a
bitmap's non-zero bytes) or from each node's ``numslots``.

Contract with the keyspace side (the command routing, MOVED/ASK): ``slots``,
``migrating_slots_to`` and ``importing_slots_from`` are lists of 16384
entries, each a ClusterNode or None; ``state_ok``; ``nodes`` maps names to
nodes; ``lookup(name)``; ``redirect_endpoint(node)``; ``publish(...)``.
"""

import fcntl
import os
import re

from .. import clock

CLUSTER_SLOTS = 16384
NAMELEN = 40
PORT_INCR = 10000

# cluster.h's CLUSTER_NODE_* flags (the bit values travel on the bus).
MASTER = 1
SLAVE = 2
PFAIL = 4
FAIL = 8
MYSELF = 16
HANDSHAKE = 32
NOADDR = 64
MEET = 128
MIGRATE_TO = 256
NOFAILOVER = 512

# representClusterNodeFlags's table, in its order.
FLAG_NAMES = ((MYSELF, 'myself'), (MASTER, 'master'), (SLAVE, 'slave'), (PFAIL, 'fail?'),
              (FAIL, 'fail'), (HANDSHAKE, 'handshake'), (NOADDR, 'noaddr'),
              (NOFAILOVER, 'nofailover'))
FLAG_BY_NAME = {name: bit for bit, name in FLAG_NAMES}
FLAG_BY_NAME['noflags'] = 0


_NONZERO = re.compile(b'[^\x00]')


def set_bits(bitmap):
    """The slots whose bit is set in a slots bitmap, in order (the zero
    bytes skipped at C speed: most bitmaps a node handles are sparse)."""
    out = []
    for m in _NONZERO.finditer(bitmap):
        i = m.start()
        b = bitmap[i]
        base = i << 3
        for bit in range(8):
            if b >> bit & 1:
                out.append(base + bit)
    return out


def bits_not_in(bitmap, other):
    """The slots set in ``bitmap`` and not in ``other`` (two bitmaps)."""
    n = len(bitmap)
    d = int.from_bytes(bitmap, 'little') & ~int.from_bytes(other, 'little')
    return set_bits(d.to_bytes(n, 'little'))


def count_bits(bitmap):
    return int.from_bytes(bitmap, 'little').bit_count()


def open_slots(table):
    """The slots with an entry in a migrating/importing table, in order.
    Counting Nones is a C loop of identity checks: the table is looked at
    slot by slot only in the chunks that hold an entry."""
    if table.count(None) == CLUSTER_SLOTS:
        return []
    out = []
    for base in range(0, CLUSTER_SLOTS, 256):
        chunk = table[base:base + 256]
        if chunk.count(None) != len(chunk):
            out.extend(base + i for i, n in enumerate(chunk) if n is not None)
    return out


def random_name():
    return os.urandom(NAMELEN // 2).hex()


def represent_flags(flags):
    out = [name for bit, name in FLAG_NAMES if flags & bit]
    return ','.join(out) if out else 'noflags'


def ms():
    return int(clock.time() * 1000)


class ClusterNode:
    """clusterNode: what this node knows about one node (itself included)."""

    def __init__(self, name=None, flags=0):
        self.ctime = ms()
        self.name = name or random_name()
        self.flags = flags
        self.config_epoch = 0
        self.slots = bytearray(CLUSTER_SLOTS // 8)     # the bitmap, as on the bus
        self.numslots = 0
        self.slaves = []
        self.slaveof = None
        self.ping_sent = 0
        self.pong_received = 0
        self.data_received = 0
        self.fail_time = 0
        self.voted_time = 0
        self.repl_offset_time = 0
        self.orphaned_time = 0
        self.repl_offset = 0
        self.ip = ''
        self.hostname = ''
        self.port = 0
        self.pport = 0
        self.cport = 0
        self.link = None            # the outbound link (links.Link)
        self.inbound_link = None
        self.fail_reports = {}      # reporting node -> time of its last report (ms)

    def __repr__(self):
        return '<ClusterNode %s %s:%d %s>' % (self.name[:8], self.ip, self.port,
                                               represent_flags(self.flags))

    def is_master(self):
        return bool(self.flags & MASTER)

    def is_slave(self):
        return bool(self.flags & SLAVE)

    def in_handshake(self):
        return bool(self.flags & HANDSHAKE)

    def has_addr(self):
        return not self.flags & NOADDR

    def timed_out(self):
        return bool(self.flags & PFAIL)

    def failed(self):
        return bool(self.flags & FAIL)

    def owns(self, slot):
        return bool(self.slots[slot >> 3] & (1 << (slot & 7)))

    # The bitmap's bit order is bitmapTestBit's: bit (slot & 7) of byte slot/8.
    def _set(self, slot):
        byte, bit = slot >> 3, 1 << (slot & 7)
        if self.slots[byte] & bit:
            return False
        self.slots[byte] |= bit
        self.numslots += 1
        return True

    def _clear(self, slot):
        byte, bit = slot >> 3, 1 << (slot & 7)
        if not self.slots[byte] & bit:
            return False
        self.slots[byte] &= ~bit
        self.numslots -= 1
        return True

    def slot_ranges(self):
        """The node's slots as (start, end) pairs, in order: the bits that
        begin a run (set, the one below clear) and those that end one, found
        with big-integer operations over the whole bitmap."""
        x = int.from_bytes(self.slots, 'little')
        if not x:
            return []
        n = len(self.slots)
        starts = set_bits((x & ~(x << 1)).to_bytes(n + 1, 'little'))
        ends = set_bits((x & ~(x >> 1)).to_bytes(n, 'little'))
        return list(zip(starts, ends))

    def add_slave(self, node):
        if node not in self.slaves:
            self.slaves.append(node)
            # clusterNodeAddSlave: a master with replicas is a migration target.
            self.flags |= MIGRATE_TO
            return True
        return False

    def remove_slave(self, node):
        if node in self.slaves:
            self.slaves.remove(node)
            if not self.slaves:
                self.flags &= ~MIGRATE_TO
            return True
        return False

    def count_ok_slaves(self):
        return sum(1 for s in self.slaves if not s.failed())

    def address(self):
        return '%s:%d@%d' % (self.ip, self.port, self.cport)

    def fail_report_add(self, sender, now):
        """clusterNodeAddFailureReport: True when the report is new."""
        new = sender not in self.fail_reports
        self.fail_reports[sender] = now
        return new

    def fail_reports_clean(self, node_timeout, now):
        maxtime = node_timeout * 2      # CLUSTER_FAIL_REPORT_VALIDITY_MULT
        for n, t in list(self.fail_reports.items()):
            if now - t > maxtime:
                del self.fail_reports[n]

    def fail_report_del(self, sender):
        return self.fail_reports.pop(sender, None) is not None


class ConfigLoadError(Exception):
    pass


class ClusterState:
    """clusterState: the nodes this node knows, who owns each slot, the
    epochs. ``myself`` is this node."""

    def __init__(self, config):
        self.config = config
        self.myself = None
        self.current_epoch = 0
        self.last_vote_epoch = 0
        self.state_ok = False
        self.size = 0
        self.nodes = {}
        self.nodes_black_list = {}      # name -> expiry (ms): FORGET's ban
        self.slots = [None] * CLUSTER_SLOTS
        self.migrating_slots_to = [None] * CLUSTER_SLOTS
        self.importing_slots_from = [None] * CLUSTER_SLOTS
        self.stats_sent = [0] * 11
        self.stats_received = [0] * 11
        self.stats_pfail_nodes = 0
        self.links_buffer_limit_exceeded = 0
        self.path = None
        self.lock_fd = None
        # The bus's send function for PUBLISH (node.py fills it).
        self._publish = None

    # -- lookups ------------------------------------------------------------

    def lookup(self, name):
        if isinstance(name, bytes):
            name = name.decode('latin-1')
        return self.nodes.get(name)

    def redirect_endpoint(self, node):
        """The host of a -MOVED/-ASK redirection to ``node``
        (cluster-preferred-endpoint-type: getPreferredEndpoint)."""
        kind = self.config.cluster_preferred_endpoint_type
        if kind == 'hostname':
            return node.hostname if node.hostname else '?'
        if kind == 'unknown-endpoint':
            return '?'
        return node.ip

    def publish(self, channel, message, shard=False):
        """Send PUBLISH (or PUBLISHSHARD) to the cluster over the bus."""
        if self._publish is not None:
            self._publish(channel, message, shard)

    # -- nodes --------------------------------------------------------------

    def add_node(self, node):
        self.nodes[node.name] = node

    def del_node(self, node):
        """clusterDelNode: forget ``node`` and everything that points at it."""
        for j in range(CLUSTER_SLOTS):
            if self.importing_slots_from[j] is node:
                self.importing_slots_from[j] = None
            if self.migrating_slots_to[j] is node:
                self.migrating_slots_to[j] = None
            if self.slots[j] is node:
                self.slots[j] = None
        for other in self.nodes.values():
            other.fail_reports.pop(node, None)
        self.nodes.pop(node.name, None)
        if node.slaveof is not None:
            node.slaveof.remove_slave(node)
        for s in node.slaves:
            if s.slaveof is node:
                s.slaveof = None

    def rename_node(self, node, name):
        del self.nodes[node.name]
        node.name = name
        self.nodes[name] = node

    def set_node_as_master(self, node):
        """clusterSetNodeAsMaster (without the save/update the caller asks)."""
        if node.is_master():
            return
        if node.slaveof is not None:
            node.slaveof.remove_slave(node)
            if node is not self.myself:
                node.flags |= MIGRATE_TO
        node.flags &= ~SLAVE
        node.flags |= MASTER
        node.slaveof = None

    # -- slots --------------------------------------------------------------

    def add_slot(self, node, slot):
        if self.slots[slot] is not None:
            return False
        node._set(slot)
        self.slots[slot] = node
        return True

    def del_slot(self, slot):
        node = self.slots[slot]
        if node is None:
            return False
        node._clear(slot)
        self.slots[slot] = None
        return True

    def del_node_slots(self, node):
        n = 0
        for j in set_bits(node.slots):
            if self.del_slot(j):
                n += 1
        return n

    def assigned_slots(self):
        """How many slots have an owner (each owner's numslots counts the
        slots whose entry is that node)."""
        return sum(n.numslots for n in self.nodes.values())

    def max_epoch(self):
        m = max((n.config_epoch for n in self.nodes.values()), default=0)
        return max(m, self.current_epoch)

    # -- node descriptions (CLUSTER NODES, nodes.conf) ------------------------

    def describe(self, node, for_file=False):
        """clusterGenNodeDescription: one line of CLUSTER NODES / nodes.conf."""
        parts = [node.name, ' ', node.ip, ':%d@%d' % (node.port, node.cport)]
        if node.hostname:
            parts.append(',' + node.hostname)
        parts.append(' ' + represent_flags(node.flags))
        parts.append(' %s ' % node.slaveof.name if node.slaveof is not None else ' - ')
        epoch = node.config_epoch
        if node.is_slave() and node.slaveof is not None:
            epoch = node.slaveof.config_epoch
        parts.append('%d %d %d %s' % (
            node.ping_sent, node.pong_received, epoch,
            'connected' if (node.link is not None or node.flags & MYSELF) else 'disconnected'))
        for start, end in node.slot_ranges():
            parts.append(' %d' % start if start == end else ' %d-%d' % (start, end))
        if node.flags & MYSELF:
            migrating = self.migrating_slots_to
            importing = self.importing_slots_from
            for j in sorted(set(open_slots(migrating) + open_slots(importing))):
                if migrating[j] is not None:
                    parts.append(' [%d->-%s]' % (j, migrating[j].name))
                else:
                    parts.append(' [%d-<-%s]' % (j, importing[j].name))
        return ''.join(parts)

    def describe_all(self, skip_flags=0):
        return ''.join(self.describe(n) + '\n' for n in self.nodes.values()
                       if not n.flags & skip_flags)

    # -- nodes.conf -----------------------------------------------------------

    def config_text(self):
        return (self.describe_all(HANDSHAKE)
                + 'vars currentEpoch %d lastVoteEpoch %d\n' % (self.current_epoch,
                                                                self.last_vote_epoch))

    def save_config(self, fsync=True):
        """clusterSaveConfig, atomic: the text goes to a temporary file,
        renamed over nodes.conf. With ``fsync`` (the saves Redis fsyncs:
        epochs, votes, failovers, SAVECONFIG) the file is fsynced before
        the rename and the directory after it, so the save survives a power
        loss; the others (slot changes, gossip) survive a crash of the
        process, as Redis's, and cost no wait for the disk (an fsync takes
        milliseconds to tens of them on a busy disk, and a reshard makes
        several saves per slot on each node). The lock (lock_config) is on
        the file's inode, which the rename replaces: the descriptor the new
        file was written with takes the lock before the rename and is kept
        as the lock's, so the file is never unlocked."""
        if self.path is None:
            return True
        tmp = '%s.tmp-%d' % (self.path, os.getpid())
        fd = None
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            data = memoryview(self.config_text().encode())
            while data:
                data = data[os.write(fd, data):]
            if fsync:
                os.fsync(fd)
            if self.lock_fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(tmp, self.path)
            if fsync:
                d = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
                try:
                    os.fsync(d)
                finally:
                    os.close(d)
        except OSError:
            if fd is not None:
                os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False
        if self.lock_fd is None:
            os.close(fd)
        else:
            os.close(self.lock_fd)
            self.lock_fd = fd
        return True

    def lock_config(self):
        """clusterLockConfig: two servers may not share one nodes.conf. The
        lock is on the file itself (save_config moves it to each new file)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigLoadError("Can't open %s in order to acquire a lock: %s" % (
                self.path, e.strerror))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigLoadError(
                'Sorry, the cluster configuration file %s is already used by a different '
                'Redis Cluster node. Please make sure that different nodes use different '
                'cluster configuration files.' % self.path)
        if self.lock_fd is not None:
            os.close(self.lock_fd)
        self.lock_fd = fd

    def load_config(self, path):
        """clusterLoadConfig: False when there is no (or an empty) file;
        raises ConfigLoadError on a malformed one."""
        self.path = path
        try:
            with open(path, 'r', encoding='latin-1') as f:
                text = f.read()
        except FileNotFoundError:
            return False
        if not text.strip():
            return False
        self.parse_config(text)
        return True

    def parse_config(self, text):
        now = ms()
        for lineno, line in enumerate(text.split('\n'), 1):
            argv = line.split()
            if not argv:
                continue
            if argv[0] == 'vars':
                if len(argv) % 2 == 0:
                    raise ConfigLoadError('Unrecoverable error: corrupted cluster config file.')
                for k, v in zip(argv[1::2], argv[2::2]):
                    if k == 'currentEpoch':
                        self.current_epoch = int(v)
                    elif k == 'lastVoteEpoch':
                        self.last_vote_epoch = int(v)
                continue
            if len(argv) < 8:
                raise ConfigLoadError('Unrecoverable error: corrupted cluster config file.')
            node = self.lookup(argv[0])
            if node is None:
                node = ClusterNode(argv[0])
                self.add_node(node)
            addr = argv[1]
            if ',' in addr:
                addr, node.hostname = addr.split(',', 1)
            if ':' not in addr:
                raise ConfigLoadError('Unrecoverable error: corrupted cluster config file.')
            ip, _, ports = addr.rpartition(':')
            node.ip = ip
            if '@' in ports:
                port, cport = ports.split('@', 1)
                node.port, node.cport = int(port), int(cport)
            else:
                node.port = int(ports)
                node.cport = node.port + PORT_INCR
            for flag in argv[2].split(','):
                if flag not in FLAG_BY_NAME:
                    raise ConfigLoadError('Unknown flag in redis cluster config file')
                bit = FLAG_BY_NAME[flag]
                node.flags |= bit
                if bit == MYSELF:
                    self.myself = node
            if argv[3] != '-':
                master = self.lookup(argv[3])
                if master is None:
                    master = ClusterNode(argv[3])
                    self.add_node(master)
                node.slaveof = master
                master.add_slave(node)
            node.ping_sent = now if int(argv[4]) else 0
            node.pong_received = now if int(argv[5]) else 0
            node.config_epoch = int(argv[6])
            for arg in argv[8:]:
                if arg.startswith('['):
                    body = arg[1:-1]
                    if '->-' in body:
                        slot, name = body.split('->-', 1)
                        target = self._load_ref(name)
                        self.migrating_slots_to[int(slot)] = target
                    elif '-<-' in body:
                        slot, name = body.split('-<-', 1)
                        self.importing_slots_from[int(slot)] = self._load_ref(name)
                    else:
                        raise ConfigLoadError(
                            'Unrecoverable error: corrupted cluster config file.')
                    continue
                if '-' in arg:
                    start, end = arg.split('-', 1)
                    start, end = int(start), int(end)
                else:
                    start = end = int(arg)
                for j in range(start, end + 1):
                    self.add_slot(node, j)
        if self.myself is None:
            raise ConfigLoadError('Unrecoverable error: corrupted cluster config file.')
        # "Something that should never happen": currentEpoch behind a node's.
        self.current_epoch = max(self.current_epoch, self.max_epoch())

    def _load_ref(self, name):
        node = self.lookup(name)
        if node is None:
            node = ClusterNode(name)
            self.add_node(node)
        return node
